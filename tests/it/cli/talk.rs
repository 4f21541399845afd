//! The CLI that talks (issue 12, item 6): status filters and WAITING ON, Ctrl-C twice,
//! completions, the man page, `--version`, the tool and dependency checks of `submit` and
//! `validate`, `run --dry-run`, `dag --dot`, and the event lines of `run`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::procs::{alive, output_within};
use crate::support::{Project, wait_until};

/// A config with the shell tool, fast polling and a long shutdown grace (so only a
/// second Ctrl-C ends a running attempt quickly).
const CONFIG: &str = r#"
[routing]
default_tool = "shell"
[tools.shell]
command = ["{command}"]
[execution]
max_parallel = 2
shutdown_grace_ms = 60000
[state]
poll_interval_ms = 100
"#;

fn task(id: &str, command: &[&str]) -> serde_json::Value {
    json!({"id": id, "kind": "shell", "description": id, "command": command})
}

#[test]
fn status_filters_and_says_what_blocked_tasks_wait_on() {
    let p = Project::with_config(CONFIG);
    let pid_file = p.path("slow.pid");
    let slow = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    p.drop_task("slow", task("slow", &["sh", "-c", &slow]));
    let mut after = task("after", &["true"]);
    after["depends_on"] = json!(["slow"]);
    p.drop_task("after", after);
    let mut other = task("other", &["true"]);
    other["kind"] = json!("docs");
    p.drop_task("other", other);
    let mut engine = p.spawn(&["run"], "engine");
    wait_until(
        "slow runs and after is blocked",
        Duration::from_secs(30),
        || {
            let s = p.status_json();
            let state = |id: &str| {
                s["tasks"]
                    .as_array()
                    .and_then(|ts| ts.iter().find(|t| t["id"] == id))
                    .map(|t| t["state"].clone())
            };
            state("slow") == Some(json!("running")) && state("after") == Some(json!("blocked"))
        },
    );
    let (code, out, err) = p.run(&["status", "--state", "blocked"], Duration::from_secs(20));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 4, "header, one task, config, counts: {out}");
    let cells: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(cells, ["after", "blocked", "shell", "0", "slow"], "{out}");
    assert!(rows[3].starts_with("1 of 3 tasks: "), "{out}");
    // By id and by kind; an unknown state is a usage error naming the flag.
    let (_, out, _) = p.run(&["status", "slow", "other"], Duration::from_secs(20));
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("slow") || l.starts_with("other"))
            .count(),
        2,
        "{out}"
    );
    let (_, out, _) = p.run(&["status", "--kind", "docs"], Duration::from_secs(20));
    assert!(
        out.lines().nth(1).is_some_and(|l| l.starts_with("other ")),
        "{out}"
    );
    assert!(
        out.lines().nth(3).is_some_and(|l| l.starts_with("1 of 3")),
        "{out}"
    );
    let (code, _, err) = p.run(&["status", "--state", "sleeping"], Duration::from_secs(20));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--state: unknown state \"sleeping\""), "{err}");

    // Ctrl-C: says what it waits for. Again: the attempt is killed now, not in 60 s.
    let sleeper: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let engine_pid = rustix::process::Pid::from_raw(engine.id() as i32).expect("pid");
    rustix::process::kill_process(engine_pid, rustix::process::Signal::INT).expect("SIGINT");
    wait_until(
        "the first Ctrl-C is answered",
        Duration::from_secs(20),
        || {
            p.stderr_of("engine")
                .contains("stopping: waiting up to 60s for 1 running attempt (slow)")
        },
    );
    assert!(alive(sleeper), "the first Ctrl-C waits for the attempt");
    let second = Instant::now();
    rustix::process::kill_process(engine_pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = wait_until("the engine exits", Duration::from_secs(30), || {
        engine.try_wait().expect("try_wait")
    });
    assert!(
        second.elapsed() < Duration::from_secs(30),
        "{:?}",
        second.elapsed()
    );
    assert!(!alive(sleeper), "the second Ctrl-C killed the attempt");
    let err = p.stderr_of("engine");
    assert!(
        err.contains("stopping now: the running attempts are being killed"),
        "{err}"
    );
    assert_eq!(status.code(), Some(0), "{err}");
    let result = p.result("slow").expect("slow has a result");
    assert_eq!(
        (&result["status"], &result["reason"]),
        (&json!("failed"), &json!("interrupted")),
        "{result}"
    );
}

