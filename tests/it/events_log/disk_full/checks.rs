//! What the full-disk tests read back: the state files, the log, the logs of attempts.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The task ids whose result says `succeeded`.
pub(super) fn succeeded(root: &Path) -> BTreeSet<String> {
    with_status(root, "succeeded")
}

/// The task ids whose result says `running`.
pub(super) fn running(root: &Path) -> BTreeSet<String> {
    with_status(root, "running")
}

/// Tasks that ended otherwise than `succeeded`, or took more than one attempt: a full
/// disk must make tasks wait, never fail them.
pub(super) fn ended_otherwise(root: &Path) -> Vec<String> {
    let doc: Value = std::fs::read(root.join(".state/execution_results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    doc["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter(|r| {
                    !matches!(r["status"].as_str(), Some("succeeded" | "running"))
                        || r["attempt"].as_u64() != Some(1)
                })
                .map(|r| format!("{} {} attempt {}", r["task_id"], r["status"], r["attempt"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The task ids whose result has `status`.
fn with_status(root: &Path, status: &str) -> BTreeSet<String> {
    let path = root.join(".state/execution_results.json");
    let doc: Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    doc["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter(|r| r["status"] == status)
                .filter_map(|r| r["task_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Never a silent empty log: each task's last attempt has its whole output in its logs,
/// or says on the attempt (`log_error`) what could not be written.
pub(super) fn assert_logs_kept_or_loss_recorded(root: &Path) -> usize {
    let doc: Value = serde_json::from_slice(
        &std::fs::read(root.join(".state/execution_results.json")).expect("read results"),
    )
    .expect("results are JSON");
    let results = doc["results"].as_array().cloned().unwrap_or_default();
    let mut silent = Vec::new();
    let mut recorded_losses = 0;
    for r in &results {
        let (Some(id), Some(n)) = (r["task_id"].as_str(), r["attempt"].as_u64()) else {
            continue;
        };
        let i: usize = id.trim_start_matches('t').parse().expect("a t<NN> id");
        let log = |ext: &str| {
            std::fs::read_to_string(root.join(format!(".state/logs/{id}/{n}.{ext}")))
                .unwrap_or_default()
        };
        let whole = log("out") == format!("out-{i}\n") && log("err") == format!("err-{i}\n");
        let attempt = r["attempts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["attempt"].as_u64() == Some(n)))
            .cloned()
            .unwrap_or(Value::Null);
        let recorded = attempt["log_error"].as_str().is_some_and(|e| !e.is_empty());
        if !whole && recorded {
            recorded_losses += 1;
        }
        if !whole && !recorded {
            silent.push(format!(
                "{id} attempt {n}: out {:?}, err {:?}",
                log("out"),
                log("err")
            ));
        }
    }
    assert!(
        silent.is_empty(),
        "logs lost without a word on the attempt: {silent:#?}"
    );
    recorded_losses
}

/// How many `error:`/`warning:` lines say an append to the log failed.
pub(super) fn failed_appends(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("events.jsonl: cannot append"))
        .count()
}

/// Every line of the log, parsed; fails on a line that is not JSON (a torn line).
pub(super) fn log_events(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join(".state/events.jsonl")).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the log ends mid-line"
    );
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("torn or invalid line {l:?}: {e}"))
        })
        .collect()
}
