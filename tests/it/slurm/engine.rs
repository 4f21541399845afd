//! The Slurm lane through the whole engine (`phase run`, the real binary) against the real
//! local Slurm: tasks routed to a tool with `backend = "slurm"` run as cluster jobs and are
//! recorded like local attempts (results, logs, events, job ids), beside local tasks in one
//! DAG; timeouts and cancels (pending and running); a tool's `max_parallel` bounds its jobs;
//! and an engine SIGKILLed while jobs run, or dead between `sbatch` and the id's record,
//! leaves every job adopted by the next one, none submitted twice.

use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Bench, JOB_LIMIT, shared_cluster};
use crate::schemas::outputs::assert_output_valid;
use crate::support::procs::wait_output;
use crate::support::{Project, wait_until};

/// A whole run of a few jobs on the 2-CPU node, shared with other tests.
const RUN_LIMIT: Duration = Duration::from_secs(180);

const CONFIG: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 100

[execution]
max_parallel = 8
kill_grace_ms = 300
shutdown_grace_ms = 1000
max_retries = 0

[execution.backoff]
initial_ms = 5
factor = 2.0
max_ms = 50

[tools.shell]
command = ["{command}"]

[tools.cluster]
command = ["{command}"]
backend = "slurm"

[tools.single]
command = ["{command}"]
backend = "slurm"
max_parallel = 1

# Jobs held in the queue for an hour (until cancelled).
[tools.held]
command = ["{command}"]
backend = "slurm"
[tools.held.slurm]
extra_args = ["--begin=now+3600"]

# Jobs pending for a few seconds, then running.
[tools.later]
command = ["{command}"]
backend = "slurm"
[tools.later.slurm]
extra_args = ["--begin=now+6"]
"#;

/// A task file: `sh -c script` with `tool`, after `deps`.
fn task(tool: &str, script: &str, deps: &[&str]) -> Value {
    json!({"kind": "shell", "tool": tool, "command": ["sh", "-c", script], "depends_on": deps})
}

/// A project on the test config, with a bench over its state directory (which cancels
/// its jobs on drop, whatever the test did).
fn project() -> (Project, Bench) {
    let p = Project::with_config(CONFIG);
    let b = Bench::at(p.root());
    (p, b)
}

/// The `n`th attempt record (from 1) of `id`.
fn attempt(p: &Project, id: &str, n: usize) -> Value {
    let r = p.result(id).unwrap_or_else(|| panic!("no result for {id}"));
    r["attempts"][n - 1].clone()
}

/// `phase run --once` to its end.
fn run_once(p: &Project) {
    let (code, _, err) = p.run(&["run", "--once"], RUN_LIMIT);
    assert!(code == 0 || code == 1, "phase run --once: {code}: {err}");
}

/// The attempts' start and end as the wrappers recorded them.
fn span(a: &Value) -> (jiff::Timestamp, jiff::Timestamp) {
    let at = |k: &str| -> jiff::Timestamp {
        a[k].as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{k} of {a}"))
    };
    (at("started_at"), at("finished_at"))
}

