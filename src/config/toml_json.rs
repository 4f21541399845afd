//! TOML values as JSON, so the config can be checked against its JSON Schema.

use serde_json::{Map, Number, Value};

/// Converts a TOML table; dates become their TOML text (the schema then rejects them with
/// a readable message instead of a serde artefact).
pub(super) fn to_json(table: toml::Table) -> Result<Value, String> {
    convert(toml::Value::Table(table), "")
}

fn convert(value: toml::Value, at: &str) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| format!("{at}: {f} is not a finite number"))?,
        ),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| convert(v, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => {
            let mut map = Map::with_capacity(table.len());
            for (key, value) in table {
                let inner = super::schema_error::join_key(at, &key);
                let value = convert(value, &inner)?;
                map.insert(key, value);
            }
            Value::Object(map)
        }
    })
}
