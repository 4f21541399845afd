//! Which tool runs a task (docs/ROUTING.md "Rules"): the task's own `tool`; else the
//! first `[[routing.rules]]` whose kind matches, with its candidates and strategy; else
//! `routing.default_tool`.
//!
//! A candidate that cannot run the task (not configured, wrong kind, missing program,
//! failing health check) is skipped; so is one that may not take it now (circuit open,
//! cooling down after a rate limit, half open with its probe out). When only the latter
//! are left the task waits for the first of them instead of being rejected.

use super::attempts::Attempts;
use super::clock::{Millis, format_ms};
use super::health::HealthBook;
use super::metrics::Metrics;
use super::strategy::{self, Group, Inputs, Load, Turns};
use super::tool_book::{Availability, ToolBook};
use crate::config::{Config, ToolConfig};
use crate::model::{
    CandidateScore, ProbeTask, RoutingStrategy, SkippedCandidate, TaskSpec, Waiting,
};

/// A routing choice, before it becomes (or changes) a decision.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Choice {
    pub selected_tool: String,
    pub strategy: RoutingStrategy,
    pub candidates: Vec<String>,
    pub skipped: Vec<SkippedCandidate>,
    pub scores: Vec<CandidateScore>,
    /// Which rule decided: `task.tool`, `routing.rules[2]`, `routing.default_tool`.
    pub reason: String,
    /// Set when no candidate may take the task now.
    pub waiting: Option<Box<Waiting>>,
}

/// The task to route, and what to leave out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'t> {
    pub task: &'t TaskSpec,
    pub task_id: &'t str,
    /// Attempts that ran already (a probe counts from the next one).
    pub after_attempt: u32,
    /// A tool not to choose again, and why (its attempt just failed).
    pub exclude: Option<(&'t str, &'t str)>,
}

/// Everything a choice looks at, for one pass.
pub(super) struct Selector<'a> {
    pub config: &'a Config,
    pub health: &'a mut HealthBook,
    pub tools: &'a mut ToolBook,
    pub load: &'a mut Load,
    pub metrics: &'a Metrics,
    pub turns: &'a mut Turns,
    pub attempts: &'a Attempts,
    pub now: Millis,
}

impl Selector<'_> {
    /// Whether every dependency of `task` succeeded: only such a task may be a probe (one
    /// blocked on its dependencies would hold a half-open circuit up).
    pub(super) fn may_run(&self, task: &TaskSpec) -> bool {
        task.depends_on.iter().all(|dep| {
            self.attempts
                .progress(dep)
                .is_some_and(|p| p.status == crate::model::Status::Succeeded)
        })
    }
}

/// Chooses a tool for the request; the error says why there is none, naming the kind and
/// what was tried.
pub(super) fn choose(req: Request<'_>, sel: &mut Selector<'_>) -> Result<Choice, String> {
    let (config, task) = (sel.config, req.task);
    let kind = task.kind.as_str();
    if let Some(tool) = &task.tool {
        let Some(tool_config) = config.tools.get(tool) else {
            let known: Vec<&str> = config.tools.keys().map(String::as_str).collect();
            return Err(format!(
                "task.tool: no tool named {tool:?} in [tools] (configured: {})",
                list_or_none(&known)
            ));
        };
        if !accepts(tool_config, kind) {
            return Err(format!(
                "task.tool: tool {tool:?} does not accept kind {kind:?} (it accepts: {})",
                tool_config.kinds.join(", ")
            ));
        }
        // A pinned task stays on its tool: nothing is excluded.
        let req = Request {
            exclude: None,
            ..req
        };
        let pinned = std::slice::from_ref(tool);
        return pick("task.tool", &RoutingStrategy::Fixed, pinned, req, sel);
    }
    let rule = config
        .routing
        .rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.kind == "*" || r.kind == kind);
    if let Some((i, rule)) = rule {
        let source = format!("routing.rules[{i}]");
        // The schema admits only known strategies; a config built in code may not.
        if let RoutingStrategy::Other(unknown) = &rule.strategy {
            return Err(format!(
                "{source}.strategy: unknown strategy {unknown:?} (known: fixed, round_robin, \
                 least_loaded, metrics)"
            ));
        }
        return pick(&source, &rule.strategy, &rule.candidates, req, sel);
    }
    if let Some(default) = &config.routing.default_tool {
        let only = std::slice::from_ref(default);
        return pick(
            "routing.default_tool",
            &RoutingStrategy::Fixed,
            only,
            req,
            sel,
        );
    }
    Err(format!(
        "no tool for kind {kind:?}: no routing rule matches it and routing.default_tool is not set"
    ))
}

