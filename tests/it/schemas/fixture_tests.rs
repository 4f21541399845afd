//! (c) every fixture validates against its schema; (d) it round-trips through the model;
//! and it reads through the store, as a state directory left by an older build would.

use std::path::Path;

use phase_coordinator::model::*;
use phase_coordinator::schema::SchemaName;
use phase_coordinator::store::{
    FixesInProgress, StateFile, read_fixes_in_progress, read_task_file,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::samples::to_json;
use super::{DOCUMENT_SCHEMAS, OPERATOR_SCHEMAS, assert_valid, fixtures};

#[test]
fn every_fixture_validates_against_its_schema() {
    let documents = fixtures::documents();
    for d in &documents {
        assert_valid(d.schema, &d.label, &d.value);
    }
    // A fixture of every kind, so "old files still read" covers every kind.
    for schema in DOCUMENT_SCHEMAS.into_iter().chain(OPERATOR_SCHEMAS) {
        let count = documents.iter().filter(|d| d.schema == schema).count();
        assert!(count > 0, "no fixture for {}", schema.name());
    }
    let tasks = documents
        .iter()
        .filter(|d| d.schema == SchemaName::Task)
        .count();
    assert!(tasks >= 3, "only {tasks} task-file fixtures");
}

#[test]
fn fixture_names_map_to_schemas() {
    use std::path::Path;
    let cases = [
        (
            "x/state-v1/execution_results.json",
            Some(SchemaName::ExecutionResults),
        ),
        ("x/state-v1/events.jsonl", Some(SchemaName::Event)),
        ("x/state-v1/tasks/control.json", Some(SchemaName::Task)),
        ("x/inbox/build.json", Some(SchemaName::Task)),
        ("x/state-v1/notes.json", None),
        ("x/config.json", None),
        ("x/README.md", None),
    ];
    for (path, expected) in cases {
        assert_eq!(
            fixtures::schema_for(Path::new(path)).ok(),
            expected,
            "{path}"
        );
    }
}

/// Parses `value` as the model type of `schema` and serialises it again.
fn reserialise(schema: SchemaName, value: &Value) -> Result<Value, String> {
    fn via<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        Ok(to_json(&typed))
    }
    match schema {
        SchemaName::Task => via::<TaskSpec>(value),
        SchemaName::RoutingDecisions => via::<RoutingDecisions>(value),
        SchemaName::AdapterAssignments => via::<AdapterAssignments>(value),
        SchemaName::ExecutionResults => via::<ExecutionResults>(value),
        SchemaName::ErrorAnalysis => via::<ErrorAnalyses>(value),
        SchemaName::FixPatches => via::<FixPatches>(value),
        SchemaName::Control => via::<Control>(value),
        SchemaName::Event => via::<Event>(value),
        SchemaName::Config => Err("not a fixture schema".into()),
        SchemaName::AttemptOutcome => via::<AttemptOutcome>(value),
        SchemaName::ToolHealth => via::<ToolHealth>(value),
        SchemaName::Plans => via::<Plans>(value),
        SchemaName::Runs => via::<Runs>(value),
        SchemaName::Hooks => via::<HookCursors>(value),
        SchemaName::FixesInProgress => via::<FixesInProgress>(value),
    }
}

/// Whether everything in `old` is in `new` with the same value (numbers compared as
/// numbers: `2` and `2.0` are the same back-off factor).
fn contained(old: &Value, new: &Value, at: &str) -> Result<(), String> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => o.iter().try_for_each(|(k, v)| match n.get(k) {
            Some(nv) => contained(v, nv, &format!("{at}/{k}")),
            None => Err(format!("{at}/{k} was dropped")),
        }),
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => o
            .iter()
            .zip(n)
            .enumerate()
            .try_for_each(|(i, (ov, nv))| contained(ov, nv, &format!("{at}/{i}"))),
        (Value::Number(o), Value::Number(n)) if o.as_f64() == n.as_f64() => Ok(()),
        _ if old == new => Ok(()),
        _ => Err(format!("{at}: {old} became {new}")),
    }
}

#[test]
fn fixtures_round_trip_through_the_model() {
    for d in fixtures::documents() {
        let again = reserialise(d.schema, &d.value)
            .unwrap_or_else(|e| panic!("{}: the model cannot read it: {e}", d.label));
        assert_valid(d.schema, &format!("{} (re-serialised)", d.label), &again);
        if let Err(e) = contained(&d.value, &again, "") {
            panic!("{}: the round trip loses data: {e}", d.label);
        }
    }
}

fn read_through_store<T: StateDoc>(path: &Path) -> Result<(), String> {
    let lock = std::env::temp_dir().join("phase-fixture-unused.lock");
    StateFile::<T>::at(path.to_path_buf(), lock)
        .read()
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fixtures_read_through_the_store() {
    for path in fixtures::files() {
        let schema = fixtures::schema_for(&path).unwrap_or_else(|e| panic!("{e}"));
        let read = match schema {
            SchemaName::Task => read_task_file(&path)
                .map_err(|e| e.to_string())
                .map(|spec| {
                    // An accepted spec is stored under its own id.
                    let in_tasks =
                        path.parent().and_then(Path::file_name) == Some("tasks".as_ref());
                    let stem = path.file_stem().and_then(|s| s.to_str());
                    if in_tasks {
                        assert_eq!(spec.id.as_deref(), stem, "{}", path.display());
                    }
                }),
            SchemaName::RoutingDecisions => read_through_store::<RoutingDecisions>(&path),
            SchemaName::AdapterAssignments => read_through_store::<AdapterAssignments>(&path),
            SchemaName::ExecutionResults => read_through_store::<ExecutionResults>(&path),
            SchemaName::ErrorAnalysis => read_through_store::<ErrorAnalyses>(&path),
            SchemaName::FixPatches => read_through_store::<FixPatches>(&path),
            SchemaName::Control => read_through_store::<Control>(&path),
            SchemaName::ToolHealth => read_through_store::<ToolHealth>(&path),
            SchemaName::Plans => read_through_store::<Plans>(&path),
            SchemaName::Runs => read_through_store::<Runs>(&path),
            SchemaName::Hooks => read_through_store::<HookCursors>(&path),
            SchemaName::FixesInProgress => read_fixes_in_progress(&path)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            SchemaName::Event | SchemaName::Config | SchemaName::AttemptOutcome => Ok(()),
        };
        if let Err(e) = read {
            panic!("the store cannot read a fixture: {e}");
        }
    }
}

#[test]
fn fixture_event_logs_are_numbered_in_order() {
    let logs = fixtures::files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"));
    for path in logs {
        let text = std::fs::read_to_string(&path).expect("readable");
        let events: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event"))
            .collect();
        assert!(!events.is_empty(), "{}", path.display());
        for (i, pair) in events.windows(2).enumerate() {
            assert_eq!(pair[1].seq, pair[0].seq + 1, "{}:{}", path.display(), i + 2);
            assert!(pair[1].ts >= pair[0].ts, "{}:{}", path.display(), i + 2);
        }
        assert_eq!(events[0].seq, 1, "{}", path.display());
    }
}
