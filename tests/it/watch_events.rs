//! The watch module with a real directory and a real watcher: wake-ups reach the right
//! subscribers, survive atomic replaces, ignore reads, and also come from the poller.

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use phase_coordinator::phase::Wake;
use phase_coordinator::store::{StateDir, write_atomic};
use phase_coordinator::watch::{Subscriber, Watch, WatchOptions};

use crate::support::store::temp_state;
use crate::support::wait_until;

const DEADLINE: Duration = Duration::from_secs(10);

struct Setup {
    _dir: tempfile::TempDir,
    state: StateDir,
    inbox_rx: Receiver<Wake>,
    results_rx: Receiver<Wake>,
    all_rx: Receiver<Wake>,
    _watch: Watch,
}

fn setup(options: WatchOptions) -> Setup {
    let (dir, state) = temp_state();
    let (inbox_tx, inbox_rx) = unbounded();
    let (results_tx, results_rx) = unbounded();
    let (all_tx, all_rx) = unbounded();
    let subscribers = vec![
        Subscriber::new(Box::new(|p: &Path| p.starts_with("inbox")), inbox_tx),
        Subscriber::new(
            Box::new(|p: &Path| p == Path::new("execution_results.json")),
            results_tx,
        ),
        Subscriber::new(Box::new(|_: &Path| true), all_tx),
    ];
    let watch = Watch::start(&state, options, subscribers).unwrap();
    Setup {
        _dir: dir,
        state,
        inbox_rx,
        results_rx,
        all_rx,
        _watch: watch,
    }
}

/// Waits for `Changed(path)` on `rx`, skipping (and consuming) other wake-ups.
fn wait_for_change(rx: &Receiver<Wake>, path: &str) {
    wait_until(format!("a wake-up for {path}"), DEADLINE, || {
        rx.try_iter()
            .any(|w| matches!(w, Wake::Changed(ref p) if p == path))
    });
}

/// Every event the watcher produced before this call has been dispatched once a marker
/// file written now shows up on the catch-all subscriber (one thread dispatches in order).
fn barrier(s: &Setup, name: &str) {
    std::fs::write(s.state.root().join(name), "{}").unwrap();
    wait_for_change(&s.all_rx, name);
}

fn publish(dir: &Path, name: &str, content: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn a_file_renamed_into_the_inbox_wakes_only_the_inbox_subscriber() {
    let s = setup(WatchOptions::default());
    publish(&s.state.inbox(), "a.json", r#"{"kind":"shell"}"#);
    wait_for_change(&s.inbox_rx, "inbox/a.json");
    barrier(&s, "marker-1");
    let stray: Vec<Wake> = s.results_rx.try_iter().collect();
    assert!(
        stray.is_empty(),
        "results subscriber woken by the inbox: {stray:?}"
    );
}

#[test]
fn atomic_replaces_wake_every_time() {
    let s = setup(WatchOptions::default());
    let results = s.state.file("execution_results.json");
    write_atomic(&results, b"{\"v\":1}").unwrap();
    wait_for_change(&s.results_rx, "execution_results.json");
    barrier(&s, "marker-1");
    s.results_rx.try_iter().for_each(drop);
    // The first rename replaced the inode; a per-file watch would be dead now.
    write_atomic(&results, b"{\"v\":2}").unwrap();
    wait_for_change(&s.results_rx, "execution_results.json");
}

#[test]
fn reading_a_file_wakes_nobody() {
    let s = setup(WatchOptions::default());
    let results = s.state.file("execution_results.json");
    write_atomic(&results, b"{}").unwrap();
    wait_for_change(&s.results_rx, "execution_results.json");
    barrier(&s, "marker-1");
    s.results_rx.try_iter().for_each(drop);
    // Opening and reading raise inotify OPEN/CLOSE_NOWRITE; reacting to them would make
    // every reader of a state file wake every phase, forever.
    for _ in 0..3 {
        std::fs::read(&results).unwrap();
    }
    barrier(&s, "marker-2");
    let stray: Vec<Wake> = s.results_rx.try_iter().collect();
    assert!(stray.is_empty(), "woken by reads: {stray:?}");
}

#[test]
fn temp_files_and_lock_files_are_ignored() {
    let s = setup(WatchOptions::default());
    std::fs::write(s.state.root().join(".tmp-1-x"), "x").unwrap();
    std::fs::write(s.state.inbox().join(".tmp-1-y"), "y").unwrap();
    barrier(&s, "marker-1");
    let seen: Vec<Wake> = s.all_rx.try_iter().collect();
    assert!(
        !seen
            .iter()
            .any(|w| matches!(w, Wake::Changed(p) if p.contains(".tmp-"))),
        "temp files forwarded: {seen:?}"
    );
}

#[test]
fn the_polling_watcher_also_wakes() {
    let s = setup(WatchOptions {
        poll: true,
        poll_interval: Duration::from_millis(20),
    });
    publish(&s.state.inbox(), "b.json", r#"{"kind":"shell"}"#);
    wait_for_change(&s.inbox_rx, "inbox/b.json");
    // Same size, same second: only the content comparison can see this one.
    let results = s.state.file("execution_results.json");
    write_atomic(&results, b"{\"v\":1}").unwrap();
    wait_for_change(&s.results_rx, "execution_results.json");
    std::fs::write(&results, b"{\"v\":2}").unwrap();
    wait_for_change(&s.results_rx, "execution_results.json");
}
