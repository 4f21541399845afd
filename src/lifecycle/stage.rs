//! The state machine of one task's entry in `execution_results.json`: its stages, and the
//! events that move it, as methods. Every status the executor writes is the target of one
//! of these transitions, and `phase status` reads the same stages back.

use crate::model::{Status, TaskResult};

/// Where a task stands in the executor's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// No result entry: it has not run (or a person deleted its entry to run it again).
    New,
    /// An attempt runs (`running`; its claim is held).
    Running,
    /// The latest attempt exited 0 and its acceptance gate, if any, passed.
    Succeeded,
    /// The latest attempt exited 0; recovery runs its acceptance gate, whose verdict
    /// makes it `succeeded` or `failed`.
    Verifying,
    /// The latest attempt failed; recovery judges it.
    Failed,
    /// The latest attempt ran out of time; recovery judges it.
    TimedOut,
    /// Recovery gave up on it.
    Quarantined,
    /// A person canceled it.
    Canceled,
    /// A dependency can never succeed, so it does not run. A `phase retry` on it is kept
    /// and takes effect once the cause goes away.
    DepFailed,
    /// A person ran `phase retry` on it after it failed, timed out, was quarantined or
    /// canceled: its next attempt is due at once, with a fresh budget. The entry keeps its
    /// old status (and `budget_from_attempt > attempt`) until that attempt starts.
    RetryDue,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit code 0, and the task has no acceptance gate.
    Succeeded,
    /// Exit code 0, and the task has an acceptance gate: it must pass it first.
    AwaitsGate,
    /// A non-zero exit, a signal, a spawn error, or `interrupted`.
    Failed,
    /// Killed for exceeding its timeout.
    TimedOut,
    /// Stopped by a `cancel` request.
    Canceled,
}

impl Ending {
    /// The status recorded for it (in the entry and in its attempt record).
    pub fn status(self) -> Status {
        match self {
            Ending::Succeeded => Status::Succeeded,
            Ending::AwaitsGate => Status::Verifying,
            Ending::Failed => Status::Failed,
            Ending::TimedOut => Status::TimedOut,
            Ending::Canceled => Status::Canceled,
        }
    }
}

/// Recovery's word on a failed attempt (a `retries[]` entry of `fix_patches.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommendation {
    /// `retry_recommended: true`: run the next attempt after the back-off.
    Retry,
    /// `retry_recommended: false`: quarantine (recovery wrote the report).
    GiveUp,
}

impl Recommendation {
    /// From the `retry_recommended` flag.
    pub fn from_flag(retry_recommended: bool) -> Recommendation {
        if retry_recommended {
            Recommendation::Retry
        } else {
            Recommendation::GiveUp
        }
    }
}

/// Recovery's verdict on an attempt's acceptance gate (a `gates[]` entry of
/// `fix_patches.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOutcome {
    /// Every step passed: the attempt succeeded.
    Passed,
    /// `verify` failed or the reviewer rejected it: the attempt failed.
    Failed,
}

impl GateOutcome {
    /// From the verdict's `passed` flag.
    pub fn from_flag(passed: bool) -> GateOutcome {
        if passed {
            GateOutcome::Passed
        } else {
            GateOutcome::Failed
        }
    }
}

/// What an event does to a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The event applies; the task is at this stage afterwards.
    To(Stage),
    /// The event does not apply to this stage: nothing changes.
    Stay,
    /// An attempt runs: it must be stopped first, and then ends through [`Stage::end`].
    StopAttempt,
    /// The `dep_failed` mark goes: the entry is back to its latest attempt's outcome
    /// ([`reverted_status`]), or removed if the task never ran.
    Revert,
}

