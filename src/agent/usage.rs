//! What an agent step cost, read from the CLI's own stdout after it ran: the presets ask
//! each CLI for a machine-readable report where it has one (codex `--json`: JSONL events,
//! `turn.completed` carries `usage`; claude `--output-format json`: one `result` object
//! with `usage` and `total_cost_usd`; gemini `--output-format json`: `stats.models.*.tokens`),
//! and aider prints `Tokens: 2.3k sent, 150 received. Cost: $0.01 message, $0.02 session.`
//! A number the CLI did not print stays absent; a log that says nothing gives an empty
//! usage, never an error.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::config::ToolConfig;
use crate::config::presets::Agent;
use crate::model::AgentUsage;

/// At most this much of a stdout log is read (a claude result object holds the model's
/// last message; a codex log one line per event).
const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// What the step of preset tool `tool` cost, from its stdout log `log` (a path below the
/// state directory: `logs/<task>/<file>`); `None` for a tool without a preset.
pub fn of_run(tool: &ToolConfig, log: &Path) -> Option<AgentUsage> {
    let agent = tool.preset.as_deref().and_then(Agent::from_name)?;
    // `logs/<task>/<file>`: never through a planted link (issue 8).
    let text = crate::store::open_below(log, 3, crate::store::Access::Read)
        .ok()
        .and_then(|f| {
            let mut bytes = Vec::new();
            f.take(MAX_LOG_BYTES).read_to_end(&mut bytes).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
        .unwrap_or_default();
    Some(parse(agent, &text))
}

/// The usage `agent` reported in `stdout`.
pub fn parse(agent: Agent, stdout: &str) -> AgentUsage {
    match agent {
        Agent::Codex => codex(stdout),
        Agent::Claude => claude(stdout),
        Agent::Gemini => gemini(stdout),
        Agent::Aider => aider(stdout),
    }
}

/// Adds `b` to `a`, a number absent on both sides staying absent.
pub fn add(a: &mut AgentUsage, b: &AgentUsage) {
    fn sum<T: std::ops::Add<Output = T> + Copy>(x: Option<T>, y: Option<T>) -> Option<T> {
        match (x, y) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        }
    }
    a.input_tokens = sum(a.input_tokens, b.input_tokens);
    a.output_tokens = sum(a.output_tokens, b.output_tokens);
    a.cost_usd = sum(a.cost_usd, b.cost_usd);
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// One `turn.completed` event per turn, each with the turn's usage (cached input is part
/// of `input_tokens`).
fn codex(stdout: &str) -> AgentUsage {
    let mut total = AgentUsage::default();
    for line in stdout.lines().filter(|l| l.contains("turn.completed")) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if event["type"] != "turn.completed" {
            continue;
        }
        let usage = &event["usage"];
        let turn = AgentUsage {
            input_tokens: count(usage, "input_tokens"),
            output_tokens: count(usage, "output_tokens"),
            cost_usd: None,
        };
        add(&mut total, &turn);
    }
    total
}

/// The last `{"type": "result", …}` object: `usage` (input split into fresh, cache
/// writes and cache reads) and `total_cost_usd`.
fn claude(stdout: &str) -> AgentUsage {
    let result = stdout
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "result")
        .or_else(|| serde_json::from_str::<Value>(stdout.trim()).ok())
        .unwrap_or(Value::Null);
    let usage = &result["usage"];
    let input: Option<u64> = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| count(usage, k))
    .reduce(|a, b| a + b);
    AgentUsage {
        input_tokens: input,
        output_tokens: count(usage, "output_tokens"),
        cost_usd: result.get("total_cost_usd").and_then(Value::as_f64),
    }
}

/// One pretty-printed object; `stats.models.<model>.tokens` per model (`prompt` includes
/// cached input; `candidates` is the output).
fn gemini(stdout: &str) -> AgentUsage {
    let start = stdout.find('{').unwrap_or(0);
    let Ok(doc) = serde_json::from_str::<Value>(&stdout[start..]) else {
        return AgentUsage::default();
    };
    let mut total = AgentUsage::default();
    if let Some(models) = doc["stats"]["models"].as_object() {
        for model in models.values() {
            let tokens = &model["tokens"];
            let one = AgentUsage {
                input_tokens: count(tokens, "prompt").or_else(|| count(tokens, "input")),
                output_tokens: count(tokens, "candidates"),
                cost_usd: None,
            };
            add(&mut total, &one);
        }
    }
    total
}

/// `Tokens: 2.3k sent, 150 received.` per message (summed), and `Cost: $0.01 message,
/// $0.02 session.` (the last session figure), when aider knows the model's price.
fn aider(stdout: &str) -> AgentUsage {
    let mut total = AgentUsage::default();
    for line in stdout.lines() {
        let Some(rest) = line.trim().strip_prefix("Tokens: ") else {
            continue;
        };
        let mut one = AgentUsage::default();
        for clause in rest.split(", ") {
            let mut words = clause.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let what = what.trim_end_matches(['.', ',']);
            match what {
                "sent" => one.input_tokens = aider_number(n),
                "received" => one.output_tokens = aider_number(n),
                _ => {}
            }
        }
        if let Some(i) = rest.find("Cost: ") {
            let session = rest[i..]
                .split(", ")
                .find(|c| c.contains("session"))
                .and_then(|c| c.split_whitespace().next())
                .and_then(|d| d.trim_start_matches('$').parse::<f64>().ok());
            // The session figure already sums the messages before it.
            total.cost_usd = session.or(total.cost_usd);
        }
        add(&mut total, &one);
    }
    total
}

/// `659`, `2.3k`, `1.2M` (aider rounds large counts).
fn aider_number(text: &str) -> Option<u64> {
    let text = text.replace(',', "");
    let (digits, factor) = match text.strip_suffix(['k', 'K']) {
        Some(d) => (d.to_string(), 1e3),
        None => match text.strip_suffix('M') {
            Some(d) => (d.to_string(), 1e6),
            None => (text.clone(), 1.0),
        },
    };
    let n: f64 = digits.parse().ok()?;
    Some((n * factor).round() as u64)
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
