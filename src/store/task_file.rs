//! Reading one task file safely: regular file, size limit, encoding, JSON, schema, and the
//! rules the schema cannot say (id from the stem, workdir inside the project).

use std::io::Read;
use std::path::{Component, Path};

use super::parse::parse_json_document;
use crate::model::{TaskSpec, is_valid_task_id};
use crate::schema::SchemaName;
use crate::{Error, Result};

/// Task files larger than this are rejected.
pub const MAX_TASK_FILE_BYTES: u64 = 1024 * 1024;

/// Reads and validates a task file; the returned spec has its `id` filled in (from the
/// file's stem when absent).
pub fn read_task_file(path: &Path) -> Result<TaskSpec> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, "read", e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::invalid(
            path,
            "is a symbolic link; task files must be regular files",
        ));
    }
    if meta.is_dir() {
        return Err(Error::invalid(path, "is a directory, not a task file"));
    }
    if !meta.is_file() {
        return Err(Error::invalid(path, "is not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TASK_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, "read", e))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    parse_task_bytes(path, &bytes, stem)
}

/// Validates task-file content; `default_id` is used when the file has no `id` (pass `""`
/// when there is no file name, e.g. for stdin: `id` is then required).
pub fn parse_task_bytes(path: &Path, bytes: &[u8], default_id: &str) -> Result<TaskSpec> {
    if bytes.len() as u64 > MAX_TASK_FILE_BYTES {
        return Err(Error::invalid(
            path,
            format!(
                "file is larger than the {} KiB limit for task files",
                MAX_TASK_FILE_BYTES / 1024
            ),
        ));
    }
    let mut spec: TaskSpec = parse_json_document(path, bytes, SchemaName::Task)?;
    let field = |pointer: &str, message: String| Error::Schema {
        path: path.to_path_buf(),
        pointer: pointer.to_string(),
        message,
    };
    let id = match spec.id.take() {
        Some(id) => id,
        None if is_valid_task_id(default_id) => default_id.to_string(),
        // No file name to take the id from (e.g. a task read from stdin).
        None if default_id.is_empty() => {
            return Err(field(
                "/id",
                "missing required field \"id\" (there is no file name to take it from)".to_string(),
            ));
        }
        None => {
            return Err(field(
                "/id",
                format!(
                    "no \"id\" given and the file name {default_id:?} is not a valid id \
                     (letters, digits, '.', '_', '-'; starting with a letter or digit)"
                ),
            ));
        }
    };
    if !is_valid_task_id(&id) {
        return Err(field(
            "/id",
            format!(
                "{id:?} is not a valid id: use letters, digits, '.', '_', '-', starting with a letter or digit, at most 128"
            ),
        ));
    }
    if spec.depends_on.contains(&id) {
        return Err(field(
            "/depends_on",
            format!("task {id:?} depends on itself"),
        ));
    }
    for (i, dep) in spec.depends_on.iter().enumerate() {
        if !is_valid_task_id(dep) {
            return Err(field(
                &format!("/depends_on/{i}"),
                format!("{dep:?} is not a valid task id"),
            ));
        }
    }
    if let Some(workdir) = &spec.workdir
        && let Err(why) = check_relative_inside(workdir)
    {
        return Err(field("/workdir", format!("{workdir:?} {why}")));
    }
    spec.id = Some(id);
    Ok(spec)
}

/// A path that is relative and never climbs above its base.
fn check_relative_inside(p: &str) -> std::result::Result<(), &'static str> {
    let path = Path::new(p);
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                return Err("must be relative to the project root");
            }
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("leaves the project root");
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_must_stay_inside() {
        assert!(check_relative_inside("src").is_ok());
        assert!(check_relative_inside("a/../b").is_ok());
        assert!(check_relative_inside(".").is_ok());
        assert!(check_relative_inside("../x").is_err());
        assert!(check_relative_inside("a/../../x").is_err());
        assert!(check_relative_inside("/etc").is_err());
    }
}
