//! Broken documents: each must fail with a first violation that points at the field (or,
//! for a missing or unknown field, at its object) and whose message names the field.

use phase_coordinator::schema::SchemaName;
use serde_json::{Value, json};

use super::samples::{self, to_json};

/// How a valid sample is broken.
enum Edit {
    /// Replace the value at a pointer.
    Set(&'static str, Value),
    /// Remove the property at a pointer.
    Remove(&'static str),
    /// Add the property at a pointer (its parent must exist).
    Add(&'static str),
}

struct Case {
    schema: SchemaName,
    edit: Edit,
    /// The first violation's pointer.
    pointer: &'static str,
    /// Text the first violation's message must contain.
    message: &'static str,
}

fn case(schema: SchemaName, edit: Edit, pointer: &'static str, message: &'static str) -> Case {
    Case {
        schema,
        edit,
        pointer,
        message,
    }
}

fn valid_sample(schema: SchemaName) -> Value {
    match schema {
        SchemaName::Task => to_json(&samples::full_task()),
        SchemaName::RoutingDecisions => to_json(&samples::full_routing()),
        SchemaName::AdapterAssignments => to_json(&samples::full_assignments()),
        SchemaName::ExecutionResults => to_json(&samples::full_results()),
        SchemaName::ErrorAnalysis => to_json(&samples::full_analyses()),
        SchemaName::FixPatches => to_json(&samples::full_patches()),
        SchemaName::Control => to_json(&samples::full_control()),
        SchemaName::Event => to_json(&samples::full_event()),
        SchemaName::ToolHealth => to_json(&samples::full_tool_health()),
        SchemaName::Plans => to_json(&samples::full_plans()),
        SchemaName::Runs => to_json(&samples::full_runs()),
        SchemaName::Hooks => to_json(&samples::full_hook_cursors()),
        SchemaName::Config => unreachable!("the config schema is tested with the config"),
        SchemaName::AttemptOutcome => unreachable!("outcome records are tested with the runner"),
        SchemaName::FixesInProgress => unreachable!("no broken samples yet (OPERATOR_SCHEMAS)"),
    }
}

fn apply(doc: &mut Value, edit: &Edit) {
    let split = |p: &'static str| p.rsplit_once('/').expect("pointer to a property");
    match edit {
        Edit::Set(pointer, value) => {
            *doc.pointer_mut(pointer).expect("pointer exists") = value.clone();
        }
        Edit::Remove(pointer) => {
            let (parent, key) = split(pointer);
            let removed = doc
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .and_then(|o| o.remove(key));
            assert!(removed.is_some(), "{pointer}: nothing to remove");
        }
        Edit::Add(pointer) => {
            let (parent, key) = split(pointer);
            let object = doc
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("object");
            object.insert(key.to_string(), json!("surprise"));
        }
    }
}

fn cases() -> Vec<Case> {
    use Edit::*;
    use SchemaName::*;
    vec![
        // Task file.
        case(
            Task,
            Set("/priority", json!("high")),
            "/priority",
            "expected integer, got \"high\"",
        ),
        case(Task, Remove("/kind"), "", "missing required field \"kind\""),
        case(
            Task,
            Add("/comand"),
            "",
            "unknown field \"comand\" (did you mean \"command\"?)",
        ),
        case(
            Task,
            Set("/id", json!("../etc")),
            "/id",
            "\"../etc\" is not a valid task id",
        ),
        case(
            Task,
            Set("/kind", json!("")),
            "/kind",
            "shorter than 1 character",
        ),
        case(
            Task,
            Set("/command", json!([])),
            "/command",
            "[] has less than 1 item",
        ),
        case(
            Task,
            Set("/command", json!("make test")),
            "/command",
            "expected array, got \"make test\"",
        ),
        case(
            Task,
            Set("/depends_on", json!(["a", "b", "a"])),
            "/depends_on",
            "\"a\" is listed more than once",
        ),
        case(
            Task,
            Set("/depends_on/1", json!("a b")),
            "/depends_on/1",
            "not a valid task id",
        ),
        case(
            Task,
            Set("/timeout_seconds", json!(0)),
            "/timeout_seconds",
            "less than the minimum of 1",
        ),
        case(
            Task,
            Set("/max_retries", json!(-1)),
            "/max_retries",
            "less than the minimum of 0",
        ),
        case(
            Task,
            Set("/backoff/factor", json!("2")),
            "/backoff/factor",
            "expected number",
        ),
        case(
            Task,
            Remove("/backoff/max_ms"),
            "/backoff",
            "missing required field \"max_ms\"",
        ),
        case(
            Task,
            Set("/env/RUFF_CACHE_DIR", json!(1)),
            "/env/RUFF_CACHE_DIR",
            "expected string, got 1",
        ),
        case(
            Task,
            Set("/env", json!({"A=B": "x"})),
            "/env",
            "\"A=B\" is not a valid environment variable name",
        ),
        case(
            Task,
            Set("/metadata", json!([])),
            "/metadata",
            "expected object, got []",
        ),
        // routing_decisions.json.
        case(
            RoutingDecisions,
            Set("/decisions/0/task/kind", json!(5)),
            "/decisions/0/task/kind",
            "expected string, got 5",
        ),
        case(
            RoutingDecisions,
            Remove("/decisions/0/task/id"),
            "/decisions/0/task",
            "missing required field \"id\"",
        ),
        case(
            RoutingDecisions,
            Remove("/decisions/0/selected_tool"),
            "/decisions/0",
            "missing required field \"selected_tool\"",
        ),
        case(
            RoutingDecisions,
            Add("/decisions/0/tool"),
            "/decisions/0",
            "unknown field \"tool\" (expected one of: task_id, task_kind, selected_tool,",
        ),
        case(
            RoutingDecisions,
            Set("/schema_version", json!(2)),
            "/schema_version",
            "expected 1, got 2",
        ),
        case(
            RoutingDecisions,
            Set("/updated_at", json!("yesterday")),
            "/updated_at",
            "\"yesterday\" is not a timestamp like",
        ),
        case(
            RoutingDecisions,
            Set("/decisions/0/skipped/0/tool", Value::Null),
            "/decisions/0/skipped/0/tool",
            "expected string, got null",
        ),
        // adapter_assignments.json.
        case(
            AdapterAssignments,
            Set("/adapters/shell/max_parallel", json!(-1)),
            "/adapters/shell/max_parallel",
            "less than the minimum of 0",
        ),
        case(
            AdapterAssignments,
            Remove("/adapters/shell/command"),
            "/adapters/shell",
            "missing required field \"command\"",
        ),
        case(
            AdapterAssignments,
            Add("/adapters/shell/helthy"),
            "/adapters/shell",
            "unknown field \"helthy\" (did you mean \"healthy\"?)",
        ),
        case(
            AdapterAssignments,
            Set("/adapters/shell/task_ids/0", json!("a b")),
            "/adapters/shell/task_ids/0",
            "not a valid task id",
        ),
        case(
            AdapterAssignments,
            Set("/adapters/shell/healthy", json!("yes")),
            "/adapters/shell/healthy",
            "expected boolean",
        ),
        // tool_health.json.
        case(
            ToolHealth,
            Set("/tools/aider@key1/circuit", json!("ajar")),
            "/tools/aider@key1/circuit",
            "expected one of \"closed\", \"open\", \"half_open\"",
        ),
        case(
            ToolHealth,
            Set("/tools/aider@key1/consecutive_failures", json!(-1)),
            "/tools/aider@key1/consecutive_failures",
            "less than the minimum of 0",
        ),
        case(
            ToolHealth,
            Add("/tools/aider@key1/open_untill"),
            "/tools/aider@key1",
            "unknown field \"open_untill\" (did you mean \"open_until\"?)",
        ),
        case(
            ToolHealth,
            Remove("/tools/aider@key1/probe/task_id"),
            "/tools/aider@key1/probe",
            "missing required field \"task_id\"",
        ),
        case(
            ToolHealth,
            Set("/tools/aider@key1/open_until", json!("tomorrow")),
            "/tools/aider@key1/open_until",
            "is not a timestamp",
        ),
        // execution_results.json.
        case(
            ExecutionResults,
            Set("/results/0/exit_code", json!("1")),
            "/results/0/exit_code",
            "expected integer or null, got \"1\"",
        ),
        case(
            ExecutionResults,
            Set("/results/0/exit_code", json!(4294967296u64)),
            "/results/0/exit_code",
            "greater than the maximum of 2147483647",
        ),
        case(
            ExecutionResults,
            Set("/results/0/status", json!("done")),
            "/results/0/status",
            "expected one of \"running\", \"succeeded\"",
        ),
        case(
            ExecutionResults,
            Remove("/results/0/attempts/0/log_out"),
            "/results/0/attempts/0",
            "missing required field \"log_out\"",
        ),
        case(
            ExecutionResults,
            Add("/results/0/attempts/0/exitcode"),
            "/results/0/attempts/0",
            "unknown field \"exitcode\" (did you mean \"exit_code\"?)",
        ),
        case(
            ExecutionResults,
            Set("/results/0/finished_at", json!("2026-01-02T03:04:05Z")),
            "/results/0/finished_at",
            "is not a timestamp like",
        ),
        case(
            ExecutionResults,
            Set("/results/0/attempts/0/attempt", json!(0)),
            "/results/0/attempts/0/attempt",
            "less than the minimum of 1",
        ),
        case(
            ExecutionResults,
            Set("/results", json!({})),
            "/results",
            "expected array, got {}",
        ),
        // error_analysis.json.
        case(
            ErrorAnalysis,
            Set("/analyses/0/classification", json!("fixable")),
            "/analyses/0/classification",
            "expected one of \"transient\", \"auto_fixable\", \"agent_fixable\", \"needs_human\"; got \"fixable\"",
        ),
        case(
            ErrorAnalysis,
            Remove("/analyses/0/error_type"),
            "/analyses/0",
            "missing required field \"error_type\"",
        ),
        case(
            ErrorAnalysis,
            Add("/analyses/0/issues/0/severity"),
            "/analyses/0/issues/0",
            "unknown field \"severity\"",
        ),
        case(
            ErrorAnalysis,
            Set("/analyses/0/issues/0/line", json!("3")),
            "/analyses/0/issues/0/line",
            "expected integer, got \"3\"",
        ),
        case(
            ErrorAnalysis,
            Set("/analyses/0/fix_agent", json!(1)),
            "/analyses/0/fix_agent",
            "expected string or null, got 1",
        ),
        // fix_patches.json.
        case(
            FixPatches,
            Set("/patches/0/source", json!("robot")),
            "/patches/0/source",
            "expected one of \"engine\", \"human\"; got \"robot\"",
        ),
        case(
            FixPatches,
            Remove("/patches/0/diff"),
            "/patches/0",
            "missing required field \"diff\"",
        ),
        case(
            FixPatches,
            Set("/retries/0/retry_recommended", json!("yes")),
            "/retries/0/retry_recommended",
            "expected boolean, got \"yes\"",
        ),
        case(
            FixPatches,
            Add("/patches/0/applied_at"),
            "/patches/0",
            "unknown field \"applied_at\"",
        ),
        case(
            FixPatches,
            Set("/patches/0/task_id", json!("")),
            "/patches/0/task_id",
            "\"\" is not a valid task id",
        ),
        // control.json.
        case(
            Control,
            Set("/requests/1/action", json!("pause")),
            "/requests/1/action",
            "expected one of \"cancel\", \"retry\", \"rerun\"; got \"pause\"",
        ),
        case(
            Control,
            Remove("/requests/0/requested_at"),
            "/requests/0",
            "missing required field \"requested_at\"",
        ),
        case(
            Control,
            Set("/requests/0/task_id", json!("../x")),
            "/requests/0/task_id",
            "not a valid task id",
        ),
        case(
            Control,
            Add("/requests/0/reason"),
            "/requests/0",
            "unknown field \"reason\"",
        ),
        case(
            Control,
            Add("/request"),
            "",
            "unknown field \"request\" (did you mean \"requests\"?)",
        ),
        // One line of events.jsonl.
        case(
            Event,
            Set("/type", json!("TASK_EXPLODED")),
            "/type",
            "got \"TASK_EXPLODED\"",
        ),
        case(Event, Remove("/seq"), "", "missing required field \"seq\""),
        case(
            Event,
            Set("/seq", json!("1")),
            "/seq",
            "expected integer, got \"1\"",
        ),
        case(Event, Add("/level"), "", "unknown field \"level\""),
        case(
            Event,
            Set("/ts", json!("now")),
            "/ts",
            "\"now\" is not a timestamp like",
        ),
    ]
}

#[test]
fn broken_documents_name_the_field() {
    let mut kinds_per_schema = std::collections::BTreeMap::<&str, usize>::new();
    for (i, c) in cases().iter().enumerate() {
        let mut doc = valid_sample(c.schema);
        apply(&mut doc, &c.edit);
        let violations = c.schema.validate(&doc).err().unwrap_or_else(|| {
            panic!("case {i} ({}): the broken document passed", c.schema.name())
        });
        let first = &violations[0];
        assert_eq!(
            first.pointer,
            c.pointer,
            "case {i} ({}): {violations:#?}",
            c.schema.name()
        );
        assert!(
            first.message.contains(c.message),
            "case {i} ({}): {:?} does not contain {:?}",
            c.schema.name(),
            first.message,
            c.message
        );
        *kinds_per_schema.entry(c.schema.name()).or_default() += 1;
    }
    for schema in super::DOCUMENT_SCHEMAS {
        let n = kinds_per_schema
            .get(schema.name())
            .copied()
            .unwrap_or_default();
        assert!(n >= 4, "{}: only {n} broken samples", schema.name());
    }
}
