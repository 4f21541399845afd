//! Intake: which inbox files are ready to be routed or rejected now, and which must
//! settle first (docs/ROUTING.md "Intake").
//!
//! - A file that parses and validates the first time it is seen is ready at once: a
//!   truncated JSON object never parses, so a half-written file cannot look valid, and a
//!   file published by rename (the normal way) pays no settle delay.
//! - A file seen in any other state first (unparseable, or changing between two looks)
//!   is ready once the same fingerprint and the same decision have been observed for
//!   `routing.settle_ms`: valid ones are then routed, invalid ones rejected.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::model::TaskSpec;
use crate::store::{Fingerprint, InboxFile, InboxLock, check_task_paths, inbox_fingerprint};
use crate::{Error, Result};

/// What reading an inbox file decided: route it, or reject it.
#[derive(Debug)]
pub(super) enum IntakeDecision {
    /// A valid task (its `id` filled in).
    Valid(Box<TaskSpec>),
    /// Unreadable, unparseable or invalid.
    Invalid(Error),
}

/// A file to act on now, with what it holds.
#[derive(Debug)]
pub(super) struct Ready {
    pub file: InboxFile,
    pub decision: IntakeDecision,
}

/// The result of looking at the inbox once.
#[derive(Debug, Default)]
pub(super) struct Observation {
    /// Files to route or reject now, oldest first.
    pub ready: Vec<Ready>,
    /// Files still settling.
    pub settling: usize,
    /// When the first settling file will have settled.
    pub next_wake: Option<Instant>,
}

/// One version of a file as observed: identical fingerprint *and* content count as "no
/// change" (the content catches a same-size rewrite within one timestamp tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    fingerprint: Fingerprint,
    /// Hash of the parsed task or of the error; `None`: it changed while being read.
    content: Option<u64>,
}

#[derive(Debug)]
struct Seen {
    version: Version,
    since: Instant,
}

/// Remembers each inbox file's last observed version and since when it has not changed.
#[derive(Debug)]
pub(super) struct Intake {
    settle: Duration,
    /// Absolute `files` must lie inside the task's workdir under it.
    project_root: PathBuf,
    seen: HashMap<OsString, Seen>,
}

impl Intake {
    pub(super) fn new(settle: Duration, project_root: PathBuf) -> Self {
        Self {
            settle,
            project_root,
            seen: HashMap::new(),
        }
    }

    /// Reads every listed file and sorts them into ready and settling. Files no longer
    /// listed are forgotten.
    pub(super) fn observe(
        &mut self,
        files: Vec<InboxFile>,
        now: Instant,
        lock: &InboxLock,
    ) -> Result<Observation> {
        let mut listed: HashSet<OsString> = HashSet::with_capacity(files.len());
        let mut out = Observation::default();
        for file in files {
            listed.insert(file.file_name.clone());
            let Some((version, decision)) = read_version(&file, &self.project_root, lock)? else {
                continue;
            };
            let previous = self.seen.remove(&file.file_name);
            let first_sight = previous.is_none();
            let since = match previous {
                Some(p) if p.version == version => p.since,
                _ => now,
            };
            let settled = now.duration_since(since) >= self.settle;
            let ready = match (&decision, first_sight) {
                (Some(IntakeDecision::Valid(_)), true) => true,
                (Some(_), _) => settled,
                (None, _) => false,
            };
            self.seen
                .insert(file.file_name.clone(), Seen { version, since });
            match decision {
                Some(decision) if ready => out.ready.push(Ready { file, decision }),
                _ => {
                    out.settling += 1;
                    let at = since + self.settle;
                    out.next_wake = Some(out.next_wake.map_or(at, |w| w.min(at)));
                }
            }
        }
        self.seen.retain(|name, _| listed.contains(name));
        // The table a large drop needed is given back once the drop is routed.
        if self.seen.capacity() > 4 * self.seen.len() + 64 {
            self.seen.shrink_to_fit();
        }
        Ok(out)
    }
}

/// Reads one file. `None`: it vanished. A decision of `None`: it changed while being read.
fn read_version(
    file: &InboxFile,
    project_root: &Path,
    lock: &InboxLock,
) -> Result<Option<(Version, Option<IntakeDecision>)>> {
    let (bytes_hash, spec) = lock.read_task(file);
    let decision = match spec
        .and_then(|spec| check_task_paths(&file.path, &spec, project_root).map(|()| spec))
    {
        Ok(spec) => IntakeDecision::Valid(Box::new(spec)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => IntakeDecision::Invalid(e),
    };
    let Some(fingerprint) = inbox_fingerprint(&file.path)? else {
        return Ok(None);
    };
    if fingerprint != file.fingerprint {
        let version = Version {
            fingerprint,
            content: None,
        };
        return Ok(Some((version, None)));
    }
    // The bytes read decide everything about the file (with the project root, which does
    // not change): the same bytes, the same decision. Unreadable: what the error says.
    let content = bytes_hash.unwrap_or_else(|| {
        let mut hasher = DefaultHasher::new();
        if let IntakeDecision::Invalid(e) = &decision {
            e.to_string().hash(&mut hasher);
        }
        hasher.finish()
    });
    let version = Version {
        fingerprint,
        content: Some(content),
    };
    Ok(Some((version, Some(decision))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StateDir, list_inbox, try_lock_inbox};

    /// A file listed, then rewritten in place before it is read (as a deferred file can
    /// be between two passes): what was read is not taken for the listed version.
    #[test]
    fn a_file_changed_since_its_listing_settles_instead_of_being_routed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join(".state"));
        std::fs::create_dir_all(state.inbox()).unwrap();
        std::fs::create_dir_all(state.root().join("locks")).unwrap();
        let path = state.inbox().join("a.json");
        std::fs::write(&path, r#"{"kind": "shell", "command": ["true"]}"#).unwrap();
        let listed = list_inbox(&state).unwrap();
        std::fs::write(&path, r#"{"kind": "shell", "command": ["false"]}"#).unwrap();
        let lock = try_lock_inbox(&state).unwrap().expect("free");
        let mut intake = Intake::new(Duration::from_secs(60), dir.path().to_path_buf());
        let seen = intake.observe(listed, Instant::now(), &lock).unwrap();
        assert_eq!((seen.ready.len(), seen.settling), (0, 1));
        // Listed afresh, it is valid at once: a rename-published file pays no delay, but
        // this one was seen changing, so it settles first.
        let seen = intake
            .observe(list_inbox(&state).unwrap(), Instant::now(), &lock)
            .unwrap();
        assert_eq!((seen.ready.len(), seen.settling), (0, 1));
        let later = Instant::now() + Duration::from_secs(61);
        let seen = intake
            .observe(list_inbox(&state).unwrap(), later, &lock)
            .unwrap();
        assert_eq!(seen.ready.len(), 1);
        match &seen.ready[0].decision {
            IntakeDecision::Valid(spec) => assert_eq!(spec.command, vec!["false".to_string()]),
            IntakeDecision::Invalid(e) => panic!("{e}"),
        }
    }
}
