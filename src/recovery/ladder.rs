//! The escalation ladder: BASELINE → `recovery.ladder` (mechanical_fix, agent tiers) →
//! QUARANTINE, and where a task stands on it. The steps are [`LadderStep`]s.

use crate::model::{ErrorAnalysis, LadderStep};

/// The highest rung (index into `ladder`) any analysis of `task_id` reached for attempts in
/// `from_attempt..before_attempt`; `None` when none did (the task is at BASELINE).
/// Steps that are not rungs (`retry`, `quarantine`, a tier no longer configured) do not
/// count. Attempts before `from_attempt` were before a `phase retry` and do not count.
pub(super) fn position(
    ladder: &[LadderStep],
    analyses: &[ErrorAnalysis],
    task_id: &str,
    from_attempt: u32,
    before_attempt: u32,
) -> Option<usize> {
    analyses
        .iter()
        .filter(|a| a.task_id == task_id && a.attempt >= from_attempt && a.attempt < before_attempt)
        .filter_map(|a| ladder.iter().position(|rung| *rung == a.ladder_step))
        .max()
}

/// The first rung after `after`. `mechanical_fix` is only a candidate when something
/// fixable was found; otherwise it is passed over.
pub(super) fn next_rung(
    ladder: &[LadderStep],
    after: Option<usize>,
    fixable: bool,
) -> Option<&LadderStep> {
    let start = after.map_or(0, |i| i + 1);
    ladder
        .iter()
        .skip(start)
        .find(|rung| **rung != LadderStep::MechanicalFix || fixable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Vec<LadderStep> {
        ["mechanical_fix", "aider", "claude"]
            .map(LadderStep::from)
            .to_vec()
    }

    fn analysis(task: &str, attempt: u32, step: &str) -> ErrorAnalysis {
        ErrorAnalysis {
            task_id: task.to_string(),
            attempt,
            ladder_step: step.into(),
            ..ErrorAnalysis::default()
        }
    }

    #[test]
    fn position_is_the_highest_rung_in_the_budget_window() {
        let l = ladder();
        let analyses = vec![
            analysis("t", 1, "aider"),
            analysis("t", 2, "retry"),
            analysis("t", 3, "mechanical_fix"),
            analysis("u", 4, "claude"),
        ];
        assert_eq!(position(&l, &analyses, "t", 0, 10), Some(1));
        assert_eq!(
            position(&l, &analyses, "t", 2, 10),
            Some(0),
            "phase retry restarts"
        );
        assert_eq!(position(&l, &analyses, "t", 4, 10), None);
        assert_eq!(
            position(&l, &analyses, "t", 0, 1),
            None,
            "only earlier attempts"
        );
    }

    #[test]
    fn steps_that_are_not_rungs_leave_the_task_at_baseline() {
        let l = ladder();
        let analyses = vec![
            analysis("t", 1, ""),
            analysis("t", 2, "retry"),
            analysis("t", 3, "quarantine"),
            analysis("t", 4, "codex"),
        ];
        assert_eq!(position(&l, &analyses, "t", 0, 10), None);
    }

    #[test]
    fn mechanical_fix_needs_something_fixable() {
        let l = ladder();
        let aider = LadderStep::Agent("aider".to_string());
        assert_eq!(next_rung(&l, None, true), Some(&LadderStep::MechanicalFix));
        assert_eq!(next_rung(&l, None, false), Some(&aider));
        assert_eq!(next_rung(&l, Some(0), true), Some(&aider));
        assert_eq!(next_rung(&l, Some(2), true), None);
    }
}
