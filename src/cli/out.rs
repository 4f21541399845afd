//! Where the verbs' output goes: their results on stdout through [`Out`], errors on stderr
//! through [`report`] — the one place that renders `error: …`.

use std::fmt::Display;
use std::io::Write;

use super::Failure;
use crate::Error;

/// Name used for stdout in messages.
const STDOUT: &str = "<stdout>";

/// A verb's stdout. Write errors become [`Failure`]s, so a closed pipe ends the verb
/// instead of panicking as `println!` would.
pub struct Out<'a> {
    w: &'a mut dyn Write,
}

impl<'a> Out<'a> {
    /// Wraps a writer.
    pub fn new(w: &'a mut dyn Write) -> Self {
        Out { w }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl Display) -> Result<(), Failure> {
        writeln!(self.w, "{text}")
            .and_then(|()| self.w.flush())
            .map_err(|e| Failure::from(Error::io(STDOUT, "write", e)))
    }

    /// Writes text as is.
    pub fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.w
            .write_all(text.as_bytes())
            .and_then(|()| self.w.flush())
            .map_err(|e| Failure::from(Error::io(STDOUT, "write", e)))
    }
}

/// Prints `error: <message>` on stderr.
pub fn report(error: &dyn Display) {
    // Nothing sensible is left to do if stderr itself is gone.
    let _ = writeln!(std::io::stderr().lock(), "error: {error}");
}

/// Prints `note: <message>` on stderr: something the user should know that is not an error.
pub fn note(message: &dyn Display) {
    let _ = writeln!(std::io::stderr().lock(), "note: {message}");
}

/// Whether the error is stdout's reader having gone away.
pub(super) fn is_broken_pipe(error: &Error) -> bool {
    matches!(error, Error::Io { path, source, .. }
        if path.as_os_str() == STDOUT && source.kind() == std::io::ErrorKind::BrokenPipe)
}
