//! The command line through the real binary.

mod bad_task_files;
mod init_schema;
mod json_outputs;
mod operate;
mod reading_state;
mod readme;
mod show_logs;
mod submit;
mod talk;
mod terminal;
mod validate;

/// The README, as the tests that run its snippets read it.
const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

/// The body of the first fenced block of README, after the heading line `section` if one is
/// named, that starts with "```<fence>\n<start>" (`start` may span lines, to tell apart
/// blocks with the same first line).
fn readme_snippet(section: Option<&str>, fence: &str, start: &str) -> String {
    let text = match section {
        Some(heading) => {
            let at = README
                .find(&format!("\n{heading}\n"))
                .unwrap_or_else(|| panic!("README has no {heading:?} section"));
            &README[at..]
        }
        None => README,
    };
    let opening = format!("```{fence}\n{start}");
    let at = text
        .find(&opening)
        .unwrap_or_else(|| panic!("README has no {opening:?} block"));
    let body = &text[at + fence.len() + 4..];
    body[..body.find("\n```").expect("closed block") + 1].to_string()
}
