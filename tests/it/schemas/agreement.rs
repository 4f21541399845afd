//! Checks that a schema and the serde type it mirrors agree, by walking a fully populated
//! sample alongside the schema:
//! - every object in the sample has exactly the properties its schema lists;
//! - removing a property is accepted by the schema exactly when serde accepts it (the
//!   field has a serde default), apart from listed, deliberate exceptions;
//! - any value the schema accepts at any place, serde accepts too. The store validates
//!   before it deserialises, so a value that passes the schema but not serde would give
//!   an error that names no field.

use phase_coordinator::schema::SchemaName;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Values every field is tried with.
fn mutations() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(""),
        json!("x"),
        json!(-1),
        json!(0),
        json!(1),
        json!(1.0),
        json!(1.5),
        json!(-2147483649i64),
        json!(4294967296u64),
        json!(18446744073709551615u64),
        json!(1e20),
        json!([]),
        json!(["x"]),
        json!({}),
        json!({"x": 1}),
    ]
}

/// Walks `full` (a serialised, fully populated sample of `T`) against `schema`.
/// `schema_only_required` lists pointers to properties the schema requires though serde
/// has a default for them (e.g. `/decisions/0/task/id`).
pub(super) fn check<T: DeserializeOwned>(
    schema: SchemaName,
    full: &Value,
    schema_only_required: &[&str],
) {
    assert!(
        schema.validate(full).is_ok(),
        "{}: the full sample is invalid: {:?}",
        schema.name(),
        schema.validate(full)
    );
    let root: Value = serde_json::from_str(schema.source()).expect("schema is JSON");
    let walk = Walk {
        schema,
        root: &root,
        full,
        schema_only_required,
        deserialises: &|doc: &Value| serde_json::from_value::<T>(doc.clone()).is_ok(),
    };
    walk.node(&root, "");
}

struct Walk<'a> {
    schema: SchemaName,
    root: &'a Value,
    full: &'a Value,
    schema_only_required: &'a [&'a str],
    deserialises: &'a dyn Fn(&Value) -> bool,
}

impl Walk<'_> {
    fn node(&self, node: &Value, pointer: &str) {
        let (node, extra_required) = self.resolve(node);
        let value = self.full.pointer(pointer).expect("pointer into the sample");
        if !pointer.is_empty() {
            self.mutate(pointer);
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{pointer}: not an object"));
            let mut required: Vec<&str> = strs(node.get("required"));
            required.extend(extra_required);
            self.properties(pointer, object, properties, &required);
            for (name, sub) in properties {
                self.node(sub, &format!("{pointer}/{}", escape(name)));
            }
        }
        if let (Some(items), Some(array)) = (node.get("items"), value.as_array()) {
            assert!(
                !array.is_empty(),
                "{pointer}: populate arrays in full samples"
            );
            for i in 0..array.len() {
                self.node(items, &format!("{pointer}/{i}"));
            }
        }
        if let (Some(entries @ Value::Object(_)), Some(map)) =
            (node.get("additionalProperties"), value.as_object())
        {
            assert!(!map.is_empty(), "{pointer}: populate maps in full samples");
            for key in map.keys() {
                self.node(entries, &format!("{pointer}/{}", escape(key)));
            }
        }
    }

    /// Follows local `$ref`s; keywords beside a `$ref` that add requirements are kept.
    fn resolve<'n>(&'n self, mut node: &'n Value) -> (&'n Value, Vec<&'n str>) {
        let mut extra = Vec::new();
        while let Some(target) = node.get("$ref").and_then(Value::as_str) {
            extra.extend(strs(node.get("required")));
            let local = target.strip_prefix('#').expect("only local $refs");
            node = self.root.pointer(local).expect("$ref resolves");
        }
        (node, extra)
    }

    fn properties(
        &self,
        pointer: &str,
        object: &Map<String, Value>,
        properties: &Map<String, Value>,
        required: &[&str],
    ) {
        let mut in_sample: Vec<&String> = object.keys().collect();
        let mut in_schema: Vec<&String> = properties.keys().collect();
        in_sample.sort();
        in_schema.sort();
        assert_eq!(
            in_sample,
            in_schema,
            "{}: {pointer}: the fully populated sample's fields differ from the schema's properties",
            self.schema.name()
        );
        for name in properties.keys() {
            let at = format!("{pointer}/{}", escape(name));
            let mut doc = self.full.clone();
            remove(&mut doc, &at);
            let schema_ok = self.schema.validate(&doc).is_ok();
            let serde_ok = (self.deserialises)(&doc);
            let is_required = required.contains(&name.as_str());
            assert_eq!(
                schema_ok,
                !is_required,
                "{}: {at}: schema {} it when missing",
                self.schema.name(),
                if schema_ok { "accepts" } else { "rejects" }
            );
            let expect_serde = !is_required || self.schema_only_required.contains(&at.as_str());
            assert_eq!(
                serde_ok,
                expect_serde,
                "{}: {at}: serde {} it when missing, but the schema says required = {is_required}",
                self.schema.name(),
                if serde_ok { "accepts" } else { "rejects" }
            );
        }
    }

    fn mutate(&self, pointer: &str) {
        for m in mutations() {
            let mut doc = self.full.clone();
            *doc.pointer_mut(pointer).expect("pointer into the sample") = m.clone();
            if self.schema.validate(&doc).is_ok() {
                assert!(
                    (self.deserialises)(&doc),
                    "{}: {pointer} = {m}: the schema accepts it but serde does not",
                    self.schema.name()
                );
            }
        }
    }
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a property pointer");
    let key = key.replace("~1", "/").replace("~0", "~");
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(&key))
        .unwrap_or_else(|| panic!("{pointer}: nothing to remove"));
}
