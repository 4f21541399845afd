//! The pieces every scenario uses: which CLI, where it is, the fake model server, and a
//! project that `phase` runs in.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) use crate::sandbox::Sandbox;

/// The CLIs under test, by preset name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cli {
    Aider,
    Codex,
    Claude,
    Gemini,
}

impl Cli {
    /// The preset's name, also the program's and the tool's name in the scenarios.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cli::Aider => "aider",
            Cli::Codex => "codex",
            Cli::Claude => "claude",
            Cli::Gemini => "gemini",
        }
    }

    /// The model to ask for: aider reaches an OpenAI-compatible server as `openai/…`.
    pub(crate) fn model(self) -> &'static str {
        match self {
            Cli::Aider => "openai/fake-model",
            Cli::Codex => "fake-model",
            Cli::Claude => "claude-fake-model",
            Cli::Gemini => "gemini-2.5-flash",
        }
    }

    /// The base URL of the fake server as this CLI wants it.
    pub(crate) fn base_url(self, port: u16) -> String {
        match self {
            Cli::Aider | Cli::Codex => format!("http://127.0.0.1:{port}/v1"),
            Cli::Claude | Cli::Gemini => format!("http://127.0.0.1:{port}"),
        }
    }

    /// The server log's name for this CLI's endpoint.
    pub(crate) fn endpoint(self) -> &'static str {
        self.name()
    }

    /// Where the CLI is, or `None` when the test should not run: outside CI it says why;
    /// under `CI=true` a missing CLI fails the test with how to install it.
    pub(crate) fn require(self) -> Option<PathBuf> {
        if let Some(found) = find_on_path(self.name()) {
            return Some(found);
        }
        let why = format!(
            "{} is not on PATH: install the pinned AI coding CLIs with \
             `eval \"$(scripts/install-agents.sh ~/.cache/phase-agents)\"` (it prints the PATH \
             line), then run `cargo test --test agents` again",
            self.name()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
        None
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What the fake server answers: JSON as `tests/tools/agents/fake_model.py` reads it.
pub(crate) fn script(root: &Path, steps: Value, then: Value) -> Value {
    serde_json::json!({ "root": root, "steps": steps, "then": then })
}

/// A running `fake_model.py`, killed (SIGTERM) when dropped.
pub(crate) struct FakeServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
}

impl FakeServer {
    /// Starts a server answering `script`; files go to `dir/<name>.*`.
    pub(crate) fn start(sandbox: &Sandbox, dir: &Path, name: &str, script: &Value) -> FakeServer {
        let script_path = dir.join(format!("{name}.script.json"));
        let log = dir.join(format!("{name}.requests.jsonl"));
        let port_file = dir.join(format!("{name}.port"));
        std::fs::write(&script_path, script.to_string()).expect("write the script");
        let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/agents/fake_model.py");
        let mut child = sandbox
            .command("python3")
            .arg(server)
            .arg("--script")
            .arg(&script_path)
            .arg("--log")
            .arg(&log)
            .arg("--port-file")
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fake_model.py");
        // The port file appears (by rename) once the server accepts connections.
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("fake_model.py exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "fake_model.py did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        FakeServer { child, port, log }
    }

    /// Every request logged so far, in order.
    pub(crate) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The bodies of the requests to `endpoint`, as JSON text.
    pub(crate) fn bodies(&self, endpoint: &str) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r["endpoint"] == endpoint)
            .map(|r| r["body"].to_string())
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = terminate(self.child.id());
        let _ = self.child.wait();
    }
}

/// SIGTERM, so the server exits through its handler.
fn terminate(pid: u32) -> std::io::Result<ExitStatus> {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
}

/// A project directory with a state directory, a config and the CLIs' PATH.
pub(crate) struct Project {
    pub dir: tempfile::TempDir,
}

/// `phase` as built by cargo for this test run.
pub(crate) fn phase_bin() -> &'static str {
    env!("CARGO_BIN_EXE_phase")
}

/// The environment `phase` (and so every CLI) runs with: PATH and the fake key only, so
/// no real key, base URL or config of the person running the tests leaks in.
pub(crate) const FAKE_KEY_ENV: &str = "PHASE_AGENTS_TEST_KEY";

impl Project {
    /// An empty project with `phase init` done and `config` as its configuration.
    pub(crate) fn new(config: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("phase-agents-")
            .tempdir()
            .expect("tempdir");
        let p = Project { dir };
        std::fs::write(p.path().join("coordinator.toml"), config).expect("write config");
        let out = p.phase_output(&["init"]);
        assert!(out.status.success(), "phase init: {out:?}");
        p
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path().join(rel), text).expect("write project file");
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }

    fn phase_cmd(&self, sandbox: Option<&Sandbox>, args: &[&str]) -> Command {
        let mut cmd = match sandbox {
            Some(s) => s.command(phase_bin()),
            None => Command::new(phase_bin()),
        };
        cmd.args(["--state-dir", ".state", "--config", "coordinator.toml"])
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(FAKE_KEY_ENV, "sk-fake-test-key")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a quick `phase` verb outside the namespace and returns its output.
    pub(crate) fn phase_output(&self, args: &[&str]) -> std::process::Output {
        self.phase_cmd(None, args).output().expect("run phase")
    }

    /// Submits a task (JSON) and returns its id.
    pub(crate) fn submit(&self, task: &Value) -> String {
        let file = self.path().join("task.json");
        std::fs::write(&file, task.to_string()).expect("write task");
        let out = self.phase_output(&["submit", "task.json"]);
        assert!(out.status.success(), "phase submit: {out:?}");
        std::fs::remove_file(file).expect("remove task file");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `phase run --once` inside the sandbox, killed and failed after `limit`.
    pub(crate) fn run_once(&self, sandbox: &Sandbox, limit: Duration) -> ExitStatus {
        let stderr = std::fs::File::create(self.path().join("phase.stderr")).expect("stderr file");
        let mut child = self
            .phase_cmd(Some(sandbox), &["run", "--once"])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start phase run --once");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait for phase") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "phase run --once did not finish within {limit:?}; its stderr:\n{}",
                    self.read("phase.stderr")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A state file, parsed.
    pub(crate) fn state(&self, name: &str) -> Value {
        let text = self.read(&format!(".state/{name}"));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The events of `kind`, in order.
    pub(crate) fn events(&self, kind: &str) -> Vec<Value> {
        self.read(".state/events.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event_type"] == kind || e["type"] == kind)
            .collect()
    }

    /// `phase status --json`'s entry for `id`.
    pub(crate) fn status(&self, id: &str) -> Value {
        let out = self.phase_output(&["status", "--json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        doc["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["id"] == id).cloned())
            .unwrap_or(Value::Null)
    }

    /// Everything `phase` and its tools left for a person to read when a scenario fails.
    pub(crate) fn explain(&self) -> String {
        let mut s = String::new();
        for name in [
            "phase.stderr",
            ".state/events.jsonl",
            ".state/error_analysis.json",
            ".state/fix_patches.json",
        ] {
            s.push_str(&format!("--- {name}\n{}\n", self.read(name)));
        }
        let logs = self.path().join(".state/logs");
        for entry in walk(&logs) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            let tail: String = text
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            s.push_str(&format!("--- {}\n{tail}\n", entry.display()));
        }
        s
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
