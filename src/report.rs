//! Readers of the files that keep the operator's side current while `phase run` runs:
//! `metrics.prom` ([`metrics`]), `dashboard.md` ([`dashboard`], on the metrics thread) and
//! the `[[hooks]]` ([`hooks`]); [`run_report`] writes `reports/<run_id>.md` at the end.
//! They read state files and `events.jsonl` and never own work: no phase waits for them,
//! and nothing they write is read by a phase (DESIGN.md §6).
//!
//! Each runs on its own thread of the [`Reporter`], and in one process at a time per state
//! directory (a lock, `locks/report.<name>.lock`), so several `phase run` processes do not
//! deliver every event several times; when that process stops, another one takes over.

pub mod dashboard;
mod feed;
mod hook_process;
pub mod hooks;
pub mod metrics;
pub mod run_report;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::config::Config;
use crate::lifecycle::LivePhases;
use crate::model::StateDoc;
use crate::store::{Fingerprint, LockGuard, StateDir};
use hooks::{HookRunner, Pass};

/// At most one write of `metrics.prom` per this interval.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// A write of the metrics may take at most this share of the time (1/50): on a large
/// state directory the interval grows instead, so the engine's throughput stays.
const METRICS_DUTY: u32 = 50;

/// How often the hooks look at the log.
const HOOKS_INTERVAL: Duration = Duration::from_millis(250);

/// The reporting threads of one `phase run` process.
#[derive(Debug)]
pub struct Reporter {
    state: StateDir,
    stop: Option<Sender<()>>,
    metrics: Option<JoinHandle<Option<LockGuard>>>,
    hooks: Option<JoinHandle<(Option<LockGuard>, Option<HookRunner>)>>,
    config: Arc<Config>,
    run_id: String,
}

impl Reporter {
    /// Starts the threads. Call before the run's first event (RUN_STARTED): a hook seen
    /// for the first time starts at the log's end as of now.
    pub fn start(state: &StateDir, config: Arc<Config>, run_id: &str) -> Reporter {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let metrics = {
            let (state, stopped) = (state.clone(), stopped.clone());
            spawn("phase-metrics", move || metrics_loop(&state, &stopped))
        };
        let hooks = if config.hooks.is_empty() {
            None
        } else {
            // Taken now if free, so new hooks' cursors are set before RUN_STARTED.
            let (lock, runner) = take_hooks(state, &config, run_id, None);
            let (state, config, run_id) = (state.clone(), config.clone(), run_id.to_string());
            spawn("phase-hooks", move || {
                hooks_loop(&state, &config, &run_id, &stopped, lock, runner)
            })
        };
        Reporter {
            state: state.clone(),
            stop: Some(stop),
            metrics,
            hooks,
            config,
            run_id: run_id.to_string(),
        }
    }

