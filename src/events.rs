//! The event log `events.jsonl`: one JSON object per line, appended under its sidecar lock,
//! with a `seq` that increases by one per line across processes and restarts.
//!
//! Events are buffered: call [`EventLog::flush`] at the end of each reconcile pass and
//! *before* committing the state file that makes what they report visible, so that the
//! log's order is causal (TASK_FAILED before the ERROR_ANALYZED it leads to).
//!
//! When the disk is full or the file cannot be written (docs/EVENTS.md):
//! - the log never keeps a torn line: an append that fails is cut back to where it began,
//!   and a torn last line left by a writer that died mid-append is cut off before the next
//!   append and kept, with where it was, in an EVENT_LOG_REPAIRED event;
//! - no event is dropped: a failed batch stays in memory, in order, and the next flush
//!   writes it (`seq` is given at write time, so there is no gap); the engine keeps
//!   working meanwhile, and past a bound the events it could not keep are counted and
//!   reported as EVENTS_LOST;
//! - lines at the end that are not events are reported (EVENT_LOG_REPAIRED) and numbering
//!   goes on after the highest `seq` found — it never restarts silently.

mod broken;
mod buffer;
mod tail;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::model::{Event, EventType, now_rfc3339};
use crate::store::{Access, LockGuard, LockWait, StateDir, open_below};
use crate::{Error, Result};

pub use broken::BrokenFile;
use buffer::{Buffer, Pending};
use tail::TailScan;

/// File name of the log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// The `phase` of the log's own reports.
const LOG_PHASE: &str = "events";

/// How long the last handle, when dropped, waits for the lock to write what is left.
const LAST_FLUSH_WAIT: Duration = Duration::from_secs(5);

/// A handle on the event log, cheap to clone and share between threads of one process.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: StateDir,
    run_id: String,
    buffer: Mutex<Buffer>,
    /// Serialises this process's appends (so batches keep their emit order) and remembers
    /// where the last one left the file.
    writer: Mutex<Writer>,
    /// State files reported invalid and not reported valid again, by (file, phase); the
    /// log itself too, when what is at its path cannot be appended to.
    broken: Mutex<BTreeMap<(String, String), String>>,
}

#[derive(Debug, Default)]
struct Writer {
    /// Where this process's last append left the file: the next append skips reading the
    /// tail when nobody else wrote in between.
    tail: Option<Tail>,
    /// The error of the appends failing now, logged once per episode.
    failing: Option<String>,
}

/// The log's end as of one append. The inode is part of it so that a log replaced by one
/// of the same length (rotated, restored) is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    dev: u64,
    ino: u64,
    len: u64,
    seq: u64,
}

impl EventLog {
    /// A log in `state` for the run `run_id`.
    pub fn new(state: &StateDir, run_id: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: state.clone(),
                run_id: run_id.to_string(),
                buffer: Mutex::new(Buffer::default()),
                writer: Mutex::new(Writer::default()),
                broken: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The run id stamped on every event.
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// Buffers an event; it is written by the next [`flush`](Self::flush).
    pub fn emit(
        &self,
        kind: EventType,
        phase: &str,
        task_id: Option<&str>,
        attempt: Option<u32>,
        data: Value,
    ) {
        let event = Pending {
            ts: now_rfc3339(),
            kind,
            phase: phase.to_string(),
            task_id: task_id.map(str::to_string),
            attempt,
            data,
        };
        lock(&self.inner.buffer).push(event);
    }

    /// Appends every buffered event under the log's lock, numbering them. On an error
    /// nothing of the batch is left in the file and the events stay buffered, in order,
    /// for the next flush.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush(LockWait::Forever)
    }

    /// How many events wait to be written (after failed flushes).
    pub fn waiting(&self) -> usize {
        lock(&self.inner.buffer).len()
    }
}

impl Inner {
    fn flush(&self, wait: LockWait) -> Result<()> {
        let mut writer = lock(&self.writer);
        let mut batch = lock(&self.buffer).take(&now_rfc3339());
        if batch.is_empty() {
            return Ok(());
        }
        let path = self.state.file(EVENTS_FILE);
        match self.append(&path, &mut writer, &mut batch, wait) {
            Ok(()) => {
                lock(&self.broken).remove(&log_key());
                let mut buffer = lock(&self.buffer);
                buffer.written();
                if writer.failing.take().is_some() {
                    tracing::info!(
                        events = batch.len(),
                        "{}: appending works again; the events that waited are written",
                        path.display()
                    );
                }
                Ok(())
            }
            Err(e) => {
                if is_broken_log(&path, &e) {
                    // Not a full disk that frees up: a person must fix the path.
                    lock(&self.broken).insert(log_key(), e.to_string());
                }
                let mut buffer = lock(&self.buffer);
                buffer.put_back(batch);
                let message = e.to_string();
                if writer.failing.as_deref() != Some(message.as_str()) {
                    tracing::error!(
                        waiting = buffer.len(),
                        "{message}; the events wait in memory and are written as soon as \
                         the log can be appended to again"
                    );
                }
                writer.failing = Some(message);
                Err(e)
            }
        }
    }

