//! What recovery needs to know about *other* tasks, from `routing_decisions.json`: the
//! area each one's attempts may change (to keep fixes off files a running attempt uses)
//! and the dependency graph (to name the dependents a quarantine blocks). Built by the
//! phase thread when the decisions change and shared with the worker.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::scope::Area;
use crate::model::{RoutingDecisions, TaskSpec};

/// One task, as far as other tasks' recovery cares.
#[derive(Debug, Clone, Default)]
struct Footprint {
    area: Area,
    depends_on: Vec<String>,
}

/// Every routed task's area and dependencies, by id.
#[derive(Debug, Default)]
pub(super) struct TaskIndex {
    tasks: HashMap<String, Footprint>,
}

impl TaskIndex {
    /// The index of `decisions`, with workdirs relative to `root` (the project root).
    pub(super) fn new(decisions: &RoutingDecisions, root: &Path) -> TaskIndex {
        let tasks = decisions
            .decisions
            .iter()
            .map(|d| {
                let footprint = Footprint {
                    area: Area::of_task(&workdir_of(root, &d.task), &d.task.files),
                    depends_on: d.task.depends_on.to_vec(),
                };
                (d.task_id.clone(), footprint)
            })
            .collect();
        TaskIndex { tasks }
    }

    /// What `task`'s attempts may change (its files, or its whole workdir).
    pub(super) fn area(&self, task: &str) -> Option<&Area> {
        self.tasks.get(task).map(|f| &f.area)
    }

    /// The tasks whose areas overlap `area`, sorted.
    pub(super) fn overlapping(&self, area: &Area) -> Vec<String> {
        let mut ids: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, f)| f.area.overlaps(area))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Every task that depends on `task`, directly or not, sorted: they cannot run while
    /// it is quarantined.
    pub(super) fn dependents(&self, task: &str) -> Vec<String> {
        // Built per call: only a quarantine asks, and a long chain must stay linear.
        let mut users: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, f) in &self.tasks {
            for dep in &f.depends_on {
                users.entry(dep.as_str()).or_default().push(id.as_str());
            }
        }
        let mut found: BTreeSet<&str> = BTreeSet::new();
        let mut frontier = vec![task];
        while let Some(id) = frontier.pop() {
            for user in users.get(id).into_iter().flatten() {
                if *user != task && found.insert(user) {
                    frontier.push(user);
                }
            }
        }
        found.into_iter().map(str::to_string).collect()
    }
}

/// The task's workdir: the project root joined with its `workdir`.
pub(super) fn workdir_of(root: &Path, task: &TaskSpec) -> PathBuf {
    match task.workdir.as_deref() {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RoutingDecision;

    fn decision(id: &str, deps: &[&str], files: &[&str]) -> RoutingDecision {
        RoutingDecision {
            task_id: id.to_string(),
            task: TaskSpec {
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                files: files.iter().map(|f| f.to_string()).collect(),
                ..TaskSpec::default()
            },
            ..RoutingDecision::default()
        }
    }

    #[test]
    fn dependents_are_transitive_and_areas_follow_files() {
        let doc = RoutingDecisions {
            decisions: vec![
                decision("a", &[], &["a.py"]),
                decision("b", &["a"], &[]),
                decision("c", &["b"], &[]),
                decision("d", &[], &[]),
            ],
            ..RoutingDecisions::default()
        };
        let index = TaskIndex::new(&doc, Path::new("/p"));
        assert_eq!(index.dependents("a"), ["b", "c"]);
        assert!(index.dependents("d").is_empty());
        let a = index.area("a").expect("a");
        assert!(a.contains(Path::new("/p/a.py")) && !a.contains(Path::new("/p/b.py")));
        assert!(
            index
                .area("b")
                .expect("b")
                .contains(Path::new("/p/any/file"))
        );
    }
}
