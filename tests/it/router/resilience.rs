//! Routing that survives failing tools, end to end through the real binary with fake tools
//! (`tests/tools/routing/tool.sh`, steered by flag files): strategies, circuit breakers,
//! fallback on retry, rate-limit cool-downs, waiting when every candidate is open, separate
//! processes, pools.

mod circuits;
mod hand_edits;
mod pools;
mod retry_race;
mod strategies;

use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Project, tool, wait_until};

/// How long any wait in these tests may take.
const LIMIT: Duration = Duration::from_secs(40);

/// Short timings; the default back-off (1 s). The executor holds a retry until the router
/// has looked at the failure, whatever the back-off (`retry_race.rs` uses 1 ms).
const BASE: &str = r#"
[state]
flush_interval_ms = 20
debounce_ms = 2
poll_interval_ms = 100

[execution]
max_parallel = 8
kill_grace_ms = 300
shutdown_grace_ms = 1000

[execution.backoff]
initial_ms = 1000
factor = 1.0
max_ms = 1000
"#;

/// A project whose tools are `tool.sh` instances steered through `ctl/`, and the `phase`
/// processes running on it (killed on drop).
struct Lab {
    p: Project,
    engines: Vec<Child>,
}

/// One run of a fake tool, from `runs.log`.
#[derive(Debug, Clone)]
struct ToolRun {
    who: String,
    task: String,
    start_ns: u128,
    /// `ok`, `down`, `limited`, `failed`; `None` while running.
    outcome: Option<String>,
    end_ns: Option<u128>,
}

impl Lab {
    /// A project with `routing` (TOML for `[routing]` and its rules) and one
    /// `[tools.<name>]` per entry of `tools` (name, extra TOML lines).
    fn new(routing: &str, tools: &[(&str, &str)]) -> Lab {
        Lab::with_base(BASE, routing, tools)
    }

    /// [`Lab::new`] with `base` in place of [`BASE`] (other timings).
    fn with_base(base: &str, routing: &str, tools: &[(&str, &str)]) -> Lab {
        let p = Project::empty();
        let ctl = p.path("ctl");
        std::fs::create_dir_all(&ctl).expect("ctl dir");
        let script = tool("routing/tool.sh");
        let mut config = format!("{base}\n{routing}\n");
        for (name, extra) in tools {
            config.push_str(&format!(
                "\n[tools.{name}]\ncommand = [{script:?}, {name:?}, \"{{task_id}}\"]\n{extra}\n\
                 [tools.{name}.env]\nROUTING_DIR = {ctl:?}\n",
                ctl = ctl.display().to_string(),
            ));
        }
        p.set_config(&config);
        let out = p.cmd().arg("init").output().expect("phase init");
        assert!(out.status.success(), "init failed: {out:?}");
        Lab {
            p,
            engines: Vec::new(),
        }
    }

    /// Starts `phase run ARGS` in the background.
    fn start(&mut self, args: &[&str], name: &str) {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.engines.push(self.p.spawn(&all, name));
    }

    /// Sends `signal` (`STOP`, `CONT`) to the `i`-th process [`Lab::start`]ed.
    fn signal(&self, i: usize, signal: &str) {
        let pid = self.engines[i].id().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}: {status}");
    }

    /// Creates (with `content`) or removes a flag file in `ctl/`.
    fn flag(&self, name: &str, content: Option<&str>) {
        let path = self.p.path(&format!("ctl/{name}"));
        match content {
            Some(c) => std::fs::write(path, c).expect("write flag"),
            None => std::fs::remove_file(path).expect("remove flag"),
        }
    }

    /// Drops a task of kind `work` into the inbox; `extra` fields are merged in.
    fn submit(&self, id: &str, extra: Value) {
        let mut task = json!({"kind": "work"});
        if let (Some(t), Some(e)) = (task.as_object_mut(), extra.as_object()) {
            t.extend(e.clone());
        }
        self.p.drop_task(id, task);
    }

    /// Waits until every task in `ids` has ended with `status`.
    fn wait_status(&self, ids: &[&str], status: &str) {
        for id in ids {
            wait_until(format!("{id} to be {status}"), LIMIT, || {
                let now = self.p.status_of(id);
                let ended = matches!(now.as_deref(), Some("succeeded" | "quarantined"));
                assert!(
                    !ended || now.as_deref() == Some(status),
                    "{id} ended {now:?}, not {status}: {}",
                    self.p.result(id).unwrap_or_default()
                );
                now.as_deref() == Some(status)
            });
        }
    }

    /// Waits until the router has taken in task `id`'s last attempt (`tool_health.json`'s
    /// `results_through` reached its end): what it decides next knows of it.
    fn wait_accounted(&self, id: &str) {
        let ended = self.p.result(id).and_then(|r| {
            let last = r["attempts"].as_array()?.last()?.clone();
            last["finished_at"].as_str().map(str::to_string)
        });
        let ended = ended.unwrap_or_else(|| panic!("{id} has no ended attempt"));
        wait_until(
            format!("the router to take in {id}'s attempt"),
            LIMIT,
            || {
                let through = self.p.json("tool_health.json")["results_through"].clone();
                through.as_str().is_some_and(|t| ns_of(t) >= ns_of(&ended))
            },
        );
    }

    /// The decision of task `id` (waits for it).
    fn decision(&self, id: &str) -> Value {
        wait_until(format!("a decision for {id}"), LIMIT, || {
            self.p.json("routing_decisions.json")["decisions"]
                .as_array()?
                .iter()
                .find(|d| d["task_id"] == id)
                .cloned()
        })
    }

    /// A tool's entry in `tool_health.json` (`Null` while it has none).
    fn health(&self, tool: &str) -> Value {
        self.p.json("tool_health.json")["tools"][tool].clone()
    }

    /// The tools each attempt of task `id` ran on, in order.
    fn attempt_tools(&self, id: &str) -> Vec<String> {
        self.p.result(id).map_or_else(Vec::new, |r| {
            r["attempts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["tool_id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
    }

    /// Every tool run so far.
    fn runs(&self) -> Vec<ToolRun> {
        let log = std::fs::read_to_string(self.p.path("ctl/runs.log")).unwrap_or_default();
        let mut runs: Vec<ToolRun> = Vec::new();
        for line in log.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let ns = |i: usize| parts.get(i).and_then(|s| s.parse::<u128>().ok());
            match parts.first() {
                Some(&"start") if parts.len() >= 4 => runs.push(ToolRun {
                    who: parts[1].to_string(),
                    task: parts[2].to_string(),
                    start_ns: ns(3).unwrap_or_default(),
                    outcome: None,
                    end_ns: None,
                }),
                Some(&"end") if parts.len() >= 5 => {
                    let open = runs
                        .iter_mut()
                        .rev()
                        .find(|r| r.who == parts[1] && r.task == parts[2] && r.outcome.is_none());
                    if let Some(r) = open {
                        r.outcome = Some(parts[4].to_string());
                        r.end_ns = ns(3);
                    }
                }
                _ => {}
            }
        }
        runs
    }

    /// The event types about `tool`'s circuit, in order.
    fn circuit_events(&self, tool: &str) -> Vec<String> {
        self.p
            .events()
            .into_iter()
            .filter(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("CIRCUIT_"))
                    && e["data"]["tool"] == tool
            })
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.engines {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time in the files.
fn ns_of(ts: &str) -> u128 {
    let t: jiff::Timestamp = ts.parse().unwrap_or_else(|e| panic!("{ts:?}: {e}"));
    u128::try_from(t.as_nanosecond()).expect("after 1970")
}
