//! Real child processes for integration tests.
//!
//! The test binary re-executes itself: [`Worker::spawn`] runs
//! `current_exe <role test> --exact --nocapture` with `PHASE_TEST_ROLE=<role>`, and the
//! `#[test]` function of that name does the child's work when [`role`] says it is the
//! child (and returns at once in a normal test run). Include with
//! `#[path = "common/procs.rs"] mod procs;`.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Names the role a re-executed test binary plays.
pub const ROLE_VAR: &str = "PHASE_TEST_ROLE";
/// The directory a child works in.
pub const DIR_VAR: &str = "PHASE_TEST_DIR";

/// The role this process was started for; `None` in the parent test run.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Whether this process is a child started for `name`.
pub fn is_role(name: &str) -> bool {
    role().as_deref() == Some(name)
}

/// A variable the parent passed to this child; panics (failing the child) if missing.
pub fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child started without {name}"))
}

/// The working directory the parent passed in [`DIR_VAR`].
pub fn child_dir() -> PathBuf {
    PathBuf::from(child_env(DIR_VAR))
}

/// A child process running one role. Killed and reaped on drop, so a failing test leaves
/// no stray processes.
pub struct Worker {
    child: Option<Child>,
    role: String,
    log: PathBuf,
    pid: u32,
}

impl Worker {
    /// Starts `role` by running the test `test_name` of this binary, with `dir` in
    /// [`DIR_VAR`] plus `envs`. Its stdout and stderr go to `dir/<role>-<pid>.log`.
    pub fn spawn(test_name: &str, role: &str, dir: &Path, envs: &[(&str, String)]) -> Worker {
        let exe = std::env::current_exe().expect("current_exe");
        let log_dir = dir.join("worker-logs");
        std::fs::create_dir_all(&log_dir).expect("create worker-logs");
        let staging = log_dir.join(format!("{role}-starting-{}.log", unique_suffix()));
        let out = File::create(&staging).expect("create worker log");
        let err = out.try_clone().expect("dup worker log");
        let mut cmd = Command::new(exe);
        cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role)
            .env(DIR_VAR, dir)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn worker {role}: {e}"));
        let pid = child.id();
        let log = log_dir.join(format!("{role}-{pid}.log"));
        let _ = std::fs::rename(&staging, &log);
        Worker {
            child: Some(child),
            role: role.to_string(),
            log,
            pid,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything the child printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Whether the child has exited (it is reaped if so).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_some(),
            None => true,
        }
    }

    /// Sends SIGKILL and reaps the child: once this returns, the kernel has closed its
    /// files and dropped its locks.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("worker already finished");
        // Fails only if it already exited; wait() reaps it either way.
        let _ = child.kill();
        child.wait().expect("wait for killed worker")
    }

    /// Waits (polling, up to `limit`) for the child to exit and asserts it succeeded,
    /// printing its output otherwise.
    pub fn wait_success(mut self, limit: Duration) {
        let mut child = self.child.take().expect("worker already finished");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "worker {} (pid {}) still running after {limit:?}; output:\n{}",
                    self.role,
                    self.pid,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            status.success(),
            "worker {} (pid {}) failed: {status}; output:\n{}",
            self.role,
            self.pid,
            self.output()
        );
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` every few milliseconds until it returns `Some`, or panics after `limit`
/// with `what` and whatever `diagnose` says.
pub fn poll_until<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    diagnose: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {limit:?} waiting for {what}\n{}",
                diagnose()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// In a child: waits for `path` to exist (the parent's go/stop signal), up to `limit`,
/// then panics so an orphaned child cannot linger.
pub fn wait_for_file(path: &Path, limit: Duration) {
    poll_until(
        limit,
        &format!("{} to appear", path.display()),
        || path.exists().then_some(()),
        String::new,
    );
}

/// Creates an empty marker file (a signal between processes; not a state file).
pub fn touch(path: &Path) {
    File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

/// A pid no live process has: a child that has exited and been reaped.
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// Small deterministic generator (xorshift64*), seeded so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `PHASE_TEST_SEED` if set, else from the clock; prints the seed.
    pub fn from_env_or_clock() -> Rng {
        let seed = std::env::var("PHASE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("random seed: PHASE_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
