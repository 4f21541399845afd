//! What `phase run` tells the person at the terminal while it runs: a progress bar with
//! counts (`--once` on a terminal), one line per notable event (a fix applied, a task
//! escalated or rejected, a circuit opened; recovery warns of a quarantine itself) and
//! at `-v` one per task, read from the event log as the phases write it; and what Ctrl-C
//! does (waits for the running attempts; a second Ctrl-C kills them through their attempt
//! runner, docs/ATTEMPTS.md).
//!
//! It only watches: the phases run the same without it, and nothing here writes a file.

use std::io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

mod interrupts;

use crate::events::EVENTS_FILE;
use crate::status::{LivePhases, TaskState, snapshot};
use crate::store::{Access, StateDir, open_below};

/// How often the log and the counts are looked at.
const TICK: Duration = Duration::from_millis(200);
/// The counts cost a read of the state files: not on every tick.
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// What the monitor shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Show {
    /// A progress bar (`--once`, stderr a terminal, not `-q`).
    pub bar: bool,
    /// Notable events (not `-q`).
    pub notable: bool,
    /// A line per task (`-v`).
    pub per_task: bool,
}

/// The running monitor; [`Monitor::stop`] ends it.
pub(super) struct Monitor {
    /// Dropped to stop the thread: it wakes at once, not at its next tick.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    interrupts: Option<signal_hook::iterator::Handle>,
}

impl Show {
    /// From the flags: `quiet`/`verbose` counts and `--once`.
    pub(super) fn from_flags(once: bool, quiet: u8, verbose: u8) -> Show {
        Show {
            bar: once && quiet == 0 && std::io::stderr().is_terminal(),
            notable: quiet == 0,
            per_task: verbose > 0 && quiet == 0,
        }
    }
}

impl Monitor {
    /// Starts watching `state` from the log's current end; `grace` is how long a stop
    /// waits for running attempts (for the Ctrl-C message).
    pub(super) fn start(state: &StateDir, show: Show, grace: Duration) -> Monitor {
        let (stop, stopped) = channel();
        let bar = show.bar.then(new_bar);
        let interrupts = interrupts::watch(state, grace, bar.clone());
        let log = state.file(EVENTS_FILE);
        let offset = std::fs::symlink_metadata(&log).map_or(0, |m| m.len());
        let watcher = Watcher {
            state: state.clone(),
            log,
            offset,
            show,
            bar,
            last_quarantine: None,
        };
        let thread = std::thread::Builder::new()
            .name("progress".to_string())
            .spawn(move || watcher.run(&stopped))
            .ok();
        Monitor {
            stop: Some(stop),
            thread,
            interrupts,
        }
    }