#[test]
fn slurm_attempts_are_recorded_like_local_ones_in_one_dag() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let (p, b) = project();
    p.drop_task("ok", task("cluster", "echo hello; echo oops >&2", &[]));
    p.drop_task("three", task("cluster", "exit 3", &[]));
    p.drop_task("suicide", task("cluster", "kill -9 $$", &[]));
    let mut slow = task("cluster", "sleep 60", &[]);
    slow["timeout_seconds"] = json!(2);
    p.drop_task("slow", slow);
    p.drop_task("local", task("shell", "echo local", &["ok"]));
    for s in ["s1", "s2", "s3"] {
        p.drop_task(s, task("single", "sleep 1", &[]));
    }
    run_once(&p);

    let ok = attempt(&p, "ok", 1);
    assert_eq!(
        (ok["status"].as_str(), ok["exit_code"].as_i64()),
        (Some("succeeded"), Some(0)),
        "{ok}"
    );
    let job = ok["job_id"]
        .as_str()
        .expect("a job id on the attempt")
        .to_string();
    assert_eq!(b.jobs_named("ok", 1), vec![job.clone()], "submitted once");
    assert_eq!(p.read(".state/logs/ok/1.out"), "hello\n");
    let err = p.read(".state/logs/ok/1.err");
    assert!(err.starts_with("oops\n"), "{err}");
    // Slurm's final state, for `phase logs`.
    assert!(
        err.contains(&format!("phase: Slurm job {job} ended COMPLETED")),
        "{err}"
    );
    let started: Vec<Value> = (p.events_of("TASK_STARTED").into_iter())
        .filter(|e| e["task_id"] == "ok")
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["data"]["job_id"], json!(job), "{started:?}");

    let three = attempt(&p, "three", 1);
    assert_eq!(
        (three["status"].as_str(), three["exit_code"].as_i64()),
        (Some("failed"), Some(3)),
        "{three}"
    );
    let suicide = attempt(&p, "suicide", 1);
    assert_eq!(
        (suicide["status"].as_str(), suicide["signal"].as_i64()),
        (Some("failed"), Some(9)),
        "{suicide}"
    );
    // Ended by the engine's own cancel on time, not by Slurm's whole minute.
    let slow = attempt(&p, "slow", 1);
    assert_eq!(slow["status"], "timed_out", "{slow}");
    assert!(
        slow["duration_ms"]
            .as_u64()
            .is_some_and(|d| (1_500..30_000).contains(&d)),
        "{slow}"
    );
    assert_eq!(p.status_of("local").as_deref(), Some("succeeded"));
    assert!(attempt(&p, "local", 1).get("job_id").is_none());

    // `max_parallel = 1`: the tool's jobs never overlapped.
    let mut spans: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| span(&attempt(&p, s, 1)))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping jobs: {spans:?}");
    }
    // Acked: no outcome or submission record is left.
    let left: Vec<String> = (phase_coordinator::store::list_cluster_jobs(&b.state).expect("list"))
        .into_iter()
        .map(|(t, a)| format!("{t}/{a}"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let status = p.status_json();
    assert_eq!(status["counts"]["succeeded"], 5, "{status}");
    assert_output_valid("status", "phase status --json", &status);
    // `phase status` shows the job id (JSON, and beside the tool in the table).
    let view = (status["tasks"].as_array().expect("tasks").iter())
        .find(|t| t["id"] == "ok")
        .expect("ok in status");
    assert_eq!(view["job_id"], json!(job), "{view}");
    assert_eq!(view["slurm_state"], "COMPLETED", "{view}");
    // Slurm's final state on each attempt: what the cluster said of the job. The
    // engine's own timeout ends the job with `scancel`, before Slurm's whole minute.
    for (id, state) in [
        ("ok", "COMPLETED"),
        ("three", "FAILED"),
        ("slow", "CANCELLED"),
    ] {
        let a = attempt(&p, id, 1);
        assert_eq!(a["slurm_state"], state, "{id}: {a}");
        let (code, shown, err) = p.run(&["show", id, "--json"], Duration::from_secs(20));
        assert_eq!(code, 0, "phase show {id} --json: {err}");
        let shown: Value = serde_json::from_str(&shown).expect("show --json is JSON");
        assert_output_valid("show", &format!("phase show {id} --json"), &shown);
        let a = &shown["attempts"][0];
        assert_eq!(
            (a["job_id"].clone(), a["slurm_state"].clone()),
            (attempt(&p, id, 1)["job_id"].clone(), json!(state)),
            "phase show {id}: {a}"
        );
    }
    assert!(attempt(&p, "local", 1).get("slurm_state").is_none());
    let (_, table, _) = p.run(&["status"], Duration::from_secs(20));
    assert!(
        table.contains(&format!("cluster (job {job}, COMPLETED)")),
        "{table}"
    );
    let (_, text, _) = p.run(&["show", "three"], Duration::from_secs(20));
    let three_job = attempt(&p, "three", 1)["job_id"].clone();
    let three_job = three_job.as_str().expect("three's job id");
    assert!(
        text.contains(&format!("Slurm job {three_job}: FAILED")),
        "{text}"
    );
}

/// `phase run` in the background.
fn engine(p: &Project, name: &str) -> Child {
    p.spawn(&["run"], name)
}

#[test]
fn cancel_ends_a_pending_and_a_running_job() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let (p, b) = project();
    p.drop_task("pending", task("held", "echo ran > ran-pending", &[]));
    p.drop_task(
        "running",
        task("cluster", "echo up > up-running; sleep 60", &[]),
    );
    let run = engine(&p, "engine");
    wait_until("a job for the pending task", JOB_LIMIT, || {
        !b.jobs_named("pending", 1).is_empty()
    });
    wait_until("the running task to run", JOB_LIMIT, || {
        p.path("up-running").exists() && p.status_of("running").as_deref() == Some("running")
    });
    for id in ["pending", "running"] {
        let (code, _, err) = p.run(&["cancel", id], Duration::from_secs(20));
        assert_eq!(code, 0, "cancel {id}: {err}");
    }
    wait_until("both canceled", JOB_LIMIT, || {
        ["pending", "running"]
            .iter()
            .all(|id| p.status_of(id).as_deref() == Some("canceled"))
    });
    assert!(
        !p.path("ran-pending").exists(),
        "a cancelled pending job never runs"
    );
    for id in ["pending", "running"] {
        let a = attempt(&p, id, 1);
        assert_eq!(a["status"], "canceled", "{a}");
    }
    // SIGTERM: the engine stops as it does, and leaves nothing running.
    let pid = rustix::process::Pid::from_raw(i32::try_from(run.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let out = wait_output(run, Duration::from_secs(30), "phase run to stop");
    assert!(out.status.success(), "{out:?}: {}", p.stderr_of("engine"));
}

/// Waits until the submission record of `task`'s attempt 1 has a job id.
fn wait_recorded(b: &Bench, task: &str) {
    wait_until(format!("{task}'s job id on record"), JOB_LIMIT, || {
        b.recorded_id(task, 1).is_some()
    });
}

#[test]
fn a_sigkilled_engines_jobs_are_adopted_and_none_runs_twice() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let (p, b) = project();
    p.drop_task("a", task("cluster", "echo run >> runs-a; sleep 3", &[]));
    p.drop_task(
        "b",
        task("cluster", "echo run >> runs-b; sleep 3; exit 5", &[]),
    );
    // Queued across the crash, running after it.
    p.drop_task("c", task("later", "echo run >> runs-c", &[]));
    p.drop_task("d", task("shell", "echo run >> runs-d", &["a", "c"]));
    let mut first = engine(&p, "first");
    for t in ["a", "b", "c"] {
        wait_recorded(&b, t);
    }
    wait_until("a and b to run", JOB_LIMIT, || {
        p.path("runs-a").exists() && p.path("runs-b").exists()
    });
    let _ = first.kill();
    let _ = first.wait();
    run_once(&p);
    // b fails with no retry left (recovery then quarantines it): attempt 1 is the fact.
    for (t, status) in [
        ("a", "succeeded"),
        ("b", "failed"),
        ("c", "succeeded"),
        ("d", "succeeded"),
    ] {
        let a = attempt(&p, t, 1);
        assert_eq!(a["status"].as_str(), Some(status), "{t}: {:?}", p.result(t));
        assert_eq!(p.read(&format!("runs-{t}")), "run\n", "{t} ran once");
        assert_eq!(p.result(t).expect("result")["attempt"], 1, "{t}");
    }
    assert_eq!(attempt(&p, "b", 1)["exit_code"], 5);
    for (t, state) in [("a", "COMPLETED"), ("b", "FAILED"), ("c", "COMPLETED")] {
        assert_eq!(b.jobs_named(t, 1).len(), 1, "{t} submitted once");
        let a = attempt(&p, t, 1);
        assert!(a["job_id"].is_string(), "{t}");
        // The adopting engine learnt the final state too.
        assert_eq!(a["slurm_state"], state, "{t}: {a}");
    }
}

#[test]
fn jobs_submitted_by_an_engine_that_died_before_recording_their_ids_are_adopted() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let (p, b) = project();
    // What an engine that died right after `sbatch` leaves: records without ids, and the
    // jobs in the queue. The tasks are in the inbox, not yet routed.
    let mut backend = b.backend();
    for (t, script) in [
        ("x", "echo run >> runs-x; exit 4"),
        ("y", "echo run >> runs-y"),
    ] {
        p.drop_task(t, task("cluster", script, &[]));
        let mut req = b.request(t, 1, script);
        req.cwd = p.root().to_path_buf();
        backend
            .submit_unrecorded(&req, &Default::default())
            .expect("submit");
        assert_eq!(b.recorded_id(t, 1), None);
    }
    drop(backend);
    run_once(&p);
    assert_eq!(attempt(&p, "x", 1)["exit_code"], 4);
    assert_eq!(p.status_of("y").as_deref(), Some("succeeded"));
    for t in ["x", "y"] {
        assert_eq!(p.read(&format!("runs-{t}")), "run\n", "{t} ran once");
        assert_eq!(b.jobs_named(t, 1).len(), 1, "{t} submitted once");
        assert_eq!(p.result(t).expect("result")["attempt"], 1, "{t}");
    }
}

