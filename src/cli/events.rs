//! `phase events [--follow] [--task ID]`: the event log, one JSON object a line.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::time::Duration;

use super::{Context, EXIT_OK, Out, Outcome};
use crate::Error;
use crate::events::EVENTS_FILE;

/// Arguments of `phase events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep printing new events as they are appended (like `tail -f`).
    #[arg(long, short)]
    pub follow: bool,
    /// Only events of this task.
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
}

/// Prints the log (filtered), then with `--follow` waits for more until interrupted.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let path = ctx.state.file(EVENTS_FILE);
    let mut offset = 0u64;
    loop {
        offset = print_from(&path, offset, args.task.as_deref(), out)?;
        if !args.follow {
            return Ok(EXIT_OK);
        }
        // The log only grows: a cheap poll of its length is enough for a terminal.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints complete lines after `offset`; returns the offset after the last one printed.
fn print_from(
    path: &std::path::Path,
    offset: u64,
    task: Option<&str>,
    out: &mut Out<'_>,
) -> Result<u64, super::Failure> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offset),
        Err(e) => return Err(Error::io(path, "read", e).into()),
    };
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, "read", e))?;
    let mut offset = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(path, "read", e))?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(offset);
        }
        offset += n as u64;
        let wanted = task.is_none_or(|id| {
            serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .is_some_and(|v| v["task_id"] == id)
        });
        if wanted {
            out.text(&line)?;
        }
    }
}
