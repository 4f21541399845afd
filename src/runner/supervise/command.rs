//! Starting an attempt's command the way every attempt starts: argv (never a shell), its
//! own process group, stdin from /dev/null, stdout and stderr to pipes the runner reads.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::runner::protocol::RunRequest;
use crate::runner::spawner::{Spawner, spawn_here};

/// Spawns the command (through `spawner` when there is one), or says why it cannot start
/// (`cannot start …`). The child has its stdout and stderr pipes.
pub(super) fn start_command(
    req: &RunRequest,
    spawner: Option<&mut Spawner>,
) -> Result<Child, String> {
    // Checked first so the reason names the real problem (a missing cwd would read as a
    // missing program).
    if !req.cwd.is_dir() {
        let cwd = req.cwd.display();
        return Err(format!(
            "cannot start: the workdir {cwd} is not a directory"
        ));
    }
    let Some((program, args)) = req.argv.split_first() else {
        return Err("cannot start: the command is empty".into());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&req.cwd)
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .process_group(0);
    match spawner {
        Some(spawner) => spawner.spawn(command),
        None => spawn_here(command),
    }
    .map_err(|e| format!("cannot start {program:?}: {e}"))
}
