//! Writing a document whose one large array mostly did not change since this process last
//! wrote it (`execution_results.json`: a write per batch of finished tasks, every other
//! entry as before). The unchanged entries' bytes are copied from the file as it is on
//! disk, a run of neighbours at a time; only the changed ones are serialised. The result
//! is byte for byte what [`super::outline::to_writer_outlined`] writes: every entry of the
//! outline layout stands on its own line, always spelled the same way.
//!
//! The spans of the last write are trusted only while the file on disk holds the bytes
//! that write produced (its content hash, which the state file's lock check keeps, and
//! its fingerprint as opened); anything else — a person's edit, another writer, a failed
//! write — serialises everything once.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use serde::Serialize;

use super::outline::{Outline, to_writer_outlined};
use crate::model::SplicedDoc;

/// Where one entry's bytes lie in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u64,
    len: u64,
}

impl Span {
    fn end(self) -> u64 {
        self.start + self.len
    }
}

/// What separates two entries of the large array in the outline layout.
const SEPARATOR: &[u8] = b",\n    ";
/// What comes before the first entry.
const FIRST: &[u8] = b"\n    ";
/// What closes the array after its last entry.
const CLOSE: &[u8] = b"\n  ]";

/// Where each entry of the large array lies in the file this process last wrote, by index,
/// and the hash of that file's content. The owner of the document says which entries it
/// changed ([`EntrySpans::changed`]) or that it reordered them ([`EntrySpans::forget`]).
#[derive(Debug, Default)]
pub struct EntrySpans {
    spans: Vec<Option<Span>>,
    /// The content hash of the file the spans are of.
    of: Option<u64>,
}

impl EntrySpans {
    /// Entry `index` changed (or is new): it is serialised at the next write.
    pub fn changed(&mut self, index: usize) {
        if let Some(span) = self.spans.get_mut(index) {
            *span = None;
        }
    }

    /// The entries were removed, reordered or replaced: the next write serialises them all.
    pub fn forget(&mut self) {
        self.spans.clear();
        self.of = None;
    }

    /// How many entries the next write may copy.
    pub fn reusable(&self) -> usize {
        self.spans.iter().flatten().count()
    }

    /// The spans hold for a file with content hash `hash`.
    pub(super) fn holds_for(&self, hash: u64) -> bool {
        self.of == Some(hash)
    }

    /// A write of a file with content hash `hash` produced `spans`.
    pub(super) fn replace(&mut self, spans: Written, hash: u64) {
        self.spans = spans.0;
        self.of = Some(hash);
    }
}

/// The spans a write produced, installed once the file is in place.
#[derive(Debug, Default)]
pub(super) struct Written(Vec<Option<Span>>);

/// Passes writes through and counts them: where the next byte lands in the file.
pub(super) struct Counting<W: Write> {
    inner: W,
    at: u64,
}

