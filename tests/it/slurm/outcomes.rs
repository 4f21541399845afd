//! How single jobs end: success with output in the attempt's logs, an exit code, a
//! command that kills itself, a timeout under Slurm's one-minute grain, and cancels of a
//! running and of a pending job.

use std::time::{Duration, Instant};

use phase_coordinator::slurm::SlurmOptions;
use phase_coordinator::store::{CancelReason, Fence, read_outcome};

use super::{Bench, JOB_LIMIT, finished_in, held_options, run_until_finished, shared_cluster};
use super::{run_until_started, started_in};

#[test]
fn a_job_succeeds_with_its_output_in_the_attempts_logs_and_an_exact_record() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let req = b.request("ok", 1, "echo out-$PHASE_TEST_TASK; echo err >&2; pwd");
    let job = backend
        .submit(&req, &SlurmOptions::default())
        .expect("submit");
    // The id is on disk as soon as submit returns.
    assert_eq!(b.recorded_id("ok", 1), job.job_id);
    let events = run_until_finished(&mut backend, &[("ok", 1)], JOB_LIMIT);
    let f = finished_in(&events, "ok", 1).expect("finished");
    assert!(started_in(&events, "ok", 1), "{events:#?}");
    assert_eq!((f.finished.exit_code, f.finished.signal), (Some(0), None));
    assert!(!f.finished.timed_out && !f.finished.canceled && !f.finished.interrupted);
    assert_eq!(f.slurm_state.as_deref(), Some("COMPLETED"));
    assert_eq!(f.job_id, job.job_id);
    let work = b.path("work");
    let expected_out = format!("out-ok\n{}\n", work.display());
    assert_eq!(b.read(".state/logs/ok/1.out"), expected_out);
    assert_eq!(b.read(".state/logs/ok/1.err"), "err\n");
    assert_eq!(
        (f.finished.out_bytes, f.finished.err_bytes),
        (expected_out.len() as u64, 4)
    );
    assert_eq!(f.finished.stderr_tail, "err\n");
    assert!(f.finished.pid.is_some() && f.finished.started_at <= f.finished.finished_at);
    // The wrapper's record is what the report was made of, until the engine acks it.
    let record = read_outcome(&b.state, "ok", 1).unwrap().expect("record");
    assert!(
        record
            .runner
            .starts_with(&format!("slurm-{}@", job.job_id.unwrap()))
    );
    backend.ack("ok", 1).expect("ack");
    assert_eq!(read_outcome(&b.state, "ok", 1).unwrap(), None);
    assert_eq!(b.recorded_id("ok", 1), None);
    // Attempt 1 started: the fence says so, and it cannot be submitted again.
    assert_eq!(
        Fence::read(&b.state, "ok").unwrap().map(|f| f.attempt),
        Some(1)
    );
    assert!(backend.submit(&req, &SlurmOptions::default()).is_err());
}

#[test]
fn an_exit_code_and_a_self_kill_are_reported_exactly() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let options = SlurmOptions::default();
    backend
        .submit(&b.request("three", 1, "exit 3"), &options)
        .expect("submit");
    backend
        .submit(&b.request("killed", 2, "kill -9 $$"), &options)
        .expect("submit");
    let events = run_until_finished(&mut backend, &[("three", 1), ("killed", 2)], JOB_LIMIT);
    let three = finished_in(&events, "three", 1).unwrap();
    assert_eq!(
        (three.finished.exit_code, three.finished.signal),
        (Some(3), None)
    );
    assert_eq!(three.slurm_state.as_deref(), Some("FAILED"));
    let killed = finished_in(&events, "killed", 2).unwrap();
    // Slurm itself would say 137 → 9 "modulo 128"; the wrapper's record is exact.
    assert_eq!(
        (killed.finished.exit_code, killed.finished.signal),
        (None, Some(9))
    );
    assert!(!killed.finished.interrupted && killed.note.is_none());
}

#[test]
fn a_timeout_under_a_minute_ends_on_time_by_the_backends_cancel() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let mut req = b.request("slow", 1, "echo begun; exec sleep 300");
    req.timeout_ms = Some(2_000);
    backend
        .submit(&req, &SlurmOptions::default())
        .expect("submit");
    let events = run_until_started(&mut backend, "slow", 1);
    let began = Instant::now();
    let events = [
        events,
        run_until_finished(&mut backend, &[("slow", 1)], JOB_LIMIT),
    ]
    .concat();
    let f = finished_in(&events, "slow", 1).unwrap();
    // Slurm's own limit (1 minute, killing 61–84 s in) would be far later.
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "took {:?}",
        began.elapsed()
    );
    assert!(f.finished.timed_out && !f.finished.canceled, "{f:#?}");
    assert_eq!(f.slurm_state.as_deref(), Some("CANCELLED"));
    assert_eq!(
        f.finished.signal,
        Some(15),
        "the command got SIGTERM: {f:#?}"
    );
    assert!(f.finished.duration_ms >= 2_000, "{f:#?}");
    assert_eq!(b.read(".state/logs/slow/1.out"), "begun\n");
}

