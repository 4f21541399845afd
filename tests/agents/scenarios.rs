//! One scenario per behaviour, run with each real CLI against the fake model server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Cli, FAKE_KEY_ENV, FakeServer, Project, Sandbox, script};

/// The broken file every scenario starts from, and the edit that fixes it.
pub(crate) const CALC: &str = "def add(a, b):\n    return a - b\n";
pub(crate) const BROKEN_LINE: &str = "    return a - b";
pub(crate) const FIXED_LINE: &str = "    return a + b";

/// The task's own check; its stderr is "the last error" a fix prompt must carry.
pub(crate) const CHECK: &str = "import sys\nimport calc\n\ngot = calc.add(2, 3)\nif got != 5:\n    \
    print(f\"CHECK FAILED: add(2, 3) returned {got}, expected 5\", file=sys.stderr)\n    \
    sys.exit(1)\nprint(\"add works\")\n";
pub(crate) const LAST_ERROR: &str = "CHECK FAILED: add(2, 3) returned -1, expected 5";

/// A shell fixer for the last rung of the ladder.
pub(crate) const FIX_PY: &str = "import pathlib\np = pathlib.Path(\"calc.py\")\n\
    p.write_text(p.read_text().replace(\"a - b\", \"a + b\"))\n";

pub(crate) const CHECK_DESCRIPTION: &str = "Check that add() in calc.py adds";
pub(crate) const CODE_DESCRIPTION: &str =
    "Make add() in calc.py return the sum of its two arguments";

/// Long enough for a CLI's cold start and its own retries (aider retries a 429 for ~90 s).
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(300);

pub(crate) fn edit() -> Value {
    json!({ "edit": { "path": "calc.py", "old": BROKEN_LINE, "new": FIXED_LINE } })
}

/// `[tools.NAME]` for `cli` against the fake server on `port`.
pub(crate) fn agent_tool(cli: Cli, name: &str, port: u16) -> String {
    format!(
        "[tools.{name}]\npreset = \"{preset}\"\nmodel = \"{model}\"\nbase_url = \"{url}\"\n\
         api_key_env = \"{FAKE_KEY_ENV}\"\ntimeout_seconds = 240\n\n",
        preset = cli.name(),
        model = cli.model(),
        url = cli.base_url(port),
    )
}

/// The rest of the config: quick back-off, the ladder, code tasks routed to `code_tool`.
pub(crate) fn engine_config(ladder: &[&str], code_tool: &str, max_retries: u32) -> String {
    format!(
        "[[routing.rules]]\nkind = \"code\"\ncandidates = [\"{code_tool}\"]\n\n\
         [tools.fallback]\ncommand = [\"python3\", \"fix.py\"]\n\n\
         [execution]\nmax_retries = {max_retries}\n\n\
         [execution.backoff]\ninitial_ms = 10\nfactor = 1.0\nmax_ms = 10\n\n\
         [recovery]\nladder = {ladder}\nfix_timeout_seconds = 240\n",
        ladder = json!(ladder),
    )
}

pub(crate) fn check_task() -> Value {
    json!({
        "id": "check",
        "kind": "check",
        "description": CHECK_DESCRIPTION,
        "command": ["python3", "check.py"],
        "files": ["calc.py"],
        "env": { "PYTHONDONTWRITEBYTECODE": "1" },
    })
}

pub(crate) fn code_task(max_retries: u32) -> Value {
    json!({
        "id": "implement",
        "kind": "code",
        "description": CODE_DESCRIPTION,
        "files": ["calc.py"],
        "max_retries": max_retries,
    })
}

/// A project with the broken `calc.py`, its check and the fallback fixer.
pub(crate) fn project(config: &str) -> Project {
    let p = Project::new(config);
    p.write("calc.py", CALC);
    p.write("check.py", CHECK);
    p.write("fix.py", FIX_PY);
    p
}

