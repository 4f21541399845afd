//! `[[hooks]]`: each event of the wanted types reaches the hook once, also across a crash
//! of the engine and a restart; a hook that fails gets the event again later.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Daemon, FAST, LIMIT};
use crate::support::{Project, wait_until};

/// Two hooks: `record` appends each event it gets to `hook.out`; `flaky` fails until the
/// file `flaky.up` exists, then appends to `flaky.out`. (It failed only the first time it
/// ran, once: a run whose hook loop also got to RUN_COMPLETE before the final pass then
/// delivered it in that same run, on the final pass's second try.)
fn project() -> Project {
    let p = Project::empty();
    let out = p.path("hook.out").display().to_string();
    let flaky_out = p.path("flaky.out").display().to_string();
    let flag = p.path("flaky.up").display().to_string();
    let config = format!(
        "{}\n[[hooks]]\nname = \"record\"\nevents = [\"TASK_SUBMITTED\", \"TASK_QUARANTINED\", \"RUN_COMPLETE\"]\n\
         command = [\"sh\", \"-c\", \"cat >> {out}\"]\n\n\
         [[hooks]]\nname = \"flaky\"\nevents = [\"RUN_COMPLETE\"]\nretries = 5\n\
         command = [\"sh\", \"-c\", \"if [ ! -e {flag} ]; then echo down >&2; exit 1; fi; cat >> {flaky_out}\"]\n",
        FAST.replace("[execution]\n", "[execution]\nmax_retries = 0\n")
    );
    p.set_config(&config);
    let (code, _, err) = p.run(&["init"], LIMIT);
    assert_eq!(code, 0, "{err}");
    p
}

/// The events a hook wrote, one JSON object a line.
fn delivered(p: &Project, file: &str) -> Vec<Value> {
    std::fs::read_to_string(p.path(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: {e}: {l}")))
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The `delivered_seq` of a hook in `hooks.json`.
fn cursor(p: &Project, hook: &str) -> u64 {
    p.json("hooks.json")["hooks"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["hook"] == hook))
        .and_then(|h| h["delivered_seq"].as_u64())
        .unwrap_or(0)
}

#[test]
fn each_event_reaches_a_hook_once_across_a_crash_and_a_restart() {
    let p = project();
    // Run 1, killed with SIGKILL once the hook got the quarantine (and recorded it).
    let daemon = Daemon::start(&p, &["run"], "run1");
    p.drop_task("bad", json!({"kind": "shell", "command": ["false"]}));
    let seq = wait_until(
        "the hook got TASK_QUARANTINED",
        Duration::from_secs(30),
        || {
            delivered(&p, "hook.out")
                .iter()
                .find(|e| e["type"] == "TASK_QUARANTINED")
                .and_then(|e| e["seq"].as_u64())
        },
    );
    wait_until("hooks.json records it", Duration::from_secs(10), || {
        cursor(&p, "record") >= seq
    });
    assert!(!daemon.stop("KILL"), "killed");
    assert_eq!(
        p.events_of("RUN_COMPLETE").len(),
        0,
        "a killed engine completes nothing"
    );

    // Logged while no engine runs: delivered at the next start.
    p.write("later.json", r#"{"kind": "shell", "command": ["true"]}"#);
    let (code, _, err) = p.run(&["submit", "later.json"], LIMIT);
    assert_eq!(code, 0, "{err}");

    // The restart continues the interrupted run, which has the quarantine: exit 1.
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    let got = delivered(&p, "hook.out");
    assert_eq!(
        types(&got),
        ["TASK_QUARANTINED", "TASK_SUBMITTED", "RUN_COMPLETE"],
        "{got:#?}"
    );
    assert_eq!(got[0]["task_id"], "bad");
    assert_eq!(got[1]["task_id"], "later");
    let complete = p.events_of("RUN_COMPLETE");
    assert_eq!(got[2], complete[0], "the hook gets the event as logged");
    // The flaky hook failed on that RUN_COMPLETE (logged, the run was not held up)...
    assert!(
        err.contains("hook failed on RUN_COMPLETE") && err.contains("down"),
        "{err}"
    );
    assert!(delivered(&p, "flaky.out").is_empty());

    // ...and, once up, gets it at the next start, before this run's own.
    p.write("flaky.up", "");
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "nothing failed in this run: {out}{err}");
    let complete = p.events_of("RUN_COMPLETE");
    assert_eq!(complete.len(), 2);
    assert_eq!(delivered(&p, "flaky.out"), complete);
    assert_eq!(
        types(&delivered(&p, "hook.out")),
        [
            "TASK_QUARANTINED",
            "TASK_SUBMITTED",
            "RUN_COMPLETE",
            "RUN_COMPLETE"
        ],
        "still once each"
    );
    let seqs: Vec<u64> = complete.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(cursor(&p, "flaky"), seqs[1]);
    let (code, out, err) = p.run(&["validate"], LIMIT);
    assert_eq!(code, 0, "hooks.json is valid: {out}{err}");
}

#[test]
fn the_readme_hooks_are_a_valid_config() {
    let p = Project::empty();
    p.write("hooks.toml", super::readme_block("Hooks", "toml"));
    let (code, out, err) = p.run(&["validate", "hooks.toml"], LIMIT);
    assert_eq!((code, out.as_str()), (0, "ok: 1 file valid\n"), "{err}");
}
