//! Pieces shared by every state document.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::schema::SchemaName;

/// The `schema_version` every state document written by this build carries.
pub const SCHEMA_VERSION: u32 = 1;

pub use super::metadata::Metadata;

/// A JSON state document in `.state/`: knows its file name, its schema and its header.
pub trait StateDoc: Serialize + DeserializeOwned + Default + Clone {
    /// File name inside the state directory, e.g. `execution_results.json`.
    const FILE: &'static str;
    /// The schema the document is validated against.
    const SCHEMA: SchemaName;
    /// Sets `schema_version`, `run_id` and `updated_at` before a write.
    fn stamp(&mut self, run_id: &str);

    /// Hands `visit` the document in parts, so that validating a large document needs
    /// memory for one array element at a time: first each element of its large arrays
    /// (`Some((field, index))`), then the rest with those arrays empty (`None`).
    /// Stops at the first `Err`.
    fn visit_parts<E>(&self, visit: &mut dyn FnMut(Part<'_>) -> Result<(), E>) -> Result<(), E>;
}

/// A state document with one large array whose entries mostly stay as they are between
/// two writes: the store copies the unchanged ones from the file instead of serialising
/// them again (`store::EntrySpans`).
pub trait SplicedDoc: StateDoc {
    /// The entry type.
    type Entry: Serialize;
    /// The array's key, a top-level one.
    const ENTRIES: &'static str;
    /// The array.
    fn entries_mut(&mut self) -> &mut Vec<Self::Entry>;
}

/// One part of a document, as [`StateDoc::visit_parts`] hands it over: its JSON value and
/// a fingerprint of its content, each computed only when asked for.
pub struct Part<'a> {
    /// `Some((field, index))`: an element of a large array; `None`: the rest.
    pub at: Option<(&'static str, usize)>,
    value: &'a dyn Fn() -> serde_json::Value,
    fingerprint: &'a dyn Fn() -> u64,
}

impl<'a> Part<'a> {
    /// A part at `at`.
    pub fn new(
        at: Option<(&'static str, usize)>,
        value: &'a dyn Fn() -> serde_json::Value,
        fingerprint: &'a dyn Fn() -> u64,
    ) -> Part<'a> {
        Part {
            at,
            value,
            fingerprint,
        }
    }

    /// The part as a JSON value (what the schema checks).
    pub fn value(&self) -> serde_json::Value {
        (self.value)()
    }

    /// A hash of the part's field and serialised content: equal for equal content, so a
    /// reader can skip checking an element it checked before.
    pub fn fingerprint(&self) -> u64 {
        (self.fingerprint)()
    }
}

/// [`Part::fingerprint`] of `element` in `field`: its JSON serialisation, hashed in one
/// piece. (Hashing serde's many small writes one by one cost more than the schema check
/// the fingerprint saves; the serialisation goes to a per-thread buffer instead.)
pub fn part_fingerprint<S: Serialize>(field: &str, element: &S) -> u64 {
    use std::cell::RefCell;
    use std::hash::Hasher;
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(field.as_bytes());
        hasher.write_u8(0);
        // Serialising a typed value into memory cannot fail; a failure would only mean
        // a check that is not skipped.
        if serde_json::to_writer(&mut *buffer, element).is_err() {
            hasher.write_u8(0xff);
        }
        hasher.write(buffer);
        // A rare huge element must not keep its buffer for the thread's life.
        if buffer.capacity() > 1 << 20 {
            *buffer = Vec::new();
        }
        hasher.finish()
    })
}

