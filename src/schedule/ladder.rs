//! The aftercare check-in ladder: how often an alumnus is asked how they are, by days
//! since discharge. Check-ins happen on the person's own wall clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::recurrence::{Recurrence, resolve_wall};

/// One rung: from the previous rung's end (or discharge) until `until_day` days after
/// discharge (`None`: for good), check in on `recurrence`.
#[derive(Debug, Clone)]
pub struct Phase {
    pub until_day: Option<u32>,
    pub recurrence: Recurrence,
}

#[derive(Debug, Clone)]
pub struct Ladder {
    phases: Vec<Phase>,
}

impl Ladder {
    /// Phases must be in order of `until_day`, with only the last one open-ended.
    pub fn new(phases: Vec<Phase>) -> Result<Ladder, String> {
        if phases.is_empty() {
            return Err("the check-in ladder needs at least one phase".into());
        }
        let mut previous = 0;
        for (i, phase) in phases.iter().enumerate() {
            match phase.until_day {
                Some(day) if day <= previous => {
                    return Err(format!(
                        "phase {} ends on day {day}, not after the previous phase (day {previous})",
                        i + 1
                    ));
                }
                Some(day) => previous = day,
                None if i + 1 != phases.len() => {
                    return Err(format!(
                        "phase {} has no until_day; only the last phase may be open-ended",
                        i + 1
                    ));
                }
                None => {}
            }
        }
        Ok(Ladder { phases })
    }

    /// Weekly for the first month, twice a month to day 90, monthly to day 365, quarterly
    /// after — the default ladder from the design notes — at 5 pm local time.
    pub fn standard() -> Ladder {
        let rung = |until: Option<u32>, expr: &str| Phase {
            until_day: until,
            recurrence: Recurrence::parse(expr).unwrap_or_else(|e| panic!("built-in: {e}")),
        };
        Ladder {
            phases: vec![
                rung(Some(30), "0 17 * * WED"),
                rung(Some(90), "0 17 1,15 * *"),
                rung(Some(365), "0 17 1 * *"),
                rung(None, "0 17 1 1,4,7,10 *"),
            ],
        }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The next check-in strictly after `after` for someone discharged on `discharged`.
    pub fn next_checkin(
        &self,
        tz: Tz,
        discharged: NaiveDate,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let midnight = |day: u32| {
            let date = discharged + Duration::days(i64::from(day));
            resolve_wall(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default())
        };
        let mut from = 0;
        for phase in &self.phases {
            let window_start = midnight(from);
            let window_end = phase.until_day.map(midnight);
            let probe = after.max(window_start - Duration::seconds(1));
            if let Some(next) = phase.recurrence.next_after(tz, probe)
                && window_end.is_none_or(|end| next < end)
            {
                return Some(next);
            }
            from = phase.until_day.unwrap_or(from);
        }
        None
    }

    /// The last check-in at or before `at` (the mirror of [`Ladder::next_checkin`]), if
    /// any came since discharge.
    pub fn last_checkin(
        &self,
        tz: Tz,
        discharged: NaiveDate,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let midnight = |day: u32| {
            let date = discharged + Duration::days(i64::from(day));
            resolve_wall(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default())
        };
        let mut windows = Vec::with_capacity(self.phases.len());
        let mut from = 0;
        for phase in &self.phases {
            windows.push((midnight(from), phase.until_day.map(midnight), phase));
            from = phase.until_day.unwrap_or(from);
        }
        windows.into_iter().rev().find_map(|(start, end, phase)| {
            if at < start {
                return None;
            }
            let probe = end.map_or(at, |end| at.min(end - Duration::seconds(1)));
            phase
                .recurrence
                .last_at_or_before(tz, probe)
                .filter(|&t| t >= start)
        })
    }
}
