//! The strategies of a routing rule: which of the usable candidates takes a task.
//!
//! Candidates are groups: a tool is a group of one, a pool a group of its instances. Every
//! strategy picks a group and, in it, an instance:
//! - `fixed`: the first usable candidate (and its first usable instance);
//! - `round_robin`: the usable candidates in turn (and a pool's instances in turn);
//! - `least_loaded`: the most free share of its limit (`max_parallel`, else
//!   `execution.max_parallel`): running attempts plus tasks routed to it and not started;
//! - `metrics`: the best success rate × speed for the task's kind (see [`Metrics`]); every
//!   `1/explore`-th decision of the rule goes to the instance tried least, so a tool that
//!   recovered gets traffic again. Deterministic: no randomness, only counters.

use std::collections::HashMap;

use super::metrics::{Metrics, Stats};
use crate::config::Config;
use crate::model::{CandidateScore, RoutingStrategy};

/// Added to medians before comparing speeds, so a few milliseconds do not outweigh the
/// success rate.
const SPEED_SMOOTHING_MS: f64 = 1000.0;

/// A usable candidate: its name in the rule and its usable tools (a pool's instances).
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// The candidate's name (a tool, or a pool).
    pub name: String,
    /// Its usable tools, in order.
    pub members: Vec<String>,
}

/// Unfinished tasks per tool: running, or routed to it and not started.
#[derive(Debug, Default)]
pub(super) struct Load {
    outstanding: HashMap<String, usize>,
}

impl Load {
    /// Starts over from `counts`.
    pub(super) fn reset(&mut self, counts: HashMap<String, usize>) {
        self.outstanding = counts;
    }

    /// One more task on `tool`.
    pub(super) fn add(&mut self, tool: &str) {
        *self.outstanding.entry(tool.to_string()).or_default() += 1;
    }

    /// One fewer (moved away).
    pub(super) fn remove(&mut self, tool: &str) {
        if let Some(n) = self.outstanding.get_mut(tool) {
            *n = n.saturating_sub(1);
        }
    }

    fn of(&self, tool: &str) -> usize {
        self.outstanding.get(tool).copied().unwrap_or(0)
    }
}

/// Counters for `round_robin` turns and `metrics` exploration, per rule (and pool).
#[derive(Debug, Default)]
pub(super) struct Turns(HashMap<String, u64>);

impl Turns {
    fn next(&mut self, key: &str) -> u64 {
        let n = self.0.entry(key.to_string()).or_default();
        *n += 1;
        *n - 1
    }
}

/// What a strategy looks at.
pub(super) struct Inputs<'a> {
    pub config: &'a Config,
    pub load: &'a Load,
    pub metrics: &'a Metrics,
    pub turns: &'a mut Turns,
}

/// The chosen tool and every usable tool's score (for scoring strategies).
#[derive(Debug, Clone)]
pub(super) struct Pick {
    pub tool: String,
    pub scores: Vec<CandidateScore>,
}

/// Picks among `groups` (not empty, each with members) for a task of `kind`; `rule` keys
/// the rule's counters.
pub(super) fn pick(
    strategy: &RoutingStrategy,
    rule: &str,
    groups: &[Group],
    kind: &str,
    inputs: &mut Inputs<'_>,
) -> Pick {
    let first = |g: &Group| g.members[0].clone();
    match strategy {
        RoutingStrategy::RoundRobin => {
            let turn = inputs.turns.next(rule) as usize;
            let group = &groups[turn % groups.len()];
            let member = inputs.turns.next(&format!("{rule}/{}", group.name));
            Pick {
                tool: group.members[member as usize % group.members.len()].clone(),
                scores: Vec::new(),
            }
        }
        RoutingStrategy::LeastLoaded => best(groups, |tool| {
            let limit = limit(inputs.config, tool);
            let used = inputs.load.of(tool);
            let score = (limit as f64 - used as f64) / limit as f64;
            (score, format!("{used} of {limit} in use"))
        }),
        RoutingStrategy::Metrics => metrics(rule, groups, kind, inputs),
        RoutingStrategy::Fixed | RoutingStrategy::Other(_) => Pick {
            tool: first(&groups[0]),
            scores: Vec::new(),
        },
    }
}

/// A tool's parallel limit: its own, else the executor's.
fn limit(config: &Config, tool: &str) -> usize {
    config
        .tools
        .get(tool)
        .and_then(|t| t.max_parallel)
        .map_or_else(|| config.execution.parallelism(), |n| n.max(1) as usize)
}

