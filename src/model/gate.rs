//! The acceptance gate (docs/RECOVERY.md "The acceptance gate"): what a task must pass
//! after its attempt exits 0 before it counts as succeeded — a `verify` argv and/or a
//! `review` by a configured tool — and recovery's verdict on one attempt's gate, kept in
//! `fix_patches.json` (`gates[]`).

use serde::{Deserialize, Serialize};

use super::TaskSpec;

/// A task's acceptance gate: its own `verify`/`review`, else its kind's routing rule's.
/// Carried in its routing decision (`gate`), which the executor and recovery read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// argv run in the task's workdir after an attempt exits 0 (the tools' placeholders
    /// expand); the gate fails unless it exits 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<String>,
    /// Wall-clock limit of `verify` (default `recovery.fix_timeout_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timeout_seconds: Option<u64>,
    /// A `[tools.<name>]` entry (an agent, a script) that reviews the attempt's changes
    /// after `verify` passed; it approves by exiting 0, its stdout gives the reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

impl Gate {
    /// Whether there is anything to pass.
    pub fn is_empty(&self) -> bool {
        self.verify.is_empty() && self.review.is_none()
    }

    /// The gate of `task`: each of its own fields, else the rule's (`rule`, the gate of
    /// the first routing rule matching its kind); `None` when neither names a step.
    pub fn of(task: &TaskSpec, rule: Option<&Gate>) -> Option<Gate> {
        let rule = rule.cloned().unwrap_or_default();
        let own_verify = !task.verify.is_empty();
        let gate = Gate {
            verify: if own_verify {
                task.verify.to_vec()
            } else {
                rule.verify
            },
            // A timeout goes with the argv it was written for.
            verify_timeout_seconds: if own_verify {
                task.verify_timeout_seconds
            } else {
                task.verify_timeout_seconds.or(rule.verify_timeout_seconds)
            },
            review: task.review.clone().or(rule.review),
        };
        (!gate.is_empty()).then_some(gate)
    }
}

/// The two steps of a gate, in the order they run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStep {
    /// The `verify` argv.
    #[default]
    Verify,
    /// The `review` tool.
    Review,
}

impl GateStep {
    /// The name in the files and in log file names (`<n>.verify.out`).
    pub fn as_str(self) -> &'static str {
        match self {
            GateStep::Verify => "verify",
            GateStep::Review => "review",
        }
    }

    /// The `error_type` (and reason prefix) of an attempt that failed at this step.
    pub fn failure_kind(self) -> &'static str {
        match self {
            GateStep::Verify => "gate_failed",
            GateStep::Review => "review_rejected",
        }
    }
}

/// How one step of a gate ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRun {
    /// `verify` or `review`.
    pub step: GateStep,
    /// The reviewing tool (for `review`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The argv that ran (empty when it could not be built).
    #[serde(default)]
    pub argv: Vec<String>,
    /// Exit code 0 (and not timed out).
    pub passed: bool,
    /// Exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How it ended, in words (`exit code 1`, `timed out after 60s`, `cannot start: …`).
    #[serde(default)]
    pub outcome: String,
    /// Wall time.
    #[serde(default)]
    pub duration_ms: u64,
    /// stdout log, relative to the state directory (`logs/<id>/<n>.<step>.out`).
    #[serde(default)]
    pub log_out: String,
    /// stderr log, relative to the state directory.
    #[serde(default)]
    pub log_err: String,
    /// The end of what it said (stdout, then stderr; at most a few KiB): a reviewer's
    /// reasons, a test runner's assertion.
    #[serde(default)]
    pub output: String,
}

/// Recovery's verdict on the gate of one attempt that exited 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateVerdict {
    /// The task.
    pub task_id: String,
    /// The attempt whose gate this is.
    pub attempt: u32,
    /// Every step passed: the attempt succeeded.
    pub passed: bool,
    /// The step that failed (the later steps did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<GateStep>,
    /// One line for people: `verify exited 1: …`, `review by claude rejected it: …`.
    #[serde(default)]
    pub reason: String,
    /// The steps that ran, in order.
    #[serde(default)]
    pub steps: Vec<GateRun>,
    /// When it was decided.
    #[serde(default)]
    pub decided_at: String,
}

impl GateVerdict {
    /// The reason the executor records for an attempt this verdict failed:
    /// `gate_failed: …` or `review_rejected: …`.
    pub fn failure_reason(&self) -> String {
        let kind = self.failed_step.unwrap_or(GateStep::Verify).failure_kind();
        format!("{kind}: {}", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(verify: &[&str], review: Option<&str>) -> TaskSpec {
        TaskSpec {
            verify: verify.iter().map(|s| s.to_string()).collect(),
            review: review.map(str::to_string),
            ..TaskSpec::default()
        }
    }

    #[test]
    fn the_task_wins_field_by_field_over_its_rule() {
        let rule = Gate {
            verify: vec!["make".into(), "check".into()],
            verify_timeout_seconds: Some(9),
            review: Some("claude".into()),
        };
        assert_eq!(Gate::of(&spec(&[], None), None), None);
        assert_eq!(Gate::of(&spec(&[], None), Some(&rule)), Some(rule.clone()));
        let own = Gate::of(&spec(&["pytest"], None), Some(&rule)).expect("gate");
        assert_eq!(own.verify, vec!["pytest".to_string()]);
        // The rule's timeout was meant for the rule's argv.
        assert_eq!(own.verify_timeout_seconds, None);
        assert_eq!(own.review.as_deref(), Some("claude"));
        let review = Gate::of(&spec(&[], Some("codex")), Some(&rule)).expect("gate");
        assert_eq!(review.review.as_deref(), Some("codex"));
        assert_eq!(review.verify, rule.verify);
    }

    #[test]
    fn a_failure_reason_names_the_step_kind() {
        let v = GateVerdict {
            failed_step: Some(GateStep::Review),
            reason: "review by r rejected it: no tests".into(),
            ..GateVerdict::default()
        };
        assert_eq!(
            v.failure_reason(),
            "review_rejected: review by r rejected it: no tests"
        );
    }
}
