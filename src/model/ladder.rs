//! The escalation ladder's steps (docs/RECOVERY.md "The ladder"), as recorded in
//! `error_analysis.json` and `fix_patches.json` and listed in `recovery.ladder`.

use super::open_enum::open_enum;

open_enum! {
    /// A step on the escalation ladder: BASELINE → `recovery.ladder` (`mechanical_fix`,
    /// agent tiers by tool name) → QUARANTINE, plus `retry` for a failure worth retrying
    /// as is. Written as the bare name; a tool's name is an agent tier.
    #[derive(Default)]
    pub enum LadderStep {
        /// An agent tier: the name of the tool in `[tools]` that is asked to fix the task.
        Agent(String),
        /// No step named yet (written `""`): the analysis stage itself. Only a hand-written
        /// analysis records it; it is no rung and runs as an unknown agent tier would.
        #[default]
        Baseline = "",
        /// Not a rung: retry without a fix (a transient failure); the position does not
        /// move.
        Retry = "retry",
        /// The rung that runs the detectors' fixers.
        MechanicalFix = "mechanical_fix",
        /// Past the last rung: stop and escalate to a person.
        Quarantine = "quarantine",
    }
}

impl LadderStep {
    /// Whether `recovery.ladder` may list the step: `mechanical_fix` or an agent tier.
    pub fn is_rung(&self) -> bool {
        matches!(self, LadderStep::MechanicalFix | LadderStep::Agent(_))
    }

    /// The agent tier's tool name, for an agent step.
    pub fn agent(&self) -> Option<&str> {
        match self {
            LadderStep::Agent(tool) => Some(tool),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_written_as_it_was_read() {
        for (text, step) in [
            ("", LadderStep::Baseline),
            ("retry", LadderStep::Retry),
            ("mechanical_fix", LadderStep::MechanicalFix),
            ("quarantine", LadderStep::Quarantine),
            ("aider", LadderStep::Agent("aider".to_string())),
            ("Retry", LadderStep::Agent("Retry".to_string())),
        ] {
            let json = serde_json::to_string(text).expect("string");
            let read: LadderStep = serde_json::from_str(&json).expect("any string reads");
            assert_eq!(read, step, "{json}");
            assert_eq!(serde_json::to_string(&read).expect("writes"), json);
            assert_eq!(read, text);
        }
        assert_eq!(LadderStep::default(), LadderStep::Baseline);
        assert!(serde_json::from_str::<LadderStep>("1").is_err());
    }

    #[test]
    fn only_fixes_are_rungs() {
        assert!(LadderStep::MechanicalFix.is_rung());
        assert!(LadderStep::from("claude").is_rung());
        assert_eq!(LadderStep::from("claude").agent(), Some("claude"));
        for step in [
            LadderStep::Baseline,
            LadderStep::Retry,
            LadderStep::Quarantine,
        ] {
            assert!(!step.is_rung(), "{step:?}");
            assert_eq!(step.agent(), None);
        }
    }
}
