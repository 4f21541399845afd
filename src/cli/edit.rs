//! `phase edit FILE`: edit a state file visudo-style — on a copy, in `$VISUAL`/`$EDITOR`,
//! validated before it is swapped in under the file's lock, and never over a version
//! someone else wrote meanwhile.

use std::io::{IsTerminal, Write};
use std::process::Command;
use std::time::Duration;

use super::{Context, EXIT_FAILURE, EXIT_OK, Failure, Out, Outcome, report};
use crate::Error;
use crate::store::{EditOutcome, EditSession};

/// Arguments of `phase edit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state file, by name (`execution_results.json`, `fix_patches.json`, …).
    pub file: String,
}

/// Runs the editor until the edit is valid (or the person gives up), then commits it.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let name = std::path::Path::new(&args.file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&args.file);
    let session = EditSession::begin(&ctx.state, name)?;
    let lock_wait = Duration::from_millis(ctx.config()?.state.lock_timeout_ms);
    let copy = tempfile::Builder::new()
        .prefix(&format!("phase-edit-{name}-"))
        .suffix(".json")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), "create temp file", e))?;
    copy.as_file()
        .write_all(&session.starting_text())
        .map_err(|e| Error::io(copy.path(), "write", e))?;
    let interactive = std::io::stdin().is_terminal();
    loop {
        run_editor(copy.path())?;
        let edited = std::fs::read(copy.path()).map_err(|e| Error::io(copy.path(), "read", e))?;
        if let Err(e) = session.check(&edited) {
            report(&e);
            if interactive && ask("Edit again? [Y/n] ") {
                continue;
            }
            let kept = keep(copy)?;
            out.line(format!(
                "nothing written; your edit is in {}",
                kept.display()
            ))?;
            return Ok(EXIT_FAILURE);
        }
        return match session.commit(&edited, lock_wait) {
            Ok(EditOutcome::Written) => {
                out.line(format!("written: {}", ctx.state.file(name).display()))?;
                Ok(EXIT_OK)
            }
            Ok(EditOutcome::Unchanged) => {
                out.line("no changes; nothing written")?;
                Ok(EXIT_OK)
            }
            Err(e) => {
                report(&e);
                let kept = keep(copy)?;
                out.line(format!("your edit is in {}", kept.display()))?;
                Ok(EXIT_FAILURE)
            }
        };
    }
}

/// `$VISUAL`, else `$EDITOR`, else `vi`; words split on spaces (`code --wait`).
fn run_editor(path: &std::path::Path) -> Result<(), Failure> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_string());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = Command::new(program)
        .args(words)
        .arg(path)
        .status()
        // $VISUAL/$EDITOR names something that cannot run: the user's configuration.
        .map_err(|e| Error::Usage(format!("cannot start editor {program:?}: {e}")))?;
    if !status.success() {
        return Err(Failure::from(Error::Runtime(format!(
            "editor {program:?} exited with {status}; nothing written"
        ))));
    }
    Ok(())
}

fn ask(question: &str) -> bool {
    eprint!("{question}");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    !answer.trim().to_lowercase().starts_with('n')
}

/// Keeps the person's copy after the command ends.
fn keep(copy: tempfile::NamedTempFile) -> Result<std::path::PathBuf, Failure> {
    copy.keep()
        .map(|(_, path)| path)
        .map_err(|e| Failure::from(Error::io(std::env::temp_dir(), "keep temp file", e.error)))
}
