//! `.state/metrics.prom`: the state directory in the Prometheus text format (0.0.4), for
//! the node exporter's textfile collector or any scraper of files. Everything in it is
//! derived from the state files at the moment it is written, so any process can write it
//! and a restart changes nothing; counters drop only when `phase archive` moves records
//! away (a counter reset, which Prometheus handles).

use std::collections::BTreeMap;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::lifecycle::{LivePhases, Snapshot, TaskState};
use crate::model::{ExecutionResults, FixPatches, StateDoc, Status, ToolHealth};
use crate::store::{StateDir, read_view, write_atomic_unsynced};
use crate::{Error, Result};

/// The file's name in the state directory.
pub const METRICS_FILE: &str = "metrics.prom";

/// Upper bounds (seconds) of the attempt duration histogram's buckets.
const DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Renders the metrics of `state` from its files (and which phases run).
pub fn render(state: &StateDir, live: LivePhases) -> Result<String> {
    let snapshot = crate::status::snapshot(state, live)?;
    let results: ResultsView = read_view(&state.file(ExecutionResults::FILE))?;
    let patches: PatchesView = read_view(&state.file(FixPatches::FILE))?;
    // Another phase's file: when it is broken, its circuits are left out, not the rest.
    let health: HealthView = read_view(&state.file(ToolHealth::FILE)).unwrap_or_default();
    let mut registry = Registry::with_prefix("phase");
    register_tasks(&mut registry, &snapshot);
    register_attempts(&mut registry, &results);
    register_recovery(&mut registry, &patches);
    register_circuits(&mut registry, &health);
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)
        .map_err(|e| Error::Runtime(format!("cannot render the metrics: {e}")))?;
    Ok(text)
}

/// Renders and replaces `metrics.prom` atomically; returns the text written.
pub fn write(state: &StateDir, live: LivePhases) -> Result<String> {
    let text = render(state, live)?;
    write_atomic_unsynced(&state.file(METRICS_FILE), text.as_bytes())?;
    Ok(text)
}

fn register_tasks(registry: &mut Registry, snapshot: &Snapshot) {
    let tasks = Family::<Labels, Gauge>::default();
    for s in TaskState::ALL {
        tasks
            .get_or_create(&labels(&[("state", s.as_str())]))
            .set(0);
    }
    for (state, n) in &snapshot.counts {
        tasks
            .get_or_create(&labels(&[("state", state)]))
            .set(*n as i64);
    }
    registry.register(
        "tasks",
        "Tasks by state, as `phase status` derives them",
        tasks,
    );
    let depth = Gauge::<i64>::default();
    let ready = [
        TaskState::Queued,
        TaskState::Routed,
        TaskState::RetryScheduled,
    ];
    let waiting = ready
        .iter()
        .map(|s| snapshot.counts.get(s.as_str()).copied().unwrap_or(0))
        .sum::<usize>();
    depth.set(waiting as i64);
    registry.register(
        "queue_depth",
        "Tasks waiting to be routed or to start (queued, routed, retry_scheduled)",
        depth,
    );
}

fn register_attempts(registry: &mut Registry, results: &ResultsView) {
    let attempts = Family::<Labels, Counter>::default();
    let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
        Histogram::new(DURATION_BUCKETS)
    });
    let retries = Counter::<u64>::default();
    for entry in &results.results {
        retries.inc_by(entry.attempts.len().saturating_sub(1) as u64);
        for a in entry
            .attempts
            .iter()
            .filter(|a| a.status != Status::Running)
        {
            let tool = labels(&[("tool", &a.tool_id)]);
            let outcome = labels(&[("tool", &a.tool_id), ("outcome", a.status.as_str())]);
            attempts.get_or_create(&outcome).inc();
            durations
                .get_or_create(&tool)
                .observe(a.duration_ms as f64 / 1000.0);
        }
    }
    registry.register(
        "attempts",
        "Finished attempts by tool and outcome",
        attempts,
    );
    registry.register(
        "attempt_duration_seconds",
        "Wall time of finished attempts, by tool",
        durations,
    );
    registry.register(
        "retries",
        "Attempts after a task's first (retries, fixes' retries, reruns)",
        retries,
    );
}

