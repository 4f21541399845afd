//! The tasks as a graph: `phase dag [--dot]` and `phase run --dry-run`. Both list every
//! task — routed (`routing_decisions.json`) or still in the inbox — in the order the
//! executor would start them: dependencies first, then higher priority, then submission
//! order (the executor's ready queue, src/executor/schedule/queue.rs).

use std::collections::{BTreeSet, HashMap};

use super::{Context, EXIT_OK, Failure, Out, Outcome};
use crate::config::Config;
use crate::model::{RoutingDecisions, StateDoc, TaskSpec};
use crate::status::{LivePhases, TaskState, snapshot};
use crate::store::{contain_task_paths, list_inbox, read_task_file, read_view};
use crate::template::{self, Vars};
use crate::{Error, Result};

/// Arguments of `phase dag`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the graph in Graphviz's DOT language (`phase dag --dot | dot -Tsvg > dag.svg`):
    /// an edge from each dependency to the task that waits on it.
    #[arg(long)]
    pub dot: bool,
}

/// One task of the graph.
#[derive(Debug)]
pub(super) struct Node {
    /// The task's id.
    pub id: String,
    /// Its spec, as accepted or as submitted.
    pub spec: TaskSpec,
    /// Its tool: the router's choice, or (`routed` false) the one its rules would pick.
    pub tool: Option<String>,
    /// Whether the router has decided already.
    pub routed: bool,
    /// Its state now (`None`: a task file in the inbox).
    pub state: Option<TaskState>,
    /// The attempt it would run next.
    pub next_attempt: u32,
    /// Part of a dependency cycle: it can never run.
    pub in_cycle: bool,
}

/// Every task, in execution order.
pub(super) fn load(ctx: &Context, config: &Config) -> Result<Vec<Node>> {
    let state = &ctx.state;
    let decisions: RoutingDecisions = read_view(&state.file(RoutingDecisions::FILE))?;
    let snap = snapshot(state, LivePhases::default())?;
    let views: HashMap<&str, (TaskState, u32)> = snap
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), (t.state, t.attempt)))
        .collect();
    let mut nodes: Vec<(i64, Node)> = Vec::new();
    let mut decided = decisions.decisions;
    decided.sort_by_key(|d| d.submission_seq);
    for d in decided {
        let (state, attempt) = views.get(d.task_id.as_str()).copied().unzip();
        nodes.push((
            d.task.priority,
            Node {
                id: d.task_id,
                tool: Some(d.selected_tool),
                routed: true,
                state,
                next_attempt: attempt.unwrap_or(0) + 1,
                in_cycle: false,
                spec: d.task,
            },
        ));
    }
    let mut inbox = list_inbox(state)?;
    inbox.sort_by_key(|f| f.modified);
    for file in inbox {
        // A bad task file is the router's to reject; here it is only not in the graph.
        let Ok(spec) = read_task_file(&file.path) else {
            continue;
        };
        let id = spec.id.clone().unwrap_or_default();
        if nodes.iter().any(|(_, n)| n.id == id) {
            continue;
        }
        nodes.push((
            spec.priority,
            Node {
                id,
                tool: routed_tool(&spec, config),
                routed: false,
                state: None,
                next_attempt: 1,
                in_cycle: false,
                spec,
            },
        ));
    }
    Ok(execution_order(nodes))
}

/// The tool the router would pick first: the task's own, the first candidate of the
/// first rule for its kind, or the default tool.
fn routed_tool(spec: &TaskSpec, config: &Config) -> Option<String> {
    spec.tool.clone().or_else(|| {
        config
            .routing
            .rules
            .iter()
            .find(|r| r.kind == spec.kind)
            .and_then(|r| r.candidates.first().cloned())
            .or_else(|| config.routing.default_tool.clone())
    })
}

/// Kahn's algorithm over (priority, submission order). A dependency that is not a task
/// here does not hold a task back in the listing (the executor waits for it; `AFTER`
/// shows it). Tasks left in a cycle come last, marked.
fn execution_order(nodes: Vec<(i64, Node)>) -> Vec<Node> {
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (_, n))| (n.id.clone(), i))
        .collect();
    let mut waiting: Vec<usize> = nodes
        .iter()
        .map(|(_, n)| {
            let deps: BTreeSet<&str> = n.spec.depends_on.iter().map(String::as_str).collect();
            deps.iter().filter(|d| index.contains_key(**d)).count()
        })
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, (_, n)) in nodes.iter().enumerate() {
        let deps: BTreeSet<&str> = n.spec.depends_on.iter().map(String::as_str).collect();
        for d in deps {
            if let Some(&j) = index.get(d) {
                dependents[j].push(i);
            }
        }
    }
    // Ready: higher priority first, then submission order (the index).
    let mut ready: BTreeSet<(i64, usize)> = (0..nodes.len())
        .filter(|&i| waiting[i] == 0)
        .map(|i| (-nodes[i].0, i))
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(first) = ready.pop_first() {
        let i = first.1;
        order.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert((-nodes[j].0, j));
            }
        }
    }
    let placed: BTreeSet<usize> = order.iter().copied().collect();
    let cyclic: Vec<usize> = (0..nodes.len()).filter(|i| !placed.contains(i)).collect();
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(|(_, n)| Some(n)).collect();
    let mut out: Vec<Node> = order.iter().filter_map(|&i| slots[i].take()).collect();
    for i in cyclic {
        if let Some(mut n) = slots[i].take() {
            n.in_cycle = true;
            out.push(n);
        }
    }
    out
}

