use super::*;
use crate::model::Issue;

fn attempt(status: Status, exit: Option<i32>, signal: Option<i32>, reason: &str) -> Attempt {
    Attempt {
        attempt: 1,
        status,
        exit_code: exit,
        signal,
        reason: Some(reason.to_string()),
        ..Attempt::default()
    }
}

fn lint_run(fixable: bool) -> DetectorRun {
    DetectorRun {
        name: "lint".to_string(),
        issues: vec![Issue {
            detector: "lint".to_string(),
            message: "trailing whitespace".to_string(),
            fixable,
            ..Issue::default()
        }],
        clean: false,
        outcome: "exit code 1".to_string(),
    }
}

struct Case {
    attempt: Attempt,
    output: &'static str,
    runs: Vec<DetectorRun>,
    failures: u32,
    position: Option<usize>,
    retry_unfixable: bool,
}

fn diagnose(c: Case) -> Diagnosis {
    let config = RecoveryConfig::default();
    let ladder: Vec<LadderStep> = ["mechanical_fix", "aider", "claude"]
        .map(LadderStep::from)
        .to_vec();
    let facts = Facts {
        attempt: &c.attempt,
        output: c.output,
        runs: &c.runs,
        failures: c.failures,
        budget: 3,
        ladder: &ladder,
        position: c.position,
        retry_unfixable: c.retry_unfixable,
    };
    classify(&facts, &Patterns::new(&config))
}

fn case(attempt: Attempt) -> Case {
    Case {
        attempt,
        output: "",
        runs: Vec::new(),
        failures: 1,
        position: None,
        retry_unfixable: config_default().retry_unfixable,
    }
}

fn config_default() -> RecoveryConfig {
    RecoveryConfig::default()
}

#[test]
fn classification_table() {
    let failed = |code| {
        attempt(
            Status::Failed,
            Some(code),
            None,
            &format!("exit code {code}"),
        )
    };
    let rows: Vec<(Case, Classification, Action, &str, &str)> = vec![
        (
            case(attempt(
                Status::TimedOut,
                None,
                Some(15),
                "timed out after 1s",
            )),
            Classification::Transient,
            Action::Retry,
            "retry",
            "timeout",
        ),
        (
            case(attempt(Status::Failed, None, Some(9), "killed by signal 9")),
            Classification::Transient,
            Action::Retry,
            "retry",
            "signal",
        ),
        (
            case(attempt(Status::Failed, None, None, "interrupted")),
            Classification::Transient,
            Action::Retry,
            "retry",
            "interrupted",
        ),
        (
            Case {
                output: "error: connection reset by peer",
                ..case(failed(1))
            },
            Classification::Transient,
            Action::Retry,
            "retry",
            "transient_output",
        ),
        (
            case(attempt(
                Status::Failed,
                None,
                None,
                "cannot start \"nope\": No such file or directory (os error 2)",
            )),
            Classification::NeedsHuman,
            Action::Quarantine,
            "quarantine",
            "spawn_error",
        ),
        (
            case(failed(127)),
            Classification::NeedsHuman,
            Action::Quarantine,
            "quarantine",
            "non_retryable_exit",
        ),
        (
            Case {
                output: "open /etc/x: Permission denied",
                ..case(failed(1))
            },
            Classification::NeedsHuman,
            Action::Quarantine,
            "quarantine",
            "needs_human_output",
        ),
        (
            Case {
                runs: vec![lint_run(true)],
                ..case(failed(1))
            },
            Classification::AutoFixable,
            Action::MechanicalFix,
            "mechanical_fix",
            "lint",
        ),
        (
            Case {
                runs: vec![lint_run(false)],
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::AgentFix,
            "aider",
            "lint",
        ),
        (
            case(failed(1)),
            Classification::AgentFixable,
            Action::AgentFix,
            "aider",
            "exit_code",
        ),
        (
            Case {
                runs: vec![lint_run(true)],
                position: Some(0),
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::AgentFix,
            "aider",
            "lint",
        ),
        (
            Case {
                position: Some(1),
                failures: 2,
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::AgentFix,
            "claude",
            "exit_code",
        ),
        (
            Case {
                position: Some(2),
                failures: 2,
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::Retry,
            "retry",
            "exit_code",
        ),
        (
            Case {
                position: Some(2),
                failures: 2,
                retry_unfixable: false,
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::Quarantine,
            "quarantine",
            "exit_code",
        ),
        (
            Case {
                failures: 3,
                ..case(failed(1))
            },
            Classification::AgentFixable,
            Action::Quarantine,
            "quarantine",
            "exit_code",
        ),
        (
            Case {
                failures: 3,
                ..case(attempt(Status::TimedOut, None, None, "timed out"))
            },
            Classification::Transient,
            Action::Quarantine,
            "quarantine",
            "timeout",
        ),
    ];
    for (i, (c, class, action, step, error_type)) in rows.into_iter().enumerate() {
        let v = diagnose(c);
        assert_eq!(
            (
                v.classification,
                v.action,
                v.ladder_step.as_str(),
                v.error_type.as_str()
            ),
            (class, action, step, error_type),
            "row {i}: {v:?}"
        );
        assert_eq!(v.fix_agent.is_some(), action == Action::AgentFix, "row {i}");
    }
}
