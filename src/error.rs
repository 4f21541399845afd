//! The library's error type: every variant names the file it is about, or the action the
//! OS refused; [`Error::exit_code`] is the one mapping from an error to the process's exit
//! code (README "Exit codes").

use std::io;
use std::path::PathBuf;

/// Exit code: the work or the files are not ok.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;

/// Anything that can go wrong in the library, each with the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system call failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`read`, `rename into place`, …).
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A JSON (or TOML) syntax error.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// The document parsed but breaks its schema.
    #[error("{}: {}: {message}", path.display(), pointer_or_root(pointer))]
    Schema {
        /// The file.
        path: PathBuf,
        /// JSON pointer (or dotted TOML path) of the offending value.
        pointer: String,
        /// What was expected.
        message: String,
    },
    /// The file is unusable for another reason (too large, not UTF-8, a symlink, …).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A lock was not free within the bounded wait.
    #[error("{}: lock still held by another process after {waited_ms} ms", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The configuration is unusable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, with the key's dotted path.
        message: String,
    },
    /// The command line asks for something impossible (an unknown name, a task that does
    /// not exist, a state directory that is not there).
    #[error("{0}")]
    Usage(String),
    /// Something the user handed the command (a task file given to `submit`) is unusable.
    /// Shown as the error inside; it is the user's input, so the exit code is 2 whatever
    /// that error is.
    #[error(transparent)]
    Input(Box<Error>),
    /// An OS call that concerns no file failed (starting a thread, installing signal
    /// handlers).
    #[error("cannot {action}: {source}")]
    Os {
        /// What was being done (`start the executor thread`, …).
        action: String,
        /// The OS error.
        source: io::Error,
    },
    /// The run cannot go on or did not finish: a phase thread panicked, a wait timed out,
    /// the editor failed.
    #[error("{0}")]
    Runtime(String),
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(document)"
    } else {
        pointer
    }
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Builds an [`Error::Os`].
    pub fn os(action: impl Into<String>, source: io::Error) -> Self {
        Error::Os {
            action: action.into(),
            source,
        }
    }

    /// Marks `error` as caused by the user's input ([`Error::Input`]): exit code 2.
    pub fn input(error: Error) -> Self {
        match error {
            already @ (Error::Input(_) | Error::Usage(_) | Error::Config { .. }) => already,
            other => Error::Input(Box::new(other)),
        }
    }

    /// The process exit code this error maps to (README "Exit codes"): 2 for a usage or
    /// configuration error, 1 for everything else — a file that is not ok, or an OS or
    /// run-time failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Input(_) => EXIT_USAGE,
            Error::Io { .. }
            | Error::Syntax { .. }
            | Error::Schema { .. }
            | Error::Invalid { .. }
            | Error::LockTimeout { .. }
            | Error::Os { .. }
            | Error::Runtime(_) => EXIT_FAILURE,
        }
    }

    /// Whether the error is about the content of a file (as opposed to the OS or a lock).
    pub fn is_content_error(&self) -> bool {
        match self {
            Error::Syntax { .. } | Error::Schema { .. } | Error::Invalid { .. } => true,
            Error::Input(inner) => inner.is_content_error(),
            _ => false,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> io::Error {
        io::Error::other("boom")
    }

    /// README "Exit codes": 2 for usage or configuration, 1 for everything else.
    #[test]
    fn every_variant_has_its_exit_code() {
        let usage = [
            Error::Usage("unknown phase".into()),
            Error::Config {
                path: "c.toml".into(),
                message: "tools.x: unknown key".into(),
            },
            Error::input(Error::invalid("a.json", "not a task")),
        ];
        let failure = [
            Error::io("a.json", "read", io()),
            Error::Syntax {
                path: "a.json".into(),
                line: 1,
                column: 2,
                message: "eof".into(),
            },
            Error::Schema {
                path: "a.json".into(),
                pointer: "/x".into(),
                message: "bad".into(),
            },
            Error::invalid("a.json", "too large"),
            Error::LockTimeout {
                path: "a.lock".into(),
                waited_ms: 10,
            },
            Error::os("start the router thread", io()),
            Error::Runtime("timed out waiting".into()),
        ];
        for e in &usage {
            assert_eq!(e.exit_code(), EXIT_USAGE, "{e:?}");
        }
        for e in &failure {
            assert_eq!(e.exit_code(), EXIT_FAILURE, "{e:?}");
        }
    }

    #[test]
    fn input_errors_read_as_the_error_inside() {
        let inner = Error::invalid("a.json", "not a task");
        let shown = inner.to_string();
        let input = Error::input(inner);
        assert_eq!(input.to_string(), shown);
        assert!(input.is_content_error());
        // Wrapping twice, or wrapping what is already exit 2, changes nothing.
        assert!(
            matches!(Error::input(input), Error::Input(inner) if !matches!(*inner, Error::Input(_)))
        );
        assert!(matches!(
            Error::input(Error::Usage("x".into())),
            Error::Usage(_)
        ));
        assert_eq!(
            Error::os("start the signal thread", io()).to_string(),
            "cannot start the signal thread: boom"
        );
    }
}
