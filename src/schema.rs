//! JSON Schemas (draft 2020-12) embedded from `schemas/`, each compiled once.

mod violation;
mod whole_floats;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::Value;

/// The published schemas, one per file kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaName {
    /// A task file in `inbox/`.
    Task,
    /// `routing_decisions.json`.
    RoutingDecisions,
    /// `adapter_assignments.json`.
    AdapterAssignments,
    /// `execution_results.json`.
    ExecutionResults,
    /// `error_analysis.json`.
    ErrorAnalysis,
    /// `fix_patches.json`.
    FixPatches,
    /// `control.json`.
    Control,
    /// One line of `events.jsonl`.
    Event,
    /// `attempts/<task>/<attempt>.json`: an attempt's outcome, written by its runner.
    AttemptOutcome,
    /// `config/coordinator.toml`, as JSON.
    Config,
    /// `tool_health.json`.
    ToolHealth,
    /// `plans.json`: imported Markdown plans.
    Plans,
    /// `runs.json`: the ledger of runs.
    Runs,
    /// `fixes_in_progress.json`: the recovery fix steps running now.
    FixesInProgress,
    /// `hooks.json`: each hook's place in the event log.
    Hooks,
}

/// One way a document breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value (`""` is the whole document).
    pub pointer: String,
    /// What was expected.
    pub message: String,
}

impl SchemaName {
    /// Every schema, in the order `phase schema` lists them.
    pub const ALL: [SchemaName; 15] = [
        SchemaName::Task,
        SchemaName::RoutingDecisions,
        SchemaName::AdapterAssignments,
        SchemaName::ExecutionResults,
        SchemaName::ErrorAnalysis,
        SchemaName::FixPatches,
        SchemaName::Control,
        SchemaName::Event,
        SchemaName::AttemptOutcome,
        SchemaName::Config,
        SchemaName::ToolHealth,
        SchemaName::Plans,
        SchemaName::Runs,
        SchemaName::Hooks,
        SchemaName::FixesInProgress,
    ];

    /// The short name (`execution_results`), also the file stem in `schemas/`.
    pub fn name(self) -> &'static str {
        match self {
            SchemaName::Task => "task",
            SchemaName::RoutingDecisions => "routing_decisions",
            SchemaName::AdapterAssignments => "adapter_assignments",
            SchemaName::ExecutionResults => "execution_results",
            SchemaName::ErrorAnalysis => "error_analysis",
            SchemaName::FixPatches => "fix_patches",
            SchemaName::Control => "control",
            SchemaName::Event => "event",
            SchemaName::AttemptOutcome => "attempt_outcome",
            SchemaName::Config => "config",
            SchemaName::ToolHealth => "tool_health",
            SchemaName::Plans => "plans",
            SchemaName::Runs => "runs",
            SchemaName::Hooks => "hooks",
            SchemaName::FixesInProgress => "fixes_in_progress",
        }
    }

    /// Looks a schema up by its short name.
    pub fn from_name(name: &str) -> Option<SchemaName> {
        let name = name.trim_end_matches(".json").trim_end_matches(".schema");
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The schema's JSON text as published in `schemas/`.
    pub fn source(self) -> &'static str {
        match self {
            SchemaName::Task => include_str!("../schemas/task.schema.json"),
            SchemaName::RoutingDecisions => {
                include_str!("../schemas/routing_decisions.schema.json")
            }
            SchemaName::AdapterAssignments => {
                include_str!("../schemas/adapter_assignments.schema.json")
            }
            SchemaName::ExecutionResults => {
                include_str!("../schemas/execution_results.schema.json")
            }
            SchemaName::ErrorAnalysis => include_str!("../schemas/error_analysis.schema.json"),
            SchemaName::FixPatches => include_str!("../schemas/fix_patches.schema.json"),
            SchemaName::Control => include_str!("../schemas/control.schema.json"),
            SchemaName::Event => include_str!("../schemas/event.schema.json"),
            SchemaName::AttemptOutcome => include_str!("../schemas/attempt_outcome.schema.json"),
            SchemaName::Config => include_str!("../schemas/config.schema.json"),
            SchemaName::ToolHealth => include_str!("../schemas/tool_health.schema.json"),
            SchemaName::Plans => include_str!("../schemas/plans.schema.json"),
            SchemaName::Runs => include_str!("../schemas/runs.schema.json"),
            SchemaName::Hooks => include_str!("../schemas/hooks.schema.json"),
            SchemaName::FixesInProgress => {
                include_str!("../schemas/fixes_in_progress.schema.json")
            }
        }
    }

    /// The schema as a JSON value, parsed once.
    fn root(self) -> &'static Value {
        static CELLS: [OnceLock<Value>; SchemaName::ALL.len()] =
            [const { OnceLock::new() }; SchemaName::ALL.len()];
        CELLS[self.index()].get_or_init(|| {
            serde_json::from_str(self.source())
                .unwrap_or_else(|e| panic!("embedded schema {} is not JSON: {e}", self.name()))
        })
    }

    fn validator(self) -> &'static Validator {
        static CELLS: [OnceLock<Validator>; SchemaName::ALL.len()] =
            [const { OnceLock::new() }; SchemaName::ALL.len()];
        CELLS[self.index()].get_or_init(|| {
            jsonschema::draft202012::new(self.root())
                .unwrap_or_else(|e| panic!("embedded schema {} does not compile: {e}", self.name()))
        })
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or_default()
    }

    /// Validates `doc`; on failure returns every violation, most specific first: the
    /// deepest pointer first, and at the same depth an unknown field before a missing one
    /// (a misspelt required field reports as both; the unknown one says what was meant).
    ///
    /// Stricter than JSON Schema in one way: `1.0` where the schema says `integer` is a
    /// violation, because the serde types reject it.
    pub fn validate(self, doc: &Value) -> Result<(), Vec<Violation>> {
        rank_violations(self.validator(), self.root(), doc)
    }

    /// Validates one element of the document's array `field` (e.g. one entry of
    /// `results`) against that array's item schema; pointers are relative to the element.
    /// Lets a large document be validated one element at a time.
    pub fn validate_element(self, field: &str, element: &Value) -> Result<(), Vec<Violation>> {
        match element_schema(self, field) {
            Some((root, validator)) => rank_violations(validator, root, element),
            None => Err(vec![Violation {
                pointer: String::new(),
                message: format!("schema {} has no array field {field:?}", self.name()),
            }]),
        }
    }
}

