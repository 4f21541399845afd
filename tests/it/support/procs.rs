//! Real child processes: the test binary re-executing itself in a role, `phase` children
//! waited for with a deadline, and whether a pid is still alive.
//!
//! [`Worker::spawn`] runs `current_exe <test> --exact --nocapture` with
//! `PHASE_TEST_ROLE=<role>`; the `#[test]` function of that name does the child's work
//! when [`is_role`] says so (and returns at once in a normal test run). Name the test with
//! [`test_path!`](crate::test_path), since test names carry their module path.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::wait::{Deadline, wait_until};

/// Names the role a re-executed test binary plays.
const ROLE_VAR: &str = "PHASE_TEST_ROLE";
/// The directory a child works in.
const DIR_VAR: &str = "PHASE_TEST_DIR";

/// The full name of a test function in this binary (`store::locks::lock_holder_child`),
/// checked at compile time to exist.
#[macro_export]
macro_rules! test_path {
    ($test:ident) => {{
        let _ = $test as fn();
        $crate::support::procs::test_name(concat!(module_path!(), "::", stringify!($test)))
    }};
}

/// A module path minus the crate name: the name libtest gives the test.
pub(crate) fn test_name(path: &'static str) -> &'static str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// The role this process was started for; `None` in the parent test run.
pub(crate) fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Whether this process is a child started for `name`.
pub(crate) fn is_role(name: &str) -> bool {
    role().as_deref() == Some(name)
}

/// A variable the parent passed to this child; panics (failing the child) if missing.
pub(crate) fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child started without {name}"))
}

/// The working directory the parent passed in [`DIR_VAR`].
pub(crate) fn child_dir() -> PathBuf {
    PathBuf::from(child_env(DIR_VAR))
}

/// A child process running one role. Killed and reaped on drop, so a failing test leaves
/// no stray processes.
pub(crate) struct Worker {
    child: Option<Child>,
    role: String,
    log: PathBuf,
    pid: u32,
}

impl Worker {
    /// Starts `role` by running the test `test_name` (see [`test_path!`](crate::test_path))
    /// of this binary, with `dir` in [`DIR_VAR`] plus `envs`. Its stdout and stderr go to
    /// `dir/worker-logs/<role>-<pid>.log`.
    pub(crate) fn spawn(
        test_name: &str,
        role: &str,
        dir: &Path,
        envs: &[(&str, String)],
    ) -> Worker {
        // Not `current_exe()`: a rebuild while the tests run replaces the file, and the
        // kernel's link to the running binary still works where its old path does not.
        let exe = "/proc/self/exe";
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
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything the child printed so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Whether the child has exited (it is reaped if so).
    pub(crate) fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_some(),
            None => true,
        }
    }

    /// Waits until the child has created `marker` (its "I hold it / I started" signal);
    /// fails with the child's output after 20 s.
    pub(crate) fn wait_for_marker(&self, marker: &Path, what: &str) {
        let deadline = Deadline::new(
            format!("{what} (worker {})", self.pid),
            Duration::from_secs(20),
        );
        if deadline.poll(|| marker.exists()).is_none() {
            deadline.fail(&self.output());
        }
    }

    /// Sends SIGKILL and reaps the child: once this returns, the kernel has closed its
    /// files and dropped its locks.
    pub(crate) fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("worker already finished");
        // Fails only if it already exited; wait() reaps it either way.
        let _ = child.kill();
        child.wait().expect("wait for killed worker")
    }

    /// Waits (polling, up to `limit`) for the child to exit and asserts it succeeded,
    /// printing its output otherwise.
    pub(crate) fn wait_success(mut self, limit: Duration) {
        let mut child = self.child.take().expect("worker already finished");
        let deadline = Deadline::new(
            format!("worker {} (pid {}) to exit", self.role, self.pid),
            limit,
        );
        let Some(status) = deadline.poll(|| child.try_wait().expect("try_wait")) else {
            let _ = child.kill();
            let _ = child.wait();
            deadline.fail(&format!("output:\n{}", self.output()));
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

/// Runs `cmd` to completion with no stdin, capturing stdout and stderr, with a deadline.
pub(crate) fn output_within(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    wait_output(child, limit, what)
}

/// Waits for a child with a deadline, killing it (and failing) when it overruns. Its
/// piped stdout and stderr are read meanwhile, so a chatty child cannot block on a full
/// pipe.
pub(crate) fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Deadline::new(format!("{what} to finish"), limit);
    let finished = deadline.poll(|| child.try_wait().expect("try_wait"));
    let overran = finished.is_none();
    let status = finished.unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().expect("wait for killed child")
    });
    let out = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    if overran {
        deadline.fail(&format!(
            "stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out
}

/// Reads a pipe to its end on a thread (nothing if there is no pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// In a child: waits for `path` to exist (the parent's go/stop signal), up to `limit`,
/// then panics so an orphaned child cannot linger.
pub(crate) fn wait_for_file(path: &Path, limit: Duration) {
    wait_until(format!("{} to appear", path.display()), limit, || {
        path.exists()
    });
}

/// Creates an empty marker file (a signal between processes; not a state file).
pub(crate) fn touch(path: &Path) {
    File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

/// A pid no live process has: a child that has exited and been reaped.
pub(crate) fn dead_pid() -> u32 {
    let mut child = Command::new("true")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// Whether a process with this pid exists and is not a zombie nobody has reaped yet.
pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Small deterministic generator (xorshift64*), seeded so a failure can be replayed.
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeded from `PHASE_TEST_SEED` if set, else from the clock; prints the seed.
    pub(crate) fn from_env_or_clock() -> Rng {
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
    pub(crate) fn below(&mut self, n: u64) -> u64 {
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
