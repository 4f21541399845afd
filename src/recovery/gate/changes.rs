//! What the attempt changed, as a reviewer reads it: the attempt's `files_modified`, each
//! as a diff against the last commit (`git diff HEAD`) when the workdir is in a git work
//! tree, else — with no earlier version to compare with — as the file is now (a diff
//! from nothing). The executor fingerprints files, it does not copy them, so nothing
//! older than the last commit is there to diff against; the prompt says which it is.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::super::snapshot::unified_diff;
use crate::process::{self, Sink, Spec};

/// At most this many files are shown.
const MAX_FILES: usize = 50;
/// At most this much diff text in all.
const MAX_BYTES: usize = 64 * 1024;
/// A file larger than this is named, not shown.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The changes of `files` (relative to `cwd`) as Markdown: a sentence on what the diff
/// is against, then one fenced diff.
pub(super) fn render(cwd: &Path, files: &[String]) -> String {
    if files.is_empty() {
        return "The attempt changed no file (as far as the executor could see: it looks \
                at the task's `files`, or at `git status` in a git work tree)."
            .to_string();
    }
    let shown: Vec<&String> = files.iter().take(MAX_FILES).collect();
    let from_git = git_diff(cwd, &shown);
    let mut covered: Vec<&str> = Vec::new();
    let mut diff = String::new();
    if let Some(text) = &from_git {
        for line in text.lines().filter(|l| l.starts_with("diff --git a/")) {
            if let Some(rest) = line.strip_prefix("diff --git a/") {
                covered.push(rest.split(" b/").next().unwrap_or(rest));
            }
        }
        diff.push_str(text);
    }
    let mut named = Vec::new();
    for file in &shown {
        if covered.contains(&file.as_str()) {
            continue;
        }
        match current_text(&cwd.join(file)) {
            Ok(text) => diff.push_str(&unified_diff(file, "", &text)),
            Err(why) => named.push(format!("- `{file}`: {why}")),
        }
    }
    let mut s = String::new();
    let against = match from_git {
        Some(_) => {
            "Against the last commit (`git diff HEAD`); files git does not track are shown whole, as new."
        }
        None => "There is no git history to compare with: each file is shown as it is now, as new.",
    };
    let _ = writeln!(s, "Files: {}. {against}\n", files.join(", "));
    if diff.len() > MAX_BYTES {
        let mut end = MAX_BYTES;
        while !diff.is_char_boundary(end) {
            end -= 1;
        }
        diff.truncate(end);
        diff.push_str("\n… (cut: the diff is longer)\n");
    }
    if !diff.is_empty() {
        let _ = writeln!(s, "```diff\n{}\n```", diff.trim_end());
    }
    for line in named {
        let _ = writeln!(s, "{line}");
    }
    if files.len() > MAX_FILES {
        let _ = writeln!(s, "\n… and {} more file(s).", files.len() - MAX_FILES);
    }
    s
}

/// `git diff HEAD -- files` in `cwd`; `None` outside a git work tree (or without git).
fn git_diff(cwd: &Path, files: &[&String]) -> Option<String> {
    let mut argv: Vec<String> = ["git", "diff", "--no-color", "--no-ext-diff", "HEAD", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.extend(files.iter().map(|f| f.to_string()));
    let spec = Spec {
        argv,
        cwd: cwd.to_path_buf(),
        // Never take the index lock a running task may need.
        env: vec![("GIT_OPTIONAL_LOCKS".to_string(), "0".to_string())],
        stdout: Sink::Capture,
        stderr: Sink::Capture,
        timeout: Some(Duration::from_secs(30)),
        kill_grace: Duration::from_millis(500),
    };
    let finished = process::run(&spec).ok()?;
    finished
        .success()
        .then(|| String::from_utf8_lossy(&finished.stdout).into_owned())
}

/// A file's text, or why it is not shown.
fn current_text(path: &Path) -> Result<String, &'static str> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Err("deleted"),
    };
    if !meta.is_file() {
        return Err("not a regular file");
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err("too large to show");
    }
    let bytes = std::fs::read(path).map_err(|_| "cannot be read")?;
    if bytes.contains(&0) {
        return Err("binary");
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_git_each_file_is_shown_as_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.py"), "x = 1\n").expect("write");
        let text = render(dir.path(), &["a.py".to_string(), "gone.py".to_string()]);
        assert!(text.contains("no git history"), "{text}");
        assert!(
            text.contains("+++ b/a.py") && text.contains("+x = 1"),
            "{text}"
        );
        assert!(text.contains("- `gone.py`: deleted"), "{text}");
        assert!(render(dir.path(), &[]).contains("changed no file"));
    }
}
