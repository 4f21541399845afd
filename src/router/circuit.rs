//! The circuit breaker of one tool, as transitions of its [`ToolState`]: K consecutive
//! tool-attributable failures open it for a cool-down (doubled on each re-opening); then
//! it is half open and lets one probe task through; the tool working closes it, another
//! failure opens it again. A rate limit sets a cool-down of its own, circuit or not.
//!
//! Pure functions of the state, the outcome and the time: the router replays attempts in
//! the order they ended, and a hand-edited state is simply the state it continues from.

use super::blame::{Fault, Verdict};
use super::clock::{Millis, add_ms, format_ms, parse_ms};
use crate::config::CircuitConfig;
use crate::model::{Circuit, ToolFailure, ToolState};

/// A circuit changed state: becomes a `CIRCUIT_*` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Change {
    /// The new state.
    pub to: Circuit,
    /// Why, in words.
    pub why: String,
}

/// An ended attempt on the tool.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ended<'a> {
    pub task_id: &'a str,
    pub attempt: u32,
    pub at: Millis,
    pub verdict: &'a Verdict,
}

/// Records an ended attempt on the tool whose state is `state`.
pub(super) fn record(
    state: &mut ToolState,
    ended: Ended<'_>,
    cfg: &CircuitConfig,
) -> Option<Change> {
    let is_probe = state
        .probe
        .as_ref()
        .is_some_and(|p| p.task_id == ended.task_id && ended.attempt > p.after_attempt);
    match ended.verdict {
        Verdict::Neutral => {
            // The probe never told anything: another task may probe.
            if is_probe {
                state.probe = None;
            }
            None
        }
        Verdict::Worked { .. } => {
            state.consecutive_failures = 0;
            // An open circuit waits for its cool-down even so: an attempt that started
            // before it opened says little about the tool now.
            (state.circuit == Circuit::HalfOpen).then(|| {
                close(state);
                Change {
                    to: Circuit::Closed,
                    why: format!("attempt {} of task {} worked", ended.attempt, ended.task_id),
                }
            })
        }
        Verdict::Fault(fault) => {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            state.last_failure = Some(ToolFailure {
                task_id: ended.task_id.to_string(),
                attempt: ended.attempt,
                kind: fault.kind.to_string(),
                reason: fault.reason.clone(),
                at: format_ms(ended.at),
            });
            if fault.kind == "rate_limited" {
                cool_down(state, fault, ended.at, cfg);
            }
            let trips = match state.circuit {
                Circuit::HalfOpen => true,
                Circuit::Closed => state.consecutive_failures >= cfg.failures.max(1),
                Circuit::Open => false,
            };
            trips.then(|| {
                let why = format!(
                    "{} tool failure(s) in a row, the last {} (task {} attempt {})",
                    state.consecutive_failures, fault.reason, ended.task_id, ended.attempt
                );
                open(state, ended.at, cfg, why)
            })
        }
    }
}

/// Moves the state on with the time: an open circuit whose cool-down is over becomes half
/// open — unless `check` (the tool's health check run since the cool-down ended, if it has
/// one) failed: then it opens again. `None` for `check` while a check is due but not done.
/// An ended rate-limit cool-down is cleared.
pub(super) fn tick(
    state: &mut ToolState,
    now: Millis,
    check: CheckSince,
    cfg: &CircuitConfig,
) -> Option<Change> {
    if state
        .cooldown_until
        .as_deref()
        .and_then(parse_ms)
        .is_none_or(|until| until <= now)
    {
        state.cooldown_until = None;
        state.cooldown_reason = None;
    }
    if state.circuit != Circuit::Open || open_until(state).is_some_and(|until| until > now) {
        return None;
    }
    match check {
        CheckSince::Pending => None,
        CheckSince::Failed(note) => Some(open(
            state,
            now,
            cfg,
            format!("its health check still fails after the cool-down: {note}"),
        )),
        CheckSince::Passed | CheckSince::NoCheck => {
            state.circuit = Circuit::HalfOpen;
            state.open_until = None;
            state.probe = None;
            Some(Change {
                to: Circuit::HalfOpen,
                why: "the cool-down is over: one probe task may go through".to_string(),
            })
        }
    }
}

/// What the tool's health check said since an open circuit's cool-down ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CheckSince {
    /// The tool has no health check.
    NoCheck,
    /// Not run yet since then.
    Pending,
    /// It passed.
    Passed,
    /// It failed, with why.
    Failed(String),
}

/// When an open circuit lets a probe through (`None`: unreadable, i.e. now).
pub(super) fn open_until(state: &ToolState) -> Option<Millis> {
    state.open_until.as_deref().and_then(parse_ms)
}

/// The cool-down of the `opened`-th opening in a row.
pub(super) fn cooldown_ms(opened: u32, cfg: &CircuitConfig) -> u64 {
    let doublings = opened.saturating_sub(1).min(40);
    cfg.cooldown_ms
        .saturating_mul(1u64 << doublings)
        .min(cfg.max_cooldown_ms.max(cfg.cooldown_ms))
}

