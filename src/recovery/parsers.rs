//! Detector output → issues. Two parsers: `generic` (a regex over output lines) and
//! `ruff_json` (ruff's `--output-format json`).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::model::Issue;

/// The `generic` parser's default pattern: `path:line[:col]: [RULE] message`, the shape
/// of most compilers and linters (gcc, rustc's short format, flake8, eslint's unix
/// format, shellcheck's gcc format).
pub const DEFAULT_PATTERN: &str = r"^(?P<file>[^:\s][^:]*):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?:(?P<rule>[A-Z]+[0-9]+)\b:?\s*)?(?P<message>.+)$";

/// [`DEFAULT_PATTERN`], compiled once.
pub(super) fn default_pattern() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(DEFAULT_PATTERN).expect("the default pattern compiles"));
    &RE
}

/// Every line of `output` the pattern matches becomes an issue. Groups are optional
/// except that an empty `message` falls back to the whole line. `fixable` is the same
/// for every issue: whether the detector has a fixer.
pub(super) fn parse_generic(
    detector: &str,
    pattern: &Regex,
    output: &str,
    workdir: &Path,
    fixable: bool,
) -> Vec<Issue> {
    output
        .lines()
        .filter_map(|line| {
            let caps = pattern.captures(line.trim_end())?;
            let text = |name: &str| caps.name(name).map(|m| m.as_str().trim().to_string());
            let number = |name: &str| text(name).and_then(|s| s.parse::<u64>().ok());
            let message = text("message")
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| line.trim().to_string());
            Some(Issue {
                detector: detector.to_string(),
                file: text("file").map(|f| relative_to(&f, workdir)),
                line: number("line"),
                column: number("col"),
                rule: text("rule").filter(|r| !r.is_empty()),
                message,
                fixable,
            })
        })
        .collect()
}

/// ruff's JSON: an array of `{code, message, filename, location: {row, column}, fix}`.
/// An issue is fixable when `fix` is an object whose `applicability` is `safe` (or
/// absent): that is what `ruff check --fix` applies without `--unsafe-fixes`.
pub(super) fn parse_ruff_json(
    detector: &str,
    stdout: &str,
    workdir: &Path,
) -> Result<Vec<Issue>, String> {
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("output is not ruff JSON: {e}"))?;
    let items = value
        .as_array()
        .ok_or("output is not ruff JSON: expected an array of diagnostics")?;
    Ok(items
        .iter()
        .map(|item| ruff_issue(detector, item, workdir))
        .collect())
}

fn ruff_issue(detector: &str, item: &Value, workdir: &Path) -> Issue {
    let str_field = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
    let location = item.get("location");
    let coord = |key: &str| location.and_then(|l| l.get(key)).and_then(Value::as_u64);
    let fixable = item
        .get("fix")
        .and_then(Value::as_object)
        .is_some_and(|fix| {
            matches!(
                fix.get("applicability").and_then(Value::as_str),
                None | Some("safe")
            )
        });
    Issue {
        detector: detector.to_string(),
        file: str_field("filename").map(|f| relative_to(&f, workdir)),
        line: coord("row"),
        column: coord("column"),
        // Older ruff versions print `code: null` for syntax errors.
        rule: str_field("code"),
        message: str_field("message").unwrap_or_else(|| "(no message)".to_string()),
        fixable,
    }
}

/// Tools often print absolute paths; issues name files relative to the workdir.
fn relative_to(file: &str, workdir: &Path) -> String {
    Path::new(file)
        .strip_prefix(workdir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| file.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_default_pattern_reads_common_shapes() {
        let re = Regex::new(DEFAULT_PATTERN).expect("pattern");
        let out = "a.py:3:1: E001 trailing whitespace\n\
                   src/main.rs:10: error: expected `;`\n\
                   noise without location\n\
                   /w/b.txt:7:12: W9 tab\n";
        let issues = parse_generic("lint", &re, out, Path::new("/w"), true);
        assert_eq!(issues.len(), 3, "{issues:?}");
        assert_eq!(issues[0].file.as_deref(), Some("a.py"));
        assert_eq!((issues[0].line, issues[0].column), (Some(3), Some(1)));
        assert_eq!(issues[0].rule.as_deref(), Some("E001"));
        assert_eq!(issues[0].message, "trailing whitespace");
        assert!(issues[0].fixable);
        assert_eq!(issues[1].rule, None);
        assert_eq!(issues[1].column, None);
        assert_eq!(issues[1].message, "error: expected `;`");
        assert_eq!(issues[2].file.as_deref(), Some("b.txt"));
    }

    #[test]
    fn ruff_json_as_ruff_prints_it() {
        // Trimmed from `ruff check --output-format json` (ruff 0.17).
        let out = r#"[
  {"cell": null, "code": "F401", "end_location": {"column": 10, "row": 1},
   "filename": "/w/a.py",
   "fix": {"applicability": "safe", "edits": [{"content": "", "end_location": {"column": 1, "row": 2}, "location": {"column": 1, "row": 1}}], "message": "Remove unused import: `os`"},
   "location": {"column": 8, "row": 1}, "message": "`os` imported but unused",
   "name": "unused-import", "noqa_row": 1, "severity": "error", "url": "https://docs.astral.sh/ruff/rules/unused-import"},
  {"cell": null, "code": "F841", "end_location": {"column": 6, "row": 8},
   "filename": "/w/a.py",
   "fix": {"applicability": "unsafe", "edits": [], "message": "Remove assignment to unused variable `y`"},
   "location": {"column": 5, "row": 8}, "message": "Local variable `y` is assigned to but never used",
   "name": "unused-variable", "noqa_row": 8, "severity": "error", "url": "https://docs.astral.sh/ruff/rules/unused-variable"},
  {"cell": null, "code": "invalid-syntax", "end_location": {"column": 1, "row": 2}, "filename": "/w/b.py",
   "fix": null, "location": {"column": 1, "row": 2}, "message": "unexpected EOF while parsing",
   "name": "invalid-syntax", "noqa_row": null, "severity": "error", "url": null}
]"#;
        let issues = parse_ruff_json("ruff", out, Path::new("/w")).expect("parses");
        assert_eq!(issues.len(), 3);
        assert_eq!(issues[0].file.as_deref(), Some("a.py"));
        assert_eq!(issues[0].rule.as_deref(), Some("F401"));
        assert_eq!((issues[0].line, issues[0].column), (Some(1), Some(8)));
        assert!(issues[0].fixable, "safe fix");
        assert!(!issues[1].fixable, "unsafe fix is not applied by --fix");
        assert_eq!(issues[2].rule.as_deref(), Some("invalid-syntax"));
        assert!(!issues[2].fixable);
        assert!(
            parse_ruff_json("ruff", "[]", Path::new("/w"))
                .expect("empty")
                .is_empty()
        );
        assert!(
            parse_ruff_json("ruff", "", Path::new("/w"))
                .expect("nothing")
                .is_empty()
        );
        let err =
            parse_ruff_json("ruff", "error: bad flag", Path::new("/w")).expect_err("not json");
        assert!(err.contains("not ruff JSON"), "{err}");
    }
}
