//! The tools as the router sees them between two passes: their health file, the attempts
//! they ran (from `execution_results.json`), their health checks, metrics and load. One
//! pass of upkeep, in order: adopt edits of `tool_health.json` → take in ended attempts
//! (circuits, cool-downs, metrics) → health-check results → circuits moved on with the
//! time → checks that are due; then, after routing, tasks moved off tools that may not
//! take them ([`super::fallback`]) and the health file written.

use std::time::{Duration, Instant};

use serde_json::json;

use super::attempts::Attempts;
use super::blame::Blame;
use super::choose::Selector;
use super::circuit::{self, CheckSince, Ended};
use super::clock::{Millis, deadline, format_ms, now_ms, parse_ms};
use super::health::HealthBook;
use super::metrics::Metrics;
use super::routing_book::RoutingBook;
use super::strategy::{Load, Turns};
use super::tool_book::ToolBook;
use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{Circuit, EventType, HealthCheck};
use crate::phase::Waker;
use crate::store::StateDir;

mod moves;

/// The tools' state and what it is derived from.
#[derive(Debug)]
pub(super) struct Fleet {
    pub(super) health: HealthBook,
    tools: ToolBook,
    attempts: Attempts,
    metrics: Metrics,
    load: Load,
    turns: Turns,
    /// Goes up whenever what the decisions depend on changes (tool states, attempts).
    version: u64,
    /// The (decisions generation, version) the last re-routing scan saw.
    scanned: Option<(u64, u64)>,
    /// The results file could not be read yet (pace): look again then.
    read_again_at: Option<Instant>,
}

impl Fleet {
    pub(super) fn new(state: &StateDir, config: &Config) -> Self {
        Self {
            health: HealthBook::new(
                state.project_root(),
                config.routing.health_check_interval_ms,
            ),
            tools: ToolBook::new(state),
            attempts: Attempts::new(state, Blame::new(config)),
            metrics: Metrics::new(config.routing.metrics.window),
            load: Load::default(),
            turns: Turns::default(),
            version: 0,
            scanned: None,
            read_again_at: None,
        }
    }

    /// Background health checks wake the router through `waker`.
    pub(super) fn start(&mut self, waker: Waker) {
        self.health.set_waker(waker);
    }

    /// The selector a routing choice works with.
    pub(super) fn selector<'a>(&'a mut self, config: &'a Config) -> Selector<'a> {
        Selector {
            config,
            health: &mut self.health,
            tools: &mut self.tools,
            load: &mut self.load,
            metrics: &self.metrics,
            turns: &mut self.turns,
            attempts: &self.attempts,
            now: now_ms(),
        }
    }

    /// The upkeep before routing (see the module doc).
    pub(super) fn observe(
        &mut self,
        config: &Config,
        book: &RoutingBook,
        events: &EventLog,
    ) -> Result<()> {
        if self.tools.refresh(events)? {
            self.version += 1;
        }
        let kind_of = |task: &str| book.get(task).map(|d| d.task_kind.clone());
        let through = self.tools.results_through();
        match self
            .attempts
            .refresh(events, through, &mut self.metrics, &kind_of)
        {
            Ok(ended) => {
                self.read_again_at = None;
                if self.attempts.take_new_failure() || !ended.is_empty() {
                    self.version += 1;
                }
                for e in ended {
                    if !config.tools.contains_key(&e.tool) {
                        continue;
                    }
                    let end = Ended {
                        task_id: &e.task_id,
                        attempt: e.attempt,
                        at: e.at,
                        verdict: &e.verdict,
                    };
                    let change =
                        circuit::record(self.tools.entry(&e.tool), end, &config.routing.circuit);
                    self.report(change, &e.tool, events);
                    self.tools.set_results_through(e.at);
                }
            }
            Err(when) => self.read_again_at = Some(when),
        }
        for (tool, health, at) in self.health.take_new() {
            let check = HealthCheck {
                at: format_ms(at),
                ok: health.is_ok(),
                note: health.err(),
            };
            let state = self.tools.entry(&tool);
            if state
                .last_check
                .as_ref()
                .is_none_or(|c| (c.ok, &c.note) != (check.ok, &check.note))
            {
                self.version += 1;
            }
            state.last_check = Some(check);
        }
        self.tick(config, events);
        self.health.run_due(config);
        Ok(())
    }

