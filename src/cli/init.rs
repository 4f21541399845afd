//! `phase init`: the state directory layout and a starter config. Never overwrites;
//! `--agent NAME` appends a ready `[tools.NAME]` block to the config.

use std::path::Path;

use super::{Context, EXIT_OK, Out, Outcome};
use crate::Error;
use crate::config::Config;
use crate::config::presets::{Agent, init_block, readiness_warnings};
use crate::store::{create_atomic, write_atomic};

/// The shipped `config/coordinator.toml`, every key shown and documented.
pub(super) const STARTER_CONFIG: &str = include_str!("../../config/coordinator.toml");

/// Arguments of `phase init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also add a ready `[tools.NAME]` block for this AI coding CLI to the config (created
    /// or existing): aider, codex, claude or gemini. Repeatable.
    #[arg(long, value_name = "NAME", value_parser = ["aider", "codex", "claude", "gemini"])]
    pub agent: Vec<String>,
}

/// Creates what is missing and says, line by line, what it created and what was there.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
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
        return add_agents(&args.agent, config, out);
    }
    if let Some(parent) = config.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create directory", e))?;
    }
    // Never replaces a file, even one that appeared since the check above.
    create_atomic(config, STARTER_CONFIG.as_bytes())?;
    out.line(format!("created {}", config.display()))?;
    add_agents(&args.agent, config, out)
}

/// `--agent NAME`: appends each agent's block to the config unless it has that tool
/// already; the result must load, or nothing is written.
fn add_agents(names: &[String], config: &Path, out: &mut Out<'_>) -> Outcome {
    if names.is_empty() {
        return Ok(EXIT_OK);
    }
    let mut text = std::fs::read_to_string(config).map_err(|e| Error::io(config, "read", e))?;
    let loaded = Config::parse(config, &text)?;
    let mut added = Vec::new();
    for name in names {
        let Some(agent) = Agent::from_name(name) else {
            continue;
        };
        if loaded.tools.contains_key(name) || added.contains(&name) {
            out.line(format!(
                "already exists: [tools.{name}] in {} (not changed)",
                config.display()
            ))?;
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&init_block(agent));
        added.push(name);
    }
    if added.is_empty() {
        return Ok(EXIT_OK);
    }
    let with_agents = Config::parse(config, &text)?;
    write_atomic(config, text.as_bytes())?;
    for name in added {
        out.line(format!("added [tools.{name}] to {}", config.display()))?;
    }
    for warning in readiness_warnings(&with_agents) {
        super::out::note(&format!("{}: {warning}", config.display()));
    }
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
