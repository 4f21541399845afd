//! The prompt an agent gets: one builder for the task part, used for a routed task (do the
//! work) and for a fix (recovery adds the analysis and the last error). Markdown, written
//! to a file under `logs/<id>/` (`{prompt_file}`) and passed as text (`{prompt}`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use crate::model::TaskSpec;

/// Longest `{prompt}`: Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN).
pub const MAX_PROMPT_ARGUMENT: usize = 100 * 1024;

/// The task: id, kind, description, command, working directory, files.
pub fn task_section(s: &mut String, task: &TaskSpec, workdir: &Path) {
    let _ = writeln!(s, "## The task\n");
    let _ = writeln!(s, "- kind: {}", task.kind);
    if !task.description.is_empty() {
        let _ = writeln!(s, "- description: {}", task.description);
    }
    if !task.command.is_empty() {
        let _ = writeln!(
            s,
            "- command (argv): `{}`",
            serde_json::Value::from(task.command.clone())
        );
    }
    let _ = writeln!(s, "- working directory: {}", workdir.display());
    if !task.files.is_empty() {
        let _ = writeln!(s, "- files: {}", task.files.join(", "));
    }
}

/// The prompt of a routed task: do what its description asks.
pub fn render_task(task: &TaskSpec, task_id: &str, attempt: u32, workdir: &Path) -> String {
    let mut s = format!("# Task `{task_id}`, attempt {attempt}\n\n");
    task_section(&mut s, task, workdir);
    let files = if task.files.is_empty() {
        "the files in the working directory".to_string()
    } else {
        format!("the task's files ({})", task.files.join(", "))
    };
    let _ = writeln!(
        s,
        "\n## What to do\n\n{}\n\nDo it by editing {files}. Do not ask questions: nobody \
         will answer. The engine records what you changed as a diff; a run that changes \
         nothing counts as failed.",
        if task.description.is_empty() {
            "The task has no description; its kind and files above are all there is."
        } else {
            task.description.as_str()
        }
    );
    s
}

/// `text` as one argv element: at most [`MAX_PROMPT_ARGUMENT`] bytes, cut at a line and
/// pointing to the whole prompt in `file` when it is longer.
pub fn as_argument<'a>(text: &'a str, file: &Path) -> Cow<'a, str> {
    if text.len() <= MAX_PROMPT_ARGUMENT {
        return Cow::Borrowed(text);
    }
    let note = format!(
        "\n\n(The prompt is cut here; all of it is in {}.)\n",
        file.display()
    );
    let mut end = MAX_PROMPT_ARGUMENT - note.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    Cow::Owned(format!("{}{note}", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_prompt_says_what_to_do_and_with_which_files() {
        let task = TaskSpec {
            kind: "code".into(),
            description: "Make add() add".into(),
            files: vec!["calc.py".into()].into(),
            ..TaskSpec::default()
        };
        let text = render_task(&task, "t1", 2, Path::new("/w"));
        assert!(text.starts_with("# Task `t1`, attempt 2"), "{text}");
        assert!(text.contains("- description: Make add() add"));
        assert!(text.contains("editing the task's files (calc.py)"));
    }

    #[test]
    fn a_long_prompt_is_cut_at_a_line_and_names_the_file() {
        let long = "é line\n".repeat(MAX_PROMPT_ARGUMENT / 4);
        let arg = as_argument(&long, Path::new("/s/p.md"));
        assert!(arg.len() <= MAX_PROMPT_ARGUMENT);
        assert!(
            arg.ends_with("all of it is in /s/p.md.)\n"),
            "{}",
            &arg[arg.len() - 80..]
        );
        assert!(matches!(
            as_argument("short", Path::new("x")),
            Cow::Borrowed("short")
        ));
    }
}
