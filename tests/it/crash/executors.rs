//! Two executors on one state directory, beside a router and recovery — four processes —
//! and two writers of `control.json` at once while they work: a person's `phase cancel` /
//! `phase retry`, and an outside tool that edits the file itself by the README's write
//! protocol (sidecar lock, read, temp file, rename). Every task fails its first run and
//! succeeds after: each attempt runs once (the fence in its claim, whichever executor
//! asks), and every request of either writer is carried out.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use super::{Audit, TOOL, live_runners, reap_runners, task_json, task_script};
use crate::support::procs::{Rng, wait_output};
use crate::support::{Project, fast_config, wait_until};

const CONFIG: &str = fast_config!(
    "100",
    "max_parallel = 3\nshutdown_grace_ms = 2000\nmax_retries = 10"
);

const TASKS: usize = 150;

#[test]
fn two_executors_run_each_attempt_once_and_lose_no_request() {
    let mut rng = Rng::from_env_or_clock();
    let p = Project::with_config(&format!("{CONFIG}{TOOL}"));
    let (script, effects) = task_script(&p);
    let mut engines: Vec<(&str, Child)> = [
        ("router", "router"),
        ("executor-a", "executor"),
        ("executor-b", "executor"),
        ("recovery", "recovery"),
    ]
    .into_iter()
    .map(|(name, phase)| (name, p.spawn(&["run", phase], name)))
    .collect();
    let ids: Vec<String> = (0..TASKS).map(|i| format!("x{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let deps = if i % 5 == 4 {
            vec![ids[i - 1].clone()]
        } else {
            Vec::new()
        };
        let ms = 10 + rng.below(60);
        p.drop_task(id, task_json(&script, &effects, id, ms, true, &deps));
    }

    // An outside tool writing `control.json` itself, at the same time as the person below.
    let hand_ids: Vec<String> = (0..15)
        .map(|_| ids[rng.below(TASKS as u64) as usize].clone())
        .collect();
    let pauses: Vec<u64> = (0..15).map(|_| rng.below(150)).collect();
    let state = p.state();
    let tool = std::thread::spawn(move || {
        let mut written = Vec::new();
        for (n, (id, pause)) in hand_ids.into_iter().zip(pauses).enumerate() {
            let action = if n % 2 == 0 { "cancel" } else { "retry" };
            hand_request(&state, &id, action, n);
            written.push((id, action));
            std::thread::sleep(Duration::from_millis(pause));
        }
        written
    });

    // A person at the command line while the executors work.
    let mut requested: Vec<(String, &str)> = Vec::new();
    for _ in 0..30 {
        let id = ids[rng.below(TASKS as u64) as usize].clone();
        let action = if rng.below(2) == 0 { "cancel" } else { "retry" };
        let (code, _, err) = p.run(&[action, &id], Duration::from_secs(30));
        // A retry the lifecycle refuses (a task that would stay dep_failed) is exit 1;
        // "no task" (exit 2) must never happen for a task that exists.
        assert_ne!(code, 2, "phase {action} {id}: {err}");
        if code == 0 {
            requested.push((id, action));
        }
        std::thread::sleep(Duration::from_millis(rng.below(150)));
    }
    let by_hand = tool.join().expect("the outside writer of control.json");
    let hand_written = by_hand.len();
    requested.extend(by_hand);

    wait_until(
        "every task to settle and every request to be carried out",
        Duration::from_secs(120),
        || settled(&p, &ids),
    );
    for (name, child) in engines.drain(..) {
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let out = wait_output(child, Duration::from_secs(30), name);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name} exits at SIGTERM: {}",
            p.stderr_of(name)
        );
    }

    let audit = Audit::of(&p, &effects, &ids);
    let handled = handled_requests(&p);
    let control = p.json("control.json");
    let requests = control["requests"].as_array().cloned().unwrap_or_default();
    let lost: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            let task = r["task_id"].as_str().unwrap_or("");
            let id = r["request_id"].as_str().unwrap_or("");
            !handled.get(task).is_some_and(|h| h.iter().any(|x| x == id))
        })
        .collect();
    eprintln!(
        "two executors: {} tasks, {} runs, {} requests ({} cancel, {hand_written} written by \
         hand); unrecorded re-runs {}, concurrent copies {}, lost requests {}, statuses {:?}",
        audit.tasks,
        audit.runs,
        requests.len(),
        requested.iter().filter(|(_, a)| *a == "cancel").count(),
        audit.unrecorded_reruns.len(),
        audit.concurrent_copies.len(),
        lost.len(),
        audit
            .statuses
            .iter()
            .map(|(s, t)| (s.as_str(), t.len()))
            .collect::<Vec<_>>(),
    );
    audit.assert_clean();
    assert!(lost.is_empty(), "requests never carried out: {lost:#?}");
    assert_eq!(requests.len(), requested.len());
    // A dependent of a canceled task is dep_failed; nothing else ends otherwise.
    assert_eq!(
        audit.count("succeeded") + audit.count("canceled") + audit.count("dep_failed"),
        TASKS,
        "{:?}",
        audit.statuses
    );
    // Both executors ran attempts.
    let executors = executors_of(&p);
    assert!(executors >= 2, "attempts ran under {executors} executor(s)");
    wait_until(
        "the attempt runners to exit",
        Duration::from_secs(30),
        || live_runners(&p) == 0,
    );
    reap_runners(&p);
}

