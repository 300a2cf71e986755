//! The sender: drains the outbox through a channel's [`Transport`], keeping to the
//! channel's limits (Telegram: 30 messages a second overall, one a second per chat),
//! crisis replies first.
//!
//! Fairness: the outbox keeps one queue per priority and person, and the sender looks at
//! the heads of those queues, round-robin from the person it served last at that
//! priority. A person whose queue is long (a flood of messages) or who must wait (the
//! per-chat gap, a backoff) is one head to step over, so nobody's backlog delays anybody
//! else, and each person's own messages still go in order.
//!
//! A message leaves the outbox only once it was sent or can never be: so a restart loses
//! nothing. After a crash, the messages in flight are sent again, and so are those whose
//! removal had not reached the disk: removals are flushed at most [`FLUSH_EVERY`] apart
//! (sled alone would wait up to half a second), so that is a few at Telegram's rate. A 429 pauses
//! every send for its `retry_after`; network errors and 5xx back off and retry; a person
//! who blocked the bot is marked unreachable and their queue dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::engine::Reply;
use crate::store::{OutboxKey, Outgoing, Priority, Recipient, Store};
use crate::telemetry;
use crate::user::{Channel, UserKey};

/// Why a send failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("rate limited: retry after {0:?}")]
    RetryAfter(Duration),
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("the person blocked the bot or no longer exists")]
    Unreachable,
    #[error("refused: {0}")]
    Permanent(String),
}

