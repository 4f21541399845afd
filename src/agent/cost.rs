//! What the agents cost, summed: every agent step — a routed attempt of a preset tool
//! (its `usage` in `execution_results.json`) and every agent tier's run during recovery
//! (`agent_steps` in `error_analysis.json`) — with its wall time and the tokens and money
//! its CLI reported. `phase status` shows the run's total, escalation reports the task's.

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::model::{
    AgentStep, AgentUsage, ErrorAnalyses, ErrorAnalysis, ExecutionResults, StateDoc, TaskResult,
};
use crate::store::{StateDir, read_view};

/// The sum of some agent steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AgentTotals {
    /// How many agent steps ran (routed attempts and ladder-tier runs).
    pub steps: u64,
    /// Their wall time.
    pub duration_ms: u64,
    /// Tokens sent, over the steps whose CLI reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Tokens produced, over the steps whose CLI reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// US dollars, over the steps whose CLI reported a cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl AgentTotals {
    fn add(&mut self, duration_ms: u64, usage: &AgentUsage) {
        self.steps += 1;
        self.duration_ms += duration_ms;
        let mut sum = AgentUsage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: self.cost_usd,
        };
        super::usage::add(&mut sum, usage);
        self.input_tokens = sum.input_tokens;
        self.output_tokens = sum.output_tokens;
        self.cost_usd = sum.cost_usd;
    }

    /// Adds the agent steps of one task: its attempts and its analyses' tier runs.
    pub fn add_task<'a>(
        &mut self,
        result: Option<&TaskResult>,
        analyses: impl IntoIterator<Item = &'a ErrorAnalysis>,
    ) {
        for a in result.into_iter().flat_map(|r| &r.attempts) {
            if let Some(usage) = &a.usage {
                self.add(a.duration_ms, usage);
            }
        }
        for step in analyses.into_iter().flat_map(|a| &a.agent_steps) {
            self.add(step.duration_ms, &step.usage);
        }
    }

    /// One line for people, e.g. `3 agent steps, 41.2 s, 1234 tokens in, 567 out, $0.0123`
    /// (what no CLI reported is left out).
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} agent step{}, {:.1} s",
            self.steps,
            if self.steps == 1 { "" } else { "s" },
            self.duration_ms as f64 / 1000.0
        );
        if let Some(n) = self.input_tokens {
            s.push_str(&format!(", {n} tokens in"));
        }
        if let Some(n) = self.output_tokens {
            s.push_str(&format!(", {n} tokens out"));
        }
        if let Some(usd) = self.cost_usd {
            s.push_str(&format!(", ${usd:.4}"));
        }
        s
    }
}

/// Only what the sums need from `execution_results.json`.
#[derive(Debug, Default, Deserialize)]
struct ResultsView {
    #[serde(default)]
    results: Vec<ResultView>,
}

#[derive(Debug, Default, Deserialize)]
struct ResultView {
    #[serde(default)]
    attempts: Vec<AttemptView>,
}

#[derive(Debug, Default, Deserialize)]
struct AttemptView {
    #[serde(default)]
    duration_ms: u64,
    #[serde(default)]
    usage: Option<AgentUsage>,
}

/// Only what the sums need from `error_analysis.json`.
#[derive(Debug, Default, Deserialize)]
struct AnalysesView {
    #[serde(default)]
    analyses: Vec<AnalysisView>,
}

#[derive(Debug, Default, Deserialize)]
struct AnalysisView {
    #[serde(default)]
    agent_steps: Vec<AgentStep>,
}

/// Every agent step recorded in the state directory, summed.
pub fn totals(state: &StateDir) -> Result<AgentTotals> {
    let results: ResultsView = read_view(&state.file(ExecutionResults::FILE))?;
    let analyses: AnalysesView = read_view(&state.file(ErrorAnalyses::FILE))?;
    let mut t = AgentTotals::default();
    for a in results.results.iter().flat_map(|r| &r.attempts) {
        if let Some(usage) = &a.usage {
            t.add(a.duration_ms, usage);
        }
    }
    for step in analyses.analyses.iter().flat_map(|a| &a.agent_steps) {
        t.add(step.duration_ms, &step.usage);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attempt;

    #[test]
    fn attempts_and_tier_runs_add_up() {
        let usage = |i, o, c| AgentUsage {
            input_tokens: Some(i),
            output_tokens: Some(o),
            cost_usd: c,
        };
        let result = TaskResult {
            attempts: vec![
                Attempt {
                    duration_ms: 1000,
                    usage: Some(Box::new(usage(10, 5, Some(0.5)))),
                    ..Attempt::default()
                },
                // Not an agent's attempt: not counted.
                Attempt {
                    duration_ms: 99,
                    ..Attempt::default()
                },
            ],
            ..TaskResult::default()
        };
        let analysis = ErrorAnalysis {
            agent_steps: vec![AgentStep {
                tier: "codex".into(),
                duration_ms: 500,
                usage: usage(20, 7, None),
            }],
            ..ErrorAnalysis::default()
        };
        let mut t = AgentTotals::default();
        t.add_task(Some(&result), [&analysis]);
        assert_eq!((t.steps, t.duration_ms), (2, 1500));
        assert_eq!((t.input_tokens, t.output_tokens), (Some(30), Some(12)));
        assert_eq!(t.cost_usd, Some(0.5));
        assert_eq!(
            t.line(),
            "2 agent steps, 1.5 s, 30 tokens in, 12 tokens out, $0.5000"
        );
    }
}
