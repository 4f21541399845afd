//! File watching and its polling fallback: wake-ups only, the phases decide.
//!
//! Watches the state directory itself and `inbox/`, both non-recursively, and never a
//! single file: an atomic rename replaces the file's inode and would end a per-file watch.
//! Every change is forwarded as [`Wake::Changed`] (a path relative to the state directory)
//! to the subscribers whose filter matches; a lost-events signal (queue overflow,
//! `need_rescan`) becomes [`Wake::Rescan`] for everyone. Coalescing and the periodic tick
//! are the coordinator's job, not this module's.
//!
//! Opening or reading a file is not a change (inotify reports opens; forwarding them would
//! make every reader of a state file wake every phase, in a loop). Temp files (`.tmp-…`)
//! and `locks/`, `claims/`, `logs/` are never forwarded. If `inbox/` itself is deleted and
//! recreated its watch is gone until the next start; the coordinator's periodic tick still
//! reconciles, so nothing is lost, only latency.
//!
//! [`Wake::Changed`]: crate::phase::Wake::Changed
//! [`Wake::Rescan`]: crate::phase::Wake::Rescan

mod dispatch;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

use crate::phase::Waker;
use crate::store::StateDir;
use crate::{Error, Result};

use dispatch::Dispatch;

/// How to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Poll instead of using OS notifications (network file systems, where inotify sees
    /// only local changes).
    pub poll: bool,
    /// How often the polling watcher scans; unused without `poll`.
    pub poll_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll: false,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Decides which paths (relative to the state directory) concern a subscriber.
pub type PathFilter = Box<dyn Fn(&Path) -> bool + Send + Sync>;

/// One receiver of wake-ups, usually a phase: its filter and its waker.
pub struct Subscriber {
    /// Called with the changed path relative to the state directory, e.g. `inbox/a.json`.
    pub filter: PathFilter,
    /// Where the wake-ups go.
    pub waker: Waker,
}

impl Subscriber {
    /// A subscriber woken for every path `filter` accepts.
    pub fn new(filter: PathFilter, waker: Waker) -> Self {
        Self { filter, waker }
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

/// A running watch. Dropping it stops watching.
#[derive(Debug)]
pub struct Watch {
    _watcher: ActiveWatcher,
}

/// Held only for its `Drop`, which stops the watcher's thread.
#[derive(Debug)]
enum ActiveWatcher {
    Native { _watcher: RecommendedWatcher },
    Poll { _watcher: PollWatcher },
}

impl Watch {
    /// Starts watching `state` (which must exist, with its `inbox/`) and forwarding
    /// wake-ups to `subscribers`.
    pub fn start(
        state: &StateDir,
        options: WatchOptions,
        subscribers: Vec<Subscriber>,
    ) -> Result<Watch> {
        let root = std::path::absolute(state.root())
            .map_err(|e| Error::io(state.root(), "resolve path", e))?;
        let dispatch = Dispatch::new(root.clone(), subscribers);
        let handler = move |event| dispatch.handle(event);
        let dirs = [root.clone(), root.join("inbox")];
        let watcher = if options.poll {
            // Polling compares contents: mtimes may be truncated to seconds (notify 8.x),
            // and two writes within one second must still be seen.
            let config = notify::Config::default()
                .with_poll_interval(options.poll_interval)
                .with_compare_contents(true);
            let mut w = PollWatcher::new(handler, config).map_err(|e| watch_error(&root, e))?;
            watch_dirs(&mut w, &dirs)?;
            ActiveWatcher::Poll { _watcher: w }
        } else {
            let mut w = RecommendedWatcher::new(handler, notify::Config::default())
                .map_err(|e| watch_error(&root, e))?;
            watch_dirs(&mut w, &dirs)?;
            ActiveWatcher::Native { _watcher: w }
        };
        Ok(Watch { _watcher: watcher })
    }
}

fn watch_dirs(watcher: &mut impl Watcher, dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(dir, e))?;
    }
    Ok(())
}

fn watch_error(path: &Path, e: notify::Error) -> Error {
    let source = match e.kind {
        notify::ErrorKind::Io(io) => io,
        notify::ErrorKind::MaxFilesWatch => io::Error::other(
            "the inotify watch limit is reached (fs.inotify.max_user_watches); \
             raise it or set [state] poll = true",
        ),
        notify::ErrorKind::PathNotFound => {
            io::Error::new(io::ErrorKind::NotFound, "directory not found")
        }
        other => io::Error::other(format!("{other:?}")),
    };
    Error::io(path, "watch", source)
}
