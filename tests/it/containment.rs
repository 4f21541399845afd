//! Containment and secrets (issue 8, items 3 and 4), through the real binary: links planted
//! in the state directory, task paths and hand edits that lead out of the project, state
//! file modes under the umask, and task `env` values kept in the task file only.
//!
//! Every containment case keeps a sentinel directory *outside* the project and checks it is
//! byte for byte unchanged afterwards: refusing is not enough, nothing may be written.

mod paths;
mod secrets;
mod state_links;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::Project;

/// How long one `phase run --once` may take here.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A fast configuration: small flush and back-off, so a failed attempt settles quickly.
const FAST: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 200

[execution]
max_retries = 0
kill_grace_ms = 300
shutdown_grace_ms = 1000
"#;

/// A directory outside the project whose every byte, mode and name must survive a case.
struct Sentinel {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, (u32, Vec<u8>)>,
}

impl Sentinel {
    /// A sentinel holding `secret.txt` (a line a leak would show) and an empty `sub/`.
    fn new() -> Sentinel {
        let dir = tempfile::tempdir().expect("sentinel dir");
        std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET-LINE\n").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let before = snapshot(dir.path());
        Sentinel { dir, before }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Asserts nothing under the sentinel changed: same names, modes and bytes.
    #[track_caller]
    fn assert_untouched(&self) {
        assert_eq!(
            snapshot(self.dir.path()),
            self.before,
            "something was written outside the project"
        );
    }
}

/// Every entry under `dir` (links as themselves): its mode and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.expect("walk");
        let meta = entry.path().symlink_metadata().expect("lstat");
        let content = if meta.is_file() {
            std::fs::read(entry.path()).expect("read")
        } else {
            Vec::new()
        };
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("inside")
            .to_path_buf();
        out.insert(rel, (meta.permissions().mode(), content));
    }
    out
}

/// A project with the fast configuration and an initialised state directory.
fn project() -> Project {
    Project::with_config(FAST)
}

/// `phase run --once`; returns its stderr, after checking it ended within the limit.
fn run_once(p: &Project) -> (i32, String) {
    let (code, _out, err) = p.run(&["run", "--once"], RUN_LIMIT);
    (code, err)
}

/// A background `phase run`, killed when dropped: also when the test fails before it
/// stops it, so no engine outlives its test.
struct Running(std::process::Child);

impl Running {
    fn start(p: &Project, args: &[&str], name: &str) -> Running {
        Running(p.spawn(args, name))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}
