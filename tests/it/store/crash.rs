//! Crash safety of the atomic replace, with real processes: a writer rewriting a ~1 MB
//! `execution_results.json` is SIGKILLed at random moments; the file must be valid after
//! every kill, and the start-up sweep must remove the dead writers' temp files and only
//! those.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use phase_coordinator::model::{Attempt, ExecutionResults, StateDoc, Status, TaskResult};
use phase_coordinator::store::{
    LockGuard, LockWait, StateDir, StateFile, parse_state_document, sweep_stale_temp_files,
    write_atomic,
};

use crate::support::procs;
use crate::test_path;

const KILLS: usize = 100;
/// About 1.1 MB of JSON as the engine lays it out (one entry per line).
const ENTRIES: usize = 1300;
const WRITER_ROLE: &str = "large-writer";
const HOLDER_ROLE: &str = "temp-holder";

fn large_doc() -> ExecutionResults {
    let results = (0..ENTRIES)
        .map(|i| {
            let attempt = Attempt {
                attempt: 1,
                tool_id: "builder".to_string(),
                status: Status::Failed,
                exit_code: Some(2),
                reason: Some("exit code 2".to_string()),
                argv: vec!["make".to_string(), format!("target-{i}")],
                started_at: "2026-01-01T00:00:00.000Z".to_string(),
                finished_at: Some("2026-01-01T00:00:01.000Z".to_string()),
                duration_ms: 1000,
                log_out: format!("logs/task-{i}/1.out"),
                log_err: format!("logs/task-{i}/1.err"),
                stderr_tail: "error: something went wrong\n".repeat(8),
                executor: "host:1".to_string(),
                ..Attempt::default()
            };
            TaskResult {
                task_id: format!("task-{i}"),
                tool_id: "builder".to_string(),
                attempt: 1,
                exit_code: Some(2),
                status: Status::Failed,
                duration_ms: 1000,
                started_at: attempt.started_at.clone(),
                attempts: vec![attempt],
                ..TaskResult::default()
            }
        })
        .collect();
    ExecutionResults {
        results,
        ..ExecutionResults::default()
    }
}

/// Child: rewrites the large file through the protocol (sidecar lock, atomic replace),
/// alternating between two prepared versions so each rewrite costs only the I/O, until
/// killed (or 30 s pass, so a lost child cannot run forever).
#[test]
fn large_writer_child() {
    if !procs::is_role(WRITER_ROLE) {
        return;
    }
    let dir = procs::child_dir();
    let state = StateDir::new(dir.join(".state"));
    let versions = [
        std::fs::read(dir.join("version-a")).expect("read version a"),
        std::fs::read(dir.join("version-b")).expect("read version b"),
    ];
    let path = state.file(ExecutionResults::FILE);
    let lock_path = state.lock_path(ExecutionResults::FILE);
    procs::touch(&dir.join(format!("started-{}", std::process::id())));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0usize;
    while Instant::now() < deadline {
        let _guard = LockGuard::acquire(&lock_path, LockWait::Forever).expect("lock");
        write_atomic(&path, &versions[round % 2]).expect("write");
        round += 1;
    }
}

/// Child: a live writer in the middle of a write — it owns a temp file and keeps it.
#[test]
fn temp_holder_child() {
    if !procs::is_role(HOLDER_ROLE) {
        return;
    }
    let dir = procs::child_dir();
    let temp = dir
        .join(".state")
        .join(format!(".tmp-{}-inflight", std::process::id()));
    std::fs::write(&temp, b"{\"partial\": ").expect("write temp file");
    procs::touch(&dir.join(format!("started-{}", std::process::id())));
    procs::wait_for_file(&dir.join("release"), Duration::from_secs(60));
}

