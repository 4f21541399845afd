//! The operator's side (issue 12), through the real binary: Markdown plans as tasks,
//! runs (what `--once` and `wait` judge, archive, rerun), hooks and metrics.

mod dashboard;
mod discovery;
mod hooks;
mod metrics;
mod plans;
mod runs;

use std::time::Duration;

use serde_json::Value;

use crate::support::Project;

/// Fast timings, no fix ladder: a failure nothing can fix is retried as the budget says.
const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n\n\
    [execution]\nkill_grace_ms = 300\nshutdown_grace_ms = 1000\n\n[recovery]\nladder = []\n";

/// How long one `phase` command may take here.
const LIMIT: Duration = Duration::from_secs(60);

/// The current state of `id` as `phase status --json` shows it (`Null` if not shown).
fn shown_state(p: &Project, id: &str) -> Value {
    p.status_json()["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == id))
        .map(|t| t["state"].clone())
        .unwrap_or(Value::Null)
}

/// The ids `phase status --json` shows.
fn shown_ids(p: &Project) -> Vec<String> {
    p.status_json()["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The runs in `runs.json`, oldest first.
fn runs(p: &Project) -> Vec<Value> {
    p.json("runs.json")["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A `phase run` in the background, killed (SIGKILL) and reaped if the test ends first.
struct Daemon {
    child: Option<std::process::Child>,
}

impl Daemon {
    /// Starts `phase run ARGS` in `p`; its stderr goes to `<root>/<name>.stderr`.
    fn start(p: &Project, args: &[&str], name: &str) -> Daemon {
        Daemon {
            child: Some(p.spawn(args, name)),
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for it to exit; returns whether it exited 0.
    fn stop(mut self, signal: &str) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal}");
        child.wait().expect("wait for phase run").success()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first fenced code block of language `lang` under the README heading `section`,
/// found with the same Markdown parser the engine uses.
fn readme_block(section: &str, lang: &str) -> String {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let (mut heading, mut in_section, mut in_block) = (None::<String>, false, false);
    let mut block = String::new();
    for event in Parser::new(readme) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                in_section = heading.take().is_some_and(|h| h == section);
            }
            Event::Text(t) if heading.is_some() => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                in_block = in_section && &*info == lang;
            }
            Event::Text(t) if in_block => block.push_str(&t),
            Event::End(TagEnd::CodeBlock) if in_block => return block,
            _ => {}
        }
    }
    panic!("README.md has no ```{lang} block under {section:?}")
}
