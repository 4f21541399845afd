//! Reading a document written in the outline layout (`store/outline.rs`) a line at a time.
//!
//! `serde_json::from_reader` takes its input a byte at a time through `io::Bytes`, keeping
//! line and column as it goes: at 10,000 tasks, reading the results file that way was most
//! of recovery's and the metrics writer's CPU and a large share of the router's. In the
//! outline layout every entry of the document and of its top-level arrays and objects
//! stands on a line of its own, so each line can be parsed from a slice (a typed results
//! file 1.5× faster, a reader that skips most fields 2–3×) while only one line is held. The lines are fed to the caller's type through
//! serde, as one document.
//!
//! Only the exact layout takes this path: anything else (a compact file, an edit that
//! moved a line break, a syntax error) makes [`from_outline`] give up, and the caller
//! reads the document from the start the usual way, which then yields the same value or
//! the precise error. The path checks every comma and bracket between lines itself, so it
//! never accepts what the usual parse would refuse.

use std::io::BufRead;

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::Error;

use super::lent::Lent;

/// The document in `reader` as a `T`, if it is laid out as the outline layout writes it
/// and fits `T`; `None` (with the reader somewhere inside the document) otherwise.
pub(super) fn from_outline<T: DeserializeOwned, R: BufRead>(reader: &mut R) -> Option<T> {
    // A compact document is one long line: not read into memory only to be given up.
    if !reader.fill_buf().ok()?.starts_with(b"{\n") {
        return None;
    }
    let mut lines = Lines {
        reader,
        line: Vec::new(),
        closer_comma: false,
    };
    if !lines.next().ok()? || lines.line != b"{" {
        return None;
    }
    let doc = T::deserialize(Outlined {
        lines: &mut lines,
        depth: 1,
        object: true,
    })
    .ok()?;
    // The document's `}` ends it: only white space may follow.
    if lines.closer_comma {
        return None;
    }
    while lines.next().ok()? {
        if !lines.line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
    }
    Some(doc)
}

/// The document's lines, one at a time.
struct Lines<'r, R> {
    reader: &'r mut R,
    /// The current line, without its line break.
    line: Vec<u8>,
    /// Whether the closing line just read ended in a comma (more entries follow).
    closer_comma: bool,
}

impl<R: BufRead> Lines<'_, R> {
    /// Reads the next line; `false` at the end of the file.
    fn next(&mut self) -> Result<bool, Error> {
        self.line.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(Error::io)?;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        Ok(read > 0)
    }

    /// Reads the next line, which must exist.
    fn next_required(&mut self) -> Result<(), Error> {
        if self.next()? {
            Ok(())
        } else {
            Err(not_outlined())
        }
    }
}

/// The error that sends the caller back to the usual parse.
fn not_outlined() -> Error {
    de::Error::custom("not in the outline layout")
}

/// The current line's content after exactly `depth` levels of indentation.
fn indented(line: &[u8], depth: usize) -> Option<&[u8]> {
    let width = 2 * depth;
    let (indent, rest) = line.split_at_checked(width)?;
    (indent.iter().all(|&b| b == b' ') && !rest.starts_with(b" ")).then_some(rest)
}

/// `rest` without a trailing comma, and whether it had one.
fn split_comma(rest: &[u8]) -> (&[u8], bool) {
    match rest.strip_suffix(b",") {
        Some(value) => (value, true),
        None => (rest, false),
    }
}

/// Whether `line` closes a container whose entries are at `depth` (its bracket one level
/// out); sets whether a comma follows it.
fn is_closer<R>(lines: &mut Lines<'_, R>, depth: usize, close: u8) -> bool {
    let Some(rest) = indented(&lines.line, depth - 1) else {
        return false;
    };
    let (bracket, comma) = split_comma(rest);
    if bracket == [close] {
        lines.closer_comma = comma;
        true
    } else {
        false
    }
}

/// An outlined container (the document, or one of its arrays or objects) whose opening
/// line was read and whose entries stand at `depth`.
struct Outlined<'a, 'r, R> {
    lines: &'a mut Lines<'r, R>,
    depth: usize,
    object: bool,
}

