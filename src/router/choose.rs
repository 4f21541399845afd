//! Which tool runs a task (docs/ROUTING.md "Rules"): the task's own `tool`; else the
//! first `[[routing.rules]]` whose kind matches, with its candidates and strategy; else
//! `routing.default_tool`.

use crate::config::{Config, ToolConfig};
use crate::model::{RoutingStrategy, SkippedCandidate, TaskSpec};

use super::health::HealthBook;

/// A routing choice, before it becomes a decision.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Choice {
    pub selected_tool: String,
    pub strategy: RoutingStrategy,
    pub candidates: Vec<String>,
    pub skipped: Vec<SkippedCandidate>,
    /// Which rule decided: `task.tool`, `routing.rules[2]`, `routing.default_tool`.
    pub reason: String,
}

/// Chooses a tool for `task`; the error says why there is none, naming the kind and what
/// was tried.
pub(super) fn choose(
    task: &TaskSpec,
    config: &Config,
    health: &mut HealthBook,
) -> Result<Choice, String> {
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
        return pick(
            "task.tool",
            &RoutingStrategy::Fixed,
            std::slice::from_ref(tool),
            kind,
            config,
            health,
        );
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
                "{source}.strategy: unknown strategy {unknown:?} (known: {})",
                RoutingStrategy::Fixed
            ));
        }
        return pick(
            &source,
            &rule.strategy,
            &rule.candidates,
            kind,
            config,
            health,
        );
    }
    if let Some(default) = &config.routing.default_tool {
        return pick(
            "routing.default_tool",
            &RoutingStrategy::Fixed,
            std::slice::from_ref(default),
            kind,
            config,
            health,
        );
    }
    Err(format!(
        "no tool for kind {kind:?}: no routing rule matches it and routing.default_tool is not set"
    ))
}

/// `fixed`: the first candidate that exists, accepts the kind and is healthy.
fn pick(
    source: &str,
    strategy: &RoutingStrategy,
    candidates: &[String],
    kind: &str,
    config: &Config,
    health: &mut HealthBook,
) -> Result<Choice, String> {
    let mut skipped = Vec::new();
    for name in candidates {
        let why = match config.tools.get(name) {
            None => Err("not in [tools]".to_string()),
            Some(tool) if !accepts(tool, kind) => Err(format!("does not accept kind {kind:?}")),
            Some(tool) => health.check(name, tool),
        };
        match why {
            Ok(()) => {
                return Ok(Choice {
                    selected_tool: name.clone(),
                    strategy: strategy.clone(),
                    candidates: candidates.to_vec(),
                    skipped,
                    reason: source.to_string(),
                });
            }
            Err(reason) => skipped.push(SkippedCandidate {
                tool: name.clone(),
                reason,
            }),
        }
    }
    let tried: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} ({})", s.tool, s.reason))
        .collect();
    Err(format!(
        "no usable tool for kind {kind:?} ({source}): tried {}",
        list_or_none(&tried)
    ))
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
