//! `1.0` where the schema says `integer`.
//!
//! JSON Schema counts `1.0` as an integer, so the validator accepts it; serde does not
//! (`invalid type: floating point`), and its error names no field. Catching it here keeps
//! "the schema passed, so the document loads" true, and the error points at the value.

use std::fmt::Write;

use serde_json::Value;

use super::Violation;

/// Violations for whole-number floats at places the schema wants an integer.
pub(super) fn check(root: &Value, doc: &Value) -> Vec<Violation> {
    if !has_whole_float(doc) {
        return Vec::new();
    }
    let mut found = Vec::new();
    collect(doc, &mut String::new(), &mut found);
    found
        .into_iter()
        .filter(|(pointer, _)| wants_integer(root, pointer))
        .map(|(pointer, value)| Violation {
            pointer,
            message: format!("expected integer, got {value:?} (write it without a decimal point)"),
        })
        .collect()
}

/// The fast path: documents rarely hold a float at all.
fn has_whole_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64().is_some_and(|f| n.is_f64() && f.fract() == 0.0),
        Value::Array(items) => items.iter().any(has_whole_float),
        Value::Object(map) => map.values().any(has_whole_float),
        _ => false,
    }
}

/// Pointers to floats with no fractional part.
fn collect(value: &Value, pointer: &mut String, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                out.push((pointer.clone(), f));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                let _ = write!(pointer, "/{i}");
                collect(item, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                collect(item, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether the subschema governing `pointer` says `integer` (and not `number`).
fn wants_integer(root: &Value, pointer: &str) -> bool {
    let Some(node) = schema_at(root, pointer) else {
        return false;
    };
    match node.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => {
            types.iter().any(|t| t == "integer") && !types.iter().any(|t| t == "number")
        }
        _ => false,
    }
}

/// The subschema for the value at `pointer`, following `properties`, `items`,
/// `additionalProperties` and local `$ref`s.
fn schema_at<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = resolve(root, root)?;
    for segment in pointer.split('/').skip(1) {
        let key = segment.replace("~1", "/").replace("~0", "~");
        let child = node
            .get("properties")
            .and_then(|p| p.get(&key))
            .or_else(|| node.get("items").filter(|_| key.parse::<usize>().is_ok()))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        node = resolve(root, child)?;
    }
    Some(node)
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> Option<&'a Value> {
    // A bound on the chain, so a `$ref` cycle cannot hang a validation.
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => node = root.pointer(reference.strip_prefix('#')?)?,
            None => return Some(node),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_whole_floats_where_integers_belong() {
        let root = json!({
            "$defs": {"n": {"type": ["integer", "null"]}},
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "number"},
                "c": {"type": "array", "items": {"$ref": "#/$defs/n"}},
                "d": {"type": "object", "additionalProperties": {"type": "integer"}}
            }
        });
        let doc = json!({"a": 1.0, "b": 2.0, "c": [1, 3.0, 2.5], "d": {"x/y": 4.0}});
        let pointers: Vec<String> = check(&root, &doc).into_iter().map(|v| v.pointer).collect();
        assert_eq!(pointers, ["/a", "/c/1", "/d/x~1y"]);
        assert!(check(&root, &json!({"a": 1, "b": 2.5})).is_empty());
    }
}
