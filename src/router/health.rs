//! Tool health checks: when they run and what they last said.
//!
//! - At routing time a tool that was never checked is checked at once (on the router's
//!   thread: the task waits for the answer), and so is one whose last result is older
//!   than [`RECHECK_AFTER`] when periodic checks are off.
//! - Periodically (`routing.health_check_interval_ms`), after a circuit opens, and when an
//!   open circuit's cool-down ends, checks run on threads of their own, which wake the
//!   router when they are done: a hung health check never holds up routing.
//!
//! Every result is handed to the router once ([`HealthBook::take_new`]) to be recorded in
//! `tool_health.json`.

mod probe;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::clock::{Millis, now_ms};
use crate::config::{Config, ToolConfig};
use crate::phase::{Wake, Waker};

/// How long a result is trusted when there are no periodic checks.
pub(super) const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// A tool's health; `Err` says why it is unusable.
pub(super) type Health = std::result::Result<(), String>;

/// One result: the tool, what it said, and when (wall clock).
pub(super) type CheckResult = (String, Health, Millis);

/// The results, and the checks in flight.
#[derive(Debug)]
pub(super) struct HealthBook {
    project_root: PathBuf,
    /// Periodic checks this often (`None`: none).
    interval: Option<Duration>,
    results: HashMap<String, Latest>,
    in_flight: HashSet<String>,
    /// Tools to check as soon as possible.
    wanted: HashSet<String>,
    /// Results not yet handed over by [`take_new`](Self::take_new).
    new: Vec<CheckResult>,
    done_tx: Sender<CheckResult>,
    done_rx: Receiver<CheckResult>,
    waker: Option<Waker>,
}

#[derive(Debug, Clone)]
struct Latest {
    at: Instant,
    wall: Millis,
    health: Health,
}

impl HealthBook {
    /// Relative program paths and health checks resolve against `project_root`.
    pub(super) fn new(project_root: PathBuf, interval_ms: u64) -> Self {
        let (done_tx, done_rx) = unbounded();
        Self {
            project_root,
            interval: (interval_ms > 0).then(|| Duration::from_millis(interval_ms)),
            results: HashMap::new(),
            in_flight: HashSet::new(),
            wanted: HashSet::new(),
            new: Vec::new(),
            done_tx,
            done_rx,
            waker: None,
        }
    }

    /// Background checks wake the router through `waker` when they are done.
    pub(super) fn set_waker(&mut self, waker: Waker) {
        self.waker = Some(waker);
    }

    /// The health of tool `name` for routing: the last result, or a check now when there
    /// is none (or it is stale and nothing checks periodically).
    pub(super) fn check(&mut self, name: &str, tool: &ToolConfig) -> Health {
        if let Some(latest) = self.results.get(name) {
            let trusted = self.interval.is_some() || latest.at.elapsed() < RECHECK_AFTER;
            if trusted {
                return latest.health.clone();
            }
        }
        let health = probe::probe(tool, &self.project_root);
        self.store((name.to_string(), health.clone(), now_ms()));
        health
    }

    /// The last known health of `name`, without checking.
    pub(super) fn known(&self, name: &str) -> Option<&Health> {
        self.results.get(name).map(|l| &l.health)
    }

    /// The last result of `name` taken at or after `since` (wall clock), if any.
    pub(super) fn result_since(&self, name: &str, since: Millis) -> Option<&Health> {
        self.results
            .get(name)
            .filter(|l| l.wall >= since)
            .map(|l| &l.health)
    }

    /// Asks for a check of `name` as soon as possible (a circuit opened, or its cool-down
    /// ended).
    pub(super) fn want(&mut self, name: &str) {
        if !self.in_flight.contains(name) {
            self.wanted.insert(name.to_string());
        }
    }

    /// Takes finished background checks in, and starts the checks that are due.
    pub(super) fn run_due(&mut self, config: &Config) {
        while let Ok(done) = self.done_rx.try_recv() {
            self.in_flight.remove(&done.0);
            self.store(done);
        }
        for (name, tool) in &config.tools {
            if tool.health_check.is_none() || self.in_flight.contains(name) {
                continue;
            }
            let periodic_due = self.interval.is_some_and(|every| {
                self.results
                    .get(name)
                    .is_none_or(|l| l.at.elapsed() >= every)
            });
            if self.wanted.remove(name) || periodic_due {
                self.spawn(name, tool);
            }
        }
    }

    /// Results that arrived since the last call, for `tool_health.json`.
    pub(super) fn take_new(&mut self) -> Vec<CheckResult> {
        std::mem::take(&mut self.new)
    }

    /// Whether checks are running (their results may change what the router does).
    pub(super) fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// When the next periodic check is due.
    pub(super) fn next_due(&self, config: &Config) -> Option<Instant> {
        let every = self.interval?;
        config
            .tools
            .iter()
            .filter(|(name, t)| t.health_check.is_some() && !self.in_flight.contains(*name))
            .map(|(name, _)| {
                self.results
                    .get(name)
                    .map_or_else(Instant::now, |l| l.at + every)
            })
            .min()
    }

    fn spawn(&mut self, name: &str, tool: &ToolConfig) {
        let (name, tool, root) = (name.to_string(), tool.clone(), self.project_root.clone());
        let (tx, waker) = (self.done_tx.clone(), self.waker.clone());
        self.in_flight.insert(name.clone());
        let key = name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("health-{name}"))
            .spawn(move || {
                let health = probe::probe(&tool, &root);
                let _ = tx.send((name, health, now_ms()));
                if let Some(waker) = waker {
                    let _ = waker.send(Wake::Worker);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a health-check thread: {e}");
            self.in_flight.remove(&key);
        }
    }

    fn store(&mut self, (name, health, wall): CheckResult) {
        if let Err(why) = &health {
            tracing::warn!(tool = %name, reason = %why, "tool is unhealthy");
        }
        let latest = Latest {
            at: Instant::now(),
            wall,
            health: health.clone(),
        };
        self.results.insert(name.clone(), latest);
        self.new.push((name, health, wall));
    }
}
