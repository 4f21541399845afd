//! The gate's `review` step: any configured tool (an agent, a script) is handed a prompt
//! — the task, what the attempt changed, and the verify output — as
//! `logs/<id>/<n>.review.prompt.md` (`{prompt_file}`, `{prompt}`, and a one-line
//! `{description}` naming it), with an agent preset's home and key prepared as for an
//! agent tier. It approves by exiting 0; its stdout gives the reasons.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::changes;
use super::step::{Command, StepRun};
use crate::model::{GateRun, GateStep};
use crate::recovery::runner::Abort;

/// Runs the review by `tool` of the attempt; `verify` is how the verify step went, if
/// there was one.
pub(super) fn run(
    cx: &StepRun<'_>,
    tool: &str,
    verify: Option<&GateRun>,
) -> Result<GateRun, Abort> {
    let shared = cx.shared;
    let failed = |why: String| GateRun {
        step: GateStep::Review,
        tool: Some(tool.to_string()),
        outcome: why,
        ..GateRun::default()
    };
    let Some(config) = shared.config.tools.get(tool) else {
        return Ok(failed(format!(
            "cannot start: the review tool {tool:?} is not configured (no [tools.{tool}])"
        )));
    };
    let env = match crate::agent::prepare_env(&shared.state, tool, config) {
        Ok(env) => env,
        Err(e) => return Ok(failed(e)),
    };
    let text = render(cx, verify);
    let path = shared
        .state
        .task_logs(cx.ws.task_id())
        .join(format!("{}.review.prompt.md", cx.ws.attempt));
    let written = crate::store::dir_below(&shared.state.task_logs(cx.ws.task_id()), 2, true)
        .and_then(|_| crate::store::write_atomic(&path, text.as_bytes()));
    if let Err(e) = written {
        return Ok(failed(format!(
            "cannot start: cannot write the prompt file: {e}"
        )));
    }
    // The tool runs in the task's workdir: a relative state directory would not resolve.
    let path = std::path::absolute(&path).unwrap_or(path);
    let prompt_file = path.to_string_lossy().into_owned();
    let prompt_arg = crate::agent::prompt::as_argument(&text, &path);
    let description = request(cx, &path);
    let seconds = config
        .timeout_seconds
        .unwrap_or(shared.config.recovery.fix_timeout_seconds);
    let env = env
        .into_iter()
        .chain(config.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    cx.run(&Command {
        step: GateStep::Review,
        tool: Some(tool),
        template: &config.command,
        description: &description,
        prompt: Some((&prompt_file, &prompt_arg)),
        env,
        timeout: Duration::from_secs(seconds),
    })
}

/// The one-line request given as `{description}`.
fn request(cx: &StepRun<'_>, prompt_file: &Path) -> String {
    let what = match cx.ws.task.description.as_str() {
        "" => String::new(),
        d => format!(" The task: {d}"),
    };
    format!(
        "Review attempt {} of task {}: approve by exiting 0, or reject by exiting non-zero \
         with your reasons on stdout.{what} Details are in {}.",
        cx.ws.attempt,
        cx.ws.task_id(),
        prompt_file.display()
    )
}

/// The prompt's Markdown.
fn render(cx: &StepRun<'_>, verify: Option<&GateRun>) -> String {
    let ws = cx.ws;
    let workdir = cx.workdir();
    let mut s = format!(
        "# Review request: task `{}`, attempt {}\n\n",
        ws.task_id(),
        ws.attempt
    );
    crate::agent::prompt::task_section(&mut s, &ws.task, &workdir);
    let r = cx.result;
    let _ = writeln!(
        s,
        "\n## The attempt\n\n- tool: {}\n- exit code: {}\n- ran for {} ms",
        r.tool_id,
        r.exit_code.map_or("none".to_string(), |c| c.to_string()),
        r.duration_ms
    );
    // Only files inside the workdir are read into the prompt (a hand-edited result may
    // name any path).
    let files: Vec<String> = r
        .files_modified
        .iter()
        .filter(|f| ws.inside(f).is_some())
        .cloned()
        .collect();
    let _ = writeln!(
        s,
        "\n## What it changed\n\n{}",
        changes::render(&workdir, &files)
    );
    let _ = writeln!(s, "\n## Verify\n");
    match verify {
        None => {
            let _ = writeln!(s, "The task has no verify step.");
        }
        Some(v) => {
            let _ = writeln!(
                s,
                "`{}`: {} ({}).",
                serde_json::Value::from(v.argv.clone()),
                if v.passed { "passed" } else { "failed" },
                v.outcome
            );
            if !v.output.trim().is_empty() {
                let _ = writeln!(s, "\n```text\n{}\n```", v.output.trim_end());
            }
        }
    }
    let _ = writeln!(
        s,
        "\n## What to do\n\nReview the change against the task: does it do what the task asks, \
         correctly and completely? Do not edit any file. Print your verdict and your reasons \
         on stdout. Exit 0 to approve. Exit with a non-zero code to reject: the engine then \
         has the task fixed and run again, and your reasons are part of what the fixer reads."
    );
    s
}
