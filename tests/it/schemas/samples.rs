//! Sample values of every model type, built in Rust: `full` ones with every optional
//! field set (so their JSON shows every field the type can write) and `minimal` ones with
//! only what the type requires. Documents are stamped, as the store does before a write.

use std::collections::BTreeMap;

use phase_coordinator::model::*;
use phase_coordinator::schema::SchemaName;
use serde_json::{Value, json};
use thin_vec::thin_vec;

/// The run id every sample document is stamped with.
pub(super) const RUN_ID: &str = "0198c0de-0000-7000-8000-000000000001";
/// A timestamp in the files' format.
pub(super) const TS: &str = "2026-01-02T03:04:05.678Z";

fn metadata() -> Metadata {
    let mut m = Metadata::new();
    m.insert("ticket".into(), json!("PROJ-42"));
    m.insert("labels".into(), json!(["ci", "python"]));
    m
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn stamped<T: StateDoc>(mut doc: T) -> T {
    doc.stamp(RUN_ID);
    doc
}

/// A task spec with every field set.
pub(super) fn full_task() -> TaskSpec {
    TaskSpec {
        id: Some("lint-src".into()),
        kind: "lint".into(),
        description: "Lint the Python sources".into(),
        command: strings(&["ruff", "check", "src"]),
        files: strings(&["src/app.py"]).into(),
        depends_on: strings(&["build", "gen.proto"]).into(),
        tool: Some("ruff".into()),
        priority: -3,
        timeout_seconds: Some(120),
        max_retries: Some(2),
        backoff: Some(Box::new(BackoffSpec {
            initial_ms: 500,
            factor: 1.5,
            max_ms: 10_000,
        })),
        workdir: Some("services/api".into()),
        env: BTreeMap::from([("RUFF_CACHE_DIR".to_string(), ".cache/ruff".to_string())]),
        verify: strings(&["pytest", "-q", "{files}"]).into(),
        verify_timeout_seconds: Some(300),
        review: Some("claude".into()),
        isolation: Some(Isolation::Worktree),
        metadata: metadata(),
        plan: Some(Box::new(PlanLink {
            path: "docs/release.md".into(),
            item: "build.3".into(),
            line: Some(12),
            fingerprint: format!("sha256:{}", "ab".repeat(32)),
        })),
    }
}

/// A task spec with only `kind`.
pub(super) fn minimal_task() -> TaskSpec {
    TaskSpec {
        kind: "shell".into(),
        ..TaskSpec::default()
    }
}

/// Routing decisions with every field set.
pub(super) fn full_routing() -> RoutingDecisions {
    stamped(RoutingDecisions {
        decisions: vec![RoutingDecision {
            task_id: "lint-src".into(),
            task_kind: "lint".into(),
            selected_tool: "ruff".into(),
            strategy: "fixed".into(),
            candidates: strings(&["aider", "ruff"]).into(),
            skipped: thin_vec![SkippedCandidate {
                tool: "aider".into(),
                reason: "binary not found on PATH".into(),
            }],
            reason: "task.tool".into(),
            decided_at: TS.into(),
            submission_seq: 7,
            metadata: metadata(),
            task: full_task(),
            scores: thin_vec![CandidateScore {
                tool: "ruff".into(),
                score: 0.75,
                detail: "3 of 4 recent attempts succeeded, median 120 ms".into(),
            }],
            fallbacks: thin_vec![Fallback {
                after_attempt: 1,
                from: "aider".into(),
                to: "ruff".into(),
                reason: "attempt 1 on aider failed: rate limited".into(),
                at: TS.into(),
            }],
            waiting: Some(Box::new(Waiting {
                reason: "no candidate may take it now (ruff: circuit open)".into(),
                until: Some(TS.into()),
            })),
            reviewed_attempt: Some(1),
            gate: Some(Box::new(Gate {
                verify: strings(&["pytest", "-q", "{files}"]),
                verify_timeout_seconds: Some(300),
                review: Some("claude".into()),
            })),
        }],
        ..Default::default()
    })
}

/// Routing decisions with one decision holding only what is required.
pub(super) fn minimal_routing() -> RoutingDecisions {
    stamped(RoutingDecisions {
        decisions: vec![RoutingDecision {
            task_id: "t1".into(),
            task_kind: "shell".into(),
            selected_tool: "shell".into(),
            strategy: "fixed".into(),
            task: TaskSpec {
                id: Some("t1".into()),
                ..minimal_task()
            },
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Adapter assignments with every field set.
pub(super) fn full_assignments() -> AdapterAssignments {
    let adapter = AdapterAssignment {
        tool_id: "shell".into(),
        command: strings(&["{command}"]),
        kinds: strings(&["shell", "build"]),
        max_parallel: Some(4),
        timeout_seconds: Some(600),
        healthy: false,
        health_note: Some("health check exited 127".into()),
        task_ids: strings(&["build", "test"]),
    };
    stamped(AdapterAssignments {
        adapters: BTreeMap::from([("shell".to_string(), adapter)]),
        ..Default::default()
    })
}

/// Adapter assignments with one adapter holding only what is required.
pub(super) fn minimal_assignments() -> AdapterAssignments {
    let adapter = AdapterAssignment {
        tool_id: "echo".into(),
        command: strings(&["echo", "{command}"]),
        ..Default::default()
    };
    stamped(AdapterAssignments {
        adapters: BTreeMap::from([("echo".to_string(), adapter)]),
        ..Default::default()
    })
}

fn full_attempt() -> Attempt {
    Attempt {
        attempt: 2,
        tool_id: "ruff".into(),
        status: Status::Failed,
        exit_code: Some(1),
        signal: Some(9),
        reason: Some("exit code 1".into()),
        argv: strings(&["ruff", "check", "src"]),
        started_at: TS.into(),
        finished_at: Some("2026-01-02T03:04:06.001Z".into()),
        duration_ms: 323,
        log_out: "logs/lint-src/2.out".into(),
        log_err: "logs/lint-src/2.err".into(),
        stderr_tail: "src/app.py:1:8: F401 `os` imported but unused\n".into(),
        files_modified: strings(&["src/app.py"]),
        log_error: Some("stdout: logs/lint-src/2.out: cannot write: No space left on device (os error 28); 512 of 4096 bytes not written".into()),
        patch_id: Some("lint-src-1-1".into()),
        executor: "build-host:4242".into(),
        usage: Some(Box::new(full_usage())),
        worktree: Some(Box::new(WorktreeRun {
            branch: "phase/lint-src/2".into(),
            base: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into(),
            path: "/p/.state/worktrees/lint-src/2".into(),
            repository: "/p".into(),
            head: Some("5c2b0c4e0a7d3d0e6b0c8f4b3f0f6a2b1c9d8e7f".into()),
            patch: Some("logs/lint-src/2.patch".into()),
            merge: MergeOutcome::Conflict,
            conflicts: strings(&["src/app.py"]),
        })),
        job_id: Some("4242".into()),
        slurm_state: Some("COMPLETED".into()),
    }
}

/// Tokens and cost with every field set.
fn full_usage() -> AgentUsage {
    AgentUsage {
        input_tokens: Some(1200),
        output_tokens: Some(340),
        cost_usd: Some(0.0123),
    }
}

/// Execution results with every field set.
pub(super) fn full_results() -> ExecutionResults {
    stamped(ExecutionResults {
        results: vec![TaskResult {
            task_id: "lint-src".into(),
            tool_id: "ruff".into(),
            attempt: 2,
            exit_code: Some(1),
            status: Status::Failed,
            duration_ms: 323,
            output_patch_id: Some("lint-src-1-1".into()),
            files_modified: strings(&["src/app.py"]),
            reason: Some("exit code 1".into()),
            started_at: TS.into(),
            finished_at: Some("2026-01-02T03:04:06.001Z".into()),
            retry_at: Some("2026-01-02T03:04:07.001Z".into()),
            budget_from_attempt: 2,
            handled_requests: strings(&["0198c0de-0000-7000-8000-0000000000aa"]),
            metadata: metadata(),
            attempts: vec![full_attempt()],
        }],
        ..Default::default()
    })
}

/// Execution results: a task that never ran, and a running attempt with only what is
/// required. `exit_code` and `output_patch_id` serialise as `null`.
pub(super) fn minimal_results() -> ExecutionResults {
    stamped(ExecutionResults {
        results: vec![
            TaskResult {
                task_id: "test".into(),
                status: Status::DepFailed,
                ..Default::default()
            },
            TaskResult {
                task_id: "build".into(),
                status: Status::Running,
                attempts: vec![Attempt {
                    attempt: 1,
                    tool_id: "shell".into(),
                    status: Status::Running,
                    started_at: TS.into(),
                    log_out: "logs/build/1.out".into(),
                    log_err: "logs/build/1.err".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        ..Default::default()
    })
}

/// Error analyses with every field set.
pub(super) fn full_analyses() -> ErrorAnalyses {
    stamped(ErrorAnalyses {
        analyses: vec![ErrorAnalysis {
            task_id: "lint-src".into(),
            attempt: 1,
            error_type: "lint".into(),
            classification: Classification::AgentFixable,
            plugins_run: strings(&["ruff"]),
            plugins_skipped: vec![SkippedDetector {
                detector: "pytest".into(),
                reason: "its command uses {files} and the task names no files".into(),
            }],
            issues: vec![Issue {
                detector: "ruff".into(),
                file: Some("src/app.py".into()),
                line: Some(1),
                column: Some(8),
                rule: Some("F401".into()),
                message: "`os` imported but unused".into(),
                fixable: true,
            }],
            recommended_action: Action::AgentFix,
            fix_agent: Some("aider".into()),
            ladder_step: "aider".into(),
            summary: "1 lint issue the agent may fix".into(),
            analyzed_at: TS.into(),
            metadata: metadata(),
            agent_steps: vec![AgentStep {
                tier: "aider".into(),
                duration_ms: 8123,
                usage: full_usage(),
            }],
        }],
        ..Default::default()
    })
}

/// Error analyses with one analysis holding only what is required (`fix_agent: null`).
pub(super) fn minimal_analyses() -> ErrorAnalyses {
    stamped(ErrorAnalyses {
        analyses: vec![ErrorAnalysis {
            task_id: "build".into(),
            attempt: 1,
            error_type: "timeout".into(),
            classification: Classification::Transient,
            issues: vec![Issue {
                detector: "attempt".into(),
                message: "timed out after 60 s".into(),
                ..Default::default()
            }],
            recommended_action: Action::Retry,
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Fix patches with every field set.
pub(super) fn full_patches() -> FixPatches {
    stamped(FixPatches {
        patches: vec![Patch {
            patch_id: "hand-fix-1".into(),
            task_id: "lint-src".into(),
            attempt: 1,
            fixer: "human".into(),
            file: "src/app.py".into(),
            diff: "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +0,0 @@\n-import os\n".into(),
            applied: false,
            validated: false,
            source: PatchSource::Human,
            created_at: TS.into(),
            error: Some("hunk 1 does not apply".into()),
            rejected: true,
            out_of_scope: true,
        }],
        retries: vec![RetryRecommendation {
            task_id: "lint-src".into(),
            attempt: 1,
            retry_recommended: true,
            ladder_step: "mechanical_fix".into(),
            patch_ids: strings(&["lint-src-1-1"]),
            reason: "ruff --fix removed the unused import".into(),
            decided_at: TS.into(),
        }],
        gates: vec![GateVerdict {
            task_id: "lint-src".into(),
            attempt: 2,
            passed: false,
            failed_step: Some(GateStep::Review),
            reason: "review by claude rejected it (exit code 1): no test covers it".into(),
            // A review-only gate: every field of a step is set.
            steps: vec![GateRun {
                step: GateStep::Review,
                tool: Some("claude".into()),
                argv: strings(&["claude", "-p", "Review attempt 2"]),
                passed: false,
                exit_code: Some(1),
                outcome: "exit code 1".into(),
                duration_ms: 12_000,
                log_out: "logs/lint-src/2.review.out".into(),
                log_err: "logs/lint-src/2.review.err".into(),
                output: "no test covers it".into(),
            }],
            decided_at: TS.into(),
        }],
        ..Default::default()
    })
}

/// Fix patches with one patch and one retry entry holding only what is required.
pub(super) fn minimal_patches() -> FixPatches {
    stamped(FixPatches {
        patches: vec![Patch {
            patch_id: "p1".into(),
            task_id: "t1".into(),
            file: "README.md".into(),
            diff: String::new(),
            ..Default::default()
        }],
        retries: vec![RetryRecommendation {
            task_id: "t1".into(),
            attempt: 1,
            retry_recommended: false,
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Control requests, one of each action (a request has no optional fields).
pub(super) fn full_control() -> Control {
    let request = |id: &str, action, task: &str| Request {
        request_id: id.into(),
        action,
        task_id: task.into(),
        requested_at: TS.into(),
    };
    stamped(Control {
        requests: vec![
            request(
                "0198c0de-0000-7000-8000-0000000000aa",
                RequestAction::Cancel,
                "build",
            ),
            request(
                "0198c0de-0000-7000-8000-0000000000ab",
                RequestAction::Retry,
                "build",
            ),
        ],
        ..Default::default()
    })
}

/// An event with every field set.
pub(super) fn full_event() -> Event {
    Event {
        ts: TS.into(),
        seq: 12,
        run_id: RUN_ID.into(),
        kind: EventType::TaskFailed,
        phase: "executor".into(),
        task_id: Some("lint-src".into()),
        attempt: Some(1),
        data: json!({"exit_code": 1, "duration_ms": 323}),
    }
}

/// An event with only what is required (`data` serialises as `null`).
pub(super) fn minimal_event() -> Event {
    Event {
        ts: TS.into(),
        seq: 1,
        run_id: RUN_ID.into(),
        kind: EventType::RunStarted,
        phase: "cli".into(),
        task_id: None,
        attempt: None,
        data: Value::Null,
    }
}

/// Tool health with every field set.
pub(super) fn full_tool_health() -> ToolHealth {
    let state = ToolState {
        circuit: Circuit::HalfOpen,
        consecutive_failures: 3,
        open_until: Some(TS.into()),
        opened: 2,
        probe: Some(ProbeTask {
            task_id: "lint-src".into(),
            after_attempt: 1,
            since: TS.into(),
        }),
        cooldown_until: Some(TS.into()),
        cooldown_reason: Some("rate limited (Retry-After: 2)".into()),
        last_failure: Some(ToolFailure {
            task_id: "build".into(),
            attempt: 2,
            kind: "transient".into(),
            reason: "transient error".into(),
            at: TS.into(),
        }),
        last_check: Some(HealthCheck {
            at: TS.into(),
            ok: false,
            note: Some("health check [\"true\"] failed: exit code 1".into()),
        }),
    };
    stamped(ToolHealth {
        results_through: TS.into(),
        tools: [("aider@key1".to_string(), state)].into_iter().collect(),
        ..Default::default()
    })
}

/// Tool health with one tool holding nothing but defaults.
pub(super) fn minimal_tool_health() -> ToolHealth {
    stamped(ToolHealth {
        tools: [("shell".to_string(), ToolState::default())]
            .into_iter()
            .collect(),
        ..Default::default()
    })
}

/// Empty documents, as a fresh state directory holds after the first write.
pub(super) fn empty_documents() -> Vec<(SchemaName, Value)> {
    fn doc<T: StateDoc>() -> (SchemaName, Value) {
        (T::SCHEMA, to_json(&stamped(T::default())))
    }
    vec![
        doc::<RoutingDecisions>(),
        doc::<AdapterAssignments>(),
        doc::<ExecutionResults>(),
        doc::<ErrorAnalyses>(),
        doc::<FixPatches>(),
        doc::<Control>(),
        doc::<ToolHealth>(),
    ]
}

/// Serialises a sample (samples always serialise).
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("model types serialise")
}

/// `plans.json` with every field set.
pub(super) fn full_plans() -> Plans {
    stamped(Plans {
        plans: vec![PlanRecord {
            name: "release".into(),
            path: "docs/release.md".into(),
            fingerprint: format!("sha256:{}", "01".repeat(32)),
            imported_at: "2026-01-02T03:04:05.678Z".into(),
            closed_at: Some("2026-01-03T03:04:05.678Z".into()),
            items: vec![PlanItemRecord {
                item: "build.3".into(),
                line: Some(12),
                title: "Unit tests".into(),
                task_id: "release.build.3".into(),
                fingerprint: format!("sha256:{}", "ab".repeat(32)),
                checked: true,
            }],
        }],
        ..Plans::default()
    })
}

/// `runs.json` with every field set.
pub(super) fn full_runs() -> Runs {
    stamped(Runs {
        runs: vec![RunRecord {
            run_id: RUN_ID.into(),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            ended_at: Some("2026-01-02T04:04:05.678Z".into()),
            archived_at: Some("2026-01-03T04:04:05.678Z".into()),
            archived: strings(&["lint-src", "broken.json"]),
            pruned_at: Some("2026-02-03T04:04:05.678Z".into()),
        }],
        ..Runs::default()
    })
}

/// `hooks.json` with every field set.
pub(super) fn full_hook_cursors() -> HookCursors {
    stamped(HookCursors {
        hooks: vec![HookCursor {
            hook: "notify".into(),
            delivered_seq: 42,
            updated_at: "2026-01-02T03:04:05.678Z".into(),
        }],
        ..HookCursors::default()
    })
}
