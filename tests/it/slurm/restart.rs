//! Crashes: the engine SIGKILLed with jobs queued and running (with and without their ids
//! recorded), then a new backend adopts every job — none submitted twice, outcomes exact;
//! and slurmctld killed and restarted while a job runs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use phase_coordinator::slurm::SlurmOptions;
use phase_coordinator::store::Fence;

use super::{Bench, JOB_LIMIT, finished_in, run_until_finished, run_until_started};
use super::{shared_cluster, whole_cluster};
use crate::support::procs::{self, output_within};
use crate::support::wait_until;
use crate::test_path;

const DRIVER: &str = "slurm-driver";
/// Set for a driver that must not record job ids (dies "between sbatch and the record").
const UNRECORDED: &str = "PHASE_TEST_UNRECORDED";

/// `(task, script, exit code, signal)`: what each job does and how it must end. Each
/// appends to `work/runs-<task>`, so a second run would show.
const JOBS: [(&str, &str, Option<i32>, Option<i32>); 4] = [
    ("a", "echo run >>runs-a; sleep 2", Some(0), None),
    ("b", "echo run >>runs-b; sleep 2; exit 5", Some(5), None),
    ("c", "echo run >>runs-c; sleep 1; kill -9 $$", None, Some(9)),
    // Held in the queue (`--hold`) until the test releases it after the crash.
    ("d", "echo run >>runs-d; exit 7", Some(7), None),
];

/// Child: an engine that submits [`JOBS`] (recording their ids or not), waits until one
/// runs, says so in `driver-ready`, and waits to be killed (before any pass).
#[test]
fn driver_child() {
    if !procs::is_role(DRIVER) {
        return;
    }
    let b = Bench::at(&procs::child_dir());
    let mut backend = b.backend();
    let recorded = std::env::var(UNRECORDED).is_err();
    for (task, script, ..) in JOBS {
        let options = match task {
            "d" => SlurmOptions {
                extra_args: vec!["--hold".into()],
                ..SlurmOptions::default()
            },
            _ => SlurmOptions::default(),
        };
        let req = b.request(task, 1, script);
        let submitted = match recorded {
            true => backend.submit(&req, &options),
            false => backend.submit_unrecorded(&req, &options),
        };
        submitted.expect("submit");
    }
    // Not by polling: a pass would find the unrecorded ids by name and record them.
    wait_until("job a to start", JOB_LIMIT, || {
        Fence::read(&b.state, "a").expect("fence").is_some()
    });
    std::fs::write(b.path("driver-ready"), "").expect("marker");
    procs::wait_for_file(&b.path("never"), Duration::from_secs(120));
}

fn sigkilled_engine_then_adoption(recorded: bool) {
    let b = Bench::new();
    let env = match recorded {
        true => vec![],
        false => vec![(UNRECORDED, "1".to_string())],
    };
    let mut driver = procs::Worker::spawn(test_path!(driver_child), DRIVER, &b.root, &env);
    driver.wait_for_marker(
        &b.path("driver-ready"),
        "the driver to submit and see a job run",
    );
    driver.kill9();
    let ids_before: Vec<Option<String>> = JOBS.iter().map(|j| b.recorded_id(j.0, 1)).collect();
    assert_eq!(
        ids_before.iter().all(Option::is_some),
        recorded,
        "{ids_before:?}"
    );
    let mut backend = b.backend();
    let adopted = backend.adopt().expect("adopt");
    assert_eq!(adopted.len(), JOBS.len(), "{adopted:?}");
    assert!(
        backend.adopt().expect("adopt again").is_empty(),
        "adopted once only"
    );
    // The held job is released only now: a job pending across the crash runs too.
    let held = wait_for_one_job(&b, "d");
    release(&held);
    let keys: Vec<(&str, u32)> = JOBS.iter().map(|j| (j.0, 1)).collect();
    let events = run_until_finished(&mut backend, &keys, JOB_LIMIT);
    for (i, (task, _, code, signal)) in JOBS.iter().enumerate() {
        let f = finished_in(&events, task, 1).unwrap();
        assert_eq!(
            (f.finished.exit_code, f.finished.signal),
            (*code, *signal),
            "{f:#?}"
        );
        assert!(!f.finished.interrupted && !f.finished.canceled, "{f:#?}");
        // Found again by name when the id was never recorded, and recorded now.
        let id = b.recorded_id(task, 1).expect("an id on record");
        assert_eq!(f.job_id.as_ref(), Some(&id));
        if recorded {
            assert_eq!(ids_before[i].as_ref(), Some(&id));
        }
        assert_eq!(b.jobs_named(task, 1), vec![id], "{task} submitted once");
        assert_eq!(
            b.read(&format!("work/runs-{task}")),
            "run\n",
            "{task} ran once"
        );
        backend.ack(task, 1).expect("ack");
    }
    assert!(backend.live().is_empty());
}

