//! Reading `events.jsonl` as it grows: complete lines after the last one read, each kept
//! as written (a hook gets the line itself) with the fields readers sort by. A log that
//! was replaced or cut (a restore, a repair) is read again from its start; `seq` tells
//! readers what they have already seen.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::events::EVENTS_FILE;
use crate::store::{Access, StateDir, open_below};
use crate::{Error, Result};

/// One event as read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LoggedEvent {
    /// Its `seq`.
    pub seq: u64,
    /// Its `type` (`TASK_QUARANTINED`).
    pub kind: String,
    /// Its `task_id`, if any.
    pub task_id: Option<String>,
    /// Its `run_id`.
    pub run_id: String,
    /// The line as written, without the newline.
    pub line: String,
}

/// At most this much of the log is read per call, so a long log that a hook is far
/// behind in is taken in pieces.
const CHUNK: u64 = 4 << 20;

#[derive(Deserialize)]
struct Head {
    seq: u64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    run_id: String,
}

/// A reader of the log that remembers where it stopped.
#[derive(Debug)]
pub(super) struct Feed {
    path: PathBuf,
    offset: u64,
    /// (device, inode) of the file read so far.
    identity: Option<(u64, u64)>,
    /// The highest `seq` read.
    last_seq: u64,
}

impl Feed {
    /// A reader at the start of `state`'s log.
    pub(super) fn new(state: &StateDir) -> Feed {
        Feed {
            path: state.file(EVENTS_FILE),
            offset: 0,
            identity: None,
            last_seq: 0,
        }
    }

    /// The highest `seq` read so far.
    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The complete lines appended since the last call (all of them the first time, in
    /// pieces of [`CHUNK`] bytes: call again until it returns none). Lines that are not
    /// events are skipped: `phase validate` reports them.
    pub(super) fn read_new(&mut self) -> Result<Vec<LoggedEvent>> {
        let mut file = match open_below(&self.path, 1, Access::Read) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io(&self.path, "stat", e))?;
        let identity = Some((meta.dev(), meta.ino()));
        if identity != self.identity || meta.len() < self.offset {
            self.identity = identity;
            self.offset = 0;
        }
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| Error::io(&self.path, "read", e))?;
        let want = (meta.len() - self.offset).min(CHUNK);
        let mut bytes = Vec::with_capacity(want as usize);
        file.take(want)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&self.path, "read", e))?;
        // A line still being written has no newline yet: left for the next call. A whole
        // chunk without one is no event line; it is skipped.
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if want == CHUNK => bytes.len(),
            None => 0,
        };
        self.offset += complete as u64;
        let mut out = Vec::new();
        for raw in bytes[..complete].split(|b| *b == b'\n') {
            let Ok(line) = std::str::from_utf8(raw) else {
                continue;
            };
            let line = line.trim_end_matches('\r');
            let Ok(head) = serde_json::from_str::<Head>(line) else {
                continue;
            };
            self.last_seq = self.last_seq.max(head.seq);
            out.push(LoggedEvent {
                seq: head.seq,
                kind: head.kind,
                task_id: head.task_id,
                run_id: head.run_id,
                line: line.to_string(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LINE: &str = r#"{"ts":"2026-01-01T00:00:00.000Z","seq":SEQ,"run_id":"r","type":"RUN_STARTED","phase":"coordinator","data":{}}"#;

    fn line(seq: u64) -> String {
        LINE.replace("SEQ", &seq.to_string())
    }

    #[test]
    fn reads_complete_lines_once_and_a_replaced_log_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let path = dir.path().join(EVENTS_FILE);
        let mut feed = Feed::new(&state);
        assert!(feed.read_new().expect("no log").is_empty());
        std::fs::write(&path, format!("{}\n{}", line(1), &line(2)[..20])).expect("write");
        let first = feed.read_new().expect("read");
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(first[0].kind, "RUN_STARTED");
        assert_eq!(first[0].line, line(1));
        // The rest of line 2 arrives, and garbage that is no event.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        write!(f, "{}\nnot json\n", &line(2)[20..]).expect("append");
        let second = feed.read_new().expect("read");
        assert_eq!(second.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
        assert!(feed.read_new().expect("read").is_empty());
        // Replaced by another file: read from its start.
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, format!("{}\n", line(7))).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        let third = feed.read_new().expect("read");
        assert_eq!(third.iter().map(|e| e.seq).collect::<Vec<_>>(), [7]);
        assert_eq!(feed.last_seq(), 7);
    }
}
