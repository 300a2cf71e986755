//! Quiet hours: a nightly window, in the person's own zone, when nothing proactive is sent.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::recurrence::resolve_wall;

/// From `start` to `end` in local time; `start > end` spans midnight (the usual case).
/// `start == end` means no quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    pub fn contains(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let t = at.with_timezone(&tz).time();
        if self.start == self.end {
            false
        } else if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the quiet window around `at` ends (the next local `end` after `at`).
    pub fn end_after(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&tz).naive_local();
        let mut candidate = local.date().and_time(self.end);
        if candidate <= local {
            candidate += Duration::days(1);
        }
        resolve_wall(tz, candidate)
    }

    /// When the quiet window around `at` began (the last local `start` at or before `at`).
    pub fn start_before(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&tz).naive_local();
        let mut candidate = local.date().and_time(self.start);
        if candidate > local {
            candidate -= Duration::days(1);
        }
        resolve_wall(tz, candidate)
    }

    /// Where a message meant for `at` goes: `at` itself outside quiet hours, else the end
    /// of the window. For check-ins and milestones, which have no deadline.
    pub fn defer(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(tz, at) {
            self.end_after(tz, at)
        } else {
            at
        }
    }

    /// Where a session reminder meant for `at` goes, given the session starts at
    /// `deadline`: outside quiet hours it stays; inside, it moves to the end of the window
    /// when that still leaves [`REMINDER_MARGIN`] before the session, else to the minute
    /// before the window began (the evening before).
    pub fn place_reminder(
        &self,
        tz: Tz,
        at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> DateTime<Utc> {
        if !self.contains(tz, at) {
            return at;
        }
        let end = self.end_after(tz, at);
        if end + REMINDER_MARGIN <= deadline {
            end
        } else {
            self.start_before(tz, at) - Duration::minutes(1)
        }
    }
}

/// A reminder moved out of quiet hours must still come this long before its session.
pub const REMINDER_MARGIN: Duration = Duration::minutes(30);