fn open(state: &mut ToolState, at: Millis, cfg: &CircuitConfig, why: String) -> Change {
    state.opened = state.opened.saturating_add(1);
    let cooldown = cooldown_ms(state.opened, cfg);
    state.circuit = Circuit::Open;
    state.open_until = Some(format_ms(add_ms(at, cooldown)));
    state.probe = None;
    Change {
        to: Circuit::Open,
        why: format!("{why}; open for {cooldown} ms"),
    }
}

fn close(state: &mut ToolState) {
    state.circuit = Circuit::Closed;
    state.consecutive_failures = 0;
    state.opened = 0;
    state.open_until = None;
    state.probe = None;
}

fn cool_down(state: &mut ToolState, fault: &Fault, at: Millis, cfg: &CircuitConfig) {
    let (until, why) = match fault.retry_at {
        Some(t) => (t, "the time its output names"),
        None => (
            add_ms(at, cfg.rate_limit_ms),
            "routing.circuit.rate_limit_ms",
        ),
    };
    let current = state.cooldown_until.as_deref().and_then(parse_ms);
    if current.is_none_or(|c| c < until) {
        state.cooldown_until = Some(format_ms(until));
        state.cooldown_reason = Some(format!("{} (until {why})", fault.reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CircuitConfig {
        CircuitConfig {
            failures: 2,
            cooldown_ms: 1000,
            max_cooldown_ms: 3000,
            rate_limit_ms: 500,
        }
    }

    fn fault(kind: &'static str) -> Verdict {
        Verdict::Fault(Fault {
            kind,
            reason: kind.to_string(),
            retry_at: None,
        })
    }

    fn end<'a>(task: &'a str, attempt: u32, at: Millis, verdict: &'a Verdict) -> Ended<'a> {
        Ended {
            task_id: task,
            attempt,
            at,
            verdict,
        }
    }

    #[test]
    fn k_failures_open_a_cool_down_half_opens_and_the_probe_closes() {
        let mut s = ToolState::default();
        let transient = fault("transient");
        assert_eq!(record(&mut s, end("a", 1, 0, &transient), &cfg()), None);
        let opened = record(&mut s, end("b", 1, 100, &transient), &cfg()).expect("opens");
        assert_eq!(opened.to, Circuit::Open);
        assert_eq!(open_until(&s), Some(1100));
        // A task's own failure resets nothing while open, and the cool-down holds.
        let task_failed = Verdict::Worked { succeeded: false };
        assert_eq!(record(&mut s, end("c", 1, 200, &task_failed), &cfg()), None);
        assert_eq!(tick(&mut s, 1099, CheckSince::NoCheck, &cfg()), None);
        assert_eq!(tick(&mut s, 1100, CheckSince::Pending, &cfg()), None);
        let half = tick(&mut s, 1100, CheckSince::Passed, &cfg()).expect("half open");
        assert_eq!((half.to, s.circuit), (Circuit::HalfOpen, Circuit::HalfOpen));
        let ok = Verdict::Worked { succeeded: true };
        let closed = record(&mut s, end("d", 1, 1200, &ok), &cfg()).expect("closes");
        assert_eq!(closed.to, Circuit::Closed);
        assert_eq!(
            (s.consecutive_failures, s.opened, s.open_until.as_deref()),
            (0, 0, None)
        );
    }

    #[test]
    fn a_failed_probe_or_health_check_reopens_for_longer() {
        let mut s = ToolState::default();
        let transient = fault("could_not_start");
        record(&mut s, end("a", 1, 0, &transient), &cfg());
        record(&mut s, end("a", 2, 0, &transient), &cfg());
        assert_eq!(open_until(&s), Some(1000));
        let failed = CheckSince::Failed("exit code 1".into());
        let again = tick(&mut s, 1000, failed, &cfg()).expect("reopens");
        assert!(again.why.contains("health check"), "{}", again.why);
        assert_eq!(open_until(&s), Some(3000), "doubled");
        tick(&mut s, 3000, CheckSince::NoCheck, &cfg()).expect("half open");
        record(&mut s, end("p", 1, 3000, &transient), &cfg()).expect("the probe failed");
        assert_eq!(open_until(&s), Some(6000), "capped at max_cooldown_ms");
    }

    #[test]
    fn a_rate_limit_cools_the_tool_down_until_the_named_time() {
        let mut s = ToolState::default();
        let limited = Verdict::Fault(Fault {
            kind: "rate_limited",
            reason: "rate limited".into(),
            retry_at: Some(2000),
        });
        assert_eq!(record(&mut s, end("a", 1, 0, &limited), &cfg()), None);
        assert_eq!(s.cooldown_until.as_deref().and_then(parse_ms), Some(2000));
        tick(&mut s, 1999, CheckSince::NoCheck, &cfg());
        assert!(s.cooldown_until.is_some());
        tick(&mut s, 2000, CheckSince::NoCheck, &cfg());
        assert_eq!((s.cooldown_until, s.cooldown_reason), (None, None));
    }
}