impl<'de, R: BufRead> de::Deserializer<'de> for Outlined<'_, '_, R> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut entries = Entries {
            lines: self.lines,
            depth: self.depth,
            more: None,
            closed: false,
            pending: None,
        };
        let value = if self.object {
            visitor.visit_map(&mut entries)?
        } else {
            visitor.visit_seq(&mut entries)?
        };
        // A visitor that stopped before the closing line leaves lines unread.
        if entries.closed {
            Ok(value)
        } else {
            Err(not_outlined())
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// What follows a key on its line.
enum Pending {
    /// A complete value on the line.
    Value(Vec<u8>),
    /// An outlined array or object opens here.
    Container { object: bool },
}

/// The entries of an outlined container, a line each.
struct Entries<'a, 'r, R> {
    lines: &'a mut Lines<'r, R>,
    depth: usize,
    /// Whether the last entry ended in a comma (`None` before the first).
    more: Option<bool>,
    /// Whether the closing line was read.
    closed: bool,
    /// The value of the key just read.
    pending: Option<Pending>,
}

impl<R: BufRead> Entries<'_, '_, R> {
    /// Reads the next line: `true` for an entry, `false` once it closes the container
    /// (checking the commas).
    fn next_entry(&mut self, close: u8) -> Result<bool, Error> {
        if self.closed {
            return Ok(false);
        }
        self.lines.next_required()?;
        if is_closer(self.lines, self.depth, close) {
            // After a trailing comma an entry must follow; an empty container is `[]`.
            if self.more != Some(false) {
                return Err(not_outlined());
            }
            self.closed = true;
            return Ok(false);
        }
        if self.more == Some(false) {
            return Err(not_outlined());
        }
        Ok(true)
    }
}

impl<'de, R: BufRead> de::MapAccess<'de> for Entries<'_, '_, R> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.next_entry(b'}')? {
            return Ok(None);
        }
        let rest = indented(&self.lines.line, self.depth).ok_or_else(not_outlined)?;
        let end = key_end(rest).ok_or_else(not_outlined)?;
        let key: String = serde_json::from_slice(&rest[..=end])?;
        let after = rest[end + 1..]
            .strip_prefix(b": ")
            .ok_or_else(not_outlined)?;
        let (value, comma) = split_comma(after);
        self.pending = Some(match after {
            b"[" if self.depth == 1 => Pending::Container { object: false },
            b"{" if self.depth == 1 => Pending::Container { object: true },
            _ => {
                self.more = Some(comma);
                Pending::Value(value.to_vec())
            }
        });
        let key: StringDeserializer<Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.pending.take().ok_or_else(not_outlined)? {
            Pending::Value(bytes) => from_slice(seed, &bytes),
            Pending::Container { object } => {
                let value = seed.deserialize(Outlined {
                    lines: self.lines,
                    depth: self.depth + 1,
                    object,
                })?;
                self.more = Some(self.lines.closer_comma);
                Ok(value)
            }
        }
    }
}

impl<'de, R: BufRead> de::SeqAccess<'de> for Entries<'_, '_, R> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.next_entry(b']')? {
            return Ok(None);
        }
        let rest = indented(&self.lines.line, self.depth).ok_or_else(not_outlined)?;
        let (value, comma) = split_comma(rest);
        // Only the document's arrays are outlined: an element is on its line whole.
        if value == b"[" || value == b"{" {
            return Err(not_outlined());
        }
        self.more = Some(comma);
        from_slice(seed, value).map(Some)
    }
}

/// Parses the one JSON value `bytes` holds into `seed`.
fn from_slice<'de, S: DeserializeSeed<'de>>(seed: S, bytes: &[u8]) -> Result<S::Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = seed.deserialize(Lent::new(&mut de))?;
    de.end()?;
    Ok(value)
}

