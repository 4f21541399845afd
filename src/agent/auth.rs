//! A model API refusing an agent's key (401/403, "not logged in", …): the failure needs a
//! person, and the message must say which tool and which variable to look at.

use regex::Regex;

use crate::config::Config;
use crate::config::presets::{Agent, NEEDS_HUMAN_PATTERNS};

/// When `output` (an agent step's reason, stderr and stdout) shows the model API refusing
/// the key of tool `tool_id` (a preset), what to tell a person: the tool and the variable
/// its key comes from.
pub fn key_refused(config: &Config, tool_id: &str, output: &str) -> Option<String> {
    let name = tool_id.split('@').next().unwrap_or_default();
    let tool = config.tools.get(name)?;
    tool.preset.as_deref().and_then(Agent::from_name)?;
    let var = tool.api_key_env.as_deref()?;
    let refused = NEEDS_HUMAN_PATTERNS
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .any(|re| output.lines().any(|line| re.is_match(line)));
    refused.then(|| {
        format!(
            "tool {name:?}: its model API refused the key (missing, invalid or not allowed): \
             check the variable {var} (tools.{name}.api_key_env)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_key_names_the_tool_and_the_variable() {
        let config = Config::parse(
            std::path::Path::new("c.toml"),
            "[tools.c]\npreset = \"claude\"\napi_key_env = \"MY_KEY\"\n[tools.s]\ncommand = [\"x\"]\n",
        )
        .expect("config");
        let out = "API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"}}\n\
                   Failed to authenticate. API Error: 401";
        let hint = key_refused(&config, "c", out).expect("refused");
        assert!(hint.contains("\"c\"") && hint.contains("MY_KEY"), "{hint}");
        assert_eq!(
            key_refused(&config, "c", "exit code 1: a test failed"),
            None
        );
        assert_eq!(key_refused(&config, "s", out), None, "not an agent");
    }
}
