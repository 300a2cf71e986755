//! What every live channel shares in `waypoint run`: one scheduler, one outbox sender per
//! channel, and shutdown in two steps — the channels stop taking messages and finish
//! the ones in hand, then the scheduler and senders stop (what is still queued waits in
//! the store for the next start).

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::app::App;
use crate::clock::Clock;
use crate::delivery::{Limits, Scheduler, Sender, Transport};
use crate::store::Store;

pub struct Hub {
    pub app: Arc<App>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Wakes the scheduler: someone's schedule may have changed.
    pub changed: Arc<Notify>,
    /// Each sender's wake-up; the scheduler's "queued" reaches all of them.
    wakes: Vec<Arc<Notify>>,
    /// Set when a signal (or a failing channel) asks everything to stop taking messages.
    signal: Arc<watch::Sender<bool>>,
    /// Set once the channels have stopped: then the scheduler and senders stop.
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Hub {
    pub fn new(app: Arc<App>, store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            app,
            store,
            clock,
            changed: Arc::new(Notify::new()),
            wakes: Vec::new(),
            signal: Arc::new(watch::channel(false).0),
            stop: watch::channel(false).0,
            tasks: JoinSet::new(),
        }
    }

    /// Starts a sender for `transport`'s channel; returns the notify that wakes it.
    pub fn add_sender<T: Transport>(&mut self, transport: Arc<T>, limits: Limits) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let sender = Sender::new(self.store.clone(), self.app.clone(), transport, limits)
            .with_clock(self.clock.clone());
        let (w, stop) = (wake.clone(), self.stop.subscribe());
        self.tasks.spawn(async move {
            let stats = sender.run(w, stop).await;
            tracing::info!(sent = stats.sent, "sender stopped");
        });
        self.wakes.push(wake.clone());
        wake
    }

    /// Starts the scheduler, once every sender is added.
    pub fn start_scheduler(&mut self) {
        let scheduler = Arc::new(Scheduler::new(self.app.clone(), self.store.clone()));
        let queued = Arc::new(Notify::new());
        self.tasks.spawn(scheduler.run(
            self.clock.clone(),
            self.changed.clone(),
            queued.clone(),
            self.stop.subscribe(),
        ));
        // The scheduler queues for every channel: wake every sender.
        let wakes = self.wakes.clone();
        let mut stop = self.stop.subscribe();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = queued.notified() => wakes.iter().for_each(|w| w.notify_one()),
                    _ = stop.changed() => break,
                }
            }
        });
    }

    /// Changes to `true` when the channels should stop taking messages.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.signal.subscribe()
    }

    /// Sending `true` asks every channel to stop (a signal arrived, or one failed).
    pub fn trigger(&self) -> Arc<watch::Sender<bool>> {
        self.signal.clone()
    }

    /// After the channels have returned: stops the scheduler and the senders and waits
    /// for them.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a background task failed");
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight work"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: finishing in-flight work"),
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("Ctrl-C: finishing in-flight work");
}
