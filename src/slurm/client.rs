//! The Slurm command-line clients (`sbatch`, `squeue`, `scontrol`, `scancel`, `sacct`),
//! each run with a deadline: a controller that does not answer must not hang the engine.
//! Their text output is parsed in [`super::parse`].

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::parse::{self, JobEnd, QueueEntry};
use crate::{Error, Result};

/// How long a query may take before it counts as failed (the controller is down or busy).
const QUERY_LIMIT: Duration = Duration::from_secs(30);
/// `sbatch` retries a busy controller by itself; past this the submission is in doubt and
/// the job name decides (see `backend.rs`).
const SUBMIT_LIMIT: Duration = Duration::from_secs(120);

/// Where the Slurm programs are. Each defaults to its name on `PATH`;
/// `PHASE_SLURM_BIN_DIR` names a directory holding all of them (another installation).
#[derive(Debug, Clone)]
pub struct SlurmClient {
    bin_dir: Option<PathBuf>,
}

impl Default for SlurmClient {
    fn default() -> Self {
        SlurmClient {
            bin_dir: std::env::var_os("PHASE_SLURM_BIN_DIR").map(PathBuf::from),
        }
    }
}

/// What one program run printed.
struct Ran {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl SlurmClient {
    fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Submits a batch script given on stdin: `sbatch --parsable ARGS`, with `env` added
    /// to what the job inherits (sbatch exports the submitter's environment). The job id.
    pub fn sbatch(
        &self,
        args: &[String],
        env: &[(String, String)],
        script: &str,
    ) -> Result<String> {
        let mut cmd = Command::new(self.program("sbatch"));
        cmd.arg("--parsable").args(args);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let ran = self.run(cmd, Some(script), SUBMIT_LIMIT)?;
        if !ran.ok {
            return Err(failed("sbatch", &ran));
        }
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let id = ran
            .stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return Err(Error::Runtime(format!(
                "sbatch printed no job id: {:?}",
                ran.stdout.trim()
            )));
        }
        Ok(id)
    }

    /// The jobs among `ids` that the controller still knows, in any state: one `squeue`
    /// call however many ids. An id it has forgotten is simply absent.
    pub fn queue_by_ids(&self, ids: &[&str]) -> Result<Vec<QueueEntry>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = Command::new(self.program("squeue"));
        cmd.args(["-h", "-t", "all", "-o", parse::QUEUE_FORMAT, "-j"])
            .arg(ids.join(","));
        let ran = self.run(cmd, None, QUERY_LIMIT)?;
        // With only unknown ids squeue fails saying so: that is an empty answer.
        if !ran.ok && ran.stderr.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        if !ran.ok {
            return Err(failed("squeue", &ran));
        }
        Ok(parse::queue_lines(&ran.stdout))
    }

    /// The jobs named `name` that the controller knows, in any state.
    pub fn queue_by_name(&self, name: &str) -> Result<Vec<QueueEntry>> {
        let mut cmd = Command::new(self.program("squeue"));
        cmd.args(["-h", "-t", "all", "-o", parse::QUEUE_FORMAT, "-n", name]);
        let ran = self.run(cmd, None, QUERY_LIMIT)?;
        if !ran.ok {
            return Err(failed("squeue", &ran));
        }
        Ok(parse::queue_lines(&ran.stdout))
    }

    /// How a job ended, from the controller (`scontrol show job`, exact while the job is
    /// younger than `MinJobAge`) or else the accounting database (`sacct`, once it has an
    /// end time). `Ok(None)`: neither knows the job (or it has not ended).
    pub fn job_end(&self, id: &str) -> Result<Option<JobEnd>> {
        let mut cmd = Command::new(self.program("scontrol"));
        cmd.args(["show", "job", "-o", id]);
        let ran = self.run(cmd, None, QUERY_LIMIT)?;
        if ran.ok {
            return Ok(parse::scontrol_job(&ran.stdout));
        }
        if !ran.stderr.contains("Invalid job id") {
            return Err(failed("scontrol", &ran));
        }
        let mut cmd = Command::new(self.program("sacct"));
        cmd.args(["-n", "-X", "-P", "-o", parse::SACCT_FIELDS, "-j", id]);
        match self.run(cmd, None, QUERY_LIMIT) {
            Ok(ran) if ran.ok => Ok(parse::sacct_job(&ran.stdout)),
            // No accounting on this cluster (or no sacct): nobody knows the job any more.
            _ => Ok(None),
        }
    }

    /// `scancel ID`: SIGTERM to the job's processes now, SIGKILL after `KillWait`; a
    /// pending job never starts.
    pub fn cancel(&self, id: &str) -> Result<()> {
        let mut cmd = Command::new(self.program("scancel"));
        cmd.arg(id);
        let ran = self.run(cmd, None, QUERY_LIMIT)?;
        // An id that already ended is no failure: the job is not running either way.
        if ran.ok || ran.stderr.contains("already completing or completed") {
            Ok(())
        } else {
            Err(failed("scancel", &ran))
        }
    }

    /// Runs `cmd` with `stdin` (or /dev/null), killing it after `limit`.
    fn run(&self, mut cmd: Command, stdin: Option<&str>, limit: Duration) -> Result<Ran> {
        let name = cmd.get_program().to_string_lossy().into_owned();
        let os = |source| Error::Os {
            action: format!("run {name}"),
            source,
        };
        let mut child = cmd
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(os)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).map_err(os)?;
        }
        // Read both pipes on threads so a chatty program cannot block on a full pipe.
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let end = Instant::now() + limit;
        let mut pause = Duration::from_millis(1);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(os)? {
                break status;
            }
            if Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Runtime(format!(
                    "{name} did not answer within {} s (is slurmctld up?)",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        Ok(Ran {
            ok: status.success(),
            code: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn failed(program: &str, ran: &Ran) -> Error {
    let code = ran
        .code
        .map_or("a signal".to_string(), |c| format!("exit {c}"));
    Error::Runtime(format!("{program} failed ({code}): {}", ran.stderr.trim()))
}