    /// Prints what is left in the log, clears the bar and stops watching.
    pub(super) fn stop(mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(h) = self.interrupts.take() {
            h.close();
        }
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    // The template is a constant: it parses, or the default style is as good.
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The thread that reads the log and the counts.
struct Watcher {
    state: StateDir,
    log: PathBuf,
    offset: u64,
    show: Show,
    bar: Option<ProgressBar>,
    /// (task, attempt) of the last quarantine printed: its escalation says the same.
    last_quarantine: Option<(String, u64)>,
}

impl Watcher {
    fn run(mut self, stop: &Receiver<()>) {
        let mut counted = Instant::now() - COUNT_EVERY;
        let mut stopping = false;
        loop {
            if self.show.notable || self.show.per_task {
                self.read_log();
            }
            if let Some(bar) = &self.bar
                && (stopping || counted.elapsed() >= COUNT_EVERY)
            {
                counted = Instant::now();
                update_counts(&self.state, bar);
            }
            if stopping {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
                return;
            }
            stopping = !matches!(stop.recv_timeout(TICK), Err(RecvTimeoutError::Timeout));
        }
    }

    /// Prints the lines for the complete events after the offset.
    fn read_log(&mut self) {
        // Through the store: no link followed, and a named pipe planted as the log does
        // not block the open (then it is no regular file, and not read).
        let Ok(file) = open_below(&self.log, 1, Access::Read) else {
            return;
        };
        let Ok(meta) = file.metadata() else {
            return;
        };
        if !meta.is_file() {
            return;
        }
        // A log replaced by a shorter one (a repair): read it from its start.
        if meta.len() < self.offset {
            self.offset = 0;
        }
        let mut reader = BufReader::new(file);
        if reader.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 && line.ends_with('\n') => self.offset += n as u64,
                _ => return,
            }
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(text) = self.describe(&event) {
                self.print(&text);
            }
        }
    }

    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// The line for one event, if it is worth one at the level asked for.
    fn describe(&mut self, e: &Value) -> Option<String> {
        let kind = e["type"].as_str()?;
        let task = e["task_id"].as_str().unwrap_or("-");
        let attempt = e["attempt"].as_u64().unwrap_or(0);
        let data = &e["data"];
        let text = |k: &str| data[k].as_str().unwrap_or_default().to_string();
        let notable = match kind {
            "FIX_APPLIED" => Some(format!(
                "fix applied to {task} (attempt {attempt}, {}): {}",
                text("ladder_step"),
                list(&data["files"]).unwrap_or_else(|| "no file named".to_string())
            )),
            // Recovery itself warns of a quarantine (reason and report) at this level: a
            // second line would say the same.
            "TASK_QUARANTINED" => {
                self.last_quarantine = Some((task.to_string(), attempt));
                return None;
            }
            // A quarantine escalates with the same data: one line says both.
            "TASK_ESCALATED" if self.last_quarantine == Some((task.to_string(), attempt)) => None,
            "TASK_ESCALATED" | "SCOPE_ESCALATION" => Some(format!(
                "escalated {task}: {}{}",
                text("reason"),
                data["report"]
                    .as_str()
                    .map(|r| format!("; report: {r}"))
                    .unwrap_or_default()
            )),
            "TASK_REJECTED" => Some(format!("rejected {}: {}", text("file"), text("error"))),
            "CIRCUIT_OPENED" => Some(format!(
                "circuit opened for tool {}: {}",
                text("tool"),
                text("reason")
            )),
            _ => None,
        };
        if notable.is_some() {
            return notable.filter(|_| self.show.notable);
        }
        if !self.show.per_task {
            return None;
        }
        let took = data["duration_ms"]
            .as_u64()
            .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
            .unwrap_or_default();
        match kind {
            "TASK_STARTED" => Some(format!("started {task} (attempt {attempt})")),
            "TASK_SUCCEEDED" => Some(format!("succeeded {task} (attempt {attempt}){took}")),
            "TASK_FAILED" => Some(format!(
                "failed {task} (attempt {attempt}){took}: {}",
                text("reason")
            )),
            "TASK_RETRY_SCHEDULED" => Some(format!("retry scheduled for {task}")),
            "TASK_DEP_FAILED" => Some(format!("{task}: a dependency failed")),
            "TASK_CANCELED" => Some(format!("canceled {task}")),
            _ => None,
        }
    }
}

/// `a, b, c` from a JSON array of strings.
fn list(v: &Value) -> Option<String> {
    let items: Vec<&str> = v.as_array()?.iter().filter_map(Value::as_str).collect();
    (!items.is_empty()).then(|| items.join(", "))
}

/// The bar's length and position: tasks, and the ones that have ended.
fn update_counts(state: &StateDir, bar: &ProgressBar) {
    // A state file mid-repair: keep the last counts.
    let Ok(snap) = snapshot(state, LivePhases::default()) else {
        return;
    };
    let tasks: Vec<TaskState> = snap
        .tasks
        .iter()
        .map(|t| t.state)
        .filter(|s| *s != TaskState::Duplicate)
        .collect();
    let ended = tasks.iter().filter(|s| is_ended(**s)).count();
    bar.set_length(tasks.len() as u64);
    bar.set_position(ended as u64);
    let mut parts = Vec::new();
    for state in [
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Quarantined,
        TaskState::DepFailed,
    ] {
        let n = tasks.iter().filter(|s| **s == state).count();
        if n > 0 {
            parts.push(format!("{n} {}", state.as_str()));
        }
    }
    bar.set_message(parts.join(", "));
}

/// Whether a task in this state has ended (for the bar).
fn is_ended(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Succeeded
            | TaskState::Failed
            | TaskState::Quarantined
            | TaskState::Canceled
            | TaskState::DepFailed
            | TaskState::Rejected
    )
}
