//! Phase 4, the router: takes task files from `inbox/`, decides which tool runs each one,
//! records the decisions in `routing_decisions.json` (and the derived
//! `adapter_assignments.json`), then moves the files to `tasks/` — or to `rejected/` with
//! a note saying why. It also owns `tool_health.json`: it follows the attempts in
//! `execution_results.json` to open and close tools' circuits, and moves tasks that have
//! not started off tools that may not take them. The rules are in docs/ROUTING.md.

mod apply;
mod assignments;
mod attempts;
mod batch;
mod blame;
mod choose;
mod circuit;
mod clock;
mod fallback;
mod fleet;
mod health;
mod intake;
mod metrics;
mod routing_book;
mod strategy;
mod tool_book;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{
    AdapterAssignments, EventType, ExecutionResults, RoutingDecisions, StateDoc, ToolHealth,
};
use crate::phase::{Outcome, Phase, Waker};
use crate::store::{InboxWatch, StateDir, is_inbox_candidate, try_lock_inbox};

use apply::{Applied, Context};
use assignments::AssignmentsFile;
use fleet::Fleet;
use intake::Intake;
use routing_book::{Refresh, RoutingBook};

/// The most inbox files the router takes in a pass after a quiet inbox; each full batch
/// lets the next take four times as many. A drop of 10,000 files at once used to be read
/// whole before the first decision was written (0.2–0.4 s before the first task could
/// start); now the first 64 start while the rest are read. Files are taken oldest first,
/// so the order of starts is still the order of submission (within a priority: a task of
/// higher priority among the later files starts after the first batch's).
const FIRST_BATCH: usize = 64;

/// The phase's name, in events and logs.
const PHASE: &str = "router";

/// When another router holds the inbox, look again after this long.
const BUSY_RETRY: Duration = Duration::from_millis(50);

/// The router phase.
#[derive(Debug)]
pub struct Router {
    state: StateDir,
    config: Arc<Config>,
    events: EventLog,
    waker: Option<Waker>,
    intake: Intake,
    /// Whether `inbox/` changed since it was last listed.
    inbox: InboxWatch,
    /// Files still settling at the last listing: the inbox is listed again until none is.
    settling: usize,
    /// How many inbox files the next pass takes at most (see [`FIRST_BATCH`]).
    batch_cap: usize,
    /// Files the last pass left for the next one (over `batch_cap`).
    deferred: usize,
    fleet: Fleet,
    book: RoutingBook,
    assignments: AssignmentsFile,
    /// The [`RoutingBook::generation`] `adapter_assignments.json` was last derived from.
    assignments_from: Option<u64>,
}

impl Router {
    /// A router on `state`; nothing is read until the first reconcile.
    pub fn new(state: StateDir, config: Arc<Config>, events: EventLog) -> Router {
        Router {
            intake: Intake::new(
                Duration::from_millis(config.routing.settle_ms),
                state.project_root(),
            ),
            inbox: InboxWatch::default(),
            settling: 0,
            batch_cap: FIRST_BATCH,
            deferred: 0,
            fleet: Fleet::new(&state, &config),
            book: RoutingBook::new(&state),
            assignments: AssignmentsFile::new(&state),
            assignments_from: None,
            waker: None,
            state,
            config,
            events,
        }
    }

    fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.config.state.lock_timeout_ms)
    }

    fn pass(&mut self) -> Result<Outcome> {
        let now = Instant::now();
        let refreshed = self.book.refresh(&self.events)?;
        self.assignments.refresh(&self.events)?;
        self.fleet.observe(&self.config, &self.book, &self.events)?;
        if refreshed == Refresh::Invalid {
            // A person broke the decisions file: routing waits until it is fixed.
            self.fleet.write(self.lock_timeout(), &self.events)?;
            return Ok(Outcome {
                next_wake: None,
                idle: true,
            });
        }
        self.fleet.recount_load(&self.config, &self.book);
        let lock_timeout = self.lock_timeout();
        let Some((applied, settle_at)) = self.route_inbox(now, lock_timeout)? else {
            return Ok(Outcome {
                next_wake: Some(now + BUSY_RETRY),
                idle: false,
            });
        };
        report_batch(&self.events, &applied);
        self.fleet
            .reroute(&self.config, &mut self.book, &self.events, lock_timeout)?;
        self.fleet.write(lock_timeout, &self.events)?;
        self.write_assignments_if_stale()?;
        let left_behind = applied.left_behind > 0 || self.deferred > 0;
        let next_wake = if left_behind {
            // A file left behind (its decision lost a race, or the batch was full) is
            // looked at again at once.
            Some(now)
        } else {
            [settle_at, self.fleet.next_wake(&self.config)]
                .into_iter()
                .flatten()
                .min()
        };
        Ok(Outcome {
            next_wake,
            idle: self.settling == 0 && !left_behind && !self.fleet.busy(&self.book),
        })
    }
}

