//! CLI test harness: a project in a temp dir, the real `phase` binary run in it, and its
//! exit code, stdout and stderr captured for exact comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A project directory; `phase` runs with it as the working directory, so the default
/// `.state` and `config/coordinator.toml` are inside it.
pub struct Project {
    dir: tempfile::TempDir,
}

/// What one run of `phase` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the whole result at once, so a failure shows all three.
    #[track_caller]
    pub fn expect(&self, code: i32, stdout: &str, stderr: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str(), self.stderr.as_str()),
            (code, stdout, stderr),
            "exit code, stdout, stderr"
        );
    }
}

impl Project {
    /// An empty project (no state directory, no config).
    pub fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A project after `phase init`.
    pub fn initialised() -> Project {
        let p = Project::empty();
        let run = p.phase(&["init"]);
        assert_eq!(run.code, 0, "phase init: {run:?}");
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Writes a file (creating directories), returns its path.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    /// Every entry of a directory, hidden ones included, sorted.
    pub fn entries(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.path(rel)) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// `phase ARGS…` in the project, with a clean environment for its variables.
    pub fn phase(&self, args: &[&str]) -> Run {
        self.phase_with_stdin(args, "")
    }

    /// `phase ARGS…` with `stdin` as its standard input.
    pub fn phase_with_stdin(&self, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_phase"))
            .current_dir(self.root())
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .env_remove("RUST_LOG")
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run phase");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}
