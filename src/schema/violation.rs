//! Schema errors in words a person editing the file can act on: the field that is unknown
//! (and what was probably meant), the field that is missing, what was expected and what
//! was found, with found values shortened so a huge value cannot flood the message.

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// Values longer than this (as compact JSON) are cut in messages.
const MAX_SHOWN: usize = 60;

/// Patterns the published schemas use, with what they mean.
const KNOWN_PATTERNS: [(&str, &str); 4] = [
    (
        r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        "is not a valid task id (letters, digits, '.', '_', '-'; starting with a letter or \
         digit; at most 128 characters)",
    ),
    (
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        "is not a timestamp like \"2026-01-02T03:04:05.678Z\" (RFC 3339, UTC, milliseconds)",
    ),
    (
        r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)?$",
        "is not a timestamp like \"2026-01-02T03:04:05.678Z\" (RFC 3339, UTC, \
         milliseconds) or empty",
    ),
    (
        r"^[^=]+$",
        "is not a valid environment variable name (empty, or contains '=')",
    ),
];

/// Sort rank at equal depth (lower first) and the message for one error.
pub(super) fn describe(error: &ValidationError<'_>, root: &Value) -> (u8, String) {
    let instance: &Value = error.instance();
    // The keyword's own value in the schema, e.g. the `type` array or the `enum` list.
    let keyword = root.pointer(error.schema_path().as_str());
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            (0, unknown_fields(unexpected, allowed_fields(error, root)))
        }
        ValidationErrorKind::Required { property } => {
            (2, format!("missing required field {property}"))
        }
        ValidationErrorKind::Type { .. } => {
            let expected = match keyword {
                Some(Value::Array(types)) => join_or(types.iter().filter_map(Value::as_str)),
                Some(Value::String(t)) => t.clone(),
                _ => "another type".to_string(),
            };
            (1, format!("expected {expected}, got {}", show(instance)))
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = match options.as_ref() {
                Value::Array(items) => items.iter().map(show).collect(),
                other => vec![show(other)],
            };
            (
                1,
                format!(
                    "expected one of {}; got {}",
                    options.join(", "),
                    show(instance)
                ),
            )
        }
        ValidationErrorKind::Constant { expected_value } => (
            1,
            format!("expected {}, got {}", show(expected_value), show(instance)),
        ),
        ValidationErrorKind::Pattern { pattern } => (1, pattern_message(instance, pattern)),
        ValidationErrorKind::PropertyNames { error } => {
            let (_, inner) = describe(error, root);
            (1, format!("invalid key: {inner}"))
        }
        ValidationErrorKind::UniqueItems => (1, duplicate_items(instance)),
        _ => (1, shorten_instance(error.to_string(), instance)),
    }
}

fn unknown_fields(unexpected: &[String], allowed: Vec<&str>) -> String {
    let names: Vec<String> = unexpected.iter().map(|u| show_str(u)).collect();
    let noun = if names.len() == 1 { "field" } else { "fields" };
    let mut message = format!("unknown {noun} {}", names.join(", "));
    if let [only] = unexpected
        && let Some(near) = closest(only, &allowed)
    {
        message.push_str(&format!(" (did you mean {}?)", show_str(near)));
    } else if !allowed.is_empty() {
        message.push_str(&format!(" (expected one of: {})", allowed.join(", ")));
    }
    message
}

/// The `properties` next to the failing `additionalProperties`.
fn allowed_fields<'a>(error: &ValidationError<'_>, root: &'a Value) -> Vec<&'a str> {
    let path = error.schema_path().as_str();
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    root.pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The allowed name a typo most likely meant: at most a third of its letters off.
fn closest<'a>(typo: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let limit = (typo.chars().count() / 3).max(1);
    allowed
        .iter()
        .map(|a| (edit_distance(&typo.to_lowercase(), a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn pattern_message(instance: &Value, pattern: &str) -> String {
    match KNOWN_PATTERNS.iter().find(|(p, _)| *p == pattern) {
        Some((_, meaning)) => format!("{} {meaning}", show(instance)),
        None => format!("{} does not match the pattern {pattern:?}", show(instance)),
    }
}

fn duplicate_items(instance: &Value) -> String {
    let items = instance.as_array().map(Vec::as_slice).unwrap_or_default();
    let repeated = items
        .iter()
        .enumerate()
        .find(|(i, item)| items[..*i].contains(item));
    match repeated {
        Some((_, item)) => format!("{} is listed more than once", show(item)),
        None => "items must be unique".to_string(),
    }
}

/// "a", "a or b", "a, b or c".
fn join_or<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<&str> = words.collect();
    match words.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Compact JSON, cut to [`MAX_SHOWN`] characters.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let cut: String = text.chars().take(MAX_SHOWN - 1).collect();
    format!("{cut}…")
}

fn show_str(s: &str) -> String {
    show(&Value::String(s.to_string()))
}

/// The validator's own message, with a long rendering of the value shortened.
fn shorten_instance(message: String, instance: &Value) -> String {
    let full = instance.to_string();
    if full.chars().count() <= MAX_SHOWN {
        return message;
    }
    message.replacen(&full, &show(instance), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_field_meant() {
        let allowed = ["command", "kind", "depends_on", "timeout_seconds"];
        assert_eq!(closest("comand", &allowed), Some("command"));
        assert_eq!(closest("Kind", &allowed), Some("kind"));
        assert_eq!(closest("dependson", &allowed), Some("depends_on"));
        assert_eq!(closest("timeout", &allowed), None);
        assert_eq!(closest("zzz", &allowed), None);
    }

    #[test]
    fn long_values_are_cut() {
        let long = Value::String("x".repeat(500));
        let shown = show(&long);
        assert_eq!(shown.chars().count(), MAX_SHOWN);
        assert!(shown.ends_with('…'));
        assert_eq!(show(&Value::from(3)), "3");
    }

    #[test]
    fn alternatives_read_as_a_list() {
        assert_eq!(join_or(["integer"].into_iter()), "integer");
        assert_eq!(join_or(["integer", "null"].into_iter()), "integer or null");
        assert_eq!(join_or(["a", "b", "c"].into_iter()), "a, b or c");
    }
}
