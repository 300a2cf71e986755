//! Healthcare texting limits: how many proactive texts a person may get in a day and in a
//! week, and at what hours. Replies to a person's own messages are never counted.
//!
//! Pure: what was already sent, the candidate and its rivals in, a verdict out. Days are
//! the person's local calendar days; a week is the seven local days ending with the day
//! in question.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use super::quiet::QuietHours;
use super::recurrence::resolve_wall;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextingCaps {
    pub per_day: u32,
    pub per_week: u32,
    /// Proactive texts go out only from `window_start` to `window_end`, local time.
    pub window_start: NaiveTime,
    pub window_end: NaiveTime,
}

impl Default for TextingCaps {
    /// At most one a day, three a week, 08:00–21:00: the usual ceiling for unsolicited
    /// healthcare texts.
    fn default() -> Self {
        Self {
            per_day: 1,
            per_week: 3,
            window_start: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            window_end: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
        }
    }
}

/// Why a proactive text was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    DailyCap,
    WeeklyCap,
    /// It would have used the last text of the day, and a more useful one is due later
    /// that day.
    MadeWay,
}

impl HoldReason {
    pub fn name(self) -> &'static str {
        match self {
            HoldReason::DailyCap => "daily limit",
            HoldReason::WeeklyCap => "weekly limit",
            HoldReason::MadeWay => "made way for a more useful text",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Try again then (the start of the next local day with room).
    Defer(DateTime<Utc>),
    Drop(HoldReason),
}

impl TextingCaps {
    /// The hours outside the sending window, as quiet hours.
    pub fn quiet(&self) -> QuietHours {
        QuietHours {
            start: self.window_end,
            end: self.window_start,
        }
    }

    /// Whether a text of usefulness `rank` may go at `now`, given the instants of the
    /// proactive texts already sent (`sent`) and the person's other pending texts
    /// (`rivals`: due time and rank). A `deferrable` text that finds no room moves to the
    /// next local day with room instead of being dropped.
    pub fn judge(
        &self,
        tz: Tz,
        sent: &[DateTime<Utc>],
        rank: u8,
        rivals: &[(DateTime<Utc>, u8)],
        now: DateTime<Utc>,
        deferrable: bool,
    ) -> Verdict {
        let today = now.with_timezone(&tz).date_naive();
        let (day, week) = self.used(tz, sent, today);
        let full = if day >= self.per_day {
            Some(HoldReason::DailyCap)
        } else if week >= self.per_week {
            Some(HoldReason::WeeklyCap)
        } else {
            None
        };
        let last_of_the_day = self.per_day - day.min(self.per_day) == 1
            || self.per_week - week.min(self.per_week) == 1;
        let outranked = rivals
            .iter()
            .any(|(at, r)| *at > now && at.with_timezone(&tz).date_naive() == today && *r > rank);
        let reason = match full {
            Some(reason) => reason,
            None if last_of_the_day && outranked => HoldReason::MadeWay,
            None => return Verdict::Send,
        };
        if !deferrable {
            return Verdict::Drop(reason);
        }
        // When making way, count the rival as sent today.
        let mut assumed: Vec<DateTime<Utc>> = sent.to_vec();
        if reason == HoldReason::MadeWay {
            assumed.push(now);
        }
        match self.next_day_with_room(tz, &assumed, today) {
            Some(at) => Verdict::Defer(at),
            None => Verdict::Drop(reason),
        }
    }

    /// Texts sent on `day` and in the week ending with it.
    fn used(&self, tz: Tz, sent: &[DateTime<Utc>], day: NaiveDate) -> (u32, u32) {
        let first = day - Duration::days(6);
        let mut on_day = 0;
        let mut in_week = 0;
        for at in sent {
            let d = at.with_timezone(&tz).date_naive();
            if d == day {
                on_day += 1;
            }
            if (first..=day).contains(&d) {
                in_week += 1;
            }
        }
        (on_day, in_week)
    }

