//! Bad task files, through both `phase submit` (exit 2, nothing written) and
//! `phase validate` (exit 1): each names the file and the problem.

use crate::support::Project;

/// How to make the bad file.
enum Make {
    Bytes(Vec<u8>),
    Text(&'static str),
    Symlink,
    Directory,
}

struct Case {
    what: &'static str,
    file: &'static str,
    make: Make,
    /// The whole `error:` line after `error: <file>`.
    message: &'static str,
}

#[rustfmt::skip] // One case a line reads as a table.
fn cases() -> Vec<Case> {
    use Make::*;
    let utf16: Vec<u8> = b"\xFF\xFE"
        .iter()
        .copied()
        .chain(r#"{"kind": "shell"}"#.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let huge = format!(r#"{{"kind": "shell", "description": "{}"}}"#, "x".repeat(10 << 20));
    vec![
        Case { what: "not JSON", file: "t.json", make: Text("kind: shell\n"), message: ":1:1: invalid JSON: expected value" },
        Case { what: "truncated", file: "t.json", make: Text(r#"{"kind": "shell", "comm"#), message: ":1:23: invalid JSON: EOF while parsing a string" },
        Case { what: "empty", file: "t.json", make: Text(""), message: ": file is empty" },
        Case { what: "only whitespace", file: "t.json", make: Text(" \n\t\n"), message: ": file is empty" },
        Case { what: "not an object", file: "t.json", make: Text("[1, 2]"), message: ": (document): expected object, got [1,2]" },
        Case { what: "wrong type", file: "t.json", make: Text(r#"{"kind": 5}"#), message: ": /kind: expected string, got 5" },
        Case { what: "wrong type in a list", file: "t.json", make: Text(r#"{"kind": "shell", "files": ["a", 7]}"#), message: ": /files/1: expected string, got 7" },
        Case { what: "unknown field", file: "t.json", make: Text(r#"{"kind": "shell", "comand": ["x"]}"#), message: ": (document): unknown field \"comand\" (did you mean \"command\"?)" },
        Case { what: "missing kind", file: "t.json", make: Text(r#"{"command": ["x"]}"#), message: ": (document): missing required field \"kind\"" },
        Case { what: "bad id", file: "t.json", make: Text(r#"{"id": "has space", "kind": "shell"}"#), message: ": /id: \"has space\" is not a valid task id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 128 characters)" },
        Case { what: "path traversal in id", file: "t.json", make: Text(r#"{"id": "../../etc/passwd", "kind": "shell"}"#), message: ": /id: \"../../etc/passwd\" is not a valid task id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 128 characters)" },
        Case { what: "file name is no id", file: "-x.json", make: Text(r#"{"kind": "shell"}"#), message: ": /id: no \"id\" given and the file name \"-x\" is not a valid id (letters, digits, '.', '_', '-'; starting with a letter or digit)" },
        Case { what: "path traversal in workdir", file: "t.json", make: Text(r#"{"kind": "shell", "workdir": "src/../../.."}"#), message: ": /workdir: \"src/../../..\" leaves the project root" },
        Case { what: "absolute workdir", file: "t.json", make: Text(r#"{"kind": "shell", "workdir": "/tmp"}"#), message: ": /workdir: \"/tmp\" must be relative to the project root" },
        Case { what: "command as a string", file: "t.json", make: Text(r#"{"kind": "shell", "command": "make test"}"#), message: ": /command: expected array, got \"make test\"" },
        Case { what: "negative timeout", file: "t.json", make: Text(r#"{"kind": "shell", "timeout_seconds": -5}"#), message: ": /timeout_seconds: -5 is less than the minimum of 1" },
        Case { what: "depends on itself", file: "t.json", make: Text(r#"{"id": "me", "kind": "shell", "depends_on": ["a", "me"]}"#), message: ": /depends_on: task \"me\" depends on itself" },
        Case { what: "a 10 MB file", file: "t.json", make: Bytes(huge.into_bytes()), message: ": file is larger than the 1024 KiB limit for task files" },
        Case { what: "binary garbage", file: "t.json", make: Bytes((0..=255u8).cycle().take(4096).collect()), message: ": file contains NUL bytes: binary data or UTF-16 text, not UTF-8 JSON" },
        Case { what: "invalid UTF-8", file: "t.json", make: Bytes(b"{\"kind\": \"sh\xC3\x28ll\"}".to_vec()), message: ": file is not valid UTF-8 (at byte 12)" },
        Case { what: "UTF-16", file: "t.json", make: Bytes(utf16), message: ": file is UTF-16 encoded; save it as UTF-8" },
        Case { what: "a symlink", file: "t.json", make: Symlink, message: ": is a symbolic link; task files must be regular files" },
        Case { what: "a directory named x.json", file: "x.json", make: Directory, message: ": is a directory, not a task file" },
    ]
}

/// Creates the case's file in `p` and returns its name relative to the project.
fn make(p: &Project, case: &Case) -> String {
    let rel = format!("in/{}", case.file);
    match &case.make {
        Make::Bytes(b) => {
            p.write(&rel, b);
        }
        Make::Text(t) => {
            p.write(&rel, t);
        }
        Make::Symlink => {
            let target = p.write("elsewhere/real.json", r#"{"kind": "shell"}"#);
            std::fs::create_dir_all(p.path("in")).unwrap();
            std::os::unix::fs::symlink(target, p.path(&rel)).unwrap();
        }
        Make::Directory => std::fs::create_dir_all(p.path(&rel)).unwrap(),
    }
    rel
}

#[test]
fn submit_refuses_each_bad_file_and_writes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 15);
    for case in &cases {
        let p = Project::initialised();
        let rel = make(&p, case);
        let run = p.phase(&["submit", &rel]);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (2, "", format!("error: {rel}{}\n", case.message).as_str()),
            "submit: {}",
            case.what
        );
        assert_eq!(
            p.entries(".state/inbox"),
            Vec::<String>::new(),
            "{}",
            case.what
        );
        assert!(!p.path(".state/events.jsonl").exists(), "{}", case.what);
    }
}

#[test]
fn validate_reports_each_bad_file() {
    for case in cases() {
        let p = Project::initialised();
        let rel = make(&p, &case);
        p.phase(&["validate", &rel]).expect(
            1,
            "invalid: 1 of 1 file\n",
            &format!("error: {rel}{}\n", case.message),
        );
    }
}

#[test]
fn validate_finds_bad_files_in_the_inbox() {
    let cases = cases();
    let p = Project::initialised();
    // One inbox holding every bad file, each under its own name.
    let mut expected = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let rel = make(&p, case);
        let name = format!("c{i:02}{}", case.file.trim_start_matches(['t', 'x']));
        let name = if case.file == "-x.json" {
            format!("-c{i:02}.json")
        } else {
            name
        };
        std::fs::rename(p.path(&rel), p.path(&format!(".state/inbox/{name}"))).unwrap();
        let message = case.message.replace("\"-x\"", &format!("\"-c{i:02}\""));
        expected.push(format!("error: .state/inbox/{name}{message}\n"));
    }
    expected.sort();
    let run = p.phase(&["validate"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        format!("invalid: {} of {} files\n", cases.len(), cases.len() + 1),
        "{}",
        run.stderr
    );
    let mut got: Vec<String> = run.stderr.lines().map(|l| format!("{l}\n")).collect();
    got.sort();
    assert_eq!(got, expected);
}
