//! Whether an attempt may start: take the task's claim (without waiting), read the fence in
//! it, and write the new fence *before* the command is spawned — so a crash at any moment
//! after this leaves a fence saying the attempt started, and it never starts twice.

use super::protocol::{Refusal, RunRequest};
use crate::store::{Fence, FencedClaim, StateDir};

/// The answer to a `run`.
#[derive(Debug)]
pub(super) enum Admission {
    /// The claim is held and the fence names this attempt: start it.
    Admitted(FencedClaim, Fence),
    /// Not started; nothing was written.
    Refused {
        /// Why.
        why: Refusal,
        /// The attempt the fence names, when known.
        recorded: Option<u32>,
        /// In words.
        message: String,
    },
}

/// Takes `req.task`'s claim for `runner` and fences `req.attempt` in it, or says why not.
pub(super) fn admit(state: &StateDir, runner: &str, req: &RunRequest) -> Admission {
    let refused = |why, recorded, message: String| Admission::Refused {
        why,
        recorded,
        message,
    };
    if req.attempt == 0 {
        return refused(Refusal::Error, None, "attempts are numbered from 1".into());
    }
    let claim = match FencedClaim::try_take(state, &req.task) {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            // Best effort: the holder may not have written its fence yet.
            let recorded = Fence::read(state, &req.task).ok().flatten();
            let path = state.claim_locks_path();
            let message = format!(
                "{}: the claim on {:?} is held by another process",
                path.display(),
                req.task
            );
            return refused(Refusal::Busy, recorded.map(|f| f.attempt), message);
        }
        Err(e) => return refused(Refusal::Error, None, e.to_string()),
    };
    match claim.fence() {
        Ok(Some(f)) if f.attempt >= req.attempt => {
            let message = format!(
                "{}: attempt {} was already started (by {} at {})",
                claim.path().display(),
                f.attempt,
                f.runner,
                f.started_at
            );
            return refused(Refusal::Started, Some(f.attempt), message);
        }
        Ok(_) => {}
        Err(e) => return refused(Refusal::Error, None, e.to_string()),
    }
    let now = jiff::Timestamp::now();
    let deadline = req.timeout_ms.and_then(|ms| {
        let ms = i64::try_from(ms).ok()?;
        now.checked_add(jiff::SignedDuration::from_millis(ms)).ok()
    });
    let fence = Fence {
        schema_version: 1,
        task: req.task.clone(),
        attempt: req.attempt,
        runner: runner.to_string(),
        pid: None,
        pgid: None,
        started_at: rfc3339(now),
        deadline: deadline.map(rfc3339),
    };
    match claim.set_fence(&fence) {
        Ok(()) => Admission::Admitted(claim, fence),
        Err(e) => refused(Refusal::Error, None, e.to_string()),
    }
}

/// RFC 3339 UTC with exactly three fractional digits, as every timestamp in the files.
fn rfc3339(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
