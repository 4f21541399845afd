//! The published JSON Schemas (`schemas/`) against the serde model types, the fixtures
//! under `tests/fixtures/`, and the messages a broken document gets.

mod agreement;
mod fixture_tests;
mod fixtures;
mod invalid;
mod messages;
pub(crate) mod outputs;
mod samples;

use phase_coordinator::model::*;
use phase_coordinator::schema::SchemaName;
use samples::to_json;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The schemas this test file covers (the config schema has its own tests).
const DOCUMENT_SCHEMAS: [SchemaName; 9] = [
    SchemaName::Task,
    SchemaName::RoutingDecisions,
    SchemaName::AdapterAssignments,
    SchemaName::ExecutionResults,
    SchemaName::ErrorAnalysis,
    SchemaName::FixPatches,
    SchemaName::Control,
    SchemaName::Event,
    SchemaName::ToolHealth,
];

/// The operator's files (issue 12) and the record of fixes in progress (issue 9): fixtures
/// and the same form, but no broken samples yet.
const OPERATOR_SCHEMAS: [SchemaName; 4] = [
    SchemaName::Plans,
    SchemaName::Runs,
    SchemaName::Hooks,
    SchemaName::FixesInProgress,
];

fn schema_json(schema: SchemaName) -> Value {
    serde_json::from_str(schema.source()).expect("schema is JSON")
}

fn assert_valid(schema: SchemaName, label: &str, doc: &Value) {
    if let Err(violations) = schema.validate(doc) {
        panic!(
            "{label} breaks {}.schema.json: {violations:#?}\n{doc:#}",
            schema.name()
        );
    }
}

#[test]
fn samples_of_every_model_type_validate() {
    use samples::*;
    let cases = [
        (SchemaName::Task, "full task", to_json(&full_task())),
        (SchemaName::Task, "minimal task", to_json(&minimal_task())),
        (
            SchemaName::RoutingDecisions,
            "full",
            to_json(&full_routing()),
        ),
        (
            SchemaName::RoutingDecisions,
            "minimal",
            to_json(&minimal_routing()),
        ),
        (
            SchemaName::AdapterAssignments,
            "full",
            to_json(&full_assignments()),
        ),
        (
            SchemaName::AdapterAssignments,
            "minimal",
            to_json(&minimal_assignments()),
        ),
        (
            SchemaName::ExecutionResults,
            "full",
            to_json(&full_results()),
        ),
        (
            SchemaName::ExecutionResults,
            "minimal",
            to_json(&minimal_results()),
        ),
        (SchemaName::ErrorAnalysis, "full", to_json(&full_analyses())),
        (
            SchemaName::ErrorAnalysis,
            "minimal",
            to_json(&minimal_analyses()),
        ),
        (SchemaName::FixPatches, "full", to_json(&full_patches())),
        (
            SchemaName::FixPatches,
            "minimal",
            to_json(&minimal_patches()),
        ),
        (SchemaName::Control, "full", to_json(&full_control())),
        (SchemaName::ToolHealth, "full", to_json(&full_tool_health())),
        (
            SchemaName::ToolHealth,
            "minimal",
            to_json(&minimal_tool_health()),
        ),
        (SchemaName::Event, "full event", to_json(&full_event())),
        (
            SchemaName::Event,
            "minimal event",
            to_json(&minimal_event()),
        ),
    ];
    for (schema, label, doc) in &cases {
        assert_valid(*schema, label, doc);
    }
    for (schema, doc) in empty_documents() {
        assert_valid(schema, "empty stamped document", &doc);
    }
    // The nullable fields really are written as null, and the schema takes that.
    let minimal = to_json(&minimal_results());
    assert_eq!(minimal.pointer("/results/0/exit_code"), Some(&Value::Null));
    assert_eq!(
        minimal.pointer("/results/0/output_patch_id"),
        Some(&Value::Null)
    );
    assert_eq!(
        minimal.pointer("/results/1/attempts/0/exit_code"),
        Some(&Value::Null)
    );
    let minimal = to_json(&minimal_analyses());
    assert_eq!(minimal.pointer("/analyses/0/fix_agent"), Some(&Value::Null));
}