/// Appends one request to `control.json` the way an outside tool must (README, "The write
/// protocol"): the sidecar lock, the file read under it, a temp file in the same directory
/// synced and renamed over it.
fn hand_request(state: &Path, task: &str, action: &str, n: usize) {
    std::fs::create_dir_all(state.join("locks")).expect("the locks directory");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("locks/control.json.lock"))
        .expect("open the sidecar lock");
    lock.lock().expect("take the sidecar lock");
    let path = state.join("control.json");
    let mut doc: Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("control.json is JSON"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            serde_json::json!({"schema_version": 1, "requests": []})
        }
        Err(e) => panic!("read {}: {e}", path.display()),
    };
    let now = phase_coordinator::model::now_rfc3339();
    let request = serde_json::json!({
        "request_id": format!("hand-{}-{n}", std::process::id()),
        "action": action,
        "task_id": task,
        "requested_at": now,
    });
    match doc["requests"].as_array_mut() {
        Some(requests) => requests.push(request),
        None => doc["requests"] = Value::Array(vec![request]),
    }
    doc["updated_at"] = Value::String(now);
    let tmp = state.join(format!(".tmp-{}-hand{n}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).expect("create the temp file");
    file.write_all(&serde_json::to_vec_pretty(&doc).expect("serialize"))
        .and_then(|()| file.sync_all())
        .expect("write the temp file");
    std::fs::rename(&tmp, &path).expect("rename over control.json");
    drop(lock);
}

/// Every task ended (`succeeded`, `canceled`, or `dep_failed` behind a canceled task, with
/// no retry pending), nothing runs, and every request in `control.json` is in its task's
/// `handled_requests`.
fn settled(p: &Project, ids: &[String]) -> bool {
    let results = p.json("execution_results.json");
    let Some(results) = results["results"].as_array() else {
        return false;
    };
    let done = ids.iter().all(|id| {
        results.iter().any(|r| {
            r["task_id"] == id.as_str()
                && ["succeeded", "canceled", "dep_failed"]
                    .contains(&r["status"].as_str().unwrap_or(""))
                && r["budget_from_attempt"].as_u64().unwrap_or(0)
                    <= r["attempt"].as_u64().unwrap_or(0)
        })
    });
    let handled = handled_requests(p);
    let control = p.json("control.json");
    let all_handled = control["requests"].as_array().is_none_or(|rs| {
        rs.iter().all(|r| {
            let task = r["task_id"].as_str().unwrap_or("");
            handled
                .get(task)
                .is_some_and(|h| h.iter().any(|x| *x == r["request_id"]))
        })
    });
    done && all_handled
}

/// Task → request ids it records as carried out.
fn handled_requests(p: &Project) -> BTreeMap<String, Vec<Value>> {
    p.json("execution_results.json")["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let id = r["task_id"].as_str().unwrap_or("").to_string();
                    let handled = r["handled_requests"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    (id, handled)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How many distinct executors ran recorded attempts.
fn executors_of(p: &Project) -> usize {
    let results = p.json("execution_results.json");
    let mut seen = std::collections::BTreeSet::new();
    for r in results["results"].as_array().into_iter().flatten() {
        for a in r["attempts"].as_array().into_iter().flatten() {
            if let Some(e) = a["executor"].as_str() {
                seen.insert(e.to_string());
            }
        }
    }
    seen.len()
}
