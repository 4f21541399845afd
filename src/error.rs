//! The library's error type: every variant names the file it is about.

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
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
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

    /// The process exit code this error maps to (DESIGN.md §7).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// Whether the error is about the content of a file (as opposed to the OS or a lock).
    pub fn is_content_error(&self) -> bool {
        matches!(
            self,
            Error::Syntax { .. } | Error::Schema { .. } | Error::Invalid { .. }
        )
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
