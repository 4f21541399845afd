//! Checking `events.jsonl` line by line: JSON, the event schema, and `seq` increasing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::model::Event;
use crate::schema::SchemaName;
use crate::store::{parse_json_value, validate_value};
use crate::{Error, Result};

/// Past this many problems in one log, the rest are counted, not listed.
const MAX_LISTED: usize = 20;

/// Every problem in the log, at most [`MAX_LISTED`] of them listed; `Err` if unreadable.
pub(super) fn check_log(path: &Path) -> Result<Vec<Error>> {
    // Not opened when it is not a regular file: a named pipe would block the open.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "read", e))?;
    if !meta.is_file() {
        return Ok(vec![Error::invalid(
            path,
            "is not a regular file, not an event log",
        )]);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "read", e))?;
    let mut problems = Vec::new();
    let mut unlisted = 0usize;
    let mut last_seq: Option<u64> = None;
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::io(path, "read", e))?;
        let Err(problem) = check_line(path, index + 1, &line, &mut last_seq) else {
            continue;
        };
        if problems.len() < MAX_LISTED {
            problems.push(problem);
        } else {
            unlisted += 1;
        }
    }
    if unlisted > 0 {
        problems.push(Error::invalid(
            path,
            format!("{unlisted} more invalid lines not listed"),
        ));
    }
    Ok(problems)
}

fn check_line(path: &Path, n: usize, line: &[u8], last_seq: &mut Option<u64>) -> Result<()> {
    // `<file>:<line>` stands for the line in messages about its content.
    let at = PathBuf::from(format!("{}:{n}", path.display()));
    let value = parse_json_value(&at, line).map_err(|e| match e {
        Error::Syntax {
            column, message, ..
        } => Error::Syntax {
            path: path.to_path_buf(),
            line: n,
            column,
            message,
        },
        Error::Invalid { message, .. } if message == "file is empty" => {
            Error::invalid(&at, "empty line")
        }
        other => other,
    })?;
    validate_value(&at, &value, SchemaName::Event)?;
    let event: Event = serde_json::from_value(value).map_err(|e| Error::Schema {
        path: at.clone(),
        pointer: String::new(),
        message: e.to_string(),
    })?;
    if let Some(previous) = *last_seq
        && event.seq <= previous
    {
        return Err(Error::Schema {
            path: at,
            pointer: "/seq".to_string(),
            message: format!(
                "{} does not follow the previous line's seq {previous} (must increase)",
                event.seq
            ),
        });
    }
    *last_seq = Some(event.seq);
    Ok(())
}
