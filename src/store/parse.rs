//! Bytes → validated document, with errors that name file, line, column or JSON pointer.

mod lent;
mod lines;
mod memo;
mod strict;

pub use memo::{ReadMemo, memoize_reads};

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::StateDoc;
use crate::schema::SchemaName;
use crate::{Error, Result};

/// Parses JSON text, rejecting encodings a person might save by mistake with a clear
/// message. A UTF-8 byte-order mark is tolerated.
pub fn parse_json_value(path: &Path, bytes: &[u8]) -> Result<Value> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(Error::invalid(
            path,
            "file is UTF-16 encoded; save it as UTF-8",
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(path, "file is empty"));
    }
    if bytes.contains(&0) {
        return Err(Error::invalid(
            path,
            "file contains NUL bytes: binary data or UTF-16 text, not UTF-8 JSON",
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Error::invalid(
            path,
            format!("file is not valid UTF-8 (at byte {})", e.valid_up_to()),
        ));
    }
    let value = serde_json::from_slice(bytes).map_err(|e| Error::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: format!("invalid JSON: {e}")
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })?;
    // The parse above kept the last of two equal keys; which one a person meant is theirs
    // to say.
    if let Some((pointer, key)) = strict::first_duplicate_key(bytes) {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            pointer,
            message: format!(
                "duplicate key {key:?}: the object has it more than once (JSON readers \
                 disagree on which one counts; keep one)"
            ),
        });
    }
    Ok(value)
}

/// Like [`parse_json_document`], with one more check on the schema-valid value before it
/// becomes a `T`: strings that become arguments, paths or environment variables must not
/// hold a NUL character (the subtrees at `free_form`, e.g. `/metadata`, may).
pub(super) fn parse_json_document_without_nul<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    schema: SchemaName,
    free_form: &[&str],
) -> Result<T> {
    let value = parse_json_value(path, bytes)?;
    validate_value(path, &value, schema)?;
    if let Some(pointer) = strict::first_nul(&value, free_form) {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            pointer,
            message: "contains a NUL character (\\u0000), which no argument, path or \
                      environment variable can hold"
                .to_string(),
        });
    }
    serde_json::from_value(value).map_err(|e| Error::Schema {
        path: path.to_path_buf(),
        pointer: String::new(),
        message: e.to_string(),
    })
}

/// Parses and schema-validates JSON, then converts it to `T`.
pub fn parse_json_document<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    schema: SchemaName,
) -> Result<T> {
    let value = parse_json_value(path, bytes)?;
    validate_value(path, &value, schema)?;
    serde_json::from_value(value).map_err(|e| Error::Schema {
        path: path.to_path_buf(),
        pointer: String::new(),
        message: e.to_string(),
    })
}

/// Schema-validates a value; the error names the most specific violation.
pub fn validate_value(path: &Path, value: &Value, schema: SchemaName) -> Result<()> {
    schema.validate(value).map_err(|violations| {
        let first = &violations[0];
        Error::Schema {
            path: path.to_path_buf(),
            pointer: first.pointer.clone(),
            message: first.message.clone(),
        }
    })
}

/// Reads only the fields `V` declares from a JSON file, without the schema check: for
/// summaries (`phase status`) that must stay small next to the phases' own copies. A
/// missing file is `V::default()`; a syntax error names line and column.
pub fn read_view<V: DeserializeOwned + Default>(path: &Path) -> Result<V> {
    match open_view(path)? {
        Some((reader, _)) => parse_view(path, reader),
        None => Ok(V::default()),
    }
}

/// [`read_view`], reusing the last parse of an unchanged file while this thread has a
/// [`ReadMemo`] (see [`memoize_reads`]).
pub fn read_shared_view<V: DeserializeOwned + Default + Clone + 'static>(path: &Path) -> Result<V> {
    let Some((reader, seen)) = open_view(path)? else {
        return Ok(V::default());
    };
    if !memo::is_on() {
        return parse_view(path, reader);
    }
    if let Some(view) = memo::recall::<V>(path, seen) {
        return Ok(view);
    }
    let view = parse_view(path, reader)?;
    memo::keep(path, seen, &view);
    Ok(view)
}

