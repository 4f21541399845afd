//! The fixture files under `tests/fixtures/` and the schema each one follows.
//!
//! Naming rule (`.ci/run` applies the same one):
//! - `*.jsonl` holds events, one per line;
//! - a `*.json` file in a directory named `tasks` or `inbox` is a task file;
//! - any other `*.json` file is named after its schema: `execution_results.json`, …;
//! - files with other extensions (`README.md`) are not fixtures;
//! - a directory named `output-*` holds what verbs print with `--json` (`show.json` follows
//!   `schemas/show.schema.json`): those are not state files ([`output_files`]).

use std::path::{Path, PathBuf};

use phase_coordinator::schema::SchemaName;
use serde_json::Value;

/// One document read from a fixture file.
pub(super) struct Document {
    /// `path` or `path:line`, for messages.
    pub label: String,
    /// The schema it must follow.
    pub schema: SchemaName,
    /// Its content.
    pub value: Value,
}

/// The fixtures directory.
pub(super) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The schema a fixture file follows, or why it has none.
pub(super) fn schema_for(path: &Path) -> Result<SchemaName, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match ext {
        "jsonl" => Ok(SchemaName::Event),
        "json" if matches!(parent, "tasks" | "inbox") => Ok(SchemaName::Task),
        "json" => SchemaName::from_name(stem)
            .filter(|s| !matches!(s, SchemaName::Task | SchemaName::Config | SchemaName::Event))
            .ok_or_else(|| {
                format!(
                    "{}: no schema is named {stem:?}; name state-file fixtures after their \
                     schema, and put task files in a `tasks` or `inbox` directory",
                    path.display()
                )
            }),
        _ => Err(format!("{}: not a fixture", path.display())),
    }
}

/// Whether the file is a `--json` output document (under a directory named `output-*`).
fn is_output(path: &Path) -> bool {
    path.strip_prefix(dir())
        .unwrap_or(path)
        .components()
        .any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|n| n.starts_with("output-"))
        })
}

/// Every `--json` output fixture (`output-*/<verb>.json`), sorted.
pub(super) fn output_files() -> Vec<PathBuf> {
    all_files().into_iter().filter(|p| is_output(p)).collect()
}

/// Every `.json`/`.jsonl` state fixture file, sorted.
pub(super) fn files() -> Vec<PathBuf> {
    all_files().into_iter().filter(|p| !is_output(p)).collect()
}

fn all_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir())
        .into_iter()
        .map(|e| e.expect("fixtures directory is readable"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "jsonl")
            )
        })
        .collect();
    files.sort();
    files
}

/// Every document in every fixture file; panics naming the file if one has no schema or
/// is not JSON.
pub(super) fn documents() -> Vec<Document> {
    let mut out = Vec::new();
    for path in files() {
        let schema = schema_for(&path).unwrap_or_else(|e| panic!("{e}"));
        let shown = path
            .strip_prefix(dir())
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("fixture is UTF-8 text");
        if schema == SchemaName::Event {
            for (i, line) in text.lines().enumerate() {
                let label = format!("{shown}:{}", i + 1);
                let value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
                out.push(Document {
                    label,
                    schema,
                    value,
                });
            }
        } else {
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shown}: not JSON: {e}"));
            out.push(Document {
                label: shown,
                schema,
                value,
            });
        }
    }
    out
}
