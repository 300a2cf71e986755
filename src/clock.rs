//! Where "now" comes from. The core never reads the wall clock; it is handed instants,
//! and the adapters get them from a [`Clock`] so tests can drive time by hand.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Moves the clock forward, if this kind of clock can be moved (the terminal's
    /// `/_time`); returns whether it moved.
    fn advance(&self, by: Duration) -> bool {
        let _ = by;
        false
    }
}

/// The machine's clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to, for tests and scripted demos.
#[derive(Debug)]
pub struct ManualClock {
    // A std mutex: the critical section is a copy, never held across an await.
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid instant; keep going with it.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    fn advance(&self, by: Duration) -> bool {
        ManualClock::advance(self, by);
        true
    }
}

/// The machine's clock plus an offset that only grows: `waypoint chat` uses it so that
/// `/_time +3h` can show what arrives in three hours, while time still passes.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset: Mutex<Duration>,
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn advance(&self, by: Duration) -> bool {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        assert!(Clock::advance(&clock, Duration::minutes(90)));
        assert_eq!(clock.now(), start + Duration::minutes(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
        assert!(!SystemClock.advance(Duration::hours(1)));
    }
}
