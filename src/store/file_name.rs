//! Odd task-file names. A task file's name becomes a task id, a note's name in
//! `rejected/`, a line of `phase status` and a field of an event, so it must be text that
//! can be shown and short enough for all of those: valid UTF-8, no control characters, at
//! most [`MAX_TASK_FILE_NAME_BYTES`]. A file whose name is not is rejected for that reason,
//! and in `rejected/` it gets a name that can be shown ([`rejected_name`]).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{Error, Result};

/// The longest task-file name taken, in bytes: room for `rejected/`'s `.N` and
/// `.error.json` suffixes within the file system's 255 (an id is at most 128).
pub const MAX_TASK_FILE_NAME_BYTES: usize = 200;

/// The file name's stem (the default task id), or an error naming what is wrong with the
/// name.
pub(super) fn task_file_stem(path: &Path) -> Result<&str> {
    let Some(name) = path.file_name() else {
        return Err(Error::invalid(path, "names no file"));
    };
    let Some(text) = name.to_str() else {
        return Err(Error::invalid(
            path,
            format!(
                "the file name is not valid UTF-8 ({}); rename the file (task files are \
                 named <id>.json)",
                escaped(name)
            ),
        ));
    };
    if text.len() > MAX_TASK_FILE_NAME_BYTES {
        return Err(Error::invalid(
            path,
            format!(
                "the file name is {} bytes long, more than the {MAX_TASK_FILE_NAME_BYTES} \
                 allowed; rename the file (task files are named <id>.json, an id has at \
                 most 128 characters)",
                text.len()
            ),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(
            path,
            format!(
                "the file name {text:?} contains control characters; rename the file \
                 (task files are named <id>.json)"
            ),
        ));
    }
    let stem = path.file_stem().and_then(OsStr::to_str).unwrap_or_default();
    Ok(stem)
}

/// The name a rejected file gets in `rejected/`: its own when it is a name that can be
/// shown, else a stand-in with every byte that is not printable UTF-8 as `_`, cut to
/// [`MAX_TASK_FILE_NAME_BYTES`], still ending in `.json` (the note keeps the original).
pub(super) fn rejected_name(name: &OsStr) -> OsString {
    let bytes = name.as_bytes();
    let fits = bytes.len() <= MAX_TASK_FILE_NAME_BYTES;
    if let Some(text) = name.to_str()
        && fits
        && !text.chars().any(char::is_control)
    {
        return name.to_os_string();
    }
    let shown: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c == char::REPLACEMENT_CHARACTER || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let stem = shown.strip_suffix(".json").unwrap_or(&shown);
    let mut cut = MAX_TASK_FILE_NAME_BYTES - ".json".len();
    while cut < stem.len() && !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = &stem[..cut.min(stem.len())];
    OsString::from(format!("{stem}.json"))
}

/// A name for messages: printable ASCII as is, every other byte as `\xNN`.
pub(super) fn escaped(name: &OsStr) -> String {
    name.as_bytes()
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                (*b as char).to_string()
            } else {
                format!("\\x{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_shown_are_refused_with_the_reason() {
        let bad = OsStr::from_bytes(b"b\xFF.json");
        let err = task_file_stem(Path::new(bad)).expect_err("not UTF-8");
        assert!(
            err.to_string().contains("not valid UTF-8 (b\\xFF.json)"),
            "{err}"
        );
        let long = format!("{}.json", "a".repeat(250));
        let err = task_file_stem(Path::new(&long)).expect_err("too long");
        assert!(err.to_string().contains("255 bytes long"), "{err}");
        let err = task_file_stem(Path::new("a\nb.json")).expect_err("control");
        assert!(err.to_string().contains("control characters"), "{err}");
        assert_eq!(
            task_file_stem(Path::new("dir/ok-1.json")).expect("ok"),
            "ok-1"
        );
    }

    #[test]
    fn rejected_copies_get_names_that_can_be_shown() {
        assert_eq!(
            rejected_name(OsStr::new("a.json")),
            OsString::from("a.json")
        );
        assert_eq!(
            rejected_name(OsStr::from_bytes(b"b\xFF.json")),
            OsString::from("b_.json")
        );
        let long = rejected_name(OsStr::new(&format!("{}.json", "é".repeat(125))));
        let text = long.to_str().expect("UTF-8");
        assert!(
            text.len() <= MAX_TASK_FILE_NAME_BYTES && text.ends_with(".json"),
            "{text}"
        );
    }
}