/// The file open for reading past a byte-order mark, with the fingerprint of the version
/// opened; `None` if there is no file.
fn open_view(
    path: &Path,
) -> Result<Option<(std::io::BufReader<std::fs::File>, super::Fingerprint)>> {
    // Never through a planted link (issue 8).
    let file = match super::open_below(path, 1, super::Access::Read) {
        Ok(file) => file,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    // A directory or a named pipe in its place would fail or block the read below.
    let seen = match file.metadata() {
        Ok(meta) if !meta.is_file() => {
            return Err(Error::invalid(
                path,
                "is not a regular file, not a state file",
            ));
        }
        Ok(meta) => super::Fingerprint::of_metadata(&meta),
        Err(e) => return Err(Error::io(path, "stat", e)),
    };
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| Error::io(path, "read", e))?;
        if head.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
        }
    }
    Ok(Some((reader, seen)))
}

fn parse_view<V: DeserializeOwned>(
    path: &Path,
    mut reader: std::io::BufReader<std::fs::File>,
) -> Result<V> {
    match from_reader(&mut reader) {
        Ok(view) => Ok(view),
        // The full parse names the problem precisely (encoding, line and column).
        Err(e) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
            parse_json_value(path, &bytes)?;
            Err(Error::Schema {
                path: path.to_path_buf(),
                pointer: String::new(),
                message: e.to_string(),
            })
        }
    }
}

/// `serde_json::from_reader`, a line at a time when the document is in the outline layout
/// (1.5–3× faster: see [`lines`]). Otherwise, or if that fails, the document is
/// read again from where the reader stood, the usual way.
fn from_reader<T: DeserializeOwned>(
    reader: &mut std::io::BufReader<std::fs::File>,
) -> serde_json::Result<T> {
    use std::io::{Seek, SeekFrom};
    let start = reader.stream_position().map_err(serde_json::Error::io)?;
    if let Some(doc) = lines::from_outline(reader) {
        return Ok(doc);
    }
    reader
        .seek(SeekFrom::Start(start))
        .map_err(serde_json::Error::io)?;
    serde_json::from_reader(reader)
}

/// Parses a state document of kind `T` from an open file, streaming: the typed document
/// is built without holding the file's bytes. Only a document that does not fit its types
/// is read whole, for the precise error of [`parse_state_document`].
pub fn parse_state_reader<T: StateDoc>(path: &Path, file: std::fs::File) -> Result<T> {
    parse_state_reader_since(path, file, None)
}

/// [`parse_state_reader`] for a reader that keeps what it checked (see [`CheckedParts`]).
pub(super) fn parse_state_reader_since<T: StateDoc>(
    path: &Path,
    file: std::fs::File,
    checked: Option<&mut CheckedParts>,
) -> Result<T> {
    use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf().map_err(|e| Error::io(path, "read", e))?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    // serde also reads a struct from an array (`[]`): only objects take the fast path.
    let is_object = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object {
        if reader.buffer().starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
        }
        if let Ok(doc) = from_reader::<T>(&mut reader) {
            check_parts_since(path, &doc, checked)?;
            return Ok(doc);
        }
    }
    let mut file = reader.into_inner();
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, "read", e))?;
    parse_state_document(path, &bytes)
}

/// Parses a state document of kind `T`.
///
/// Large documents are parsed straight into their types and then schema-checked one
/// array element at a time, so memory stays near the size of the typed document; only a
/// document that does not fit its types takes the slower path through one JSON tree,
/// which yields the precise error (line and column, or JSON pointer).
pub fn parse_state_document<T: StateDoc>(path: &Path, bytes: &[u8]) -> Result<T> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde also reads a struct from an array (`[]`): only objects take the fast path.
    let is_object = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let Some(doc) = is_object
        .then(|| serde_json::from_slice::<T>(text).ok())
        .flatten()
    else {
        return parse_json_document(path, bytes, T::SCHEMA);
    };
    check_parts(path, &doc)?;
    Ok(doc)
}

/// Schema-checks a typed document one array element at a time.
fn check_parts<T: StateDoc>(path: &Path, doc: &T) -> Result<()> {
    check_parts_since(path, doc, None)
}

