//! Intake: what is routed when, what is rejected and how, what is ignored. The settle
//! rule is in docs/ROUTING.md "Intake".

use std::io::Write;
use std::time::{Duration, Instant};

use phase_coordinator::model::EventType;

use crate::support::router::{Bench, DEADLINE};
use crate::support::wait_until;

const DEFAULT: &str = "";

fn with_settle(ms: u64) -> String {
    format!("[routing]\nsettle_ms = {ms}\n")
}

#[test]
fn a_valid_file_is_routed_on_the_first_pass_without_settle_delay() {
    let mut b = Bench::new(&with_settle(5_000));
    b.publish("a.json", r#"{"kind":"shell","command":["true"]}"#);
    let outcome = b.reconcile();
    assert!(outcome.idle, "{outcome:?}");
    assert_eq!(b.ls("tasks"), vec!["a.json"]);
    assert_eq!(b.decisions().decisions.len(), 1);
}

#[test]
fn an_unparseable_file_settles_then_is_rejected_with_line_and_column() {
    let mut b = Bench::new(DEFAULT);
    let start = Instant::now();
    b.publish(
        "bad.json",
        "{\n  \"kind\": \"shell\",\n  \"command\": [\"a\"\n}\n",
    );
    let first = b.reconcile();
    assert!(!first.idle, "a broken file may still be being written");
    assert!(
        first.next_wake.is_some(),
        "the router must ask to be woken when it settles"
    );
    assert_eq!(b.ls("inbox"), vec!["bad.json"]);
    b.until_idle();
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "rejected before settle_ms"
    );

    assert_eq!(b.ls("inbox"), Vec::<String>::new());
    assert_eq!(b.ls("rejected"), vec!["bad.json", "bad.json.error.json"]);
    let note = b.json("rejected/bad.json.error.json");
    assert_eq!(note["file"], "bad.json");
    assert_eq!(note["line"], 4);
    assert_eq!(note["column"], 1);
    let msg = note["error"].as_str().unwrap();
    assert!(msg.starts_with("line 4, column 1: invalid JSON"), "{msg}");
    let rejected = b.events_of(EventType::TaskRejected);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].data["file"], "bad.json");
    assert_eq!(rejected[0].data["rejected_as"], "rejected/bad.json");
    assert_eq!(rejected[0].data["error"], msg);
}