fn register_recovery(registry: &mut Registry, patches: &PatchesView) {
    let fixes = Family::<Labels, Counter>::default();
    for r in &patches.retries {
        let outcome = if r.retry_recommended {
            "retry"
        } else {
            "gave_up"
        };
        fixes
            .get_or_create(&labels(&[("step", &r.ladder_step), ("outcome", outcome)]))
            .inc();
    }
    registry.register(
        "fixes",
        "Failed attempts recovery finished with, by the ladder step that decided and its outcome",
        fixes,
    );
    let changed = Family::<Labels, Counter>::default();
    for p in &patches.patches {
        let result = match (p.applied, p.validated, p.out_of_scope) {
            (_, _, true) => "out_of_scope",
            (true, true, false) => "validated",
            (true, false, false) => "applied",
            (false, _, false) => "not_applied",
        };
        let fixer = if p.fixer.is_empty() {
            "unknown"
        } else {
            &p.fixer
        };
        changed
            .get_or_create(&labels(&[("fixer", fixer), ("result", result)]))
            .inc();
    }
    registry.register(
        "patches",
        "Patches (one per changed file per fix step) by fixer and result",
        changed,
    );
    let gates = Family::<Labels, Counter>::default();
    for g in &patches.gates {
        let (result, step) = match (&g.passed, &g.failed_step) {
            (true, _) => ("passed", ""),
            (false, step) => ("failed", step.as_deref().unwrap_or("")),
        };
        gates
            .get_or_create(&labels(&[("result", result), ("failed_step", step)]))
            .inc();
    }
    registry.register(
        "gate_results",
        "Acceptance gate verdicts by result and the step that failed",
        gates,
    );
}

fn register_circuits(registry: &mut Registry, health: &HealthView) {
    let circuits = Family::<Labels, Gauge>::default();
    for (tool, t) in &health.tools {
        for state in ["closed", "open", "half_open"] {
            let on = i64::from(t.circuit == state);
            circuits
                .get_or_create(&labels(&[("tool", tool), ("state", state)]))
                .set(on);
        }
    }
    registry.register(
        "circuit",
        "Each tool's circuit breaker: 1 for the state it is in",
        circuits,
    );
}

/// The fields of `execution_results.json` the metrics need.
#[derive(Debug, Default, Deserialize)]
struct ResultsView {
    #[serde(default)]
    results: Vec<EntryView>,
}

#[derive(Debug, Deserialize)]
struct EntryView {
    #[serde(default)]
    attempts: Vec<AttemptView>,
}

#[derive(Debug, Deserialize)]
struct AttemptView {
    #[serde(default)]
    tool_id: String,
    status: Status,
    #[serde(default)]
    duration_ms: u64,
}

/// The fields of `fix_patches.json` the metrics need.
#[derive(Debug, Default, Deserialize)]
struct PatchesView {
    #[serde(default)]
    retries: Vec<RetryView>,
    #[serde(default)]
    patches: Vec<PatchView>,
    #[serde(default)]
    gates: Vec<GateView>,
}

#[derive(Debug, Deserialize)]
struct RetryView {
    #[serde(default)]
    ladder_step: String,
    retry_recommended: bool,
}

#[derive(Debug, Deserialize)]
struct PatchView {
    #[serde(default)]
    fixer: String,
    #[serde(default)]
    applied: bool,
    #[serde(default)]
    validated: bool,
    #[serde(default)]
    out_of_scope: bool,
}

#[derive(Debug, Deserialize)]
struct GateView {
    passed: bool,
    #[serde(default)]
    failed_step: Option<String>,
}

/// The fields of `tool_health.json` the metrics need.
#[derive(Debug, Default, Deserialize)]
struct HealthView {
    #[serde(default)]
    tools: BTreeMap<String, ToolView>,
}

#[derive(Debug, Deserialize)]
struct ToolView {
    #[serde(default)]
    circuit: String,
}
