//! A ladder tier whose model API answers HTTP 429: transient. The task is retried after
//! its back-off and the same tier runs again, instead of climbing past it to the next
//! rung like a tier that tried and failed; its runs' time and tokens are recorded.

use serde_json::{Value, json};

use crate::harness::{Cli, FakeServer, Sandbox, script};
use crate::scenarios::{
    FIXED_LINE, RUN_LIMIT, agent_tool, assert_only_model_requests, check_task, edit, engine_config,
    project, report,
};
use crate::usage::with_usage;

/// Two 429s, then the edit: whether the CLI retries once itself or not, its tier is
/// turned away at least once.
pub(crate) fn rate_limited_tier_runs_again(cli: Cli) {
    if cli.require().is_none() {
        return;
    }
    let sandbox = Sandbox::new();
    let files = tempfile::tempdir().expect("tempdir");
    let p = project("");
    let limited = json!({ "error": 429, "retry_after": 1 });
    let steps = json!([limited, limited, edit()]);
    let done = json!({ "text": "Fixed." });
    let server = FakeServer::start(
        &sandbox,
        files.path(),
        "model",
        &with_usage(script(p.path(), steps, done)),
    );
    let tool = cli.name();
    let config =
        agent_tool(cli, tool, server.port) + &engine_config(&[tool, "fallback"], "shell", 3);
    p.write("coordinator.toml", &config);
    p.submit(&check_task());
    p.run_once(&sandbox, RUN_LIMIT);

    let status = p.status("check");
    assert_eq!(status["state"], "succeeded", "{status}\n{}", p.explain());
    assert!(p.read("calc.py").contains(FIXED_LINE));
    let fix_failed = p.events("FIX_FAILED");
    let data: Vec<&Value> = fix_failed.iter().map(|e| &e["data"]).collect();
    assert!(
        data.iter()
            .any(|d| d["ladder_step"] == tool && d["next"] == "retry" && d["transient"] == true),
        "the rate-limited tier is retried: {data:?}\n{}",
        p.explain()
    );
    assert!(
        data.iter().all(|d| d["next"] != "fallback"),
        "never climbed past the tier: {data:?}"
    );
    let patches = p.state("fix_patches.json")["patches"].clone();
    assert_eq!(patches[0]["fixer"], tool, "the tier fixed it: {patches}");
    let analyses = p.state("error_analysis.json")["analyses"].clone();
    let first = &analyses[0];
    assert_eq!(first["ladder_step"], "retry", "{first}");
    assert!(
        first["summary"]
            .as_str()
            .is_some_and(|s| s.contains("turned it away for now")),
        "{first}"
    );
    // Every run of the tier is an agent step on its analysis, with its time.
    let steps: Vec<&Value> = analyses
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["agent_steps"].as_array().into_iter().flatten())
        .collect();
    assert!(steps.len() >= 2, "{analyses}");
    assert!(steps.iter().all(|s| s["tier"] == tool), "{analyses}");
    let out = p.phase_output(&["status", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(doc["agents"]["steps"], steps.len(), "{doc}");
    assert_only_model_requests(cli, &server);
    report(
        cli,
        "429 on a ladder tier: transient, the tier runs again",
        &sandbox,
    );
}
