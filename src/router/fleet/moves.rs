//! Moving tasks off tools that may not take them, and what that needs: each tool's load
//! (for `least_loaded`) and half-open circuits' probes that no longer probe.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::Fleet;
use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::model::{Circuit, EventType, RoutingStrategy, Status};
use crate::router::choose::Selector;
use crate::router::clock::now_ms;
use crate::router::fallback;
use crate::router::routing_book::RoutingBook;

impl Fleet {
    /// Counts each tool's unfinished tasks, for `least_loaded` (only when a rule uses it).
    pub(in crate::router) fn recount_load(&mut self, config: &Config, book: &RoutingBook) {
        let needed = config
            .routing
            .rules
            .iter()
            .any(|r| r.strategy == RoutingStrategy::LeastLoaded);
        if !needed {
            return;
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        for d in book.decisions() {
            let progress = self.attempts.progress(&d.task_id);
            let running = progress.is_some_and(|p| p.status == Status::Running);
            let waits = progress.is_none_or(|p| p.awaits_attempt());
            if (waits && d.waiting.is_none()) && !running {
                *counts.entry(d.selected_tool.clone()).or_default() += 1;
            }
        }
        for tool in config.tools.keys() {
            let running = self.attempts.running(tool);
            if running > 0 {
                *counts.entry(tool.clone()).or_default() += running;
            }
        }
        self.load.reset(counts);
    }

    /// Moves tasks off tools that may not take them (see [`super::fallback`]), when the
    /// decisions or the tools changed since the last look; logs each move.
    pub(in crate::router) fn reroute(
        &mut self,
        config: &Config,
        book: &mut RoutingBook,
        events: &EventLog,
        lock_timeout: Duration,
    ) -> Result<()> {
        let key = (book.generation(), self.version);
        if self.scanned == Some(key) {
            return Ok(());
        }
        self.release_stale_probes(book);
        let amendments = {
            let decisions = book.decisions();
            let mut sel = Selector {
                config,
                health: &mut self.health,
                tools: &mut self.tools,
                load: &mut self.load,
                metrics: &self.metrics,
                turns: &mut self.turns,
                attempts: &self.attempts,
                now: now_ms(),
            };
            fallback::amendments(decisions, &mut sel)
        };
        if !amendments.is_empty() {
            let run_id = events.run_id().to_string();
            if let Some(applied) = book.amend(amendments, lock_timeout, &run_id, events)? {
                for a in applied.iter().filter(|a| a.selected_tool != a.expect_tool) {
                    let reason = a.fallback.as_ref().map(|f| f.reason.clone());
                    tracing::info!(task = %a.task_id, from = %a.expect_tool, to = %a.selected_tool, "task moved");
                    let data = json!({ "tool": a.selected_tool, "from": a.expect_tool, "fallback": reason });
                    events.emit(
                        EventType::TaskRouted,
                        crate::router::PHASE,
                        Some(&a.task_id),
                        None,
                        data,
                    );
                }
            }
        }
        self.scanned = Some((book.generation(), self.version));
        Ok(())
    }

    /// A half-open circuit's probe that no longer runs there (moved, ended, gone) is
    /// released, so another task may probe.
    fn release_stale_probes(&mut self, book: &RoutingBook) {
        let stale: Vec<String> = self
            .tools
            .states()
            .iter()
            .filter(|(_, s)| s.circuit == Circuit::HalfOpen)
            .filter_map(|(tool, s)| {
                let p = s.probe.as_ref()?;
                let on_tool = book
                    .get(&p.task_id)
                    .is_some_and(|d| d.selected_tool == *tool);
                let live = self
                    .attempts
                    .progress(&p.task_id)
                    .is_none_or(|g| g.awaits_attempt() || g.status == Status::Running);
                (!(on_tool && live)).then(|| tool.clone())
            })
            .collect();
        for tool in stale {
            self.tools.entry(&tool).probe = None;
            self.version += 1;
        }
    }
}
