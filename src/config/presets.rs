//! Built-in tool presets for the AI coding CLIs: `[tools.NAME] preset = "claude"`.
//!
//! A preset is the argv and environment that run one CLI non-interactively and
//! network-quiet, reading its prompt from the engine (the measured facts behind every
//! switch are in ../shared/AGENT-CLIS.md). It fills only the keys the tool's own table
//! leaves out, so any key can be overridden; `env` is merged variable by variable. What
//! depends on the machine and the run — the tool's own HOME, codex's `config.toml`, gemini's
//! `settings.json`, the API key — is prepared before each run by [`crate::agent`].

use serde_json::{Map, Value, json};

use super::Config;
use super::schema_error::join_key;

/// A CLI with a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// aider (PyPI `aider-chat`): OpenAI-compatible chat completions.
    Aider,
    /// OpenAI codex (npm `@openai/codex`): the Responses API.
    Codex,
    /// Claude Code (npm `@anthropic-ai/claude-code`): the Anthropic Messages API.
    Claude,
    /// gemini-cli (npm `@google/gemini-cli`): the Gemini API.
    Gemini,
}

/// Default attempt timeout of an agent tool: agents take minutes, and codex may wait
/// forever on a dead server.
pub const AGENT_TIMEOUT_SECONDS: u64 = 1800;

/// gemini-cli without `-m` first asks a routing model, which costs a round trip (and ~100 s
/// of retries against a server that does not know it).
pub const GEMINI_DEFAULT_MODEL: &str = "gemini-2.5-pro";

/// Rate limits, overload and quota as these CLIs report them (AGENT-CLIS.md): added to
/// `recovery.transient_patterns` when a tool uses a preset.
pub const TRANSIENT_PATTERNS: [&str; 8] = [
    "RateLimitError",
    "(?i)rate[ -]limited",
    r"\b529\b",
    "(?i)overloaded",
    "RESOURCE_EXHAUSTED",
    "QuotaError",
    "(?i)exceeded your current quota|insufficient_quota",
    "(?i)too many requests",
];

/// A missing or refused API key as these CLIs report it: added to
/// `recovery.needs_human_patterns` when a tool uses a preset.
pub const NEEDS_HUMAN_PATTERNS: [&str; 7] = [
    "(?i)not logged in",
    "(?i)failed to authenticate",
    r"\b401 Unauthorized\b|\b403 Forbidden\b",
    "UNAUTHENTICATED",
    "AuthenticationError",
    "(?i)(invalid|incorrect) (x-)?api[ _-]?key",
    "(?i)api key not valid",
];

impl Agent {
    /// Every preset, in the order the docs list them.
    pub const ALL: [Agent; 4] = [Agent::Aider, Agent::Codex, Agent::Claude, Agent::Gemini];

