//! What a task names besides itself, checked against the config and the state directory
//! (`phase submit`, `phase validate`): a `tool` the config does not have is an error (the
//! router would reject the task); a `depends_on` entry that is no task yet is a warning
//! (it may be submitted later, and the task waits until it is).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::config::Config;
use crate::model::{RoutingDecisions, StateDoc, TaskSpec};
use crate::store::{StateDir, list_task_files, read_view};

/// The tools and task ids a task may name.
#[derive(Debug, Default)]
pub(in crate::cli) struct Refs {
    /// The config's tools, and its file (`None`: no config to check against).
    tools: Option<(BTreeSet<String>, PathBuf)>,
    /// Ids of tasks routed, accepted or in the inbox.
    known: HashSet<String>,
}

impl Refs {
    /// The config's tools and the state directory's tasks (none when it does not exist).
    pub(in crate::cli) fn new(config: Option<(&Config, &Path)>, state: &StateDir) -> Refs {
        let tools = config.map(|(c, path)| (c.tools.keys().cloned().collect(), path.to_path_buf()));
        let mut known = HashSet::new();
        if state.root().is_dir() {
            // Unreadable listings or decisions only make fewer ids known: more warnings.
            for dir in [state.inbox(), state.tasks()] {
                for path in list_task_files(&dir).unwrap_or_default() {
                    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                        known.insert(stem.to_string());
                    }
                }
            }
            let decisions: RoutingDecisions =
                read_view(&state.file(RoutingDecisions::FILE)).unwrap_or_default();
            known.extend(decisions.decisions.into_iter().map(|d| d.task_id));
        }
        Refs { tools, known }
    }

    /// Counts `id` as a task (another file of the same command).
    pub(in crate::cli) fn add_known(&mut self, id: &str) {
        self.known.insert(id.to_string());
    }

    /// The task's problems (an unknown tool); prints a `warning:` line on stderr for each
    /// dependency that is no task yet.
    pub(in crate::cli) fn check(&self, source: &Path, spec: &TaskSpec) -> Vec<Error> {
        let mut problems = Vec::new();
        if let (Some(tool), Some((tools, config))) = (&spec.tool, &self.tools)
            && !tools.contains(tool)
        {
            let names: Vec<&str> = tools.iter().map(String::as_str).collect();
            problems.push(Error::invalid(
                source,
                format!(
                    "field `tool`: {tool:?} is not a tool of {} (its tools: {}); the router \
                     would reject the task",
                    config.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        let own = spec.id.as_deref().unwrap_or_default();
        for dep in &spec.depends_on {
            if dep != own && !self.known.contains(dep) {
                eprintln!(
                    "warning: {}: field `depends_on`: {dep:?} is not a submitted task (yet); \
                     the task waits until it is submitted and succeeds",
                    source.display()
                );
            }
        }
        problems
    }
}