    /// Moves circuits on with the time (an open one asks for a health check first).
    fn tick(&mut self, config: &Config, events: &EventLog) {
        let now = now_ms();
        let names: Vec<String> = self.tools.states().keys().cloned().collect();
        for tool in names {
            let Some(state) = self.tools.get(&tool) else {
                continue;
            };
            let due = state.circuit == Circuit::Open
                && circuit::open_until(state).is_none_or(|t| t <= now);
            let cooling_ended = state
                .cooldown_until
                .as_deref()
                .and_then(parse_ms)
                .is_some_and(|t| t <= now);
            if !due && !cooling_ended {
                continue;
            }
            let has_check = config
                .tools
                .get(&tool)
                .is_some_and(|t| t.health_check.is_some());
            let since = circuit::open_until(state).unwrap_or(now);
            let check = match (has_check, self.health.result_since(&tool, since)) {
                (false, _) => CheckSince::NoCheck,
                (true, None) => {
                    self.health.want(&tool);
                    CheckSince::Pending
                }
                (true, Some(Ok(()))) => CheckSince::Passed,
                (true, Some(Err(why))) => CheckSince::Failed(why.clone()),
            };
            let change =
                circuit::tick(self.tools.entry(&tool), now, check, &config.routing.circuit);
            self.version += 1;
            self.report(change, &tool, events);
        }
    }

    /// Logs a circuit's change; an opened circuit's tool is health-checked at once.
    fn report(&mut self, change: Option<circuit::Change>, tool: &str, events: &EventLog) {
        let Some(change) = change else {
            return;
        };
        self.version += 1;
        let state = self.tools.get(tool).cloned().unwrap_or_default();
        let (kind, data) = match change.to {
            Circuit::Open => {
                self.health.want(tool);
                tracing::warn!(tool = %tool, "circuit opened: {}", change.why);
                let data = json!({
                    "tool": tool,
                    "reason": change.why,
                    "failures": state.consecutive_failures,
                    "open_until": state.open_until,
                });
                (EventType::CircuitOpened, data)
            }
            Circuit::HalfOpen => (
                EventType::CircuitHalfOpen,
                json!({ "tool": tool, "reason": change.why }),
            ),
            Circuit::Closed => (
                EventType::CircuitClosed,
                json!({ "tool": tool, "reason": change.why }),
            ),
        };
        events.emit(kind, super::PHASE, None, None, data);
    }

    /// Writes `tool_health.json` if anything changed.
    pub(super) fn write(&mut self, lock_timeout: Duration, events: &EventLog) -> Result<()> {
        self.tools.write(lock_timeout, events)
    }

    /// Reads the results now, whatever the pace, and writes what they changed: the last
    /// look before the router stops, so `tool_health.json` counts every attempt.
    pub(super) fn catch_up(
        &mut self,
        config: &Config,
        book: &RoutingBook,
        lock_timeout: Duration,
        events: &EventLog,
    ) -> Result<()> {
        self.attempts.unpause();
        self.observe(config, book, events)?;
        self.write(lock_timeout, events)
    }

    /// When the router must look again without an event: a circuit's cool-down, a rate
    /// limit's end, a periodic health check, a deferred read of the results.
    pub(super) fn next_wake(&self, config: &Config) -> Option<Instant> {
        let now = now_ms();
        let timers = self.tools.states().values().flat_map(|s| {
            let open = (s.circuit == Circuit::Open)
                .then(|| circuit::open_until(s))
                .flatten();
            let cooling = s.cooldown_until.as_deref().and_then(parse_ms);
            [open, cooling]
        });
        // Past ones are handled; one that waits for a health check is woken by the check.
        let wall: Option<Millis> = timers.flatten().filter(|t| *t > now).min();
        [
            wall.map(deadline),
            self.health.next_due(config),
            self.read_again_at,
            self.tools.confirm_at(),
            self.attempts.confirm_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether work is pending that `--once` must wait for: checks in flight, or tasks
    /// waiting for a time. A deferred read of the results is not: it can only hold ended
    /// attempts (for the circuits; [`Fleet::catch_up`] reads them before the router
    /// stops), and waiting out its pause (up to 10 s) made every large run end that late.
    pub(super) fn busy(&self, book: &RoutingBook) -> bool {
        self.health.busy()
            || book
                .decisions()
                .iter()
                .any(|d| d.waiting.as_ref().is_some_and(|w| w.until.is_some()))
    }
}
