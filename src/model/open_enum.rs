//! Enums whose values are names written in the files: a closed set of known names plus
//! one variant carrying any other name. They read and write the bare string, so a file
//! written before the enum existed (or by hand, or by a newer version) reads back and is
//! written out byte for byte the same.

/// Declares such an enum: first the variant that carries any other name, then
/// `Variant = "name",` for each known name (in this order, so the macro can tell them apart). Generates `as_str`, `From<&str>`/`From<String>` (which never
/// put a known name into the carrying variant), `String: From<Self>`, `Display`, comparison with `&str`, and
/// serde as a plain string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $(#[$ometa:meta])* $other:ident(String),
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $ty {
            $(#[$ometa])* $other(String),
            $( $(#[$vmeta])* $variant, )*
        }

        impl $ty {
            /// The name as written in the files.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $ty::$variant => $text, )*
                    $ty::$other(name) => name,
                }
            }
        }

        impl From<&str> for $ty {
            fn from(name: &str) -> Self {
                match name {
                    $( $text => $ty::$variant, )*
                    other => $ty::$other(other.to_string()),
                }
            }
        }

        impl From<String> for $ty {
            fn from(name: String) -> Self {
                match name.as_str() {
                    $( $text => $ty::$variant, )*
                    _ => $ty::$other(name),
                }
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                match value {
                    $ty::$other(name) => name,
                    known => known.as_str().to_string(),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(deserializer).map($ty::from)
            }
        }
    };
}

pub(crate) use open_enum;

#[cfg(test)]
mod tests {
    use crate::model::{FailureKind, LadderStep, RoutingStrategy};

    /// Reads `text` as a JSON string into `T`, and checks it is written back unchanged.
    fn round_trip<T>(text: &str) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq<str> + std::fmt::Debug,
    {
        let json = serde_json::to_string(text).expect("string");
        let value: T = serde_json::from_str(&json).expect("any string reads");
        assert_eq!(serde_json::to_string(&value).expect("writes"), json);
        assert!(value == *text, "{value:?} != {text:?}");
        value
    }

    #[test]
    fn known_names_become_variants_and_others_are_kept() {
        assert_eq!(round_trip::<FailureKind>("timeout"), FailureKind::Timeout);
        assert_eq!(
            round_trip::<FailureKind>("non_retryable_exit"),
            FailureKind::NonRetryableExit
        );
        assert_eq!(
            round_trip::<FailureKind>("oom"),
            FailureKind::Other("oom".to_string())
        );
        assert_eq!(FailureKind::default(), "");
        assert_eq!(
            round_trip::<RoutingStrategy>("fixed"),
            RoutingStrategy::Fixed
        );
        assert_eq!(
            round_trip::<RoutingStrategy>("round_robin"),
            RoutingStrategy::RoundRobin
        );
        assert_eq!(
            round_trip::<RoutingStrategy>("random"),
            RoutingStrategy::Other("random".to_string())
        );
        assert_eq!(RoutingStrategy::default(), RoutingStrategy::Fixed);
        assert_eq!(
            round_trip::<LadderStep>("claude"),
            LadderStep::Agent("claude".into())
        );
        assert_eq!(LadderStep::from(String::from("retry")), LadderStep::Retry);
        assert_eq!(LadderStep::Quarantine.to_string(), "quarantine");
        assert_eq!(String::from(LadderStep::MechanicalFix), "mechanical_fix");
    }
}
