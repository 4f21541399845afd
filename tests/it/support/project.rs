//! The project builder: a temp dir with a state directory and a config, and the real
//! `phase` binary run in it — either bare (`phase`, paths from the working directory, for
//! exact output) or with explicit `--state-dir`/`--config` (`cmd`, `run`, `spawn`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::procs::output_within;

/// How long a bare [`Project::phase`] may take.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// A project directory; `phase` runs with it as the working directory, so the default
/// `.state/` and `config/coordinator.toml` are inside it.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

/// What one run of `phase` did.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the whole result at once, so a failure shows all three.
    #[track_caller]
    pub(crate) fn expect(&self, code: i32, stdout: &str, stderr: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str(), self.stderr.as_str()),
            (code, stdout, stderr),
            "exit code, stdout, stderr"
        );
    }
}

impl Project {
    /// An empty project (no state directory, no config).
    pub(crate) fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A project after a bare `phase init` (the starter config).
    pub(crate) fn initialised() -> Project {
        let p = Project::empty();
        let run = p.phase(&["init"]);
        assert_eq!(run.code, 0, "phase init: {run:?}");
        p
    }

    /// A project with `config` (TOML text) and an initialised state dir.
    pub(crate) fn with_config(config: &str) -> Project {
        let p = Project::empty();
        p.set_config(config);
        let out = p.cmd().arg("init").output().expect("phase init");
        assert!(out.status.success(), "init failed: {out:?}");
        p
    }

    /// Writes (or replaces) `config/coordinator.toml`.
    pub(crate) fn set_config(&self, text: &str) {
        self.write("config/coordinator.toml", text);
    }

    /// The project root.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the project.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The state directory.
    pub(crate) fn state(&self) -> PathBuf {
        self.path(".state")
    }

    /// Writes a file (creating directories), returns its path.
    pub(crate) fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// A project file's text.
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    /// Every entry of a directory, hidden ones included, sorted.
    pub(crate) fn entries(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.path(rel)) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Writes an executable script under `tools/`; returns its absolute path.
    pub(crate) fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(&format!("tools/{name}"), body);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    /// Writes a task file straight into the inbox (atomically, by rename).
    pub(crate) fn drop_task(&self, id: &str, task: Value) {
        let inbox = self.state().join("inbox");
        let tmp = inbox.join(format!(".{id}.json.part"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&task).expect("json")).expect("write task");
        std::fs::rename(&tmp, inbox.join(format!("{id}.json"))).expect("publish task");
    }

    /// Bare `phase ARGS…` in the project, with a clean environment for its variables.
    pub(crate) fn phase(&self, args: &[&str]) -> Run {
        self.phase_with_stdin(args, "")
    }

    /// Bare `phase ARGS…` with `stdin` as its standard input.
    pub(crate) fn phase_with_stdin(&self, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
        let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_phase"))
            .current_dir(self.root())
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .env_remove("RUST_LOG")
            .args(args)
            .write_stdin(stdin)
            .timeout(PHASE_LIMIT)
            .output()
            .expect("run phase");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// `phase --state-dir … --config …` ready for more arguments.
    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phase"));
        c.current_dir(self.root())
            .arg("--state-dir")
            .arg(self.state())
            .arg("--config")
            .arg(self.path("config/coordinator.toml"))
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Runs `phase ARGS` to completion with a deadline; returns (exit code, stdout, stderr).
    pub(crate) fn run(&self, args: &[&str], limit: Duration) -> (i32, String, String) {
        let out = output_within(
            self.cmd().args(args),
            limit,
            &format!("phase {}", args.join(" ")),
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `phase ARGS` in the background; stderr goes to `<root>/<name>.stderr`.
    pub(crate) fn spawn(&self, args: &[&str], name: &str) -> Child {
        let err = std::fs::File::create(self.path(&format!("{name}.stderr"))).expect("stderr file");
        self.cmd()
            .args(args)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn phase")
    }

    /// What a [`Project::spawn`]ed `phase` wrote to stderr.
    pub(crate) fn stderr_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.stderr"))).unwrap_or_default()
    }

    /// A state file as JSON (`Value::Null` if missing or unparsable).
    pub(crate) fn json(&self, name: &str) -> Value {
        match std::fs::read(self.state().join(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// The result entry of one task.
    pub(crate) fn result(&self, id: &str) -> Option<Value> {
        self.json("execution_results.json")["results"]
            .as_array()?
            .iter()
            .find(|r| r["task_id"] == id)
            .cloned()
    }

    /// The status of one task's result.
    pub(crate) fn status_of(&self, id: &str) -> Option<String> {
        self.result(id)
            .and_then(|r| r["status"].as_str().map(str::to_string))
    }

    /// Every event in the log.
    pub(crate) fn events(&self) -> Vec<Value> {
        super::store::events(&self.state())
    }

    /// The events of one type.
    pub(crate) fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// `phase status --json` parsed.
    pub(crate) fn status_json(&self) -> Value {
        let (code, out, err) = self.run(&["status", "--json"], Duration::from_secs(20));
        assert!(code == 0 || code == 1, "status failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
    }
}