/// A candidate that may not take the task now, and until when.
struct Blocked {
    tool: String,
    why: String,
    until: Option<Millis>,
}

/// Sorts the candidates into usable, blocked and skipped, then lets the strategy pick.
fn pick(
    source: &str,
    strategy: &RoutingStrategy,
    candidates: &[String],
    req: Request<'_>,
    sel: &mut Selector<'_>,
) -> Result<Choice, String> {
    let kind = req.task.kind.as_str();
    let mut skipped = Vec::new();
    let mut blocked: Vec<Blocked> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut probes: Vec<String> = Vec::new();
    let may_probe = sel.may_run(req.task);
    for name in candidates {
        let reason = match sel.config.tools.get(name) {
            None => Some("not in [tools]".to_string()),
            Some(tool) if !accepts(tool, kind) => Some(format!("does not accept kind {kind:?}")),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            skipped.push(skip(name, reason));
            continue;
        }
        let mut members = Vec::new();
        for member in sel.config.pool_members(name) {
            if let Some((excluded, why)) = req.exclude.filter(|(t, _)| *t == member) {
                skipped.push(skip(excluded, why.to_string()));
                continue;
            }
            let health = match sel.config.tools.get(&member) {
                Some(tool) => sel.health.check(&member, tool),
                None => Err("not in [tools]".to_string()),
            };
            if let Err(reason) = health {
                skipped.push(skip(&member, reason));
                continue;
            }
            match sel.tools.availability_for(&member, sel.now, req.task_id) {
                Availability::Usable => members.push(member),
                Availability::Probe if may_probe => {
                    probes.push(member.clone());
                    members.push(member);
                }
                Availability::Probe => {
                    let why = "circuit half open, waiting for a probe task ready to run";
                    skipped.push(skip(&member, why.to_string()));
                    blocked.push(Blocked {
                        tool: member,
                        why: why.to_string(),
                        until: None,
                    });
                }
                Availability::Unavailable { why, until } => {
                    skipped.push(skip(&member, why.clone()));
                    blocked.push(Blocked {
                        tool: member,
                        why,
                        until,
                    });
                }
            }
        }
        if !members.is_empty() {
            groups.push(Group {
                name: name.clone(),
                members,
            });
        }
    }
    let mut choice = Choice {
        selected_tool: String::new(),
        strategy: strategy.clone(),
        candidates: candidates.to_vec(),
        skipped,
        scores: Vec::new(),
        reason: source.to_string(),
        waiting: None,
    };
    if groups.is_empty() {
        if blocked.is_empty() {
            return Err(no_usable_tool(kind, source, &choice.skipped));
        }
        // Waits for the candidate free first (one waiting on a probe comes last).
        let first = blocked
            .iter()
            .min_by_key(|b| b.until.unwrap_or(Millis::MAX))
            .map_or(0, |b| {
                blocked.iter().position(|x| x.tool == b.tool).unwrap_or(0)
            });
        let reasons: Vec<String> = blocked
            .iter()
            .map(|b| format!("{}: {}", b.tool, b.why))
            .collect();
        choice.selected_tool = blocked[first].tool.clone();
        choice.waiting = Some(Box::new(Waiting {
            reason: format!("no candidate may take it now ({})", reasons.join("; ")),
            until: blocked[first].until.map(format_ms),
        }));
        return Ok(choice);
    }
    let mut inputs = Inputs {
        config: sel.config,
        load: sel.load,
        metrics: sel.metrics,
        turns: sel.turns,
    };
    let picked = strategy::pick(strategy, source, &groups, kind, &mut inputs);
    if probes.contains(&picked.tool) {
        sel.tools.entry(&picked.tool).probe = Some(ProbeTask {
            task_id: req.task_id.to_string(),
            after_attempt: req.after_attempt,
            since: format_ms(sel.now),
        });
    }
    sel.load.add(&picked.tool);
    choice.selected_tool = picked.tool;
    choice.scores = picked.scores;
    Ok(choice)
}

fn skip(tool: &str, reason: String) -> SkippedCandidate {
    SkippedCandidate {
        tool: tool.to_string(),
        reason,
    }
}

/// `no usable tool for kind "doc" (routing.rules[1]): tried a (why), b (why)`.
fn no_usable_tool(kind: &str, source: &str, skipped: &[SkippedCandidate]) -> String {
    let tried: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} ({})", s.tool, s.reason))
        .collect();
    format!(
        "no usable tool for kind {kind:?} ({source}): tried {}",
        list_or_none(&tried)
    )
}

/// Empty `kinds` accepts any kind.
fn accepts(tool: &ToolConfig, kind: &str) -> bool {
    tool.kinds.is_empty() || tool.kinds.iter().any(|k| k == kind)
}

fn list_or_none<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
