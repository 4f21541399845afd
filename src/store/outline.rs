//! How state documents are laid out on disk: the top-level object and its arrays one
//! entry per line, indented; everything inside an entry on that entry's line, spaced as
//! `"key": value, …` (so an edit by pattern, `"status": "failed"`, matches as before).
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "results": [
//!     {"task_id": "a", "status": "succeeded", …},
//!     {"task_id": "b", "status": "failed", …}
//!   ]
//! }
//! ```
//!
//! One task per line keeps a 10,000-task file greppable and its diffs one line per change,
//! and it is about a quarter smaller than indenting every level: every reader and the
//! writer handle that many fewer bytes.

use std::io::{self, Write};

use serde_json::ser::Formatter;

/// Containers this deep or less are laid out one entry per line (1: the document).
const OUTLINED_DEPTH: usize = 2;

/// A [`Formatter`] for the layout above.
#[derive(Debug, Default)]
pub(super) struct Outline {
    depth: usize,
    has_value: bool,
}

impl Outline {
    /// The state of a formatter about to write an entry of a top-level array: what it
    /// writes for the entry is what it would write for it inside the whole document.
    pub(super) fn in_array() -> Outline {
        Outline {
            depth: OUTLINED_DEPTH,
            has_value: false,
        }
    }

    fn outlined(&self) -> bool {
        self.depth <= OUTLINED_DEPTH
    }

    fn indent<W: ?Sized + Write>(writer: &mut W, depth: usize) -> io::Result<()> {
        for _ in 0..depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + Write>(&mut self, writer: &mut W, open: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(open)
    }

    fn end<W: ?Sized + Write>(&mut self, writer: &mut W, close: &[u8]) -> io::Result<()> {
        if self.outlined() && self.has_value {
            writer.write_all(b"\n")?;
            Self::indent(writer, self.depth - 1)?;
        }
        self.depth -= 1;
        writer.write_all(close)
    }

    fn entry<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if self.outlined() {
            writer.write_all(if first { b"\n" } else { b",\n" })?;
            Self::indent(writer, self.depth)
        } else if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
}

impl Formatter for Outline {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.entry(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.entry(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `value` in the outline layout.
pub(super) fn to_writer_outlined<W: Write, T: ?Sized + serde::Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, Outline::default());
    value.serialize(&mut ser)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outlined(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        to_writer_outlined(&mut out, value).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_document_and_its_arrays_get_a_line_per_entry() {
        let doc = json!({
            "schema_version": 1,
            "results": [
                {"task_id": "a", "argv": ["x", "y"], "meta": {"k": [1, {}]}, "none": []},
                {"task_id": "b"}
            ],
            "empty": [],
            "nothing": {}
        });
        let text = outlined(&doc);
        assert_eq!(
            text,
            "{\n  \"schema_version\": 1,\n  \"results\": [\n    \
             {\"task_id\": \"a\", \"argv\": [\"x\", \"y\"], \"meta\": {\"k\": [1, {}]}, \"none\": []},\n    \
             {\"task_id\": \"b\"}\n  ],\n  \"empty\": [],\n  \"nothing\": {}\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, doc);
    }

    #[test]
    fn scalars_and_an_empty_document_stay_plain() {
        assert_eq!(outlined(&json!({})), "{}");
        assert_eq!(outlined(&json!([])), "[]");
        assert_eq!(outlined(&json!("a\"b")), "\"a\\\"b\"");
    }
}
