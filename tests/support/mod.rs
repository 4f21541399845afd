//! End-to-end test support: a project in a temp dir, the real `phase` binary, polling
//! with deadlines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A project directory with `.state/` and `config/coordinator.toml`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A fresh project with the given config (TOML text) and an initialised state dir.
    pub fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("config")).expect("mkdir config");
        std::fs::write(dir.path().join("config/coordinator.toml"), config).expect("config");
        let p = Project { dir };
        let out = p.cmd().arg("init").output().expect("phase init");
        assert!(out.status.success(), "init failed: {out:?}");
        p
    }

    /// Replaces the config file.
    pub fn set_config(&self, text: &str) {
        std::fs::write(self.root().join("config/coordinator.toml"), text).expect("config");
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.root().join(".state")
    }

    /// `phase --state-dir … --config …` ready for more arguments.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phase"));
        c.current_dir(self.root())
            .arg("--state-dir")
            .arg(self.state())
            .arg("--config")
            .arg(self.root().join("config/coordinator.toml"))
            .env_remove("PHASE_STATE_DIR")
            .env_remove("PHASE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Runs `phase ARGS` to completion with a deadline; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], limit: Duration) -> (i32, String, String) {
        let child = self
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phase");
        let out = wait_output(child, limit, &format!("phase {}", args.join(" ")));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `phase ARGS` in the background; stderr goes to `<root>/<name>.stderr`.
    pub fn spawn(&self, args: &[&str], name: &str) -> Child {
        let err =
            std::fs::File::create(self.root().join(format!("{name}.stderr"))).expect("stderr file");
        self.cmd()
            .args(args)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn phase")
    }

    pub fn stderr_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.root().join(format!("{name}.stderr"))).unwrap_or_default()
    }

    /// Writes a task file straight into the inbox (atomically, by rename).
    pub fn drop_task(&self, id: &str, task: Value) {
        let inbox = self.state().join("inbox");
        let tmp = inbox.join(format!(".{id}.json.part"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&task).expect("json")).expect("write task");
        std::fs::rename(&tmp, inbox.join(format!("{id}.json"))).expect("publish task");
    }

    /// Writes an executable script under `tools/`; returns its absolute path.
    pub fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.root().join("tools");
        std::fs::create_dir_all(&dir).expect("mkdir tools");
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    /// A state file as JSON (`Value::Null` if missing).
    pub fn json(&self, name: &str) -> Value {
        match std::fs::read(self.state().join(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// The result entry of one task.
    pub fn result(&self, id: &str) -> Option<Value> {
        self.json("execution_results.json")["results"]
            .as_array()?
            .iter()
            .find(|r| r["task_id"] == id)
            .cloned()
    }

    pub fn status_of(&self, id: &str) -> Option<String> {
        self.result(id)
            .and_then(|r| r["status"].as_str().map(str::to_string))
    }

    /// Every event in the log.
    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state().join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// `phase status --json` parsed.
    pub fn status_json(&self) -> Value {
        let (code, out, err) = self.run(&["status", "--json"], Duration::from_secs(20));
        assert!(code == 0 || code == 1, "status failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes (then panics with `what`).
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child with a deadline, killing it (and failing) when it overruns.
pub fn wait_output(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{what} did not finish within {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Validates a state file against its published schema with the library.
pub fn assert_valid_state_files(state: &Path) {
    use phase_coordinator::model::*;
    use phase_coordinator::store::{StateDir, StateFile};
    let dir = StateDir::new(state);
    StateFile::<RoutingDecisions>::new(&dir)
        .read()
        .expect("routing_decisions valid");
    StateFile::<AdapterAssignments>::new(&dir)
        .read()
        .expect("adapter_assignments valid");
    StateFile::<ExecutionResults>::new(&dir)
        .read()
        .expect("execution_results valid");
    StateFile::<ErrorAnalyses>::new(&dir)
        .read()
        .expect("error_analysis valid");
    StateFile::<FixPatches>::new(&dir)
        .read()
        .expect("fix_patches valid");
    StateFile::<Control>::new(&dir)
        .read()
        .expect("control valid");
    let log = std::fs::read_to_string(state.join("events.jsonl")).unwrap_or_default();
    for (i, line) in log.lines().enumerate() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("events line {}: {e}", i + 1));
        phase_coordinator::schema::SchemaName::Event
            .validate(&v)
            .unwrap_or_else(|e| panic!("events line {} invalid: {e:?}", i + 1));
    }
}
