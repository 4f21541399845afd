//! An agent tier's run during recovery, as the ladder needs to judge it beyond what it
//! changed: its time and cost (recorded on the analysis, `agent_steps`), and whether its
//! model API turned it away — for now (a rate limit, overload or quota: the tier is tried
//! again later rather than climbed past) or for good (a refused key: a person must act).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use crate::config::{Config, ToolConfig};
use crate::model::AgentStep;

/// How much of the end of each log is searched for the API's words.
const TAIL_BYTES: u64 = 16 * 1024;

/// What one agent tier's run tells the ladder.
#[derive(Debug, Clone, Default)]
pub struct FixRun {
    /// Its time and cost.
    pub step: AgentStep,
    /// The line showing a rate limit, overload or quota (`recovery.transient_patterns`).
    pub transient: Option<String>,
    /// The model API refused the key: which tool and which variable to look at.
    pub refused: Option<String>,
}

/// Reads tier `tier`'s run (tool `tool`, logs `out_log` and `err_log` below the state
/// directory) that took `duration`.
pub fn observe_fix_run(
    config: &Config,
    tier: &str,
    tool: &ToolConfig,
    out_log: &Path,
    err_log: &Path,
    duration: Duration,
) -> FixRun {
    let usage = super::usage::of_run(tool, out_log).unwrap_or_default();
    let output = format!("{}\n{}", tail(err_log), tail(out_log));
    let transient = config
        .recovery
        .transient_patterns
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .find_map(|re| output.lines().find(|l| re.is_match(l)))
        .map(|l| l.trim().chars().take(300).collect());
    FixRun {
        step: AgentStep {
            tier: tier.to_string(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            usage,
        },
        transient,
        refused: super::key_refused(config, tier, &output),
    }
}

/// The end of a log below the state directory (`logs/<task>/<file>`), or nothing.
fn tail(path: &Path) -> String {
    let Ok(mut f) = crate::store::open_below(path, 3, crate::store::Access::Read) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_ok()
    {
        let _ = f.take(TAIL_BYTES).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_and_a_refused_key_are_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs/t");
        std::fs::create_dir_all(&logs).expect("logs");
        let (out, err) = (logs.join("1.c.fix.out"), logs.join("1.c.fix.err"));
        let config = Config::parse(
            Path::new("c.toml"),
            "[tools.c]\npreset = \"claude\"\napi_key_env = \"K\"\n",
        )
        .expect("config");
        let tool = &config.tools["c"];
        std::fs::write(&out, r#"{"type":"result","is_error":true,"result":"API Error: Rate limited","usage":{"input_tokens":0,"output_tokens":0},"total_cost_usd":0}"#).expect("out");
        std::fs::write(&err, "").expect("err");
        let run = observe_fix_run(&config, "c", tool, &out, &err, Duration::from_millis(1500));
        assert!(run.transient.is_some_and(|l| l.contains("Rate limited")));
        assert_eq!(run.refused, None);
        assert_eq!(run.step.duration_ms, 1500);
        assert_eq!(run.step.usage.input_tokens, Some(0));

        std::fs::write(&err, "Failed to authenticate. API Error: 401\n").expect("err");
        std::fs::write(&out, "").expect("out");
        let run = observe_fix_run(&config, "c", tool, &out, &err, Duration::ZERO);
        assert!(run.refused.is_some_and(|h| h.contains("K")));
        assert_eq!(run.transient, None);
    }
}