#[test]
fn a_sigkilled_engines_jobs_are_adopted_by_id_and_never_submitted_twice() {
    let Some(_cluster) = procs::role().is_none().then(shared_cluster).flatten() else {
        return;
    };
    sigkilled_engine_then_adoption(true);
}

#[test]
fn jobs_whose_ids_were_never_recorded_are_found_by_name() {
    let Some(_cluster) = procs::role().is_none().then(shared_cluster).flatten() else {
        return;
    };
    sigkilled_engine_then_adoption(false);
}

#[test]
fn a_job_running_through_a_slurmctld_restart_ends_exactly() {
    // Alone: the other tests' submissions would fail while the controller is down.
    let Some(_cluster) = procs::role().is_none().then(whole_cluster).flatten() else {
        return;
    };
    let b = Bench::new();
    let mut backend = b.backend();
    let req = b.request("steady", 1, "sleep 4; echo survived; exit 6");
    backend
        .submit(&req, &SlurmOptions::default())
        .expect("submit");
    let _healthy = Healthy;
    let started = std::time::SystemTime::now();
    run_until_started(&mut backend, "steady", 1);
    // slurmctld saves its state a few seconds after a change: killed before that, it
    // forgets the job started and runs it again (Slurm's own duplicate, which drains the
    // node). Wait until the saved state is newer than the start.
    wait_until("slurmctld to save the running job", JOB_LIMIT, || {
        std::fs::metadata(CTLD_JOB_STATE)
            .and_then(|m| m.modified())
            .is_ok_and(|saved| saved > started + Duration::from_secs(1))
    });
    slurm_local("restart-ctld");
    let events = run_until_finished(&mut backend, &[("steady", 1)], JOB_LIMIT);
    let f = finished_in(&events, "steady", 1).unwrap();
    assert_eq!(
        (f.finished.exit_code, f.finished.signal),
        (Some(6), None),
        "{f:#?}"
    );
    assert!(!f.finished.interrupted, "{f:#?}");
    assert_eq!(b.read(".state/logs/steady/1.out"), "survived\n");
}

/// Where the local cluster's slurmctld saves its job state (scripts/slurm-local.sh).
const CTLD_JOB_STATE: &str = "/var/spool/slurmctld/job_state";

/// Leaves the local cluster taking jobs, whatever the test did to it.
struct Healthy;

impl Drop for Healthy {
    fn drop(&mut self) {
        slurm_local("start");
    }
}

/// Runs `scripts/slurm-local.sh VERB`, which must succeed.
fn slurm_local(verb: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local.sh");
    let mut cmd = Command::new(script);
    let out = output_within(cmd.arg(verb), Duration::from_secs(90), verb);
    assert!(
        out.status.success(),
        "{verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one job the cluster has under `task`'s attempt-1 name (polling: it may take a pass).
fn wait_for_one_job(b: &Bench, task: &str) -> String {
    let ids = wait_until(format!("job {task} in the queue"), JOB_LIMIT, || {
        Some(b.jobs_named(task, 1)).filter(|ids| !ids.is_empty())
    });
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

fn release(id: &str) {
    let mut cmd = Command::new("scontrol");
    let out = output_within(
        cmd.args(["release", id]),
        Duration::from_secs(30),
        "scontrol release",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