#[test]
fn a_running_job_is_cancelled() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    backend
        .submit(
            &b.request("run", 1, "exec sleep 300"),
            &SlurmOptions::default(),
        )
        .expect("submit");
    run_until_started(&mut backend, "run", 1);
    backend
        .cancel("run", 1, CancelReason::Canceled)
        .expect("cancel");
    let events = run_until_finished(&mut backend, &[("run", 1)], JOB_LIMIT);
    let f = finished_in(&events, "run", 1).unwrap();
    assert!(f.finished.canceled && !f.finished.timed_out, "{f:#?}");
    assert_eq!(
        (f.finished.signal, f.slurm_state.as_deref()),
        (Some(15), Some("CANCELLED"))
    );
    assert!(f.finished.pid.is_some());
}

#[test]
fn a_pending_job_is_cancelled_before_it_ever_starts() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let job = backend
        .submit(&b.request("held", 1, "touch ran"), &held_options())
        .expect("submit");
    // Pending: looked at, not started.
    assert!(backend.poll().is_empty());
    assert_eq!(backend.live()[0].1.as_deref(), Some("PENDING"));
    backend
        .cancel("held", 1, CancelReason::Canceled)
        .expect("cancel");
    let events = run_until_finished(&mut backend, &[("held", 1)], JOB_LIMIT);
    let f = finished_in(&events, "held", 1).unwrap();
    assert!(f.finished.canceled && f.finished.pid.is_none(), "{f:#?}");
    assert_eq!(f.finished.exit_code, None);
    assert!(!started_in(&events, "held", 1));
    assert_eq!(f.job_id, job.job_id);
    assert!(!b.path("work/ran").exists());
    assert_eq!(Fence::read(&b.state, "held").unwrap(), None, "never fenced");
}

#[test]
fn a_job_over_its_memory_is_out_of_memory() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let options = SlurmOptions {
        mem: Some("32M".into()),
        ..SlurmOptions::default()
    };
    // `tail -n 1` keeps its whole input in memory when there is no newline in it.
    let req = b.request("hog", 1, "head -c 400M /dev/zero | tail -n 1 >/dev/null");
    backend.submit(&req, &options).expect("submit");
    let events = run_until_finished(&mut backend, &[("hog", 1)], JOB_LIMIT);
    let f = finished_in(&events, "hog", 1).unwrap();
    assert_eq!(f.slurm_state.as_deref(), Some("OUT_OF_MEMORY"), "{f:#?}");
    assert!(
        f.note
            .as_deref()
            .is_some_and(|n| n.contains("out of memory")),
        "{f:#?}"
    );
}

#[test]
fn a_submission_slurm_refuses_is_reported_not_started_with_its_message() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let options = SlurmOptions {
        partition: Some("no-such-partition".into()),
        ..SlurmOptions::default()
    };
    let job = backend
        .submit(&b.request("bad", 1, "true"), &options)
        .expect("submit");
    assert_eq!(job.job_id, None);
    let events = run_until_finished(&mut backend, &[("bad", 1)], JOB_LIMIT);
    let f = finished_in(&events, "bad", 1).unwrap();
    let reason = f.finished.not_started_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("cannot start: sbatch failed"), "{f:#?}");
    assert!(reason.contains("invalid partition"), "{reason}");
    assert!(!f.finished.interrupted);
}

#[test]
fn a_missing_workdir_is_not_run_in_tmp_but_not_started() {
    let Some(_cluster) = shared_cluster() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let mut req = b.request("lost", 1, "touch ran-here");
    req.cwd = b.path("work/missing");
    backend
        .submit(&req, &SlurmOptions::default())
        .expect("submit");
    let events = run_until_finished(&mut backend, &[("lost", 1)], JOB_LIMIT);
    let f = finished_in(&events, "lost", 1).unwrap();
    let reason = f.finished.not_started_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("the workdir") && reason.contains("work/missing"),
        "{f:#?}"
    );
    assert!(!std::path::Path::new("/tmp/ran-here").exists());
}
