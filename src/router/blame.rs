//! Who is to blame for an attempt's ending: the tool (it could not start, timed out, was
//! killed, was rate limited, printed a transient error) or the task (a lint error, a plain
//! non-zero exit: the tool did its job). Only the tool's failures count towards its
//! circuit; a rate limit also names when the tool may be asked again.

use regex::Regex;

use super::clock::{Millis, add_ms, parse_ms};
use crate::config::Config;
use crate::model::{AttemptDigest, Status};

/// Output that says the tool refused for now: a rate limit, not a broken task.
const RATE_LIMIT_PATTERNS: [&str; 4] = [
    r"\b429\b",
    r"(?i)rate[ _-]?limit",
    r"(?i)too many requests",
    r"(?i)quota exceeded",
];

/// Exit codes of a shell that could not run the program (126: not executable, 127: not
/// found): the tool is missing, not the task broken.
const NOT_STARTED_EXIT_CODES: [i32; 2] = [126, 127];

/// What an ended attempt says about its tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The tool ran the task: `succeeded`, or the task's own failure.
    Worked { succeeded: bool },
    /// The tool failed.
    Fault(Fault),
    /// Nothing about the tool: canceled, interrupted by the engine's own crash, not ended.
    Neutral,
}

/// A failure the tool is to blame for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    /// `could_not_start`, `timed_out`, `signal`, `rate_limited`, `transient`.
    pub kind: &'static str,
    /// In words.
    pub reason: String,
    /// For a rate limit whose output names a time: not before then.
    pub retry_at: Option<Millis>,
}

/// The patterns, compiled once.
#[derive(Debug)]
pub(super) struct Blame {
    transient: Vec<Regex>,
    rate_limit: Vec<Regex>,
    retry_after: Regex,
    reset_at: Regex,
    try_again_in: Regex,
}

impl Blame {
    /// Transient output is `recovery.transient_patterns`: the same failures recovery
    /// retries without a fix.
    pub(super) fn new(config: &Config) -> Blame {
        let compile = |patterns: &mut dyn Iterator<Item = &str>| -> Vec<Regex> {
            // The config checks refuse patterns that do not compile.
            patterns.filter_map(|p| Regex::new(p).ok()).collect()
        };
        let transient = &config.recovery.transient_patterns;
        let fixed = |p: &str| Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("empty"));
        Blame {
            transient: compile(&mut transient.iter().map(String::as_str)),
            rate_limit: compile(&mut RATE_LIMIT_PATTERNS.into_iter()),
            retry_after: fixed(r"(?i)retry[-_ ]after[\x22':= ]+\s*(\d+(?:\.\d+)?)\s*(ms\b)?"),
            reset_at: fixed(
                r"(?i)reset(?:s)?(?: at)?[\x22':= ]+\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z|\d{10})\b",
            ),
            try_again_in: fixed(
                r"(?i)(?:try again|retry) in\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|sec|seconds?|m|min|minutes?)\b",
            ),
        }
    }

    /// Judges `attempt`; `ended_at` is when it ended (relative times in its output count
    /// from then).
    pub(super) fn judge(&self, attempt: &AttemptDigest, ended_at: Millis) -> Verdict {
        let reason = attempt.reason.as_deref().unwrap_or_default();
        let fault = |kind, reason: String| {
            Verdict::Fault(Fault {
                kind,
                reason,
                retry_at: None,
            })
        };
        match attempt.status {
            Status::Succeeded => return Verdict::Worked { succeeded: true },
            Status::TimedOut => return fault("timed_out", "timed out".to_string()),
            Status::Failed => {}
            _ => return Verdict::Neutral,
        }
        // The engine's own crash is nobody's fault (it never uses up a retry budget either).
        if reason == "interrupted" {
            return Verdict::Neutral;
        }
        if reason.starts_with("cannot start")
            || attempt
                .exit_code
                .is_some_and(|c| NOT_STARTED_EXIT_CODES.contains(&c))
        {
            let why = if reason.is_empty() {
                "could not start"
            } else {
                reason
            };
            return fault("could_not_start", why.to_string());
        }
        if let Some(sig) = attempt.signal {
            return fault("signal", format!("killed by signal {sig}"));
        }
        let output = format!("{reason}\n{}", attempt.stderr_tail);
        if let Some(m) = first_match(&self.rate_limit, &output) {
            let retry_at = self.retry_time(&output, ended_at);
            return Verdict::Fault(Fault {
                kind: "rate_limited",
                reason: format!("rate limited (output matches {m:?})"),
                retry_at,
            });
        }
        if let Some(m) = first_match(&self.transient, &output) {
            return fault(
                "transient",
                format!("transient error (output matches {m:?})"),
            );
        }
        Verdict::Worked { succeeded: false }
    }

    /// The time a rate-limited tool's output names: `Retry-After: N` (seconds),
    /// `reset at <RFC 3339>` or a reset epoch time, `try again in N s`.
    fn retry_time(&self, output: &str, ended_at: Millis) -> Option<Millis> {
        let seconds = |n: &str, unit: &str| -> Option<u64> {
            let n: f64 = n.parse().ok()?;
            let ms = match unit.chars().next() {
                Some('m') if unit.starts_with("ms") || unit.starts_with("milli") => n,
                Some('m') => n * 60_000.0,
                _ => n * 1000.0,
            };
            (ms.is_finite() && ms >= 0.0).then_some(ms as u64)
        };
        if let Some(c) = self.retry_after.captures(output) {
            let unit = c.get(2).map_or("s", |m| m.as_str());
            return seconds(&c[1], unit).map(|ms| add_ms(ended_at, ms));
        }
        if let Some(c) = self.try_again_in.captures(output) {
            return seconds(&c[1], &c[2].to_ascii_lowercase()).map(|ms| add_ms(ended_at, ms));
        }
        let c = self.reset_at.captures(output)?;
        let text = &c[1];
        match text.parse::<i64>() {
            Ok(epoch_seconds) => epoch_seconds.checked_mul(1000),
            Err(_) => parse_ms(text),
        }
    }
}

