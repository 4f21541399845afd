//! Usage as each real CLI prints it (captured from the pinned versions against the fake
//! model server, tests/tools/agents/fake_model.py).

use super::*;

#[test]
fn codex_sums_its_turns() {
    let log = r#"{"type":"thread.started","thread_id":"01a2"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `fake-model` not found."}}
{"type":"turn.started"}
{"type":"turn.completed","usage":{"input_tokens":20,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":7,"reasoning_output_tokens":0}}
{"type":"turn.completed","usage":{"input_tokens":5,"cached_input_tokens":0,"output_tokens":3}}
"#;
    let u = parse(Agent::Codex, log);
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cost_usd),
        (Some(25), Some(10), None)
    );
}

#[test]
fn claude_reads_its_result_object() {
    let log = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"Done.","total_cost_usd":0.0009000000000000001,"usage":{"input_tokens":30,"cache_creation_input_tokens":4,"cache_read_input_tokens":6,"output_tokens":30,"server_tool_use":{"web_search_requests":0}}}"#;
    let u = parse(Agent::Claude, log);
    assert_eq!(u.input_tokens, Some(40));
    assert_eq!(u.output_tokens, Some(30));
    assert!((u.cost_usd.unwrap_or_default() - 0.0009).abs() < 1e-12);
}

#[test]
fn gemini_sums_its_models() {
    let log = r#"{
  "session_id": "1694",
  "response": "Done.",
  "stats": {
    "models": {
      "gemini-2.5-flash": { "tokens": { "input": 20, "prompt": 20, "candidates": 20, "total": 40 } },
      "gemini-2.5-pro": { "tokens": { "prompt": 5, "candidates": 1 } }
    }
  }
}"#;
    let u = parse(Agent::Gemini, log);
    assert_eq!((u.input_tokens, u.output_tokens), (Some(25), Some(21)));
}

#[test]
fn aider_sums_its_messages_and_keeps_the_session_cost() {
    let log = "Aider v0.86.2\nTokens: 659 sent, 19 received.\nApplied edit to calc.py\n\
               Tokens: 2.3k sent, 1.1k cache write, 150 received. Cost: $0.01 message, $0.02 session.\n";
    let u = parse(Agent::Aider, log);
    assert_eq!((u.input_tokens, u.output_tokens), (Some(2959), Some(169)));
    assert_eq!(u.cost_usd, Some(0.02));
}

#[test]
fn nothing_reported_is_empty_not_an_error() {
    for agent in Agent::ALL {
        assert!(parse(agent, "").is_empty(), "{agent:?}");
        assert!(
            parse(agent, "Error: 401 Unauthorized\n{not json").is_empty(),
            "{agent:?}"
        );
    }
    let mut a = AgentUsage::default();
    add(
        &mut a,
        &AgentUsage {
            input_tokens: Some(1),
            ..AgentUsage::default()
        },
    );
    assert_eq!((a.input_tokens, a.output_tokens), (Some(1), None));
}