/// [`check_parts`], skipping the array elements whose fingerprints are in `checked` (the
/// ones a previous read of this file found valid), and leaving there the fingerprints of
/// this document's elements once every part is valid.
fn check_parts_since<T: StateDoc>(
    path: &Path,
    doc: &T,
    checked: Option<&mut CheckedParts>,
) -> Result<()> {
    let mut now_checked = CheckedParts::default();
    doc.visit_parts(&mut |part| {
        let (checked_now, prefix) = match part.at {
            Some((field, i)) => {
                if let Some(known) = checked.as_deref() {
                    let fingerprint = part.fingerprint();
                    now_checked.0.insert(fingerprint);
                    if known.0.contains(&fingerprint) {
                        return Ok(());
                    }
                }
                (
                    T::SCHEMA.validate_element(field, &part.value()),
                    format!("/{field}/{i}"),
                )
            }
            None => (T::SCHEMA.validate(&part.value()), String::new()),
        };
        checked_now.map_err(|violations| {
            let first = &violations[0];
            Error::Schema {
                path: path.to_path_buf(),
                pointer: format!("{prefix}{}", first.pointer),
                message: first.message.clone(),
            }
        })
    })?;
    if let Some(known) = checked {
        *known = now_checked;
    }
    Ok(())
}

/// The fingerprints of the array elements a reader found valid in its last read of a
/// file: an element that has not changed since is not checked against the schema again
/// (at 10,000 results, the check was two thirds of a read).
#[derive(Debug, Default)]
pub(super) struct CheckedParts(std::collections::HashSet<u64>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutionResults;

    fn results_with_second_id(id: &str) -> Vec<u8> {
        format!(
            r#"{{"schema_version": 1, "run_id": "r", "updated_at": "2026-01-01T00:00:00.000Z",
               "results": [
                 {{"task_id": "ok", "status": "succeeded"}},
                 {{"task_id": "{id}", "status": "succeeded"}}
               ]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn fast_path_checks_each_element_against_the_schema() {
        let path = Path::new("execution_results.json");
        let doc = parse_state_document::<ExecutionResults>(path, &results_with_second_id("b"))
            .expect("valid");
        assert_eq!(doc.results.len(), 2);
        // Types accept any string; only the schema knows the id pattern.
        let err = parse_state_document::<ExecutionResults>(path, &results_with_second_id("../x"))
            .expect_err("bad id");
        match err {
            Error::Schema { pointer, .. } => assert_eq!(pointer, "/results/1/task_id"),
            other => panic!("expected a schema error, got {other}"),
        }
    }

    #[test]
    fn an_array_is_not_a_document() {
        let err = parse_state_document::<ExecutionResults>(Path::new("x.json"), b"[]")
            .expect_err("array");
        assert!(matches!(err, Error::Schema { .. }), "{err}");
    }

    #[test]
    fn an_element_checked_before_is_skipped_and_a_changed_one_is_checked() {
        let path = Path::new("execution_results.json");
        let parse = |id: &str| {
            serde_json::from_slice::<ExecutionResults>(&results_with_second_id(id)).expect("types")
        };
        let mut checked = CheckedParts::default();
        check_parts_since(path, &parse("b"), Some(&mut checked)).expect("valid");
        assert_eq!(checked.0.len(), 2, "both elements remembered");

        // A changed element is checked: the bad id is found, and what was remembered
        // stays as it was.
        let err = check_parts_since(path, &parse("../x"), Some(&mut checked)).expect_err("bad");
        assert!(
            matches!(err, Error::Schema { ref pointer, .. } if pointer == "/results/1/task_id"),
            "{err}"
        );
        assert_eq!(checked.0.len(), 2);

        // What is remembered is not checked again. (Only a valid element can get there;
        // planting the bad one's fingerprint shows the check is really skipped.)
        let bad = parse("../x");
        let planted = crate::model::part_fingerprint("results", &bad.results[1]);
        checked.0.insert(planted);
        check_parts_since(path, &bad, Some(&mut checked)).expect("skipped");
        assert_eq!(checked.0.len(), 2, "only this document's elements are kept");
    }
}
