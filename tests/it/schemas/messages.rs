//! How violations are ordered and worded, and how the store reports them.

use std::path::Path;

use phase_coordinator::model::ExecutionResults;
use phase_coordinator::schema::SchemaName;
use phase_coordinator::store::parse_state_document;
use serde_json::json;

use super::samples::{self, to_json};

#[test]
fn a_misspelt_required_field_reports_the_typo_first() {
    let violations = SchemaName::Task
        .validate(&json!({"knd": "lint"}))
        .expect_err("invalid");
    assert_eq!(violations[0].pointer, "");
    assert_eq!(
        violations[0].message,
        "unknown field \"knd\" (did you mean \"kind\"?)"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.message == "missing required field \"kind\"")
    );
}

#[test]
fn the_deepest_violation_comes_first() {
    let mut doc = to_json(&samples::full_results());
    doc["surprise"] = json!(1);
    doc["results"][0]["attempts"][0]["duration_ms"] = json!(-5);
    let violations = SchemaName::ExecutionResults
        .validate(&doc)
        .expect_err("invalid");
    assert_eq!(violations[0].pointer, "/results/0/attempts/0/duration_ms");
    assert_eq!(violations.last().map(|v| v.pointer.as_str()), Some(""));
    assert_eq!(violations.len(), 2, "{violations:#?}");
}

#[test]
fn huge_values_are_shortened_in_messages() {
    let mut doc = to_json(&samples::full_patches());
    doc["patches"][0]["diff"] = json!(vec!["+ a line of a very long diff"; 10_000]);
    let violations = SchemaName::FixPatches.validate(&doc).expect_err("invalid");
    assert_eq!(violations[0].pointer, "/patches/0/diff");
    assert!(
        violations[0]
            .message
            .starts_with("expected string, got [\"+ a line"),
        "{}",
        violations[0].message
    );
    assert!(
        violations[0].message.len() < 200,
        "{}",
        violations[0].message
    );
}

#[test]
fn the_store_error_names_file_pointer_and_message() {
    let mut doc = to_json(&samples::full_results());
    doc["results"][0]["exit_code"] = json!("1");
    let bytes = serde_json::to_vec_pretty(&doc).expect("serialise");
    let path = Path::new("/state/execution_results.json");
    let err = parse_state_document::<ExecutionResults>(path, &bytes).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "/state/execution_results.json: /results/0/exit_code: expected integer or null, got \"1\""
    );
}

#[test]
fn a_whole_float_where_an_integer_belongs_is_named() {
    // JSON Schema counts 1.0 as an integer; serde does not, so validation must catch it.
    let mut doc = to_json(&samples::full_task());
    doc["max_retries"] = json!(1.0);
    let violations = SchemaName::Task.validate(&doc).expect_err("invalid");
    assert_eq!(violations[0].pointer, "/max_retries");
    assert_eq!(
        violations[0].message,
        "expected integer, got 1.0 (write it without a decimal point)"
    );
    // A float is fine where the schema says number.
    doc["max_retries"] = json!(1);
    doc["backoff"]["factor"] = json!(3.0);
    assert!(SchemaName::Task.validate(&doc).is_ok());
}