/// Files in the project root other than the ones the scenario put there: a CLI's own
/// history, caches or settings must go to its home under the state directory.
pub(crate) fn assert_project_clean(p: &Project) {
    let expected = [
        ".state",
        "calc.py",
        "check.py",
        "fix.py",
        "coordinator.toml",
        "phase.stderr",
    ];
    let mut extra: Vec<String> = std::fs::read_dir(p.path())
        .expect("project dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !expected.contains(&n.as_str()))
        .collect();
    extra.sort();
    assert!(
        extra.is_empty(),
        "the CLI left files in the project: {extra:?}"
    );
}

/// Every request went to the endpoint of `cli` (claude also probes `HEAD /`).
pub(crate) fn assert_only_model_requests(cli: Cli, server: &FakeServer) {
    for r in server.requests() {
        let ok = r["endpoint"] == cli.endpoint() || (r["method"] == "HEAD" && r["path"] == "/");
        assert!(ok, "{} sent an unexpected request: {r}", cli.name());
    }
}

pub(crate) fn analysis(p: &Project, task: &str, attempt: u64) -> Value {
    p.state("error_analysis.json")["analyses"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|a| a["task_id"] == task && a["attempt"] == attempt)
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// The CLI as a ladder tier fixes a failing task: the diff is recorded under the tier's
/// name, the retry succeeds, and the prompt carried the task and the last error.
pub(crate) fn ladder_tier(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let p = project("");
    let server = FakeServer::start(
        &sandbox,
        files.path(),
        "model",
        &script(
            p.path(),
            json!([edit()]),
            json!({ "text": "Fixed: add() now adds." }),
        ),
    );
    let tool = cli.name();
    let config = agent_tool(cli, tool, server.port) + &engine_config(&[tool], "shell", 2);
    p.write("coordinator.toml", &config);
    p.submit(&check_task());
    p.run_once(&sandbox, RUN_LIMIT);

    let status = p.status("check");
    assert_eq!(status["state"], "succeeded", "{status}\n{}", p.explain());
    assert_eq!(status["attempt"], 2, "{status}");
    assert!(p.read("calc.py").contains(FIXED_LINE));
    let patches = p.state("fix_patches.json")["patches"].clone();
    let patch = patches
        .as_array()
        .and_then(|all| all.iter().find(|x| x["task_id"] == "check").cloned())
        .unwrap_or_else(|| panic!("no patch for the task: {patches}\n{}", p.explain()));
    assert_eq!(patch["fixer"], tool, "{patch}");
    assert_eq!(patch["file"], "calc.py");
    assert_eq!(patch["applied"], true);
    let diff = patch["diff"].as_str().unwrap_or_default();
    assert!(diff.contains(&format!("-{BROKEN_LINE}")), "{diff}");
    assert!(diff.contains(&format!("+{FIXED_LINE}")), "{diff}");

    let bodies = server.bodies(cli.endpoint());
    let first = bodies
        .first()
        .unwrap_or_else(|| panic!("{tool} sent nothing"));
    assert!(
        first.contains(CHECK_DESCRIPTION),
        "prompt without the task: {first}"
    );
    assert!(
        first.contains(LAST_ERROR),
        "prompt without the last error: {first}"
    );
    assert_only_model_requests(cli, &server);
    assert_project_clean(&p);
    report(cli, "ladder tier", &sandbox);
}

/// The CLI as a routed tool does a `code` task from its description and files.
pub(crate) fn routed_task(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let p = project("");
    let server = FakeServer::start(
        &sandbox,
        files.path(),
        "model",
        &crate::usage::with_usage(script(
            p.path(),
            json!([edit()]),
            json!({ "text": "Done: add() adds." }),
        )),
    );
    let tool = cli.name();
    let config = agent_tool(cli, tool, server.port) + &engine_config(&[], tool, 0);
    p.write("coordinator.toml", &config);
    p.submit(&code_task(0));
    let status = p.run_once(&sandbox, RUN_LIMIT);

    let task = p.status("implement");
    assert_eq!(task["state"], "succeeded", "{task}\n{}", p.explain());
    assert!(status.success(), "phase run --once: {status}");
    assert_eq!(task["tool"], tool);
    assert_eq!(task["attempt"], 1);
    assert!(p.read("calc.py").contains(FIXED_LINE));
    let results = p.state("execution_results.json");
    let result = &results["results"][0];
    assert_eq!(result["files_modified"], json!(["calc.py"]), "{result}");
    let prompt = p.read(".state/logs/implement/1.prompt.md");
    assert!(prompt.contains(CODE_DESCRIPTION), "{prompt}");
    let bodies = server.bodies(cli.endpoint());
    let first = bodies
        .first()
        .unwrap_or_else(|| panic!("{tool} sent nothing"));
    assert!(
        first.contains(CODE_DESCRIPTION),
        "prompt without the task: {first}"
    );
    assert!(
        first.contains("calc.py"),
        "prompt without the task's files: {first}"
    );
    assert_only_model_requests(cli, &server);
    assert_project_clean(&p);
    crate::usage::assert_prompt_not_recorded(&p, "implement");
    crate::usage::assert_usage(cli, &p, &server);
    report(cli, "routed code task", &sandbox);
}

/// HTTP 400 from the model makes the tier fail, and a tier whose model only talks (the
/// CLI exits 0, nothing changed) does not count either: both climb to the next rung.
pub(crate) fn climbs(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let p = project("");
    let refusing = FakeServer::start(
        &sandbox,
        files.path(),
        "refusing",
        &script(p.path(), json!([]), json!({ "error": 400 })),
    );
    let talking = FakeServer::start(
        &sandbox,
        files.path(),
        "talking",
        &script(
            p.path(),
            json!([]),
            json!({ "text": "I looked at it; nothing needs to change." }),
        ),
    );
    let (first, second) = (cli.name().to_string(), format!("{}_talks", cli.name()));
    let config = agent_tool(cli, &first, refusing.port)
        + &agent_tool(cli, &second, talking.port)
        + &engine_config(&[&first, &second, "fallback"], "shell", 2);
    p.write("coordinator.toml", &config);
    p.submit(&check_task());
    p.run_once(&sandbox, RUN_LIMIT);

    let status = p.status("check");
    assert_eq!(status["state"], "succeeded", "{status}\n{}", p.explain());
    let climbed: Vec<(String, String)> = p
        .events("FIX_FAILED")
        .iter()
        .map(|e| {
            let d = &e["data"];
            (
                d["ladder_step"].as_str().unwrap_or_default().to_string(),
                d["next"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        climbed,
        [
            (first.clone(), second.clone()),
            (second.clone(), "fallback".to_string())
        ],
        "{}",
        p.explain()
    );
    let patches = p.state("fix_patches.json")["patches"].clone();
    assert_eq!(patches[0]["fixer"], "fallback", "{patches}");
    assert!(
        !refusing.bodies(cli.endpoint()).is_empty(),
        "{first} never asked its model"
    );
    assert!(
        !talking.bodies(cli.endpoint()).is_empty(),
        "{second} never asked its model"
    );
    assert_project_clean(&p);
    report(cli, "400 and exit-0-nothing-changed climb", &sandbox);
}

/// HTTP 429 on every request: the attempt is classified transient.
pub(crate) fn rate_limited(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    // No retry: aider alone retries a 429 for ~90 s before it gives up.
    let scene = routed_against(cli, json!({ "error": 429, "retry_after": 1 }), 0);
    let p = &scene.project;
    let a = analysis(p, "implement", 1);
    assert_eq!(a["classification"], "transient", "{a}\n{}", p.explain());
    assert_eq!(a["error_type"], "transient_output", "{a}");
    report(cli, "429 is transient", &scene.sandbox);
}

/// HTTP 401 on every request: the attempt needs a person, quarantined at once.
pub(crate) fn unauthorized(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    // One retry left: a needs-human failure must not use it.
    let scene = routed_against(cli, json!({ "error": 401 }), 1);
    let p = &scene.project;
    let a = analysis(p, "implement", 1);
    assert_eq!(a["classification"], "needs_human", "{a}\n{}", p.explain());
    assert_eq!(a["ladder_step"], "quarantine", "{a}");
    let summary = a["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!("tool {:?}", cli.name())) && summary.contains(FAKE_KEY_ENV),
        "the summary names the tool and the key's variable: {summary}"
    );
    let status = p.status("implement");
    assert_eq!(
        (status["state"].as_str(), status["attempt"].as_u64()),
        (Some("quarantined"), Some(1)),
        "quarantined at once, with retries left: {status}"
    );
    report(cli, "401 needs a human", &scene.sandbox);
}

/// A finished run and what it ran in; dropped in field order: the project, the server,
/// its files, then the namespace.
struct Scene {
    project: Project,
    _server: FakeServer,
    _files: tempfile::TempDir,
    sandbox: Sandbox,
}

/// A routed code task with `max_retries` against a server that always answers `then`.
fn routed_against(cli: Cli, then: Value, max_retries: u32) -> Scene {
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let p = project("");
    let server = FakeServer::start(
        &sandbox,
        files.path(),
        "model",
        &script(p.path(), json!([]), then),
    );
    let tool = cli.name();
    let config = agent_tool(cli, tool, server.port) + &engine_config(&[], tool, 0);
    p.write("coordinator.toml", &config);
    p.submit(&code_task(max_retries));
    p.run_once(&sandbox, RUN_LIMIT);
    assert!(
        !server.bodies(cli.endpoint()).is_empty(),
        "{tool} never asked its model\n{}",
        p.explain()
    );
    assert!(
        p.read("calc.py").contains(BROKEN_LINE),
        "nothing may have changed"
    );
    assert_only_model_requests(cli, &server);
    Scene {
        project: p,
        _server: server,
        _files: files,
        sandbox,
    }
}

pub(crate) fn report(cli: Cli, what: &str, sandbox: &Sandbox) {
    let place = if sandbox.isolated() {
        "in a loopback-only network namespace"
    } else {
        "without a network namespace"
    };
    eprintln!("{}: {what}: ok ({place})", cli.name());
}
