//! The bad-input table as data: task files (through `phase submit`, `phase validate` and
//! the router's intake in `phase run --once`), inbox file names, state files, the event log
//! and config files. Each row says what goes where, which command runs it, the exit code,
//! and substrings of stderr that name the file and the field (JSON pointer or config key).
//! A few rows are positive controls at the edge of a bound: the value the schema allows
//! must run, not panic.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use super::harness::{ANY_CODE, Case, Put, Step};

/// A task file body and the end of the `error: <path>` line it must give.
struct TaskRow(&'static str, Vec<u8>, &'static str);

fn text(t: &str) -> Vec<u8> {
    t.as_bytes().to_vec()
}

fn step(args: &[&str], code: i32, stderr: &str) -> Step {
    Step {
        args: args.iter().map(OsString::from).collect(),
        code,
        stderr: stderr.to_string(),
        stdout: None,
    }
}

fn case(name: String, puts: Vec<Put>, steps: Vec<Step>) -> Case {
    Case {
        name,
        puts,
        config: None,
        steps,
    }
}

/// Every table row.
pub(super) fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    for TaskRow(what, body, message) in task_rows() {
        let put = || vec![Put::File("in/t.json".into(), body.clone())];
        let line = format!("error: in/t.json{message}");
        cases.push(case(
            format!("submit: {what}"),
            put(),
            vec![step(&["submit", "in/t.json"], 2, &line)],
        ));
        cases.push(case(
            format!("validate: {what}"),
            put(),
            vec![step(&["validate", "in/t.json"], 1, &line)],
        ));
    }
    cases.extend(intake());
    cases.extend(file_names());
    cases.extend(state_files());
    cases.extend(event_log());
    cases.extend(configs());
    cases
}

