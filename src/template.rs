//! argv templates: `["aider", "--message", "{description}", "{files}"]`.
//!
//! Placeholders expand to whole argv elements and never pass through a shell. A list
//! placeholder (`{command}`, `{files}`) must stand alone as an element and expands to one
//! element per item; a scalar placeholder (`{description}`, `{task_id}`, `{attempt}`,
//! `{workdir}`, `{prompt_file}`, `{prompt}`) may also sit inside an element
//! (`--id={task_id}`).
//! `{{` and `}}` stand for literal braces.

/// Values for the placeholders.
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    /// The task's own argv.
    pub command: &'a [String],
    /// The task's description.
    pub description: &'a str,
    /// The task's files.
    pub files: &'a [String],
    /// The task's id.
    pub task_id: &'a str,
    /// The attempt number.
    pub attempt: u32,
    /// The task's workdir (absolute).
    pub workdir: &'a str,
    /// The prompt file given to tools and agent tiers, when there is one.
    pub prompt_file: Option<&'a str>,
    /// The prompt file's text (`{prompt}`), for CLIs that take the prompt as an argument.
    pub prompt: Option<&'a str>,
}

/// Expands `template`; the error names the offending placeholder.
pub fn expand(template: &[String], vars: &Vars<'_>) -> Result<Vec<String>, String> {
    let mut argv = Vec::with_capacity(template.len() + vars.command.len());
    for element in template {
        match element.as_str() {
            "{command}" => argv.extend(vars.command.iter().cloned()),
            "{files}" => argv.extend(vars.files.iter().cloned()),
            _ => argv.push(expand_scalars(element, vars)?),
        }
    }
    if argv.is_empty() {
        return Err("the command expands to nothing (an empty {command}?)".to_string());
    }
    Ok(argv)
}

fn expand_scalars(element: &str, vars: &Vars<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(element.len());
    let mut rest = element;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
            continue;
        }
        if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!("unmatched '}}' in {element:?}"));
        }
        let Some(end) = tail.find('}') else {
            return Err(format!("unclosed '{{' in {element:?}"));
        };
        let name = &tail[1..end];
        let value = match name {
            "description" => vars.description.to_string(),
            "task_id" => vars.task_id.to_string(),
            "attempt" => vars.attempt.to_string(),
            "workdir" => vars.workdir.to_string(),
            "prompt_file" => vars
                .prompt_file
                .ok_or("{prompt_file} is only available to tools and agent tiers")?
                .to_string(),
            "prompt" => vars
                .prompt
                .ok_or("{prompt} is only available to tools and agent tiers")?
                .to_string(),
            "command" | "files" => {
                return Err(format!(
                    "{{{name}}} expands to several arguments and must be an element of its own, not part of {element:?}"
                ));
            }
            other => return Err(format!("unknown placeholder {{{other}}} in {element:?}")),
        };
        out.push_str(&value);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `word` as one POSIX shell word, for a person to read or paste: as is when it is plainly
/// safe, else single-quoted (each `'` written `'\''`). Nothing in the engine runs a shell
/// on it.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn lists_expand_to_whole_elements() {
        let command = s(&["echo", "a b", "$HOME"]);
        let files = s(&["x.py", "y.py"]);
        let vars = Vars {
            command: &command,
            files: &files,
            task_id: "t1",
            attempt: 2,
            description: "fix it; rm -rf /",
            ..Vars::default()
        };
        let argv = expand(
            &s(&[
                "{command}",
                "--id={task_id}.{attempt}",
                "{description}",
                "{files}",
            ]),
            &vars,
        )
        .expect("expands");
        assert_eq!(
            argv,
            s(&[
                "echo",
                "a b",
                "$HOME",
                "--id=t1.2",
                "fix it; rm -rf /",
                "x.py",
                "y.py"
            ])
        );
    }

    #[test]
    fn errors_name_the_placeholder() {
        let vars = Vars::default();
        let err = expand(&s(&["x", "{nope}"]), &vars).expect_err("unknown");
        assert!(err.contains("{nope}"), "{err}");
        let err = expand(&s(&["x", "a{files}"]), &vars).expect_err("embedded list");
        assert!(err.contains("{files}"), "{err}");
        let err = expand(&s(&["{command}"]), &vars).expect_err("empty");
        assert!(err.contains("nothing"), "{err}");
        assert_eq!(expand(&s(&["{{x}}"]), &vars).expect("braces"), s(&["{x}"]));
    }
}
