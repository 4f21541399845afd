//! A plan item's annotation: a trailing `{key: value; key: value; flag}` on its text
//! (README "Plans"). Parsed from the item's text as Markdown rendered it (code spans keep
//! their content), so escapes and emphasis are already resolved.

/// What an item's annotation says; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotation {
    /// `id: …` — the task id, instead of the one derived from the plan.
    pub id: Option<String>,
    /// `kind: …`.
    pub kind: Option<String>,
    /// `tool: …`.
    pub tool: Option<String>,
    /// `files: a.py, b.py`.
    pub files: Vec<String>,
    /// `command: ruff check 'my dir'` — words, split as a shell would (quotes, `\`), but
    /// never run by one.
    pub command: Vec<String>,
    /// `after: 3, backend.2, other-task` — replaces the dependency on the item before;
    /// `after: none` for no dependency.
    pub after: Option<Vec<String>>,
    /// `parallel` — runs alongside the item before instead of after it.
    pub parallel: bool,
    /// `timeout: 300` — seconds.
    pub timeout: Option<u64>,
    /// `priority: 5`.
    pub priority: Option<i64>,
    /// `workdir: services/api`.
    pub workdir: Option<String>,
}

/// The keys an annotation may use, for error messages.
pub(super) const KEYS: &str =
    "id, kind, tool, files, command, after, parallel, timeout, priority, workdir";

/// Splits `text` into the item's title and its annotation (`{…}` closing the text); a
/// text that does not end in a balanced `{…}` has none. An annotation that does not
/// parse is an error, in words.
pub(super) fn split(text: &str) -> Result<(String, Annotation), String> {
    let trimmed = text.trim_end();
    let Some(open) = trailing_braces(trimmed) else {
        return Ok((text.trim().to_string(), Annotation::default()));
    };
    let inner = &trimmed[open + 1..trimmed.len() - 1];
    let annotation = parse(inner)?;
    Ok((trimmed[..open].trim().to_string(), annotation))
}

/// Where the `{` matching the final `}` of `text` is, if it ends in one.
fn trailing_braces(text: &str) -> Option<usize> {
    if !text.ends_with('}') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices().rev() {
        match c {
            '}' => depth += 1,
            '{' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse(inner: &str) -> Result<Annotation, String> {
    let mut a = Annotation::default();
    for part in split_outside_quotes(inner, ';')? {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = match part.split_once(':') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (part, None),
        };
        let need = |v: Option<&str>| match v {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(format!("{key}: needs a value ({{{key}: …}})")),
        };
        match key {
            "id" => a.id = Some(need(value)?),
            "kind" => a.kind = Some(need(value)?),
            "tool" => a.tool = Some(need(value)?),
            "workdir" => a.workdir = Some(need(value)?),
            "files" => a.files = list(&need(value)?),
            "command" => a.command = words(&need(value)?)?,
            "after" => {
                let v = need(value)?;
                a.after = Some(if matches!(v.as_str(), "none" | "-") {
                    Vec::new()
                } else {
                    list(&v)
                });
            }
            "parallel" => {
                a.parallel = match value {
                    None | Some("yes" | "true") => true,
                    Some("no" | "false") => false,
                    Some(v) => return Err(format!("parallel: {v:?} is neither yes nor no")),
                }
            }
            "timeout" => {
                let v = need(value)?;
                let secs = v
                    .trim_end_matches('s')
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s >= 1);
                a.timeout = Some(secs.ok_or(format!("timeout: {v:?} is not a number of seconds"))?);
            }
            "priority" => {
                let v = need(value)?;
                a.priority = Some(
                    v.parse()
                        .map_err(|_| format!("priority: {v:?} is not an integer"))?,
                );
            }
            other => return Err(format!("unknown key {other:?} (expected one of: {KEYS})")),
        }
    }
    Ok(a)
}

/// `a, b ,c` → `[a, b, c]`, empty parts dropped.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits at `sep` outside single and double quotes.
fn split_outside_quotes(text: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quote, mut escaped) = (0, None, false);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some('"'), '\\') | (None, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c == sep => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_string());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// Shell-like words: whitespace separates; `'…'` is literal; `"…"` and bare words take
/// `\` as an escape.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => out.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("command: a ' is not closed".to_string()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err("command: a \" is not closed".to_string()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_annotation_is_split_off() {
        let (title, a) = split("Lint the API {files: api/a.py, api/b.py; kind: lint; parallel}")
            .expect("parses");
        assert_eq!(title, "Lint the API");
        assert_eq!(a.files, ["api/a.py", "api/b.py"]);
        assert_eq!(a.kind.as_deref(), Some("lint"));
        assert!(a.parallel);
        let (title, a) = split("Plain text, braces {inside} the text").expect("parses");
        assert_eq!(title, "Plain text, braces {inside} the text");
        assert_eq!(a, Annotation::default());
    }

    #[test]
    fn commands_split_like_a_shell_without_one() {
        let (_, a) =
            split(r#"Run {command: sh -c 'echo a; exit 1' "two words" x\ y}"#).expect("parses");
        assert_eq!(
            a.command,
            ["sh", "-c", "echo a; exit 1", "two words", "x y"]
        );
        let (_, a) = split("T {after: none}").expect("parses");
        assert_eq!(a.after, Some(vec![]));
        let (_, a) = split("T {after: 1, backend.2}").expect("parses");
        assert_eq!(
            a.after,
            Some(vec!["1".to_string(), "backend.2".to_string()])
        );
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        assert_eq!(
            split("T {colour: red}").unwrap_err(),
            format!("unknown key \"colour\" (expected one of: {KEYS})")
        );
        assert_eq!(
            split("T {kind:}").unwrap_err(),
            "kind: needs a value ({kind: …})"
        );
        assert_eq!(
            split("T {timeout: soon}").unwrap_err(),
            "timeout: \"soon\" is not a number of seconds"
        );
        assert_eq!(
            split("T {command: 'open}").unwrap_err(),
            "a quote is not closed"
        );
    }
}