impl<W: Write> Counting<W> {
    pub(super) fn new(inner: W) -> Counting<W> {
        Counting { inner, at: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `doc` in the outline layout to `out`, copying from `old` (the file `spans` are
/// of, when they hold for it) every entry whose span is known. Returns the new spans.
pub(super) fn write_spliced<T: SplicedDoc, W: Write>(
    out: &mut Counting<W>,
    doc: &mut T,
    old: Option<&File>,
    spans: &EntrySpans,
) -> io::Result<Written> {
    // The document around the array, laid out by the same writer: the array goes where
    // its empty form stands. The key is a top-level one, so its line is unique (a string
    // value cannot hold a raw line break).
    let entries = std::mem::take(doc.entries_mut());
    let mut frame = Vec::new();
    let framed = to_writer_outlined(&mut frame, &*doc);
    *doc.entries_mut() = entries;
    framed.map_err(io::Error::other)?;
    let empty = format!("\n  \"{}\": []", T::ENTRIES);
    let entries = doc.entries_mut();
    let Some(at) = find(&frame, empty.as_bytes()).filter(|_| !entries.is_empty()) else {
        out.write_all(&frame)?;
        return Ok(Written(Vec::new()));
    };
    // `[` of the empty array: the entries go between it and its `]`.
    let open = at + empty.len() - 2;
    out.write_all(&frame[..=open])?;
    let known = |i: usize| match old {
        Some(_) => spans.spans.get(i).copied().flatten(),
        None => None,
    };
    let mut written = Vec::with_capacity(entries.len());
    let mut buffer = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        out.write_all(if i == 0 { FIRST } else { SEPARATOR })?;
        let (Some(first), Some(old)) = (known(i), old) else {
            let start = out.at;
            let mut ser = serde_json::Serializer::with_formatter(&mut *out, Outline::in_array());
            entries[i].serialize(&mut ser).map_err(io::Error::other)?;
            written.push(Some(Span {
                start,
                len: out.at - start,
            }));
            i += 1;
            continue;
        };
        // Neighbours written one after the other last time are copied in one piece,
        // separators and all.
        let mut end = first.end();
        let mut next = i + 1;
        while let Some(span) = known(next).filter(|s| s.start == end + SEPARATOR.len() as u64) {
            end = span.end();
            next += 1;
        }
        let start = out.at;
        copy_range(old, first.start, end, out, &mut buffer)?;
        for k in i..next {
            let span = known(k).expect("known above");
            written.push(Some(Span {
                start: start + (span.start - first.start),
                len: span.len,
            }));
        }
        i = next;
    }
    out.write_all(CLOSE)?;
    out.write_all(&frame[open + 2..])?;
    Ok(Written(written))
}

/// Copies bytes `from..to` of `file` to `out`.
fn copy_range<W: Write>(
    file: &File,
    from: u64,
    to: u64,
    out: &mut W,
    buffer: &mut Vec<u8>,
) -> io::Result<()> {
    const CHUNK: u64 = 256 * 1024;
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK) as usize;
        buffer.resize(n, 0);
        file.read_exact_at(buffer, at)?;
        out.write_all(buffer)?;
        at += n as u64;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, ExecutionResults, Status, TaskResult};

    fn entry(id: &str, status: Status) -> TaskResult {
        TaskResult {
            task_id: id.to_string(),
            tool_id: "shell".to_string(),
            status,
            attempt: 1,
            started_at: "2026-12-03T08:08:23.645Z".to_string(),
            attempts: vec![Attempt {
                attempt: 1,
                tool_id: "shell".to_string(),
                argv: vec!["echo".to_string(), "a \"quoted\"\nline".to_string()],
                started_at: "2026-12-03T08:08:23.645Z".to_string(),
                ..Attempt::default()
            }],
            ..TaskResult::default()
        }
    }

    fn outlined(doc: &ExecutionResults) -> Vec<u8> {
        let mut out = Vec::new();
        to_writer_outlined(&mut out, doc).expect("write");
        out
    }

    /// Writes `doc` spliced from `old` (the bytes `spans` are of), checks the bytes are the
    /// outline writer's, and returns them with the new spans.
    fn splice(doc: &mut ExecutionResults, old: &[u8], spans: &mut EntrySpans) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.json");
        std::fs::write(&path, old).expect("write old");
        let file = File::open(&path).expect("open old");
        let mut out = Counting::new(Vec::new());
        let written = write_spliced(&mut out, doc, Some(&file), spans).expect("splice");
        assert_eq!(
            String::from_utf8_lossy(&out.inner),
            String::from_utf8_lossy(&outlined(doc)),
            "byte for byte the outline writer's"
        );
        spans.replace(written, 0);
        out.inner
    }

