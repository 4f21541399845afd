//! What one submission asks of `sbatch`: the unique job name, the arguments and the batch
//! script, which `exec`s the engine's own job wrapper (`phase __slurm-job`) around argv.

use std::path::Path;

use super::SlurmOptions;
use crate::runner::RunRequest;

/// The job name of `task`'s `attempt` under the state directory `state_root` (absolute):
/// `phase-<task>-<attempt>-<hash>`. The hash tells apart state directories sharing a
/// cluster; it is FNV-1a, stable across builds (std's hasher is not), so a restarted engine
/// of another version finds the job by the same name.
pub fn job_name(state_root: &Path, task: &str, attempt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in state_root.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("phase-{task}-{attempt}-{:08x}", hash >> 32)
}

/// `--time` in whole minutes, rounded up (Slurm's unit; at least 1). The engine cancels at
/// the exact timeout itself; this limit only holds while no engine runs.
pub fn time_limit_minutes(timeout_ms: u64) -> u64 {
    timeout_ms.div_ceil(60_000).max(1)
}

/// The `sbatch` arguments (before `--parsable`, which the client adds). Every path is
/// absolute: the job runs elsewhere, from `--chdir`.
pub fn sbatch_args(req: &RunRequest, options: &SlurmOptions, name: &str) -> Vec<String> {
    let mut args = vec![
        format!("--job-name={name}"),
        format!("--chdir={}", req.cwd.display()),
        format!("--output={}", req.out_log.display()),
        format!("--error={}", req.err_log.display()),
        // A requeued job would run the wrapper again; the fence would refuse it, but the
        // cluster would report the first run's end as something else.
        "--no-requeue".to_string(),
        "--open-mode=truncate".to_string(),
    ];
    if let Some(ms) = req.timeout_ms {
        args.push(format!("--time={}", time_limit_minutes(ms)));
    }
    let pairs = [
        ("--partition", options.partition.clone()),
        ("--account", options.account.clone()),
        ("--qos", options.qos.clone()),
        ("--cpus-per-task", options.cpus.map(|c| c.to_string())),
        ("--mem", options.mem.clone()),
    ];
    for (flag, value) in pairs {
        if let Some(v) = value {
            args.push(format!("{flag}={v}"));
        }
    }
    // Last, so a site can override anything above.
    args.extend(options.extra_args.iter().cloned());
    args
}

/// The batch script: one `exec` of `program` as the job wrapper, every word quoted.
pub fn batch_script(program: &Path, state_root: &Path, req: &RunRequest) -> String {
    let mut words = vec![
        program.display().to_string(),
        "--state-dir".into(),
        state_root.display().to_string(),
        "__slurm-job".into(),
        "--task".into(),
        req.task.clone(),
        "--attempt".into(),
        req.attempt.to_string(),
        "--workdir".into(),
        req.cwd.display().to_string(),
        "--tail-bytes".into(),
        req.tail_bytes.to_string(),
    ];
    if let Some(ms) = req.timeout_ms {
        words.extend(["--timeout-ms".into(), ms.to_string()]);
    }
    words.push("--".into());
    words.extend(req.argv.iter().cloned());
    let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
    format!("#!/bin/sh\nexec {}\n", line.join(" "))
}

/// `word` as one POSIX shell word: single quotes, each `'` written `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_attempt_and_state_directory_and_stable() {
        let a = job_name(Path::new("/p/.state"), "build-1", 2);
        assert!(a.starts_with("phase-build-1-2-") && a.len() == "phase-build-1-2-".len() + 8);
        assert_eq!(a, job_name(Path::new("/p/.state"), "build-1", 2));
        assert_ne!(a, job_name(Path::new("/q/.state"), "build-1", 2));
        assert_ne!(a, job_name(Path::new("/p/.state"), "build-1", 3));
    }

    #[test]
    fn time_limits_round_up_to_whole_minutes() {
        assert_eq!(time_limit_minutes(1), 1);
        assert_eq!(time_limit_minutes(60_000), 1);
        assert_eq!(time_limit_minutes(60_001), 2);
    }

    #[test]
    fn the_script_quotes_every_word_and_options_come_before_extra_args() {
        let req = RunRequest {
            task: "t".into(),
            attempt: 1,
            argv: vec!["sh".into(), "-c".into(), "echo 'it''s' $HOME".into()],
            cwd: "/w d".into(),
            out_log: "/s/logs/t/1.out".into(),
            err_log: "/s/logs/t/1.err".into(),
            timeout_ms: Some(90_000),
            ..RunRequest::default()
        };
        let script = batch_script(Path::new("/bin/phase"), Path::new("/s"), &req);
        assert!(script.starts_with("#!/bin/sh\nexec '/bin/phase' '--state-dir' '/s' "));
        assert!(
            script.contains(r"'echo '\''it'\'''\''s'\'' $HOME'"),
            "{script}"
        );
        assert!(
            script.contains("'--timeout-ms' '90000' '--' 'sh'"),
            "{script}"
        );
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            cpus: Some(4),
            extra_args: vec!["--partition=debug".into()],
            ..SlurmOptions::default()
        };
        let args = sbatch_args(&req, &options, "n");
        assert!(args.contains(&"--time=2".to_string()));
        assert!(args.contains(&"--chdir=/w d".to_string()));
        let part = args.iter().position(|a| a == "--partition=gpu").unwrap();
        assert!(part < args.iter().position(|a| a == "--partition=debug").unwrap());
        assert!(args.contains(&"--cpus-per-task=4".to_string()));
    }
}
