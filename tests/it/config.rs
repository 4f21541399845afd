//! `config/coordinator.toml`: defaults, the shipped file, and errors that name the key.

use std::path::Path;

use phase_coordinator::config::Config;
use phase_coordinator::schema::SchemaName;

const SHIPPED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/coordinator.toml"
));

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new("config/coordinator.toml"), text).map_err(|e| {
        assert_eq!(e.exit_code(), 2, "config errors are usage errors: {e}");
        e.to_string()
    })
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn empty_file_gives_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(parse("# only a comment\n\n").unwrap(), Config::default());
}

#[test]
fn shipped_file_parses_to_the_defaults() {
    let config = parse(SHIPPED).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.routing.default_tool.as_deref(), Some("shell"));
    assert_eq!(config.tools["shell"].command, ["{command}"]);
    assert_eq!(config.execution.timeout_seconds, 3600);
    assert_eq!(config.recovery.ladder, ["mechanical_fix"]);
}

#[test]
fn shipped_file_shows_every_key_of_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(SchemaName::Config.source()).unwrap();
    let mut keys = Vec::new();
    collect_keys(&schema, &mut keys);
    keys.extend(
        schema["$defs"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|d| d.get("properties").and_then(|p| p.as_object()))
            .flat_map(|p| p.keys().cloned()),
    );
    for key in keys {
        let shown = SHIPPED.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            let header = l.starts_with('[').then(|| l.trim_matches(['[', ']']));
            l.starts_with(&format!("{key} ="))
                || header.is_some_and(|h| h.split('.').any(|part| part == key))
        });
        assert!(shown, "config/coordinator.toml does not show key {key:?}");
    }
}

fn collect_keys(node: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (k, v) in props {
            out.push(k.clone());
            collect_keys(v, out);
        }
    }
}

#[test]
fn defaults_match_the_schema_defaults() {
    let schema: serde_json::Value = serde_json::from_str(SchemaName::Config.source()).unwrap();
    let defaults = serde_json::to_value(Config::default()).unwrap();
    for (section, spec) in schema["properties"].as_object().unwrap() {
        let mut expected = spec["default"].clone();
        let mut actual = defaults[section].clone();
        // Absent optional keys serialise as null; the schema leaves them out.
        if let Some(map) = actual.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        if section == "tools" {
            // Tool defaults are filled in from $defs/tool.
            expected =
                serde_json::json!({"shell": {"command": ["{command}"], "kinds": [], "env": {}}});
            actual["shell"]
                .as_object_mut()
                .unwrap()
                .retain(|_, v| !v.is_null());
        }
        assert_eq!(actual, expected, "default of [{section}]");
    }
}

#[test]
fn unknown_key_is_named_by_its_dotted_path() {
    assert_eq!(
        error_of("[tools.shell]\ncomand = [\"{command}\"]\n"),
        "config/coordinator.toml: tools.shell.comand: unknown key (expected one of: \
         command, kinds, max_parallel, timeout_seconds, health_check, env, preset, model, \
         base_url, api_key_env, require_changes, isolation, instances, backend, slurm)"
    );
    assert_eq!(
        error_of("colour = true\n"),
        "config/coordinator.toml: colour: unknown key (expected one of: \
         routing, tools, execution, recovery, state, events, hooks)"
    );
    assert_eq!(
        error_of("[execution]\ntimeout = 5\n"),
        "config/coordinator.toml: execution.timeout: unknown key (expected one of: \
         max_parallel, timeout_seconds, max_retries, backoff, kill_grace_ms, shutdown_grace_ms)"
    );
    assert_eq!(
        error_of("[execution.backoff]\ninitial_ms = 1\nfactor = 2\nmax_ms = 9\njitter = 1\n"),
        "config/coordinator.toml: execution.backoff.jitter: unknown key (expected one of: \
         initial_ms, factor, max_ms)"
    );
    assert_eq!(
        error_of(
            "[[routing.rules]]\nkind = \"lint\"\ncandidates = [\"shell\"]\nstrateg = \"fixed\"\n"
        ),
        "config/coordinator.toml: routing.rules[0].strateg: unknown key (expected one of: \
         kind, candidates, strategy, verify, verify_timeout_seconds, review)"
    );
    assert_eq!(
        error_of("[recovery.detectors.\"my.lint\"]\ncommand = [\"x\"]\nparsr = \"generic\"\n"),
        "config/coordinator.toml: recovery.detectors.\"my.lint\".parsr: unknown key \
         (expected one of: command, parser, pattern, fixer, kinds, timeout_seconds, scope)"
    );
}

#[test]
fn free_form_maps_accept_any_key() {
    let config = parse(
        "[tools.shell]\ncommand = [\"{command}\"]\n[tools.shell.env]\nANY_NAME = \"x\"\n\
         [tools.other]\n",
    )
    .unwrap();
    assert_eq!(config.tools["shell"].env["ANY_NAME"], "x");
    assert_eq!(config.tools["other"].command, ["{command}"]);
}