/// A channel's way of sending one reply.
pub trait Transport: Send + Sync + 'static {
    /// The people this transport can reach; other outbox entries are left alone.
    fn channel(&self) -> Channel;
    /// Group chats take fewer messages a minute than private ones.
    fn is_group(&self, to: &UserKey) -> bool {
        let _ = to;
        false
    }
    fn send(
        &self,
        to: &UserKey,
        reply: &Reply,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
    /// Sends a PNG with a caption. Channels without pictures refuse it.
    fn send_photo(
        &self,
        to: &UserKey,
        png: &[u8],
        caption: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send {
        let _ = (to, png, caption);
        async {
            Err(SendError::Permanent(
                "this channel cannot send pictures".into(),
            ))
        }
    }
}

/// Rate limits and retry policy.
#[derive(Debug, Clone)]
pub struct Limits {
    /// At most this many sends start in any `window`.
    pub per_window: usize,
    /// Telegram's "per second", with a margin for the network's jitter.
    pub window: Duration,
    /// At least this long between two sends to one chat.
    pub per_chat: Duration,
    /// At least this long between two sends to one group (Telegram: 20 a minute).
    pub per_group: Duration,
    pub max_in_flight: usize,
    /// Attempts before a message that keeps failing temporarily is given up.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_window: 30,
            window: Duration::from_millis(1030),
            per_chat: Duration::from_millis(1010),
            per_group: Duration::from_millis(3050),
            max_in_flight: 8,
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Counters for benchmarks, tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SenderStats {
    pub sent: u64,
    pub retried_after_429: u64,
    pub transient_failures: u64,
    pub unreachable: u64,
    pub given_up: u64,
}

pub struct Sender<T: Transport> {
    store: Store,
    app: Arc<App>,
    transport: Arc<T>,
    limits: Limits,
    /// For backoff deadlines, which are stored with the message and outlive a restart
    /// (the rate limits use the monotonic clock).
    clock: Arc<dyn Clock>,
}

type Done = (OutboxKey, Outgoing, Result<(), SendError>);

/// The sender's working state: what is in flight, recent sends, pauses.
#[derive(Default)]
struct Flight {
    stats: SenderStats,
    /// When recent sends started, for the overall window.
    starts: VecDeque<Instant>,
    /// When each recently served chat may next be sent to (its per-chat gap).
    next_for: HashMap<Recipient, Instant>,
    in_flight: HashSet<OutboxKey>,
    /// Chats with a send in flight: one at a time per chat keeps their order.
    busy: HashSet<Recipient>,
    /// Entries known to be backing off, and until when: a queue head in backoff is
    /// stepped over without opening it again on every look.
    held: HashMap<OutboxKey, Instant>,
    /// Whom each priority served last; the next look at that priority starts after them.
    cursor: [Option<Recipient>; 3],
    /// Set by a 429: nothing is sent before then.
    paused_until: Option<Instant>,
    /// The next send's slot on the even grid (`window / per_window` apart).
    next_slot: Option<Instant>,
    tasks: JoinSet<Done>,
    /// Removals not yet flushed, and when the last flush started.
    unflushed: bool,
    last_flush: Option<Instant>,
    flushing: Option<tokio::task::JoinHandle<()>>,
}

/// How far apart the sender flushes removals: the window in which a crash can make a
/// sent message go out again.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

impl<T: Transport> Sender<T> {
    pub fn new(store: Store, app: Arc<App>, transport: Arc<T>, limits: Limits) -> Self {
        Self {
            store,
            app,
            transport,
            limits,
            clock: Arc::new(SystemClock),
        }
    }

    /// The wall clock for backoff deadlines (the system's by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until `shutdown`, then lets in-flight sends finish. `wake` is notified
    /// whenever something is queued.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) -> SenderStats {
        telemetry::channel_started(self.transport.channel());
        let mut st = Flight::default();
        loop {
            while let Some(done) = st.tasks.try_join_next() {
                if let Ok(done) = done {
                    self.settle(done, &mut st);
                }
            }
            self.flush_removals(&mut st);
            if *shutdown.borrow() {
                break;
            }
            let now = Instant::now();
            let window = self.limits.window;
            // Telegram's rate spread evenly over the window (a little over a second), so
            // no second can hold more than the limit even with some network jitter.
            let spacing = window / self.limits.per_window.max(1) as u32;
            while st
                .starts
                .front()
                .is_some_and(|f| now.duration_since(*f) >= window)
            {
                st.starts.pop_front();
            }
            // Evenly spaced, not in bursts: a burst of 30 meets the server's window with no
            // room for the network's jitter.
            let next_slot = st.next_slot.filter(|t| *t > now);
            let gate = if let Some(until) = st.paused_until.filter(|u| *u > now) {
                Some(Some(until))
            } else if st.in_flight.len() >= self.limits.max_in_flight {
                Some(None)
            } else if st.starts.len() >= self.limits.per_window {
                Some(st.starts.front().map(|f| *f + window))
            } else {
                next_slot.map(Some)
            };
            if let Some(until) = gate {
                self.idle(&mut st, &wake, &mut shutdown, until).await;
                continue;
            }
            let (next, wait) = match self.pick(now, &st) {
                Ok(picked) => picked,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox; retrying shortly");
                    (None, Some(now + Duration::from_secs(1)))
                }
            };
            let Some((key, item)) = next else {
                self.idle(&mut st, &wake, &mut shutdown, wait).await;
                continue;
            };
            // The scheduler flushes before it wakes us, so this is rare: a scheduled message
            // queued while we were looking. Sent before it is on disk, a crash could fire it
            // again; flushing here (not in the send task) keeps the wire timing even.
            if item.priority == Priority::Scheduled && !self.store.is_durable(&key) {
                let store = self.store.clone();
                let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
                if !matches!(flushed, Ok(Ok(()))) {
                    tracing::error!("cannot flush before sending; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
            let now = Instant::now();
            // Slots on a fixed grid, so timer lateness does not add up.
            let slot = st
                .next_slot
                .filter(|slot| now < *slot + spacing)
                .unwrap_or(now);
            st.next_slot = Some(slot + spacing);
            st.starts.push_back(now);
            let gap = if self.transport.is_group(&item.user) {
                self.limits.per_group
            } else {
                self.limits.per_chat
            };
            let who = key.recipient();
            st.next_for.insert(who, now + gap);
            st.cursor[item.priority as usize] = Some(who);
            st.in_flight.insert(key.clone());
            st.busy.insert(who);
            let transport = self.transport.clone();
            tracing::debug!(priority = ?item.priority, attempts = item.attempts, "sending");
            st.tasks.spawn(async move {
                let result = match &item.photo {
                    Some(png) => {
                        transport
                            .send_photo(&item.user, png, &item.reply.text)
                            .await
                    }
                    None => transport.send(&item.user, &item.reply).await,
                };
                (key, item, result)
            });
            if st.next_for.len() > 10_000 {
                st.next_for.retain(|_, t| *t > now);
            }
            if st.held.len() > 10_000 {
                st.held.retain(|_, t| *t > now);
            }
        }
        while let Some(done) = st.tasks.join_next().await {
            if let Ok(done) = done {
                self.settle(done, &mut st);
            }
        }
        st.stats
    }

    /// The next sendable entry: the most urgent priority first, and within it the first
    /// person after the one served last whose queue head may go now (each person's
    /// messages stay in order); or, if none, when the earliest blocked one may go.
    #[allow(clippy::type_complexity)]
    fn pick(
        &self,
        now: Instant,
        st: &Flight,
    ) -> Result<(Option<(OutboxKey, Outgoing)>, Option<Instant>), crate::store::StoreError> {
        let channel = self.transport.channel();
        // A person blocked at one priority is blocked at the lower ones too: their
        // messages go in order.
        let mut blocked: HashSet<Recipient> = HashSet::new();
        let mut wait: Option<Instant> = None;
        let mut earliest = |at: Instant| wait = Some(wait.map_or(at, |w: Instant| w.min(at)));
        let wall = self.clock.now();
        for priority in Priority::ALL {
            let heads = self
                .store
                .outbox_heads(channel, priority, st.cursor[priority as usize]);
            for key in heads {
                let key = key?;
                let who = key.recipient();
                if blocked.contains(&who) {
                    continue;
                }
                if st.in_flight.contains(&key) || st.busy.contains(&who) {
                    blocked.insert(who);
                    continue;
                }
                if let Some(at) = [st.next_for.get(&who), st.held.get(&key)]
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|at| *at > now)
                    .max()
                {
                    earliest(at);
                    blocked.insert(who);
                    continue;
                }
                let Some(item) = self.store.outbox_get(&key)? else {
                    // Gone since the look (sent, dropped): their next one, at once.
                    earliest(now);
                    blocked.insert(who);
                    continue;
                };
                if item.user.channel != channel {
                    blocked.insert(who);
                    continue;
                }
                if let Some(nb) = item.not_before.filter(|nb| *nb > wall) {
                    let delay = (nb - wall).to_std().unwrap_or_default();
                    earliest(now + delay);
                    blocked.insert(who);
                    continue;
                }
                return Ok((Some((key, item)), None));
            }
        }
        Ok((None, wait))
    }

    /// Waits for a send to finish, a wake-up, `until`, or shutdown.
    async fn idle(
        &self,
        st: &mut Flight,
        wake: &Notify,
        shutdown: &mut watch::Receiver<bool>,
        until: Option<Instant>,
    ) {
        let mut deadline = until.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        // Removals waiting for a flush are not left for sled's own half-second timer.
        if st.unflushed {
            // (A flush still running is waited for in steps, not spun on.)
            let soonest = Instant::now() + Duration::from_millis(20);
            let due = st
                .last_flush
                .map_or(soonest, |t| (t + FLUSH_EVERY).max(soonest));
            deadline = deadline.min(due);
        }
        tokio::select! {
            Some(done) = st.tasks.join_next(), if !st.tasks.is_empty() => {
                if let Ok(done) = done {
                    self.settle(done, st);
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    }

    /// Starts a flush of sent messages' removals, off the async threads, when the last one
    /// is done and [`FLUSH_EVERY`] has passed.
    fn flush_removals(&self, st: &mut Flight) {
        if !st.unflushed || st.flushing.as_ref().is_some_and(|f| !f.is_finished()) {
            return;
        }
        let now = Instant::now();
        if st
            .last_flush
            .is_some_and(|t| now.duration_since(t) < FLUSH_EVERY)
        {
            return;
        }
        st.unflushed = false;
        st.last_flush = Some(now);
        let store = self.store.clone();
        st.flushing = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "cannot flush sent messages' removals");
            }
        }));
    }

    /// A staff-group post that cannot be delivered: its alerts wait to be posted again
    /// (after a pause), rather than being lost with the message.
    fn staff_post_failed(
        &self,
        key: &OutboxKey,
        item: &Outgoing,
        why: &str,
    ) -> Result<(), crate::store::StoreError> {
        tracing::error!(
            alerts = item.alerts.len(),
            "{why}; its alerts will be posted again in {} minutes",
            crate::staff::alerts::POST_PAUSE.num_minutes()
        );
        crate::staff::alerts::post_failed(&self.store, &item.alerts, self.clock.now())?;
        self.store.outbox_remove(key)
    }

    /// Records a finished send's result in the outbox.
    fn settle(&self, (key, mut item, result): Done, st: &mut Flight) {
        st.in_flight.remove(&key);
        st.busy.remove(&key.recipient());
        st.held.remove(&key);
        let channel = self.transport.channel();
        let stats = &mut st.stats;
        let outcome = match result {
            Ok(()) => {
                stats.sent += 1;
                telemetry::message_out(channel);
                st.unflushed = true;
                self.store.outbox_remove(&key)
            }
            Err(SendError::RetryAfter(wait)) => {
                stats.retried_after_429 += 1;
                telemetry::send_error(channel, "rate_limited");
                let until = Instant::now() + wait;
                st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
                tracing::warn!(
                    seconds = wait.as_secs(),
                    "rate limited by the channel; pausing all sends"
                );
                Ok(())
            }
            Err(SendError::Transient(reason)) => {
                stats.transient_failures += 1;
                telemetry::send_error(channel, "transient");
                item.attempts += 1;
                if item.attempts >= self.limits.max_attempts && !item.alerts.is_empty() {
                    stats.given_up += 1;
                    self.staff_post_failed(&key, &item, "an alert post keeps failing")
                } else if item.attempts >= self.limits.max_attempts {
                    stats.given_up += 1;
                    tracing::error!(reason = %reason, attempts = item.attempts, "giving up on a message");
                    self.store.outbox_remove(&key)
                } else {
                    let backoff = self
                        .limits
                        .backoff_base
                        .saturating_mul(1 << (item.attempts - 1).min(16))
                        .min(self.limits.backoff_max);
                    item.not_before = chrono::Duration::from_std(backoff)
                        .ok()
                        .map(|b| self.clock.now() + b);
                    st.held.insert(key.clone(), Instant::now() + backoff);
                    tracing::warn!(reason = %reason, attempts = item.attempts, "send failed; will retry");
                    self.store.outbox_update(&key, &item)
                }
            }
            Err(SendError::Unreachable) if !item.alerts.is_empty() => {
                stats.unreachable += 1;
                telemetry::send_error(channel, "unreachable");
                self.staff_post_failed(&key, &item, "the staff group cannot be reached")
            }
            Err(SendError::Unreachable) => {
                stats.unreachable += 1;
                telemetry::send_error(channel, "unreachable");
                self.app.mark_unreachable(&item.user);
                self.store.outbox_drop_user(&item.user).map(|_| ())
            }
            Err(SendError::Permanent(_)) if !item.alerts.is_empty() => {
                stats.given_up += 1;
                telemetry::send_error(channel, "refused");
                self.staff_post_failed(&key, &item, "the staff group refused an alert post")
            }
            Err(SendError::Permanent(reason)) => {
                stats.given_up += 1;
                telemetry::send_error(channel, "refused");
                tracing::error!(reason = %reason, "the channel refused a message");
                self.store.outbox_remove(&key)
            }
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, "cannot update the outbox");
        }
    }
}
