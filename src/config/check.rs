//! Cross-field checks the schema cannot express: names that must refer to a tool, and
//! regexes that must compile. Messages start with the key's dotted path.

use super::Config;
use super::schema_error::join_key;
use crate::model::LadderStep;
use crate::template::{self, Vars};

impl Config {
    /// Checks what the schema cannot; the error is `<dotted.key>: <what is wrong>`.
    pub(super) fn check(&self) -> Result<(), String> {
        let known = |tool: &str| self.tools.contains_key(tool);
        if let Some(tool) = &self.routing.default_tool
            && !known(tool)
        {
            return Err(format!(
                "routing.default_tool: no tool named {tool:?} in [tools]"
            ));
        }
        for (i, rule) in self.routing.rules.iter().enumerate() {
            if let Some(c) = rule.candidates.iter().find(|c| !known(c)) {
                return Err(format!(
                    "routing.rules[{i}].candidates: no tool named {c:?} in [tools]"
                ));
            }
            if let Some(r) = rule.review.as_ref().filter(|r| !known(r)) {
                return Err(format!(
                    "routing.rules[{i}].review: no tool named {r:?} in [tools]"
                ));
            }
        }
        for step in &self.recovery.ladder {
            match step {
                LadderStep::MechanicalFix => {}
                LadderStep::Agent(tool) if known(tool) => {}
                LadderStep::Retry | LadderStep::Quarantine if known(step.as_str()) => {
                    return Err(format!(
                        "recovery.ladder: {:?} is the engine's own step, not a rung (rename \
                         the tool to use it as an agent tier)",
                        step.as_str()
                    ));
                }
                _ => {
                    return Err(format!(
                        "recovery.ladder: {:?} is neither \"{}\" nor a tool in [tools]",
                        step.as_str(),
                        LadderStep::MechanicalFix
                    ));
                }
            }
        }
        for (name, tool) in &self.tools {
            if tool.command.is_empty() {
                let key = join_key(&join_key("tools", name), "command");
                return Err(format!("{key}: must not be empty"));
            }
        }
        self.check_nul()?;
        self.check_templates()?;
        self.check_patterns()
    }

    /// No argv element, environment variable or path holds a NUL character: no process
    /// can be started with one, and the error at spawn time would name no key.
    fn check_nul(&self) -> Result<(), String> {
        let mut strings: Vec<(String, &str)> = Vec::new();
        for (name, tool) in &self.tools {
            let key = join_key("tools", name);
            strings.extend(indexed(&join_key(&key, "command"), &tool.command));
            if let Some(check) = &tool.health_check {
                strings.extend(indexed(&join_key(&key, "health_check"), check));
            }
            for (var, value) in &tool.env {
                let at = join_key(&join_key(&key, "env"), var);
                strings.push((at.clone(), var.as_str()));
                strings.push((at, value.as_str()));
            }
            for (field, value) in [("model", &tool.model), ("base_url", &tool.base_url)] {
                if let Some(value) = value {
                    strings.push((join_key(&key, field), value.as_str()));
                }
            }
        }
        for (name, detector) in &self.recovery.detectors {
            let key = join_key("recovery.detectors", name);
            strings.extend(indexed(&join_key(&key, "command"), &detector.command));
            if let Some(fixer) = &detector.fixer {
                strings.extend(indexed(&join_key(&key, "fixer"), fixer));
            }
        }
        match strings.into_iter().find(|(_, s)| s.contains('\0')) {
            Some((key, _)) => Err(format!(
                "{key}: contains a NUL character (\\u0000), which no argument, path or \
                 environment variable can hold"
            )),
            None => Ok(()),
        }
    }

