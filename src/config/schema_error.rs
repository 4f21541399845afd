//! Schema violations of the config rendered in the config's own terms: dotted TOML key
//! paths (`tools.shell.command`, `routing.rules[0].kind`) instead of JSON pointers, and an
//! unknown key named with the keys that were expected there.

use serde_json::Value;

use crate::schema::{SchemaName, Violation};

/// One line saying what is wrong and where.
pub(super) fn describe(doc: &Value, violation: &Violation) -> String {
    if let Some(message) = unknown_key(doc, &violation.pointer) {
        return message;
    }
    let at = dotted(doc, &violation.pointer);
    let at = if at.is_empty() { "(top level)" } else { &at };
    format!("{at}: {}", violation.message)
}

/// `path.key`, quoting `key` the way TOML needs when it is not a bare key.
pub(super) fn join_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// An additionalProperties violation reports the enclosing object; name the key itself.
fn unknown_key(doc: &Value, pointer: &str) -> Option<String> {
    let object = doc.pointer(pointer)?.as_object()?;
    let root: Value = serde_json::from_str(SchemaName::Config.source()).ok()?;
    let schema = schema_at(&root, pointer)?;
    if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
        return None;
    }
    let expected = schema.get("properties")?.as_object()?;
    let key = object.keys().find(|k| !expected.contains_key(*k))?;
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    Some(format!(
        "{}: unknown key (expected one of: {})",
        join_key(&dotted(doc, pointer), key),
        names.join(", ")
    ))
}

/// The subschema that governs the value at `pointer` (following `$ref`s into `$defs`).
fn schema_at<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = resolve(root, root)?;
    for segment in segments(pointer) {
        let child = node
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| {
                node.get("items")
                    .filter(|_| segment.parse::<usize>().is_ok())
            })
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        node = resolve(root, child)?;
    }
    Some(node)
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> Option<&'a Value> {
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        node = root.pointer(reference.strip_prefix('#')?)?;
    }
    Some(node)
}

/// `/routing/rules/0/kind` → `routing.rules[0].kind` (empty for the whole document).
fn dotted(doc: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut node = Some(doc);
    for segment in segments(pointer) {
        match node {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                node = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            _ => {
                out = join_key(&out, &segment);
                node = node.and_then(|n| n.get(&segment));
            }
        }
    }
    out
}

fn segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_toml_paths() {
        let doc = json!({"routing": {"rules": [{"kind": 1}]}, "tools": {"my.tool": {}}});
        assert_eq!(
            dotted(&doc, "/routing/rules/0/kind"),
            "routing.rules[0].kind"
        );
        assert_eq!(dotted(&doc, "/tools/my.tool"), "tools.\"my.tool\"");
        assert_eq!(dotted(&doc, ""), "");
    }
}
