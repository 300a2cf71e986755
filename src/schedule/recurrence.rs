//! Standard five-field cron expressions, evaluated in the wall time of a time zone.
//!
//! The `cron` crate wants a seconds field and numbers Sunday as 1; people (and every cron
//! tutorial) write five fields with Sunday as 0 or 7. We translate once, at parse time.
//!
//! Daylight-saving rule: occurrences are wall-clock times. A time that does not exist
//! (02:30 on spring-forward day) fires at the first instant after the gap (03:00); a time
//! that happens twice (01:30 on fall-back day) fires at its first instance only. Two wall
//! times that land on the same instant fire once. So every occurrence fires exactly once.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed schedule such as `0 18 * * MON,WED,THU`.
#[derive(Debug, Clone)]
pub struct Recurrence {
    source: String,
    schedule: cron::Schedule,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The first four fields' names and ranges, as people write them (the day of the week
/// is read by `named_weekdays`).
const RANGES: [(&str, u32, u32); 4] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Checks one field ("0", "*/15", "9-17", "1,15", "JAN-MAR") against its range, naming
/// the field and the value in the person's own five-field terms.
fn check_field(expr: &str, field: &str, name: &str, low: u32, high: u32) -> Result<(), String> {
    let bad =
        |what: &str| format!("{expr:?}: the {name} field has {what:?}; it must be {low}-{high}");
    for part in field.split(',') {
        let (range, step) = part.split_once('/').unwrap_or((part, "1"));
        if !step.parse::<u32>().is_ok_and(|s| s >= 1) {
            return Err(format!(
                "{expr:?}: the {name} field has the step {step:?}; it must be a whole number from 1"
            ));
        }
        if range == "*" || range == "?" {
            continue;
        }
        for bound in range.split('-') {
            let value = bound.parse::<u32>().ok().or_else(|| {
                (name == "month")
                    .then(|| MONTHS.iter().position(|m| m.eq_ignore_ascii_case(bound)))
                    .flatten()
                    .and_then(|i| u32::try_from(i + 1).ok())
            });
            if !value.is_some_and(|v| (low..=high).contains(&v)) {
                return Err(bad(bound));
            }
        }
    }
    Ok(())
}

impl Recurrence {
    /// Parses five fields: minute, hour, day of month, month, day of week.
    pub fn parse(expr: &str) -> Result<Recurrence, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "{expr:?} has {} fields; a schedule has five: minute hour day-of-month month day-of-week (e.g. \"0 18 * * MON,WED\")",
                fields.len()
            ));
        }
        let open = |f: &str| f == "*" || f == "?";
        if !open(fields[2]) && !open(fields[4]) {
            return Err(format!(
                "{expr:?} restricts both the day of the month and the day of the week; restrict one of them"
            ));
        }
        for (field, (name, low, high)) in fields.iter().zip(RANGES) {
            check_field(expr, field, name, low, high)?;
        }
        let weekdays = named_weekdays(fields[4])?;
        let six = format!(
            "0 {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], weekdays
        );
        // The cron crate's message quotes its own six-field form: keep only its reason.
        let schedule = cron::Schedule::from_str(&six).map_err(|e| {
            let reason = e.to_string();
            format!(
                "{expr:?}: {}",
                reason.lines().last().unwrap_or(&reason).trim()
            )
        })?;
        if schedule.after(&parse_reference()).next().is_none() {
            return Err(format!("{expr:?} never happens"));
        }
        Ok(Recurrence {
            source: expr.trim().to_string(),
            schedule,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first occurrence strictly after `after`, with `tz`'s wall clock.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Walk wall times as if they were UTC (which has no DST), from a little before
        // `after`'s wall time, so occurrences moved by a gap or a repeated hour are seen.
        let wall = after.with_timezone(&tz).naive_local();
        let start = (wall - Duration::hours(3)).and_utc();
        self.schedule
            .after(&start)
            .map(|w| resolve_wall(tz, w.naive_utc()))
            .find(|&t| t > after)
    }
    /// The last occurrence at or before `at`, with `tz`'s wall clock (the mirror of
    /// [`Recurrence::next_after`]).
    pub fn last_at_or_before(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = at.with_timezone(&tz).naive_local();
        let start = (wall + Duration::hours(3)).and_utc();
        self.schedule
            .after(&start)
            .rev()
            .map(|w| resolve_wall(tz, w.naive_utc()))
            .find(|&t| t <= at)
    }
}

/// The instant a wall time names in `tz`: the earlier of two in a repeated hour, the end
/// of the gap for a time skipped by a clock change.
pub fn resolve_wall(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&wall).earliest() {
        return t.with_timezone(&Utc);
    }
    // Inside a gap: find the first wall minute that exists. Gaps are at most a few hours.
    let mut probe = wall;
    for _ in 0..(48 * 60) {
        probe += Duration::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No real zone has a gap this long; fall back to reading the wall time as UTC.
    wall.and_utc()
}

/// Day-of-week numbers in cron's usual sense (0 or 7 = Sunday) as names, which the
/// `cron` crate reads unambiguously. Steps (`*/2`) keep their number.
fn named_weekdays(field: &str) -> Result<String, String> {
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let name = |part: &str| -> Result<String, String> {
            match part.parse::<usize>() {
                Ok(n) if n <= 7 => Ok(DAY_NAMES[n % 7].to_string()),
                Ok(n) => Err(format!("day of week {n} is out of range (0–7, or MON…SUN)")),
                Err(_) => Ok(part.to_string()),
            }
        };
        let mut text = match range.split_once('-') {
            // "5-7" would wrap past Saturday in the crate's numbering: spell Sunday out.
            Some((a, "7")) => format!("{}-SAT,SUN", name(a)?),
            Some((a, b)) => format!("{}-{}", name(a)?, name(b)?),
            None => name(range)?,
        };
        if let Some(s) = step {
            text = format!("{text}/{s}");
        }
        items.push(text);
    }
    Ok(items.join(","))
}

/// A fixed instant for the "does this ever fire" check, so parsing reads no clock.
fn parse_reference() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default() // 2026-01-01
}