/// Implements [`StateDoc`] for a struct with `schema_version`, `run_id`, `updated_at`
/// and, optionally, the listed array fields (validated element by element; without a
/// list the document is validated whole). Array fields listed as `unchecked[...]` are not
/// validated at all: for a partial view of a file another phase owns and checks.
macro_rules! state_doc {
    ($ty:ty, $file:expr, $schema:expr $(, [$($field:ident),*])? $(, unchecked[$($skip:ident),*])?) => {
        impl $crate::model::StateDoc for $ty {
            const FILE: &'static str = $file;
            const SCHEMA: $crate::schema::SchemaName = $schema;
            fn stamp(&mut self, run_id: &str) {
                self.schema_version = $crate::model::SCHEMA_VERSION;
                self.run_id = run_id.to_string();
                self.updated_at = $crate::model::now_rfc3339();
            }
            fn visit_parts<E>(
                &self,
                visit: &mut dyn FnMut($crate::model::Part<'_>) -> Result<(), E>,
            ) -> Result<(), E> {
                let split: &[&str] = &[$($(stringify!($field),)*)? $($(stringify!($skip),)*)?];
                if split.is_empty() {
                    let value = || serde_json::to_value(self).unwrap_or_default();
                    let fingerprint = || $crate::model::part_fingerprint("", self);
                    return visit($crate::model::Part::new(None, &value, &fingerprint));
                }
                $($(
                    for (i, element) in self.$field.iter().enumerate() {
                        let value = || serde_json::to_value(element).unwrap_or_default();
                        let fingerprint =
                            || $crate::model::part_fingerprint(stringify!($field), element);
                        let at = Some((stringify!($field), i));
                        visit($crate::model::Part::new(at, &value, &fingerprint))?;
                    }
                )*)?
                let mut rest = serde_json::Map::new();
                rest.insert("schema_version".into(), self.schema_version.into());
                // Empty means absent in the file (serde's default): not a value to check.
                if !self.run_id.is_empty() {
                    rest.insert("run_id".into(), self.run_id.clone().into());
                }
                if !self.updated_at.is_empty() {
                    rest.insert("updated_at".into(), self.updated_at.clone().into());
                }
                $($(
                    rest.insert(stringify!($field).into(), serde_json::Value::Array(Vec::new()));
                )*)?
                $($(
                    rest.insert(stringify!($skip).into(), serde_json::Value::Array(Vec::new()));
                )*)?
                let rest = serde_json::Value::Object(rest);
                let value = || rest.clone();
                let fingerprint = || $crate::model::part_fingerprint("", &rest);
                visit($crate::model::Part::new(None, &value, &fingerprint))
            }
        }
    };
}
pub(crate) use state_doc;

/// Now, as RFC 3339 UTC with exactly three fractional digits, so strings sort as times.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Whether `id` is a valid task id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
pub fn is_valid_task_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Reads a JSON array into a `Vec` without the spare capacity that growing it by pushes
/// leaves (up to half of it): at 10,000 tasks, several copies of the big documents live
/// in memory at once.
pub(crate) fn compact_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let mut v = <Vec<T> as serde::Deserialize>::deserialize(deserializer)?;
    v.shrink_to_fit();
    Ok(v)
}

/// [`compact_vec`] for a [`thin_vec::ThinVec`]: a field that is usually empty costs a
/// pointer, not three words, and one read from a file holds no spare room either.
pub(crate) fn compact_thin_vec<'de, D, T>(deserializer: D) -> Result<thin_vec::ThinVec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let mut v = <thin_vec::ThinVec<T> as serde::Deserialize>::deserialize(deserializer)?;
    v.shrink_to_fit();
    Ok(v)
}

/// Makes room for `additional` more entries in a vector that holds one per task, growing
/// it by an eighth rather than doubling it: at 100,000 tasks a doubled vector of
/// decisions leaves up to 40 MB unused while every phase holds its documents. A large
/// block moves by remapping its pages, so the extra growths cost little.
pub(crate) fn reserve_gently<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 8).max(16));
    }
}

pub(crate) fn default_schema_version() -> u32 {
    SCHEMA_VERSION
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_rules() {
        assert!(is_valid_task_id("a"));
        assert!(is_valid_task_id("build-1.2_x"));
        assert!(!is_valid_task_id(""));
        assert!(!is_valid_task_id(".hidden"));
        assert!(!is_valid_task_id("../etc"));
        assert!(!is_valid_task_id("a/b"));
        assert!(!is_valid_task_id(&"a".repeat(129)));
        assert!(is_valid_task_id(&"a".repeat(128)));
    }

    #[test]
    fn gentle_growth_leaves_at_most_an_eighth_unused() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..100_000 {
            reserve_gently(&mut v, 1);
            v.push(i);
            let unused = v.capacity() - v.len();
            assert!(
                unused <= (v.len() / 8).max(16),
                "{unused} unused at {}",
                v.len()
            );
        }
        reserve_gently(&mut v, 50_000);
        assert!(v.capacity() >= 150_000);
    }

    #[test]
    fn timestamps_have_fixed_millis() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