fn temp_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("list state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

fn wait_started(dir: &Path, worker: &procs::Worker) {
    let marker = dir.join(format!("started-{}", worker.pid()));
    worker.wait_for_marker(&marker, "the worker to start");
}

#[test]
fn file_stays_valid_across_100_sigkills_and_the_sweep_removes_only_dead_writers_temps() {
    if procs::role().is_some() {
        return;
    }
    let started = Instant::now();
    let mut rng = procs::Rng::from_env_or_clock();
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(tmp.path().join(".state"));
    state.ensure_layout().expect("layout");
    let path = state.file(ExecutionResults::FILE);
    let mut file = StateFile::<ExecutionResults>::new(&state);
    let mut doc = large_doc();
    let locked = file.lock(LockWait::Forever).expect("lock");
    locked.commit(&mut doc, "parent").expect("initial commit");
    let version_a = std::fs::read(&path).expect("read version a");
    doc.results[0].duration_ms += 1;
    doc.run_id = "other-run".to_string();
    let mut version_b = serde_json::to_vec_pretty(&doc).expect("serialise");
    version_b.push(b'\n');
    parse_state_document::<ExecutionResults>(&path, &version_b).expect("version b is valid");
    assert!(
        version_a.len() > 1_000_000,
        "only {} bytes",
        version_a.len()
    );
    std::fs::write(tmp.path().join("version-a"), &version_a).expect("write version a");
    std::fs::write(tmp.path().join("version-b"), &version_b).expect("write version b");

    let mut kills_leaving_temp = 0;
    let mut seen_b = 0;
    for kill in 1..=KILLS {
        let mut writer =
            procs::Worker::spawn(test_path!(large_writer_child), WRITER_ROLE, tmp.path(), &[]);
        wait_started(tmp.path(), &writer);
        let pause = rng.below(31);
        std::thread::sleep(Duration::from_millis(pause));
        let status = writer.kill9();
        let what = || format!("kill {kill} ({pause} ms after start, {status})");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: cannot read: {e}", what()));
        let doc = parse_state_document::<ExecutionResults>(&path, &bytes).unwrap_or_else(|e| {
            panic!(
                "{}: file invalid: {e}\nwriter output:\n{}",
                what(),
                writer.output()
            )
        });
        assert_eq!(doc.results.len(), ENTRIES, "{}: entries lost", what());
        assert!(
            bytes == version_a || bytes == version_b,
            "{}: the file is neither version ({} bytes)",
            what(),
            bytes.len()
        );
        seen_b += usize::from(bytes == version_b);
        let mine = format!(".tmp-{}-", writer.pid());
        if temp_files(state.root())
            .iter()
            .any(|n| n.starts_with(&mine))
        {
            kills_leaving_temp += 1;
        }
    }
    eprintln!(
        "{KILLS} kills in {:?}: {kills_leaving_temp} left a temp file; version b seen {seen_b} times",
        started.elapsed(),
    );
    assert!(
        seen_b > 0 && seen_b < KILLS,
        "version b seen {seen_b} of {KILLS} times: the writers were not killed mid-loop"
    );

    // A rewrite is mostly write + fsync with the temp file present, so most kills leave
    // one (73 of 100 when measured); none at all would mean the kills missed the writes.
    assert!(
        kills_leaving_temp > 0,
        "no kill left a temp file: the writer was never killed mid-write"
    );
    // One from a pid known to be dead makes the sweep's job certain.
    let crafted = state.file(&format!(".tmp-{}-crafted", procs::dead_pid()));
    std::fs::write(&crafted, b"{").expect("write crafted temp file");
    let mut holder =
        procs::Worker::spawn(test_path!(temp_holder_child), HOLDER_ROLE, tmp.path(), &[]);
    wait_started(tmp.path(), &holder);
    let live = format!(".tmp-{}-inflight", holder.pid());
    let before = temp_files(state.root());
    assert!(
        before.contains(&live),
        "holder's temp file missing: {before:?}"
    );

    let removed = sweep_stale_temp_files(&state).expect("sweep");
    let after = temp_files(state.root());
    assert_eq!(
        after,
        BTreeSet::from([live.clone()]),
        "the sweep must remove every dead writer's temp file and keep the live one \
         (before: {before:?})"
    );
    assert_eq!(removed, before.len() - 1, "sweep's count");
    assert!(!holder.has_exited(), "holder died: {}", holder.output());
    procs::touch(&tmp.path().join("release"));
    holder.wait_success(Duration::from_secs(20));
    eprintln!("total {:?}", started.elapsed());
}

/// The sweep's rules one by one: a live writer's fresh temp file stays, a dead writer's
/// goes, and anything older than an hour goes whatever pid its name carries (pids are
/// reused).
#[test]
fn sweep_keeps_live_writers_and_removes_dead_or_ancient_temp_files() {
    if procs::role().is_some() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = StateDir::new(tmp.path().join(".state"));
    state.ensure_layout().expect("layout");
    let me = std::process::id();
    let dead = procs::dead_pid();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let write = |dir: &Path, name: &str, old: bool| {
        let p = dir.join(name);
        let f = std::fs::File::create(&p).expect("create");
        if old {
            f.set_modified(two_hours_ago).expect("set mtime");
        }
    };
    write(state.root(), &format!(".tmp-{me}-fresh"), false);
    write(state.root(), &format!(".tmp-{me}-ancient"), true);
    write(state.root(), &format!(".tmp-{dead}-dead"), false);
    write(&state.inbox(), &format!(".tmp-{dead}-dead-in-inbox"), false);
    write(state.root(), ".tmp-nopid-fresh", false);
    write(state.root(), ".tmp-nopid-ancient", true);
    write(state.root(), "not-a-temp-file.json", true);

    let removed = sweep_stale_temp_files(&state).expect("sweep");

    let left = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .expect("list")
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        left(state.root()),
        BTreeSet::from([
            format!(".tmp-{me}-fresh"),
            ".tmp-nopid-fresh".to_string(),
            "not-a-temp-file.json".to_string(),
        ])
    );
    assert!(left(&state.inbox()).is_empty(), "inbox not swept");
    assert_eq!(removed, 4);
}