    /// The start of the sending window on the first day after `today` with room, within a
    /// week (by then every earlier text has left the week); `None` if texting is off.
    fn next_day_with_room(
        &self,
        tz: Tz,
        sent: &[DateTime<Utc>],
        today: NaiveDate,
    ) -> Option<DateTime<Utc>> {
        (1..=7).map(|d| today + Duration::days(d)).find_map(|day| {
            let (on_day, in_week) = self.used(tz, sent, day);
            (on_day < self.per_day && in_week < self.per_week)
                .then(|| resolve_wall(tz, day.and_time(self.window_start)))
        })
    }

    /// Drops instants too old to count for any cap.
    pub fn prune(sent: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) {
        sent.retain(|at| now - *at < Duration::days(8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const NY: Tz = chrono_tz::America::New_York;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        NY.with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn one_a_day_and_three_a_week() {
        let caps = TextingCaps::default();
        assert_eq!(caps.judge(NY, &[], 2, &[], at(2, 10), false), Verdict::Send);
        let sent = [at(2, 9)];
        assert_eq!(
            caps.judge(NY, &sent, 2, &[], at(2, 17), false),
            Verdict::Drop(HoldReason::DailyCap)
        );
        // The next morning there is room again.
        assert_eq!(
            caps.judge(NY, &sent, 2, &[], at(3, 9), false),
            Verdict::Send
        );
        let sent = [at(2, 9), at(3, 9), at(4, 9)];
        assert_eq!(
            caps.judge(NY, &sent, 2, &[], at(5, 9), false),
            Verdict::Drop(HoldReason::WeeklyCap)
        );
        // A week after the first, it has left the window.
        assert_eq!(
            caps.judge(NY, &sent, 2, &[], at(9, 9), false),
            Verdict::Send
        );
    }

    #[test]
    fn a_deferrable_text_moves_to_the_next_day_with_room() {
        let caps = TextingCaps::default();
        let sent = [at(2, 9), at(3, 9), at(4, 9)];
        // Full for the week until the 9th, when the 2nd leaves it: 08:00 that day.
        assert_eq!(
            caps.judge(NY, &sent, 2, &[], at(5, 9), true),
            Verdict::Defer(at(9, 8))
        );
        assert_eq!(
            caps.judge(NY, &sent[..1], 2, &[], at(2, 17), true),
            Verdict::Defer(at(3, 8))
        );
    }

    #[test]
    fn the_last_text_of_the_day_goes_to_the_most_useful() {
        let caps = TextingCaps::default();
        let reminder_later = [(at(2, 16), 3)];
        // A check-in (rank 2) at 10:00 makes way for a reminder (rank 3) at 16:00 and
        // moves to tomorrow; a milestone (rank 1) is dropped.
        assert_eq!(
            caps.judge(NY, &[], 2, &reminder_later, at(2, 10), true),
            Verdict::Defer(at(3, 8))
        );
        assert_eq!(
            caps.judge(NY, &[], 1, &reminder_later, at(2, 10), false),
            Verdict::Drop(HoldReason::MadeWay)
        );
        // A rival tomorrow, or a less useful one, does not compete.
        assert_eq!(
            caps.judge(NY, &[], 2, &[(at(3, 16), 3)], at(2, 10), true),
            Verdict::Send
        );
        assert_eq!(
            caps.judge(NY, &[], 3, &[(at(2, 16), 2)], at(2, 10), false),
            Verdict::Send
        );
        // With room for two a day, both go.
        let two = TextingCaps { per_day: 2, ..caps };
        assert_eq!(
            two.judge(NY, &[], 2, &reminder_later, at(2, 10), true),
            Verdict::Send
        );
    }

    #[test]
    fn zero_caps_turn_proactive_texting_off() {
        let off = TextingCaps {
            per_day: 0,
            ..TextingCaps::default()
        };
        assert_eq!(
            off.judge(NY, &[], 3, &[], at(2, 10), true),
            Verdict::Drop(HoldReason::DailyCap)
        );
    }

    #[test]
    fn the_window_is_the_complement_of_quiet_hours() {
        let quiet = TextingCaps::default().quiet();
        assert!(quiet.contains(NY, at(2, 7)));
        assert!(!quiet.contains(NY, at(2, 8)));
        assert!(!quiet.contains(NY, at(2, 20)));
        assert!(quiet.contains(NY, at(2, 21)));
    }
}