    /// Appends `batch` (after the log's own reports on its end, which are put in front
    /// of it), or leaves the file as it found it.
    fn append(
        &self,
        path: &Path,
        writer: &mut Writer,
        batch: &mut Vec<Pending>,
        wait: LockWait,
    ) -> Result<()> {
        let _guard = LockGuard::acquire(&self.state.lock_path(EVENTS_FILE), wait)?;
        let mut file = open_below(path, 1, Access::Append)?;
        let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
        let (mut seq, mut end, mut out) = match writer.tail {
            Some(t) if (t.dev, t.ino, t.len) == (dev, ino, len) => (t.seq, len, Vec::new()),
            _ => {
                writer.tail = None;
                let scan = scan_tail(path, len)?;
                self.repair_tail(path, &file, scan, len, batch)?
            }
        };
        for p in batch.iter() {
            seq += 1;
            // Cloned: the batch must survive a failed write intact.
            let event = Event {
                ts: p.ts.clone(),
                seq,
                run_id: self.run_id.clone(),
                kind: p.kind,
                phase: p.phase.clone(),
                task_id: p.task_id.clone(),
                attempt: p.attempt,
                data: p.data.clone(),
            };
            // A `Value` always serialises.
            let _ = serde_json::to_writer(&mut out, &event);
            out.push(b'\n');
        }
        if let Err(e) = file.write_all(&out) {
            // Cut back to where this append began: no torn line, whatever was written.
            if let Err(cut) = file.set_len(end) {
                tracing::error!(
                    "{}: cannot cut back a failed append ({cut}); the next append repairs it",
                    path.display()
                );
            }
            return Err(Error::io(path, "append", e));
        }
        end += out.len() as u64;
        writer.tail = Some(Tail {
            dev,
            ino,
            len: end,
            seq,
        });
        Ok(())
    }

    /// Acts on what the tail holds: a torn last line is cut off (and kept in a report), a
    /// whole last event gets its newline, damage is reported. The reports go in front of
    /// `batch` (unless the same report already waits there). Returns the `seq` to number
    /// from, the length to cut back to on failure, and the bytes to write first.
    fn repair_tail(
        &self,
        path: &Path,
        file: &File,
        scan: TailScan,
        len: u64,
        batch: &mut Vec<Pending>,
    ) -> Result<(u64, u64, Vec<u8>)> {
        let mut reports = Vec::new();
        let mut end = len;
        let mut out = Vec::new();
        if let Some(u) = &scan.unterminated {
            if u.whole {
                out.push(b'\n');
            } else {
                file.set_len(u.offset)
                    .map_err(|e| Error::io(path, "cut off a torn last line", e))?;
                end = u.offset;
                tracing::error!(
                    "{}: the last line was torn (a writer stopped mid-line): {} bytes cut \
                     off at offset {}, kept in an EVENT_LOG_REPAIRED event",
                    path.display(),
                    u.bytes.len(),
                    u.offset
                );
                reports.push(self.report(json!({
                    "problem": "torn_line",
                    "offset": u.offset,
                    "bytes": u.bytes.len(),
                    "fragment": tail::sample(&u.bytes),
                    "action": "cut off",
                })));
            }
        }
        if let Some(d) = &scan.damage {
            tracing::error!(
                "{}: {} line(s) at the end are not events (first: {:?}); numbering goes on \
                 after seq {}",
                path.display(),
                d.invalid_lines,
                d.sample,
                scan.seq
            );
            reports.push(self.report(json!({
                "problem": "invalid_lines",
                "invalid_lines": d.invalid_lines,
                "sample": d.sample,
                "last_valid_seq": d.last_seq,
                "highest_seq": scan.seq,
                "action": "kept; numbering continues after the highest seq",
            })));
        }
        reports.retain(|r| !batch.iter().any(|p| p.same_as(r)));
        batch.splice(0..0, reports);
        Ok((scan.seq, end, out))
    }

    fn report(&self, data: Value) -> Pending {
        Pending {
            ts: now_rfc3339(),
            kind: EventType::EventLogRepaired,
            phase: LOG_PHASE.to_string(),
            task_id: None,
            attempt: None,
            data,
        }
    }
}

/// The key of the log itself among the broken files.
fn log_key() -> (String, String) {
    (EVENTS_FILE.to_string(), LOG_PHASE.to_string())
}

/// Whether an append failed because of what is at the log's path (a directory, a named
/// pipe, a planted link), which no retry fixes, rather than a full disk or an I/O error.
fn is_broken_log(path: &Path, e: &Error) -> bool {
    e.is_content_error() || std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file())
}

/// Reads the log's tail through its own read handle (the append handle cannot read).
fn scan_tail(path: &Path, len: u64) -> Result<TailScan> {
    if len == 0 {
        return Ok(TailScan::default());
    }
    let mut reader = open_below(path, 1, Access::Read)?;
    tail::scan(&mut reader, len).map_err(|e| Error::io(path, "read", e))
}

impl Drop for Inner {
    fn drop(&mut self) {
        if lock(&self.buffer).len() == 0 {
            return;
        }
        // The last handle is going: one more try, then say what is lost.
        if let Err(e) = self.flush(LockWait::AtMost(LAST_FLUSH_WAIT)) {
            tracing::error!(
                lost = lock(&self.buffer).len(),
                "{e}; these events could not be written and are lost"
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