#[test]
fn wrong_type_names_the_key() {
    assert_eq!(
        error_of("[execution]\ntimeout_seconds = \"1h\"\n"),
        "config/coordinator.toml: execution.timeout_seconds: expected integer, got \"1h\""
    );
    assert_eq!(
        error_of("[tools.shell]\ncommand = \"make test\"\n"),
        "config/coordinator.toml: tools.shell.command: expected array, got \"make test\""
    );
    assert_eq!(
        error_of("[state]\npoll = 1\n"),
        "config/coordinator.toml: state.poll: expected boolean, got 1"
    );
    let negative = error_of("[execution]\nmax_retries = -1\n");
    assert!(
        negative.starts_with("config/coordinator.toml: execution.max_retries: "),
        "{negative}"
    );
    let missing = error_of("[[routing.rules]]\nkind = \"lint\"\n");
    assert_eq!(
        missing,
        "config/coordinator.toml: routing.rules[0]: missing required field \"candidates\""
    );
}

#[test]
fn bad_regex_names_the_key_and_pattern() {
    let e = error_of("[recovery]\ntransient_patterns = [\"ok\", \"(unclosed\"]\n");
    assert!(
        e.starts_with(
            "config/coordinator.toml: recovery.transient_patterns[1]: bad regex \"(unclosed\": "
        ),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
    let e = error_of("[recovery.detectors.lint]\ncommand = [\"x\"]\npattern = \"[\"\n");
    assert!(
        e.starts_with(
            "config/coordinator.toml: recovery.detectors.lint.pattern: bad regex \"[\": "
        ),
        "{e}"
    );
}

#[test]
fn references_to_missing_tools_are_errors() {
    assert_eq!(
        error_of("[routing]\ndefault_tool = \"bash\"\n"),
        "config/coordinator.toml: routing.default_tool: no tool named \"bash\" in [tools]"
    );
    // Adding tools keeps the built-in `shell`, so the default default_tool still resolves.
    let config = Config::parse(
        Path::new("config/coordinator.toml"),
        "[tools.make]\ncommand = [\"make\", \"{command}\"]\n",
    )
    .expect("valid");
    assert_eq!(config.tools["shell"].command, ["{command}"]);
    assert_eq!(config.tools["make"].command, ["make", "{command}"]);
    assert_eq!(
        error_of("[[routing.rules]]\nkind = \"lint\"\ncandidates = [\"shell\", \"ruff\"]\n"),
        "config/coordinator.toml: routing.rules[0].candidates: no tool named \"ruff\" in [tools]"
    );
    assert_eq!(
        error_of("[recovery]\nladder = [\"mechanical_fix\", \"aider\"]\n"),
        "config/coordinator.toml: recovery.ladder: \"aider\" is neither \"mechanical_fix\" \
         nor a tool in [tools]"
    );
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    let e = error_of("[routing]\nsettle_ms = 100\ndefault_tool = shell\n");
    assert!(
        e.starts_with("config/coordinator.toml: line 3, column 16: "),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn missing_file_gives_defaults_unless_required() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    assert_eq!(Config::load(&path).unwrap(), Config::default());
    let e = Config::load_required(&path).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read config: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn misspelt_placeholder_is_named() {
    assert_eq!(
        error_of("[tools.shell]\ncommand = [\"sh\", \"-c\", \"{comand}\"]\n"),
        "config/coordinator.toml: tools.shell.command: unknown placeholder {comand} in \"{comand}\""
    );
    assert_eq!(
        error_of(
            "[recovery.detectors.lint]\ncommand = [\"ruff\"]\nfixer = [\"ruff\", \"--fix\", \"x{files}\"]\n"
        ),
        "config/coordinator.toml: recovery.detectors.lint.fixer: {files} expands to several \
         arguments and must be an element of its own, not part of \"x{files}\""
    );
}

#[test]
fn shipped_examples_are_valid_when_uncommented() {
    let example = regex::Regex::new(r"^# (\[|[A-Za-z_]+ = )").unwrap();
    let uncommented: String = SHIPPED
        .lines()
        .map(|l| if example.is_match(l) { &l[2..] } else { l })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(uncommented, SHIPPED);
    let config = parse(&uncommented).unwrap();
    assert_eq!(config.routing.rules.len(), 1);
    assert_eq!(config.tools["aider"].max_parallel, Some(1));
    assert_eq!(config.tools["shell"].env["EXAMPLE_VAR"], "value");
    assert_eq!(config.execution.max_parallel, Some(2));
    assert_eq!(config.recovery.detectors["ruff"].parser, "ruff_json");
}

#[test]
fn every_field_of_the_types_is_in_the_schema() {
    // Every optional field set, so nothing is left out of the serialised form.
    let mut config = parse(
        "[tools.shell]\nmax_parallel = 2\ntimeout_seconds = 5\nhealth_check = [\"true\"]\n\
         [recovery.detectors.d]\ncommand = [\"x\"]\npattern = \"p\"\nfixer = [\"y\"]\n\
         timeout_seconds = 9\n\
         [[routing.rules]]\nkind = \"*\"\ncandidates = [\"shell\"]\n\
         [execution]\nmax_parallel = 3\n",
    )
    .unwrap();
    config
        .tools
        .get_mut("shell")
        .unwrap()
        .env
        .insert("A".into(), "b".into());
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(SchemaName::Config.validate(&json), Ok(()));
    let text = toml::to_string(&config).unwrap();
    assert_eq!(
        parse(&text).unwrap(),
        config,
        "round trip through TOML:\n{text}"
    );
}
