//! Crashes and several engines, through the real binary with real SIGKILLs (issue 8):
//! attempts outlive their engine and are adopted, recorded from their outcome records, and
//! never run twice — across 100+ kills (`kills`), one kill mid-task (`orphan`), and two
//! executors beside a router, recovery and a writer of `control.json` (`executors`).
//!
//! Every task's command appends one line per real run to its own side-effect file
//! (`effects/<id>.runs`: attempt, pid, start and end in ns, exit code); [`audit`] holds
//! those lines against the attempts `execution_results.json` records.

mod executors;
mod kills;
mod orphan;
mod snapshots;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::Project;

/// The task command: `task.sh EFFECTS ID MILLIS FAIL_ONCE ATTEMPT` (the attempt is
/// appended by the tool's template). Sleeps MILLIS, fails its first real run when
/// FAIL_ONCE is 1 (a counter file), and appends its run line at the end.
const TASK_SCRIPT: &str = r#"#!/bin/bash
dir=$1 id=$2 ms=$3 fail_once=$4 attempt=$5
start=${EPOCHREALTIME/./}
code=0
if [ "$fail_once" = 1 ]; then
    n=$(( $(cat "$dir/$id.count" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$dir/$id.count"
    [ "$n" = 1 ] && code=3
fi
if [ "$ms" != 0 ]; then sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"; fi
end=${EPOCHREALTIME/./}
echo "$attempt $$ ${start}000 ${end}000 $code" >> "$dir/$id.runs"
exit $code
"#;

/// The tool line that appends the attempt number to each task's own argv.
const TOOL: &str = "[tools.shell]\ncommand = [\"{command}\", \"{attempt}\"]\n";

/// Writes the task script and the effects directory; returns (script, effects dir).
fn task_script(p: &Project) -> (String, PathBuf) {
    let effects = p.path("effects");
    std::fs::create_dir_all(&effects).expect("effects dir");
    (p.script("task.sh", TASK_SCRIPT), effects)
}

/// A task file running the task script.
fn task_json(
    script: &str,
    effects: &Path,
    id: &str,
    ms: u64,
    fail_once: bool,
    deps: &[String],
) -> Value {
    serde_json::json!({
        "kind": "shell",
        "command": [script, effects.display().to_string(), id, ms.to_string(), if fail_once { "1" } else { "0" }],
        "depends_on": deps,
    })
}

/// One real run of a task's command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    attempt: u32,
    start_ns: u128,
    end_ns: u128,
}

/// The runs in `effects/<id>.runs`.
fn runs(effects: &Path, id: &str) -> Vec<Run> {
    let text = std::fs::read_to_string(effects.join(format!("{id}.runs"))).unwrap_or_default();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 5, "a torn run line for {id}: {line:?}");
            Run {
                attempt: f[0].parse().expect("attempt"),
                start_ns: f[2].parse().expect("start"),
                end_ns: f[3].parse().expect("end"),
            }
        })
        .collect()
}

/// What the side-effect files and the results say together.
#[derive(Debug, Default)]
struct Audit {
    tasks: usize,
    runs: usize,
    /// Runs beyond one per recorded attempt: an attempt number run twice, or a run of
    /// an attempt the results do not record.
    unrecorded_reruns: Vec<String>,
    /// Two runs of one task overlapping in time.
    concurrent_copies: Vec<String>,
    /// Tasks with no result entry.
    lost: Vec<String>,
    /// Final status → tasks.
    statuses: BTreeMap<String, Vec<String>>,
    /// Attempts recorded `interrupted` (engine's crash or shutdown: no budget used).
    interrupted: usize,
    /// Every run's (start, end) in ns.
    spans: Vec<(u128, u128)>,
}

impl Audit {
    /// Every task in `ids` against its side-effect file and its result.
    fn of(p: &Project, effects: &Path, ids: &[String]) -> Audit {
        let results = p.json("execution_results.json");
        let by_id: BTreeMap<&str, &Value> = results["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| (r["task_id"].as_str().unwrap_or(""), r))
                    .collect()
            })
            .unwrap_or_default();
        let mut audit = Audit {
            tasks: ids.len(),
            ..Audit::default()
        };
        for id in ids {
            let ran = runs(effects, id);
            audit.runs += ran.len();
            audit
                .spans
                .extend(ran.iter().map(|r| (r.start_ns, r.end_ns)));
            let Some(r) = by_id.get(id.as_str()) else {
                audit.lost.push(id.clone());
                continue;
            };
            let status = r["status"].as_str().unwrap_or("?").to_string();
            audit.statuses.entry(status).or_default().push(id.clone());
            let recorded: Vec<u64> = r["attempts"]
                .as_array()
                .map(|a| a.iter().filter_map(|a| a["attempt"].as_u64()).collect())
                .unwrap_or_default();
            audit.interrupted += r["attempts"].as_array().map_or(0, |a| {
                a.iter().filter(|a| a["reason"] == "interrupted").count()
            });
            let mut seen = std::collections::BTreeSet::new();
            for run in &ran {
                if !seen.insert(run.attempt) || !recorded.contains(&u64::from(run.attempt)) {
                    audit.unrecorded_reruns.push(format!(
                        "{id} attempt {} (recorded {recorded:?})",
                        run.attempt
                    ));
                }
            }
            for (i, a) in ran.iter().enumerate() {
                for b in &ran[i + 1..] {
                    if a.start_ns < b.end_ns && b.start_ns < a.end_ns {
                        audit
                            .concurrent_copies
                            .push(format!("{id}: attempts {} and {}", a.attempt, b.attempt));
                    }
                }
            }
        }
        audit
    }

    /// How many of the kills at `times` (ns) hit a command while it ran.
    fn kills_during_runs(&self, times: &[u128]) -> usize {
        times
            .iter()
            .filter(|t| self.spans.iter().any(|(s, e)| s <= t && *t <= e))
            .count()
    }

    /// How many tasks ended in `status`.
    fn count(&self, status: &str) -> usize {
        self.statuses.get(status).map_or(0, Vec::len)
    }

    /// Fails naming every problem found.
    #[track_caller]
    fn assert_clean(&self) {
        assert!(
            self.lost.is_empty()
                && self.unrecorded_reruns.is_empty()
                && self.concurrent_copies.is_empty(),
            "lost: {:?}\nunrecorded re-runs: {:?}\nconcurrent copies: {:?}",
            self.lost,
            self.unrecorded_reruns,
            self.concurrent_copies
        );
    }
}

/// `phase validate` passes: every state file is valid.
#[track_caller]
fn assert_valid(p: &Project, when: &str) {
    let (code, out, err) = p.run(&["validate"], std::time::Duration::from_secs(60));
    assert_eq!(code, 0, "phase validate {when}:\n{out}\n{err}");
}

/// SIGKILLs whatever of the attempt runners of this project is still alive (a failing
/// test leaves no stray process; a passing one has none left).
fn reap_runners(p: &Project) {
    for pid in runner_pids(p) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Attempt runners of this project still alive.
fn live_runners(p: &Project) -> usize {
    runner_pids(p).len()
}

/// The pids of `phase __runner --state-dir <this project's state>`.
fn runner_pids(p: &Project) -> Vec<i32> {
    let state = p.state().display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (args.contains(&&b"__runner"[..]) && args.contains(&state.as_bytes())).then_some(pid)
        })
        .collect()
}
