//! The configuration of routing that survives failing tools (docs/ROUTING.md): circuit
//! breakers (`[routing.circuit]`), the `metrics` strategy (`[routing.metrics]`), and tool
//! pools (`[tools.<pool>.instances.<name>]`).
//!
//! A pool instance becomes a tool of its own, `<pool>@<name>`, when the file is loaded: the
//! pool's table with the instance's `env` merged in and its own `max_parallel` and
//! `health_check`. So a decision names the instance as its `selected_tool`, and everything
//! that runs a tool (the executor, its per-tool limit, attempt records) needs nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, ToolConfig};

/// Separates a pool's name from its instance's in the instance's tool name.
pub const INSTANCE_SEPARATOR: char = '@';

/// `[routing.circuit]`: when a tool's circuit opens, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitConfig {
    /// Consecutive tool-attributable failures that open a tool's circuit.
    pub failures: u32,
    /// The cool-down of a first opening; each re-opening doubles it.
    pub cooldown_ms: u64,
    /// The longest cool-down.
    pub max_cooldown_ms: u64,
    /// The cool-down after a rate limit whose output names no time (`Retry-After`, a reset
    /// time).
    pub rate_limit_ms: u64,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failures: 3,
            cooldown_ms: 30_000,
            max_cooldown_ms: 600_000,
            rate_limit_ms: 60_000,
        }
    }
}

/// `[routing.metrics]`: what the `metrics` strategy looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Recent finished attempts per tool and task kind that count.
    pub window: u32,
    /// Share of decisions (0 to 1) that go to the usable candidate tried least recently,
    /// so a tool that recovered gets traffic again; every `1/explore`-th decision of a rule.
    pub explore: f64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            window: 20,
            explore: 0.1,
        }
    }
}

/// `[tools.<pool>.instances.<name>]`: one instance of a pool (the same tool with another
/// API key, or on another host).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstanceConfig {
    /// Merged over the pool's `env`, variable by variable.
    pub env: BTreeMap<String, String>,
    /// Its own parallel limit (default: the pool's `max_parallel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// Its own health check (default: the pool's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Vec<String>>,
}

/// The tool name of `instance` of `pool`.
pub fn instance_tool(pool: &str, instance: &str) -> String {
    format!("{pool}{INSTANCE_SEPARATOR}{instance}")
}

/// Whether `name` is a pool instance's tool (made by [`expand_pools`], never declared).
pub fn is_instance_tool(name: &str) -> bool {
    name.contains(INSTANCE_SEPARATOR)
}

impl Config {
    /// The tools a routing candidate stands for: a pool's instances, else the tool itself.
    pub fn pool_members(&self, name: &str) -> Vec<String> {
        match self.tools.get(name) {
            Some(tool) if !tool.instances.is_empty() => tool
                .instances
                .keys()
                .map(|i| instance_tool(name, i))
                .collect(),
            _ => vec![name.to_string()],
        }
    }
}

/// Adds a tool `<pool>@<instance>` for every pool instance (see the module doc). An
/// instance's variable or argument holding a NUL character is an error naming its key.
pub(super) fn expand_pools(config: &mut Config) -> Result<(), String> {
    let mut added = Vec::new();
    for (pool, tool) in &config.tools {
        for (name, instance) in &tool.instances {
            let key = format!("tools.{pool}.instances.{name}");
            let nul = instance
                .env
                .iter()
                .flat_map(|(k, v)| [k, v])
                .chain(instance.health_check.iter().flatten())
                .any(|s| s.contains('\0'));
            if nul {
                return Err(format!(
                    "{key}: contains a NUL character (\\u0000), which no argument or \
                     environment variable can hold"
                ));
            }
            let mut env = tool.env.clone();
            env.extend(instance.env.clone());
            added.push((
                instance_tool(pool, name),
                ToolConfig {
                    env,
                    max_parallel: instance.max_parallel.or(tool.max_parallel),
                    health_check: instance
                        .health_check
                        .clone()
                        .or_else(|| tool.health_check.clone()),
                    instances: BTreeMap::new(),
                    ..tool.clone()
                },
            ));
        }
    }
    config.tools.extend(added);
    Ok(())
}

/// Serialises `[tools]` without the instance tools [`expand_pools`] made: written out and
/// read back, a configuration is the same.
pub(super) fn serialize_declared_tools<S: serde::Serializer>(
    tools: &BTreeMap<String, ToolConfig>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let declared = tools.iter().filter(|(name, _)| !is_instance_tool(name));
    let mut map = serializer.serialize_map(None)?;
    for (name, tool) in declared {
        map.serialize_entry(name, tool)?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn instances_become_tools_with_merged_env_and_their_own_limits() {
        let text = "[tools.agent]\ncommand = [\"run\"]\nmax_parallel = 4\n\
                    health_check = [\"true\"]\n[tools.agent.env]\nA = \"pool\"\nB = \"pool\"\n\
                    [tools.agent.instances.k1.env]\nB = \"one\"\n\
                    [tools.agent.instances.k2]\nmax_parallel = 1\nhealth_check = [\"false\"]\n";
        let config = Config::parse(Path::new("c.toml"), text).expect("valid");
        let k1 = &config.tools["agent@k1"];
        assert_eq!(k1.command, ["run"]);
        assert_eq!(
            (k1.env["A"].as_str(), k1.env["B"].as_str()),
            ("pool", "one")
        );
        assert_eq!(k1.max_parallel, Some(4));
        assert_eq!(k1.health_check.as_deref(), Some(&["true".to_string()][..]));
        assert!(k1.instances.is_empty());
        let k2 = &config.tools["agent@k2"];
        assert_eq!(k2.max_parallel, Some(1));
        assert_eq!(k2.health_check.as_deref(), Some(&["false".to_string()][..]));
        assert_eq!(config.pool_members("agent"), ["agent@k1", "agent@k2"]);
        assert_eq!(config.pool_members("shell"), ["shell"]);
        // Written out and read back: the same configuration.
        let again = toml::to_string(&config).expect("serialises");
        assert!(!again.contains("agent@"), "{again}");
        assert_eq!(
            Config::parse(Path::new("c.toml"), &again).expect("valid"),
            config
        );
    }
}