    /// Every argv template expands: a misspelt placeholder fails here, not at run time.
    fn check_templates(&self) -> Result<(), String> {
        let mut templates: Vec<(String, &Vec<String>)> = Vec::new();
        for (name, tool) in &self.tools {
            let tool_key = join_key("tools", name);
            templates.push((join_key(&tool_key, "command"), &tool.command));
            if let Some(check) = &tool.health_check {
                templates.push((join_key(&tool_key, "health_check"), check));
            }
        }
        for (name, detector) in &self.recovery.detectors {
            let key = join_key("recovery.detectors", name);
            templates.push((join_key(&key, "command"), &detector.command));
            if let Some(fixer) = &detector.fixer {
                templates.push((join_key(&key, "fixer"), fixer));
            }
        }
        let sample = [String::from("x")];
        let vars = Vars {
            command: &sample,
            files: &sample,
            prompt_file: Some("prompt.md"),
            prompt: Some("the prompt"),
            ..Vars::default()
        };
        for (key, template) in templates {
            template::expand(template, &vars).map_err(|e| format!("{key}: {e}"))?;
        }
        // A rule's gate `verify` runs without a prompt, as the gate runs it.
        let verify_vars = Vars {
            prompt_file: None,
            prompt: None,
            ..vars
        };
        for (i, rule) in self.routing.rules.iter().enumerate() {
            if !rule.verify.is_empty() {
                template::expand(&rule.verify, &verify_vars)
                    .map_err(|e| format!("routing.rules[{i}].verify: {e}"))?;
            }
        }
        Ok(())
    }

    fn check_patterns(&self) -> Result<(), String> {
        let lists = [
            (
                "recovery.transient_patterns",
                &self.recovery.transient_patterns,
            ),
            (
                "recovery.needs_human_patterns",
                &self.recovery.needs_human_patterns,
            ),
        ];
        for (key, patterns) in lists {
            for (i, p) in patterns.iter().enumerate() {
                regex::Regex::new(p).map_err(|e| bad_regex(&format!("{key}[{i}]"), p, &e))?;
            }
        }
        for (name, detector) in &self.recovery.detectors {
            if let Some(p) = &detector.pattern {
                let key = join_key(&join_key("recovery.detectors", name), "pattern");
                regex::Regex::new(p).map_err(|e| bad_regex(&key, p, &e))?;
            }
        }
        Ok(())
    }
}

/// `key[i]` and each element of a list.
fn indexed<'a>(key: &str, items: &'a [String]) -> impl Iterator<Item = (String, &'a str)> {
    items
        .iter()
        .enumerate()
        .map(move |(i, item)| (format!("{key}[{i}]"), item.as_str()))
}

/// regex's own message spans several lines (it draws a caret under the pattern); the
/// last line says what is wrong.
fn bad_regex(key: &str, pattern: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let why = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ");
    format!("{key}: bad regex {pattern:?}: {why}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Config;
    use crate::model::LadderStep;

    fn parse(toml: &str) -> Result<Config, String> {
        Config::parse(Path::new("c.toml"), toml).map_err(|e| e.to_string())
    }

    #[test]
    fn nul_characters_are_refused_by_key() {
        let err = parse("[tools.t]\ncommand = [\"a\", \"b\\u0000\"]\n").expect_err("NUL");
        assert!(
            err.starts_with("c.toml: tools.t.command[1]: contains a NUL"),
            "{err}"
        );
        let err = parse("[tools.shell.env]\nX = \"\\u0000\"\n").expect_err("NUL");
        assert!(
            err.starts_with("c.toml: tools.shell.env.X: contains a NUL"),
            "{err}"
        );
    }

    #[test]
    fn the_ladder_lists_rungs_only() {
        let config =
            parse("[recovery]\nladder = [\"mechanical_fix\", \"shell\"]\n").expect("valid");
        assert_eq!(
            config.recovery.ladder,
            [LadderStep::MechanicalFix, LadderStep::Agent("shell".into())]
        );
        assert_eq!(
            parse("[recovery]\nladder = [\"retry\"]\n").expect_err("not a rung"),
            "c.toml: recovery.ladder: \"retry\" is neither \"mechanical_fix\" nor a tool in [tools]"
        );
        assert_eq!(
            parse(
                "[tools.quarantine]\ncommand = [\"x\"]\n\n[recovery]\nladder = [\"quarantine\"]\n"
            )
            .expect_err("reserved"),
            "c.toml: recovery.ladder: \"quarantine\" is the engine's own step, not a rung \
             (rename the tool to use it as an agent tier)"
        );
    }
}
