//! Running one case: a fresh project, the case's files put in place, then each step run
//! through the real `phase` binary under a deadline (killed and failed when it overruns),
//! its exit code, stderr and (when given) stdout checked, and stderr searched for panic
//! text. A failure is returned as text, so the table can report every failing case at once.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::Project;
use crate::support::wait::Deadline;

/// How long one step may run before it counts as a hang.
pub(super) const STEP_LIMIT: Duration = Duration::from_secs(20);

/// The config every case starts from: quick timers, so a `--once` run that has to wait for
/// a timer pass (or for phases to stay idle while a file is broken) ends quickly.
pub(super) const BASE_CONFIG: &str =
    "[routing]\nsettle_ms = 20\n\n[state]\npoll_interval_ms = 100\n";

/// A [`Step::code`] that accepts any exit code (the step must still end, without a panic).
pub(super) const ANY_CODE: i32 = i32::MIN;

/// Text that must never appear on stderr: a panic, or the hint that comes with one.
const PANIC_TEXT: [&str; 2] = ["panicked", "RUST_BACKTRACE"];

/// Something put into the project before the steps run (paths relative to its root).
#[derive(Debug, Clone)]
pub(super) enum Put {
    /// A file with these bytes (directories made as needed).
    File(String, Vec<u8>),
    /// A file in a directory under a name given as raw bytes (not UTF-8, or very long).
    Named(&'static str, Vec<u8>, Vec<u8>),
    /// A directory.
    Dir(String),
    /// A symbolic link to a file outside the state directory.
    Symlink(String),
    /// A named pipe (reading one without a writer would block).
    Fifo(String),
}

/// One run of `phase` and what it must do.
#[derive(Debug, Clone)]
pub(super) struct Step {
    /// The arguments after `phase` (raw: a file name need not be UTF-8).
    pub args: Vec<OsString>,
    /// The exit code ([`ANY_CODE`]: any).
    pub code: i32,
    /// A substring of stderr (naming the file and the field); empty: anything.
    pub stderr: String,
    /// A substring of stdout, when it matters (`phase status`).
    pub stdout: Option<String>,
}

/// A case: a name, what to put where, and the steps.
#[derive(Debug, Clone)]
pub(super) struct Case {
    /// What the case is about.
    pub name: String,
    /// Files to create first.
    pub puts: Vec<Put>,
    /// A config replacing [`BASE_CONFIG`], if the case is about the config.
    pub config: Option<Vec<u8>>,
    /// The runs, in order.
    pub steps: Vec<Step>,
}

impl Case {
    /// Runs the case in a fresh project; `Err` says what went wrong, with the output.
    pub(super) fn run(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let project = Project::with_config(BASE_CONFIG);
        if let Some(config) = &self.config {
            project.write("config/coordinator.toml", config);
        }
        for put in &self.puts {
            put.apply(&project)
                .map_err(|e| format!("setting up {put:?}: {e}"))?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            step.run(project.root())
                .map_err(|e| format!("step {} (phase {}): {e}", i + 1, step.shown_args()))?;
        }
        Ok(started.elapsed())
    }
}

impl Put {
    fn apply(&self, p: &Project) -> std::io::Result<()> {
        match self {
            Put::File(rel, bytes) => {
                p.write(rel, bytes);
            }
            Put::Named(dir, name, bytes) => {
                let dir = p.path(dir);
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join(OsStr::from_bytes(name)), bytes)?;
            }
            Put::Dir(rel) => std::fs::create_dir_all(p.path(rel))?,
            Put::Symlink(rel) => {
                let target = p.write("elsewhere/target.json", br#"{"kind": "shell"}"#);
                std::os::unix::fs::symlink(target, p.path(rel))?;
            }
            Put::Fifo(rel) => {
                let status = Command::new("mkfifo").arg(p.path(rel)).status()?;
                if !status.success() {
                    return Err(std::io::Error::other("mkfifo failed"));
                }
            }
        }
        Ok(())
    }
}

impl Step {
    /// The arguments as text, for messages.
    fn shown_args(&self) -> String {
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        args.join(" ")
    }

    fn run(&self, root: &Path) -> Result<(), String> {
        let (code, stdout, stderr) = run_within(root, &self.args, STEP_LIMIT)?;
        let shown = || format!("\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
        if let Some(text) = PANIC_TEXT.iter().find(|t| stderr.contains(**t)) {
            return Err(format!("stderr holds {text:?}{}", shown()));
        }
        if self.code != ANY_CODE && code != self.code {
            return Err(format!(
                "exit code {code}, expected {}{}",
                self.code,
                shown()
            ));
        }
        if !stderr.contains(&self.stderr) {
            return Err(format!("stderr lacks {:?}{}", self.stderr, shown()));
        }
        if let Some(want) = &self.stdout
            && !stdout.contains(want)
        {
            return Err(format!("stdout lacks {want:?}{}", shown()));
        }
        Ok(())
    }
}

/// Runs bare `phase ARGS…` in `root` (default paths, so messages name `.state/…`),
/// killing it once `limit` has passed. Returns (exit code, stdout, stderr).
fn run_within(
    root: &Path,
    args: &[OsString],
    limit: Duration,
) -> Result<(i32, String, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_phase"))
        .current_dir(root)
        .args(args)
        .env_remove("PHASE_STATE_DIR")
        .env_remove("PHASE_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start phase: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Deadline::new("phase to finish", limit);
    let finished = deadline.poll(|| child.try_wait().ok().flatten());
    if finished.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    match finished {
        Some(status) => Ok((status.code().unwrap_or(-1), stdout, stderr)),
        None => Err(format!(
            "hung: killed after {limit:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
        )),
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}