impl Router {
    /// Routes or rejects what is ready in `inbox/`, under its lock; nothing (not even the
    /// lock) when the inbox did not change: most passes come from the results the circuits
    /// follow. `None`: another router holds the inbox. Else what was done, and when the
    /// first file still settling will have settled.
    fn route_inbox(
        &mut self,
        now: Instant,
        lock_timeout: Duration,
    ) -> Result<Option<(Applied, Option<Instant>)>> {
        if self.inbox.is_unchanged(&self.state)? {
            return Ok(Some((Applied::default(), None)));
        }
        let Some(lock) = try_lock_inbox(&self.state)? else {
            return Ok(None);
        };
        let mut files = self.inbox.list(&self.state)?;
        // A large drop is routed in growing batches, oldest first: the first tasks can
        // start while the rest are read.
        let rest = files.split_off(self.batch_cap.min(files.len()));
        self.deferred = rest.len();
        self.batch_cap = match self.deferred {
            0 => FIRST_BATCH,
            _ => self.batch_cap.saturating_mul(4),
        };
        let observation = self.intake.observe(files, now, &lock)?;
        self.settling = observation.settling;
        let plan = batch::plan(
            observation.ready,
            &self.book,
            &mut self.fleet.selector(&self.config),
            &self.state,
        );
        let applied = apply::apply(
            plan,
            Context {
                state: &self.state,
                events: &self.events,
                book: &mut self.book,
                lock: &lock,
                lock_timeout,
            },
        )?;
        // A failed pass (`?` above) or a file left behind lists again next time.
        if applied.left_behind == 0 && self.settling == 0 {
            match self.deferred {
                0 => self.inbox.handled(),
                _ => self.inbox.defer(rest),
            }
        }
        Ok(Some((applied, observation.next_wake)))
    }
}

impl Router {
    /// Re-derives `adapter_assignments.json` when the decisions changed since it was last
    /// derived (also after a pass that failed half-way: the generation tells).
    fn write_assignments_if_stale(&mut self) -> Result<()> {
        let generation = self.book.generation();
        if self.assignments_from == Some(generation) {
            return Ok(());
        }
        let desired = assignments::derive(&self.config, self.book.decisions(), &self.fleet.health);
        let run_id = self.events.run_id().to_string();
        self.assignments
            .write(desired, self.lock_timeout(), &run_id, &self.events)?;
        self.assignments_from = Some(generation);
        Ok(())
    }
}

fn report_batch(events: &EventLog, applied: &Applied) {
    if applied.reportable() {
        events.emit(
            EventType::RoutingComplete,
            "router",
            None,
            None,
            json!({
                "routed": applied.routed,
                "rejected": applied.rejected,
                "duplicates": applied.duplicates,
            }),
        );
    }
}

/// `inbox/*.json` candidates, the inbox itself, the router's three output files (a
/// person may edit them), and the executor's results (the attempts its circuits follow).
fn is_router_input(path: &Path) -> bool {
    let files = [
        RoutingDecisions::FILE,
        AdapterAssignments::FILE,
        ToolHealth::FILE,
        ExecutionResults::FILE,
    ];
    if files.iter().any(|f| path == Path::new(f)) {
        return true;
    }
    match path.strip_prefix("inbox") {
        Ok(rest) if rest.as_os_str().is_empty() => true,
        Ok(rest) => {
            rest.file_name().is_some_and(is_inbox_candidate) && rest.parent() == Some(Path::new(""))
        }
        Err(_) => false,
    }
}

impl Phase for Router {
    fn name(&self) -> &'static str {
        PHASE
    }

    fn wakes_on(&self) -> fn(&Path) -> bool {
        is_router_input
    }

    fn start(&mut self, waker: Waker) -> Result<()> {
        // Background health checks wake the router when they are done.
        self.fleet.start(waker.clone());
        self.waker = Some(waker);
        self.state.ensure_runtime_dirs()
    }

    fn reconcile(&mut self) -> Result<Outcome> {
        let outcome = self.pass();
        // Whatever happened, what was done is logged.
        let flushed = self.events.flush();
        let mut outcome = outcome?;
        flushed?;
        // A file read just after it changed is checked once more (see `WatchedFile`).
        outcome.next_wake = [self.book.confirm_at(), self.assignments.confirm_at()]
            .into_iter()
            .chain([outcome.next_wake])
            .flatten()
            .min();
        Ok(outcome)
    }

    fn shutdown(&mut self, _grace: Duration) -> Result<()> {
        let caught_up =
            self.fleet
                .catch_up(&self.config, &self.book, self.lock_timeout(), &self.events);
        let flushed = self.events.flush();
        caught_up.and(flushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_inbox_files_and_its_own_outputs_only() {
        assert!(is_router_input(Path::new("inbox/a.json")));
        assert!(is_router_input(Path::new("inbox")));
        assert!(is_router_input(Path::new("routing_decisions.json")));
        assert!(is_router_input(Path::new("adapter_assignments.json")));
        assert!(is_router_input(Path::new("tool_health.json")));
        assert!(is_router_input(Path::new("execution_results.json")));
        assert!(!is_router_input(Path::new("inbox/.a.json.tmp")));
        assert!(!is_router_input(Path::new("inbox/a.txt")));
        assert!(!is_router_input(Path::new("inbox/sub/a.json")));
        assert!(!is_router_input(Path::new("fix_patches.json")));
        assert!(!is_router_input(Path::new("tasks/a.json")));
        assert!(!is_router_input(Path::new("events.jsonl")));
    }
}
