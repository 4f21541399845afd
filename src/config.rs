//! `config/coordinator.toml`: load, validate against `schemas/config.schema.json`, defaults.
//!
//! Every key has a default, so an empty file (or no file) works. An unknown key is an error
//! that names its dotted path (`tools.shell.comand`).

mod check;
mod gate;
mod hooks;
mod load;
pub mod presets;
mod resilience;
mod schema_error;
mod toml_json;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{BackoffSpec, LadderStep, RoutingStrategy};

pub use hooks::HookConfig;
pub use resilience::{
    CircuitConfig, INSTANCE_SEPARATOR, InstanceConfig, MetricsConfig, instance_tool,
    is_instance_tool,
};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How tasks are matched to tools.
    pub routing: RoutingConfig,
    /// The tools, by name; a pool's instances are tools too (`pool@instance`, made when
    /// the file is loaded, not written back).
    #[serde(serialize_with = "resilience::serialize_declared_tools")]
    pub tools: BTreeMap<String, ToolConfig>,
    /// Parallelism, timeouts, retries.
    pub execution: ExecutionConfig,
    /// The error engine.
    pub recovery: RecoveryConfig,
    /// Timings of the state directory machinery.
    pub state: StateConfig,
    /// The event log.
    pub events: EventsConfig,
    /// Programs run on events (`[[hooks]]`).
    pub hooks: Vec<HookConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let mut tools = BTreeMap::new();
        tools.insert("shell".to_string(), ToolConfig::default());
        Self {
            routing: RoutingConfig::default(),
            tools,
            execution: ExecutionConfig::default(),
            recovery: RecoveryConfig::default(),
            state: StateConfig::default(),
            events: EventsConfig::default(),
            hooks: Vec::new(),
        }
    }
}

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The tool for tasks no rule matches.
    pub default_tool: Option<String>,
    /// Rules in order; the first whose `kind` matches decides.
    pub rules: Vec<RoutingRule>,
    /// How long an inbox file must stay unchanged (and parse) before it is routed, for
    /// files written in place rather than published by rename.
    pub settle_ms: u64,
    /// Circuit breakers and rate-limit cool-downs.
    pub circuit: CircuitConfig,
    /// What the `metrics` strategy looks at.
    pub metrics: MetricsConfig,
    /// Health checks run this often (and after a circuit opens); 0: only when a task is
    /// routed to a tool whose last result is older than 30 s.
    pub health_check_interval_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            default_tool: Some("shell".to_string()),
            rules: Vec::new(),
            settle_ms: 100,
            circuit: CircuitConfig::default(),
            metrics: MetricsConfig::default(),
            health_check_interval_ms: 30_000,
        }
    }
}

/// `[[routing.rules]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The task kind this rule matches (`*` matches any).
    pub kind: String,
    /// Tools to consider, in order.
    pub candidates: Vec<String>,
    /// How to choose among usable candidates: `fixed` (the first), `round_robin`,
    /// `least_loaded`, `metrics`.
    #[serde(default)]
    pub strategy: RoutingStrategy,
    /// Acceptance gate for every task of this kind: argv run after an attempt exits 0
    /// (a task's own `verify` wins; see `config/gate.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<String>,
    /// Wall-clock limit of `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timeout_seconds: Option<u64>,
    /// Acceptance gate for every task of this kind: the reviewing tool (a task's own
    /// `review` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

