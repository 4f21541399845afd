//! An agent tool's own home, `<state>/agents/<tool>/`: HOME (and codex's CODEX_HOME) point
//! there so no user config leaks in and the CLI's own files stay out of the project, and
//! the files the CLI needs to run offline-quiet are written there before each run (only
//! when their content changed). Keys the tool's `env` sets itself are left alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::ToolConfig;
use crate::config::presets::Agent;
use crate::store::StateDir;

/// aider refetches its model list when its cache is older than a day.
const AIDER_CACHE_REFRESH: Duration = Duration::from_secs(3600);

/// `<state>/agents/<tool>/`, absolute (the CLI runs in the task's workdir).
pub fn home_dir(state: &StateDir, tool_name: &str) -> PathBuf {
    let dir = state.root().join("agents").join(tool_name);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The API key variable of a preset tool that is set neither in its `env` nor in the
/// engine's environment. `None` when there is nothing to check: no preset, or the tool's
/// `env` sets HOME (the CLI's own login is then used).
pub fn missing_key(tool: &ToolConfig) -> Option<String> {
    tool.preset.as_deref().and_then(Agent::from_name)?;
    if tool.env.contains_key("HOME") {
        return None;
    }
    let var = tool.api_key_env.as_deref()?;
    key_value(tool, var).is_none().then(|| var.to_string())
}

fn key_value(tool: &ToolConfig, var: &str) -> Option<String> {
    tool.env
        .get(var)
        .cloned()
        .or_else(|| std::env::var(var).ok())
        .filter(|v| !v.is_empty())
}

/// Prepares the home of preset tool `tool_name` and returns the environment to add (none
/// for a tool without a preset). The error says what is missing, naming the tool.
pub fn prepare_env(
    state: &StateDir,
    tool_name: &str,
    tool: &ToolConfig,
) -> Result<Vec<(String, String)>, String> {
    let Some(agent) = tool.preset.as_deref().and_then(Agent::from_name) else {
        return Ok(Vec::new());
    };
    if let Some(var) = missing_key(tool) {
        return Err(format!(
            "cannot start: tool {tool_name:?} needs an API key, and {var} is not set \
             (tools.{tool_name}.api_key_env)"
        ));
    }
    let home = home_dir(state, tool_name);
    let mut env = Env {
        tool,
        vars: Vec::new(),
    };
    let own_home = !tool.env.contains_key("HOME");
    if own_home {
        env.set("HOME", &home);
    }
    let fail = |what: &str, e: std::io::Error| {
        format!("cannot start: tool {tool_name:?}: cannot prepare {what}: {e}")
    };
    std::fs::create_dir_all(&home).map_err(|e| fail(&home.display().to_string(), e))?;
    if let Some(var) = tool.api_key_env.as_deref()
        && var != agent.key_env()
        && !(agent == Agent::Codex && codex_base_url(tool).is_some())
        && let Some(value) = key_value(tool, var)
    {
        // The CLI reads its own variable (codex with a base URL reads `env_key`).
        env.set(agent.key_env(), value);
    }
    match agent {
        Agent::Aider => {
            env.set(
                "AIDER_CHAT_HISTORY_FILE",
                home.join(".aider.chat.history.md"),
            );
            env.set(
                "AIDER_INPUT_HISTORY_FILE",
                home.join(".aider.input.history"),
            );
            if own_home {
                seed_aider_cache(&home).map_err(|e| fail("aider's model cache", e))?;
            }
        }
        Agent::Codex => {
            if !tool.env.contains_key("CODEX_HOME") {
                let codex_home = home.join(".codex");
                let config = codex_config(tool_name, tool);
                write_if_changed(&codex_home.join("config.toml"), &config)
                    .map_err(|e| fail("$CODEX_HOME/config.toml", e))?;
                env.set("CODEX_HOME", &codex_home);
            }
        }
        Agent::Claude => {}
        Agent::Gemini => {
            if own_home {
                write_if_changed(&home.join(".gemini/settings.json"), GEMINI_SETTINGS)
                    .map_err(|e| fail("$HOME/.gemini/settings.json", e))?;
            }
            // It writes error reports to $TMPDIR/gemini-client-error-*.json.
            let tmp = home.join("tmp");
            std::fs::create_dir_all(&tmp).map_err(|e| fail("$TMPDIR", e))?;
            env.set("TMPDIR", &tmp);
        }
    }
    Ok(env.vars)
}

/// Variables to add, skipping those the tool's own `env` sets (it wins anyway; leaving
/// them out keeps the engine from preparing a home nobody uses).
struct Env<'a> {
    tool: &'a ToolConfig,
    vars: Vec<(String, String)>,
}

impl Env<'_> {
    fn set(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) {
        if !self.tool.env.contains_key(key) {
            let value = value.as_ref().to_string_lossy().into_owned();
            self.vars.push((key.to_string(), value));
        }
    }
}

/// `security.auth.selectedType` (else exit 41), no usage statistics, no auto-update, and
/// at most 3 attempts per request (10 by default: minutes of retries on a 429).
const GEMINI_SETTINGS: &str = r#"{
  "security": { "auth": { "selectedType": "gemini-api-key" } },
  "privacy": { "usageStatisticsEnabled": false },
  "general": { "enableAutoUpdate": false, "maxAttempts": 3 }
}
"#;

