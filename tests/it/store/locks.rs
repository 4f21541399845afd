//! Sidecar locks and claims held by another real process: bounded waits time out, `NoWait`
//! does not wait, and the kernel frees both when the holder exits or is SIGKILLed.

use std::path::Path;
use std::time::{Duration, Instant};

use phase_coordinator::Error;
use phase_coordinator::model::{ExecutionResults, StateDoc};
use phase_coordinator::store::{Claim, LockGuard, LockWait, StateDir, StateFile};

use crate::support::procs;
use crate::support::store::temp_state;
use crate::test_path;

const LOCK_HOLDER: &str = "lock-holder";
const CLAIM_HOLDER: &str = "claim-holder";
const TASK: &str = "build-1";

fn state_in(dir: &Path) -> StateDir {
    StateDir::new(dir.join(".state"))
}

/// Child: holds the sidecar lock of `execution_results.json` until `release` appears.
#[test]
fn lock_holder_child() {
    if !procs::is_role(LOCK_HOLDER) {
        return;
    }
    let dir = procs::child_dir();
    let state = state_in(&dir);
    let _guard = LockGuard::try_acquire(&state.lock_path(ExecutionResults::FILE))
        .expect("lock")
        .expect("the parent must not hold the lock yet");
    procs::touch(&dir.join(format!("holding-{}", std::process::id())));
    procs::wait_for_file(&dir.join("release"), Duration::from_secs(60));
}

/// Child: claims task `TASK` until `release` appears.
#[test]
fn claim_holder_child() {
    if !procs::is_role(CLAIM_HOLDER) {
        return;
    }
    let dir = procs::child_dir();
    let _claim = Claim::try_acquire(&state_in(&dir), TASK)
        .expect("claim")
        .expect("nobody else claims the task yet");
    procs::touch(&dir.join(format!("holding-{}", std::process::id())));
    procs::wait_for_file(&dir.join("release"), Duration::from_secs(60));
}

/// Starts `role` and waits until it says it holds what it takes.
fn start_holder(dir: &Path, test_name: &str, role: &str) -> procs::Worker {
    let worker = procs::Worker::spawn(test_name, role, dir, &[]);
    let marker = dir.join(format!("holding-{}", worker.pid()));
    worker.wait_for_marker(&marker, &format!("{role} to take its lock"));
    worker
}

#[test]
fn bounded_wait_times_out_and_no_wait_returns_none_while_another_process_holds_the_lock() {
    if procs::role().is_some() {
        return;
    }
    let (tmp, state) = temp_state();
    let lock_path = state.lock_path(ExecutionResults::FILE);
    let mut holder = start_holder(tmp.path(), test_path!(lock_holder_child), LOCK_HOLDER);

    let limit = Duration::from_millis(100);
    let t = Instant::now();
    let outcome = LockGuard::acquire(&lock_path, LockWait::AtMost(limit));
    let waited = t.elapsed();
    match outcome {
        Err(Error::LockTimeout { path, waited_ms }) => {
            assert_eq!(path, lock_path);
            assert_eq!(waited_ms, 100);
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(
        waited >= limit && waited < Duration::from_secs(1),
        "AtMost(100ms) gave up after {waited:?}"
    );

    // The same through a state file handle, and the message names the lock file.
    let mut file = StateFile::<ExecutionResults>::new(&state);
    let err = file
        .lock(LockWait::AtMost(limit))
        .expect_err("the lock is held elsewhere");
    let message = err.to_string();
    assert!(
        message.contains(&lock_path.display().to_string()) && message.contains("100 ms"),
        "message: {message}"
    );

    let t = Instant::now();
    assert!(
        LockGuard::try_acquire(&lock_path)
            .expect("NoWait")
            .is_none()
    );
    assert!(file.try_lock().expect("NoWait").is_none());
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "NoWait waited {:?}",
        t.elapsed()
    );

    holder.kill9();
    // Reaped, so the kernel has closed its descriptor: the lock is free at once.
    let guard = LockGuard::try_acquire(&lock_path).expect("NoWait after kill");
    assert!(
        guard.is_some(),
        "lock still held after the holder was killed"
    );
    drop(guard);
    assert!(file.try_lock().expect("lock").is_some());
}

#[test]
fn lock_is_free_once_the_holder_exits_and_a_bounded_wait_gets_it() {
    if procs::role().is_some() {
        return;
    }
    let (tmp, state) = temp_state();
    let lock_path = state.lock_path(ExecutionResults::FILE);
    let holder = start_holder(tmp.path(), test_path!(lock_holder_child), LOCK_HOLDER);
    assert!(
        LockGuard::try_acquire(&lock_path)
            .expect("NoWait")
            .is_none(),
        "the holder's lock is not visible"
    );

    // Released while we wait: a bounded wait succeeds well before its limit.
    procs::touch(&tmp.path().join("release"));
    let t = Instant::now();
    let guard = LockGuard::acquire(&lock_path, LockWait::AtMost(Duration::from_secs(20)))
        .expect("bounded wait");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(guard.path(), lock_path);
    holder.wait_success(Duration::from_secs(20));
}

#[test]
fn a_claim_is_held_while_its_process_lives_and_free_after_sigkill() {
    if procs::role().is_some() {
        return;
    }
    let (tmp, state) = temp_state();
    assert!(
        !Claim::is_held(&state, TASK).expect("is_held"),
        "nobody claimed it yet"
    );
    let mut holder = start_holder(tmp.path(), test_path!(claim_holder_child), CLAIM_HOLDER);

    assert!(Claim::is_held(&state, TASK).expect("is_held"));
    assert!(
        Claim::try_acquire(&state, TASK)
            .expect("try_acquire")
            .is_none(),
        "two processes claimed the same task"
    );
    assert!(
        Claim::is_held(&state, TASK).expect("is_held"),
        "a failed claim attempt dropped the holder's claim"
    );

    holder.kill9();
    assert!(
        !Claim::is_held(&state, TASK).expect("is_held"),
        "the claim outlived its SIGKILLed holder"
    );
    let claim = Claim::try_acquire(&state, TASK)
        .expect("try_acquire")
        .expect("the claim is free after the holder died");
    // Held by this process: also reads as held here.
    assert!(Claim::is_held(&state, TASK).expect("is_held"));
    drop(claim);
    assert!(!Claim::is_held(&state, TASK).expect("is_held"));
}
