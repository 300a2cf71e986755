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

/// How often refused webhook requests are summed up in the log.
pub const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(60);

/// Refused requests counted since the last log line, and when that was.
#[derive(Debug, Default)]
pub struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    /// Counts one refusal at `now`; returns how many to report when a log line is due
    /// (the first refusal, then at most one line per [`REFUSALS_LOGGED_EVERY`]).
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.since_logged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= REFUSALS_LOGGED_EVERY);
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.since_logged))
    }
}

static REFUSED: Mutex<Refusals> = Mutex::new(Refusals {
    since_logged: 0,
    logged_at: None,
});

/// A webhook request refused before it reached the engine (`listener`: `telegram`,
/// `sms`; `reason`: `secret`, `signature`). Every one is counted; the log gets a summary
/// at most once a minute, so a flood of forged requests cannot flood it.
pub fn http_refused(listener: &'static str, reason: &'static str) {
    metrics::counter!("waypoint_http_refused_total", "listener" => listener, "reason" => reason)
        .increment(1);
    let due = REFUSED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .note(Instant::now());
    if let Some(refused) = due {
        tracing::warn!(
            refused,
            "refused webhook requests without a valid secret or signature (the latest from the {listener} webhook); counted in waypoint_http_refused_total, logged at most once a minute"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_most_once_a_minute_with_the_count() {
        let mut refusals = Refusals::default();
        let start = Instant::now();
        let lines: Vec<(u64, u64)> = (0..1000u64)
            .filter_map(|i| {
                let at = start + Duration::from_millis(i * 150);
                refusals.note(at).map(|n| (i, n))
            })
            .collect();
        // 150 s of refusals: the first at once, then one line a minute with the count.
        assert_eq!(lines, [(0, 1), (400, 400), (800, 400)]);
    }
}
