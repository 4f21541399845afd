//! `metadata`: the free-form object a task file may carry, copied into every state file
//! that speaks of the task.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A task's metadata: a JSON object, usually empty. Held as a pointer that is null while
/// it is empty: every decision, task spec and result has one, and an empty map costs 72
/// bytes (about 200 per task across the documents a run holds at 100,000 tasks).
/// Reads and writes go through the map it dereferences to.
#[derive(Clone, Default)]
pub struct Metadata(Option<Box<Map<String, Value>>>);

/// What an empty [`Metadata`] dereferences to.
static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl Metadata {
    /// An empty object.
    pub fn new() -> Metadata {
        Metadata(None)
    }

    /// Whether it has no key (also as a path, for `skip_serializing_if`).
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }
}

impl Deref for Metadata {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl DerefMut for Metadata {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(map: Map<String, Value>) -> Metadata {
        Metadata((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Metadata) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
        Map::deserialize(deserializer).map(Metadata::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_holds_nothing_and_reads_as_an_empty_object() {
        let m: Metadata = serde_json::from_value(json!({})).unwrap();
        assert!(m.0.is_none());
        assert!(m.is_empty());
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({}));
        assert_eq!(m, Metadata::new());
    }

    #[test]
    fn keeps_its_keys_in_order_through_a_round_trip() {
        let text = r#"{"z":1,"a":{"b":[2]}}"#;
        let m: Metadata = serde_json::from_str(text).unwrap();
        assert_eq!(m.get("a"), Some(&json!({"b": [2]})));
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
    }

    #[test]
    fn a_write_through_an_empty_one_allocates_it() {
        let mut m = Metadata::new();
        m.insert("team".into(), json!("a"));
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"team": "a"}));
        assert_ne!(m, Metadata::new());
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert!(serde_json::from_value::<Metadata>(json!([])).is_err());
        assert!(serde_json::from_value::<Metadata>(json!(7)).is_err());
    }
}
