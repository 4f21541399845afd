//! One pass over the tracked jobs: ids found for jobs that have none, every live job asked
//! about in ONE `squeue` call, timeouts enforced by `scancel`, and each ended job's final
//! state read once and turned into a report.

use std::time::Instant;

use super::super::classify::{Evidence, classify};
use super::super::parse::{JobEnd, QueueEntry, is_final};
use super::{Key, NAME_LOOKUP_WINDOW, RECORD_GRACE, SlurmBackend, SlurmEvent, SlurmFinished};
use crate::store::{self, CancelReason, Claim, Fence};

impl SlurmBackend {
    /// Looks at every tracked job once and returns what changed. A cluster that does not
    /// answer (slurmctld restarting) changes nothing: jobs survive it, and the next pass
    /// asks again.
    pub fn poll(&mut self) -> Vec<SlurmEvent> {
        let mut events = Vec::new();
        self.find_missing_ids(&mut events);
        let ids: Vec<String> = self
            .jobs
            .values()
            .filter_map(|t| t.record.job_id.clone())
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let queue = match self.client.queue_by_ids(&refs) {
            Ok(queue) => queue,
            Err(e) => {
                tracing::warn!("cannot poll the Slurm jobs: {e}");
                return events;
            }
        };
        let keys: Vec<Key> = self.jobs.keys().cloned().collect();
        for key in keys {
            let Some(id) = self.jobs.get(&key).and_then(|t| t.record.job_id.clone()) else {
                continue;
            };
            let entry = queue.iter().find(|e| e.id == id);
            match entry {
                Some(e) if !is_final(&e.state) => self.on_live(&key, e, &mut events),
                _ => self.on_ended(&key, &id, entry, &mut events),
            }
        }
        events
    }

    /// Jobs without a recorded id: looked for by their unique name, until the window since
    /// their submission passes (then they were never submitted).
    fn find_missing_ids(&mut self, events: &mut Vec<SlurmEvent>) {
        let keys: Vec<Key> = self
            .jobs
            .iter()
            .filter(|(_, t)| t.record.job_id.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(tracked) = self.jobs.get(&key) else {
                continue;
            };
            let found = match tracked.rejected {
                true => Ok(Vec::new()),
                false => self.client.queue_by_name(&tracked.record.job_name),
            };
            match found {
                Ok(entries) if !entries.is_empty() => {
                    let id = entries[0].id.clone();
                    if let Some(t) = self.jobs.get_mut(&key) {
                        t.record.job_id = Some(id);
                        if let Err(e) = store::write_cluster_job(&self.state, &t.record) {
                            tracing::warn!("{e}");
                        }
                    }
                }
                Ok(_) if tracked.rejected || window_passed(&tracked.record.submitted_at) => {
                    self.finish(&key, None, events);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot look for job {}: {e}", tracked.record.job_name),
            }
        }
    }

    /// A job still queued or running: report its start, enforce its timeout.
    fn on_live(&mut self, key: &Key, entry: &QueueEntry, events: &mut Vec<SlurmEvent>) {
        let fence = match self.jobs.get(key) {
            Some(t) if !t.started_reported && entry.state != "PENDING" => self.fence_of(key),
            _ => None,
        };
        let Some(tracked) = self.jobs.get_mut(key) else {
            return;
        };
        tracked.state = Some(entry.state.clone());
        if let Some(fence) = fence {
            tracked.started_reported = true;
            tracked.deadline = fence.deadline.as_deref().and_then(|d| d.parse().ok());
            events.push(SlurmEvent::Started {
                task: key.0.clone(),
                attempt: key.1,
                job_id: entry.id.clone(),
                started_at: fence.started_at,
            });
        }
        let overdue = tracked
            .deadline
            .is_some_and(|d| jiff::Timestamp::now() >= d);
        let (task, attempt) = key.clone();
        let sent = if overdue && tracked.record.cancel.is_none() {
            self.cancel(&task, attempt, CancelReason::TimedOut)
        } else if tracked.record.cancel.is_some() && !tracked.cancel_sent {
            self.send_cancel(key)
        } else {
            Ok(())
        };
        if let Err(e) = sent {
            tracing::warn!("cannot cancel {task} attempt {attempt} (tried again next pass): {e}");
        }
    }

    /// A job the queue lists as over, or no longer lists: read its final state once.
    fn on_ended(
        &mut self,
        key: &Key,
        id: &str,
        entry: Option<&QueueEntry>,
        events: &mut Vec<SlurmEvent>,
    ) {
        let end = match self.client.job_end(id) {
            Ok(Some(end)) => Some(end),
            // Listed as over but not (yet) readable: the queue's word is enough.
            Ok(None) => entry.map(|e| JobEnd {
                state: e.state.clone(),
                ..JobEnd::default()
            }),
            Err(e) => {
                tracing::warn!("cannot read how Slurm job {id} ended: {e}");
                return;
            }
        };
        self.finish(key, end.as_ref(), events);
    }

    /// Reports the attempt finished, unless its outcome record may still be on its way.
    fn finish(&mut self, key: &Key, end: Option<&JobEnd>, events: &mut Vec<SlurmEvent>) {
        let fence = self.fence_of(key);
        // The claim before the record (docs/ATTEMPTS.md): a wrapper still holding it is
        // alive and writes its record before letting go.
        if fence.is_some() && Claim::is_held(&self.state, &key.0).unwrap_or(false) {
            return;
        }
        let outcome = match store::read_outcome(&self.state, &key.0, key.1) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        };
        let Some(tracked) = self.jobs.get_mut(key) else {
            return;
        };
        if outcome.is_none() && fence.is_some() {
            let since = *tracked.awaiting_record.get_or_insert_with(Instant::now);
            if since.elapsed() < RECORD_GRACE {
                return;
            }
        }
        let Some(tracked) = self.jobs.remove(key) else {
            return;
        };
        let evidence = Evidence {
            job: &tracked.record,
            end,
            outcome: outcome.as_ref(),
            started: fence.is_some(),
        };
        let (finished, note) = classify(&evidence);
        if let (false, Some(f), Some(id)) =
            (tracked.started_reported, &fence, &tracked.record.job_id)
        {
            events.push(SlurmEvent::Started {
                task: key.0.clone(),
                attempt: key.1,
                job_id: id.clone(),
                started_at: f.started_at.clone(),
            });
        }
        events.push(SlurmEvent::Finished(SlurmFinished {
            finished,
            job_id: tracked.record.job_id.clone(),
            slurm_state: end.map(|e| e.state.clone()),
            note,
        }));
        self.reported.insert(key.clone());
    }

    /// The fence, when it names this very attempt: the wrapper started its command.
    fn fence_of(&self, key: &Key) -> Option<Fence> {
        match Fence::read(&self.state, &key.0) {
            Ok(fence) => fence.filter(|f| f.attempt == key.1),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }
}

/// Whether [`NAME_LOOKUP_WINDOW`] has passed since `submitted_at` (wall clock: the
/// submission may be a previous engine's).
fn window_passed(submitted_at: &str) -> bool {
    let Ok(at) = submitted_at.parse::<jiff::Timestamp>() else {
        return true;
    };
    let window = jiff::SignedDuration::try_from(NAME_LOOKUP_WINDOW).unwrap_or_default();
    at.checked_add(window)
        .is_ok_and(|end| jiff::Timestamp::now() >= end)
}