/// The item schema of `schema`'s array property `field`, as a standalone schema that keeps
/// the `$defs` its references point into. Compiled once per (schema, field).
fn element_schema(schema: SchemaName, field: &str) -> Option<&'static (Value, Validator)> {
    type Cache = Mutex<HashMap<(SchemaName, String), &'static (Value, Validator)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(&(schema, field.to_string())) {
        return Some(found);
    }
    let full = schema.root();
    let items = full.pointer(&format!("/properties/{field}/items"))?;
    let mut root = serde_json::Map::new();
    root.insert(
        "$schema".into(),
        full.get("$schema").cloned().unwrap_or_default(),
    );
    let mut defs = full
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    defs.insert("__element".into(), items.clone());
    root.insert("$defs".into(), Value::Object(defs));
    root.insert("$ref".into(), "#/$defs/__element".into());
    let root = Value::Object(root);
    let validator = jsonschema::draft202012::new(&root).ok()?;
    let leaked: &'static (Value, Validator) = Box::leak(Box::new((root, validator)));
    cache.insert((schema, field.to_string()), leaked);
    Some(leaked)
}

/// Every violation of `doc`, most specific first, without duplicates.
fn rank_violations(validator: &Validator, root: &Value, doc: &Value) -> Result<(), Vec<Violation>> {
    let floats = whole_floats::check(root, doc);
    if floats.is_empty() && validator.is_valid(doc) {
        return Ok(());
    }
    let mut ranked: Vec<(usize, u8, Violation)> = validator
        .iter_errors(doc)
        .map(|e| {
            let pointer = e.instance_path().as_str().to_string();
            let (rank, message) = violation::describe(&e, root);
            (rank, Violation { pointer, message })
        })
        .chain(floats.into_iter().map(|v| (1, v)))
        .map(|(rank, v)| (v.pointer.matches('/').count(), rank, v))
        .collect();
    // Stable: ties keep the validator's order, which follows the schema's.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut seen = HashSet::new();
    let out: Vec<Violation> = ranked
        .into_iter()
        .map(|(_, _, v)| v)
        .filter(|v| seen.insert((v.pointer.clone(), v.message.clone())))
        .collect();
    Err(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles() {
        for s in SchemaName::ALL {
            // Validating anything forces compilation.
            let _ = s.validate(&Value::Null);
            assert_eq!(SchemaName::from_name(s.name()), Some(s));
        }
    }
}