impl Stage {
    /// The stage an entry records (`None`: no entry). A `phase retry` shows as
    /// `budget_from_attempt > attempt`; on a `dep_failed` entry it waits for the cause to
    /// go away, so the stage stays [`Stage::DepFailed`].
    pub fn of(status: Option<Status>, attempt: u32, budget_from_attempt: u32) -> Stage {
        let Some(status) = status else {
            return Stage::New;
        };
        let retry_due = budget_from_attempt > attempt;
        match status {
            // `Succeeded` only by `phase rerun`, which also moves the budget on.
            Status::Failed
            | Status::TimedOut
            | Status::Quarantined
            | Status::Canceled
            | Status::Succeeded
                if retry_due =>
            {
                Stage::RetryDue
            }
            Status::Running => Stage::Running,
            Status::Succeeded => Stage::Succeeded,
            Status::Verifying => Stage::Verifying,
            Status::Failed => Stage::Failed,
            Status::TimedOut => Stage::TimedOut,
            Status::Quarantined => Stage::Quarantined,
            Status::Canceled => Stage::Canceled,
            Status::DepFailed => Stage::DepFailed,
        }
    }

    /// The snake_case name: the status it records (`new` and `retry_due` have none).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::RetryDue => "retry_due",
            other => other.status().map_or("new", Status::as_str),
        }
    }

    /// The stage of a result entry (`None`: the task has none).
    pub fn of_result(entry: Option<&TaskResult>) -> Stage {
        match entry {
            Some(r) => Stage::of(Some(r.status), r.attempt, r.budget_from_attempt),
            None => Stage::New,
        }
    }

    /// The status written on entering this stage; `None` for [`Stage::New`] (no entry)
    /// and [`Stage::RetryDue`] (the entry keeps its status).
    pub fn status(self) -> Option<Status> {
        match self {
            Stage::New | Stage::RetryDue => None,
            Stage::Running => Some(Status::Running),
            Stage::Succeeded => Some(Status::Succeeded),
            Stage::Verifying => Some(Status::Verifying),
            Stage::Failed => Some(Status::Failed),
            Stage::TimedOut => Some(Status::TimedOut),
            Stage::Quarantined => Some(Status::Quarantined),
            Stage::Canceled => Some(Status::Canceled),
            Stage::DepFailed => Some(Status::DepFailed),
        }
    }

    /// Failed or timed out, and no retry requested: recovery's recommendation applies.
    pub fn awaits_recommendation(self) -> bool {
        matches!(self, Stage::Failed | Stage::TimedOut)
    }

    /// Ended for good unless a person intervenes (its dependents become `dep_failed`).
    pub fn is_dead_end(self) -> bool {
        matches!(
            self,
            Stage::Quarantined | Stage::Canceled | Stage::DepFailed
        )
    }

    /// An attempt starts. The executor starts one only when [`super::next_step`] asks for
    /// it: a first attempt, a recommended retry after its back-off, or a requested retry.
    pub fn start(self) -> Transition {
        match self {
            Stage::New | Stage::Failed | Stage::TimedOut | Stage::RetryDue => {
                Transition::To(Stage::Running)
            }
            _ => Transition::Stay,
        }
    }

    /// An attempt of this executor ended. It happened, so it is recorded whatever a person
    /// did to the entry meanwhile.
    pub fn end(self, ending: Ending) -> Transition {
        Transition::To(match ending {
            Ending::Succeeded => Stage::Succeeded,
            Ending::AwaitsGate => Stage::Verifying,
            Ending::Failed => Stage::Failed,
            Ending::TimedOut => Stage::TimedOut,
            Ending::Canceled => Stage::Canceled,
        })
    }

    /// The entry says `running` but nobody holds its claim: its executor died.
    pub fn interrupt(self) -> Transition {
        match self {
            Stage::Running => Transition::To(Stage::Failed),
            _ => Transition::Stay,
        }
    }

    /// Recovery's verdict on the gate of the latest attempt, which exited 0. Only a
    /// `verifying` entry takes it: one a person canceled meanwhile stays canceled.
    pub fn gate(self, outcome: GateOutcome) -> Transition {
        match (self, outcome) {
            (Stage::Verifying, GateOutcome::Passed) => Transition::To(Stage::Succeeded),
            (Stage::Verifying, GateOutcome::Failed) => Transition::To(Stage::Failed),
            _ => Transition::Stay,
        }
    }

    /// Recovery's recommendation on the latest attempt. A retry leaves the stage as it is
    /// (the executor sets `retry_at`); giving up quarantines. A requested retry overrides
    /// recommendations on older attempts.
    pub fn judge(self, recommendation: Recommendation) -> Transition {
        match (self, recommendation) {
            (Stage::Failed | Stage::TimedOut, Recommendation::Retry) => Transition::To(self),
            (Stage::Failed | Stage::TimedOut, Recommendation::GiveUp) => {
                Transition::To(Stage::Quarantined)
            }
            _ => Transition::Stay,
        }
    }

    /// A `cancel` request (`phase cancel`).
    pub fn cancel(self) -> Transition {
        match self {
            Stage::Running => Transition::StopAttempt,
            Stage::Succeeded | Stage::Canceled => Transition::Stay,
            // Its process has ended; the gate's verdict, if it comes, no longer applies.
            Stage::Verifying
            | Stage::New
            | Stage::Failed
            | Stage::TimedOut
            | Stage::Quarantined
            | Stage::DepFailed
            | Stage::RetryDue => Transition::To(Stage::Canceled),
        }
    }

    /// A `retry` request (`phase retry`): a fresh budget from the next attempt. On a
    /// `dep_failed` task it is kept but the task stays `dep_failed` until its dependencies
    /// can run again; a task that never ran, runs or succeeded has nothing to retry.
    pub fn retry(self) -> Transition {
        match self {
            Stage::Failed
            | Stage::TimedOut
            | Stage::Quarantined
            | Stage::Canceled
            | Stage::RetryDue => Transition::To(Stage::RetryDue),
            Stage::DepFailed => Transition::To(Stage::DepFailed),
            // A verifying attempt may still succeed: nothing to retry yet.
            Stage::New | Stage::Running | Stage::Verifying | Stage::Succeeded => Transition::Stay,
        }
    }

    /// A `rerun` request (`phase rerun`): an ended task runs again as a new attempt with a
    /// fresh budget — a succeeded one too; otherwise as [`Stage::retry`].
    pub fn rerun(self) -> Transition {
        match self {
            Stage::Succeeded => Transition::To(Stage::RetryDue),
            other => other.retry(),
        }
    }

    /// A dependency can never succeed (it is quarantined, canceled or `dep_failed`, in a
    /// cycle, or unknown). Only a task that is not running and has no outcome of its own
    /// to keep is marked.
    pub fn dependency_failed(self) -> Transition {
        match self {
            Stage::New | Stage::DepFailed | Stage::RetryDue => Transition::To(Stage::DepFailed),
            _ => Transition::Stay,
        }
    }

    /// Whatever made it `dep_failed` went away.
    pub fn dependencies_recovered(self) -> Transition {
        match self {
            Stage::DepFailed => Transition::Revert,
            _ => Transition::Stay,
        }
    }
}

/// The status a `dep_failed` entry goes back to: its latest attempt's (an attempt recorded
/// `running` under a `dep_failed` mark did not run to an end: `failed`).
pub fn reverted_status(latest_attempt: Status) -> Status {
    match latest_attempt {
        Status::Running => Status::Failed,
        other => other,
    }
}

/// Whether a task can never run: a task the dependency rule can mark (see
/// [`Stage::dependency_failed`]) is dead when some dependency is; any other is dead when
/// its own stage is a dead end. The executor's `dep_failed` derivation and `phase retry`'s
/// check both use this rule.
pub fn is_dead(stage: Stage, some_dependency_dead: bool) -> bool {
    match stage.dependency_failed() {
        Transition::To(_) => some_dependency_dead,
        _ => stage.is_dead_end(),
    }
}
