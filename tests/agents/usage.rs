//! What an agent step cost and what is recorded of it: the tokens the CLI reported (the
//! fake server's numbers), summed by `phase status`; the prompt named, not repeated, in
//! the recorded argv.

use serde_json::{Value, json};

use crate::harness::{Cli, FakeServer, Project};
use crate::scenarios::CODE_DESCRIPTION;

/// Tokens per response from the fake server: distinctive, so that a sum is recognisable.
pub(crate) const INPUT_TOKENS: u64 = 1200;
pub(crate) const OUTPUT_TOKENS: u64 = 34;

/// `script` with the fake server's usage numbers set.
pub(crate) fn with_usage(mut script: Value) -> Value {
    script["usage"] = json!({ "input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS });
    script
}

/// The argv in `execution_results.json` and `TASK_STARTED` names the prompt file instead
/// of repeating the prompt's text.
pub(crate) fn assert_prompt_not_recorded(p: &Project, task: &str) {
    let results = p.state("execution_results.json");
    let argv = results["results"][0]["attempts"][0]["argv"].to_string();
    let started = p.events("TASK_STARTED");
    let event_argv = started.first().map(|e| e["data"]["argv"].to_string());
    for recorded in [Some(argv), event_argv] {
        let recorded = recorded.unwrap_or_default();
        assert!(
            !recorded.contains(CODE_DESCRIPTION),
            "the prompt is recorded: {recorded}"
        );
        let named = recorded.contains(&format!("<prompt: logs/{task}/1.prompt.md>"))
            || recorded.contains(&format!("logs/{task}/1.prompt.md"));
        assert!(named, "the prompt file is not named: {recorded}");
    }
}

/// The attempt's `usage` is what the CLI reported for the server's numbers (codex, claude
/// and gemini report the server's counts, one response per request; aider counts its own
/// tokens), and `phase status --json` sums it.
pub(crate) fn assert_usage(cli: Cli, p: &Project, server: &FakeServer) {
    let results = p.state("execution_results.json");
    let usage = results["results"][0]["attempts"][0]["usage"].clone();
    let requests = server.bodies(cli.endpoint()).len() as u64;
    let (input, output) = (
        usage["input_tokens"].as_u64(),
        usage["output_tokens"].as_u64(),
    );
    match cli {
        Cli::Aider => assert!(input.is_some_and(|n| n > 0), "{usage}"),
        Cli::Codex | Cli::Claude | Cli::Gemini => {
            assert_eq!(
                input,
                Some(requests * INPUT_TOKENS),
                "{requests} requests: {usage}"
            );
            assert_eq!(
                output,
                Some(requests * OUTPUT_TOKENS),
                "{requests} requests: {usage}"
            );
        }
    }
    if cli == Cli::Claude {
        assert!(
            usage["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
            "{usage}"
        );
    }
    let out = p.phase_output(&["status", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let agents = &doc["agents"];
    assert_eq!(agents["steps"], 1, "{agents}");
    assert_eq!(agents["input_tokens"], usage["input_tokens"], "{agents}");
    assert_eq!(agents["output_tokens"], usage["output_tokens"], "{agents}");
    assert_eq!(agents["cost_usd"], usage["cost_usd"], "{agents}");
    let text = String::from_utf8_lossy(&p.phase_output(&["status"]).stdout).into_owned();
    assert!(text.contains("agents: 1 agent step, "), "{text}");
}
