//! `[[hooks]]`: each configured program gets every event of the types it wants, in `seq`
//! order, at least once across restarts. Its cursor in `hooks.json` (the highest `seq`
//! handled) moves only after the event was delivered (exit 0), is not wanted, or was given
//! up on after the hook's retries — so a crash in between delivers it again. A new hook
//! starts at the end of the log as it is when it is first seen. A hook that fails is
//! logged and retried with a back-off; it never holds up the pipeline (it runs on the
//! reporter's thread, not a phase's).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::feed::{Feed, LoggedEvent};
use super::hook_process;
use crate::Result;
use crate::config::HookConfig;
use crate::model::{HookCursors, now_rfc3339};
use crate::store::{LockWait, StateDir, StateFile};

/// How long a write of `hooks.json` waits for its lock.
const LOCK_WAIT: LockWait = LockWait::AtMost(Duration::from_secs(10));

/// The wait before retrying a hook after its n-th failure in a row: 1 s, 2 s, 4 s …
const BACKOFF: Duration = Duration::from_secs(1);

/// How a pass treats failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// While the engine runs: a failed hook is retried after a back-off, and given up on
    /// after its `retries`.
    Running,
    /// The engine is stopping: one more try of everything pending, also of a hook in
    /// back-off; a failure leaves the event for the next start.
    Last,
}

/// The hooks of one process and where each stands.
#[derive(Debug)]
pub struct HookRunner {
    state: StateDir,
    project_root: PathBuf,
    /// The state directory as an absolute path, for hooks (they run in the project root).
    state_dir: PathBuf,
    run_id: String,
    feed: Feed,
    /// Read events not yet handled by every hook, in `seq` order.
    pending: VecDeque<LoggedEvent>,
    hooks: Vec<Hook>,
}

#[derive(Debug)]
struct Hook {
    config: HookConfig,
    key: String,
    /// Handled up to this `seq`.
    cursor: u64,
    /// The cursor as last written to `hooks.json`.
    saved: u64,
    /// Failures in a row of the next event.
    failures: u32,
    retry_after: Option<Instant>,
}

impl HookRunner {
    /// Loads the cursors; a hook without one starts at the log's end now, recorded at
    /// once so that a crash before its first delivery loses nothing after this point.
    pub fn new(state: &StateDir, hooks: &[HookConfig], run_id: &str) -> Result<HookRunner> {
        let cursors = StateFile::<HookCursors>::new(state).read()?;
        let mut runner = HookRunner {
            state: state.clone(),
            project_root: state.project_root(),
            state_dir: std::path::absolute(state.root())
                .unwrap_or_else(|_| state.root().to_path_buf()),
            run_id: run_id.to_string(),
            feed: Feed::new(state),
            pending: VecDeque::new(),
            hooks: Vec::new(),
        };
        let known: Vec<Option<u64>> = hooks
            .iter()
            .map(|h| cursors.get(&h.key()).map(|c| c.delivered_seq))
            .collect();
        let floor = known.iter().flatten().min().copied().unwrap_or(u64::MAX);
        runner.read_log(floor)?;
        let end = runner.feed.last_seq();
        for (config, cursor) in hooks.iter().zip(known) {
            let saved = cursor.unwrap_or(0);
            runner.hooks.push(Hook {
                key: config.key(),
                config: config.clone(),
                cursor: cursor.unwrap_or(end),
                // A new hook's cursor is unsaved, so the save below records it.
                saved: if cursor.is_some() { saved } else { u64::MAX },
                failures: 0,
                retry_after: None,
            });
        }
        runner.save();
        Ok(runner)
    }

    /// Reads what the log has grown by and gives each hook what it has not handled.
    pub fn pass(&mut self, how: Pass) -> Result<()> {
        let floor = self
            .hooks
            .iter()
            .map(|h| h.cursor)
            .min()
            .unwrap_or(u64::MAX);
        self.read_log(floor)?;
        for i in 0..self.hooks.len() {
            self.deliver(i, how);
        }
        let floor = self
            .hooks
            .iter()
            .map(|h| h.cursor)
            .min()
            .unwrap_or(u64::MAX);
        while self.pending.front().is_some_and(|e| e.seq <= floor) {
            self.pending.pop_front();
        }
        self.save();
        Ok(())
    }