/// `[tools.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolConfig {
    /// argv template; placeholders (`{command}`, `{description}`, `{files}`, `{task_id}`,
    /// `{attempt}`, `{workdir}`, `{prompt_file}`, `{prompt}`) expand to whole argv elements.
    pub command: Vec<String>,
    /// Task kinds the tool accepts; empty means any.
    pub kinds: Vec<String>,
    /// At most this many of its tasks at once.
    pub max_parallel: Option<u32>,
    /// Attempt timeout for its tasks (a task's own `timeout_seconds` wins).
    pub timeout_seconds: Option<u64>,
    /// argv run by the router; a non-zero exit (or a missing binary) marks it unhealthy.
    pub health_check: Option<Vec<String>>,
    /// Extra environment for its processes.
    pub env: BTreeMap<String, String>,
    /// The built-in preset it starts from (`aider`, `codex`, `claude`, `gemini`; see
    /// `presets.rs`): it fills the keys this table leaves out, when the file is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The model an agent preset asks for (else the CLI's own default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The API base URL an agent preset uses (else the CLI's own, or its env variable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding an agent preset's API key; it is handed to the
    /// CLI under the name the CLI reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// An attempt that exits 0 but changes none of the task's files failed: agents can
    /// exit 0 having done nothing (AGENT-CLIS.md). Agent presets set it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_changes: bool,
    /// Where its attempts run: `worktree` (a git worktree of their own on branch
    /// `phase/<task>/<attempt>`, merged back on success; `src/worktree.rs`) or `none`.
    /// A task's own `isolation` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::model::Isolation>,
    /// A pool: its instances by name, each run as tool `<name>@<instance>`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub instances: BTreeMap<String, InstanceConfig>,
    /// Where its attempts run: `local` (the default) or `slurm` (docs/SLURM.md).
    #[serde(skip_serializing_if = "ToolBackend::is_local")]
    pub backend: ToolBackend,
    /// `[tools.<name>.slurm]`: how its jobs are submitted when `backend = "slurm"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm: Option<crate::slurm::SlurmOptions>,
}

/// Where a tool's attempts run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolBackend {
    /// A local process under the executor's attempt runner.
    #[default]
    Local,
    /// A Slurm batch job (docs/SLURM.md).
    Slurm,
}

impl ToolBackend {
    /// Whether this is the default, `local`.
    pub fn is_local(&self) -> bool {
        *self == ToolBackend::Local
    }
}

impl Default for ToolConfig {
    fn default() -> Self {
        Self {
            command: vec!["{command}".to_string()],
            kinds: Vec::new(),
            max_parallel: None,
            timeout_seconds: None,
            health_check: None,
            env: BTreeMap::new(),
            preset: None,
            model: None,
            base_url: None,
            api_key_env: None,
            require_changes: false,
            isolation: None,
            instances: BTreeMap::new(),
            backend: ToolBackend::Local,
            slurm: None,
        }
    }
}

/// `[execution]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// Tasks running at once; default the number of CPUs.
    pub max_parallel: Option<u32>,
    /// Default attempt timeout.
    pub timeout_seconds: u64,
    /// Default retries after the first attempt.
    pub max_retries: u32,
    /// Default back-off between attempts.
    pub backoff: BackoffSpec,
    /// Between SIGTERM and SIGKILL when a task times out or is canceled.
    pub kill_grace_ms: u64,
    /// On shutdown, how long running tasks may finish before their groups are killed.
    pub shutdown_grace_ms: u64,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            max_parallel: None,
            timeout_seconds: 3600,
            max_retries: 3,
            backoff: BackoffSpec::default(),
            kill_grace_ms: 2000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl ExecutionConfig {
    /// `max_parallel`, or the number of CPUs.
    pub fn parallelism(&self) -> usize {
        self.max_parallel
            .map(|n| n.max(1) as usize)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    }
}

