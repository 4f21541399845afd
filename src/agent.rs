//! What an AI coding CLI needs before each run, shared by the executor (an agent as a
//! routed tool) and recovery (an agent as a ladder tier): its own home under the state
//! directory with the files the CLI reads there, its API key under the name it reads, and
//! the prompt (the task, and for fixes what went wrong) as a file and as text.
//!
//! Only tools with a `preset` get a home; any tool whose argv uses `{prompt_file}` or
//! `{prompt}` gets a prompt. The argv and the fixed environment come from the config
//! (`config/presets.rs`).

mod auth;
pub mod cost;
mod ended;
mod fix_run;
mod home;
pub mod prompt;
pub mod usage;

pub use auth::key_refused;
pub use ended::{AgentEnd, end_attempt, settle_gated};
pub use fix_run::{FixRun, observe_fix_run};
pub use home::{home_dir, missing_key, prepare_env};

use std::path::Path;

use crate::config::ToolConfig;
use crate::model::TaskSpec;
use crate::store::StateDir;

/// What a routed tool's attempt gets on top of its configured command and env.
#[derive(Debug, Default)]
pub struct AttemptSetup {
    /// Environment to add before the tool's and the task's own `env` (which win).
    pub env: Vec<(String, String)>,
    /// `{prompt_file}`: the absolute path of the prompt written for this attempt.
    pub prompt_file: Option<String>,
    /// `{prompt}`: the prompt's text, cut to what fits in one argument.
    pub prompt: Option<String>,
    /// What stands for the prompt's text in the recorded argv:
    /// `<prompt: logs/<id>/<n>.prompt.md>`.
    pub prompt_placeholder: Option<String>,
}

impl AttemptSetup {
    /// `argv` as it is recorded (`execution_results.json`, `TASK_STARTED`): the prompt's
    /// text, which can be 100 KiB and repeats the prompt file, replaced by a placeholder
    /// naming the file.
    pub fn recorded_argv(&self, argv: &[String]) -> Vec<String> {
        match (&self.prompt, &self.prompt_placeholder) {
            (Some(text), Some(placeholder)) if !text.is_empty() => argv
                .iter()
                .map(|a| a.replace(text.as_str(), placeholder))
                .collect(),
            _ => argv.to_vec(),
        }
    }
}

/// Whether `command` needs a prompt (`{prompt_file}` or `{prompt}`).
pub fn wants_prompt(command: &[String]) -> bool {
    command
        .iter()
        .any(|e| e.contains("{prompt_file}") || e.contains("{prompt}"))
}

/// Prepares attempt `attempt` of `task` with tool `tool_name`: its home and env, and when
/// its argv asks for one, the prompt `logs/<id>/<attempt>.prompt.md` built from the task's
/// description and files. The error is the reason of an attempt that cannot start.
pub fn prepare_attempt(
    state: &StateDir,
    tool_name: &str,
    tool: &ToolConfig,
    task: &TaskSpec,
    task_id: &str,
    attempt: u32,
    workdir: &Path,
) -> Result<AttemptSetup, String> {
    let mut setup = AttemptSetup {
        env: prepare_env(state, tool_name, tool)?,
        ..AttemptSetup::default()
    };
    if wants_prompt(&tool.command) {
        let text = prompt::render_task(task, task_id, attempt, workdir);
        let dir = state.task_logs(task_id);
        let path = dir.join(format!("{attempt}.prompt.md"));
        // `logs/<task>/<n>.prompt.md`: no planted link on the way is followed (issue 8).
        crate::store::open_below(&path, 3, crate::store::Access::Truncate)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, text.as_bytes())
                    .map_err(|e| crate::Error::io(&path, "write", e))
            })
            .map_err(|e| format!("cannot write the prompt file: {e}"))?;
        let path = std::path::absolute(&path).unwrap_or(path);
        setup.prompt_placeholder = Some(format!("<prompt: logs/{task_id}/{attempt}.prompt.md>"));
        setup.prompt = Some(prompt::as_argument(&text, &path).into_owned());
        setup.prompt_file = Some(path.to_string_lossy().into_owned());
    }
    Ok(setup)
}