#[test]
fn a_slurm_failure_fixed_by_local_recovery_is_retried_on_slurm() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let lint = format!("{}/examples/demo/bin/lint.sh", env!("CARGO_MANIFEST_DIR"));
    let fix = format!(
        "{}/examples/demo/bin/fix-whitespace.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let pattern = r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rule>\w+) (?P<message>.*)$";
    let config = CONFIG.replace("max_retries = 0", "max_retries = 3");
    let p = Project::with_config(&format!(
        r#"{config}
[recovery.detectors.whitespace]
command = ["{lint}", "{{files}}"]
parser = "generic"
pattern = '{pattern}'
fixer = ["{fix}", "{{files}}"]
"#
    ));
    let b = Bench::at(p.root());
    p.drop_task(
        "prep",
        task("shell", "printf 'clean\\ntrailing   \\n' > notes.txt", &[]),
    );
    p.drop_task(
        "lint",
        json!({"kind": "lint", "tool": "cluster", "command": [lint, "notes.txt"],
               "files": ["notes.txt"], "depends_on": ["prep"]}),
    );
    p.drop_task("after", task("shell", "echo done", &["lint"]));
    run_once(&p);
    let result = p.result("lint").expect("result");
    assert_eq!(
        (result["status"].as_str(), result["attempt"].as_u64()),
        (Some("succeeded"), Some(2)),
        "{result}"
    );
    let (first, second) = (attempt(&p, "lint", 1), attempt(&p, "lint", 2));
    assert_eq!(first["status"], "failed", "{first}");
    let ids = [first["job_id"].as_str(), second["job_id"].as_str()];
    assert!(
        ids[0].is_some() && ids[1].is_some() && ids[0] != ids[1],
        "{ids:?}"
    );
    assert_eq!(b.jobs_named("lint", 2).len(), 1);
    assert_eq!(p.read("notes.txt"), "clean\ntrailing\n");
    assert_eq!(p.json("fix_patches.json")["patches"][0]["applied"], true);
    assert_eq!(p.status_of("after").as_deref(), Some("succeeded"));
}
