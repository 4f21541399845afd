//! Copy-pastable `phase` commands for reports and prompts, with the state directory and
//! the configuration file this engine actually uses (absolute, quoted for a POSIX shell).

use std::path::{Path, PathBuf};

/// How to reach this engine's files from a shell.
#[derive(Debug, Clone, Default)]
pub(super) struct Commands {
    state_dir: PathBuf,
    config: Option<PathBuf>,
}

impl Commands {
    /// Commands for the state directory `state_dir` and, when known, the config file.
    pub(super) fn new(state_dir: &Path, config: Option<&Path>) -> Commands {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Commands {
            state_dir: absolute(state_dir),
            config: config.map(absolute),
        }
    }

    /// `phase ARGS --state-dir DIR [--config FILE]` (the options are global, so they may
    /// follow the verb and its arguments).
    pub(super) fn phase(&self, args: &[&str]) -> String {
        let mut words: Vec<String> = vec!["phase".to_string()];
        words.extend(args.iter().map(|a| crate::template::shell_word(a)));
        words.push("--state-dir".to_string());
        words.push(crate::template::shell_word(
            &self.state_dir.to_string_lossy(),
        ));
        if let Some(config) = &self.config {
            words.push("--config".to_string());
            words.push(crate::template::shell_word(&config.to_string_lossy()));
        }
        words.join(" ")
    }

    /// `phase retry ID …`.
    pub(super) fn retry(&self, task: &str) -> String {
        self.phase(&["retry", task])
    }

    /// The commands a person (or an agent) uses to look into a failed attempt and rerun
    /// the task, each with a few words on what it does.
    pub(super) fn for_task(&self, task: &str, attempt: u32) -> Vec<(&'static str, String)> {
        let n = attempt.to_string();
        vec![
            (
                "its stderr",
                self.phase(&["logs", task, "--attempt", &n, "--stderr"]),
            ),
            ("its stdout", self.phase(&["logs", task, "--attempt", &n])),
            ("where every task stands", self.phase(&["status"])),
            (
                "run it again, with a fresh retry budget and ladder",
                self.retry(task),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_files_in_use_and_quote_what_needs_it() {
        let c = Commands::new(
            Path::new("/p/my state"),
            Some(Path::new("/p/conf/it's.toml")),
        );
        assert_eq!(
            c.retry("build"),
            r"phase retry build --state-dir '/p/my state' --config '/p/conf/it'\''s.toml'"
        );
        let bare = Commands::new(Path::new("/p/.state"), None);
        assert_eq!(bare.retry("t"), "phase retry t --state-dir /p/.state");
    }
}
