//! Sobriety milestones: 1, 7, 30, 60, 90 and 180 days, then every anniversary.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

const DAY_MARKS: [u32; 6] = [1, 7, 30, 60, 90, 180];

/// A milestone to congratulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Days(u32),
    Years(u32),
}

/// The first milestone reached on a date strictly after `after` (a local date), for a
/// count that started on `since`: day N is reached on `since + N days`; a year on the
/// calendar anniversary (29 February counts on 28 February).
pub fn next_milestone(since: NaiveDate, after: NaiveDate) -> Option<(NaiveDate, Mark)> {
    for days in DAY_MARKS {
        let date = since + chrono::Duration::days(i64::from(days));
        if date > after {
            return Some((date, Mark::Days(days)));
        }
    }
    let elapsed_years = after.year() - since.year();
    for years in elapsed_years.max(1)..=elapsed_years.max(1) + 2 {
        let years = u32::try_from(years).ok()?;
        let date = since.checked_add_months(Months::new(years.checked_mul(12)?))?;
        if date > after {
            return Some((date, Mark::Years(years)));
        }
    }
    None
}

/// Whole days from `since` to `today` (0 on the day itself; negative means the future).
pub fn days_since(since: NaiveDate, today: NaiveDate) -> i64 {
    (today - since).num_days()
}