    /// Keeps the events after `floor` from what the log has grown by.
    fn read_log(&mut self, floor: u64) -> Result<()> {
        loop {
            let batch = self.feed.read_new()?;
            if batch.is_empty() {
                return Ok(());
            }
            let last = self.pending.back().map_or(0, |e| e.seq);
            // A log read again from its start repeats what is already here.
            self.pending
                .extend(batch.into_iter().filter(|e| e.seq > floor && e.seq > last));
        }
    }

    /// Gives hook `i` its pending events in order, until one fails.
    fn deliver(&mut self, i: usize, how: Pass) {
        let now = Instant::now();
        let hook = &mut self.hooks[i];
        if how == Pass::Running && hook.retry_after.is_some_and(|t| now < t) {
            return;
        }
        let from = hook.cursor;
        for event in self.pending.iter().filter(|e| e.seq > from) {
            if !hook.config.wants(&event.kind) {
                hook.cursor = event.seq;
                continue;
            }
            match hook_process::run(&hook.config, event, &self.project_root, &self.state_dir) {
                Ok(()) => {
                    hook.cursor = event.seq;
                    hook.failures = 0;
                    hook.retry_after = None;
                    // Recorded at once: a crash now must not deliver it again.
                    save_one(&self.state, &self.run_id, hook);
                }
                Err(why) => {
                    hook.failures += 1;
                    if how == Pass::Running && hook.failures > hook.config.retries {
                        tracing::warn!(
                            hook = %hook.key,
                            seq = event.seq,
                            "hook failed on {} (seq {}), giving up on this event after {} tries: {why}",
                            event.kind,
                            event.seq,
                            hook.failures
                        );
                        hook.cursor = event.seq;
                        hook.failures = 0;
                        hook.retry_after = None;
                        continue;
                    }
                    tracing::warn!(
                        hook = %hook.key,
                        seq = event.seq,
                        "hook failed on {} (seq {}), will try again: {why}",
                        event.kind,
                        event.seq
                    );
                    let wait =
                        BACKOFF * 2u32.saturating_pow(hook.failures.saturating_sub(1).min(6));
                    hook.retry_after = Some(Instant::now() + wait);
                    return;
                }
            }
        }
    }

    /// Writes the cursors that moved.
    fn save(&mut self) {
        if self.hooks.iter().all(|h| h.cursor == h.saved) {
            return;
        }
        let (state, run_id) = (&self.state, &self.run_id);
        match write_cursors(state, run_id, self.hooks.iter()) {
            Ok(()) => self.hooks.iter_mut().for_each(|h| h.saved = h.cursor),
            Err(e) => tracing::warn!("cannot record where the hooks stand: {e}"),
        }
    }
}

fn save_one(state: &StateDir, run_id: &str, hook: &mut Hook) {
    match write_cursors(state, run_id, std::iter::once(&*hook)) {
        Ok(()) => hook.saved = hook.cursor,
        Err(e) => tracing::warn!(hook = %hook.key, "cannot record where the hook stands: {e}"),
    }
}

/// Moves the hooks' cursors in `hooks.json` forward (never back: a cursor another process
/// moved further stays), under its lock.
fn write_cursors<'a>(
    state: &StateDir,
    run_id: &str,
    hooks: impl Iterator<Item = &'a Hook>,
) -> Result<()> {
    let mut file = StateFile::<HookCursors>::new(state);
    let mut locked = file.lock(LOCK_WAIT)?;
    let mut doc = match locked.take_external() {
        Some(doc) => doc,
        None => StateFile::<HookCursors>::new(state).read()?,
    };
    let now = now_rfc3339();
    for h in hooks {
        doc.advance(&h.key, h.cursor, &now);
    }
    locked.commit(&mut doc, run_id)
}