/// `[recovery]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Failed attempts (since the last `phase retry`) before the task is quarantined.
    pub max_failures: u32,
    /// Rungs after BASELINE, in order: `mechanical_fix`, then agent tiers (tool names).
    /// QUARANTINE follows the last.
    pub ladder: Vec<LadderStep>,
    /// Detectors by name.
    pub detectors: BTreeMap<String, DetectorConfig>,
    /// Output patterns (regex) that make a failure transient.
    pub transient_patterns: Vec<String>,
    /// Output patterns (regex) that make a failure need a person.
    pub needs_human_patterns: Vec<String>,
    /// Exit codes that make a failure need a person.
    pub non_retryable_exit_codes: Vec<i32>,
    /// Timeout for one fixer or agent run.
    pub fix_timeout_seconds: u64,
    /// A fix step (or a failed attempt) whose changes touch more files than this is not
    /// retried: it goes to a person (`SCOPE_ESCALATION`).
    pub max_files_changed: u32,
    /// A failure that is neither `needs_human` nor fixable is retried as is, with
    /// back-off, up to the budget; `false` quarantines it at once.
    pub retry_unfixable: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_failures: 3,
            ladder: vec![LadderStep::MechanicalFix],
            detectors: BTreeMap::new(),
            transient_patterns: vec![
                "(?i)connection reset".to_string(),
                "(?i)rate limit".to_string(),
                r"\b429\b".to_string(),
                "(?i)temporarily unavailable".to_string(),
            ],
            needs_human_patterns: vec!["(?i)permission denied".to_string()],
            non_retryable_exit_codes: vec![126, 127],
            fix_timeout_seconds: 600,
            max_files_changed: 5,
            retry_unfixable: true,
        }
    }
}

/// `[recovery.detectors.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// argv template run in the task's workdir (same placeholders as tools).
    pub command: Vec<String>,
    /// Output parser: `generic` (regex over lines) or `ruff_json`.
    #[serde(default = "default_parser")]
    pub parser: String,
    /// For `generic`: regex with named groups `file`, `line`, `col`, `rule`, `message`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// argv template that fixes what the detector finds.
    #[serde(default)]
    pub fixer: Option<Vec<String>>,
    /// Task kinds it applies to; empty means any.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Timeout for one run.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// What it looks at (default: `files` when its command uses `{files}`, else
    /// `workdir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<DetectorScope>,
}

/// What a detector looks at (docs/RECOVERY.md, "Scope").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorScope {
    /// The task's `files` (`{files}`): skipped for a task that names none.
    Files,
    /// The whole workdir: only issues in files the task touched, or that its output
    /// names, count.
    Workdir,
}

fn default_parser() -> String {
    "generic".to_string()
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// At most one write of a coalesced state file per this interval.
    pub flush_interval_ms: u64,
    /// Wake-ups within this window are coalesced into one reconcile.
    pub debounce_ms: u64,
    /// Reconcile at least this often even without events.
    pub poll_interval_ms: u64,
    /// Use the polling watcher (network file systems).
    pub poll: bool,
    /// Bounded wait for a state file's lock.
    pub lock_timeout_ms: u64,
    /// When a run ends with every one of its tasks succeeded, move its records to
    /// `archive/<run_id>/` (as `phase archive` does).
    pub archive_on_completion: bool,
    /// Remove archived runs older than this many days when archiving (0: keep them).
    pub retention_days: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            flush_interval_ms: 50,
            debounce_ms: 5,
            poll_interval_ms: 1000,
            poll: false,
            lock_timeout_ms: 10_000,
            archive_on_completion: false,
            retention_days: 0,
        }
    }
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Bytes of stderr kept in events and results.
    pub stderr_tail_bytes: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            stderr_tail_bytes: 2048,
        }
    }
}

impl Config {
    /// How many failed attempts (since the last `phase retry`) a task may have before the
    /// next failure is quarantined: `min(recovery.max_failures, 1 + max_retries)`.
    pub fn failure_budget(&self, task: &crate::model::TaskSpec) -> u32 {
        let retries = task.max_retries.unwrap_or(self.execution.max_retries);
        self.recovery
            .max_failures
            .min(retries.saturating_add(1))
            .max(1)
    }

    /// The back-off for `task`: its own, or `execution.backoff`.
    pub fn backoff(&self, task: &crate::model::TaskSpec) -> crate::model::BackoffSpec {
        task.backoff
            .as_deref()
            .copied()
            .unwrap_or(self.execution.backoff)
    }
}