#[test]
fn completions_parse_and_the_man_page_renders() {
    let p = Project::empty();
    let bash = p.phase(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{bash:?}");
    assert!(
        bash.stdout.contains("complete -F") && bash.stdout.contains("dag"),
        "{}",
        bash.stdout
    );
    let file = p.write("phase.bash", &bash.stdout);
    let check = output_within(
        Command::new("bash").arg("-n").arg(&file),
        Duration::from_secs(20),
        "bash -n",
    );
    assert!(check.status.success(), "bash -n: {check:?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = p.phase(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(
            run.stdout.contains("completions"),
            "{shell}: {}",
            run.stdout
        );
    }
    let bad = p.phase(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");

    let man = p.phase(&["man"]);
    assert_eq!(man.code, 0, "{man:?}");
    let header = man
        .stdout
        .lines()
        .find(|l| l.starts_with(".TH"))
        .expect(".TH line");
    assert!(header.starts_with(".TH phase 1"), "{header}");
    for verb in ["submit", "status", "dag", "completions"] {
        assert!(man.stdout.contains(verb), "{verb} in the man page");
    }
    // Rendered by man itself where it is installed (it is not a test dependency).
    if std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("man").is_file()))
    {
        let page = p.write("phase.1", &man.stdout);
        let shown = output_within(
            Command::new("man")
                .arg("-l")
                .arg(&page)
                .env("MANPAGER", "cat")
                .env("PAGER", "cat"),
            Duration::from_secs(30),
            "man -l",
        );
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(shown.status.success(), "man -l: {shown:?}");
        assert!(text.contains("file-driven workflow engine"), "{text}");
    }
}

#[test]
fn version_names_the_commit() {
    let p = Project::empty();
    let run = p.phase(&["--version"]);
    assert_eq!(run.code, 0, "{run:?}");
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let expected = match git {
        Ok(out) if out.status.success() => {
            format!("(commit {})", String::from_utf8_lossy(&out.stdout).trim())
        }
        _ => "(commit unknown)".to_string(),
    };
    assert!(
        run.stdout
            .starts_with(&format!("phase {} {expected}", env!("CARGO_PKG_VERSION"))),
        "{}",
        run.stdout
    );
}

