//! `.state/metrics.prom`: kept current while the engine runs, accepted by the real
//! `promtool`, and its task counts are `phase status --json`'s.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::{Daemon, FAST, LIMIT};
use crate::support::{Project, require_tool, tool, wait_until};

/// The samples of `metrics.prom`: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// `promtool check metrics` on `text`: its exit code and what it said.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
fn metrics_are_valid_prometheus_text_and_count_what_status_shows() {
    let p = Project::with_config(&FAST.replace("[execution]\n", "[execution]\nmax_retries = 1\n"));
    let flaky = tool("executor/flaky.sh");
    let counter = p.path("flaky.count").display().to_string();
    p.drop_task("ok", json!({"kind": "shell", "command": ["true"]}));
    p.drop_task(
        "flaky",
        json!({"kind": "shell", "command": [flaky, counter, "1"]}),
    );
    p.drop_task("bad", json!({"kind": "shell", "command": ["false"]}));
    p.drop_task(
        "after-bad",
        json!({"kind": "shell", "command": ["true"], "depends_on": ["bad"]}),
    );
    p.write(".state/inbox/broken.json", "{");
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    let text = p.read(".state/metrics.prom");
    if require_tool("promtool") {
        let (ok, said) = promtool(&text);
        assert!(ok, "promtool check metrics: {said}\n{text}");
    }
    let m = samples(&text);
    let status = p.status_json();
    let counts = status["counts"].as_object().expect("counts");
    for (key, value) in &m {
        let Some(state) = key
            .strip_prefix("phase_tasks{state=\"")
            .and_then(|s| s.strip_suffix("\"}"))
        else {
            continue;
        };
        let shown = counts.get(state).and_then(|v| v.as_f64()).unwrap_or(0.0);
        assert_eq!(*value, shown, "tasks in state {state}:\n{text}");
    }
    for state in counts.keys() {
        assert!(
            m.contains_key(&format!("phase_tasks{{state=\"{state}\"}}")),
            "{state}:\n{text}"
        );
    }
    assert_eq!(counts.get("succeeded").and_then(|v| v.as_u64()), Some(2));
    assert_eq!(m.get("phase_queue_depth"), Some(&0.0));
    // ok, flaky twice, bad twice (one retry each for flaky and bad).
    let attempts: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("phase_attempts_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(attempts, 5.0, "{text}");
    assert_eq!(m.get("phase_retries_total"), Some(&2.0), "{text}");
    assert_eq!(
        m.get("phase_attempt_duration_seconds_count{tool=\"shell\"}"),
        Some(&5.0),
        "{text}"
    );
    assert_eq!(
        m.get("phase_circuit{tool=\"shell\",state=\"closed\"}")
            .or_else(|| m.get("phase_circuit{state=\"closed\",tool=\"shell\"}")),
        Some(&1.0),
        "{text}"
    );
    let fixes: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("phase_fixes_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(fixes, 3.0, "recovery judged 3 failed attempts: {text}");
}

#[test]
fn metrics_follow_a_running_engine() {
    let p = Project::with_config(FAST);
    let daemon = Daemon::start(&p, &["run"], "daemon");
    let gate = p.path("go");
    p.drop_task(
        "slow",
        json!({"kind": "shell", "command": ["sh", "-c", format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display())]}),
    );
    let running = "phase_tasks{state=\"running\"} 1";
    wait_until(
        "metrics.prom shows the running task",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(p.state().join("metrics.prom"))
                .is_ok_and(|t| t.contains(running))
        },
    );
    std::fs::write(&gate, "").expect("open the gate");
    wait_until(
        "metrics.prom shows it succeeded",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(p.state().join("metrics.prom"))
                .is_ok_and(|t| t.contains("phase_tasks{state=\"succeeded\"} 1"))
        },
    );
    assert!(daemon.stop("TERM"), "{}", p.stderr_of("daemon"));
}
