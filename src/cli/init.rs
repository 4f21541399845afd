//! `phase init`: the state directory layout and a starter config. Never overwrites.

use std::path::Path;

use super::{Context, EXIT_OK, Out, Outcome};
use crate::Error;
use crate::store::create_atomic;

/// The shipped `config/coordinator.toml`, every key shown and documented.
pub const STARTER_CONFIG: &str = include_str!("../../config/coordinator.toml");

/// Arguments of `phase init` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Creates what is missing and says, line by line, what it created and what was there.
pub fn run(_args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    let created = ctx.state.ensure_layout()?;
    if created.is_empty() {
        out.line(format!(
            "already exists: {} (layout complete)",
            dir_name(ctx.state.root())
        ))?;
    }
    for dir in created {
        out.line(format!("created {}", dir_name(&dir)))?;
    }
    let config = &ctx.config_path;
    if std::fs::symlink_metadata(config).is_ok() {
        out.line(format!(
            "already exists: {} (not overwritten)",
            config.display()
        ))?;
        return Ok(EXIT_OK);
    }
    if let Some(parent) = config.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create directory", e))?;
    }
    // Never replaces a file, even one that appeared since the check above.
    create_atomic(config, STARTER_CONFIG.as_bytes())?;
    out.line(format!("created {}", config.display()))?;
    Ok(EXIT_OK)
}

/// A directory as shown to the user: with a trailing `/`.
fn dir_name(dir: &Path) -> String {
    let shown = dir.display().to_string();
    if shown.ends_with('/') {
        shown
    } else {
        format!("{shown}/")
    }
}
