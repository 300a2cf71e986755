//! Programs: group sessions on cron schedules in the program's own time zone, with
//! reminder lead times and cancelled dates.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::quiet::QuietHours;
use super::recurrence::Recurrence;

/// Two reminders of one session closer than this (after quiet hours moved them) are one.
const REMINDER_MERGE: Duration = Duration::minutes(60);

#[derive(Debug, Clone)]
pub struct Program {
    /// Short, stable, `[a-z0-9_-]`: it travels in button data.
    pub id: String,
    /// Neutral words only ("Tuesday evening group"): a lock screen may show it.
    pub name: String,
    pub timezone: Tz,
    pub sessions: Vec<Session>,
    /// How long before a session each reminder goes out, longest first.
    pub reminders: Vec<Duration>,
    /// Dates (in the program's zone) with no session.
    pub cancelled: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub recurrence: Recurrence,
    pub duration: Duration,
    /// A room and address, or a video link.
    pub place: String,
}

/// One session on one day.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub start: DateTime<Utc>,
    pub session: &'a Session,
}

/// A reminder to send: when, for the session starting when, and which of the program's
/// lead times it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderSlot {
    pub at: DateTime<Utc>,
    pub session: DateTime<Utc>,
    /// The shortest lead time this reminder covers (two merged into one cover both): its
    /// identity within the session, the same in every time zone. Once it is sent (or
    /// passed over), only reminders with shorter leads remain for that session.
    pub lead: Duration,
}

impl Program {
    /// The earliest session starting strictly after `after`.
    pub fn next_session(&self, after: DateTime<Utc>) -> Option<Occurrence<'_>> {
        self.sessions
            .iter()
            .filter_map(|session| {
                let start = session.recurrence.next_after(self.timezone, after)?;
                Some(Occurrence { start, session })
            })
            .min_by_key(|o| o.start)
    }

    /// The session that starts exactly at `start`, if the program has one.
    pub fn session_at(&self, start: DateTime<Utc>) -> Option<Occurrence<'_>> {
        self.next_session(start - Duration::seconds(1))
            .filter(|o| o.start == start)
    }

    /// Every session start on the local `date` (in the program's zone).
    pub fn sessions_on(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        let tz = self.timezone;
        let midnight =
            super::recurrence::resolve_wall(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default());
        let mut out = Vec::new();
        let mut cursor = midnight - Duration::seconds(1);
        while let Some(o) = self.next_session(cursor) {
            if o.start.with_timezone(&tz).date_naive() != date {
                break;
            }
            out.push(o.start);
            cursor = o.start;
        }
        out
    }

    pub fn is_cancelled(&self, start: DateTime<Utc>) -> bool {
        self.cancelled
            .contains(&start.with_timezone(&self.timezone).date_naive())
    }

    /// Sessions starting strictly after `after`, in order.
    pub fn sessions_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = Occurrence<'_>> {
        let mut cursor = after;
        std::iter::from_fn(move || {
            let o = self.next_session(cursor)?;
            cursor = o.start;
            Some(o)
        })
    }

    /// The longest lead time: no reminder of a session comes earlier than this (plus the
    /// length of the quiet hours it may be moved back across) before it.
    pub fn longest_lead(&self) -> Option<Duration> {
        self.reminders.iter().copied().max()
    }

    /// One session's reminders for someone living in `tz`, in time order: each lead time
    /// placed around the quiet hours (see [`QuietHours::place_reminder`]), and two that
    /// land within [`REMINDER_MERGE`] of each other merged into the earlier, which then
    /// covers both. Reminders of cancelled sessions are included: they become the notice.
    pub fn reminder_slots(
        &self,
        tz: Tz,
        quiet: &QuietHours,
        start: DateTime<Utc>,
    ) -> Vec<ReminderSlot> {
        let mut placed: Vec<(DateTime<Utc>, Duration)> = self
            .reminders
            .iter()
            .map(|lead| (quiet.place_reminder(tz, start - *lead, start), *lead))
            .filter(|(t, _)| *t < start)
            .collect();
        placed.sort();
        let mut kept: Vec<ReminderSlot> = Vec::with_capacity(placed.len());
        for (at, lead) in placed {
            match kept.last_mut() {
                Some(last) if at - last.at < REMINDER_MERGE => last.lead = last.lead.min(lead),
                _ => kept.push(ReminderSlot {
                    at,
                    session: start,
                    lead,
                }),
            }
        }
        kept
    }
}

/// Words that would tell a lock screen or a shoulder-surfer what the group is for.
const REVEALING: &[&str] = &[
    "rehab",
    "recovery",
    "addiction",
    "addict",
    "substance",
    "alcohol",
    "alcoholic",
    "drug",
    "drugs",
    "detox",
    "treatment",
    "iop",
    "sober",
    "sobriety",
    "aa",
    "na",
    "mental",
    "psychiatric",
    "psych",
    "therapy",
    "opioid",
    "methadone",
    "suboxone",
    "relapse",
    "rehabilitacion",
    "adiccion",
    "adicciones",
    "alcoholismo",
    "drogas",
    "tratamiento",
    "sobriedad",
    "recuperacion",
    "terapia",
    "psiquiatrico",
    "desintoxicacion",
];

/// The first word of `name` that reveals treatment, if any.
pub fn revealing_word(name: &str) -> Option<String> {
    crate::safety::normalize::words(name)
        .into_iter()
        .find(|w| REVEALING.contains(&w.as_str()))
}

/// The longest duration [`parse_duration`] accepts. Callers check their own, tighter
/// ranges; this one keeps any instant plus or minus a parsed duration far inside what
/// `chrono` can represent, so no caller's arithmetic can overflow.
pub const MAX_DURATION: Duration = Duration::days(3650);

/// Durations as people write them: `24h`, `90m`, `2h30m`, `3d`; at most
/// [`MAX_DURATION`]. Never panics, however large the numbers.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let shape = || format!("{text:?} is not a duration like \"24h\", \"90m\" or \"2h30m\"");
    let too_long = || format!("{text:?} is longer than {} days", MAX_DURATION.num_days());
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if number.is_empty() {
            return Err(shape());
        }
        // Digits that do not fit are a duration far too long, not a malformed one.
        let n: i64 = number.parse().map_err(|_| too_long())?;
        number.clear();
        let part = match c {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            _ => return Err(shape()),
        };
        total = part
            .and_then(|p| total.checked_add(&p))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(format!(
            "{text:?} is not a duration like \"24h\", \"90m\" or \"2h30m\" (say the unit)"
        ));
    }
    Ok(total)
}
