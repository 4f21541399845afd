//! An attempt's output as the runner keeps it: the log file (created on the first byte, as
//! the executor always did: a silent attempt makes no file), how many bytes came and how
//! many were lost, and the stderr tail, kept in memory so it survives a log that could not
//! be written.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// One log file, created on first use. A write that fails (disk full) is recorded, and
/// the rest of the stream is counted as lost rather than written with a hole in it.
#[derive(Debug)]
pub(super) struct Log {
    path: PathBuf,
    file: Option<File>,
    /// Bytes the command wrote to this stream.
    received: u64,
    /// Bytes that did not reach the file.
    lost: u64,
    /// The first failure, in words.
    error: Option<String>,
}

impl Log {
    /// A log at `path`, not created yet.
    pub(super) fn new(path: PathBuf) -> Log {
        Log {
            path,
            file: None,
            received: 0,
            lost: 0,
            error: None,
        }
    }

    /// Appends what the command wrote.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        self.received += bytes.len() as u64;
        self.append(bytes);
    }

    /// Appends a line of the runner's own (`phase: cannot start …`), not counted as the
    /// command's output.
    pub(super) fn note(&mut self, line: &str) {
        self.append(format!("phase: {line}\n").as_bytes());
    }

    /// Bytes the command wrote to this stream.
    pub(super) fn received(&self) -> u64 {
        self.received
    }

    /// What went wrong, naming the stream, the file, the error and the bytes lost.
    pub(super) fn error(&self, stream: &str) -> Option<String> {
        self.error.as_ref().map(|e| {
            format!(
                "{stream}: {}: {e}; {} of {} bytes not written",
                self.path.display(),
                self.lost,
                self.received
            )
        })
    }

    fn append(&mut self, mut bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.error.is_some() {
            self.lost += bytes.len() as u64;
            return;
        }
        if self.file.is_none() {
            // `logs/<task>/<n>.out`: no planted link on the way is followed (issue 8).
            let created = crate::store::open_below(&self.path, 3, crate::store::Access::Truncate)
                .map_err(|e| std::io::Error::other(e.to_string()));
            match created {
                Ok(f) => self.file = Some(f),
                Err(e) => return self.fail("cannot create", &e, bytes.len()),
            }
        }
        let Some(file) = &mut self.file else {
            return;
        };
        while !bytes.is_empty() {
            match file.write(bytes) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return self.fail("cannot write", &e, bytes.len());
                }
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail("cannot write", &e, bytes.len()),
            }
        }
    }

    fn fail(&mut self, action: &str, e: &std::io::Error, unwritten: usize) {
        tracing::warn!(log = %self.path.display(), "{action} the log, output is lost: {e}");
        self.error = Some(format!("{action}: {e}"));
        self.lost += unwritten as u64;
    }
}

/// The last `limit` bytes of a stream.
#[derive(Debug)]
pub(super) struct Tail {
    limit: usize,
    bytes: Vec<u8>,
    /// Whether bytes before `bytes` were dropped (the first one kept may be cut).
    cut: bool,
}

impl Tail {
    /// An empty tail keeping at most `limit` bytes.
    pub(super) fn new(limit: usize) -> Tail {
        Tail {
            limit,
            bytes: Vec::new(),
            cut: false,
        }
    }

    /// Adds bytes; memory stays under twice the limit.
    pub(super) fn push(&mut self, more: &[u8]) {
        if self.limit == 0 {
            return;
        }
        let more = if more.len() > self.limit {
            self.cut = true;
            self.bytes.clear();
            &more[more.len() - self.limit..]
        } else {
            more
        };
        self.bytes.extend_from_slice(more);
        if self.bytes.len() > 2 * self.limit {
            let drop = self.bytes.len() - self.limit;
            self.bytes.drain(..drop);
            self.cut = true;
        }
    }

    /// The tail as text, cut forward to a character boundary.
    pub(super) fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(self.limit);
        let kept = &self.bytes[start..];
        let cut = self.cut || start > 0;
        // Skip UTF-8 continuation bytes left over from a character cut in half.
        let skip = if cut {
            kept.iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&kept[skip..]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_cut_at_a_char_boundary() {
        let mut tail = Tail::new(5);
        tail.push("abcé".as_bytes());
        assert_eq!(tail.text(), "abcé");
        tail.push("€z".as_bytes());
        // The last 5 bytes of "abcé€z" start inside "é".
        assert_eq!(tail.text(), "€z");
        for _ in 0..100 {
            tail.push(b"xy");
        }
        assert_eq!(tail.text(), "yxyxy");
        let mut big = Tail::new(3);
        big.push(b"0123456789");
        assert_eq!(big.text(), "789");
        assert_eq!(Tail::new(0).text(), "");
    }

    #[test]
    fn a_log_is_made_on_the_first_byte_and_a_failure_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let silent = Log::new(dir.path().join("logs/t/1.out"));
        assert!(!dir.path().join("logs").exists());
        assert_eq!(silent.error("stdout"), None);
        let mut log = Log::new(dir.path().join("logs/t/1.err"));
        log.write(b"hello\n");
        log.note("cannot start");
        assert_eq!(log.received(), 6);
        let text = std::fs::read_to_string(dir.path().join("logs/t/1.err")).unwrap();
        assert_eq!(text, "hello\nphase: cannot start\n");
        // /dev/full takes the open and refuses every write: a full disk.
        let mut full = Log::new(PathBuf::from("/dev/full"));
        full.write(b"12345");
        full.write(b"678");
        let error = full.error("stdout").expect("recorded");
        assert!(
            error.starts_with("stdout: /dev/full: cannot write: "),
            "{error}"
        );
        assert!(error.ends_with("8 of 8 bytes not written"), "{error}");
    }
}