#[test]
fn schemas_and_serde_types_agree() {
    use samples::*;
    agreement::check::<TaskSpec>(SchemaName::Task, &to_json(&full_task()), &[]);
    agreement::check::<ToolHealth>(SchemaName::ToolHealth, &to_json(&full_tool_health()), &[]);
    // The router always fills in the task's id; a task file may leave it out.
    agreement::check::<RoutingDecisions>(
        SchemaName::RoutingDecisions,
        &to_json(&full_routing()),
        &["/decisions/0/task/id"],
    );
    agreement::check::<AdapterAssignments>(
        SchemaName::AdapterAssignments,
        &to_json(&full_assignments()),
        &[],
    );
    agreement::check::<ExecutionResults>(
        SchemaName::ExecutionResults,
        &to_json(&full_results()),
        &[],
    );
    agreement::check::<ErrorAnalyses>(SchemaName::ErrorAnalysis, &to_json(&full_analyses()), &[]);
    agreement::check::<FixPatches>(SchemaName::FixPatches, &to_json(&full_patches()), &[]);
    agreement::check::<Control>(SchemaName::Control, &to_json(&full_control()), &[]);
    agreement::check::<Event>(SchemaName::Event, &to_json(&full_event()), &[]);
    agreement::check::<Plans>(SchemaName::Plans, &to_json(&full_plans()), &[]);
    agreement::check::<Runs>(SchemaName::Runs, &to_json(&full_runs()), &[]);
    agreement::check::<HookCursors>(SchemaName::Hooks, &to_json(&full_hook_cursors()), &[]);
}

/// The schema's `enum` at `pointer`, as strings.
fn schema_enum(schema: SchemaName, pointer: &str) -> Vec<String> {
    let root = schema_json(schema);
    let list = root
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{}: no enum at {pointer}", schema.name()));
    list.iter()
        .map(|v| v.as_str().expect("string enum").to_string())
        .collect()
}

fn names<T: Serialize>(variants: &[T]) -> Vec<String> {
    variants
        .iter()
        .map(|v| to_json(v).as_str().expect("unit variant").to_string())
        .collect()
}

fn assert_enum<T: Serialize + DeserializeOwned>(schema: SchemaName, pointer: &str, variants: &[T]) {
    let in_schema = schema_enum(schema, pointer);
    assert_eq!(in_schema, names(variants), "{}: {pointer}", schema.name());
    for name in in_schema {
        serde_json::from_value::<T>(Value::String(name.clone()))
            .unwrap_or_else(|e| panic!("{pointer}: {name:?} does not deserialise: {e}"));
    }
}

#[test]
fn enums_match_the_model() {
    // Each match is exhaustive, so a new variant does not compile until it is listed here
    // (and then this test asks for it in the schema).
    let statuses = [
        Status::Running,
        Status::Succeeded,
        Status::Verifying,
        Status::Failed,
        Status::TimedOut,
        Status::Canceled,
        Status::Quarantined,
        Status::DepFailed,
    ];
    for s in statuses {
        match s {
            Status::Running | Status::Succeeded | Status::Verifying | Status::Failed => {}
            Status::TimedOut => {}
            Status::Canceled | Status::Quarantined | Status::DepFailed => {}
        }
        assert_eq!(to_json(&s), json!(s.as_str()));
    }
    assert_enum(
        SchemaName::ExecutionResults,
        "/$defs/status/enum",
        &statuses,
    );

    let classes = [
        Classification::Transient,
        Classification::AutoFixable,
        Classification::AgentFixable,
        Classification::NeedsHuman,
    ];
    for c in classes {
        match c {
            Classification::Transient | Classification::AutoFixable => {}
            Classification::AgentFixable | Classification::NeedsHuman => {}
        }
    }
    let analysis = "/$defs/analysis/properties";
    assert_enum(
        SchemaName::ErrorAnalysis,
        &format!("{analysis}/classification/enum"),
        &classes,
    );

    let actions = [
        Action::Retry,
        Action::MechanicalFix,
        Action::AgentFix,
        Action::Quarantine,
    ];
    for a in actions {
        match a {
            Action::Retry | Action::MechanicalFix | Action::AgentFix | Action::Quarantine => {}
        }
    }
    assert_enum(
        SchemaName::ErrorAnalysis,
        &format!("{analysis}/recommended_action/enum"),
        &actions,
    );

    let sources = [PatchSource::Engine, PatchSource::Human];
    for s in sources {
        match s {
            PatchSource::Engine | PatchSource::Human => {}
        }
    }
    assert_enum(
        SchemaName::FixPatches,
        "/$defs/patch/properties/source/enum",
        &sources,
    );

    let requests = [
        RequestAction::Cancel,
        RequestAction::Retry,
        RequestAction::Rerun,
    ];
    for r in requests {
        match r {
            RequestAction::Cancel | RequestAction::Retry | RequestAction::Rerun => {}
        }
    }
    assert_enum(
        SchemaName::Control,
        "/$defs/request/properties/action/enum",
        &requests,
    );

    assert_enum(
        SchemaName::Event,
        "/properties/type/enum",
        &all_event_types(),
    );

    let circuits = [Circuit::Closed, Circuit::Open, Circuit::HalfOpen];
    for c in circuits {
        match c {
            Circuit::Closed | Circuit::Open | Circuit::HalfOpen => {}
        }
        assert_eq!(to_json(&c), json!(c.as_str()));
    }
    assert_enum(
        SchemaName::ToolHealth,
        "/$defs/tool/properties/circuit/enum",
        &circuits,
    );
}

