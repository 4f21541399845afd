//! `phase validate` of the state exactly as each kill left it, run while the next engine
//! already works: the state directory is snapshotted at once — every file hard-linked
//! (state files are only ever replaced by rename, so a link keeps the version the kill left),
//! the event log copied (it is appended in place) — and validated in the background.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::Project;
use crate::support::wait::Deadline;

/// Validators in flight, by the kill they check.
#[derive(Default)]
pub(super) struct Validations {
    running: Vec<(usize, PathBuf, Child)>,
    /// Kills whose state `phase validate` passed.
    pub(super) passed: usize,
}

impl Validations {
    /// Snapshots the state after kill `k` and starts `phase validate` on it.
    pub(super) fn start(&mut self, p: &Project, k: usize) {
        let snap = p.path(&format!("snapshots/{k}"));
        snapshot(&p.state(), &snap);
        let log = std::fs::File::create(snap.with_extension("log")).expect("validate log");
        let child = Command::new(env!("CARGO_BIN_EXE_phase"))
            .arg("--state-dir")
            .arg(&snap)
            .arg("--config")
            .arg(p.path("config/coordinator.toml"))
            .arg("validate")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn phase validate");
        self.running.push((k, snap, child));
        self.reap(false);
    }

    /// Checks the validators that ended (all of them, waiting, when `all`); fails naming
    /// the kill whose state was invalid.
    pub(super) fn reap(&mut self, all: bool) {
        let deadline = Deadline::new("phase validate of a snapshot", Duration::from_secs(120));
        let mut still = Vec::new();
        for (k, snap, mut child) in self.running.drain(..) {
            let status = if all {
                deadline.poll(|| child.try_wait().expect("try_wait"))
            } else {
                child.try_wait().expect("try_wait")
            };
            match status {
                None if all => {
                    let _ = child.kill();
                    deadline.fail(&format!("validating the state after kill {}", k + 1));
                }
                None => still.push((k, snap, child)),
                Some(status) => {
                    let log =
                        std::fs::read_to_string(snap.with_extension("log")).unwrap_or_default();
                    assert!(
                        status.success(),
                        "phase validate after kill {}: {log}",
                        k + 1
                    );
                    self.passed += 1;
                    let _ = std::fs::remove_dir_all(&snap);
                }
            }
        }
        self.running = still;
    }
}

/// Links (copies, for the event log) the state directory's files into `snap`: the top
/// level, `tasks/` and `inbox/` — all that `phase validate` reads.
fn snapshot(state: &Path, snap: &Path) {
    for sub in ["", "tasks", "inbox"] {
        let (from, to) = (state.join(sub), snap.join(sub));
        std::fs::create_dir_all(&to).expect("snapshot dir");
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let target = to.join(e.file_name());
            if e.file_name() == "events.jsonl" {
                std::fs::copy(e.path(), &target).expect("copy the event log");
            } else if let Err(err) = std::fs::hard_link(e.path(), &target) {
                // Gone since the listing (a temp file renamed): not part of the state.
                assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
            }
        }
    }
}
