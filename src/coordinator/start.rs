//! Starting the phases of one process and stopping them: a thread per phase, its presence
//! file, the watcher that wakes them.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::phase_loop::{self, LoopTiming, Report};
use super::{PhaseName, RunOptions};
use crate::Result;
use crate::config::Config;
use crate::events::EventLog;
use crate::executor::Executor;
use crate::phase::{Phase, Wake};
use crate::recovery::Recovery;
use crate::router::Router;
use crate::store::{Presence, StateDir};
use crate::watch::{Subscriber, Watch, WatchOptions};

/// The running phases of this process.
pub(super) struct Phases {
    /// What the phases report after each pass.
    pub(super) reports: Receiver<Report>,
    presences: Vec<Presence>,
    wakers: Vec<Sender<Wake>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    watch: Watch,
}

impl Phases {
    /// Starts `names`, each in its own thread, registered as present, woken by one watcher.
    pub(super) fn start(
        state: &StateDir,
        config: &Arc<Config>,
        options: &RunOptions,
        names: &[PhaseName],
        events: &EventLog,
    ) -> Result<Phases> {
        let mut presences = Vec::new();
        let (report_tx, reports) = crossbeam_channel::unbounded::<Report>();
        let timing = LoopTiming::from_config(config);
        let mut wakers = Vec::new();
        let mut subscribers = Vec::new();
        let mut threads = Vec::new();
        for name in names {
            let phase = make(*name, state, config, options, events);
            presences.push(Presence::register(state, name.as_str())?);
            let (tx, rx) = crossbeam_channel::unbounded::<Wake>();
            // A phase is woken only by the changes it cares about: an idle thread is not
            // woken (and its channel not spun) for every file another phase writes.
            subscribers.push(Subscriber::new(Box::new(phase.wakes_on()), tx.clone()));
            wakers.push(tx.clone());
            threads.push(phase_loop::spawn(phase, rx, tx, report_tx.clone(), timing)?);
        }
        drop(report_tx);
        let watch = Watch::start(
            state,
            WatchOptions {
                poll: options.poll || config.state.poll,
                poll_interval: Duration::from_millis(config.state.poll_interval_ms.max(10)),
            },
            subscribers,
        )?;
        Ok(Phases {
            reports,
            presences,
            wakers,
            threads,
            watch,
        })
    }

    /// Tells every phase to shut down, waits for their threads and stops the watcher. The
    /// presences are returned: they are dropped once the run's end is decided.
    pub(super) fn stop(self) -> Vec<Presence> {
        for waker in &self.wakers {
            let _ = waker.send(Wake::Shutdown);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
        drop(self.watch);
        self.presences
    }
}

/// The phase called `name`.
fn make(
    name: PhaseName,
    state: &StateDir,
    config: &Arc<Config>,
    options: &RunOptions,
    events: &EventLog,
) -> Box<dyn Phase> {
    match name {
        PhaseName::Router => Box::new(Router::new(state.clone(), config.clone(), events.clone())),
        PhaseName::Executor => {
            Box::new(Executor::new(state.clone(), config.clone(), events.clone()))
        }
        PhaseName::Recovery => Box::new(
            Recovery::new(state.clone(), config.clone(), events.clone())
                .with_config_file(options.config_file.as_deref()),
        ),
    }
}