#[test]
fn schema_errors_name_the_field() {
    let mut b = Bench::new(&with_settle(0));
    b.publish("typo.json", r#"{"kind":"shell","comand":["x"]}"#);
    b.publish("kind.json", r#"{"kind":5}"#);
    b.publish("dots.json", r#"{"kind":"shell","workdir":"../outside"}"#);
    b.until_idle();
    let typo = b.json("rejected/typo.json.error.json");
    assert!(typo["error"].as_str().unwrap().contains("comand"), "{typo}");
    let kind = b.json("rejected/kind.json.error.json");
    assert_eq!(kind["pointer"], "/kind", "{kind}");
    assert!(
        kind["error"].as_str().unwrap().starts_with("/kind: "),
        "{kind}"
    );
    let dots = b.json("rejected/dots.json.error.json");
    assert_eq!(dots["pointer"], "/workdir", "{dots}");
    assert!(b.ls("tasks").is_empty());
}

#[test]
fn a_rejected_file_never_overwrites_an_earlier_one() {
    let mut b = Bench::new(&with_settle(0));
    for round in 0..3 {
        b.publish("same.json", &format!("not json {round}"));
        b.until_idle();
    }
    assert_eq!(
        b.ls("rejected"),
        vec![
            "same.1.json",
            "same.1.json.error.json",
            "same.2.json",
            "same.2.json.error.json",
            "same.json",
            "same.json.error.json",
        ]
    );
    let kept = std::fs::read_to_string(b.path("rejected/same.json")).unwrap();
    assert_eq!(kept, "not json 0");
}

#[test]
fn hidden_temp_and_non_json_files_are_ignored() {
    let mut b = Bench::new(&with_settle(0));
    for name in [".hidden.json", "a.json.tmp", "notes.txt", ".tmp-1-x"] {
        std::fs::write(b.path(&format!("inbox/{name}")), "garbage").unwrap();
    }
    let outcome = b.reconcile();
    assert!(outcome.idle && outcome.next_wake.is_none(), "{outcome:?}");
    assert_eq!(b.ls("inbox").len(), 4);
    assert!(b.ls("rejected").is_empty());
    assert!(b.events().is_empty());
}

/// Three writes 50 ms apart into the same file, the first two incomplete JSON: the router
/// polls all along (and surely looks at each partial state: the writer waits for that)
/// and must neither route nor reject a half-written file.
#[test]
fn a_file_written_slowly_in_place_is_never_routed_half_written() {
    let mut b = Bench::new(DEFAULT);
    let path = b.path("inbox/slow.json");
    let (wrote_tx, wrote_rx) = crossbeam_channel::unbounded::<(usize, Instant)>();
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded::<()>();
    let parts = [r#"{"kind":"shell","#, r#""command":["echo","#, r#""hi"]}"#];
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::File::create(&path).unwrap();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            f.write_all(part.as_bytes()).unwrap();
            f.flush().unwrap();
            wrote_tx.send((i, Instant::now())).unwrap();
            seen_rx.recv().unwrap();
        }
    });
    let mut passes = 0;
    let last_write = wait_until("the writer's last part", DEADLINE, || {
        let wrote = wrote_rx.try_recv().ok();
        b.reconcile();
        passes += 1;
        assert!(
            b.ls("tasks").is_empty() && b.ls("rejected").is_empty(),
            "acted on a half-written file"
        );
        let (i, at) = wrote?;
        seen_tx.send(()).unwrap();
        (i == parts.len() - 1).then_some(at)
    });
    writer.join().unwrap();
    eprintln!("{passes} passes while the file was being written");
    // Now it must settle (100 ms) and route the complete file.
    wait_until("the complete file routed", DEADLINE, || {
        b.reconcile();
        assert!(
            b.ls("rejected").is_empty(),
            "rejected: {:?}",
            b.ls("rejected")
        );
        !b.ls("tasks").is_empty()
    });
    assert!(
        last_write.elapsed() >= Duration::from_millis(100),
        "routed before it settled"
    );
    let d = b.decisions();
    assert_eq!(d.decisions.len(), 1);
    assert_eq!(d.decisions[0].task.command, vec!["echo", "hi"]);
    assert_eq!(b.events_of(EventType::TaskRejected).len(), 0);
}

/// A file the router has seen in another state must hold still for settle_ms: the router
/// routes the last valid version, not the first.
#[test]
fn a_file_seen_changing_waits_for_settle_and_the_last_version_wins() {
    let mut b = Bench::new(&with_settle(300));
    let path = b.path("inbox/v.json");
    std::fs::write(&path, r#"{"kind":"shell","#).unwrap();
    assert!(!b.reconcile().idle);
    std::fs::write(&path, r#"{"kind":"shell","command":["v1"]}"#).unwrap();
    assert!(
        !b.reconcile().idle,
        "a file seen changing must settle first"
    );
    std::fs::write(&path, r#"{"kind":"shell","command":["v2", "longer"]}"#).unwrap();
    let changed_at = Instant::now();
    assert!(!b.reconcile().idle);
    assert!(b.ls("tasks").is_empty());
    b.until_idle();
    assert!(changed_at.elapsed() >= Duration::from_millis(300));
    let d = b.decisions();
    assert_eq!(d.decisions[0].task.command, vec!["v2", "longer"]);
}

#[test]
fn with_settle_zero_a_broken_file_is_rejected_at_once() {
    let mut b = Bench::new(&with_settle(0));
    b.publish("x.json", "{");
    assert!(b.reconcile().idle);
    assert_eq!(b.ls("rejected"), vec!["x.json", "x.json.error.json"]);
}

#[test]
fn a_symlink_settles_and_is_rejected_without_touching_its_target() {
    let mut b = Bench::new(DEFAULT);
    let target = b.dir.path().join("real.json");
    std::fs::write(&target, r#"{"kind":"shell"}"#).unwrap();
    std::os::unix::fs::symlink(&target, b.path("inbox/link.json")).unwrap();
    b.until_idle();
    assert_eq!(b.ls("rejected"), vec!["link.json", "link.json.error.json"]);
    let note = b.json("rejected/link.json.error.json");
    assert!(
        note["error"].as_str().unwrap().contains("symbolic link"),
        "{note}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        r#"{"kind":"shell"}"#
    );
}

#[test]
fn a_missing_tasks_directory_is_recreated() {
    let mut b = Bench::new(DEFAULT);
    std::fs::remove_dir(b.path("tasks")).unwrap();
    b.publish("a.json", r#"{"kind":"shell"}"#);
    b.until_idle();
    assert_eq!(b.ls("tasks"), vec!["a.json"]);
}
