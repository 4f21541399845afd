//! Running `git` for the worktree module: captured output, stdin closed, no hooks, a fixed
//! identity for the engine's own commits, and none of the caller's `GIT_*` variables that
//! would point it at another repository or index.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables that would make git work on another repository, work tree or index than the
/// one the engine names.
const SCRUBBED: [&str; 8] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// `git` in one directory, optionally with an index file of its own.
#[derive(Debug, Clone)]
pub(super) struct Git {
    cwd: PathBuf,
    index: Option<PathBuf>,
}

impl Git {
    /// git run in `cwd`.
    pub(super) fn at(cwd: &Path) -> Git {
        Git {
            cwd: cwd.to_path_buf(),
            index: None,
        }
    }

    /// The same, with `GIT_INDEX_FILE` = `index` (the user's index is never touched).
    pub(super) fn with_index(&self, index: &Path) -> Git {
        Git {
            cwd: self.cwd.clone(),
            index: Some(index.to_path_buf()),
        }
    }

    /// The same index, run in `cwd` instead (paths relative to it).
    pub(super) fn in_dir(&self, cwd: &Path) -> Git {
        Git {
            cwd: cwd.to_path_buf(),
            index: self.index.clone(),
        }
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("git");
        // No hook of the repository runs for the engine's own bookkeeping (post-checkout
        // on `worktree add`, and so on), and no signing prompt or pager can wait for input.
        cmd.args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .current_dir(&self.cwd)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "phase")
        .env("GIT_AUTHOR_EMAIL", "phase@localhost")
        .env("GIT_COMMITTER_NAME", "phase")
        .env("GIT_COMMITTER_EMAIL", "phase@localhost");
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        if let Some(index) = &self.index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        cmd
    }

    /// Runs git; its stdout as bytes, or an error quoting the command and its stderr.
    pub(super) fn bytes<I, S>(&self, args: I) -> Result<Vec<u8>, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let shown = show(&cmd);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`{shown}` in {} failed ({}): {}",
            self.cwd.display(),
            out.status,
            stderr.trim()
        ))
    }

    /// Runs git with `input` on its stdin (written from a thread of its own, so a git
    /// that answers while it reads cannot block on a full pipe); its stdout as bytes.
    pub(super) fn bytes_with_input<I, S>(&self, args: I, input: Vec<u8>) -> Result<Vec<u8>, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let shown = show(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = std::io::Write::write_all(&mut stdin, &input);
            }
        });
        let out = child
            .wait_with_output()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let _ = writer.join();
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(format!(
            "`{shown}` in {} failed ({}): {}",
            self.cwd.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    /// Runs git; its stdout as text, trimmed.
    pub(super) fn text<I, S>(&self, args: I) -> Result<String, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.bytes(args)
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
    }

    /// Whether the command exits 0 (its output is not wanted).
    pub(super) fn succeeds<I, S>(&self, args: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// Runs git and returns its exit code and stdout, whatever the code (`merge-file`
    /// reports its conflicts that way).
    pub(super) fn code_and_bytes<I, S>(&self, args: I) -> Result<(i32, Vec<u8>), String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let shown = show(&cmd);
        let out = cmd
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        Ok((out.status.code().unwrap_or(-1), out.stdout))
    }

    /// Whether `refs/heads/<branch>` exists.
    pub(super) fn has_branch(&self, branch: &str) -> bool {
        self.succeeds([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
    }
}

/// The command as people would type it, for messages (without the engine's `-c` options).
fn show(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .skip(4)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("git {}", args.join(" "))
}
