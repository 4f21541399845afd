//! Bad input never hangs and never panics (issue 8): a table of bad task files, inbox file
//! names, state files, event logs and config files (`bad_input/cases.rs`), each run through
//! the real binary in a fresh project under a deadline, with its expected exit code and
//! error text naming the file and the field, and no panic text on stderr.
//!
//! The cases run on a few threads at once (each is mostly a child process waiting); every
//! failing case is listed, not just the first. `BAD_INPUT_CASE=<substring>` runs only the
//! cases whose name holds it.

mod cases;
mod harness;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use harness::Case;

/// Cases run at once: the machine has 2 cores and each case mostly waits on a child.
const WORKERS: usize = 4;

#[test]
fn every_bad_input_gets_its_error_and_nothing_hangs_or_panics() {
    let all = cases::all();
    assert!(all.len() >= 100, "the table holds {} cases", all.len());
    let names: BTreeSet<&str> = all.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), all.len(), "case names must be unique");
    let only = std::env::var("BAD_INPUT_CASE").unwrap_or_default();
    let chosen: Vec<&Case> = all.iter().filter(|c| c.name.contains(&only)).collect();

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let timings = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(case) = chosen.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = catch_unwind(AssertUnwindSafe(|| case.run()))
                        .unwrap_or_else(|_| Err("the case's setup panicked".to_string()));
                    match outcome {
                        Ok(took) => lock(&timings).push((took, case.name.clone())),
                        Err(why) => lock(&failures).push(format!("{}: {why}", case.name)),
                    }
                }
            });
        }
    });
    let mut timings = lock(&timings).clone();
    timings.sort();
    let slowest: Vec<String> = timings
        .iter()
        .rev()
        .take(3)
        .map(|(t, n)| format!("{n} ({t:.1?})"))
        .collect();
    eprintln!(
        "bad-input table: {} cases in {:.1?}; slowest: {}",
        chosen.len(),
        started.elapsed(),
        slowest.join(", ")
    );
    let failures = lock(&failures).clone();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        chosen.len(),
        failures.join("\n\n")
    );
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