    /// The last pass, after the run's last event: `metrics.prom` written once more, and
    /// every hook given what is pending (one try each; a failure is left for the next
    /// start). Then the threads are gone.
    pub fn finish(mut self) {
        drop(self.stop.take());
        let metrics_lock = self.metrics.take().and_then(|t| t.join().ok()).flatten();
        let metrics_lock = metrics_lock.or_else(|| try_lock(&self.state, "metrics"));
        if metrics_lock.is_some()
            && let Err(e) = metrics::write(&self.state, live(&self.state))
        {
            tracing::warn!("cannot write {}: {e}", metrics::METRICS_FILE);
        }
        // The dashboard's last word: the final states, no phase running.
        if metrics_lock.is_some() {
            dashboard::Pacer::default().tick(&self.state, live(&self.state));
        }
        let Some(thread) = self.hooks.take() else {
            return;
        };
        let (lock, runner) = thread.join().unwrap_or((None, None));
        let (_lock, runner) = take_hooks(&self.state, &self.config, &self.run_id, lock.zip(runner));
        if let Some(mut runner) = runner
            && let Err(e) = runner.pass(Pass::Last)
        {
            tracing::warn!("hooks: {e}");
        }
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Option<JoinHandle<T>> {
    match std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
    {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!("cannot start the {name} thread: {e}");
            None
        }
    }
}

fn try_lock(state: &StateDir, name: &str) -> Option<LockGuard> {
    match LockGuard::try_acquire(&state.lock_path(&format!("report.{name}"))) {
        Ok(guard) => guard,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

fn live(state: &StateDir) -> LivePhases {
    LivePhases::detect(state).unwrap_or_default()
}

/// The hooks' lock and runner: the ones given, else taken now if free.
fn take_hooks(
    state: &StateDir,
    config: &Config,
    run_id: &str,
    held: Option<(LockGuard, HookRunner)>,
) -> (Option<LockGuard>, Option<HookRunner>) {
    if let Some((lock, runner)) = held {
        return (Some(lock), Some(runner));
    }
    let Some(lock) = try_lock(state, "hooks") else {
        return (None, None);
    };
    match HookRunner::new(state, &config.hooks, run_id) {
        Ok(runner) => (Some(lock), Some(runner)),
        Err(e) => {
            warn_once(format!("hooks: {e}"));
            (None, None)
        }
    }
}

/// Logs a hooks problem unless it is the one logged last: a broken `hooks.json` is
/// tried again every pass, and said once.
fn warn_once(message: String) {
    static LAST: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if last.as_deref() != Some(message.as_str()) {
        tracing::warn!("{message}");
        *last = Some(message);
    }
}

/// Waits `pause` or until [`Reporter::finish`]; `false` once it is time to stop.
fn sleep(stopped: &Receiver<()>, pause: Duration) -> bool {
    matches!(stopped.recv_timeout(pause), Err(RecvTimeoutError::Timeout))
}

fn hooks_loop(
    state: &StateDir,
    config: &Config,
    run_id: &str,
    stopped: &Receiver<()>,
    mut lock: Option<LockGuard>,
    mut runner: Option<HookRunner>,
) -> (Option<LockGuard>, Option<HookRunner>) {
    loop {
        if runner.is_none() {
            (lock, runner) = take_hooks(state, config, run_id, None);
        }
        if let Some(r) = runner.as_mut()
            && let Err(e) = r.pass(Pass::Running)
        {
            warn_once(format!("hooks: {e}"));
        }
        if !sleep(stopped, HOOKS_INTERVAL) {
            return (lock, runner);
        }
    }
}

/// Writes `metrics.prom` when an input changed, at most once per [`METRICS_INTERVAL`] (or
/// less often when a write takes long); returns the lock it holds.
fn metrics_loop(state: &StateDir, stopped: &Receiver<()>) -> Option<LockGuard> {
    let mut lock: Option<LockGuard> = None;
    let mut last_inputs: Option<Inputs> = None;
    let mut next = Instant::now();
    let mut dashboard = dashboard::Pacer::default();
    loop {
        if lock.is_none() {
            lock = try_lock(state, "metrics");
        }
        if lock.is_some() && Instant::now() >= next {
            let inputs = Inputs::of(state);
            if last_inputs.as_ref() != Some(&inputs) {
                let started = Instant::now();
                match metrics::write(state, inputs.live) {
                    Ok(_) => last_inputs = Some(inputs),
                    Err(e) => tracing::warn!("cannot write {}: {e}", metrics::METRICS_FILE),
                }
                next = Instant::now() + METRICS_INTERVAL.max(started.elapsed() * METRICS_DUTY);
            }
        }
        // Elapsed times move while nothing else does: the pacer alone decides (once a second).
        if lock.is_some() {
            dashboard.tick(state, live(state));
        }
        if !sleep(stopped, METRICS_INTERVAL) {
            return lock;
        }
    }
}

/// What the metrics are made of, cheaply compared: the files' fingerprints and which
/// phases run.
#[derive(Debug)]
struct Inputs {
    files: Vec<Option<Fingerprint>>,
    live: LivePhases,
}

impl PartialEq for Inputs {
    fn eq(&self, other: &Inputs) -> bool {
        let phases = |l: &LivePhases| (l.router, l.executor, l.recovery);
        self.files == other.files && phases(&self.live) == phases(&other.live)
    }
}

impl Inputs {
    fn of(state: &StateDir) -> Inputs {
        let names = [
            crate::model::RoutingDecisions::FILE,
            crate::model::ExecutionResults::FILE,
            crate::model::FixPatches::FILE,
            crate::model::ToolHealth::FILE,
            crate::model::Control::FILE,
        ];
        let dirs = [state.inbox(), state.rejected()];
        let files = names
            .iter()
            .map(|n| state.file(n))
            .chain(dirs)
            .map(|p| Fingerprint::of_path(&p).ok().flatten())
            .collect();
        Inputs {
            files,
            live: live(state),
        }
    }
}
