//! The schemas of what verbs print with `--json` (`schemas/<verb>.schema.json`), and their
//! fixtures under `tests/fixtures/output-v1/`. The real binary's output is checked against
//! the same schemas in `tests/it/cli/json_outputs.rs`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{check_objects, fixtures};

/// Every `--json` output schema: the file stem in `schemas/`, the verb that prints it.
pub(crate) const OUTPUT_SCHEMAS: [(&str, &str); 6] = [
    ("status", "phase status --json"),
    ("show", "phase show --json"),
    ("wait", "phase wait --json"),
    ("validate", "phase validate --json"),
    ("plan_import", "phase plan import --json"),
    ("tools", "phase tools --json"),
];

/// `schemas/<name>.schema.json`.
pub(crate) fn schema_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{name}.schema.json"))
}

/// The output schema `name`, parsed.
pub(crate) fn output_schema(name: &str) -> Value {
    let path = schema_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Validates `doc` against the output schema `name`; panics listing every violation.
#[track_caller]
pub(crate) fn assert_output_valid(name: &str, label: &str, doc: &Value) {
    let schema = output_schema(name);
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{name}.schema.json does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path().as_str()))
        .collect();
    assert!(
        errors.is_empty(),
        "{label} breaks {name}.schema.json: {errors:#?}\n{doc:#}"
    );
}

#[test]
fn output_schemas_are_well_formed() {
    for (name, verb) in OUTPUT_SCHEMAS {
        let root = output_schema(name);
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
        assert_eq!(root["title"], json!(verb), "{name}: title names the verb");
        assert!(
            root["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}: description"
        );
        check_objects(name, &root, "");
    }
}

#[test]
fn every_output_fixture_validates_and_every_output_has_one() {
    let files = fixtures::output_files();
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert!(
            OUTPUT_SCHEMAS.iter().any(|(name, _)| *name == stem),
            "{}: no output schema is named {stem:?}",
            path.display()
        );
        let text = std::fs::read_to_string(path).expect("fixture is UTF-8");
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        assert_output_valid(stem, &path.display().to_string(), &doc);
    }
    for (name, _) in OUTPUT_SCHEMAS {
        let found = files
            .iter()
            .any(|p| p.file_stem().and_then(|s| s.to_str()) == Some(name));
        assert!(
            found,
            "no fixture for {name}.schema.json in tests/fixtures/output-v1/"
        );
    }
}

#[test]
fn output_schemas_reject_what_they_should() {
    // Broken copies of the fixtures: each must fail, so the schemas are not vacuous.
    let fixture = |name: &str| -> Value {
        let path = fixtures::dir()
            .join("output-v1")
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
    };
    let cases: Vec<(&str, &str, Value)> = vec![
        ("show", "/state", json!("sleeping")),
        ("show", "/attempts/0/status", json!("ok")),
        ("show", "/fixes/0/applied", json!("yes")),
        ("status", "/tasks/0/attempt", json!(-1)),
        ("status", "/counts/nonsense", json!(1)),
        ("wait", "/all_succeeded", json!(null)),
        ("validate", "/problems/0/line", json!("3")),
        ("plan_import", "/plans/0/items/0/verdict", json!("maybe")),
        ("tools", "/agent@key1/circuit", json!("ajar")),
    ];
    for (name, pointer, bad) in cases {
        let mut doc = fixture(name);
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let target = if parent.is_empty() {
            &mut doc
        } else {
            doc.pointer_mut(parent)
                .unwrap_or_else(|| panic!("{name}: fixture has no {parent}"))
        };
        target[key] = bad;
        let schema = output_schema(name);
        let validator = jsonschema::draft202012::new(&schema).expect("compiles");
        assert!(
            !validator.is_valid(&doc),
            "{name}.schema.json accepts a broken {pointer}"
        );
    }
}
