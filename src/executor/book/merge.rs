//! One task's entry changed both here and by another writer (another executor, a person)
//! since our last write: merged by attempt, so one executor's stale copy never overwrites
//! another's newer record (issue 8).
//!
//! The entry that knows the later attempt wins — at the same attempt, the one that knows
//! how it ended, and on a tie ours (we changed it last). No attempt record is dropped: the
//! loser's records of attempts the winner lacks are kept. Requests the loser carried out
//! are kept only if it judged the same attempt; carried out on an older one, they are not
//! recorded, so the executor carries them out again on the task as it now stands.

use crate::model::{Status, TaskResult};

/// `ours` and `theirs` merged.
pub(super) fn merge(ours: TaskResult, theirs: TaskResult) -> TaskResult {
    let rank = |r: &TaskResult| (r.attempt, r.status != Status::Running);
    let (mut winner, loser) = if rank(&theirs) > rank(&ours) {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    let same_attempt = winner.attempt == loser.attempt;
    for a in loser.attempts {
        match winner.attempts.iter_mut().find(|w| w.attempt == a.attempt) {
            None => winner.attempts.push(a),
            // An older attempt the winner still shows running, the loser saw end.
            Some(w)
                if w.attempt != winner.attempt
                    && w.status == Status::Running
                    && a.status != Status::Running =>
            {
                *w = a;
            }
            Some(_) => {}
        }
    }
    winner.attempts.sort_by_key(|a| a.attempt);
    if same_attempt {
        for request in loser.handled_requests {
            if !winner.handled_requests.contains(&request) {
                winner.handled_requests.push(request);
            }
        }
        winner.budget_from_attempt = winner.budget_from_attempt.max(loser.budget_from_attempt);
    }
    winner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attempt;

    fn entry(attempts: &[(u32, Status)], requests: &[&str]) -> TaskResult {
        let (attempt, status) = attempts.last().copied().unwrap_or((0, Status::DepFailed));
        TaskResult {
            task_id: "t".into(),
            attempt,
            status,
            handled_requests: requests.iter().map(|r| r.to_string()).collect(),
            attempts: attempts
                .iter()
                .map(|&(attempt, status)| Attempt {
                    attempt,
                    status,
                    ..Attempt::default()
                })
                .collect(),
            ..TaskResult::default()
        }
    }

    fn shape(r: &TaskResult) -> (u32, Status, Vec<(u32, Status)>, Vec<String>) {
        let attempts = r.attempts.iter().map(|a| (a.attempt, a.status)).collect();
        (r.attempt, r.status, attempts, r.handled_requests.clone())
    }

    #[test]
    fn a_stale_copy_never_overwrites_a_newer_attempt() {
        // Ours: quarantined attempt 1 on a stale view, plus a request handled on it.
        let ours = entry(&[(1, Status::Quarantined)], &["cancel-1"]);
        // Theirs: another executor ran attempt 2 meanwhile.
        let theirs = entry(&[(1, Status::Failed), (2, Status::Succeeded)], &[]);
        let merged = merge(ours, theirs);
        assert_eq!(
            shape(&merged),
            (
                2,
                Status::Succeeded,
                vec![(1, Status::Failed), (2, Status::Succeeded)],
                vec![],
            ),
            "their attempt 2 wins; the request is carried out again on it"
        );
    }

    #[test]
    fn our_newer_attempt_keeps_their_records_and_a_finished_attempt_beats_running() {
        let ours = entry(&[(1, Status::Failed), (2, Status::Succeeded)], &["r"]);
        let theirs = entry(&[(1, Status::Failed)], &["r", "old"]);
        assert_eq!(merge(ours, theirs).attempt, 2);
        // Same attempt: the one that saw it end wins, whoever wrote it.
        let ours = entry(&[(3, Status::Running)], &["a"]);
        let theirs = entry(&[(3, Status::Failed)], &["b"]);
        let merged = merge(ours, theirs);
        assert_eq!(
            shape(&merged),
            (
                3,
                Status::Failed,
                vec![(3, Status::Failed)],
                vec!["b".to_string(), "a".to_string()],
            )
        );
        // A dep_failed mark (no attempt) loses to anything that ran.
        let ours = entry(&[], &[]);
        let theirs = entry(&[(1, Status::Running)], &[]);
        assert_eq!(merge(ours, theirs).attempt, 1);
    }
}