#[test]
fn submit_and_validate_check_tools_and_dependencies() {
    let p = Project::with_config(CONFIG);
    let mut bad = task("bad", &["true"]);
    bad["tool"] = json!("nope");
    let bad = p.write("bad.json", serde_json::to_vec(&bad).expect("json"));
    let mut early = task("early", &["true"]);
    early["depends_on"] = json!(["later"]);
    let early = p.write("early.json", serde_json::to_vec(&early).expect("json"));

    let run = p.phase(&["submit", bad.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad.json: field `tool`: \"nope\" is not a tool of config/coordinator.toml (its tools: shell)"), "{}", run.stderr);
    assert!(p.entries(".state/inbox").is_empty(), "nothing submitted");
    let run = p.phase(&["validate", bad.to_str().expect("utf-8")]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("field `tool`"), "{}", run.stderr);

    // An unknown dependency is a warning: it may be submitted later.
    let run = p.phase(&["submit", early.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "early\n");
    assert!(
        run.stderr.contains("warning: ")
            && run
                .stderr
                .contains("field `depends_on`: \"later\" is not a submitted task"),
        "{}",
        run.stderr
    );
    let run = p.phase(&["validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("\"later\" is not a submitted task"),
        "{}",
        run.stderr
    );
    // Submitted together, or once it is there: no warning.
    p.drop_task("later", task("later", &["true"]));
    let run = p.phase(&["validate"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
}

#[test]
fn dry_run_and_dag_show_the_execution_order() {
    let p = Project::with_config(CONFIG);
    p.write("sub/keep", "");
    let mut build = task("build", &["make", "all"]);
    build["workdir"] = json!("sub");
    p.drop_task("build", build);
    let mut test = task("test", &["sh", "-c", "echo it's done"]);
    test["depends_on"] = json!(["build"]);
    p.drop_task("test", test);
    let mut urgent = task("urgent", &["true"]);
    urgent["priority"] = json!(10);
    p.drop_task("urgent", urgent);

    let run = p.phase(&["run", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    let root = p.root().canonicalize().expect("root");
    let expected = format!(
        "1. urgent (in the inbox, not routed yet)\n\
         \x20  tool:    shell (as the router would pick now)\n\
         \x20  workdir: {root}\n\
         \x20  argv:    true\n\
         \x20  after:   -\n\
         2. build (in the inbox, not routed yet)\n\
         \x20  tool:    shell (as the router would pick now)\n\
         \x20  workdir: {root}/sub\n\
         \x20  argv:    make all\n\
         \x20  after:   -\n\
         3. test (in the inbox, not routed yet)\n\
         \x20  tool:    shell (as the router would pick now)\n\
         \x20  workdir: {root}\n\
         \x20  argv:    sh -c 'echo it'\\''s done'\n\
         \x20  after:   build\n",
        root = root.display()
    );
    assert_eq!(run.stdout, expected, "{}", run.stderr);
    // Nothing ran, nothing was routed.
    assert_eq!(p.entries(".state/inbox").len(), 3);
    assert!(
        p.json("execution_results.json")["results"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );

    let run = p.phase(&["dag", "--dot"]);
    assert_eq!(run.code, 0, "{run:?}");
    let dot = run.stdout;
    assert!(
        dot.starts_with("digraph phase {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    assert!(dot.contains("  \"build\" -> \"test\";\n"), "{dot}");
    for id in ["urgent", "build", "test"] {
        assert!(
            dot.contains(&format!("  \"{id}\" [label=\"{id}\\nshell\\ninbox\"];")),
            "{dot}"
        );
    }
    // Balanced braces and quotes, one statement a line: what `dot` needs.
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    for line in dot.lines().skip(1).filter(|l| *l != "}") {
        assert!(line.ends_with(';'), "{line}");
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
    if std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("dot").is_file()))
    {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("dot");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(dot.as_bytes())
            .expect("write");
        let out = crate::support::procs::wait_output(child, Duration::from_secs(30), "dot");
        assert!(out.status.success(), "dot: {out:?}");
    }
}

#[test]
fn run_prints_a_line_per_task_at_verbose() {
    let p = Project::with_config(CONFIG);
    p.drop_task("one", task("one", &["true"]));
    p.drop_task("two", task("two", &["false"]));
    let run = p.phase(&["run", "--once", "-v"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("info: config: config/coordinator.toml"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("started one (attempt 1)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("succeeded one (attempt 1) in "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("failed two (attempt 1)"),
        "{}",
        run.stderr
    );
    // At the default level: the start line, no line per task.
    p.drop_task("three", task("three", &["true"]));
    let run = p.phase(&["run", "--once"]);
    assert!(
        run.stderr
            .starts_with("phase: running router, executor, recovery on .state"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("started three"), "{}", run.stderr);
}

#[test]
fn run_names_each_fix_and_quarantine_at_the_default_level() {
    // The shipped demo: one task fixed (config.ini), one quarantined, one dep_failed.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo = tmp.path();
    let copy = |from: &str, to: &str| {
        let out = output_within(
            Command::new("cp")
                .arg("-R")
                .arg(src.join(from))
                .arg(demo.join(to)),
            Duration::from_secs(20),
            "cp",
        );
        assert!(out.status.success(), "cp {from}: {out:?}");
    };
    for part in ["bin", "pristine", "tasks", "coordinator.toml"] {
        copy(part, part);
    }
    copy("pristine", "work");
    let phase = |args: &[&str]| {
        output_within(
            Command::new(env!("CARGO_BIN_EXE_phase"))
                .current_dir(demo)
                .args(["--state-dir", ".state", "--config", "coordinator.toml"])
                .env_remove("PHASE_STATE_DIR")
                .env_remove("PHASE_CONFIG")
                .env_remove("RUST_LOG")
                .args(args),
            Duration::from_secs(120),
            &format!("phase {}", args.join(" ")),
        )
    };
    assert!(phase(&["init"]).status.success());
    let mut submit = vec!["submit".to_string()];
    for e in std::fs::read_dir(demo.join("tasks")).expect("tasks") {
        submit.push(e.expect("entry").path().display().to_string());
    }
    let submit: Vec<&str> = submit.iter().map(String::as_str).collect();
    assert!(phase(&submit).status.success());
    let out = phase(&["run", "--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("phase: running router, executor, recovery on .state (config coordinator.toml; up to 2 attempts at once"),
        "{err}"
    );
    assert!(
        lines.contains(&"fix applied to lint-config (attempt 1, mechanical_fix): config.ini"),
        "{err}"
    );
    // One line about the quarantine (recovery's own), not one per event.
    assert_eq!(
        lines.iter().filter(|l| l.contains("quarantined")).count(),
        1,
        "{err}"
    );
    assert!(
        !err.contains("started "),
        "no line per task by default: {err}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");
}
