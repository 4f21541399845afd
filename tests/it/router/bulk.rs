//! Many files at once: each routed exactly once, in growing batches (one commit per
//! batch), oldest first.

use std::collections::HashSet;
use std::time::Instant;

use phase_coordinator::model::EventType;

use crate::support::router::{Bench, DEADLINE};
use crate::support::wait_until;

const N: usize = 1000;

fn stage(b: &Bench, n: usize) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    (0..n)
        .map(|i| {
            let tmp = b.path(&format!("inbox/.t{i:04}.json.tmp"));
            std::fs::write(
                &tmp,
                format!(r#"{{"kind":"shell","command":["echo","{i}"]}}"#),
            )
            .unwrap();
            (tmp, b.path(&format!("inbox/t{i:04}.json")))
        })
        .collect()
}

fn assert_routed_exactly_once(b: &Bench) {
    let d = b.decisions();
    assert_eq!(d.decisions.len(), N);
    let ids: HashSet<&str> = d.decisions.iter().map(|d| d.task_id.as_str()).collect();
    assert_eq!(ids.len(), N, "duplicate decisions");
    let seqs: HashSet<u64> = d.decisions.iter().map(|d| d.submission_seq).collect();
    assert_eq!(seqs, (1..=N as u64).collect::<HashSet<_>>());
    assert_eq!(b.ls("tasks").len(), N);
    assert!(b.ls("inbox").is_empty());
    assert!(b.ls("rejected").is_empty());
    let routed = b.events_of(EventType::TaskRouted);
    assert_eq!(routed.len(), N);
    let routed_ids: HashSet<&str> = routed.iter().filter_map(|e| e.task_id.as_deref()).collect();
    assert_eq!(routed_ids.len(), N);
    let total: u64 = b
        .events_of(EventType::RoutingComplete)
        .iter()
        .map(|e| e.data["routed"].as_u64().unwrap())
        .sum();
    assert_eq!(total, N as u64);
}

#[test]
fn a_thousand_files_dropped_at_once_are_routed_in_three_growing_batches() {
    let mut b = Bench::new("");
    for (tmp, target) in stage(&b, N) {
        std::fs::rename(tmp, target).unwrap();
    }
    let start = Instant::now();
    // The first 64 (oldest first) are committed before the rest are read, so their tasks
    // can start; each full batch lets the next take four times as many.
    let first = b.reconcile();
    assert!(!first.idle, "files are left for the next pass");
    assert_eq!(b.decisions().decisions.len(), 64);
    assert_eq!(b.ls("inbox").len(), N - 64);
    let mut passes = 1;
    while !b.reconcile().idle {
        passes += 1;
        assert!(passes < 10, "still not idle after {passes} passes");
    }
    eprintln!(
        "routed {N} files in {} passes: {:?}",
        passes + 1,
        start.elapsed()
    );
    assert_routed_exactly_once(&b);
    let batches: Vec<u64> = b
        .events_of(EventType::RoutingComplete)
        .iter()
        .map(|e| e.data["routed"].as_u64().unwrap())
        .collect();
    assert_eq!(batches, [64, 256, 680], "one commit per batch");
    // Oldest first: the first batch is the first 64 files dropped.
    let d = b.decisions();
    let mut first_ids: Vec<&str> = d.decisions[..64]
        .iter()
        .map(|d| d.task_id.as_str())
        .collect();
    first_ids.sort();
    let expected: Vec<String> = (0..64).map(|i| format!("t{i:04}")).collect();
    assert_eq!(first_ids, expected);
}

#[test]
fn a_thousand_files_arriving_while_the_router_runs_are_each_routed_once() {
    let mut b = Bench::new("");
    let staged = stage(&b, N);
    let publisher = std::thread::spawn(move || {
        for (tmp, target) in staged {
            std::fs::rename(tmp, target).unwrap();
        }
    });
    let start = Instant::now();
    wait_until(format!("all {N} files routed"), DEADLINE, || {
        b.reconcile();
        b.ls("tasks").len() >= N
    });
    publisher.join().unwrap();
    assert!(b.until_idle().idle);
    let batches = b.events_of(EventType::RoutingComplete).len();
    eprintln!(
        "routed {N} files arriving concurrently in {batches} batches: {:?}",
        start.elapsed()
    );
    assert_routed_exactly_once(&b);
}
