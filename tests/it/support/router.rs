//! In-process router bench: a real state directory in a temp dir, the router driven
//! in-process, reconciled until idle with a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use phase_coordinator::config::Config;
use phase_coordinator::events::EventLog;
use phase_coordinator::model::{Event, EventType, RoutingDecisions};
use phase_coordinator::phase::{Outcome, Phase, Wake};
use phase_coordinator::router::Router;
use phase_coordinator::store::StateDir;
use serde_json::Value;

use super::store;
use super::wait::wait_until;

/// How long any wait in these tests may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// A state directory with a router on it.
pub(crate) struct Bench {
    /// The project root (owned: removed on drop).
    pub dir: tempfile::TempDir,
    /// The state directory.
    pub state: StateDir,
    /// The router under test.
    pub router: Router,
    /// Its wake-ups.
    pub wakes: Receiver<Wake>,
}

impl Bench {
    /// A router with `config` (TOML text).
    pub(crate) fn new(config: &str) -> Bench {
        let (dir, state) = store::temp_state();
        let mut bench = Bench {
            router: make_router(&state, config),
            dir,
            state,
            wakes: unbounded().1,
        };
        bench.start();
        bench
    }

    /// Replaces the router with a new one on the same directory (a restart).
    pub(crate) fn restart(&mut self, config: &str) {
        self.router = make_router(&self.state, config);
        self.start();
    }

    fn start(&mut self) {
        let (tx, rx) = unbounded();
        self.router.start(tx).expect("start");
        self.wakes = rx;
    }

    /// The state directory's path.
    pub(crate) fn root(&self) -> &Path {
        self.state.root()
    }

    /// A path in the state directory.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// One reconcile pass.
    pub(crate) fn reconcile(&mut self) -> Outcome {
        self.router.reconcile().expect("reconcile")
    }

    /// Reconciles until the router reports idle.
    pub(crate) fn until_idle(&mut self) -> Outcome {
        wait_until("the router to be idle", DEADLINE, || {
            let outcome = self.reconcile();
            outcome.idle.then_some(outcome)
        })
    }

    /// Publishes a task file the recommended way: write a hidden temp file, rename it in.
    pub(crate) fn publish(&self, name: &str, content: &str) {
        let tmp = self.path(&format!("inbox/.{name}.tmp"));
        std::fs::write(&tmp, content).expect("write temp");
        std::fs::rename(&tmp, self.path(&format!("inbox/{name}"))).expect("rename");
    }

    /// `routing_decisions.json`, parsed.
    pub(crate) fn decisions(&self) -> RoutingDecisions {
        let text = std::fs::read_to_string(self.path("routing_decisions.json"))
            .expect("routing_decisions.json");
        serde_json::from_str(&text).expect("routing_decisions.json parses")
    }

    /// Any JSON file in the state directory.
    pub(crate) fn json(&self, rel: &str) -> Value {
        let text = std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every event logged so far; each line must be an event.
    pub(crate) fn events(&self) -> Vec<Event> {
        let text = std::fs::read_to_string(self.path("events.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event {l}: {e}")))
            .collect()
    }

    /// The events of one type.
    pub(crate) fn events_of(&self, kind: EventType) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// File names in a sub-directory, sorted.
    pub(crate) fn ls(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(rel))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn make_router(state: &StateDir, config: &str) -> Router {
    let config = Config::parse(Path::new("coordinator.toml"), config).expect("config parses");
    let events = EventLog::new(state, "run-test");
    Router::new(state.clone(), Arc::new(config), events)
}
