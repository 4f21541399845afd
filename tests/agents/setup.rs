//! Getting an agent ready: `phase init --agent`, `phase validate`'s warnings, and a
//! missing API key reported by name.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Project, Sandbox, phase_bin};

#[test]
fn init_writes_a_ready_block_per_agent_and_validate_names_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], path: &str| {
        std::process::Command::new(phase_bin())
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", path)
            .output()
            .expect("run phase")
    };
    let out = run(
        &["init", "--agent", "claude", "--agent", "codex"],
        "/nonexistent",
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("added [tools.claude]"), "{stdout}");
    assert!(stdout.contains("added [tools.codex]"), "{stdout}");
    let config = std::fs::read_to_string(dir.path().join("config/coordinator.toml"))
        .expect("config written");
    assert!(
        config.contains("[tools.claude]\npreset = \"claude\""),
        "{config}"
    );

    // Once is enough: a second run changes nothing.
    let again = run(&["init", "--agent", "claude"], "/nonexistent");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already exists: [tools.claude]"),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config/coordinator.toml")).expect("config"),
        config
    );

    // Valid, but this machine is not ready: each missing program and key is named.
    let out = run(&["validate"], "/nonexistent");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "warning: config/coordinator.toml: tools.claude: \"claude\" is not on PATH",
        "tools.claude: the API key variable ANTHROPIC_API_KEY is not set",
        "tools.codex: \"codex\" is not on PATH (install npm @openai/codex: scripts/install-agents.sh)",
        "tools.codex: the API key variable OPENAI_API_KEY is not set",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

/// The router's health check finds the key missing before anything runs: the task file is
/// rejected, naming the tool and the variable (as for a program not on PATH,
/// docs/ROUTING.md); `phase validate` says the same beforehand.
#[test]
fn a_missing_key_is_named_by_the_health_check() {
    let config = "[tools.claude]\npreset = \"claude\"\napi_key_env = \"PHASE_AGENTS_TEST_NO_SUCH_KEY\"\n\
                  command = [\"true\", \"{prompt}\"]\n\n\
                  [[routing.rules]]\nkind = \"code\"\ncandidates = [\"claude\"]\n";
    let p = Project::new(config);
    p.write("calc.py", "def add(a, b):\n    return a - b\n");
    p.submit(&json!({
        "id": "implement",
        "kind": "code",
        "description": "Make add() add",
        "files": ["calc.py"],
        "max_retries": 2,
    }));
    p.run_once(&Sandbox::new(), Duration::from_secs(60));
    let out = p.phase_output(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let task = &doc["tasks"][0];
    assert_eq!(task["state"], "rejected", "{doc}\n{}", p.explain());
    let reason = task["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("claude") && reason.contains("PHASE_AGENTS_TEST_NO_SUCH_KEY"),
        "{reason}"
    );
    assert!(p.read("calc.py").contains("a - b"), "nothing ran");
}

#[test]
fn the_readme_blocks_for_agents_make_a_valid_config() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let section = readme
        .split("\n## Using AI coding agents\n")
        .nth(1)
        .expect("README has the section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap_or(b))
        .collect();
    assert_eq!(
        blocks.len(),
        6,
        "one block per CLI, then routing and ladder, then isolation"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agents.toml");
    std::fs::write(&config, blocks.join("\n\n")).expect("write");
    let mut files = vec![config];
    // The task files it shows are valid task files.
    for (i, task) in section.split("```json\n").skip(1).enumerate() {
        let task = task.split("\n```").next().unwrap_or(task);
        let path = dir.path().join(format!("task{i}.json"));
        std::fs::write(&path, task).expect("write");
        files.push(path);
    }
    assert!(files.len() > 1, "the section shows a task file");
    let out = std::process::Command::new(phase_bin())
        .arg("validate")
        .args(&files)
        .output()
        .expect("run phase");
    assert!(out.status.success(), "{out:?}");
}

/// The shipped example's shape: a routed tool (no preset) whose argv names the prompt
/// file. It used to end `cannot start: {prompt_file} is only available to agent tiers`.
#[test]
fn a_routed_tool_gets_a_prompt_file_built_from_the_task() {
    let config = "[tools.scribe]\ncommand = [\"sh\", \"-c\", \"cp \\\"$0\\\" got-prompt.md\", \"{prompt_file}\"]\n\n\
                  [[routing.rules]]\nkind = \"code\"\ncandidates = [\"scribe\"]\n";
    let p = Project::new(config);
    p.submit(&json!({
        "id": "docs",
        "kind": "code",
        "description": "Write the usage section of the docs",
        "files": ["docs.md"],
    }));
    let status = p.run_once(&Sandbox::new(), Duration::from_secs(60));
    assert!(status.success(), "{}", p.explain());
    let prompt = p.read("got-prompt.md");
    assert!(prompt.starts_with("# Task `docs`, attempt 1"), "{prompt}");
    assert!(
        prompt.contains("Write the usage section of the docs"),
        "{prompt}"
    );
    assert!(prompt.contains("- files: docs.md"), "{prompt}");
    assert_eq!(prompt, p.read(".state/logs/docs/1.prompt.md"));
}
