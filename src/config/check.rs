//! Cross-field checks the schema cannot express: names that must refer to a tool, and
//! regexes that must compile. Messages start with the key's dotted path.

use super::Config;
use super::schema_error::join_key;
use crate::template::{self, Vars};

/// The ladder step that runs detectors' fixers rather than a tool.
const MECHANICAL_FIX: &str = "mechanical_fix";

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
        }
        if let Some(step) = self
            .recovery
            .ladder
            .iter()
            .find(|s| *s != MECHANICAL_FIX && !known(s))
        {
            return Err(format!(
                "recovery.ladder: {step:?} is neither \"{MECHANICAL_FIX}\" nor a tool in [tools]"
            ));
        }
        for (name, tool) in &self.tools {
            if tool.command.is_empty() {
                let key = join_key(&join_key("tools", name), "command");
                return Err(format!("{key}: must not be empty"));
            }
        }
        self.check_templates()?;
        self.check_patterns()
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
            ..Vars::default()
        };
        for (key, template) in templates {
            template::expand(template, &vars).map_err(|e| format!("{key}: {e}"))?;
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
