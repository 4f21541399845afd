//! Turns notify events into wake-ups: relative paths, noise filtered out, fanned out to
//! the subscribers that care. Runs on notify's thread, so it only sends, never acts.

use std::path::{Component, Path, PathBuf};

use notify::event::{AccessKind, AccessMode, EventKind};

use super::Subscriber;
use crate::phase::Wake;
use crate::store::TEMP_PREFIX;

/// Directories whose changes never concern a phase (sidecar locks, claims, task logs).
const IGNORED_DIRS: [&str; 3] = ["locks", "claims", "logs"];

pub(super) struct Dispatch {
    root: PathBuf,
    subscribers: Vec<Subscriber>,
}

impl Dispatch {
    pub(super) fn new(root: PathBuf, subscribers: Vec<Subscriber>) -> Self {
        Self { root, subscribers }
    }

    pub(super) fn handle(&self, event: notify::Result<notify::Event>) {
        match event {
            Ok(event) => self.forward(event),
            Err(e) => {
                // A scan error on a file that vanished under us (a temp file renamed away
                // between listing and stat) loses nothing; anything else may have.
                let harmless = !e.paths.is_empty()
                    && e.paths
                        .iter()
                        .all(|p| self.relative(p).is_none_or(|rel| is_ignored(&rel)));
                if !harmless {
                    tracing::warn!(error = %e, "file watcher error; rescanning");
                    self.rescan();
                }
            }
        }
    }

    fn forward(&self, event: notify::Event) {
        if event.need_rescan() {
            self.rescan();
            return;
        }
        if is_access_noise(&event.kind) {
            return;
        }
        for path in &event.paths {
            let Some(rel) = self.relative(path) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                // The state directory itself: only its disappearance matters.
                if matches!(event.kind, EventKind::Remove(_)) {
                    self.rescan();
                }
                continue;
            }
            if is_ignored(&rel) {
                continue;
            }
            let name = rel.to_string_lossy().into_owned();
            for s in &self.subscribers {
                if (s.filter)(&rel) {
                    // A subscriber that hung up is shutting down; nothing to do.
                    let _ = s.waker.send(Wake::Changed(name.clone()));
                }
            }
        }
    }

    fn rescan(&self) {
        for s in &self.subscribers {
            let _ = s.waker.send(Wake::Rescan);
        }
    }

    fn relative(&self, path: &Path) -> Option<PathBuf> {
        path.strip_prefix(&self.root).ok().map(Path::to_path_buf)
    }
}

/// Opening or reading a file changes nothing; reacting to it would make every reader of a
/// state file wake every phase, in a loop. A close after writing does matter.
fn is_access_noise(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write))
}

/// Temp files of atomic writers, and the lock, claim and log directories.
fn is_ignored(rel: &Path) -> bool {
    let first_is_ignored_dir = matches!(
        rel.components().next(),
        Some(Component::Normal(first)) if IGNORED_DIRS.iter().any(|d| first == *d)
    );
    let is_temp = rel
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX));
    first_is_ignored_dir || is_temp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_temp_files_and_private_dirs() {
        assert!(is_ignored(Path::new(".tmp-123-abc")));
        assert!(is_ignored(Path::new("inbox/.tmp-1-x")));
        assert!(is_ignored(Path::new("locks/routing_decisions.json.lock")));
        assert!(is_ignored(Path::new("claims")));
        assert!(is_ignored(Path::new("logs/t1/1.out")));
        assert!(!is_ignored(Path::new("inbox/a.json")));
        assert!(!is_ignored(Path::new("execution_results.json")));
        assert!(!is_ignored(Path::new("inbox/locks")));
    }

    #[test]
    fn only_writes_count_among_access_events() {
        assert!(is_access_noise(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(is_access_noise(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_access_noise(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!is_access_noise(&EventKind::Any));
    }
}