#[rustfmt::skip] // One row a line reads as a table.
fn task_rows() -> Vec<TaskRow> {
    let deep = |n: usize| format!(r#"{{"kind": "shell", "metadata": {{"x": {}{}}}}}"#, "[".repeat(n), "]".repeat(n));
    let big = format!(r#"{{"kind": "shell", "description": "{}"}}"#, "x".repeat(1 << 20));
    let long_id = format!(r#"{{"id": "{}", "kind": "shell"}}"#, "a".repeat(129));
    vec![
        // Duplicate keys: serde_json keeps the last, other readers the first.
        TaskRow("duplicate key", text(r#"{"kind": "shell", "command": ["false"], "command": ["true"]}"#), r#": /command: duplicate key "command""#),
        TaskRow("duplicate id", text(r#"{"id": "a", "id": "b", "kind": "shell"}"#), r#": /id: duplicate key "id""#),
        TaskRow("duplicate env variable", text(r#"{"kind": "shell", "env": {"A": "1", "A": "2"}}"#), r#": /env/A: duplicate key "A""#),
        TaskRow("duplicate key in metadata", text(r#"{"kind": "shell", "metadata": {"x": 1, "x": 2}}"#), r#": /metadata/x: duplicate key "x""#),
        TaskRow("duplicate key in backoff", text(r#"{"kind": "shell", "backoff": {"initial_ms": 1, "factor": 2, "max_ms": 5, "max_ms": 6}}"#), r#": /backoff/max_ms: duplicate key"#),
        TaskRow("duplicate key after a BOM", [b"\xEF\xBB\xBF".as_slice(), br#"{"kind": "shell", "kind": "x"}"#].concat(), r#": /kind: duplicate key "kind""#),
        // NUL characters in anything that becomes an argv, a path or the environment.
        TaskRow("NUL in command", text(r#"{"kind": "shell", "command": ["tr\u0000ue"]}"#), ": /command/0: contains a NUL character"),
        TaskRow("NUL in a later argument", text(r#"{"kind": "shell", "command": ["sh", "-c", "echo \u0000"]}"#), ": /command/2: contains a NUL character"),
        TaskRow("NUL in an env value", text(r#"{"kind": "shell", "env": {"A": "x\u0000y"}}"#), ": /env/A: contains a NUL character"),
        TaskRow("NUL in an env name", text(r#"{"kind": "shell", "env": {"A\u0000B": "x"}}"#), ": /env/A\\u0000B: contains a NUL character"),
        TaskRow("NUL in workdir", text(r#"{"kind": "shell", "workdir": "a\u0000b"}"#), ": /workdir: contains a NUL character"),
        TaskRow("NUL in files", text(r#"{"kind": "shell", "files": ["a", "b\u0000"]}"#), ": /files/1: contains a NUL character"),
        TaskRow("NUL in description", text(r#"{"kind": "shell", "description": "a\u0000"}"#), ": /description: contains a NUL character"),
        TaskRow("NUL in kind", text(r#"{"kind": "sh\u0000ell"}"#), ": /kind: contains a NUL character"),
        TaskRow("NUL in tool", text(r#"{"kind": "shell", "tool": "sh\u0000"}"#), ": /tool: contains a NUL character"),
        TaskRow("NUL in depends_on", text(r#"{"kind": "shell", "depends_on": ["a\u0000"]}"#), ": /depends_on/0: "),
        // Bounds the code can hold: timeouts become deadlines, back-off waits.
        TaskRow("timeout over a year", text(r#"{"kind": "shell", "timeout_seconds": 31536001}"#), ": /timeout_seconds: 31536001 is greater than the maximum of 31536000"),
        TaskRow("timeout at u64::MAX", text(r#"{"kind": "shell", "timeout_seconds": 18446744073709551615}"#), ": /timeout_seconds: 18446744073709551615 is greater than the maximum of 31536000"),
        TaskRow("timeout zero", text(r#"{"kind": "shell", "timeout_seconds": 0}"#), ": /timeout_seconds: 0 is less than the minimum of 1"),
        TaskRow("timeout beyond any number", text(r#"{"kind": "shell", "timeout_seconds": 1e400}"#), ":1:42: invalid JSON: number out of range"),
        TaskRow("timeout as a fraction", text(r#"{"kind": "shell", "timeout_seconds": 1.5}"#), ": /timeout_seconds: expected integer, got 1.5"),
        TaskRow("timeout as a string", text(r#"{"kind": "shell", "timeout_seconds": "10"}"#), r#": /timeout_seconds: expected integer, got "10""#),
        TaskRow("back-off over a day", text(r#"{"kind": "shell", "backoff": {"initial_ms": 86400001, "factor": 1, "max_ms": 1}}"#), ": /backoff/initial_ms: 86400001 is greater than the maximum of 86400000"),
        TaskRow("back-off to the year 9999", text(r#"{"kind": "shell", "backoff": {"initial_ms": 250000000000000, "factor": 1, "max_ms": 250000000000000}}"#), ": /backoff/initial_ms: 250000000000000 is greater than the maximum of 86400000"),
        TaskRow("back-off cap at u64::MAX", text(r#"{"kind": "shell", "backoff": {"initial_ms": 1, "factor": 2, "max_ms": 18446744073709551615}}"#), ": /backoff/max_ms: 18446744073709551615 is greater than the maximum of 86400000"),
        TaskRow("back-off factor below 1", text(r#"{"kind": "shell", "backoff": {"initial_ms": 1, "factor": 0.5, "max_ms": 2}}"#), ": /backoff/factor: 0.5 is less than the minimum of 1"),
        TaskRow("back-off factor negative", text(r#"{"kind": "shell", "backoff": {"initial_ms": 1, "factor": -3, "max_ms": 2}}"#), ": /backoff/factor: -3 is less than the minimum of 1"),
        TaskRow("back-off missing a key", text(r#"{"kind": "shell", "backoff": {"initial_ms": 1, "factor": 2}}"#), r#": /backoff: missing required field "max_ms""#),
        TaskRow("retries over u32", text(r#"{"kind": "shell", "max_retries": 4294967296}"#), ": /max_retries: 4294967296 is greater than the maximum of 4294967295"),
        TaskRow("retries negative", text(r#"{"kind": "shell", "max_retries": -1}"#), ": /max_retries: -1 is less than the minimum of 0"),
        TaskRow("priority over i64", text(r#"{"kind": "shell", "priority": 9223372036854775808}"#), ": /priority: 9223372036854775808 is greater than the maximum of 9223372036854775807"),
        TaskRow("priority as a fraction", text(r#"{"kind": "shell", "priority": 0.5}"#), ": /priority: expected integer, got 0.5"),
        // Shapes and values.
        TaskRow("dependency listed twice", text(r#"{"kind": "shell", "depends_on": ["a", "a"]}"#), r#": /depends_on: "a" is listed more than once"#),
        TaskRow("dependency not an id", text(r#"{"kind": "shell", "depends_on": ["../x"]}"#), r#": /depends_on/0: "../x" is not a valid task id"#),
        TaskRow("env name with =", text(r#"{"kind": "shell", "env": {"A=B": "x"}}"#), r#": /env: invalid key: "A=B""#),
        TaskRow("env value a number", text(r#"{"kind": "shell", "env": {"A": 1}}"#), ": /env/A: expected string, got 1"),
        TaskRow("empty command", text(r#"{"kind": "shell", "command": []}"#), ": /command: [] has less than 1 item"),
        TaskRow("command of numbers", text(r#"{"kind": "shell", "command": [1]}"#), ": /command/0: expected string, got 1"),
        TaskRow("empty kind", text(r#"{"kind": ""}"#), r#": /kind: "" is shorter than 1 character"#),
        TaskRow("id too long", long_id.into_bytes(), ": /id: "),
        TaskRow("id with a slash", text(r#"{"id": "a/b", "kind": "shell"}"#), r#": /id: "a/b" is not a valid task id"#),
        TaskRow("metadata not an object", text(r#"{"kind": "shell", "metadata": []}"#), ": /metadata: expected object, got []"),
        TaskRow("unknown field", text(r#"{"kind": "shell", "timeout": 5}"#), r#": (document): unknown field "timeout""#),
        TaskRow("null document", text("null"), ": (document): expected object, got null"),
        TaskRow("trailing garbage", text(r#"{"kind": "shell"} x"#), ":1:19: invalid JSON: trailing characters"),
        TaskRow("lone surrogate", text(r#"{"kind": "shell", "description": "\ud800x"}"#), ":1:41: invalid JSON: unexpected end of hex escape"),
        TaskRow("invalid UTF-8 in a string", b"{\"kind\": \"sh\xC3\x28\"}".to_vec(), ": file is not valid UTF-8 (at byte 12)"),
        TaskRow("10,000-deep metadata", deep(10_000).into_bytes(), ":1:162: invalid JSON: recursion limit exceeded"),
        TaskRow("100,000-deep document", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), ":1:128: invalid JSON: recursion limit exceeded"),
        TaskRow("over 1 MiB", big.into_bytes(), ": file is larger than the 1024 KiB limit for task files"),
    ]
}

/// Task files the router takes from the inbox: rejected with the reason, the run ends.
#[rustfmt::skip]
fn intake() -> Vec<Case> {
    let rejected = |what: &str, body: &str, message: &str| {
        case(
            format!("intake: {what}"),
            vec![Put::File(".state/inbox/t.json".into(), text(body))],
            vec![
                step(&["run", "--once"], 1, &format!("task file rejected: {message}")),
                Step { stdout: Some("rejected".into()), ..step(&["status"], 0, "") },
            ],
        )
    };
    let runs = |what: &str, body: &str| {
        case(
            format!("intake, at the bound: {what}"),
            vec![Put::File(".state/inbox/t.json".into(), text(body))],
            vec![Step { stdout: Some("1 succeeded".into()), ..step(&["run", "--once"], 0, "") }],
        )
    };
    vec![
        rejected("duplicate key", r#"{"kind": "shell", "command": ["false"], "command": ["true"]}"#, r#"/command: duplicate key "command""#),
        rejected("NUL in command", r#"{"kind": "shell", "command": ["tr\u0000ue"]}"#, "/command/0: contains a NUL character"),
        rejected("NUL in env", r#"{"kind": "shell", "command": ["true"], "env": {"A": "\u0000"}}"#, "/env/A: contains a NUL character"),
        rejected("NUL in workdir", r#"{"kind": "shell", "command": ["true"], "workdir": "a\u0000"}"#, "/workdir: contains a NUL character"),
        rejected("timeout at the old maximum", r#"{"kind": "shell", "command": ["true"], "timeout_seconds": 18446744073709551615}"#, "/timeout_seconds: 18446744073709551615 is greater than the maximum of 31536000"),
        rejected("retry in the year 9999", r#"{"kind": "shell", "command": ["false"], "backoff": {"initial_ms": 250000000000000, "factor": 1, "max_ms": 250000000000000}}"#, "/backoff/initial_ms: 250000000000000 is greater than the maximum"),
        runs("timeout of a year", r#"{"kind": "shell", "command": ["true"], "timeout_seconds": 31536000}"#),
        runs("back-off of a day", r#"{"kind": "shell", "command": ["true"], "max_retries": 1, "backoff": {"initial_ms": 86400000, "factor": 1e300, "max_ms": 86400000}}"#),
        runs("NUL inside metadata", r#"{"kind": "shell", "command": ["true"], "metadata": {"note": "a\u0000b"}}"#),
    ]
}

/// Odd inbox file names: rejected visibly, with the right reason, and shown by `status`.
#[rustfmt::skip]
fn file_names() -> Vec<Case> {
    let body = text(r#"{"kind": "shell", "command": ["true"]}"#);
    let named = |what: &str, name: Vec<u8>, message: &str, shown: &str| {
        case(
            format!("file name: {what}"),
            vec![Put::Named(".state/inbox", name, body.clone())],
            vec![
                step(&["run", "--once"], 1, message),
                Step { stdout: Some(shown.into()), ..step(&["status"], 0, "") },
            ],
        )
    };
    let long = |n: usize| [vec![b'a'; n], b".json".to_vec()].concat();
    let in_inbox = |what: &str, put: Put, message: &str| {
        case(format!("inbox entry: {what}"), vec![put], vec![step(&["run", "--once"], 1, message)])
    };
    vec![
        named("not UTF-8", b"b\xFF.json".to_vec(), "the file name is not valid UTF-8 (b\\xFF.json)", "b_.json"),
        named("Latin-1 bytes", b"caf\xE9.json".to_vec(), "the file name is not valid UTF-8 (caf\\xE9.json)", "caf_.json"),
        named("250 bytes long", long(245), "the file name is 250 bytes long, more than the 200 allowed", "rejected"),
        named("255 bytes long", long(250), "the file name is 255 bytes long, more than the 200 allowed", "rejected"),
        named("201 bytes long", long(196), "the file name is 201 bytes long", "rejected"),
        named("a newline", b"a\nb.json".to_vec(), "contains control characters", "a_b.json"),
        named("a tab", b"a\tb.json".to_vec(), "contains control characters", "a_b.json"),
        named("not an id", b"-x.json".to_vec(), r#"/id: no "id" given and the file name "-x" is not a valid id"#, "-x.json"),
        named("a space", b"my task.json".to_vec(), r#"the file name "my task" is not a valid id"#, "my task.json"),
        named("non-ASCII", "tâche.json".as_bytes().to_vec(), r#"the file name "tâche" is not a valid id"#, "tâche.json"),
        case(
            "file name: 200 bytes, with an id inside".into(),
            vec![Put::Named(".state/inbox", long(195), text(r#"{"id": "ok", "kind": "shell", "command": ["true"]}"#))],
            vec![step(&["run", "--once"], 0, "")],
        ),
        case(
            "file name: upper-case .JSON is not a task file".into(),
            vec![Put::File(".state/inbox/x.JSON".into(), body.clone())],
            vec![step(&["run", "--once"], 0, "")],
        ),
        in_inbox("a directory", Put::Dir(".state/inbox/d.json".into()), "is a directory, not a task file"),
        in_inbox("a symbolic link", Put::Symlink(".state/inbox/l.json".into()), "is a symbolic link"),
        in_inbox("a named pipe", Put::Fifo(".state/inbox/p.json".into()), "is not a regular file"),
        in_inbox("an empty file", Put::File(".state/inbox/e.json".into(), Vec::new()), "file is empty"),
        case(
            "submit: a file named in Latin-1".into(),
            vec![Put::Named("in", b"caf\xE9.json".to_vec(), body.clone())],
            vec![Step {
                args: vec!["submit".into(), OsStr::from_bytes(b"in/caf\xE9.json").to_os_string()],
                ..step(&[], 2, "error: in/caf\u{FFFD}.json: the file name is not valid UTF-8 (caf\\xE9.json)")
            }],
        ),
    ]
}

/// Invalid state files: `validate` names file and field; `run --once` ends with exit 1
/// naming them (it used to wait forever), the rest of the work done first.
fn state_files() -> Vec<Case> {
    const FILES: [&str; 7] = [
        "routing_decisions.json",
        "adapter_assignments.json",
        "execution_results.json",
        "error_analysis.json",
        "fix_patches.json",
        "control.json",
        "tool_health.json",
    ];
    let task = || {
        Put::File(
            ".state/inbox/ok.json".into(),
            text(r#"{"kind": "shell", "command": ["true"]}"#),
        )
    };
    let mut cases = Vec::new();
    for file in FILES {
        let path = format!(".state/{file}");
        let at = |s: &str| format!("{path}{s}");
        // The last line: the problem as the phase reported it, and why the run ended.
        let run = |what: &str, put: Put, message: String| {
            let last = format!("error: {message}; the run cannot finish until it is fixed");
            case(
                format!("{file}: {what}"),
                vec![task(), put],
                vec![step(&["run", "--once"], 1, &last)],
            )
        };
        cases.push(run(
            "schema_version 999",
            Put::File(path.clone(), text(r#"{"schema_version": 999}"#)),
            at(": /schema_version: expected 1, got 999"),
        ));
        let deep = format!(
            r#"{{"a": {}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        cases.push(run(
            "100,000-deep nesting",
            Put::File(path.clone(), deep.into_bytes()),
            at(":1:133: invalid JSON: recursion limit exceeded"),
        ));
        cases.push(run(
            "a directory",
            Put::Dir(path.clone()),
            at(": is a directory, not a state file (remove it, or put the file back)"),
        ));
        cases.push(run(
            "a duplicate key",
            Put::File(
                path.clone(),
                text(r#"{"schema_version": 1, "schema_version": 1}"#),
            ),
            at(r#": /schema_version: duplicate key "schema_version": the object has it more than once (JSON readers disagree on which one counts; keep one)"#),
        ));
        cases.push(run(
            "binary garbage",
            Put::File(path.clone(), vec![0, 1, 2, 0xFF]),
            at(": file contains NUL bytes: binary data or UTF-16 text, not UTF-8 JSON"),
        ));
        cases.push(case(
            format!("{file}: validate, schema_version 999"),
            vec![Put::File(path.clone(), text(r#"{"schema_version": 999}"#))],
            vec![step(
                &["validate"],
                1,
                &format!("error: {}", at(": /schema_version: expected 1, got 999")),
            )],
        ));
        cases.push(run(
            "a named pipe",
            Put::Fifo(path.clone()),
            at(": is not a regular file, not a state file (remove it, or put the file back)"),
        ));
        cases.push(case(
            format!("{file}: validate and status, a named pipe"),
            vec![Put::Fifo(path.clone())],
            vec![
                step(
                    &["validate"],
                    1,
                    &format!("error: {}", at(": is not a regular file")),
                ),
                // Whether `status` needs this file decides its exit code; it must end.
                step(&["status"], ANY_CODE, ""),
            ],
        ));
        cases.push(case(
            format!("{file}: validate, a directory"),
            vec![Put::Dir(path.clone())],
            vec![step(
                &["validate"],
                1,
                &format!("error: {}", at(": is a directory, not a state file")),
            )],
        ));
    }
    cases
}

/// A damaged event log: repaired and reported, numbering never restarts, no hang.
#[rustfmt::skip]
fn event_log() -> Vec<Case> {
    let log = ".state/events.jsonl";
    let line = r#"{"ts":"2026-01-01T00:00:00.000Z","seq":41,"run_id":"r","type":"RUN_STARTED","phase":"cli","data":{}}"#;
    let with = |tail: &str| Put::File(log.into(), format!("{line}\n{tail}").into_bytes());
    let seq42 = Step { stdout: Some("\"seq\":42".into()), ..step(&["events"], 0, "") };
    vec![
        case("events.jsonl: torn last line".into(), vec![with(r#"{"ts":"2026-01-01T00:00:01.000Z","se"#)], vec![
            step(&["run", "--once"], 0, "events.jsonl: the last line was torn"),
            step(&["validate"], 0, ""),
            seq42.clone(),
        ]),
        case("events.jsonl: garbage at the end".into(), vec![with("not an event\n")], vec![
            step(&["run", "--once"], 0, "events.jsonl: 1 line(s) at the end are not events"),
            step(&["validate"], 1, "error: .state/events.jsonl:2:2: invalid JSON: expected ident"),
            seq42.clone(),
        ]),
        case("events.jsonl: numbering restarted by a hand edit".into(), vec![with(&line.replace("\"seq\":41", "\"seq\":1"))], vec![
            step(&["run", "--once"], 0, "numbering goes on after seq 41"),
            seq42,
        ]),
        case("events.jsonl: nothing but garbage".into(), vec![Put::File(log.into(), vec![0xFF; 300])], vec![
            step(&["run", "--once"], 0, "the last line was torn"),
            step(&["validate"], 0, ""),
        ]),
        case("events.jsonl: validate names the line".into(), vec![with("{\"seq\": \"x\"}\n")], vec![
            step(&["validate"], 1, "error: .state/events.jsonl:2: "),
        ]),
        // Not a full disk that frees up: `--once` ends naming it instead of waiting.
        case("events.jsonl: a directory".into(), vec![Put::Dir(log.into())], vec![
            step(&["run", "--once"], 1, "error: .state/events.jsonl: cannot open for appending: Is a directory"),
            step(&["validate"], 1, "error: .state/events.jsonl: is not a regular file"),
        ]),
        case("events.jsonl: a symbolic link".into(), vec![Put::Symlink(log.into())], vec![
            step(&["run", "--once"], 1, "error: .state/events.jsonl: is a symbolic link"),
        ]),
        case("events.jsonl: a named pipe".into(), vec![Put::Fifo(log.into())], vec![
            step(&["run", "--once"], 1, "error: .state/events.jsonl: cannot open for appending"),
            step(&["validate"], 1, "error: .state/events.jsonl: is not a regular file"),
        ]),
        // The two files every claim uses: no run starts, naming the file.
        case("claims/locks: a named pipe".into(), vec![Put::Fifo(".state/claims/locks".into())], vec![
            step(&["run", "--once"], 1, "error: .state/claims/locks: is not a regular file"),
        ]),
        case("claims/locks: a directory".into(), vec![Put::Dir(".state/claims/locks".into())], vec![
            step(&["run", "--once"], 1, "error: .state/claims/locks: cannot open lock file: Is a directory"),
        ]),
        case("claims/fences.jsonl: a named pipe".into(), vec![Put::Fifo(".state/claims/fences.jsonl".into())], vec![
            step(&["run", "--once"], 1, "error: .state/claims/fences.jsonl: is not a regular file"),
        ]),
        case("claims/fences.jsonl: a directory".into(), vec![Put::Dir(".state/claims/fences.jsonl".into())], vec![
            step(&["run", "--once"], 1, "error: .state/claims/fences.jsonl: cannot open for appending: Is a directory"),
        ]),
    ]
}

/// Config files: `run --once` refuses them (exit 2) naming the key; bounds are ones the
/// code can hold.
#[rustfmt::skip]
fn configs() -> Vec<Case> {
    let refused = |what: &str, toml: &[u8], message: &str| Case {
        name: format!("config: {what}"),
        puts: Vec::new(),
        config: Some(toml.to_vec()),
        steps: vec![step(&["run", "--once"], 2, &format!("error: config/coordinator.toml: {message}"))],
    };
    let validated = |what: &str, toml: &[u8], message: &str| Case {
        name: format!("config, validate: {what}"),
        puts: Vec::new(),
        config: Some(toml.to_vec()),
        steps: vec![step(&["validate"], 1, &format!("error: config/coordinator.toml: {message}"))],
    };
    let deep = format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let mut cases = vec![
        refused("100,000 at once", b"[execution]\nmax_parallel = 100000\n", "execution.max_parallel: 100000 is greater than the maximum of 1024"),
        validated("100,000 at once", b"[execution]\nmax_parallel = 100000\n", "execution.max_parallel: 100000 is greater than the maximum of 1024"),
        refused("none at once", b"[execution]\nmax_parallel = 0\n", "execution.max_parallel: 0 is less than the minimum of 1"),
        refused("a tool's 5,000 at once", b"[tools.shell]\nmax_parallel = 5000\n", "tools.shell.max_parallel: 5000 is greater than the maximum of 1024"),
        refused("timeout at i64::MAX", b"[execution]\ntimeout_seconds = 9223372036854775807\n", "execution.timeout_seconds: 9223372036854775807 is greater than the maximum of 31536000"),
        validated("timeout over a year", b"[execution]\ntimeout_seconds = 31536001\n", "execution.timeout_seconds: 31536001 is greater than the maximum of 31536000"),
        refused("a tool's timeout", b"[tools.shell]\ntimeout_seconds = 31536001\n", "tools.shell.timeout_seconds: 31536001 is greater"),
        refused("fix timeout", b"[recovery]\nfix_timeout_seconds = 31536001\n", "recovery.fix_timeout_seconds: 31536001 is greater"),
        refused("a detector's timeout", b"[recovery.detectors.d]\ncommand = [\"true\"]\ntimeout_seconds = 31536001\n", "recovery.detectors.d.timeout_seconds: 31536001 is greater"),
        refused("kill grace over an hour", b"[execution]\nkill_grace_ms = 3600001\n", "execution.kill_grace_ms: 3600001 is greater than the maximum of 3600000"),
        refused("shutdown grace at i64::MAX", b"[execution]\nshutdown_grace_ms = 9223372036854775807\n", "execution.shutdown_grace_ms: 9223372036854775807 is greater"),
        refused("lock timeout over an hour", b"[state]\nlock_timeout_ms = 3600001\n", "state.lock_timeout_ms: 3600001 is greater"),
        refused("poll interval zero", b"[state]\npoll_interval_ms = 0\n", "state.poll_interval_ms: 0 is less than the minimum of 1"),
        refused("poll interval over a minute", b"[state]\npoll_interval_ms = 60001\n", "state.poll_interval_ms: 60001 is greater than the maximum of 60000"),
        refused("debounce over a minute", b"[state]\ndebounce_ms = 60001\n", "state.debounce_ms: 60001 is greater"),
        refused("flush interval over a minute", b"[state]\nflush_interval_ms = 60001\n", "state.flush_interval_ms: 60001 is greater"),
        refused("settle time over a minute", b"[routing]\nsettle_ms = 60001\n", "routing.settle_ms: 60001 is greater"),
        refused("back-off over a day", b"[execution.backoff]\ninitial_ms = 86400001\nfactor = 2.0\nmax_ms = 1\n", "execution.backoff.initial_ms: 86400001 is greater than the maximum of 86400000"),
        refused("back-off cap at i64::MAX", b"[execution.backoff]\ninitial_ms = 1\nfactor = 2.0\nmax_ms = 9223372036854775807\n", "execution.backoff.max_ms: 9223372036854775807 is greater"),
        refused("back-off factor below 1", b"[execution.backoff]\ninitial_ms = 1\nfactor = 0.5\nmax_ms = 2\n", "execution.backoff.factor: 0.5 is less than the minimum of 1"),
        refused("back-off missing a key", b"[execution.backoff]\ninitial_ms = 1\n", "execution.backoff"),
        refused("stderr tail over 1 MiB", b"[events]\nstderr_tail_bytes = 1048577\n", "events.stderr_tail_bytes: 1048577 is greater than the maximum of 1048576"),
        refused("retries negative", b"[execution]\nmax_retries = -1\n", "execution.max_retries: -1 is less than the minimum of 0"),
        refused("retries over u32", b"[execution]\nmax_retries = 4294967296\n", "execution.max_retries: 4294967296 is greater"),
        refused("NUL in a tool's command", b"[tools.t]\ncommand = [\"a\\u0000b\"]\n", "tools.t.command[0]: contains a NUL character"),
        refused("NUL in a tool's env", b"[tools.shell.env]\nX = \"\\u0000\"\n", "tools.shell.env.X: contains a NUL character"),
        refused("NUL in a health check", b"[tools.t]\ncommand = [\"x\"]\nhealth_check = [\"tr\\u0000ue\"]\n", "tools.t.health_check[0]: contains a NUL character"),
        refused("NUL in a detector", b"[recovery.detectors.d]\ncommand = [\"ruff\", \"\\u0000\"]\n", "recovery.detectors.d.command[1]: contains a NUL character"),
        refused("a duplicate key", b"[execution]\nmax_retries = 1\nmax_retries = 2\n", "line 3, column 1: duplicate key"),
        refused("a duplicate table", b"[execution]\nmax_retries = 1\n[execution]\nmax_retries = 2\n", "line 3, column 2: duplicate key"),
        refused("TOML syntax", b"[execution\n", "line 1, column 11"),
        refused("100,000-deep nesting", deep.as_bytes(), "line 1, column 85: cannot recurse further"),
        refused("not UTF-8", b"[execution]\n# caf\xE9\n", "cannot read config: stream did not contain valid UTF-8"),
        refused("unknown key", b"[execution]\nmax_paralel = 2\n", "execution.max_paralel"),
        refused("unknown default tool", b"[routing]\ndefault_tool = \"nope\"\n", "routing.default_tool: no tool named \"nope\""),
        refused("bad regex", b"[recovery]\ntransient_patterns = [\"(\"]\n", "recovery.transient_patterns[0]: bad regex"),
        refused("unknown ladder step", b"[recovery]\nladder = [\"nope\"]\n", "recovery.ladder: \"nope\""),
    ];
    // A directory where the config should be.
    cases.push(Case {
        name: "config: a directory".into(),
        puts: vec![Put::Dir("config/coordinator.toml.d".into())],
        config: None,
        steps: vec![step(&["--config", "config/coordinator.toml.d", "run", "--once"], 2, "error: config/coordinator.toml.d: cannot read config")],
    });
    cases.push(Case {
        name: "config: a named pipe".into(),
        puts: vec![Put::Fifo("config/pipe.toml".into())],
        config: None,
        steps: vec![
            step(&["--config", "config/pipe.toml", "run", "--once"], 2, "error: config/pipe.toml: cannot read config: it is not a regular file"),
            step(&["validate", "config/pipe.toml"], 1, "error: config/pipe.toml: cannot read config: it is not a regular file"),
        ],
    });
    // At the bounds: every limit at its maximum, and a task that runs.
    let at_bounds = b"[execution]\nmax_parallel = 1024\ntimeout_seconds = 31536000\nkill_grace_ms = 3600000\n\
        shutdown_grace_ms = 3600000\n\n[execution.backoff]\ninitial_ms = 86400000\nfactor = 1e300\nmax_ms = 86400000\n\n\
        [state]\npoll_interval_ms = 100\nlock_timeout_ms = 3600000\nflush_interval_ms = 60000\n\n\
        [events]\nstderr_tail_bytes = 1048576\n";
    cases.push(Case {
        name: "config: every bound at its maximum still runs".into(),
        puts: vec![Put::File(".state/inbox/t.json".into(), text(r#"{"kind": "shell", "command": ["true"]}"#))],
        config: Some(at_bounds.to_vec()),
        steps: vec![Step { stdout: Some("1 succeeded".into()), ..step(&["run", "--once"], 0, "") }],
    });
    cases
}
