//! Every (stage, event) pair of the state machine against a table written by hand: a
//! change to a transition must change this table too.

use super::stage::{Ending, GateOutcome, Recommendation, Stage, Transition};

use Stage::{
    Canceled, DepFailed, Failed, New, Quarantined, RetryDue, Running, Succeeded, TimedOut,
    Verifying,
};
use Transition::{Revert, Stay, StopAttempt, To};

/// The events, in the order of the table's columns.
#[derive(Debug, Clone, Copy)]
enum Event {
    Start,
    End(Ending),
    Interrupt,
    Judge(Recommendation),
    Gate(GateOutcome),
    Cancel,
    Retry,
    DependencyFailed,
    DependenciesRecovered,
}

const EVENTS: [Event; 15] = [
    Event::Start,
    Event::End(Ending::Succeeded),
    Event::End(Ending::AwaitsGate),
    Event::End(Ending::Failed),
    Event::End(Ending::TimedOut),
    Event::End(Ending::Canceled),
    Event::Interrupt,
    Event::Judge(Recommendation::Retry),
    Event::Judge(Recommendation::GiveUp),
    Event::Gate(GateOutcome::Passed),
    Event::Gate(GateOutcome::Failed),
    Event::Cancel,
    Event::Retry,
    Event::DependencyFailed,
    Event::DependenciesRecovered,
];

fn offer(stage: Stage, event: Event) -> Transition {
    match event {
        Event::Start => stage.start(),
        Event::End(ending) => stage.end(ending),
        Event::Interrupt => stage.interrupt(),
        Event::Judge(r) => stage.judge(r),
        Event::Gate(g) => stage.gate(g),
        Event::Cancel => stage.cancel(),
        Event::Retry => stage.retry(),
        Event::DependencyFailed => stage.dependency_failed(),
        Event::DependenciesRecovered => stage.dependencies_recovered(),
    }
}

/// Columns: start; end succeeded / awaits gate / failed / timed out / canceled; interrupt;
/// judge retry / give up; gate passed / failed; cancel; retry; dependency failed;
/// dependencies recovered.
#[rustfmt::skip]
const TABLE: [(Stage, [Transition; 15]); 10] = [
    (New,         [To(Running), To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       To(Canceled), Stay,          To(DepFailed), Stay]),
    (Running,     [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), To(Failed), Stay,            Stay,            Stay,          Stay,       StopAttempt,  Stay,          Stay,          Stay]),
    (Succeeded,   [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       Stay,         Stay,          Stay,          Stay]),
    (Verifying,   [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            To(Succeeded), To(Failed), To(Canceled), Stay,          Stay,          Stay]),
    (Failed,      [To(Running), To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       To(Failed),      To(Quarantined), Stay,          Stay,       To(Canceled), To(RetryDue),  Stay,          Stay]),
    (TimedOut,    [To(Running), To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       To(TimedOut),    To(Quarantined), Stay,          Stay,       To(Canceled), To(RetryDue),  Stay,          Stay]),
    (Quarantined, [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       To(Canceled), To(RetryDue),  Stay,          Stay]),
    (Canceled,    [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       Stay,         To(RetryDue),  Stay,          Stay]),
    (DepFailed,   [Stay,        To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       To(Canceled), To(DepFailed), To(DepFailed), Revert]),
    (RetryDue,    [To(Running), To(Succeeded), To(Verifying), To(Failed), To(TimedOut), To(Canceled), Stay,       Stay,            Stay,            Stay,          Stay,       To(Canceled), To(RetryDue),  To(DepFailed), Stay]),
];

#[test]
fn every_stage_and_event_moves_as_the_table_says() {
    let mut wrong = Vec::new();
    for (stage, row) in TABLE {
        for (event, expected) in EVENTS.iter().zip(row) {
            let got = offer(stage, *event);
            if got != expected {
                wrong.push(format!(
                    "{stage:?} + {event:?}: expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_table_covers_every_stage() {
    let stages: Vec<Stage> = TABLE.iter().map(|(s, _)| *s).collect();
    for stage in [
        New,
        Running,
        Succeeded,
        Failed,
        TimedOut,
        Quarantined,
        Canceled,
        DepFailed,
        RetryDue,
        Verifying,
    ] {
        assert!(stages.contains(&stage), "{stage:?} has no row");
    }
}

/// The stage an entry records, for every status with and without a pending retry.
#[test]
fn stages_read_from_entries() {
    use crate::model::Status;
    let cases = [
        (None, 0, 0, New),
        (Some(Status::Running), 1, 0, Running),
        (Some(Status::Running), 1, 2, Running),
        (Some(Status::Succeeded), 1, 0, Succeeded),
        // `phase rerun` of a succeeded task: due again, its status kept until it starts.
        (Some(Status::Succeeded), 1, 2, RetryDue),
        (Some(Status::Verifying), 1, 0, Verifying),
        // A verifying attempt may still succeed: a retry does not apply to it.
        (Some(Status::Verifying), 1, 2, Verifying),
        (Some(Status::Failed), 1, 0, Failed),
        (Some(Status::Failed), 1, 1, Failed),
        (Some(Status::Failed), 1, 2, RetryDue),
        (Some(Status::TimedOut), 2, 3, RetryDue),
        (Some(Status::TimedOut), 2, 0, TimedOut),
        (Some(Status::Quarantined), 3, 0, Quarantined),
        (Some(Status::Quarantined), 3, 4, RetryDue),
        (Some(Status::Canceled), 0, 0, Canceled),
        (Some(Status::Canceled), 0, 1, RetryDue),
        (Some(Status::DepFailed), 0, 0, DepFailed),
        // The retry waits for the dependency: still dep_failed (the hang users saw).
        (Some(Status::DepFailed), 0, 1, DepFailed),
    ];
    for (status, attempt, budget_from, expected) in cases {
        assert_eq!(
            Stage::of(status, attempt, budget_from),
            expected,
            "{status:?} attempt {attempt} budget_from_attempt {budget_from}"
        );
    }
}

#[test]
fn a_task_is_dead_by_its_dependencies_only_when_the_rule_may_mark_it() {
    use super::stage::is_dead;
    let cases = [
        (New, true, true),
        (New, false, false),
        (RetryDue, true, true),
        (DepFailed, true, true),
        (DepFailed, false, false),
        (Quarantined, false, true),
        (Canceled, false, true),
        (Failed, true, false),
        (Succeeded, true, false),
        (Running, true, false),
        (Verifying, true, false),
    ];
    for (stage, dependency_dead, expected) in cases {
        assert_eq!(
            is_dead(stage, dependency_dead),
            expected,
            "{stage:?} {dependency_dead}"
        );
    }
}
