//! Build script: records the commit the binary is built from, for `phase --version`.
//!
//! In a git checkout, `PHASE_GIT_COMMIT` is `git rev-parse --short HEAD`; anywhere else (a
//! source tarball, `cargo install` from the registry, no git on PATH) it is `unknown`,
//! and the build goes on.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PHASE_GIT_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit, a checkout). Only paths that exist are named:
    // cargo treats a missing one as always changed, which would rebuild every time.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir.join(head));
        }
        for path in watched.iter().filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// A git command's trimmed stdout, or `None` when git is missing or fails (not a checkout).
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
