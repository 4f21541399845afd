//! `isolation = "worktree"` with a real CLI: the agent works in its own git worktree on
//! branch `phase/<task>/<attempt>`, and its change comes back into the checkout — or, when
//! the checkout changed the same lines meanwhile, the task needs a person and the branch
//! is kept.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Cli, FakeServer, Project, Sandbox, script};
use crate::scenarios::{
    BROKEN_LINE, CALC, FIXED_LINE, RUN_LIMIT, agent_tool, analysis, assert_only_model_requests,
    code_task, engine_config, project, report,
};

/// What a person writes into the checkout while the agent works, on the agent's line.
const THEIR_LINE: &str = "    return a * b";

/// `git` in the project, with an identity of its own; its stdout.
fn git(p: &Project, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(p.path())
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project whose files are committed in a git repository (the state directory and
/// what `phase` writes next to it ignored).
fn repository(config: &str) -> Project {
    let p = project(config);
    p.write(".gitignore", ".state/\nphase.stderr\ncoordinator.toml\n");
    git(&p, &["init", "--quiet", "--initial-branch=main"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "--quiet", "-m", "start"]);
    p
}

/// Where the worktree of `implement`'s attempt 1 is: the fake server edits files there.
fn worktree(p: &Project) -> std::path::PathBuf {
    p.path().join(".state/worktrees/implement/1")
}

/// A routed `code` task with `isolation = "worktree"` on `cli`'s tool, against a server
/// answering `steps`; returns the project and the server after `phase run --once`.
fn isolated_run(
    cli: Cli,
    sandbox: &Sandbox,
    dir: &std::path::Path,
    steps: impl FnOnce(&Project) -> Value,
    retries: u32,
) -> (Project, FakeServer) {
    let p = repository("");
    let done = json!({ "text": "Done." });
    let steps = steps(&p);
    let server = FakeServer::start(sandbox, dir, "model", &script(&worktree(&p), steps, done));
    let tool = cli.name();
    let config = agent_tool(cli, tool, server.port).replace(
        "timeout_seconds = 240\n",
        "timeout_seconds = 240\nisolation = \"worktree\"\n",
    ) + &engine_config(&[], tool, retries);
    p.write("coordinator.toml", &config);
    p.submit(&code_task(retries));
    p.run_once(sandbox, RUN_LIMIT);
    (p, server)
}

fn attempt_record(p: &Project) -> Value {
    p.state("execution_results.json")["results"][0]["attempts"][0].clone()
}

/// The agent edits `calc.py` in its worktree; the change is merged into the checkout as
/// an uncommitted change, the patch recorded, the worktree and the branch removed.
pub(crate) fn merged_back(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let edit = json!({ "edit": { "path": "calc.py", "old": BROKEN_LINE, "new": FIXED_LINE } });
    let (p, server) = isolated_run(cli, &sandbox, files.path(), |_| json!([edit]), 0);

    let status = p.status("implement");
    assert_eq!(status["state"], "succeeded", "{status}\n{}", p.explain());
    assert!(
        p.read("calc.py").contains(FIXED_LINE),
        "merged into the checkout"
    );
    let record = attempt_record(&p);
    let wt = &record["worktree"];
    assert_eq!(wt["branch"], "phase/implement/1", "{record}");
    assert_eq!(wt["merge"], "merged", "{record}");
    let patch = p.read(".state/logs/implement/1.patch");
    assert!(patch.contains(&format!("+{FIXED_LINE}")), "{patch}");
    assert_eq!(wt["patch"], "logs/implement/1.patch");
    assert!(!worktree(&p).exists(), "the worktree is removed");
    assert_eq!(
        git(&p, &["branch", "--list", "phase/*"]),
        "",
        "the branch is removed"
    );
    assert_eq!(
        git(&p, &["rev-list", "--count", "HEAD"]).trim(),
        "1",
        "no commit on main"
    );
    assert!(git(&p, &["status", "--porcelain"]).contains(" M calc.py"));
    // The agent ran in the worktree: its workdir there is what it was told.
    let started = p.events("TASK_STARTED");
    let workdir = started[0]["data"]["workdir"].as_str().unwrap_or_default();
    assert!(
        workdir.ends_with(".state/worktrees/implement/1"),
        "{workdir}"
    );
    assert_only_model_requests(cli, &server);
    report(cli, "isolated in a worktree, merged back", &sandbox);
}

/// While the agent works, a person changes the same line in the checkout: nothing is
/// merged, the task needs a person (at once, with a retry left), the branch is kept.
pub(crate) fn conflict_keeps_the_branch(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let theirs = CALC.replace(BROKEN_LINE, THEIR_LINE);
    let steps = |p: &Project| {
        json!([{ "edit": { "path": "calc.py", "old": BROKEN_LINE, "new": FIXED_LINE },
                 "also_write": { "path": p.path().join("calc.py"), "text": theirs } }])
    };
    // One retry left: a conflict must not use it.
    let (p, server) = isolated_run(cli, &sandbox, files.path(), steps, 1);

    let status = p.status("implement");
    assert_eq!(
        (status["state"].as_str(), status["attempt"].as_u64()),
        (Some("quarantined"), Some(1)),
        "{status}\n{}",
        p.explain()
    );
    let a = analysis(&p, "implement", 1);
    assert_eq!(a["classification"], "needs_human", "{a}");
    assert_eq!(a["error_type"], "merge_conflict", "{a}");
    let summary = a["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("phase/implement/1") && summary.contains("calc.py"),
        "{summary}"
    );
    assert_eq!(p.read("calc.py"), theirs, "nothing merged");
    let record = attempt_record(&p);
    assert_eq!(record["worktree"]["merge"], "conflict", "{record}");
    assert_eq!(
        record["worktree"]["conflicts"],
        json!(["calc.py"]),
        "{record}"
    );
    let kept = git(&p, &["show", "phase/implement/1:calc.py"]);
    assert!(
        kept.contains(FIXED_LINE),
        "the agent's change is on the kept branch: {kept}"
    );
    assert!(!worktree(&p).exists(), "the worktree itself is removed");
    let report_md = p.read(".state/escalations/implement.md");
    assert!(report_md.contains("phase/implement/1"), "{report_md}");
    assert!(
        report_md.contains("**Agents:** 1 agent step, "),
        "{report_md}"
    );
    assert_only_model_requests(cli, &server);
    report(cli, "isolated, conflict keeps the branch", &sandbox);
}
