//! The text form of `phase show`: one section per kind of record, empty sections left out.

use std::fmt::Write as _;

use super::shape::TaskShow;

/// Renders the task for a person.
pub(super) fn render(t: &TaskShow) -> String {
    let mut s = String::new();
    header(t, &mut s);
    decision(t, &mut s);
    attempts(t, &mut s);
    analyses(t, &mut s);
    fixes(t, &mut s);
    retries(t, &mut s);
    gates(t, &mut s);
    pointers(t, &mut s);
    s
}

/// The task itself: its state, what it waits on, its file, kind and dependencies.
fn header(t: &TaskShow, s: &mut String) {
    let reason = t
        .reason
        .as_deref()
        .map_or(String::new(), |r| format!(" ({r})"));
    let _ = writeln!(s, "task {}: {}{reason}", t.id, t.state);
    if t.request_pending {
        let _ = writeln!(s, "  a cancel or retry request waits for the executor");
    }
    let waits = waits_on(t);
    let _ = writeln!(
        s,
        "  waiting on: {}",
        if waits.is_empty() {
            "-".into()
        } else {
            waits.join("; ")
        }
    );
    if let Some(kind) = &t.kind {
        let _ = writeln!(s, "  kind: {kind}");
    }
    if let Some(d) = &t.description {
        let _ = writeln!(s, "  description: {d}");
    }
    if let Some(f) = &t.task_file {
        let _ = writeln!(s, "  file: {f}");
    }
    if !t.files.is_empty() {
        let _ = writeln!(s, "  files: {}", t.files.join(", "));
    }
    let _ = writeln!(s, "  depends on: {}", list(&t.depends_on));
    let _ = writeln!(s, "  dependents: {}", list(&t.dependents));
}

/// The router's decision.
fn decision(t: &TaskShow, s: &mut String) {
    if let Some(d) = &t.decision {
        let _ = writeln!(
            s,
            "decision: tool {} ({}: {}), {}",
            d.tool, d.strategy, d.reason, d.decided_at
        );
        if !d.command.is_empty() {
            let _ = writeln!(s, "  command: {}", argv(&d.command));
        }
        if !d.tool_command.is_empty() {
            let _ = writeln!(s, "  tool command: {}", argv(&d.tool_command));
        }
        let _ = writeln!(s, "  workdir: {}", d.workdir);
        for f in &d.fallbacks {
            let _ = writeln!(s, "  fallback {f}");
        }
    }
}

/// Every attempt, and when the next may start.
fn attempts(t: &TaskShow, s: &mut String) {
    if !t.attempts.is_empty() {
        let _ = writeln!(s, "attempts:");
    }
    for a in &t.attempts {
        let exit = match (a.exit_code, a.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no exit code".into(),
        };
        let why = a
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})"));
        let _ = writeln!(
            s,
            "  #{} {} on {}: {exit}, {}{why}, started {}",
            a.attempt,
            a.status,
            a.tool,
            seconds(a.duration_ms),
            a.started_at
        );
        if !a.argv.is_empty() {
            let _ = writeln!(s, "     argv: {}", argv(&a.argv));
        }
        let _ = writeln!(s, "     logs: {}, {}", a.log_out, a.log_err);
        if let Some(job) = &a.job_id {
            let state = a.slurm_state.as_deref().unwrap_or("no final state yet");
            let _ = writeln!(s, "     Slurm job {job}: {state}");
        }
        if let Some(p) = &a.patch_id {
            let _ = writeln!(s, "     retry of patch {p}");
        }
        if !a.files_modified.is_empty() {
            let _ = writeln!(s, "     changed: {}", a.files_modified.join(", "));
        }
    }
    if let Some(at) = &t.retry_at {
        let _ = writeln!(s, "  next attempt not before {at}");
    }
}

/// Recovery's analyses.
fn analyses(t: &TaskShow, s: &mut String) {
    if !t.analyses.is_empty() {
        let _ = writeln!(s, "analyses:");
    }
    for a in &t.analyses {
        let step = if a.ladder_step.is_empty() {
            "-"
        } else {
            &a.ladder_step
        };
        let _ = writeln!(
            s,
            "  #{} {} ({}): {}, ladder step {step}: {}",
            a.attempt, a.error_type, a.classification, a.recommended_action, a.summary
        );
        for i in &a.issues {
            let _ = writeln!(s, "     {i}");
        }
    }
}

/// The fixes recovery made.
fn fixes(t: &TaskShow, s: &mut String) {
    if !t.fixes.is_empty() {
        let _ = writeln!(s, "fixes:");
    }
    for f in &t.fixes {
        let mut how = vec![if f.applied { "applied" } else { "not applied" }];
        if f.validated {
            how.push("validated");
        }
        if f.rejected {
            how.push("rejected");
        }
        if f.out_of_scope {
            how.push("out of scope");
        }
        let step = f.ladder_step.as_deref().unwrap_or("-");
        let _ = writeln!(
            s,
            "  {} (#{}, {} {}, step {step}): {} {}",
            f.patch_id,
            f.attempt,
            f.source,
            f.fixer,
            f.file,
            how.join(", ")
        );
        if let Some(e) = &f.error {
            let _ = writeln!(s, "     error: {e}");
        }
    }
}

/// Recovery's retry verdicts.
fn retries(t: &TaskShow, s: &mut String) {
    if !t.retries.is_empty() {
        let _ = writeln!(s, "retry verdicts:");
    }
    for r in &t.retries {
        let verdict = if r.retry_recommended {
            "retry"
        } else {
            "no retry"
        };
        let patches = if r.patch_ids.is_empty() {
            String::new()
        } else {
            format!(" with {}", r.patch_ids.join(", "))
        };
        let _ = writeln!(
            s,
            "  after #{}: {verdict}{patches} ({})",
            r.attempt, r.reason
        );
    }
}

/// The acceptance gate verdicts.
fn gates(t: &TaskShow, s: &mut String) {
    if !t.gates.is_empty() {
        let _ = writeln!(s, "gates:");
    }
    for g in &t.gates {
        let _ = writeln!(
            s,
            "  #{} {}{}",
            g.attempt,
            if g.passed { "passed" } else { "failed" },
            if g.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", g.reason)
            }
        );
        for st in &g.steps {
            let _ = writeln!(
                s,
                "     {}{}: {} ({}) {}",
                st.step,
                st.tool
                    .as_deref()
                    .map_or(String::new(), |t| format!(" by {t}")),
                if st.passed { "ok" } else { "failed" },
                seconds(st.duration_ms),
                st.outcome
            );
        }
    }
}

/// The escalation report and the log files.
fn pointers(t: &TaskShow, s: &mut String) {
    if let Some(e) = &t.escalation {
        let _ = writeln!(s, "escalation: {e}");
    }
    if !t.logs.is_empty() {
        let _ = writeln!(
            s,
            "logs (phase logs {} [--attempt N] [--step NAME] [--stderr]):",
            t.id
        );
        for l in &t.logs {
            let _ = writeln!(s, "  {l}");
        }
    }
}

/// What must happen before the task moves, in words.
fn waits_on(t: &TaskShow) -> Vec<String> {
    let mut out: Vec<String> = t
        .blocked_on
        .iter()
        .map(|b| format!("{} ({})", b.task, b.state))
        .collect();
    if let Some(w) = t.decision.as_ref().and_then(|d| d.waiting.as_ref()) {
        out.push(w.clone());
    }
    if let Some(phase) = t.waiting_on {
        out.push(format!("the {phase}"));
    }
    out
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// An argv as a shell would show it: arguments with spaces quoted.
fn argv(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) || a.contains('\'') {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}
