//! `files_modified`: the task's own `files` when it lists some, else `git status` in a
//! git work tree (the state directory excluded), else nothing.

use std::process::Command;
use std::time::Duration;

use phase_coordinator::model::Status;

use crate::support::executor::{Harness, fast_config, task, with_deps};
use crate::support::require_tool;

#[test]
fn listed_files_are_compared_before_and_after() {
    let mut h = Harness::started(fast_config(2));
    std::fs::create_dir_all(h.root().join("w")).expect("mkdir");
    std::fs::write(h.root().join("w/kept.txt"), "same").expect("write");
    std::fs::write(h.root().join("w/edited.txt"), "old").expect("write");
    let mut d = task(
        "edit",
        &[
            "bash",
            "-c",
            "echo same > kept.tmp; printf same > kept.txt; printf new > edited.txt; touch made.txt",
        ],
    );
    d.task.workdir = Some("w".to_string());
    d.task.files = ["kept.txt", "edited.txt", "made.txt", "absent.txt"]
        .map(String::from)
        .into_iter()
        .collect();
    h.decide(vec![d]);
    h.settle(Duration::from_secs(10));

    let r = h.result("edit").expect("result");
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(r.files_modified, ["edited.txt", "made.txt"]);
    assert_eq!(r.attempts[0].files_modified, r.files_modified);
    let ok = &h.events_of("TASK_SUCCEEDED", Some("edit"))[0];
    assert_eq!(ok["data"]["files_modified"][0], "edited.txt");
}

fn git(dir: &std::path::Path, args: &[&str]) -> bool {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn in_a_git_work_tree_git_status_tells_what_changed() {
    let mut h = Harness::new(fast_config(2));
    let root = h.root().to_path_buf();
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::write(root.join("src/a.txt"), "a\n").expect("write");
    std::fs::write(root.join("src/dirty.txt"), "d\n").expect("write");
    std::fs::write(root.join("top.txt"), "t\n").expect("write");
    if !require_tool("git") {
        return;
    }
    assert!(git(&root, &["init", "-q"]), "git init");
    assert!(git(&root, &["add", "src", "top.txt"]), "git add");
    assert!(git(&root, &["commit", "-q", "-m", "init"]), "git commit");
    // Dirty before the task and not touched by it: not the task's doing.
    std::fs::write(root.join("src/dirty.txt"), "dirty\n").expect("write");
    h.start_executor();
    // At the project root: the state directory (logs, results, claims) is inside the
    // work tree but never reported.
    let root_task = task(
        "root",
        &["bash", "-c", "echo b >> src/a.txt; echo t >> top.txt"],
    );
    // Then in src/, after it: only its own changes, relative to its workdir.
    let mut sub = with_deps(
        task(
            "sub",
            &[
                "bash",
                "-c",
                "echo n > new.txt; echo c >> a.txt; echo x >> ../top.txt",
            ],
        ),
        &["root"],
    );
    sub.task.workdir = Some("src".to_string());
    h.decide(vec![root_task, sub]);
    h.settle(Duration::from_secs(20));

    let r = h.result("root").expect("root");
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(r.files_modified, ["src/a.txt", "top.txt"]);
    let r = h.result("sub").expect("sub");
    assert_eq!(r.status, Status::Succeeded);
    // ../top.txt is outside the workdir; src/dirty.txt was dirty before and untouched.
    assert_eq!(r.files_modified, ["a.txt", "new.txt"]);
}