fn all_event_types() -> Vec<EventType> {
    use EventType::*;
    let all = vec![
        TaskSubmitted,
        TaskRouted,
        RoutingComplete,
        TaskRejected,
        TaskDuplicateSkipped,
        TaskStarted,
        TaskSucceeded,
        TaskFailed,
        TaskVerifying,
        GatePassed,
        GateFailed,
        TaskDepFailed,
        ErrorAnalyzed,
        FixApplied,
        FixFailed,
        TaskRetryScheduled,
        TaskQuarantined,
        TaskEscalated,
        ScopeEscalation,
        TaskCanceled,
        TaskRetryRequested,
        CircuitOpened,
        CircuitHalfOpen,
        CircuitClosed,
        StateFileInvalid,
        StateFileRecovered,
        EventLogRepaired,
        EventsLost,
        RunStarted,
        RunComplete,
        TaskDiscovered,
        PlanClosed,
        RunArchived,
    ];
    for t in &all {
        match t {
            TaskSubmitted | TaskRouted | RoutingComplete | TaskRejected | TaskDuplicateSkipped
            | TaskStarted | TaskSucceeded | TaskFailed | TaskVerifying | GatePassed
            | GateFailed | TaskDepFailed | ErrorAnalyzed | FixApplied | FixFailed
            | TaskRetryScheduled | TaskQuarantined | TaskEscalated | ScopeEscalation
            | TaskCanceled | TaskRetryRequested | CircuitOpened | CircuitHalfOpen
            | CircuitClosed | StateFileInvalid | StateFileRecovered | EventLogRepaired
            | EventsLost | RunStarted | RunComplete | TaskDiscovered | PlanClosed | RunArchived => {
            }
        }
    }
    all
}

#[test]
fn the_task_definition_is_the_same_in_both_schemas() {
    let task = schema_json(SchemaName::Task);
    let routing = schema_json(SchemaName::RoutingDecisions);
    assert_eq!(task.get("$ref"), Some(&json!("#/$defs/task")));
    assert_eq!(
        task.pointer("/$defs/task"),
        routing.pointer("/$defs/task"),
        "routing_decisions.schema.json's $defs/task must be a copy of task.schema.json's"
    );
}

#[test]
fn schemas_are_well_formed() {
    for schema in DOCUMENT_SCHEMAS.into_iter().chain(OPERATOR_SCHEMAS) {
        let root = schema_json(schema);
        let name = schema.name();
        if let Err(e) = jsonschema::meta::validate(&root) {
            panic!("{name}: not a valid JSON Schema: {e}");
        }
        assert_eq!(
            root["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            root["$id"],
            format!("https://phase-coordinator.dev/schemas/{name}.schema.json")
        );
        for key in ["title", "description"] {
            assert!(
                root[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: {key}"
            );
        }
        check_objects(name, &root, "");
    }
}

/// Every property has a description; every object is closed (`additionalProperties:
/// false`) unless it is a map (`additionalProperties` is a schema) or free-form metadata.
pub(super) fn check_objects(name: &str, node: &Value, at: &str) {
    let Some(object) = node.as_object() else {
        return;
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        assert_eq!(
            object.get("additionalProperties"),
            Some(&json!(false)),
            "{name}: {at} must say additionalProperties: false"
        );
        for (key, property) in properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}: {at}/properties/{key} has no description"
            );
        }
    } else if object.get("type") == Some(&json!("object")) {
        let is_map = object
            .get("additionalProperties")
            .is_some_and(Value::is_object);
        assert!(
            is_map || at.ends_with("/metadata"),
            "{name}: {at} is an open object; only metadata may be"
        );
    }
    for (key, child) in object {
        match child {
            Value::Object(_) => check_objects(name, child, &format!("{at}/{key}")),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_objects(name, item, &format!("{at}/{key}/{i}"));
                }
            }
            _ => {}
        }
    }
}
