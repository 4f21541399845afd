//! What the end of `events.jsonl` says before a writer appends to it: the highest `seq`
//! there, a last line without its newline (a writer died mid-append), and lines at the
//! end that are not events (damage). Only the tail is read — widened until it holds a
//! valid event — so the cost does not grow with the log.
//!
//! Reports are idempotent by construction: they describe only what is *after* the last
//! valid event, and the append that follows puts a valid event after it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::Deserialize;

/// How far back from the end the first look reaches.
const TAIL_WINDOW: u64 = 64 * 1024;

/// What the tail holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TailScan {
    /// The highest `seq` among the valid lines read; 0 when there is none.
    pub seq: u64,
    /// The last line, when it lacks its newline.
    pub unterminated: Option<Unterminated>,
    /// Lines after the last valid event that are not events, or a last event numbered
    /// below an earlier one.
    pub damage: Option<Damage>,
}

/// A last line without its newline.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unterminated {
    /// Where it starts: the log's length without it.
    pub offset: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// It is a whole event that only lacks its newline (kept, the newline added), not a
    /// torn fragment (cut off).
    pub whole: bool,
}

/// Damage found at the end of the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Damage {
    /// Complete lines after the last valid event that are not events.
    pub invalid_lines: usize,
    /// The first of them, cut short, to show what they look like.
    pub sample: String,
    /// The `seq` of the last valid event (0: none in the log at all).
    pub last_seq: u64,
}

/// The part of an event that numbering needs.
#[derive(Deserialize)]
struct Numbered {
    seq: u64,
}

/// A line's `seq`, if it is an event at all.
fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Numbered>(line)
        .ok()
        .map(|n| n.seq)
        .filter(|seq| *seq >= 1)
}

/// Reads the tail of the log (`len` bytes long) and says what it holds.
pub(super) fn scan(file: &mut File, len: u64) -> std::io::Result<TailScan> {
    if len == 0 {
        return Ok(TailScan::default());
    }
    let mut window = TAIL_WINDOW;
    loop {
        let start = len.saturating_sub(window);
        let tail = read_range(file, start, len)?;
        match analyse(&tail, start) {
            Some(scan) => return Ok(scan),
            None => window = window.saturating_mul(4),
        }
    }
}

/// Reads bytes `start..end`.
fn read_range(file: &mut File, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
    Read::by_ref(file)
        .take(end - start)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Analyses `tail`, read from offset `start`; `None` when the window must reach further
/// back (it begins mid-line and holds no valid event, or no line start at all).
fn analyse(tail: &[u8], start: u64) -> Option<TailScan> {
    let at_start = start == 0;
    // Complete lines end at the last newline; what follows it is unterminated.
    let (body, rest) = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => (&tail[..i], &tail[i + 1..]),
        None if at_start => (&tail[..0], tail),
        // No line starts in this window: the unterminated line began further back.
        None => return None,
    };
    let mut lines: Vec<&[u8]> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(|b| *b == b'\n').collect()
    };
    if !at_start && !lines.is_empty() {
        // The window may begin mid-line.
        lines.remove(0);
    }
    let unterminated = (!rest.is_empty()).then(|| {
        let whole = seq_of(rest).is_some();
        Unterminated {
            offset: start + tail.len() as u64 - rest.len() as u64,
            bytes: rest.to_vec(),
            whole,
        }
    });
    let seqs: Vec<Option<u64>> = lines.iter().map(|l| seq_of(l)).collect();
    let last_valid = seqs.iter().rposition(Option::is_some);
    let whole_seq = unterminated
        .as_ref()
        .filter(|u| u.whole)
        .and_then(|u| seq_of(&u.bytes));
    if last_valid.is_none() && whole_seq.is_none() && !at_start {
        return None;
    }
    let highest = seqs.iter().flatten().copied().chain(whole_seq).max();
    let last_seq = whole_seq.or_else(|| last_valid.and_then(|i| seqs[i]));
    let after = last_valid.map_or(0, |i| i + 1);
    let invalid: Vec<&[u8]> = lines[after..]
        .iter()
        .copied()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    // Invalid lines before a whole unterminated event count too: they are at the end.
    let out_of_order = last_seq.is_some_and(|s| Some(s) < highest);
    let damage = (!invalid.is_empty() || out_of_order).then(|| Damage {
        invalid_lines: invalid.len(),
        sample: invalid.first().map(|l| sample(l)).unwrap_or_default(),
        last_seq: last_seq.unwrap_or(0),
    });
    Some(TailScan {
        seq: highest.unwrap_or(0),
        unterminated,
        damage,
    })
}

