//! `phase validate`: every kind of file, problems one line each, summary, exit codes.

use crate::support::Project;
use phase_coordinator::model::{
    AdapterAssignments, Control, ErrorAnalyses, ExecutionResults, FixPatches, RoutingDecisions,
    StateDoc,
};

/// A valid state document of type `T`, as the engine writes it.
fn sample<T: StateDoc>() -> String {
    let mut doc = T::default();
    doc.stamp("run-1");
    serde_json::to_string_pretty(&doc).unwrap()
}

fn write_all_state_files(p: &Project) {
    p.write(
        ".state/routing_decisions.json",
        sample::<RoutingDecisions>(),
    );
    p.write(
        ".state/adapter_assignments.json",
        sample::<AdapterAssignments>(),
    );
    p.write(
        ".state/execution_results.json",
        sample::<ExecutionResults>(),
    );
    p.write(".state/error_analysis.json", sample::<ErrorAnalyses>());
    p.write(".state/fix_patches.json", sample::<FixPatches>());
    p.write(".state/control.json", sample::<Control>());
}

const EVENT: &str = r#"{"ts":"2026-01-02T03:04:05.678Z","seq":1,"run_id":"r","type":"TASK_SUBMITTED","phase":"cli","task_id":"a","data":{}}"#;

#[test]
fn a_complete_valid_state_directory_is_ok() {
    let p = Project::initialised();
    write_all_state_files(&p);
    p.write(
        ".state/events.jsonl",
        format!("{EVENT}\n{}\n", EVENT.replace("\"seq\":1", "\"seq\":2")),
    );
    p.write(
        ".state/inbox/a.json",
        r#"{"kind": "shell", "command": ["true"]}"#,
    );
    p.write(".state/tasks/b.json", r#"{"id": "b", "kind": "shell"}"#);
    // Hidden and temp files in the inbox are not task files yet.
    p.write(".state/inbox/.tmp-1-x", "half a fi");
    p.phase(&["validate"]).expect(0, "ok: 10 files valid\n", "");
}

#[test]
fn missing_state_directory_is_reported() {
    let p = Project::empty();
    p.phase(&["validate"]).expect(
        1,
        "invalid: 1 of 1 file\n",
        "error: .state: no state directory here (run `phase init`, or pass --state-dir)\n",
    );
}

#[test]
fn json_syntax_error_names_line_and_column() {
    let p = Project::initialised();
    p.write(
        ".state/execution_results.json",
        "{\n  \"schema_version\": 1,\n  \"results\": {,}\n}\n",
    );
    p.phase(&["validate"]).expect(
        1,
        "invalid: 1 of 2 files\n",
        "error: .state/execution_results.json:3:15: invalid JSON: key must be a string\n",
    );
}

#[test]
fn schema_error_names_the_pointer() {
    let p = Project::initialised();
    let doc = sample::<RoutingDecisions>()
        .replace("\"schema_version\": 1", "\"schema_version\": \"one\"");
    p.write(".state/routing_decisions.json", doc);
    p.phase(&["validate"]).expect(
        1,
        "invalid: 1 of 2 files\n",
        "error: .state/routing_decisions.json: /schema_version: expected integer, got \"one\"\n",
    );
}

#[test]
fn every_invalid_file_gets_its_own_line() {
    let p = Project::initialised();
    p.write(".state/control.json", "");
    p.write(".state/fix_patches.json", "[]");
    p.write(".state/inbox/x.json", r#"{"kind": "shell", "colour": 1}"#);
    p.write(".state/inbox/y.json", r#"{"kind": "shell"}"#);
    p.write("config/coordinator.toml", "[execution]\ntimeout = 5\n");
    p.phase(&["validate"]).expect(
        1,
        "invalid: 4 of 5 files\n",
        "error: config/coordinator.toml: execution.timeout: unknown key (expected one of: \
         max_parallel, timeout_seconds, max_retries, backoff, kill_grace_ms, shutdown_grace_ms)\n\
         error: .state/fix_patches.json: (document): expected object, got []\n\
         error: .state/control.json: file is empty\n\
         error: .state/inbox/x.json: (document): unknown field \"colour\" (expected one of: \
         id, kind, description, command, files, depends_on, tool, priority, timeout_seconds, \
         max_retries, backoff, workdir, env, verify, verify_timeout_seconds, review, isolation, \
         metadata, plan)\n",
    );
}

#[test]
fn event_log_problems_name_the_line() {
    let p = Project::initialised();
    let lines = [
        EVENT.to_string(),
        "{\"ts\": oops}".to_string(),
        EVENT
            .replace("TASK_SUBMITTED", "TASK_EXPLODED")
            .replace("\"seq\":1", "\"seq\":3"),
        EVENT.replace("\"seq\":1", "\"seq\":2"),
        String::new(),
        EVENT.replace("\"seq\":1", "\"seq\":4"),
    ];
    p.write(".state/events.jsonl", lines.join("\n") + "\n");
    let run = p.phase(&["validate"]);
    run.expect(
        1,
        "invalid: 1 of 2 files\n",
        "error: .state/events.jsonl:2:8: invalid JSON: expected value\n\
         error: .state/events.jsonl:3: /type: expected one of \"TASK_SUBMITTED\", \"TASK_ROUTED\", \
         \"ROUTING_COMPLETE\", \"TASK_REJECTED\", \"TASK_DUPLICATE_SKIPPED\", \"TASK_STARTED\", \
         \"TASK_SUCCEEDED\", \"TASK_FAILED\", \"TASK_VERIFYING\", \"GATE_PASSED\", \"GATE_FAILED\", \
         \"TASK_DEP_FAILED\", \"ERROR_ANALYZED\", \
         \"FIX_APPLIED\", \"FIX_FAILED\", \"TASK_RETRY_SCHEDULED\", \"TASK_QUARANTINED\", \
         \"TASK_ESCALATED\", \"SCOPE_ESCALATION\", \"TASK_CANCELED\", \"TASK_RETRY_REQUESTED\", \
         \"CIRCUIT_OPENED\", \"CIRCUIT_HALF_OPEN\", \"CIRCUIT_CLOSED\", \"STATE_FILE_INVALID\", \"STATE_FILE_RECOVERED\", \
         \"EVENT_LOG_REPAIRED\", \"EVENTS_LOST\", \
         \"RUN_STARTED\", \"RUN_COMPLETE\", \"TASK_DISCOVERED\", \"PLAN_CLOSED\", \"RUN_ARCHIVED\"; \
         got \"TASK_EXPLODED\"\n\
         error: .state/events.jsonl:5: empty line\n",
    );
}

#[test]
fn event_seq_must_increase() {
    let p = Project::initialised();
    let second = EVENT.replace("\"seq\":1", "\"seq\":5");
    p.write(".state/events.jsonl", format!("{second}\n{EVENT}\n"));
    p.phase(&["validate", ".state/events.jsonl"]).expect(
        1,
        "invalid: 1 of 1 file\n",
        "error: .state/events.jsonl:2: /seq: 1 does not follow the previous line's seq 5 \
         (must increase)\n",
    );
}

#[test]
fn explicit_paths_take_their_kind_from_the_name() {
    let p = Project::empty();
    p.write(
        "elsewhere/execution_results.json",
        sample::<ExecutionResults>(),
    );
    p.write(
        "elsewhere/control.json",
        r#"{"requests": [{"action": "explode"}]}"#,
    );
    p.write("my.toml", "[state]\npoll = \"yes\"\n");
    p.write("log.jsonl", format!("{EVENT}\n"));
    p.write("task.json", r#"{"kind": "shell"}"#);
    let run = p.phase(&[
        "validate",
        "elsewhere/execution_results.json",
        "elsewhere/control.json",
        "my.toml",
        "log.jsonl",
        "task.json",
        "absent.json",
    ]);
    run.expect(
        1,
        "invalid: 3 of 6 files\n",
        "error: elsewhere/control.json: /requests/0/action: expected one of \"cancel\", \
         \"retry\", \"rerun\"; got \"explode\"\n\
         error: my.toml: state.poll: expected boolean, got \"yes\"\n\
         error: absent.json: cannot read: No such file or directory (os error 2)\n",
    );
}

#[test]
fn explicit_state_file_must_exist() {
    let p = Project::empty();
    p.phase(&["validate", "routing_decisions.json"]).expect(
        1,
        "invalid: 1 of 1 file\n",
        "error: routing_decisions.json: cannot read: No such file or directory (os error 2)\n",
    );
}
