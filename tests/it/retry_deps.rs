//! `phase retry` on a task whose dependency ended for good (issue 7, the retry hang): a
//! retried `dep_failed` task stays `dep_failed` — terminal for `phase run --once` and
//! `phase wait` — until its dependencies can run; `phase retry` refuses such a retry,
//! naming what to retry first, and `--with-deps` retries them too.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::Project;

const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n\n[execution]\nkill_grace_ms = 300\nshutdown_grace_ms = 1000\n\n[recovery]\nladder = []\n";

/// How long one `phase` command may take here.
const LIMIT: Duration = Duration::from_secs(60);

/// `gate` fails until the file `gate-open` exists and is quarantined at its first failure;
/// `child` depends on it and `grandchild` on `child`. After one `run --once`: `gate`
/// quarantined, the other two `dep_failed`.
fn stuck_chain() -> Project {
    let p = Project::with_config(FAST);
    let gated = p.script(
        "gated.sh",
        &format!("#!/bin/bash\n[ -e {} ]\n", p.path("gate-open").display()),
    );
    let ok = p.script("ok.sh", "#!/bin/bash\ntrue\n");
    p.drop_task(
        "gate",
        json!({"kind": "shell", "command": [gated], "max_retries": 0}),
    );
    p.drop_task(
        "child",
        json!({"kind": "shell", "command": [ok], "depends_on": ["gate"]}),
    );
    p.drop_task(
        "grandchild",
        json!({"kind": "shell", "command": [ok], "depends_on": ["child"]}),
    );
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "a quarantined task is no success: {out}{err}");
    assert_eq!(p.status_of("gate").as_deref(), Some("quarantined"));
    assert_eq!(p.status_of("child").as_deref(), Some("dep_failed"));
    assert_eq!(p.status_of("grandchild").as_deref(), Some("dep_failed"));
    std::fs::write(p.path("gate-open"), "").expect("open the gate");
    p
}

/// The state `phase status --json` shows for `id`.
fn shown_state(p: &Project, id: &str) -> Value {
    let status = p.status_json();
    status["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == id))
        .map(|t| t["state"].clone())
        .unwrap_or(Value::Null)
}

/// The requests in `control.json`, as `(action, task)`.
fn requests(p: &Project) -> Vec<(String, String)> {
    p.json("control.json")["requests"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    (field("action"), field("task_id"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn retrying_a_dependent_alone_is_refused_naming_what_to_retry_first() {
    let p = stuck_chain();
    let (code, out, err) = p.run(&["retry", "grandchild"], LIMIT);
    assert_eq!(code, 1, "refused: {out}{err}");
    assert_eq!(out, "", "nothing requested");
    assert_eq!(
        err,
        "error: cannot retry \"grandchild\": it would stay dep_failed, as its dependency \
         \"child\" is dep_failed; retry first: \"gate\" (quarantined), or all of them with \
         `phase retry --with-deps grandchild`\n"
    );
    assert_eq!(requests(&p), Vec::<(String, String)>::new());
    assert_eq!(shown_state(&p, "grandchild"), "dep_failed");
}

#[test]
fn a_retried_dep_failed_task_stays_dep_failed_and_once_and_wait_return() {
    let p = stuck_chain();
    // A retry request the command line would refuse, written by hand (or by an older
    // `phase`): the executor keeps it, but the task cannot run while `gate` is
    // quarantined.
    let control = json!({
        "schema_version": 1,
        "requests": [{
            "request_id": "by-hand-1",
            "action": "retry",
            "task_id": "child",
            "requested_at": "2026-01-01T00:00:00.000Z",
        }],
    });
    let tmp = p.state().join(".control.json.part");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&control).expect("json")).expect("write");
    std::fs::rename(&tmp, p.state().join("control.json")).expect("publish");

    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "--once returns: {out}{err}");
    let child = p.result("child").expect("child");
    assert_eq!(child["status"], "dep_failed");
    assert_eq!(child["handled_requests"], json!(["by-hand-1"]));
    assert_eq!(child["budget_from_attempt"], 1, "the retry is kept");
    assert_eq!(shown_state(&p, "child"), "dep_failed", "not `routed`");

    let mut engine = p.spawn(&["run"], "engine");
    let (code, out, err) = p.run(&["wait", "child"], LIMIT);
    engine.kill().expect("kill");
    engine.wait().expect("reap");
    assert_eq!((code, out.as_str()), (1, "child dep_failed\n"), "{err}");
}

#[test]
fn retry_with_deps_revives_the_chain_for_once() {
    let p = stuck_chain();
    let (code, out, err) = p.run(&["retry", "--with-deps", "grandchild"], LIMIT);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "retry requested: gate\nretry requested: child\nretry requested: grandchild\n"
        ),
        "{err}"
    );
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "every task succeeds: {out}{err}");
    for id in ["gate", "child", "grandchild"] {
        assert_eq!(p.status_of(id).as_deref(), Some("succeeded"), "{id}");
    }
    assert_eq!(p.result("gate").expect("gate")["attempt"], 2);
    assert_eq!(p.result("grandchild").expect("grandchild")["attempt"], 1);
}

#[test]
fn retry_with_deps_while_the_engine_runs_and_wait_returns() {
    let p = stuck_chain();
    let mut engine = p.spawn(&["run"], "engine");
    let (code, _, err) = p.run(&["retry", "--with-deps", "child"], LIMIT);
    assert_eq!(code, 0, "{err}");
    // At once: the requests are not carried out yet, and `wait` must not take the old
    // endings for final.
    let (code, out, err) = p.run(&["wait"], LIMIT);
    engine.kill().expect("kill");
    engine.wait().expect("reap");
    assert_eq!(code, 0, "{out}{err}\n{}", p.stderr_of("engine"));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["child succeeded", "gate succeeded", "grandchild succeeded"]
    );
    assert_eq!(
        requests(&p),
        [("retry", "gate"), ("retry", "child")]
            .map(|(a, t)| (a.to_string(), t.to_string()))
            .to_vec()
    );
}
