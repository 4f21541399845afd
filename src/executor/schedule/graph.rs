//! The tasks of `routing_decisions.json` as a dependency graph: who depends on whom,
//! which dependencies are unknown, a dependencies-first order, and the cycles.
//! Rebuilt only when the decisions change.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::model::RoutingDecision;

/// Nodes are indices into the decisions, in file order.
#[derive(Debug, Default)]
pub(in crate::executor) struct Graph {
    decisions: Vec<RoutingDecision>,
    index: HashMap<String, usize>,
    /// Known dependencies of each task.
    deps: Vec<Vec<usize>>,
    /// Dependencies with no decision, by task.
    unknown: HashMap<usize, Vec<String>>,
    /// Tasks that depend on each task.
    dependents: Vec<Vec<usize>>,
    /// Every task, each after all of its dependencies (cycle members in any order).
    order: Vec<usize>,
    /// For each task in a cycle: the cycle, as `a -> b -> a`.
    cycles: HashMap<usize, String>,
}

impl Graph {
    /// Builds the graph; a task id listed twice keeps its first decision.
    pub(in crate::executor) fn build(mut decisions: Vec<RoutingDecision>) -> Graph {
        let mut index = HashMap::with_capacity(decisions.len());
        // In place: a second vector would hold every decision twice while it fills.
        let mut next = 0;
        decisions.retain(|d| {
            if index.contains_key(&d.task_id) {
                tracing::warn!(task = %d.task_id, "routing_decisions.json lists the task twice; the first decision is used");
                return false;
            }
            index.insert(d.task_id.clone(), next);
            next += 1;
            true
        });
        let kept = decisions;
        let n = kept.len();
        let mut deps = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        let mut unknown: HashMap<usize, Vec<String>> = HashMap::new();
        for (i, d) in kept.iter().enumerate() {
            let mut seen = HashSet::new();
            for dep in &d.task.depends_on {
                if !seen.insert(dep.as_str()) {
                    continue;
                }
                match index.get(dep) {
                    Some(&j) => {
                        deps[i].push(j);
                        dependents[j].push(i);
                    }
                    None => unknown.entry(i).or_default().push(dep.clone()),
                }
            }
        }
        let mut graph = Graph {
            decisions: kept,
            index,
            deps,
            unknown,
            dependents,
            order: Vec::with_capacity(n),
            cycles: HashMap::new(),
        };
        graph.find_order_and_cycles();
        graph
    }

    /// How many tasks.
    pub(in crate::executor) fn len(&self) -> usize {
        self.decisions.len()
    }

    /// The index of `id`.
    pub(in crate::executor) fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The decision of task `i`.
    pub(in crate::executor) fn decision(&self, i: usize) -> &RoutingDecision {
        &self.decisions[i]
    }

    /// The id of task `i`.
    pub(in crate::executor) fn id(&self, i: usize) -> &str {
        &self.decisions[i].task_id
    }

    /// Known dependencies of task `i`.
    pub(in crate::executor) fn deps(&self, i: usize) -> &[usize] {
        &self.deps[i]
    }

    /// Dependencies of task `i` that have no decision.
    pub(in crate::executor) fn unknown_deps(&self, i: usize) -> &[String] {
        self.unknown.get(&i).map(Vec::as_slice).unwrap_or_default()
    }

    /// Tasks that depend on task `i`.
    pub(in crate::executor) fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// Every task, dependencies first.
    pub(in crate::executor) fn order(&self) -> &[usize] {
        &self.order
    }

    /// The cycle task `i` is in, as `a -> b -> a`.
    pub(in crate::executor) fn cycle(&self, i: usize) -> Option<&str> {
        self.cycles.get(&i).map(String::as_str)
    }