    /// The preset named `name`.
    pub fn from_name(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The preset's name (`preset = "…"`), which is also its program's name.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Aider => "aider",
            Agent::Codex => "codex",
            Agent::Claude => "claude",
            Agent::Gemini => "gemini",
        }
    }

    /// The variable the CLI reads its API key from.
    pub fn key_env(self) -> &'static str {
        match self {
            Agent::Aider | Agent::Codex => "OPENAI_API_KEY",
            Agent::Claude => "ANTHROPIC_API_KEY",
            Agent::Gemini => "GEMINI_API_KEY",
        }
    }

    /// The variable the CLI reads its base URL from (codex has none: `config.toml`).
    pub fn base_url_env(self) -> Option<&'static str> {
        match self {
            Agent::Aider => Some("OPENAI_API_BASE"),
            Agent::Codex => None,
            Agent::Claude => Some("ANTHROPIC_BASE_URL"),
            Agent::Gemini => Some("GOOGLE_GEMINI_BASE_URL"),
        }
    }

    /// The installable package, for messages.
    pub fn package(self) -> &'static str {
        match self {
            Agent::Aider => "PyPI aider-chat",
            Agent::Codex => "npm @openai/codex",
            Agent::Claude => "npm @anthropic-ai/claude-code",
            Agent::Gemini => "npm @google/gemini-cli",
        }
    }

    /// The argv template. The prompt comes in as `{prompt}` (the prompt file's text, one
    /// argument) or, for aider, as `--message-file {prompt_file}`.
    pub fn command(self, model: Option<&str>) -> Vec<String> {
        let mut argv: Vec<&str> = vec![self.name()];
        match self {
            Agent::Aider => {
                if let Some(m) = model {
                    argv.extend(["--model", m]);
                }
                argv.extend([
                    "--yes-always",
                    // No commits of its own: the engine records what changed.
                    "--no-git",
                    // Otherwise --yes-always accepts an upgrade (and exits without working).
                    "--no-check-update",
                    "--analytics-disable",
                    "--no-show-model-warnings",
                    "--no-show-release-notes",
                    // Otherwise --yes-always fetches URLs found in the prompt.
                    "--no-detect-urls",
                    // Otherwise --yes-always runs shell commands the model suggests.
                    "--no-suggest-shell-commands",
                    "--no-pretty",
                    "--no-fancy-input",
                    "--message-file",
                    "{prompt_file}",
                    "{files}",
                ]);
            }
            Agent::Codex => argv.extend([
                "exec",
                "--skip-git-repo-check",
                // exec's default sandbox is read-only: a patch is then refused, exit 0.
                "--sandbox",
                "workspace-write",
                "--ephemeral",
                "--color",
                "never",
                // JSONL events on stdout: `turn.completed` carries the tokens used.
                "--json",
                "{prompt}",
            ]),
            Agent::Claude => {
                argv.extend([
                    "-p",
                    "{prompt}",
                    // Without a permission mode nothing is written, and the exit code is 0.
                    "--permission-mode",
                    "acceptEdits",
                    "--no-session-persistence",
                    // One result object on stdout, with the tokens used and the cost.
                    "--output-format",
                    "json",
                ]);
                if let Some(m) = model {
                    argv.extend(["--model", m]);
                }
            }
            Agent::Gemini => argv.extend([
                "-p",
                "{prompt}",
                "--skip-trust",
                // Without it, -p mode offers no editing tool at all.
                "--approval-mode",
                "auto_edit",
                "-m",
                model.unwrap_or(GEMINI_DEFAULT_MODEL),
                // One result object on stdout, with the tokens used per model.
                "--output-format",
                "json",
            ]),
        }
        argv.into_iter().map(str::to_string).collect()
    }

    /// The preset's environment (before the tool's own `env`, which wins).
    pub fn env(self, base_url: Option<&str>) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = match self {
            // Otherwise litellm fetches its model price list from GitHub.
            Agent::Aider => vec![("LITELLM_LOCAL_MODEL_COST_MAP", "True".into())],
            Agent::Codex => Vec::new(),
            Agent::Claude => vec![
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
                ("DISABLE_AUTOUPDATER", "1".into()),
                // ~3 min of retries on 5xx or a dead server down to seconds: the engine
                // retries transient failures itself.
                ("CLAUDE_CODE_MAX_RETRIES", "1".into()),
            ],
            Agent::Gemini => Vec::new(),
        };
        if let (Some(var), Some(url)) = (self.base_url_env(), base_url) {
            env.push((var, url.to_string()));
        }
        env
    }
}

/// Fills each `[tools.X]` that names a `preset` with the preset's keys it leaves out
/// (before deserialization, so "left out" means "not written in the file"). The schema
/// has already checked the preset's name.
pub(super) fn apply(doc: &mut Value) -> Result<(), String> {
    let Some(tools) = doc.get_mut("tools").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for (name, tool) in tools.iter_mut() {
        let Some(table) = tool.as_object_mut() else {
            continue;
        };
        let Some(preset) = table.get("preset").and_then(Value::as_str) else {
            continue;
        };
        let agent = Agent::from_name(preset).ok_or_else(|| {
            format!(
                "{}: unknown preset {preset:?} (expected one of: aider, codex, claude, gemini)",
                join_key(&join_key("tools", name), "preset")
            )
        })?;
        fill(table, agent);
    }
    Ok(())
}

fn fill(table: &mut Map<String, Value>, agent: Agent) {
    let model = table
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let base_url = table
        .get("base_url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    table
        .entry("command")
        .or_insert_with(|| json!(agent.command(model.as_deref())));
    table
        .entry("timeout_seconds")
        .or_insert_with(|| json!(AGENT_TIMEOUT_SECONDS));
    table
        .entry("api_key_env")
        .or_insert_with(|| json!(agent.key_env()));
    table
        .entry("require_changes")
        .or_insert_with(|| json!(true));
    let env = table.entry("env").or_insert_with(|| json!({}));
    if let Some(env) = env.as_object_mut() {
        for (key, value) in agent.env(base_url.as_deref()) {
            env.entry(key).or_insert_with(|| json!(value));
        }
    }
}

/// Adds the CLIs' rate-limit and auth messages to recovery's patterns when any tool uses
/// a preset (after the user's own, which are kept).
pub(super) fn extend_patterns(config: &mut Config) {
    if !config.tools.values().any(|t| t.preset.is_some()) {
        return;
    }
    let add = |list: &mut Vec<String>, extra: &[&str]| {
        for p in extra {
            if !list.iter().any(|have| have == p) {
                list.push((*p).to_string());
            }
        }
    };
    add(&mut config.recovery.transient_patterns, &TRANSIENT_PATTERNS);
    add(
        &mut config.recovery.needs_human_patterns,
        &NEEDS_HUMAN_PATTERNS,
    );
}

/// What keeps the agent tools of `config` from running on this machine: a program not
/// on PATH, an API key variable not set. One line per problem, starting with the key.
pub fn readiness_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, tool) in &config.tools {
        let Some(agent) = tool.preset.as_deref().and_then(Agent::from_name) else {
            continue;
        };
        let key = join_key("tools", name);
        if let Some(program) = tool.command.first()
            && !program.contains('{')
            && !on_path(program)
        {
            warnings.push(format!(
                "{key}: {program:?} is not on PATH (install {}: scripts/install-agents.sh)",
                agent.package()
            ));
        }
        if let Some(var) = crate::agent::missing_key(tool) {
            warnings.push(format!(
                "{key}: the API key variable {var} is not set (api_key_env); the tool cannot run"
            ));
        }
    }
    warnings
}

