//! Attempts this executor does not run but must account for: `running` results of other
//! executors (alive, or dead with their runner still holding the claim), and attempts a
//! fence names that the results file does not have yet (an engine died between `started`
//! and its results write; a runner refused a `run` as busy or started). Each is looked at
//! every [`SWEEP_INTERVAL`] until it is recorded (docs/ATTEMPTS.md, "What a restarted
//! engine must do").

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Between two looks at the same foreign attempts (each look takes a lock per task).
pub(in crate::executor) const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// One watched task.
#[derive(Debug, Default)]
pub(in crate::executor) struct Watched {
    /// Watched because the results file shows it `running` (dropped once it does not);
    /// otherwise because of its fence (kept until settled).
    pub(in crate::executor) from_results: bool,
    /// `cancel` requests for its attempt: carried out by signalling the fence's group
    /// when its engine is gone, recorded once its outcome is.
    pub(in crate::executor) cancel_requests: Vec<String>,
    /// When SIGTERM went to its group; SIGKILL follows after the kill grace.
    pub(in crate::executor) term_sent: Option<Instant>,
}

/// The watched tasks and when to look at them next.
#[derive(Debug)]
pub(in crate::executor) struct ForeignWatch {
    tasks: HashMap<String, Watched>,
    sweep_at: Instant,
}

impl Default for ForeignWatch {
    fn default() -> Self {
        ForeignWatch {
            tasks: HashMap::new(),
            sweep_at: Instant::now(),
        }
    }
}

impl ForeignWatch {
    /// Watches `id` because of its fence, looked at `at` at the latest.
    pub(in crate::executor) fn watch(&mut self, id: &str, at: Instant) {
        self.tasks.entry(id.to_string()).or_default().from_results = false;
        self.sweep_at = self.sweep_at.min(at);
    }

    /// The tasks the results file shows `running` and this process does not run: watched
    /// from now on; those watched only for that and no longer `running` are dropped.
    pub(in crate::executor) fn set_running(&mut self, ids: Vec<String>) {
        let running: std::collections::HashSet<&String> = ids.iter().collect();
        self.tasks
            .retain(|id, w| !w.from_results || running.contains(id));
        for id in &ids {
            if !self.tasks.contains_key(id) {
                self.tasks.insert(
                    id.clone(),
                    Watched {
                        from_results: true,
                        ..Watched::default()
                    },
                );
                self.sweep_at = Instant::now();
            }
        }
    }

    /// Whether `id` is watched (so it is not started here meanwhile).
    pub(in crate::executor) fn contains(&self, id: &str) -> bool {
        self.tasks.contains_key(id)
    }

    /// Stops watching `id`; what was known of it.
    pub(in crate::executor) fn forget(&mut self, id: &str) -> Option<Watched> {
        self.tasks.remove(id)
    }

    /// `id` as watched.
    pub(in crate::executor) fn get_mut(&mut self, id: &str) -> Option<&mut Watched> {
        self.tasks.get_mut(id)
    }

    /// A `cancel` request for the attempt of `id`, which runs elsewhere; watched from now
    /// on if it was not. `false` if it was known already.
    pub(in crate::executor) fn cancel(&mut self, id: &str, request_id: &str) -> bool {
        let w = self.tasks.entry(id.to_string()).or_insert_with(|| Watched {
            from_results: true,
            ..Watched::default()
        });
        if w.cancel_requests.iter().any(|r| r == request_id) {
            return false;
        }
        w.cancel_requests.push(request_id.to_string());
        self.sweep_at = Instant::now();
        true
    }

    /// Whether `request_id` was taken on for `id` and waits for its outcome.
    pub(in crate::executor) fn is_canceling(&self, id: &str, request_id: &str) -> bool {
        self.tasks
            .get(id)
            .is_some_and(|w| w.cancel_requests.iter().any(|r| r == request_id))
    }

    /// The tasks to look at now, if a look is due.
    pub(in crate::executor) fn due(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.tasks.is_empty() || now < self.sweep_at {
            return None;
        }
        self.sweep_at = now + SWEEP_INTERVAL;
        Some(self.tasks.keys().cloned().collect())
    }

    /// Looks at every task at the next pass.
    pub(in crate::executor) fn look_now(&mut self) {
        self.sweep_at = Instant::now();
    }

    /// When the next look is due, if anything is watched.
    pub(in crate::executor) fn next_sweep(&self) -> Option<Instant> {
        (!self.tasks.is_empty()).then_some(self.sweep_at)
    }

    /// Whether nothing is watched.
    pub(in crate::executor) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Whether the engine that started an attempt is gone, by the runner id in its fence:
/// ours are `host:pid` of the executor. Only an engine on this host can be judged; any
/// other id (another host, a cluster job, a runner started by hand) counts as alive, and
/// its attempt is left to its own runner, which enforces timeouts by itself.
pub(in crate::executor) fn engine_gone(runner: &str, own_id: &str) -> bool {
    if runner == own_id {
        // Our id, but not an attempt we run: a former engine with our pid.
        return true;
    }
    let (Some((host, pid)), Some((own_host, _))) =
        (runner.rsplit_once(':'), own_id.rsplit_once(':'))
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == own_host && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_watches_outlive_the_results_and_results_watches_do_not() {
        let mut w = ForeignWatch::default();
        w.watch("fenced", Instant::now());
        w.set_running(vec!["a".into(), "b".into()]);
        w.set_running(vec!["b".into()]);
        assert!(w.contains("fenced") && w.contains("b") && !w.contains("a"));
        assert!(w.cancel("b", "r1") && !w.cancel("b", "r1"));
        assert!(w.is_canceling("b", "r1"));
        let mut due = w.due(Instant::now()).expect("due");
        due.sort();
        assert_eq!(due, vec!["b".to_string(), "fenced".to_string()]);
        assert!(
            w.due(Instant::now()).is_none(),
            "not again before the interval"
        );
    }

    #[test]
    fn only_an_engine_on_this_host_that_no_longer_exists_is_gone() {
        let own = format!("h:{}", std::process::id());
        assert!(engine_gone(&own, &own));
        assert!(!engine_gone(&format!("h:{}", std::process::id()), "h:1"));
        assert!(engine_gone(&format!("h:{}", u32::MAX - 1), &own));
        assert!(!engine_gone(&format!("other:{}", u32::MAX - 1), &own));
        assert!(!engine_gone("runner-12@h", &own));
        assert!(!engine_gone("slurm-77@node3", &own));
    }
}