    /// Tarjan's strongly connected components, iteratively (a 10,000-task chain must not
    /// overflow the stack). Components come out dependencies first.
    fn find_order_and_cycles(&mut self) {
        const UNSEEN: usize = usize::MAX;
        let n = self.len();
        let mut number = vec![UNSEEN; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        let mut calls: Vec<(usize, usize)> = Vec::new();
        let mut next = 0usize;
        for root in 0..n {
            if number[root] != UNSEEN {
                continue;
            }
            number[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            calls.push((root, 0));
            while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
                if let Some(&w) = self.deps[v].get(*pos) {
                    *pos += 1;
                    if number[w] == UNSEEN {
                        number[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(number[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == number[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    self.note_component(&component);
                }
            }
        }
    }

    fn note_component(&mut self, component: &[usize]) {
        self.order.extend_from_slice(component);
        let cyclic = component.len() > 1 || self.deps[component[0]].contains(&component[0]);
        if !cyclic {
            return;
        }
        let start = component.iter().copied().min().unwrap_or(component[0]);
        let members: HashSet<usize> = component.iter().copied().collect();
        let path = self.cycle_path(start, &members);
        for &m in component {
            self.cycles.insert(m, path.clone());
        }
    }

    /// The shortest cycle through `start` within `members`, as `a -> b -> a`.
    fn cycle_path(&self, start: usize, members: &HashSet<usize>) -> String {
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut last = start;
        'search: while let Some(v) = queue.pop_front() {
            for &w in &self.deps[v] {
                if w == start {
                    last = v;
                    break 'search;
                }
                if members.contains(&w) && !parent.contains_key(&w) && w != start {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        let mut path = vec![last];
        let mut at = last;
        while at != start {
            let Some(&up) = parent.get(&at) else {
                break;
            };
            at = up;
            path.push(at);
        }
        path.reverse();
        path.push(start);
        path.iter()
            .map(|&i| self.id(i))
            .collect::<Vec<_>>()
            .join(" -> ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskSpec;

    fn task(id: &str, deps: &[&str]) -> RoutingDecision {
        RoutingDecision {
            task_id: id.to_string(),
            task: TaskSpec {
                id: Some(id.to_string()),
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                ..TaskSpec::default()
            },
            ..RoutingDecision::default()
        }
    }

    /// A task listed twice keeps its first decision, and the tasks after the repeat keep
    /// indices that point at their own decisions.
    #[test]
    fn a_task_listed_twice_keeps_its_first_decision() {
        let mut second_a = task("a", &[]);
        second_a.selected_tool = "second".into();
        let mut first_a = task("a", &[]);
        first_a.selected_tool = "first".into();
        let g = Graph::build(vec![
            first_a,
            second_a,
            task("b", &["a"]),
            task("c", &["b"]),
        ]);
        assert_eq!(g.len(), 3);
        let (a, b, c) = (
            g.find("a").unwrap(),
            g.find("b").unwrap(),
            g.find("c").unwrap(),
        );
        assert_eq!(g.decision(a).selected_tool, "first");
        assert_eq!((g.id(a), g.id(b), g.id(c)), ("a", "b", "c"));
        assert_eq!(g.deps(b), [a]);
        assert_eq!(g.deps(c), [b]);
        assert_eq!(g.dependents(a), [b]);
    }

    #[test]
    fn order_puts_dependencies_first_and_finds_cycles() {
        let g = Graph::build(vec![
            task("d", &["b", "c"]),
            task("b", &["a"]),
            task("c", &["a", "zz"]),
            task("a", &[]),
            task("x", &["y"]),
            task("y", &["z"]),
            task("z", &["x"]),
            task("w", &["x"]),
        ]);
        let pos = |id: &str| {
            let i = g.find(id).expect("known");
            g.order().iter().position(|&j| j == i).expect("ordered")
        };
        assert!(pos("a") < pos("b") && pos("b") < pos("d") && pos("c") < pos("d"));
        assert_eq!(g.unknown_deps(g.find("c").expect("c")), ["zz".to_string()]);
        assert_eq!(g.cycle(g.find("y").expect("y")), Some("x -> y -> z -> x"));
        assert_eq!(g.cycle(g.find("w").expect("w")), None);
        assert!(pos("x") < pos("w"));
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let ids: Vec<String> = (0..50_000).map(|i| format!("t{i}")).collect();
        let decisions = (0..ids.len())
            .map(|i| {
                let deps: Vec<&str> = if i == 0 {
                    vec![]
                } else {
                    vec![ids[i - 1].as_str()]
                };
                task(&ids[i], &deps)
            })
            .collect();
        let g = Graph::build(decisions);
        assert_eq!(g.order().first().copied(), Some(0));
        assert!(g.cycles.is_empty());
    }
}