/// Whether `program` is an executable file, found on PATH when it has no slash.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// The block `phase init --agent NAME` appends to the config.
pub fn init_block(agent: Agent) -> String {
    let name = agent.name();
    let key = agent.key_env();
    let model = match agent {
        Agent::Aider => "openai/gpt-4.1",
        Agent::Codex => "gpt-5-codex",
        Agent::Claude => "claude-sonnet-4-5",
        Agent::Gemini => GEMINI_DEFAULT_MODEL,
    };
    // codex ignores OPENAI_BASE_URL itself; the engine puts it into codex's config.toml.
    let url_var = agent.base_url_env().unwrap_or("OPENAI_BASE_URL");
    let url_default = format!("${url_var}, else the CLI's own");
    let model_default = if agent == Agent::Gemini {
        GEMINI_DEFAULT_MODEL
    } else {
        "the CLI's own"
    };
    format!(
        "\n# AI coding agent `{name}`, written by `phase init --agent {name}` (README: \"Using AI\n\
         # coding agents\"). Needs the program `{name}` on PATH ({pkg},\n\
         # installed at the tested version by scripts/install-agents.sh) and the API key in\n\
         # ${key}. The preset fills every key left out here; `phase validate` says what\n\
         # this machine is missing. Route `code` tasks to it with a [[routing.rules]] entry\n\
         # (kind = \"code\", candidates = [\"{name}\"]); let it fix failures by adding \"{name}\"\n\
         # to recovery.ladder.\n\
         [tools.{name}]\n\
         preset = \"{name}\"\n\
         kinds = [\"code\"]\n\
         # model = \"{model}\"  # default: {model_default}\n\
         # base_url = \"URL\"  # default: {url_default}\n\
         # api_key_env = \"{key}\"  # the variable holding the API key\n\
         # timeout_seconds = {AGENT_TIMEOUT_SECONDS}\n\
         # isolation = \"worktree\"  # each attempt in a git worktree of its own, merged back\n",
        pkg = agent.package(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        Config::parse(std::path::Path::new("c.toml"), text).expect("valid config")
    }

    #[test]
    fn a_preset_fills_what_the_table_leaves_out() {
        let c = load(
            "[tools.c]\npreset = \"claude\"\nmodel = \"m1\"\nbase_url = \"http://127.0.0.1:9\"\n\
             timeout_seconds = 5\n[tools.c.env]\nCLAUDE_CODE_MAX_RETRIES = \"3\"\n",
        );
        let t = &c.tools["c"];
        assert_eq!(t.command[0], "claude");
        assert!(t.command.windows(2).any(|w| w == ["--model", "m1"]));
        assert_eq!(t.timeout_seconds, Some(5), "the table's own key wins");
        assert_eq!(
            t.env["CLAUDE_CODE_MAX_RETRIES"], "3",
            "env merges by variable"
        );
        assert_eq!(t.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], "1");
        assert_eq!(t.env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9");
        assert_eq!(t.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
        assert!(t.require_changes);
        assert!(
            c.recovery
                .needs_human_patterns
                .iter()
                .any(|p| p.contains("not logged in"))
        );
    }

    #[test]
    fn every_preset_loads_and_its_command_expands() {
        for agent in Agent::ALL {
            let c = load(&format!("[tools.a]\npreset = \"{}\"\n", agent.name()));
            assert_eq!(c.tools["a"].command[0], agent.name());
            assert_eq!(c.tools["a"].timeout_seconds, Some(AGENT_TIMEOUT_SECONDS));
            let block = init_block(agent);
            load(&block);
        }
        let own = load("[tools.a]\npreset = \"codex\"\ncommand = [\"my-codex\", \"{prompt}\"]\n");
        assert_eq!(own.tools["a"].command, ["my-codex", "{prompt}"]);
    }

    #[test]
    fn without_a_preset_nothing_changes() {
        let c = load("[tools.a]\ncommand = [\"x\"]\n");
        assert_eq!(c.recovery, crate::config::RecoveryConfig::default());
        assert!(!c.tools["a"].require_changes);
    }

    #[test]
    fn an_unknown_preset_is_an_error_naming_the_key() {
        let err = Config::parse(
            std::path::Path::new("c.toml"),
            "[tools.a]\npreset = \"vim\"\n",
        )
        .expect_err("unknown preset");
        assert!(err.to_string().contains("tools.a.preset"), "{err}");
    }
}