/// `phase dag`: the order as a list, or with `--dot` the graph.
pub(super) fn run(args: &Args, ctx: &Context, out: &mut Out<'_>) -> Outcome {
    require_state(ctx)?;
    let config = ctx.config().map_err(Failure::usage)?;
    let nodes = load(ctx, &config)?;
    if args.dot {
        out.text(&dot(&nodes))?;
        return Ok(EXIT_OK);
    }
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    for (n, node) in nodes.iter().enumerate() {
        out.line(format!(
            "{}. {} <- {}",
            n + 1,
            node.id,
            after(node, &known).unwrap_or_else(|| "-".to_string())
        ))?;
    }
    Ok(EXIT_OK)
}

/// `phase run --dry-run`: each task's tool, expanded argv, workdir and dependencies.
pub(super) fn print_plan(ctx: &Context, config: &Config, out: &mut Out<'_>) -> Outcome {
    require_state(ctx)?;
    let nodes = load(ctx, config)?;
    if nodes.is_empty() {
        out.line("nothing to run: no routed tasks and none in the inbox")?;
        return Ok(EXIT_OK);
    }
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    for (n, node) in nodes.iter().enumerate() {
        let state = match (node.state, node.in_cycle) {
            (_, true) => "in a dependency cycle: never runs".to_string(),
            (Some(s), _) => s.as_str().to_string(),
            (None, _) => "in the inbox, not routed yet".to_string(),
        };
        out.line(format!("{}. {} ({state})", n + 1, node.id))?;
        let tool = match (&node.tool, node.routed) {
            (Some(t), true) => t.clone(),
            (Some(t), false) => format!("{t} (as the router would pick now)"),
            (None, _) => "none: no task tool, rule or default tool matches".to_string(),
        };
        out.line(format!("   tool:    {tool}"))?;
        let (workdir, argv) = command_of(ctx, config, node);
        out.line(format!("   workdir: {workdir}"))?;
        out.line(format!("   argv:    {argv}"))?;
        out.line(format!(
            "   after:   {}",
            after(node, &known).unwrap_or_else(|| "-".to_string())
        ))?;
    }
    Ok(EXIT_OK)
}

/// The workdir and the expanded argv (shell-quoted for reading), or why there is none.
fn command_of(ctx: &Context, config: &Config, node: &Node) -> (String, String) {
    let workdir = match contain_task_paths(&ctx.state, &node.spec) {
        Ok(Some(dir)) => dir,
        Ok(None) => ctx.state.project_root(),
        Err(e) => return (format!("cannot be used: {e}"), "-".to_string()),
    };
    let workdir_text = workdir.to_string_lossy().into_owned();
    let Some(tool) = node.tool.as_deref() else {
        return (workdir_text, "-".to_string());
    };
    let Some(tool_config) = config.tools.get(tool) else {
        let argv = format!("tool {tool:?} is not configured (no [tools.{tool}])");
        return (workdir_text, argv);
    };
    // An agent's prompt is written when the attempt starts: shown by name only.
    let vars = Vars {
        command: &node.spec.command,
        description: &node.spec.description,
        files: &node.spec.files,
        task_id: &node.id,
        attempt: node.next_attempt,
        workdir: &workdir_text,
        prompt_file: Some("<prompt file>"),
        prompt: Some("<prompt>"),
    };
    let argv = match template::expand(&tool_config.command, &vars) {
        Ok(argv) => argv
            .iter()
            .map(|a| crate::template::shell_word(a))
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("does not expand: {e}"),
    };
    (workdir_text, argv)
}

/// The dependencies, comma-separated, `(not submitted)` after one that is no task here.
fn after(node: &Node, known: &BTreeSet<&str>) -> Option<String> {
    let named: Vec<String> = node
        .spec
        .depends_on
        .iter()
        .map(|d| {
            if known.contains(d.as_str()) {
                d.clone()
            } else {
                format!("{d} (not submitted)")
            }
        })
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

/// The graph in DOT: one node per task (label: id, tool, state), an edge per dependency.
fn dot(nodes: &[Node]) -> String {
    let mut text = String::from("digraph phase {\n  rankdir=LR;\n  node [shape=box];\n");
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut missing = BTreeSet::new();
    for n in nodes {
        let state = n.state.map_or("inbox", TaskState::as_str);
        let label = format!("{}\n{}\n{state}", n.id, n.tool.as_deref().unwrap_or("-"));
        text.push_str(&format!(
            "  {} [label={}];\n",
            quoted(&n.id),
            quoted(&label)
        ));
    }
    for n in nodes {
        for dep in &n.spec.depends_on {
            if !known.contains(dep.as_str()) {
                missing.insert(dep.as_str());
            }
            text.push_str(&format!("  {} -> {};\n", quoted(dep), quoted(&n.id)));
        }
    }
    for dep in missing {
        text.push_str(&format!(
            "  {} [style=dashed, label={}];\n",
            quoted(dep),
            quoted(&format!("{dep}\n(not submitted)"))
        ));
    }
    text.push_str("}\n");
    text
}

/// A DOT quoted string: `"` and `\` escaped, newlines as `\n`.
fn quoted(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn require_state(ctx: &Context) -> std::result::Result<(), Failure> {
    if ctx.state.root().is_dir() {
        return Ok(());
    }
    Err(Failure::usage(Error::invalid(
        ctx.state.root(),
        "no state directory here (run `phase init`, or pass --state-dir)",
    )))
}
