//! The crash test: `phase run` SIGKILLed at random moments, over and over, while short
//! tasks (mixed durations, dependencies, some failing once) run; restarted after each
//! kill. Every state file stays valid, no task is lost, none runs more often than its
//! recorded attempts or twice at once, and none is quarantined or `dep_failed` for it.
//!
//! Size: `PHASE_CRASH_TASKS` (default 1,000) tasks and `PHASE_CRASH_KILLS` (default 100)
//! kills; `scripts/crash-test.sh` runs the larger figures of docs/RELIABILITY.md. The seed
//! is printed (`PHASE_TEST_SEED` replays it).

use std::time::{Duration, Instant};

use super::snapshots::Validations;
use super::{Audit, TOOL, assert_valid, live_runners, reap_runners, task_json, task_script};
use crate::support::procs::Rng;
use crate::support::wait::Deadline;
use crate::support::{Project, fast_config, wait_until};

const CONFIG: &str = fast_config!("100", "max_parallel = 4\nshutdown_grace_ms = 2000");

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkills_at_random_moments_lose_nothing_and_run_nothing_twice() {
    let tasks = knob("PHASE_CRASH_TASKS", 1_000);
    let kills = knob("PHASE_CRASH_KILLS", 100);
    let mut rng = Rng::from_env_or_clock();
    let p = Project::with_config(&format!("{CONFIG}{TOOL}"));
    let (script, effects) = task_script(&p);
    let ids: Vec<String> = (0..tasks).map(|i| format!("c{i:05}")).collect();
    let mut fail_once = 0;
    let mut files = Vec::with_capacity(tasks);
    for (i, id) in ids.iter().enumerate() {
        // Durations: 20 % instant, 50 % up to 100 ms, 30 % 100–500 ms.
        let ms = match rng.below(10) {
            0..2 => 0,
            2..7 => 1 + rng.below(100),
            _ => 100 + rng.below(400),
        };
        let fails = rng.below(10) == 0;
        fail_once += usize::from(fails);
        // A third depends on one or two of the 50 tasks before it.
        let deps: Vec<String> = if i > 0 && rng.below(3) == 0 {
            let n = 1 + rng.below(2) as usize;
            let mut d: Vec<String> = (0..n)
                .map(|_| ids[i - 1 - rng.below(i.min(50) as u64) as usize].clone())
                .collect();
            d.sort();
            d.dedup();
            d
        } else {
            Vec::new()
        };
        files.push(task_json(&script, &effects, id, ms, fails, &deps));
    }

    let started = Instant::now();
    let mut kill_times = Vec::with_capacity(kills);
    let mut validations = Validations::default();
    // Tasks arrive in waves, one before each start, so that every engine has work.
    let wave = tasks.div_ceil(kills.max(1));
    let mut dropped = 0;
    for k in 0..kills {
        for (id, file) in ids.iter().zip(&files).skip(dropped).take(wave) {
            p.drop_task(id, file.clone());
        }
        dropped = (dropped + wave).min(tasks);
        let mut engine = p.spawn(&["run"], "engine");
        // A random moment: three times in ten while it starts (intake, adoption of what
        // the last one left), else once commands run, at a random point of their work.
        // The delays are the chosen moments, not waits for a condition.
        if rng.below(10) < 3 {
            std::thread::sleep(Duration::from_millis(rng.below(600)));
        } else {
            let busy = Deadline::new("commands to run", Duration::from_secs(3));
            let _ = busy.poll(|| commands_running(&script) > 0);
            std::thread::sleep(Duration::from_millis(rng.below(150)));
        }
        kill_times.push(now_ns());
        engine.kill().expect("SIGKILL the engine");
        engine.wait().expect("reap the engine");
        validations.start(&p, k);
    }
    let kill_phase = started.elapsed();
    for (id, file) in ids.iter().zip(&files).skip(dropped) {
        p.drop_task(id, file.clone());
    }

    validations.reap(true);
    assert_eq!(validations.passed, kills, "phase validate after every kill");
    let (code, _, err) = p.run(&["run", "--once"], Duration::from_secs(300));
    let audit = Audit::of(&p, &effects, &ids);
    let busy_kills = audit.kills_during_runs(&kill_times);
    eprintln!(
        "crash test: {kills} SIGKILLs ({busy_kills} with attempts running) over {tasks} tasks \
         ({fail_once} failing once) in {kill_phase:?}; {} runs; unrecorded re-runs {}, \
         concurrent copies {}, lost {}, interrupted attempts {}, repeated ending events {}, \
         statuses {:?}",
        audit.runs,
        audit.unrecorded_reruns.len(),
        audit.concurrent_copies.len(),
        audit.lost.len(),
        audit.interrupted,
        repeated_endings(&p),
        audit
            .statuses
            .iter()
            .map(|(s, t)| (s.as_str(), t.len()))
            .collect::<Vec<_>>(),
    );
    assert_valid(&p, "at the end");
    audit.assert_clean();
    assert_eq!(
        (audit.count("quarantined"), audit.count("dep_failed")),
        (0, 0),
        "crash-caused quarantines or dep_failed: {:?}",
        audit.statuses
    );
    assert_eq!(code, 0, "every task succeeds in the end: {err}");
    assert_eq!(audit.count("succeeded"), tasks);
    assert!(
        busy_kills * 5 >= kills * 2,
        "at least 40 % of the kills hit running commands ({busy_kills} of {kills})"
    );
    wait_until(
        "the attempt runners to exit",
        Duration::from_secs(30),
        || live_runners(&p) == 0,
    );
    reap_runners(&p);
}

/// How many task commands (`task.sh` of this project) run right now.
fn commands_running(script: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == script.as_bytes())
        })
        .count()
}

/// The wall clock in ns, as the task script stamps its runs.
fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Ending events (TASK_SUCCEEDED, TASK_FAILED) logged more than once for one attempt: an
/// engine killed after appending its events and before the results write they belong
/// to records the attempt again from its outcome record (events are at least once).
fn repeated_endings(p: &Project) -> usize {
    let mut seen = std::collections::HashMap::new();
    for e in p.events() {
        if e["type"] == "TASK_SUCCEEDED" || e["type"] == "TASK_FAILED" {
            let key = (e["task_id"].to_string(), e["attempt"].to_string());
            *seen.entry(key).or_insert(0usize) += 1;
        }
    }
    seen.values().map(|n| n - 1).sum()
}