/// The index of the quote that ends the JSON string `rest` starts with.
fn key_end(rest: &[u8]) -> Option<usize> {
    if rest.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::ExecutionResults;
    use crate::store::outline::to_writer_outlined;

    fn outlined(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        to_writer_outlined(&mut out, value).expect("write");
        out
    }

    fn read<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        from_outline(&mut std::io::Cursor::new(bytes))
    }

    fn document() -> Value {
        json!({
            "schema_version": 1,
            "run_id": "r\"1\\n",
            "empty": [],
            "none": null,
            "results": [
                {"task_id": "a", "status": "succeeded", "attempts": [{"n": 1, "tail": "x\ny\u{1F600}"}]},
                {"task_id": "b,]", "status": "failed", "metadata": {"k": [1, 2, {"z": "}"}]}},
                "a plain string, ]",
                [1, 2]
            ],
            "tools": {
                "shell": {"circuit": "closed", "n": 3},
                "ruff \"q\"": {"circuit": "open"}
            },
            "updated_at": "2026-12-03T00:00:00.000Z"
        })
    }

    #[test]
    fn reads_what_the_outline_layout_writes() {
        let doc = document();
        let mut bytes = outlined(&doc);
        assert_eq!(read::<Value>(&bytes), Some(doc.clone()));
        // As a commit leaves it: a line break after the document.
        bytes.push(b'\n');
        assert_eq!(read::<Value>(&bytes), Some(doc));
    }

    #[test]
    fn a_typed_document_reads_as_the_usual_parse_reads_it() {
        let bytes = br#"{"schema_version": 1, "run_id": "r", "updated_at": "2026-01-01T00:00:00.000Z",
            "results": [{"task_id": "a", "status": "succeeded", "attempt": 1},
                        {"task_id": "b", "status": "failed", "attempt": 2, "metadata": {"k": "v"}}]}"#;
        let usual: ExecutionResults = serde_json::from_slice(bytes).expect("valid");
        let relaid = outlined(&serde_json::to_value(&usual).expect("value"));
        let fast: ExecutionResults = read(&relaid).expect("outlined");
        assert_eq!(
            serde_json::to_value(&fast).expect("value"),
            serde_json::to_value(&usual).expect("value")
        );
    }

    #[test]
    fn gives_up_on_anything_but_the_exact_layout() {
        let cases: [&[u8]; 9] = [
            br#"{"a": 1}"#,
            b"{\n  \"a\": 1\n  \"b\": 2\n}",
            b"{\n  \"a\": 1,\n}",
            b"{\n  \"a\": [\n    1,\n  ]\n}",
            b"{\n  \"a\": [\n    1\n    2\n  ]\n}",
            b"{\n  \"a\": [\n    {\"x\":\n    1}\n  ]\n}",
            b"{\n  \"a\": 1\n}\n{}",
            b"{\n  \"a\":1\n}",
            b"{\n  \"a\": [\n    1\n",
        ];
        for bytes in cases {
            assert_eq!(
                read::<Value>(bytes),
                None,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// Whatever the line reader accepts, the usual parse accepts and reads the same: over
    /// thousands of damaged copies of an outlined document.
    #[test]
    fn never_accepts_what_the_usual_parse_refuses() {
        let bytes = outlined(&document());
        let marks = [b',', b']', b'}', b'\n', b' ', b'"', b'[', b'{', b':'];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..4000 {
            let mut damaged = bytes.clone();
            for _ in 0..=(next() % 2) {
                let at = (next() as usize) % damaged.len();
                match next() % 3 {
                    0 => {
                        damaged.remove(at);
                    }
                    1 => damaged.insert(at, marks[(next() as usize) % marks.len()]),
                    _ => damaged[at] = marks[(next() as usize) % marks.len()],
                }
            }
            match read::<Value>(&damaged) {
                Some(fast) => {
                    let usual: Value = serde_json::from_slice(&damaged).unwrap_or_else(|e| {
                        panic!(
                            "accepted what the usual parse refuses ({e}):\n{}",
                            String::from_utf8_lossy(&damaged)
                        )
                    });
                    assert_eq!(fast, usual);
                    accepted += 1;
                }
                None => refused += 1,
            }
        }
        // Both kinds occur: the damage is neither always fatal nor always harmless.
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }
}