/// The first bytes of a line, as text, for a report.
pub(super) fn sample(bytes: &[u8]) -> String {
    const SHOWN: usize = 200;
    let cut = &bytes[..bytes.len().min(SHOWN)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > SHOWN {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> String {
        format!(r#"{{"ts":"x","seq":{seq},"run_id":"r","type":"RUN_STARTED","phase":"cli"}}"#)
    }

    fn scan_text(text: &str) -> TailScan {
        analyse(text.as_bytes(), 0).expect("whole file")
    }

    #[test]
    fn a_clean_log_gives_its_last_seq() {
        let text = format!("{}\n{}\n", event(1), event(2));
        assert_eq!(
            scan_text(&text),
            TailScan {
                seq: 2,
                ..TailScan::default()
            }
        );
    }

    #[test]
    fn a_torn_last_line_is_found_with_its_offset() {
        let first = format!("{}\n", event(1));
        let text = format!("{first}{{\"ts\":\"x\",\"se");
        let scan = scan_text(&text);
        assert_eq!(scan.seq, 1);
        let torn = scan.unterminated.expect("torn");
        assert_eq!(torn.offset, first.len() as u64);
        assert!(!torn.whole);
        assert_eq!(scan.damage, None);
    }

    #[test]
    fn a_whole_event_without_its_newline_counts() {
        let text = format!("{}\n{}", event(1), event(2));
        let scan = scan_text(&text);
        assert_eq!(scan.seq, 2);
        assert!(scan.unterminated.expect("unterminated").whole);
    }

    #[test]
    fn garbage_at_the_end_is_damage_and_numbering_goes_on() {
        let text = format!("{}\n{}\nnot json\n{{\"x\":1}}\n", event(1), event(7));
        let scan = scan_text(&text);
        assert_eq!(scan.seq, 7);
        let damage = scan.damage.expect("damage");
        assert_eq!((damage.invalid_lines, damage.last_seq), (2, 7));
        assert_eq!(damage.sample, "not json");
    }

    #[test]
    fn a_restarted_numbering_continues_after_the_highest() {
        let text = format!("{}\n{}\n{}\n", event(40), event(41), event(1));
        let scan = scan_text(&text);
        assert_eq!(scan.seq, 41);
        assert_eq!(scan.damage.expect("out of order").last_seq, 1);
    }

    #[test]
    fn a_log_of_garbage_numbers_from_one_and_says_so() {
        let scan = scan_text("garbage\nmore\n");
        assert_eq!(scan.seq, 0);
        assert_eq!(scan.damage.expect("damage").invalid_lines, 2);
    }

    #[test]
    fn a_window_without_an_event_asks_for_more() {
        let text = format!("{}\n{}\n", event(1), "x".repeat(100));
        // Starting inside the long garbage line: nothing valid in view.
        assert_eq!(analyse(&text.as_bytes()[text.len() - 50..], 1), None);
    }

    #[test]
    fn a_long_log_is_read_back_from_a_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut text = String::new();
        for seq in 1..=3000 {
            text.push_str(&event(seq));
            text.push('\n');
        }
        text.push_str(&"y".repeat(300 * 1024));
        text.push('\n');
        std::fs::write(&path, &text).expect("write");
        let mut file = File::open(&path).expect("open");
        let scan = scan(&mut file, text.len() as u64).expect("scan");
        assert_eq!(scan.seq, 3000);
        assert_eq!(scan.damage.expect("damage").invalid_lines, 1);
    }
}
