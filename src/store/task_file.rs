//! Reading one task file safely: regular file, size limit, encoding, JSON, schema, and the
//! rules the schema cannot say (id from the stem, workdir inside the project).

use std::fs::{File, FileType};
use std::io::Read;
use std::path::{Component, Path};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, OpenOptions};

use super::StateDir;
use super::contain::{Access, open_below};
use super::file_name::task_file_stem;
use super::parse::parse_json_document_without_nul;
use crate::model::{TaskSpec, is_valid_task_id};
use crate::schema::SchemaName;
use crate::{Error, Result};

/// Task files larger than this are rejected.
pub const MAX_TASK_FILE_BYTES: u64 = 1024 * 1024;

/// Reads and validates a task file; the returned spec has its `id` filled in (from the
/// file's stem when absent).
pub fn read_task_file(path: &Path) -> Result<TaskSpec> {
    // The name first: a file whose name cannot be shown is rejected for that reason.
    let stem = task_file_stem(path)?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, "read", e))?;
    check_regular(path, meta.file_type())?;
    // O_NOFOLLOW: a link swapped in after the check above is refused, not followed.
    let bytes = read_opened(path, open_below(path, 1, Access::Read)?)?;
    parse_task_bytes(path, &bytes, stem)
}

/// The bytes of the task file `name` in `dir` (a no-follow handle on the directory of
/// `path`), which was listed with type `listed`: refused unless that, and the file opened,
/// are a regular file. One open, one `fstat` and the reads: the router reads every
/// submitted file this way.
pub(super) fn read_task_bytes_in(dir: &Dir, path: &Path, listed: FileType) -> Result<Vec<u8>> {
    check_regular(path, listed)?;
    let name = path.file_name().unwrap_or_default();
    let mut options = OpenOptions::new();
    options.read(true).follow(FollowSymlinks::No).nonblock(true);
    let file = match dir.open_with(name, &options) {
        Ok(f) => f.into_std(),
        // Replaced since it was listed: say what it is now, as the listing would have.
        Err(e) => {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                check_regular(path, meta.file_type())?;
            }
            return Err(Error::io(path, "read", e));
        }
    };
    read_opened(path, file)
}

/// A symbolic link, a directory or anything else that is not a regular file is refused,
/// each in its own words.
fn check_regular(path: &Path, kind: FileType) -> Result<()> {
    if kind.is_symlink() {
        return Err(Error::invalid(
            path,
            "is a symbolic link; task files must be regular files",
        ));
    }
    if kind.is_dir() {
        return Err(Error::invalid(path, "is a directory, not a task file"));
    }
    if !kind.is_file() {
        return Err(Error::invalid(path, "is not a regular file"));
    }
    Ok(())
}

/// Reads an opened task file up to one byte over the limit (so an oversized file is
/// recognised); the file it turned out to be must be regular too.
fn read_opened(path: &Path, file: File) -> Result<Vec<u8>> {
    let meta = file.metadata().map_err(|e| Error::io(path, "read", e))?;
    check_regular(path, meta.file_type())?;
    // Sized from the `fstat`: one read for the file and one for its end.
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_TASK_FILE_BYTES) as usize + 1);
    file.take(MAX_TASK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(bytes)
}

/// The accepted task `tasks/<id>.json`, read without following a link (neither `tasks/`
/// nor the file may be one) and validated. The one place a task's `env` values are kept:
/// the executor takes them from here when it starts an attempt.
pub fn read_accepted_task(state: &StateDir, id: &str) -> Result<TaskSpec> {
    let path = state.tasks().join(format!("{id}.json"));
    if !is_valid_task_id(id) {
        return Err(Error::invalid(
            &path,
            format!("{id:?} is not a valid task id"),
        ));
    }
    let mut bytes = Vec::new();
    open_below(&path, 2, Access::Read)?
        .take(MAX_TASK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&path, "read", e))?;
    parse_task_bytes(&path, &bytes, id)
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
    // Everything but `metadata` may end up in an argv, a path or the environment.
    let mut spec: TaskSpec =
        parse_json_document_without_nul(path, bytes, SchemaName::Task, &["/metadata"])?;
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
    for (i, file) in spec.files.iter().enumerate() {
        // Absolute paths are checked against the project where it is known
        // ([`check_task_paths`]); a relative one may not climb out of the workdir.
        if !Path::new(file).is_absolute()
            && let Err(why) = check_relative_inside(file)
        {
            let why = why.replace("project root", "workdir");
            return Err(field(&format!("/files/{i}"), format!("{file:?} {why}")));
        }
    }
    spec.id = Some(id);
    Ok(spec)
}

/// The intake rule the schema cannot say: an absolute entry of `files` must lie inside the
/// task's workdir under `project_root` (compared as written; links are resolved, and
/// escapes refused, when the files are used). The error names `/files/<i>` of `path`.
pub fn check_task_paths(path: &Path, spec: &TaskSpec, project_root: &Path) -> Result<()> {
    // Resolved only for an absolute path not inside the root as given: most tasks have none.
    let canonical = std::cell::OnceCell::new();
    let canonical = || {
        canonical
            .get_or_init(|| std::fs::canonicalize(project_root).ok())
            .clone()
    };
    let workdir = spec.workdir.as_deref().unwrap_or("");
    // `..` would make a prefix test meaningless: such a path is never taken as inside.
    let inside = |file: &Path, root: &Path| {
        file.starts_with(root.join(workdir))
            && !file.components().any(|c| c == Component::ParentDir)
    };
    for (i, file) in spec.files.iter().enumerate() {
        let file_path = Path::new(file);
        if file_path.is_absolute()
            && !inside(file_path, project_root)
            && !canonical().is_some_and(|root| inside(file_path, &root))
        {
            return Err(Error::Schema {
                path: path.to_path_buf(),
                pointer: format!("/files/{i}"),
                message: format!(
                    "{file:?} is outside the task's workdir {}; give files relative to it",
                    project_root.join(workdir).display()
                ),
            });
        }
    }
    Ok(())
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

    fn spec(text: &str) -> Result<TaskSpec> {
        parse_task_bytes(Path::new("t.json"), text.as_bytes(), "t")
    }

    #[test]
    fn files_may_not_leave_the_workdir() {
        let err = spec(r#"{"kind":"k","workdir":"src","files":["a.py","../../x"]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/files/1") && err.contains("leaves the workdir"),
            "{err}"
        );
        let root = Path::new("/p");
        let ok = spec(r#"{"kind":"k","workdir":"src","files":["/p/src/a.py","b.py"]}"#).unwrap();
        assert!(check_task_paths(Path::new("t.json"), &ok, root).is_ok());
        for files in [
            r#"["/etc/passwd"]"#,
            r#"["/p/other.py"]"#,
            r#"["/p/src/../../etc"]"#,
        ] {
            let task = spec(&format!(
                r#"{{"kind":"k","workdir":"src","files":{files}}}"#
            ))
            .unwrap();
            let err = check_task_paths(Path::new("t.json"), &task, root)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("/files/0") && err.contains("outside the task's workdir"),
                "{err}"
            );
        }
    }
}
