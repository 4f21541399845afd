//! The event log `events.jsonl`: one JSON object per line, appended under its sidecar lock,
//! with a `seq` that increases by one per line across processes and restarts.
//!
//! Events are buffered: call [`EventLog::flush`] at the end of each reconcile pass and
//! *before* committing the state file that makes what they report visible, so that the
//! log's order is causal (TASK_FAILED before the ERROR_ANALYZED it leads to).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::model::{Event, EventType, now_rfc3339};
use crate::store::{LockGuard, LockWait, StateDir};
use crate::{Error, Result};

/// File name of the log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// How far back from the end we look for the last line's `seq`.
const TAIL_WINDOW: u64 = 64 * 1024;

/// A handle on the event log, cheap to clone and share between threads of one process.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: StateDir,
    run_id: String,
    pending: Mutex<Vec<Pending>>,
    /// Where this process's last append left the file: lets the next append skip reading
    /// the tail when nobody else wrote in between.
    last: Mutex<Option<Tail>>,
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

#[derive(Debug)]
struct Pending {
    ts: String,
    kind: EventType,
    phase: String,
    task_id: Option<String>,
    attempt: Option<u32>,
    data: Value,
}

impl EventLog {
    /// A log in `state` for the run `run_id`.
    pub fn new(state: &StateDir, run_id: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: state.clone(),
                run_id: run_id.to_string(),
                pending: Mutex::new(Vec::new()),
                last: Mutex::new(None),
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
        let mut pending = lock_ignoring_poison(&self.inner.pending);
        pending.push(event);
    }

    /// Appends every buffered event under the log's lock, numbering them.
    pub fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *lock_ignoring_poison(&self.inner.pending));
        if batch.is_empty() {
            return Ok(());
        }
        let path = self.inner.state.file(EVENTS_FILE);
        let _guard =
            LockGuard::acquire(&self.inner.state.lock_path(EVENTS_FILE), LockWait::Forever)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, "stat", e))?;
        let len = meta.len();
        let (dev, ino) = (meta.dev(), meta.ino());
        let mut last = lock_ignoring_poison(&self.inner.last);
        let (mut seq, ends_with_newline) = match *last {
            Some(t) if (t.dev, t.ino, t.len) == (dev, ino, len) => (t.seq, true),
            _ => last_seq(&mut file, len).map_err(|e| Error::io(&path, "read", e))?,
        };
        let mut out = Vec::with_capacity(batch.len() * 160);
        if !ends_with_newline {
            // A writer died mid-line: keep its fragment on a line of its own.
            out.push(b'\n');
        }
        for p in batch {
            seq += 1;
            let event = Event {
                ts: p.ts,
                seq,
                run_id: self.inner.run_id.clone(),
                kind: p.kind,
                phase: p.phase,
                task_id: p.task_id,
                attempt: p.attempt,
                data: p.data,
            };
            serde_json::to_writer(&mut out, &event)
                .map_err(|e| Error::invalid(&path, format!("cannot serialise event: {e}")))?;
            out.push(b'\n');
        }
        file.write_all(&out)
            .map_err(|e| Error::io(&path, "append", e))?;
        *last = Some(Tail {
            dev,
            ino,
            len: len + out.len() as u64,
            seq,
        });
        Ok(())
    }
}

/// The `seq` of the last complete, parseable line, and whether the file ends with `\n`.
/// Reads the tail, widening the window until it holds a whole numbered line: one long
/// event (a big `data`) must not restart the numbering at 1.
fn last_seq(file: &mut std::fs::File, len: u64) -> std::io::Result<(u64, bool)> {
    if len == 0 {
        return Ok((0, true));
    }
    let mut window = TAIL_WINDOW;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file)
            .take(len - start)
            .read_to_end(&mut tail)?;
        let ends_with_newline = tail.last() == Some(&b'\n');
        let mut lines: Vec<&[u8]> = tail.split(|b| *b == b'\n').collect();
        if start > 0 {
            // The window may begin mid-line.
            lines.remove(0);
        }
        let seq = lines
            .iter()
            .rev()
            .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
            .find_map(|v| v.get("seq").and_then(Value::as_u64));
        match seq {
            Some(seq) => return Ok((seq, ends_with_newline)),
            None if start == 0 => return Ok((0, ends_with_newline)),
            None => window = window.saturating_mul(4),
        }
    }
}

/// Watched state files report breakage and recovery here (`store` cannot name the event
/// log: the log writes through `store`).
impl crate::store::FileEvents for EventLog {
    fn emit_file_event(&self, kind: EventType, phase: &str, data: Value) {
        self.emit(kind, phase, None, None, data);
    }
}

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
