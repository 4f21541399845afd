//! A log that cannot be written (disk full, a file where its directory should be) is
//! recorded on the attempt — in `finished` and in the outcome record — never a silent
//! empty log; the attempt itself runs on.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Bench, STEP, ack, finished, gated, start};
use crate::support::{procs, wait_until};

#[test]
fn a_full_device_is_recorded_with_the_bytes_lost() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let mut req = b.request("t", 1, "head -c 100000 /dev/zero; echo fine >&2");
    // /dev/full takes the open and refuses every write with ENOSPC.
    req.out_log = PathBuf::from("/dev/full");
    start(&mut runner, &req);
    let f = finished(&runner, "t", 1);
    assert_eq!(
        (f.exit_code, f.out_bytes, f.stderr_tail.as_str()),
        (Some(0), 100_000, "fine\n")
    );
    let error = f.log_error.expect("the lost output is recorded");
    assert!(
        error.starts_with("stdout: /dev/full: cannot write: "),
        "{error}"
    );
    assert!(
        error.ends_with("100000 of 100000 bytes not written"),
        "{error}"
    );
    ack(&mut runner, "t", 1);
}

#[test]
fn a_log_that_cannot_be_created_is_in_the_outcome_record() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let mut runner = b.runner();
    let blocker = b.path("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let mut req = b.request("t", 1, &format!("{}; echo oops >&2", gated("go")));
    req.err_log = blocker.join("1.err");
    let pid = start(&mut runner, &req);
    b.reap_group_later(pid);
    runner.detach();
    procs::touch(&b.path("go"));
    let record = wait_until("the outcome record", STEP, || b.outcome("t", 1));
    let error = record.log_error.expect("recorded");
    assert!(error.starts_with("stderr: "), "{error}");
    assert!(
        error.contains("not-a-dir/1.err: cannot create: "),
        "{error}"
    );
    assert!(error.ends_with("5 of 5 bytes not written"), "{error}");
    // The tail is kept in memory: the message is not lost with the log.
    assert_eq!(
        (record.stderr_tail.as_str(), record.exit_code),
        ("oops\n", Some(0))
    );
    assert_eq!(
        std::fs::read_to_string(&req.out_log).unwrap(),
        "ready\ndone\n"
    );
}

/// A small tmpfs, unmounted on drop. `None` where mounting is not allowed (not root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        mounted.status.success().then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_file_system_keeps_what_fit_and_records_the_rest() {
    if procs::role().is_some() {
        return;
    }
    let mut b = Bench::new();
    let Some(fs) = Tmpfs::mount(&b.path("small"), "64k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let mut runner = b.runner();
    let mut req = b.request("t", 1, "head -c 300000 /dev/zero");
    req.out_log = fs.0.join("logs/t/1.out");
    start(&mut runner, &req);
    let f = finished(&runner, "t", 1);
    assert_eq!((f.exit_code, f.out_bytes), (Some(0), 300_000));
    let error = f.log_error.expect("recorded");
    assert!(error.contains("No space left on device"), "{error}");
    let kept = std::fs::metadata(&req.out_log).unwrap().len();
    let lost: u64 = error
        .rsplit("; ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("bytes lost");
    assert!(kept > 0 && kept < 300_000, "{kept}");
    assert_eq!(kept + lost, 300_000, "{error}");
    ack(&mut runner, "t", 1);
    wait_until("the claim to be free", STEP, || !b.held("t"));
    drop(runner);
    drop(fs);
}
