//! What operators watch: counters and gauges for Prometheus (through the `metrics`
//! facade; nothing is recorded unless `waypoint run` installs the exporter) and the
//! channels' health for `/healthz`.
//!
//! Labels name channels, routes and error kinds — never a person, a number or a text.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::Route;
use crate::user::Channel;

/// One message handled (and, for crisis language, the crisis count).
pub fn message_in(channel: Channel, route: Route) {
    metrics::counter!("waypoint_messages_in_total", "channel" => channel.name(), "route" => route.name())
        .increment(1);
    if route == Route::Crisis {
        metrics::counter!("waypoint_crisis_total", "channel" => channel.name()).increment(1);
    }
}

/// One message delivered to the channel.
pub fn message_out(channel: Channel) {
    metrics::counter!("waypoint_messages_out_total", "channel" => channel.name()).increment(1);
    CHANNELS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(channel.name(), State::Working);
}

/// A send that failed, by kind: `rate_limited`, `transient`, `unreachable`, `refused`.
pub fn send_error(channel: Channel, kind: &'static str) {
    metrics::counter!("waypoint_send_errors_total", "channel" => channel.name(), "kind" => kind)
        .increment(1);
    // A person who blocked the bot, or one refused message, says nothing about the channel.
    if matches!(kind, "rate_limited" | "transient") {
        let mut channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
        let state = channels.entry(channel.name()).or_insert(State::Idle);
        let now = Instant::now();
        *state = match *state {
            State::Failing { since, .. } => State::Failing {
                since,
                last: now,
                kind,
            },
            _ => State::Failing {
                since: now,
                last: now,
                kind,
            },
        };
    }
}

/// How late a scheduled job fired.
pub fn scheduler_lag(seconds: f64) {
    metrics::histogram!("waypoint_scheduler_lag_seconds").record(seconds.max(0.0));
}

pub fn outbox_depth(depth: usize) {
    metrics::gauge!("waypoint_outbox_depth").set(depth as f64);
}

/// A channel that has only failed for this long is unhealthy.
pub const FAILING_FOR: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
enum State {
    /// Started, nothing sent yet.
    Idle,
    Working,
    /// Failing since `since`, most recently at `last`, with nothing sent in between.
    Failing {
        since: Instant,
        last: Instant,
        kind: &'static str,
    },
}

static CHANNELS: Mutex<BTreeMap<&'static str, State>> = Mutex::new(BTreeMap::new());

/// A channel is running (its sender started).
pub fn channel_started(channel: Channel) {
    CHANNELS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(channel.name())
        .or_insert(State::Idle);
}

/// Each running channel's state in words, and whether all are healthy.
pub fn channels_health() -> (BTreeMap<&'static str, String>, bool) {
    let channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    let mut healthy = true;
    let report = channels
        .iter()
        .map(|(name, state)| {
            let text = match state {
                State::Idle => "ok (nothing sent yet)".to_string(),
                State::Working => "ok".to_string(),
                // Failures that stopped long ago (a quiet night after one refused message)
                // are not an outage.
                State::Failing { last, .. } if last.elapsed() >= FAILING_FOR => {
                    "ok (no recent sends)".to_string()
                }
                State::Failing { since, kind, .. } => {
                    let secs = since.elapsed().as_secs();
                    if since.elapsed() >= FAILING_FOR {
                        healthy = false;
                    }
                    format!("failing ({kind}) for {secs} s")
                }
            };
            (*name, text)
        })
        .collect();
    (report, healthy)
}
