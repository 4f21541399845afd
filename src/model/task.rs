//! The task file (v1): what a person or a tool drops into `.state/inbox/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

use super::common::{compact_thin_vec, compact_vec};

use super::Metadata;

/// One task as written in a task file. Unknown top-level fields are an error (typo
/// safety); anything goes under `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Task id; defaults to the file's stem. `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What sort of work this is (`lint`, `test`, `shell`, …); routing matches on it.
    pub kind: String,
    /// Human description; also handed to agent tools.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The task's own argv (never a shell string); `{command}` in a tool template.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "compact_vec"
    )]
    pub command: Vec<String>,
    /// Files the task works on, relative to its workdir.
    #[serde(
        default,
        skip_serializing_if = "ThinVec::is_empty",
        deserialize_with = "compact_thin_vec"
    )]
    pub files: ThinVec<String>,
    /// Ids of tasks that must succeed before this one runs.
    #[serde(
        default,
        skip_serializing_if = "ThinVec::is_empty",
        deserialize_with = "compact_thin_vec"
    )]
    pub depends_on: ThinVec<String>,
    /// Explicit tool (a `[tools.<name>]` entry); overrides routing rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Higher runs first among runnable tasks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i64,
    /// Wall-clock limit for one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Retries after the first attempt (overrides `execution.max_retries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Back-off between attempts (overrides `execution.backoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: rare (see `RoutingDecision::gate`).
    pub backoff: Option<Box<BackoffSpec>>,
    /// Working directory relative to the project root; must stay inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Extra environment for the task's process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Acceptance gate: argv run in the workdir after an attempt exits 0; the attempt
    /// succeeds only if it exits 0 too (see [`super::Gate`]).
    #[serde(
        default,
        skip_serializing_if = "ThinVec::is_empty",
        deserialize_with = "compact_thin_vec"
    )]
    pub verify: ThinVec<String>,
    /// Wall-clock limit of `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timeout_seconds: Option<u64>,
    /// Acceptance gate: a `[tools.<name>]` entry that reviews the attempt's changes and
    /// approves by exiting 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// Where its attempts run: `worktree` (a git worktree of their own, merged back on
    /// success) or `none`; overrides the tool's `isolation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<super::Isolation>,
    /// Free-form; carried through to every state file.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// The plan item it was imported from (`phase plan import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: rare (see `RoutingDecision::gate`).
    pub plan: Option<Box<super::PlanLink>>,
}

/// Exponential back-off between attempts: `initial_ms × factor^(n-1)`, capped at `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffSpec {
    /// Wait before the first retry, in milliseconds.
    pub initial_ms: u64,
    /// Multiplier applied for each further retry.
    pub factor: f64,
    /// Upper bound of one wait, in milliseconds.
    pub max_ms: u64,
}

impl Default for BackoffSpec {
    fn default() -> Self {
        Self {
            initial_ms: 1000,
            factor: 2.0,
            max_ms: 60_000,
        }
    }
}

impl BackoffSpec {
    /// The wait before retry number `retry` (1 = the first retry).
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let exp = retry.saturating_sub(1).min(63) as i32;
        let ms = self.initial_ms as f64 * self.factor.max(1.0).powi(exp);
        if ms.is_finite() {
            (ms as u64).min(self.max_ms)
        } else {
            self.max_ms
        }
    }
}

/// What stands for an `env` value in every file but the task file (`routing_decisions.json`
/// and anything derived from it): the names are kept, the values — often secrets — are not.
pub const ENV_VALUE_REDACTED: &str = "<redacted>";

impl TaskSpec {
    /// The task's id; only meaningful once the router filled it in.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The spec with each `env` value replaced by [`ENV_VALUE_REDACTED`]: what a routing
    /// decision carries (the task file in `tasks/` keeps the values).
    pub fn redacted(&self) -> TaskSpec {
        let mut spec = self.clone();
        for value in spec.env.values_mut() {
            *value = ENV_VALUE_REDACTED.to_string();
        }
        spec
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = BackoffSpec::default();
        assert_eq!(b.delay_ms(1), 1000);
        assert_eq!(b.delay_ms(2), 2000);
        assert_eq!(b.delay_ms(3), 4000);
        assert_eq!(b.delay_ms(10), 60_000);
        assert_eq!(b.delay_ms(1000), 60_000);
    }
}
