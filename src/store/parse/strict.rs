//! What JSON parsers let through but this engine refuses, each with the JSON pointer of
//! the offending place:
//! - a key twice in one object: serde_json keeps the last, other readers the first, so a
//!   person and the engine could read two different tasks from one file;
//! - a NUL character (`\u0000`) in a string that becomes an argument, a path or an
//!   environment variable: no process can be started with one, and the error at spawn
//!   time would name no field.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The pointer of the first key that appears twice in one object, and the key; `None`
/// when there is none (or the text is not JSON: the parser reports that).
pub(in crate::store) fn first_duplicate_key(bytes: &[u8]) -> Option<(String, String)> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walk = Walk {
        pointer: String::new(),
        found: &mut found,
    };
    // An error is either the duplicate (recorded) or a syntax error (reported elsewhere).
    let _ = walk.deserialize(&mut de);
    found
}

/// The pointer of the first string (or object key) holding a NUL character, outside the
/// subtrees at `skip` (pointers); `None` when there is none.
pub(in crate::store) fn first_nul(value: &Value, skip: &[&str]) -> Option<String> {
    fn walk(value: &Value, pointer: &mut String, skip: &[&str]) -> bool {
        if skip.contains(&pointer.as_str()) {
            return false;
        }
        let len = pointer.len();
        let found = match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                pointer.truncate(len);
                pointer.push_str(&format!("/{i}"));
                walk(item, pointer, skip)
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                pointer.truncate(len);
                pointer.push('/');
                pointer.push_str(&escape(key));
                key.contains('\0') || walk(item, pointer, skip)
            }),
            _ => false,
        };
        if !found {
            pointer.truncate(len);
        }
        found
    }
    let mut pointer = String::new();
    walk(value, &mut pointer, skip).then_some(pointer)
}

/// A key as a JSON pointer segment (RFC 6901), a control character in it as `\uXXXX` so
/// that the message can be printed.
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Walks a document with serde's visitor, remembering each object's keys.
struct Walk<'a> {
    pointer: String,
    found: &'a mut Option<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Walk { pointer, found } = self;
        let mut i = 0usize;
        loop {
            let child = Walk {
                pointer: format!("{pointer}/{i}"),
                found: &mut *found,
            };
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk { pointer, found } = self;
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = format!("{pointer}/{}", escape(&key));
            if !keys.insert(key.clone()) {
                *found = Some((at, key));
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Walk {
                pointer: at,
                found: &mut *found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_duplicate_key_is_found_with_its_pointer() {
        assert_eq!(
            first_duplicate_key(br#"{"a": 1, "b": [1, {"c": 2}]}"#),
            None
        );
        assert_eq!(
            first_duplicate_key(br#"{"a": 1, "a": 2}"#),
            Some(("/a".into(), "a".into()))
        );
        assert_eq!(
            first_duplicate_key(br#"{"env": {"X": "1"}, "l": [{}, {"k/~": 1, "k/~": 2}]}"#),
            Some(("/l/1/k~1~0".into(), "k/~".into()))
        );
        assert_eq!(
            first_duplicate_key(b"{\"a\": "),
            None,
            "not JSON: not this check's"
        );
    }

    #[test]
    fn a_nul_is_found_outside_the_skipped_subtrees() {
        let task = json!({
            "command": ["a", "b\u{0}"],
            "metadata": {"x": "\u{0}"},
        });
        assert_eq!(first_nul(&task, &["/metadata"]), Some("/command/1".into()));
        let env = json!({"env": {"K\u{0}": "v"}});
        assert_eq!(first_nul(&env, &[]), Some("/env/K\\u0000".into()));
        assert_eq!(
            first_nul(&json!({"metadata": {"x": "\u{0}"}}), &["/metadata"]),
            None
        );
    }
}
