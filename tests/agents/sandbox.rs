//! A network namespace with only loopback for a scenario's processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A network namespace with only loopback, held open by a `sleep` inside it; every process
/// of a scenario (fake servers, `phase`, the CLIs it starts) runs in it, so no request can
/// leave 127.0.0.1. Without `unshare`/`nsenter` rights the processes run outside, pointed
/// only at the fake server (the scenario says so on stderr).
pub(crate) struct Sandbox {
    holder: Option<Child>,
    /// `nsenter` arguments before the program.
    enter: Vec<String>,
}

impl Sandbox {
    /// Makes the namespace, or notes why there is none.
    pub(crate) fn new() -> Sandbox {
        // As root a network namespace alone; otherwise with a user namespace (-r).
        for (unshare, enter_user) in [(&["-n"][..], false), (&["-r", "-n"][..], true)] {
            let spawned = Command::new("unshare")
                .args(unshare)
                .args([
                    "--",
                    "sh",
                    "-c",
                    "ip link set lo up && echo up && exec sleep 3600",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn();
            let Ok(mut child) = spawned else {
                break;
            };
            // `sh` prints a line once loopback is up, or exits (EOF) when it cannot be.
            let mut line = String::new();
            let ready = child
                .stdout
                .take()
                .map(|out| BufReader::new(out).read_line(&mut line))
                .is_some_and(|r| r.is_ok() && line.trim() == "up");
            if !ready {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let mut enter = vec![
                "nsenter".to_string(),
                "-t".to_string(),
                child.id().to_string(),
                "-n".to_string(),
            ];
            if enter_user {
                enter.extend(["-U".to_string(), "--preserve-credentials".to_string()]);
            }
            enter.push("--".to_string());
            let sandbox = Sandbox {
                holder: Some(child),
                enter,
            };
            if sandbox.command("true").status().is_ok_and(|s| s.success()) {
                return sandbox;
            }
        }
        eprintln!(
            "note: no network namespace here (unshare -n / nsenter failed): the CLIs run \
             outside one, with every URL pointed at the fake server on 127.0.0.1"
        );
        Sandbox {
            holder: None,
            enter: Vec::new(),
        }
    }

    /// Whether processes run in the loopback-only namespace.
    pub(crate) fn isolated(&self) -> bool {
        self.holder.is_some()
    }

    /// A command for `program` that runs inside the namespace (when there is one).
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self.enter.split_first() {
            Some((nsenter, args)) => {
                let mut c = Command::new(nsenter);
                c.args(args).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut child) = self.holder.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
