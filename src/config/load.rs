//! Reading `config/coordinator.toml`: TOML syntax, then the schema, then the cross-field
//! checks — each error names the file and the key's dotted path (or line and column).

use std::path::Path;

use super::Config;
use super::schema_error::describe;
use super::toml_json::to_json;
use crate::schema::SchemaName;
use crate::{Error, Result};

impl Config {
    /// Loads `path`; a missing file gives the defaults (a fresh checkout runs without one).
    pub fn load(path: &Path) -> Result<Config> {
        match read_text(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(unreadable(path, &e)),
        }
    }

    /// Loads `path`, which must exist: for a config file the user named explicitly.
    pub fn load_required(path: &Path) -> Result<Config> {
        let text = read_text(path).map_err(|e| unreadable(path, &e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let config_err = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let value: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| line_col(text, s.start))
                .map(|(l, c)| format!("line {l}, column {c}: "))
                .unwrap_or_default();
            config_err(format!("{at}{}", e.message().trim_end()))
        })?;
        let mut json = to_json(value).map_err(config_err)?;
        if let Err(violations) = SchemaName::Config.validate(&json) {
            return Err(config_err(describe(&json, &violations[0])));
        }
        // Presets fill the keys a tool's table leaves out, so they go in before the
        // serde defaults do.
        super::presets::apply(&mut json).map_err(config_err)?;
        // The schema mirrors the serde types, so this only fails if they drift apart.
        let mut config: Config =
            serde_json::from_value(json).map_err(|e| config_err(format!("(document): {e}")))?;
        super::presets::extend_patterns(&mut config);
        // The built-in `shell` tool stays available when a file adds tools of its own.
        config.tools.entry("shell".to_string()).or_default();
        config.check().map_err(config_err)?;
        super::resilience::expand_pools(&mut config).map_err(config_err)?;
        Ok(config)
    }
}

/// The file's text; a named pipe (or anything else that is not a file) is refused before
/// it is opened, which would block.
fn read_text(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    std::fs::read_to_string(path)
}

fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        message: format!("cannot read config: {e}"),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        assert_eq!(line_col("éx", 2), (1, 2));
    }
}
