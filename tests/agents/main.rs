//! The slow suite: the real AI coding CLIs (aider, codex, claude code, gemini-cli) driven by
//! `phase` against a scripted fake model server on 127.0.0.1 (tests/tools/agents/
//! fake_model.py), inside a network namespace with only loopback when the machine allows
//! one. Run with `cargo test --test agents`; the CLIs come from PATH (install the pinned
//! versions with `eval "$(scripts/install-agents.sh DIR)"`). A missing CLI skips its
//! tests, or fails them under `CI=true`.

mod harness;
mod isolation;
mod sandbox;
mod scenarios;
mod setup;
mod turned_away;
mod usage;

/// The scenarios for one CLI, as a module of tests named after it.
macro_rules! cli_tests {
    ($module:ident, $cli:expr) => {
        mod $module {
            use crate::harness::Cli;
            use crate::scenarios;

            #[test]
            fn fixes_a_failing_task_as_a_ladder_tier() {
                scenarios::ladder_tier($cli);
            }

            #[test]
            fn does_a_routed_code_task_from_its_description() {
                scenarios::routed_task($cli);
            }

            #[test]
            fn http_400_and_changing_nothing_climb_to_the_next_rung() {
                scenarios::climbs($cli);
            }

            #[test]
            fn http_429_is_classified_transient() {
                scenarios::rate_limited($cli);
            }

            #[test]
            fn http_401_needs_a_human() {
                scenarios::unauthorized($cli);
            }
        }
    };
}

/// Isolation, and a rate-limited ladder tier, with the CLIs that run fastest here (a few
/// seconds each; aider alone takes ~10 s to start).
mod more {
    use crate::harness::Cli;
    use crate::{isolation, turned_away};

    #[test]
    fn claude_in_a_worktree_is_merged_back() {
        isolation::merged_back(Cli::Claude);
    }

    #[test]
    fn codex_in_a_worktree_is_merged_back() {
        isolation::merged_back(Cli::Codex);
    }

    #[test]
    fn claude_in_a_worktree_conflicting_keeps_the_branch() {
        isolation::conflict_keeps_the_branch(Cli::Claude);
    }

    #[test]
    fn claude_rate_limited_as_a_ladder_tier_runs_again() {
        turned_away::rate_limited_tier_runs_again(Cli::Claude);
    }
}

cli_tests!(aider, Cli::Aider);
cli_tests!(codex, Cli::Codex);
cli_tests!(claude, Cli::Claude);
cli_tests!(gemini, Cli::Gemini);