    #[test]
    fn unchanged_entries_are_copied_and_the_file_is_the_outline_writers() {
        let mut doc = ExecutionResults {
            run_id: "r".to_string(),
            ..ExecutionResults::default()
        };
        let mut spans = EntrySpans::default();
        // Empty, then first entries: nothing to copy from.
        let old = splice(&mut doc, b"", &mut spans);
        doc.results = (0..5)
            .map(|i| entry(&format!("t{i}"), Status::Succeeded))
            .collect();
        let old = splice(&mut doc, &old, &mut spans);
        assert_eq!(spans.reusable(), 5);
        // One changed in the middle, one appended: only those are serialised.
        doc.results[2].status = Status::Failed;
        spans.changed(2);
        doc.results.push(entry("t5", Status::Running));
        assert_eq!(spans.reusable(), 4);
        let old = splice(&mut doc, &old, &mut spans);
        assert_eq!(spans.reusable(), 6);
        // Copied spans are used for what they say: a stale copy would show here.
        let text = String::from_utf8(old.clone()).expect("utf-8");
        let line = |id: &str| {
            text.lines()
                .find(|l| l.contains(&format!(r#""task_id": "{id}""#)))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("t2").contains(r#""status": "failed""#), "{text}");
        assert!(line("t3").contains(r#""status": "succeeded""#), "{text}");
        // The first and the last changed; then the frame alone (the run id).
        doc.results[0].status = Status::Canceled;
        spans.changed(0);
        doc.results[5].status = Status::Succeeded;
        spans.changed(5);
        let old = splice(&mut doc, &old, &mut spans);
        doc.run_id = "a longer run id".to_string();
        let old = splice(&mut doc, &old, &mut spans);
        // Emptied again.
        doc.results.clear();
        spans.forget();
        splice(&mut doc, &old, &mut spans);
    }

    #[test]
    fn without_the_old_file_everything_is_serialised() {
        let mut doc = ExecutionResults {
            results: vec![entry("a", Status::Succeeded), entry("b", Status::Failed)],
            ..ExecutionResults::default()
        };
        let mut spans = EntrySpans::default();
        splice(&mut doc, b"", &mut spans);
        let mut out = Counting::new(Vec::new());
        write_spliced(&mut out, &mut doc, None, &spans).expect("write");
        assert_eq!(out.inner, outlined(&doc));
    }

    /// Through the state file: unchanged entries are copied while the file is the one
    /// last written, and never from a version someone else wrote, even one of the same
    /// size that the writer (wrongly) did not adopt.
    #[test]
    fn a_file_changed_by_someone_else_is_never_copied_from() {
        use crate::store::{Durability, LockWait, StateFile};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("execution_results.json");
        let mut file: StateFile<ExecutionResults> =
            StateFile::at(path.clone(), dir.path().join("results.lock"));
        let mut doc = ExecutionResults {
            results: (0..4)
                .map(|i| entry(&format!("t{i}"), Status::Succeeded))
                .collect(),
            ..ExecutionResults::default()
        };
        let mut spans = EntrySpans::default();
        let commit = |file: &mut StateFile<ExecutionResults>,
                      doc: &mut ExecutionResults,
                      spans: &mut EntrySpans| {
            let locked = file.lock(LockWait::AtMost(std::time::Duration::from_secs(5)));
            let locked = locked.expect("lock");
            locked
                .commit_spliced(doc, "r", Durability::Unsynced, spans)
                .expect("commit");
        };
        commit(&mut file, &mut doc, &mut spans);
        assert_eq!(spans.reusable(), 4);
        doc.results[1].status = Status::Failed;
        spans.changed(1);
        commit(&mut file, &mut doc, &mut spans);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            [outlined(&doc), b"\n".to_vec()].concat()
        );
        // A person changes t3 in place, keeping the size.
        let text = std::fs::read_to_string(&path).expect("read");
        let edited = text.replacen(r#""task_id": "t3""#, r#""task_id": "x3""#, 1);
        assert_eq!(edited.len(), text.len());
        std::fs::write(&path, edited).expect("edit");
        doc.results[0].status = Status::Failed;
        spans.changed(0);
        commit(&mut file, &mut doc, &mut spans);
        let after = std::fs::read_to_string(&path).expect("read");
        assert!(!after.contains("x3"), "{after}");
        assert_eq!(
            after.into_bytes(),
            [outlined(&doc), b"\n".to_vec()].concat()
        );
    }

    /// The debug builds' check behind every spliced write: an entry changed without
    /// [`EntrySpans::changed`] is copied as it was, and the write says so.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "the spliced write is not the document")]
    fn an_entry_changed_without_saying_so_is_caught_in_debug_builds() {
        use crate::store::{Durability, LockWait, StateFile};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file: StateFile<ExecutionResults> = StateFile::at(
            dir.path().join("execution_results.json"),
            dir.path().join("results.lock"),
        );
        let mut doc = ExecutionResults {
            results: vec![entry("a", Status::Succeeded), entry("b", Status::Succeeded)],
            ..ExecutionResults::default()
        };
        let mut spans = EntrySpans::default();
        for _ in 0..2 {
            let locked = file.lock(LockWait::AtMost(std::time::Duration::from_secs(5)));
            let locked = locked.expect("lock");
            locked
                .commit_spliced(&mut doc, "r", Durability::Unsynced, &mut spans)
                .expect("commit");
            doc.results[1].status = Status::Failed;
        }
    }
}