fn metrics(rule: &str, groups: &[Group], kind: &str, inputs: &mut Inputs<'_>) -> Pick {
    let stats: Vec<(String, Stats)> = groups
        .iter()
        .flat_map(|g| &g.members)
        .map(|t| (t.clone(), inputs.metrics.stats(t, kind)))
        .collect();
    let fastest = stats.iter().filter_map(|(_, s)| s.median_ms).min();
    let score_of = |s: &Stats| {
        let speed = match (fastest, s.median_ms) {
            (Some(f), Some(m)) => (f as f64 + SPEED_SMOOTHING_MS) / (m as f64 + SPEED_SMOOTHING_MS),
            _ => 1.0,
        };
        s.success_rate() * speed
    };
    let mut pick = best(groups, |tool| {
        let s = stats
            .iter()
            .find(|(t, _)| t == tool)
            .map_or_else(|| inputs.metrics.stats(tool, kind), |(_, s)| *s);
        let median = s
            .median_ms
            .map_or("no median".to_string(), |m| format!("median {m} ms"));
        let detail = format!(
            "{} of {} recent attempts succeeded, {median}",
            s.succeeded, s.attempts
        );
        (score_of(&s), detail)
    });
    let explore = inputs.config.routing.metrics.explore;
    if stats.len() > 1 && explore > 0.0 {
        let every = (1.0 / explore).round().max(1.0) as u64;
        if (inputs.turns.next(rule) + 1).is_multiple_of(every) {
            // Another than the best: the least tried first, then the longest unseen; in
            // turn, so that one batch (no new attempts between its decisions) spreads
            // its explorations over all the others.
            let mut others: Vec<&(String, Stats)> =
                stats.iter().filter(|(t, _)| *t != pick.tool).collect();
            others.sort_by_key(|(_, s)| (s.attempts, s.last_seen));
            let turn = inputs.turns.next(&format!("{rule}/explore")) as usize;
            if let Some((tool, _)) = others.get(turn % others.len().max(1)) {
                pick.tool = tool.clone();
                if let Some(score) = pick.scores.iter_mut().find(|s| s.tool == *tool) {
                    score.detail.push_str("; chosen to explore");
                }
            }
        }
    }
    pick
}

/// The tool with the highest score (the first of equals), and every tool's score.
fn best(groups: &[Group], mut score: impl FnMut(&str) -> (f64, String)) -> Pick {
    let mut scores: Vec<CandidateScore> = Vec::new();
    for tool in groups.iter().flat_map(|g| &g.members) {
        let (value, detail) = score(tool);
        scores.push(CandidateScore {
            tool: tool.clone(),
            // Three decimals: enough to compare, and the file stays readable.
            score: (value * 1000.0).round() / 1000.0,
            detail,
        });
    }
    let mut chosen = 0;
    for (i, s) in scores.iter().enumerate() {
        if s.score > scores[chosen].score {
            chosen = i;
        }
    }
    Pick {
        tool: scores[chosen].tool.clone(),
        scores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&[&str]]) -> Vec<Group> {
        names
            .iter()
            .map(|m| Group {
                name: m[0].split('@').next().unwrap_or_default().to_string(),
                members: m.iter().map(|s| s.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn round_robin_takes_candidates_in_turn_and_a_pools_instances_in_turn() {
        let config = Config::default();
        let (load, metrics, mut turns) = (Load::default(), Metrics::new(5), Turns::default());
        let gs = groups(&[&["a"], &["p@1", "p@2"]]);
        let mut inputs = Inputs {
            config: &config,
            load: &load,
            metrics: &metrics,
            turns: &mut turns,
        };
        let picked: Vec<String> = (0..6)
            .map(|_| pick(&RoutingStrategy::RoundRobin, "r", &gs, "k", &mut inputs).tool)
            .collect();
        assert_eq!(picked, ["a", "p@1", "a", "p@2", "a", "p@1"]);
    }

    #[test]
    fn least_loaded_fills_free_capacity() {
        let mut config = Config::default();
        for (name, limit) in [("a", 1), ("b", 3)] {
            let tool = crate::config::ToolConfig {
                max_parallel: Some(limit),
                ..Default::default()
            };
            config.tools.insert(name.into(), tool);
        }
        let (mut load, metrics, mut turns) = (Load::default(), Metrics::new(5), Turns::default());
        let gs = groups(&[&["a"], &["b"]]);
        let mut picked = Vec::new();
        for _ in 0..4 {
            let mut inputs = Inputs {
                config: &config,
                load: &load,
                metrics: &metrics,
                turns: &mut turns,
            };
            let p = pick(&RoutingStrategy::LeastLoaded, "r", &gs, "k", &mut inputs);
            load.add(&p.tool);
            picked.push(p.tool);
        }
        assert_eq!(picked, ["a", "b", "b", "b"]);
    }

    #[test]
    fn metrics_prefers_what_works_and_explores_now_and_then() {
        let mut config = Config::default();
        config.routing.metrics.explore = 0.25;
        let (load, mut metrics, mut turns) = (Load::default(), Metrics::new(4), Turns::default());
        for _ in 0..4 {
            metrics.record("bad", "k", false, 10);
            metrics.record("good", "k", true, 300);
        }
        let gs = groups(&[&["bad"], &["good"]]);
        let mut inputs = Inputs {
            config: &config,
            load: &load,
            metrics: &metrics,
            turns: &mut turns,
        };
        let picks: Vec<Pick> = (0..4)
            .map(|_| pick(&RoutingStrategy::Metrics, "r", &gs, "k", &mut inputs))
            .collect();
        let tools: Vec<&str> = picks.iter().map(|p| p.tool.as_str()).collect();
        // Every fourth decision explores: the least recently seen ("bad" ended first).
        assert_eq!(tools, ["good", "good", "good", "bad"]);
        assert_eq!(picks[0].scores[1].tool, "good");
        assert!(picks[0].scores[1].score > picks[0].scores[0].score);
        assert!(picks[3].scores[0].detail.ends_with("chosen to explore"));
    }
}
