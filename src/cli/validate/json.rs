//! `phase validate --json`: the result as one document (schemas/validate.schema.json).

use serde::Serialize;
use serde_json::json;

use crate::Error;
use crate::cli::Failure;

/// One problem: the file it is in, where in it, and the whole message.
#[derive(Debug, Serialize)]
pub(super) struct Problem {
    file: Option<String>,
    pointer: Option<String>,
    line: Option<usize>,
    message: String,
}

impl Problem {
    /// The problem an error describes.
    pub(super) fn of(error: &Error) -> Problem {
        let inner = match error {
            Error::Input(inner) => inner.as_ref(),
            other => other,
        };
        let (file, pointer, line) = match inner {
            Error::Io { path, .. }
            | Error::Invalid { path, .. }
            | Error::LockTimeout { path, .. }
            | Error::Config { path, .. } => (Some(path), None, None),
            Error::Syntax { path, line, .. } => (Some(path), None, Some(*line)),
            Error::Schema { path, pointer, .. } => (Some(path), Some(pointer.clone()), None),
            _ => (None, None, None),
        };
        Problem {
            file: file.map(|p| p.display().to_string()),
            pointer,
            line,
            message: error.to_string(),
        }
    }
}

/// The document: counts and every problem.
pub(super) fn render(
    files: usize,
    invalid: usize,
    problems: &[Problem],
) -> Result<String, Failure> {
    let doc = json!({
        "valid": invalid == 0,
        "files": files,
        "invalid": invalid,
        "problems": problems,
    });
    serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::from(Error::Usage(format!("cannot render JSON: {e}"))))
}