/// codex's base URL: `base_url`, else `OPENAI_BASE_URL` (from the tool's env or the
/// engine's), which codex itself ignores.
fn codex_base_url(tool: &ToolConfig) -> Option<String> {
    tool.base_url
        .clone()
        .or_else(|| key_value(tool, "OPENAI_BASE_URL"))
}

/// codex ignores OPENAI_BASE_URL: the model and provider go in `$CODEX_HOME/config.toml`.
fn codex_config(tool_name: &str, tool: &ToolConfig) -> String {
    let mut doc = toml::Table::new();
    if let Some(model) = &tool.model {
        doc.insert("model".into(), model.clone().into());
    }
    if let Some(url) = codex_base_url(tool) {
        doc.insert("model_provider".into(), "phase".into());
        let mut provider = toml::Table::new();
        provider.insert("name".into(), format!("phase tools.{tool_name}").into());
        provider.insert("base_url".into(), url.into());
        let key = tool.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
        provider.insert("env_key".into(), key.into());
        // "chat" is refused as no longer supported.
        provider.insert("wire_api".into(), "responses".into());
        let mut providers = toml::Table::new();
        providers.insert("phase".into(), provider.into());
        doc.insert("model_providers".into(), providers.into());
    }
    let mut off = |section: &str, key: &str| {
        let mut t = toml::Table::new();
        t.insert(key.into(), false.into());
        doc.insert(section.into(), t.into());
    };
    // These two removed every outside lookup (AGENT-CLIS.md).
    off("analytics", "enabled");
    off("features", "plugins");
    let body = toml::to_string(&doc).unwrap_or_default();
    format!(
        "# Written by phase before each run of tools.{tool_name} (preset \"codex\"); \
         edits here are overwritten.\n{body}"
    )
}

/// aider fetches litellm's model list from GitHub unless a fresh, non-empty copy is in
/// its cache; litellm's bundled copy is used instead (LITELLM_LOCAL_MODEL_COST_MAP).
fn seed_aider_cache(home: &Path) -> std::io::Result<()> {
    let path = home.join(".aider/caches/model_prices_and_context_window.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < AIDER_CACHE_REFRESH);
    if fresh {
        return Ok(());
    }
    write_replacing(
        &path,
        "{\"phase-coordinator\": \"offline: litellm's bundled model list is used\"}\n",
    )
}

fn write_if_changed(path: &Path, content: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|have| have == content) {
        return Ok(());
    }
    write_replacing(path, content)
}

/// Write-then-rename, so a CLI starting meanwhile reads the old file or the new one.
fn write_replacing(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(preset: &str, extra: &str) -> ToolConfig {
        let text = format!("[tools.t]\npreset = \"{preset}\"\n{extra}");
        let config = crate::config::Config::parse(Path::new("c.toml"), &text).expect("config");
        config.tools["t"].clone()
    }

    #[test]
    fn codex_gets_its_provider_in_its_own_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        let t = tool(
            "codex",
            "model = \"m\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key_env = \"K1\"\n\
             [tools.t.env]\nK1 = \"secret\"\n",
        );
        let env = prepare_env(&state, "t", &t).expect("prepared");
        let home = home_dir(&state, "t");
        assert!(env.contains(&("HOME".into(), home.display().to_string())));
        let config = std::fs::read_to_string(home.join(".codex/config.toml")).expect("written");
        let doc: toml::Table = toml::from_str(&config).expect("valid TOML");
        assert_eq!(doc["model"].as_str(), Some("m"));
        assert_eq!(
            doc["model_providers"]["phase"]["env_key"].as_str(),
            Some("K1")
        );
        assert_eq!(doc["analytics"]["enabled"].as_bool(), Some(false));
        assert!(
            !env.iter().any(|(k, _)| k == "OPENAI_API_KEY"),
            "codex reads env_key"
        );
    }

    #[test]
    fn the_key_is_handed_over_under_the_clis_name_or_missing_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        let t = tool(
            "claude",
            "api_key_env = \"MY_KEY\"\n[tools.t.env]\nMY_KEY = \"k\"\n",
        );
        let env = prepare_env(&state, "t", &t).expect("prepared");
        assert!(env.contains(&("ANTHROPIC_API_KEY".into(), "k".into())));
        let t = tool("gemini", "api_key_env = \"PHASE_TEST_SURELY_UNSET_KEY\"\n");
        let err = prepare_env(&state, "t", &t).expect_err("no key");
        assert!(
            err.starts_with("cannot start") && err.contains("PHASE_TEST_SURELY_UNSET_KEY"),
            "{err}"
        );
        assert!(err.contains("\"t\""), "names the tool: {err}");
    }

    #[test]
    fn the_tools_own_env_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path().join(".state"));
        let t = tool(
            "gemini",
            "[tools.t.env]\nHOME = \"/elsewhere\"\nTMPDIR = \"/t\"\n",
        );
        let env = prepare_env(&state, "t", &t).expect("no key needed with an own HOME");
        assert!(
            env.iter().all(|(k, _)| k != "HOME" && k != "TMPDIR"),
            "{env:?}"
        );
        assert!(!home_dir(&state, "t").join(".gemini").exists());
    }
}