/// The first pattern that matches, as written.
fn first_match<'a>(patterns: &'a [Regex], text: &str) -> Option<&'a str> {
    patterns
        .iter()
        .find(|re| re.is_match(text))
        .map(Regex::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Status, exit: Option<i32>, reason: &str, stderr: &str) -> AttemptDigest {
        AttemptDigest {
            status,
            exit_code: exit,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            stderr_tail: stderr.to_string(),
            ..AttemptDigest::default()
        }
    }

    fn kind(v: &Verdict) -> &str {
        match v {
            Verdict::Worked { succeeded: true } => "succeeded",
            Verdict::Worked { succeeded: false } => "task_failed",
            Verdict::Fault(f) => f.kind,
            Verdict::Neutral => "neutral",
        }
    }

    #[test]
    fn the_tool_is_blamed_only_for_what_is_its_fault() {
        let b = Blame::new(&Config::default());
        let cases = [
            (attempt(Status::Succeeded, Some(0), "", ""), "succeeded"),
            (
                attempt(Status::Failed, Some(1), "exit code 1", "E501 line too long"),
                "task_failed",
            ),
            (
                attempt(Status::Failed, None, "cannot start \"x\": No such file", ""),
                "could_not_start",
            ),
            (
                attempt(Status::Failed, Some(127), "exit code 127", ""),
                "could_not_start",
            ),
            (
                attempt(Status::TimedOut, None, "timed out after 5 s", ""),
                "timed_out",
            ),
            (
                attempt(Status::Failed, Some(1), "exit code 1", "HTTP 429"),
                "rate_limited",
            ),
            (
                attempt(
                    Status::Failed,
                    Some(1),
                    "exit code 1",
                    "Connection reset by peer",
                ),
                "transient",
            ),
            (attempt(Status::Failed, None, "interrupted", ""), "neutral"),
            (attempt(Status::Canceled, None, "canceled", ""), "neutral"),
            (attempt(Status::Running, None, "", ""), "neutral"),
        ];
        for (a, expected) in cases {
            assert_eq!(kind(&b.judge(&a, 0)), expected, "{a:?}");
        }
        let mut killed = attempt(Status::Failed, None, "killed by signal 9", "");
        killed.signal = Some(9);
        assert_eq!(kind(&b.judge(&killed, 0)), "signal");
    }

    #[test]
    fn a_rate_limit_names_when_to_ask_again() {
        let b = Blame::new(&Config::default());
        let retry_at =
            |stderr: &str| match b.judge(&attempt(Status::Failed, Some(1), "", stderr), 1000) {
                Verdict::Fault(f) => f.retry_at,
                other => panic!("{other:?}"),
            };
        assert_eq!(
            retry_at("429 Too Many Requests\nRetry-After: 2\n"),
            Some(3000)
        );
        assert_eq!(retry_at("rate limit; retry_after=1.5"), Some(2500));
        assert_eq!(retry_at("rate limited, try again in 20ms"), Some(1020));
        assert_eq!(
            retry_at("Rate limit reached. Please try again in 2m"),
            Some(121_000)
        );
        assert_eq!(
            retry_at("429: quota resets at 1970-01-01T00:00:09Z"),
            Some(9000)
        );
        assert_eq!(
            retry_at("x-ratelimit-reset: 1700000000"),
            Some(1_700_000_000_000)
        );
        assert_eq!(retry_at("429"), None);
    }
}
