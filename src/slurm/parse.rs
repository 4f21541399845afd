//! Reading what the Slurm clients print: `squeue` lines, `scontrol show job -o`, `sacct -P`.

/// `squeue -o`: id, long state, reason, name (last: the only free text).
pub const QUEUE_FORMAT: &str = "%i|%T|%r|%j";
/// `sacct -o`: what [`sacct_job`] reads.
pub const SACCT_FIELDS: &str = "State,ExitCode,Start,End";

/// One job as `squeue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The job id.
    pub id: String,
    /// Its state, long form (`PENDING`, `RUNNING`, `COMPLETED`, …).
    pub state: String,
    /// Why it is in that state (`Resources`, `None`, …).
    pub reason: String,
    /// The job name.
    pub name: String,
}

/// How a job ended, as the cluster recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobEnd {
    /// The final state (`COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`, `OUT_OF_MEMORY`, …).
    pub state: String,
    /// Slurm's reason field, when it says something.
    pub reason: Option<String>,
    /// The exit code Slurm saw (of the job's wrapper, not the command: see docs).
    pub exit_code: Option<i32>,
    /// The signal Slurm saw, when one ended it.
    pub signal: Option<i32>,
    /// When the job started (RFC 3339 UTC); none if it never ran.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// Whether a job in `state` is over: it will not run (again) and its processes are gone.
/// `COMPLETING` is not: processes may still be ending (and writing their outcome).
pub fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "CANCELLED"
            | "FAILED"
            | "TIMEOUT"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "OUT_OF_MEMORY"
            | "REVOKED"
    )
}

/// The lines of `squeue -h -o QUEUE_FORMAT`; malformed lines are skipped.
pub fn queue_lines(text: &str) -> Vec<QueueEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(4, '|');
            let (id, state) = (parts.next()?, parts.next()?);
            let reason = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            (!id.is_empty()).then(|| QueueEntry {
                id: id.to_string(),
                state: first_word(state),
                reason: reason.to_string(),
                name: name.to_string(),
            })
        })
        .collect()
}

/// `scontrol show job -o ID`: the job's end, or `None` while it has not ended.
pub fn scontrol_job(text: &str) -> Option<JobEnd> {
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let state = first_word(field("JobState")?);
    if !is_final(&state) {
        return None;
    }
    let (exit_code, signal) = field("ExitCode").map_or((None, None), exit_pair);
    Some(JobEnd {
        state,
        reason: field("Reason").filter(|r| *r != "None").map(str::to_string),
        exit_code,
        signal,
        started_at: field("StartTime").and_then(slurm_time),
        finished_at: field("EndTime").and_then(slurm_time),
    })
}

/// `sacct -n -X -P -o SACCT_FIELDS -j ID`: the job's end, once sacct has an end time (it
/// may report `FAILED 0:0` with no end for a while after a database outage).
pub fn sacct_job(text: &str) -> Option<JobEnd> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut parts = line.trim().split('|');
    let state = first_word(parts.next()?);
    let (exit_code, signal) = exit_pair(parts.next()?);
    let started_at = parts.next().and_then(slurm_time);
    let finished_at = slurm_time(parts.next()?)?;
    is_final(&state).then_some(JobEnd {
        state,
        reason: None,
        exit_code,
        signal,
        started_at,
        finished_at: Some(finished_at),
    })
}

/// `CANCELLED by 0` → `CANCELLED`.
fn first_word(state: &str) -> String {
    state.split_whitespace().next().unwrap_or("").to_string()
}

/// Slurm's `CODE:SIGNAL`.
fn exit_pair(text: &str) -> (Option<i32>, Option<i32>) {
    let (code, signal) = text.split_once(':').unwrap_or((text, "0"));
    let signal = signal.parse::<i32>().ok().filter(|s| *s != 0);
    let code = code.parse::<i32>().ok().filter(|_| signal.is_none());
    (code, signal)
}

/// A Slurm time (`2026-12-01T22:59:43`, local time) as RFC 3339 UTC; `Unknown`, `None` and
/// the like are none.
fn slurm_time(text: &str) -> Option<String> {
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let ts = civil
        .to_zoned(jiff::tz::TimeZone::system())
        .ok()?
        .timestamp();
    Some(ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_keep_names_with_bars_and_drop_noise() {
        let got = queue_lines("12|RUNNING|None|phase-a-1-x\n\n13|CANCELLED by 0|None|a|b\n");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].id.as_str(), got[0].state.as_str()),
            ("12", "RUNNING")
        );
        assert_eq!(
            (got[1].state.as_str(), got[1].name.as_str()),
            ("CANCELLED", "a|b")
        );
    }

    #[test]
    fn scontrol_gives_an_end_only_once_the_job_is_over() {
        let running = "JobId=5 JobName=x JobState=COMPLETING Reason=None ExitCode=0:15";
        assert_eq!(scontrol_job(running), None);
        let done = "JobId=5 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 \
                    StartTime=2026-12-01T22:59:43 EndTime=Unknown";
        let end = scontrol_job(done).expect("ended");
        assert_eq!(end.state, "TIMEOUT");
        assert_eq!(end.reason.as_deref(), Some("TimeLimit"));
        assert_eq!((end.exit_code, end.signal), (None, Some(15)));
        assert!(end.started_at.is_some_and(|t| t.ends_with('Z')));
        assert_eq!(end.finished_at, None);
        let failed = scontrol_job("JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0").unwrap();
        assert_eq!((failed.exit_code, failed.signal), (Some(3), None));
    }

    #[test]
    fn sacct_waits_for_an_end_time() {
        assert_eq!(sacct_job("FAILED|0:0|2026-12-01T22:59:43|Unknown\n"), None);
        let end = sacct_job("CANCELLED by 0|0:15|None|2026-12-01T23:00:00\n").unwrap();
        assert_eq!((end.state.as_str(), end.signal), ("CANCELLED", Some(15)));
        assert_eq!(end.started_at, None);
        assert_eq!(sacct_job(""), None);
    }
}
