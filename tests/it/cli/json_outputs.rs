//! Every verb that reads, with `--json`, through the real binary: its output follows its
//! published schema (`schemas/<verb>.schema.json`), checked here with the `jsonschema`
//! crate and again with the independent validator CI uses (`check-jsonschema`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::schemas::outputs::{OUTPUT_SCHEMAS, assert_output_valid, schema_path};
use crate::support::procs::output_within;
use crate::support::{Project, require_tool};

const FAST: &str = "[state]\nflush_interval_ms = 20\ndebounce_ms = 2\npoll_interval_ms = 200\n";

const LIMIT: Duration = Duration::from_secs(30);

/// A finished run: `a` and `b` (after `a`) succeed, `bad` fails and is quarantined.
fn finished_project() -> Project {
    let p = Project::with_config(FAST);
    let talk = p.script("talk.sh", "#!/bin/bash\necho \"out of $1\"\n");
    p.drop_task("a", json!({"kind": "shell", "command": [talk, "a"]}));
    p.drop_task(
        "b",
        json!({"kind": "shell", "command": [talk, "b"], "depends_on": ["a"]}),
    );
    p.drop_task(
        "bad",
        json!({"kind": "shell", "command": ["false"], "max_retries": 0}),
    );
    let (code, _, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "bad does not succeed: {err}");
    p
}

/// Runs `phase ARGS`, expects `code`, parses stdout as one JSON document.
#[track_caller]
fn json_of(p: &Project, args: &[&str], code: i32) -> (String, Value) {
    let (got, out, err) = p.run(args, LIMIT);
    assert_eq!(got, code, "phase {}: {err}\n{out}", args.join(" "));
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "phase {}: not one JSON document: {e}\n{out}",
            args.join(" ")
        )
    });
    (out, doc)
}

#[test]
fn every_reading_verb_prints_json_that_follows_its_schema() {
    let p = finished_project();
    p.write(
        "plan.md",
        "# Plan\n\n1. First {command: true}\n2. Second {command: true; kind: test}\n- [x] Done already\n",
    );
    let mut outputs: Vec<(&str, String)> = Vec::new();
    let mut check = |name: &'static str, args: &[&str], code: i32| -> Value {
        let (text, doc) = json_of(&p, args, code);
        assert_output_valid(name, &format!("phase {}", args.join(" ")), &doc);
        outputs.push((name, text));
        doc
    };

    let status = check("status", &["status", "--json"], 0);
    assert_eq!(status["counts"]["succeeded"], 2);
    assert_eq!(status["counts"]["quarantined"], 1);

    let shown = check("show", &["show", "b", "--json"], 0);
    assert_eq!(shown["state"], "succeeded");
    assert_eq!(shown["depends_on"], json!(["a"]));
    assert_eq!(shown["attempts"][0]["log_out"], "logs/b/1.out");
    let shown = check("show", &["show", "bad", "--json"], 0);
    assert_eq!(shown["state"], "quarantined");
    assert_eq!(shown["attempts"][0]["exit_code"], 1);
    assert!(
        shown["analyses"].as_array().is_some_and(|a| !a.is_empty()),
        "{shown:#}"
    );
    assert!(
        shown["escalation"]
            .as_str()
            .is_some_and(|e| e.ends_with("escalations/bad.md")),
        "{shown:#}"
    );
    let shown = check("show", &["show", "a", "--json"], 0);
    assert_eq!(shown["dependents"], json!(["b"]));

    let waited = check("wait", &["wait", "--all", "--json"], 1);
    assert_eq!(waited["all_succeeded"], false);
    assert_eq!(waited["timed_out"], false);
    assert_eq!(waited["tasks"].as_array().map(Vec::len), Some(3));

    let valid = check("validate", &["validate", "--json"], 0);
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["problems"], json!([]));
    p.write("broken/execution_results.json", "{\"results\": 5}");
    let broken = p.path("broken/execution_results.json");
    let broken = broken.to_str().expect("UTF-8 path");
    let invalid = check("validate", &["validate", "--json", broken], 1);
    assert_eq!(invalid["invalid"], 1);
    assert_eq!(invalid["problems"][0]["file"], broken);
    assert_eq!(invalid["problems"][0]["pointer"], "/results");

    let plan = p.path("plan.md");
    let plan = plan.to_str().expect("UTF-8 path");
    let planned = check(
        "plan_import",
        &["plan", "import", "--dry-run", "--json", plan],
        0,
    );
    assert_eq!(planned["dry_run"], true);
    assert_eq!(planned["plans"][0]["new"], 2);
    assert_eq!(planned["plans"][0]["checked"], 1);
    assert_eq!(planned["plans"][0]["items"][1]["kind"], "test");

    let tools = check("tools", &["tools", "--json"], 0);
    assert!(tools.is_object(), "{tools:#}");

    // A task nothing runs: `wait` times out, and says so in its document too.
    p.drop_task("later", json!({"kind": "shell", "command": ["true"]}));
    let waited = check("wait", &["wait", "later", "--timeout", "0.3", "--json"], 1);
    assert_eq!(waited["timed_out"], true);
    assert_eq!(waited["tasks"], json!([{"id": "later", "state": "queued"}]));

    for (name, _) in OUTPUT_SCHEMAS {
        assert!(
            outputs.iter().any(|(n, _)| *n == name),
            "no --json output of {name} was checked"
        );
    }
    independent_validator(&p, &outputs);
}

/// The same outputs through `check-jsonschema`, the validator `.ci/run` uses: one call
/// per schema, with every output of it.
fn independent_validator(p: &Project, outputs: &[(&str, String)]) {
    if !require_tool("check-jsonschema") {
        return;
    }
    for (name, _) in OUTPUT_SCHEMAS {
        let files: Vec<std::path::PathBuf> = outputs
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n == name)
            .map(|(i, (n, text))| p.write(&format!("outputs/{i}.{n}.json"), text))
            .collect();
        let out = output_within(
            std::process::Command::new("check-jsonschema")
                .arg("--schemafile")
                .arg(schema_path(name))
                .args(&files),
            Duration::from_secs(60),
            "check-jsonschema",
        );
        assert!(
            out.status.success(),
            "check-jsonschema rejects {name} output in {files:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
