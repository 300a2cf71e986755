//! The scheduler: reads only what is due from the store's due index, fires it through
//! the engine, and queues the messages — index removal, record update and queueing in
//! one transaction, flushed before the sender is woken, so a restart never fires an
//! occurrence twice. One task; it sleeps until the next due time, a change, or shutdown.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Notify, watch};

use crate::app::App;
use crate::clock::Clock;
use crate::engine::{Change, Outcome, Stored};
use crate::pseudonym;
use crate::staff;
use crate::store::{DueEntry, Outgoing, Priority, Store, StoreError};
use crate::user::UserKey;

/// How many due entries one pass reads at a time.
const BATCH: usize = 1024;
/// The longest the loop sleeps without looking again (the clock may jump: manual clocks,
/// suspended laptops, NTP).
const MAX_SLEEP: StdDuration = StdDuration::from_secs(30);

pub struct Scheduler {
    app: Arc<App>,
    store: Store,
}

/// What one wake did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    pub fired: usize,
    pub queued: usize,
    /// Due entries that could not be fired (logged); they are retried after a pause.
    pub failed: usize,
}

impl Scheduler {
    pub fn new(app: Arc<App>, store: Store) -> Self {
        Self { app, store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Fires everything due at `now`, then flushes. One person's failure is logged and
    /// the rest go on.
    pub fn run_due(&self, now: DateTime<Utc>) -> Result<Wake, StoreError> {
        let mut wake = Wake::default();
        loop {
            let entries = self.store.due_until(now, BATCH)?;
            if entries.is_empty() {
                break;
            }
            let mut progressed = false;
            for entry in &entries {
                match self.fire(entry, now) {
                    Ok(queued) => {
                        wake.fired += 1;
                        wake.queued += queued;
                        progressed = true;
                    }
                    Err(e) => {
                        wake.failed += 1;
                        let tag = match self.store.due_person(entry) {
                            Ok(Some(user)) => pseudonym::tag(&self.store.log_salt(), &user),
                            _ => "unknown".into(),
                        };
                        tracing::error!(user = %tag, error = %e, "cannot fire a scheduled message");
                    }
                }
            }
            if !progressed {
                break; // every entry failed: try again on the next wake, don't spin
            }
        }
        wake.queued += staff::alerts::post_alerts(self.app.engine(), &self.store, now)?;
        if wake.fired > 0 {
            self.store.flush()?;
        }
        Ok(wake)
    }

    /// Fires one due entry; returns how many messages it queued.
    pub fn fire(&self, entry: &DueEntry, now: DateTime<Utc>) -> Result<usize, StoreError> {
        crate::telemetry::scheduler_lag((now - entry.at).as_seconds_f64());
        let Some(user) = self.store.due_person(entry)? else {
            // A record that cannot be read (its key is damaged): nothing to fire, and the
            // person is told what happened when they next write.
            tracing::error!("dropping a due entry whose record cannot be read");
            self.store.remove_due(entry)?;
            return Ok(0);
        };
        let _person = self.store.lock_user(&user);
        let stored = self.store.load(&user)?;
        let cancelled = match &stored {
            Stored::Found(record) => match record.program.as_deref() {
                Some(program) => self.store.staff_cancellations(program)?,
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        let outcome = self.app.engine().fire(
            &stored,
            user.channel,
            (entry.tag, entry.at),
            &cancelled,
            now,
        );
        if let (Stored::Found(old), Change::Save { record, .. }) = (&stored, &outcome.change) {
            let alerts = staff::alerts::new_alerts(&user, Some(old), record, None);
            if !alerts.is_empty() {
                self.store.add_alerts(alerts)?;
            }
        }
        self.commit(&user, outcome, Some(entry))
    }

    /// Sessions cancelled in the configuration after people were reminded of them: tell
    /// those people now. Each cancelled date is announced once (remembered in the store).
    pub fn announce_cancellations(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut queued = 0;
        for program in &self.app.engine().settings().schedules.programs {
            for date in &program.cancelled {
                let marker = format!("cancel:{}:{date}", program.id);
                if self.store.meta_flag(&marker)? {
                    continue;
                }
                let starts = program.sessions_on(*date);
                if starts.iter().all(|s| *s <= now) {
                    continue; // in the past: nothing to tell, nothing to remember
                }
                for user in self.store.members(&program.id)? {
                    let _person = self.store.lock_user(&user);
                    let stored = self.store.load(&user)?;
                    for start in &starts {
                        let outcome = self
                            .app
                            .engine()
                            .announce_cancellation(&stored, *start, now);
                        queued += self.commit(&user, outcome, None)?;
                    }
                }
                self.store.set_meta_flag(&marker)?;
            }
        }
        if queued > 0 {
            self.store.flush()?;
        }
        Ok(queued)
    }

    fn commit(
        &self,
        user: &UserKey,
        outcome: Outcome,
        entry: Option<&DueEntry>,
    ) -> Result<usize, StoreError> {
        let outgoing: Vec<Outgoing> = outcome
            .replies
            .into_iter()
            .map(|reply| Outgoing::new(user.clone(), reply, Priority::Scheduled))
            .collect();
        match outcome.change {
            Change::Save { record, durable } => {
                self.store.save_with(user, &record, &outgoing, durable)?;
                Ok(outgoing.len())
            }
            // Nothing to fire (the person was forgotten or re-planned): drop the entry.
            Change::Keep | Change::Forget => {
                if let Some(entry) = entry {
                    self.store.remove_due(entry)?;
                }
                Ok(0)
            }
        }
    }

    /// The scheduler task: wakes at the next due time, when `changed` is notified, or
    /// every [`MAX_SLEEP`]; wakes `sender` after queueing; stops on `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        clock: Arc<dyn Clock>,
        changed: Arc<Notify>,
        sender: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let this = self.clone();
        let now = clock.now();
        match tokio::task::spawn_blocking(move || this.announce_cancellations(now)).await {
            Ok(Ok(n)) if n > 0 => sender.notify_one(),
            Ok(Err(e)) => tracing::error!(error = %e, "cannot announce cancelled sessions"),
            _ => {}
        }
        loop {
            let this = self.clone();
            let now = clock.now();
            let result = tokio::task::spawn_blocking(move || {
                let wake = this.run_due(now)?;
                Ok::<_, StoreError>((wake, this.store.next_due()?))
            })
            .await;
            let next = match result {
                // Something due keeps failing (a full disk): wait before trying again,
                // rather than retrying at once because it is still due.
                Ok(Ok((wake, _))) if wake.failed > 0 && wake.fired == 0 => None,
                Ok(Ok((wake, next))) => {
                    if wake.queued > 0 {
                        sender.notify_one();
                    }
                    if wake.fired > 0 {
                        tracing::info!(fired = wake.fired, queued = wake.queued, "scheduler wake");
                    }
                    next
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "scheduler pass failed; retrying shortly");
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduler pass panicked; retrying shortly");
                    None
                }
            };
            let sleep = next
                .map(|at| (at - clock.now()).max(Duration::zero()))
                .and_then(|d| d.to_std().ok())
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = changed.notified() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!("scheduler stopped");
    }
}
