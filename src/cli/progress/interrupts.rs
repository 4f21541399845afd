//! Ctrl-C during `phase run`: the first says what the stop waits for; the second ends the
//! running attempts now. The coordinator's own handler still stops the run on the first:
//! this only talks, and forces.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;

use crate::status::{LivePhases, TaskState, snapshot};
use crate::store::StateDir;

/// The first SIGINT/SIGTERM: say what the stop waits for. The second: end the running
/// attempts now, through this process's attempt runners (each ends its attempts'
/// process groups: SIGTERM, the kill grace, SIGKILL; recorded `interrupted`).
pub(super) fn watch(
    state: &StateDir,
    grace: Duration,
    bar: Option<ProgressBar>,
) -> Option<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Without it, Ctrl-C still stops the run (the coordinator's own handler): only the
    // messages and the forced kill are lost.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).ok()?;
    let handle = signals.handle();
    let state = state.clone();
    let count = AtomicUsize::new(0);
    let say = move |text: String| match &bar {
        Some(bar) => bar.println(text),
        None => eprintln!("{text}"),
    };
    let spawned = std::thread::Builder::new()
        .name("interrupts".to_string())
        .spawn(move || {
            for _ in signals.forever() {
                if count.fetch_add(1, Ordering::SeqCst) == 0 {
                    say(first_interrupt(&state, grace));
                } else {
                    let n = kill_runners();
                    say(format!(
                        "stopping now: the running attempts are being killed ({n} attempt \
                         runner{} told)",
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
        });
    match spawned {
        Ok(_) => Some(handle),
        Err(_) => {
            handle.close();
            None
        }
    }
}

/// What the first Ctrl-C says: what the stop waits for, and how to force it.
fn first_interrupt(state: &StateDir, grace: Duration) -> String {
    let running: Vec<String> = snapshot(state, LivePhases::default())
        .map(|s| {
            s.tasks
                .into_iter()
                .filter(|t| matches!(t.state, TaskState::Running | TaskState::Verifying))
                .map(|t| t.id)
                .collect()
        })
        .unwrap_or_default();
    if running.is_empty() {
        return "stopping: no attempt is running; finishing the phases' current passes".to_string();
    }
    let mut shown = running
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if running.len() > 5 {
        shown.push_str(&format!(" and {} more", running.len() - 5));
    }
    format!(
        "stopping: waiting up to {}s for {} running attempt{} ({shown}) to end; they are \
         then killed and recorded interrupted. Press Ctrl-C again to kill them now",
        grace.as_secs(),
        running.len(),
        if running.len() == 1 { "" } else { "s" },
    )
}

/// Sends SIGTERM to every attempt runner this process started (`phase __runner`, a
/// child of this process in a process group of its own); returns how many.
fn kill_runners() -> usize {
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut told = 0;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if parent_of(pid) != Some(me) || !is_runner(pid) {
            continue;
        }
        let Some(pid) = rustix::process::Pid::from_raw(pid) else {
            continue;
        };
        if rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok() {
            told += 1;
        }
    }
    told
}

/// The parent pid of `pid`, from `/proc/PID/stat` (after the command name's `)`).
fn parent_of(pid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` runs `phase __runner`.
fn is_runner(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"__runner"))
}
