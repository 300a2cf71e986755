//! Schedule maths: cron in time zones across DST changes, quiet hours, the check-in
//! ladder, milestones and reminder placement.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::America::{Chicago, New_York};
use chrono_tz::Tz;
use waypoint::schedule::milestone::{Mark, days_since, next_milestone};
use waypoint::schedule::program::{parse_duration, revealing_word};
use waypoint::schedule::{Ladder, Program, QuietHours, Recurrence, Session};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Every occurrence in [from, to), in order, by repeated `next_after`.
fn occurrences(r: &Recurrence, tz: Tz, from: &str, to: &str) -> Vec<String> {
    let (mut t, end) = (utc(from), utc(to));
    let mut out = Vec::new();
    while let Some(next) = r.next_after(tz, t) {
        if next >= end {
            break;
        }
        out.push(next.with_timezone(&tz).format("%m-%d %H:%M %Z").to_string());
        t = next;
    }
    out
}

#[test]
fn spring_forward_a_skipped_time_fires_once_at_the_end_of_the_gap() {
    // 2026-03-08: New York clocks jump from 02:00 EST to 03:00 EDT.
    let r = Recurrence::parse("30 2 * * *").unwrap();
    let got = occurrences(&r, New_York, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z");
    assert_eq!(
        got,
        vec!["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]
    );
}

#[test]
fn fall_back_a_repeated_time_fires_once() {
    // 2026-11-01: New York clocks go from 02:00 EDT back to 01:00 EST.
    let r = Recurrence::parse("30 1 * * *").unwrap();
    let got = occurrences(&r, New_York, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z");
    assert_eq!(
        got,
        vec!["10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"]
    );
    // Every quarter hour through the repeated hour: each wall time once, nothing twice.
    let r = Recurrence::parse("*/15 * * * *").unwrap();
    let got = occurrences(&r, New_York, "2026-11-01T04:50:00Z", "2026-11-01T07:20:00Z");
    assert_eq!(
        got,
        vec![
            "11-01 01:00 EDT",
            "11-01 01:15 EDT",
            "11-01 01:30 EDT",
            "11-01 01:45 EDT",
            "11-01 02:00 EST",
            "11-01 02:15 EST"
        ]
    );
}

#[test]
fn an_evening_session_keeps_its_wall_time_across_both_changes() {
    let r = Recurrence::parse("0 18 * * SUN").unwrap();
    let got = occurrences(&r, New_York, "2026-02-28T00:00:00Z", "2026-03-16T00:00:00Z");
    assert_eq!(
        got,
        vec!["03-01 18:00 EST", "03-08 18:00 EDT", "03-15 18:00 EDT"]
    );
    let got = occurrences(&r, New_York, "2026-10-24T00:00:00Z", "2026-11-09T00:00:00Z");
    assert_eq!(
        got,
        vec!["10-25 18:00 EDT", "11-01 18:00 EST", "11-08 18:00 EST"]
    );
}

#[test]
fn five_field_cron_reads_sunday_as_zero_or_seven_and_rejects_nonsense() {
    let sunday = utc("2026-11-29T23:00:00Z"); // 18:00 EST on a Sunday
    for expr in ["0 18 * * 0", "0 18 * * 7", "0 18 * * SUN", "0 18 * * 5-7"] {
        let r = Recurrence::parse(expr).unwrap();
        let next = r.next_after(New_York, utc("2026-11-29T12:00:00Z")).unwrap();
        assert_eq!(next, sunday, "{expr}");
    }
    let weekdays = Recurrence::parse("0 9 * * 1-5").unwrap();
    let next = weekdays
        .next_after(New_York, utc("2026-11-28T12:00:00Z")) // Saturday
        .unwrap();
    assert_eq!(next, utc("2026-11-30T14:00:00Z")); // Monday 09:00 EST
    for (bad, says) in [
        ("0 18 * *", "five"),
        ("0 18 * * MON *", "five"),
        ("0 25 * * *", "0 25"),
        ("0 18 1 * MON", "one of them"),
        ("0 18 * * 9", "out of range"),
        ("0 18 31 2 *", "never"),
    ] {
        let err = Recurrence::parse(bad).unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn quiet_hours_span_midnight_in_the_persons_zone() {
    let q = QuietHours::default();
    assert!(q.contains(New_York, utc("2026-11-25T02:30:00Z"))); // 21:30 EST
    assert!(q.contains(New_York, utc("2026-11-25T12:59:00Z"))); // 07:59 EST
    assert!(!q.contains(New_York, utc("2026-11-25T13:00:00Z"))); // 08:00 EST
    assert!(!q.contains(Chicago, utc("2026-11-25T02:30:00Z"))); // 20:30 CST
    assert_eq!(
        q.defer(New_York, utc("2026-11-25T02:30:00Z")),
        utc("2026-11-25T13:00:00Z")
    );
    assert_eq!(
        q.defer(New_York, utc("2026-11-25T15:00:00Z")),
        utc("2026-11-25T15:00:00Z")
    );
    let none = QuietHours {
        start: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
    };
    assert!(!none.contains(New_York, utc("2026-11-25T07:00:00Z")));
}

fn program(sessions: &[&str], reminders: &[&str]) -> Program {
    Program {
        id: "evening".into(),
        name: "Evening group".into(),
        timezone: New_York,
        sessions: sessions
            .iter()
            .map(|s| Session {
                recurrence: Recurrence::parse(s).unwrap(),
                duration: Duration::hours(3),
                place: "Room 2".into(),
            })
            .collect(),
        reminders: reminders
            .iter()
            .map(|r| parse_duration(r).unwrap())
            .collect(),
        cancelled: BTreeSet::new(),
    }
}

/// Every reminder slot in [from, to) as "local send time -> local session time".
fn reminders(p: &Program, tz: Tz, from: &str, to: &str) -> Vec<String> {
    let q = QuietHours::default();
    let (from, to) = (utc(from), utc(to));
    let horizon = to + p.longest_lead().unwrap() + Duration::days(1);
    let mut slots: Vec<_> = p
        .sessions_after(from)
        .take_while(|o| o.start <= horizon)
        .flat_map(|o| p.reminder_slots(tz, &q, o.start))
        .filter(|s| from <= s.at && s.at < to)
        .collect();
    slots.sort_by_key(|s| (s.at, s.session));
    slots
        .iter()
        .map(|slot| {
            format!(
                "{} -> {}",
                slot.at.with_timezone(&tz).format("%a %H:%M"),
                slot.session.with_timezone(&tz).format("%a %H:%M")
            )
        })
        .collect()
}

#[test]
fn reminders_come_a_day_and_two_hours_before_in_order() {
    let p = program(&["0 18 * * MON,WED"], &["24h", "2h"]);
    let got = reminders(&p, New_York, "2026-11-29T00:00:00Z", "2026-12-03T00:00:00Z");
    assert_eq!(
        got,
        vec![
            "Sun 18:00 -> Mon 18:00",
            "Mon 16:00 -> Mon 18:00",
            "Tue 18:00 -> Wed 18:00",
            "Wed 16:00 -> Wed 18:00"
        ]
    );
}

#[test]
fn a_reminder_in_quiet_hours_moves_to_the_morning_or_the_evening_before() {
    // A 9:00 session: 24 h before is 9:00 the day before (fine); 2 h before is 7:00, in
    // quiet hours, and 8:00 still leaves more than the 30-minute margin.
    let p = program(&["0 9 * * TUE"], &["24h", "2h"]);
    let got = reminders(&p, New_York, "2026-11-29T00:00:00Z", "2026-12-02T00:00:00Z");
    assert_eq!(
        got,
        vec!["Mon 09:00 -> Tue 09:00", "Tue 08:00 -> Tue 09:00"]
    );
    // A 8:15 session with a 1 h reminder: 07:15 is quiet, 08:00 leaves 15 minutes, so it
    // goes out the evening before at 20:59 — and merges with nothing.
    let p = program(&["15 8 * * TUE"], &["1h"]);
    let got = reminders(&p, New_York, "2026-11-29T00:00:00Z", "2026-12-02T00:00:00Z");
    assert_eq!(got, vec!["Mon 20:59 -> Tue 08:15"]);
    // For someone in Los Angeles, a 9:00 New York session is 6:00 their time: the 24 h
    // reminder (6:00 Monday, quiet) moves to 8:00 Monday; the 2 h one (4:00 Tuesday,
    // quiet, and 8:00 would be too late) to the evening before.
    let la: Tz = "America/Los_Angeles".parse().unwrap();
    let got = reminders(&p_9(), la, "2026-11-29T00:00:00Z", "2026-12-02T00:00:00Z");
    assert_eq!(
        got,
        vec!["Mon 08:00 -> Tue 06:00", "Mon 20:59 -> Tue 06:00"]
    );
}

fn p_9() -> Program {
    program(&["0 9 * * TUE"], &["24h", "2h"])
}

#[test]
fn a_person_in_another_zone_is_reminded_on_the_programs_clock_in_their_own_quiet_hours() {
    let p = program(&["0 18 * * MON"], &["2h"]);
    let got = reminders(&p, Chicago, "2026-11-29T00:00:00Z", "2026-12-01T00:00:00Z");
    // 18:00 in New York is 17:00 in Chicago; the reminder is 15:00 Chicago time.
    assert_eq!(got, vec!["Mon 15:00 -> Mon 17:00"]);
}

#[test]
fn the_standard_ladder_is_weekly_then_twice_monthly_then_monthly_then_quarterly() {
    let ladder = Ladder::standard();
    let discharged = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(); // a Monday
    let mut t = utc("2026-01-05T12:00:00Z");
    let mut got = Vec::new();
    while let Some(next) = ladder.next_checkin(New_York, discharged, t) {
        if next > utc("2027-08-01T00:00:00Z") {
            break;
        }
        got.push(
            next.with_timezone(&New_York)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        );
        t = next;
    }
    assert_eq!(
        got[..5],
        [
            "2026-01-07 17:00",
            "2026-01-14 17:00",
            "2026-01-21 17:00",
            "2026-01-28 17:00",
            // Day 30 (4 February) starts the twice-monthly phase.
            "2026-02-15 17:00"
        ]
    );
    // Day 90 is 5 April: 1 April is still twice-monthly.
    assert_eq!(
        got[5..8],
        ["2026-03-01 17:00", "2026-03-15 17:00", "2026-04-01 17:00"]
    );
    assert!(got.contains(&"2026-05-01 17:00".to_string()));
    assert!(!got.contains(&"2026-04-15 17:00".to_string())); // monthly after day 90
    assert!(got.contains(&"2026-12-01 17:00".to_string()));
    assert!(!got.contains(&"2027-02-01 17:00".to_string())); // quarterly after day 365
    assert_eq!(got.last().unwrap(), "2027-07-01 17:00");
}

#[test]
fn milestones_count_days_then_anniversaries() {
    let since = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert_eq!(
        next_milestone(since, since),
        Some((d(2024, 3, 1), Mark::Days(1)))
    );
    assert_eq!(
        next_milestone(since, d(2024, 3, 1)),
        Some((d(2024, 3, 7), Mark::Days(7)))
    );
    assert_eq!(
        next_milestone(since, d(2024, 8, 27)),
        Some((d(2025, 2, 28), Mark::Years(1)))
    );
    assert_eq!(
        next_milestone(since, d(2025, 2, 28)),
        Some((d(2026, 2, 28), Mark::Years(2)))
    );
    assert_eq!(days_since(since, d(2024, 3, 30)), 30);
}

#[test]
fn durations_and_neutral_names() {
    assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
    assert_eq!(parse_duration("2h30m").unwrap(), Duration::minutes(150));
    assert!(parse_duration("24").unwrap_err().contains("unit"));
    assert!(parse_duration("soon").is_err());
    assert_eq!(
        revealing_word("Tuesday Recovery Group").as_deref(),
        Some("recovery")
    );
    assert_eq!(
        revealing_word("Grupo de adicción").as_deref(),
        Some("adiccion")
    );
    assert_eq!(revealing_word("Tuesday evening group"), None);
}

#[test]
fn two_sessions_reminders_can_fall_on_one_instant() {
    // Tuesday 18:00 (2 h before: Tue 16:00) and Wednesday 16:00 (24 h before: Tue 16:00):
    // each session keeps its own reminder (tests/rescheduling.rs sends both).
    let p = program(&["0 18 * * TUE", "0 16 * * WED"], &["24h", "2h"]);
    let got = reminders(&p, New_York, "2026-11-30T00:00:00Z", "2026-12-03T00:00:00Z");
    assert_eq!(
        got,
        [
            "Mon 18:00 -> Tue 18:00",
            "Tue 16:00 -> Tue 18:00",
            "Tue 16:00 -> Wed 16:00",
            "Wed 14:00 -> Wed 16:00",
        ]
    );
}

#[test]
fn durations_never_overflow_and_stop_at_ten_years() {
    for huge in [
        "999999999999d",
        "99999999999999999999m",
        "3650d1m",
        "100000000d",
        "9223372036854775807h",
    ] {
        let err = parse_duration(huge).unwrap_err();
        assert!(err.contains("longer than 3650 days"), "{huge}: {err}");
    }
    assert_eq!(parse_duration("3650d").unwrap(), Duration::days(3650));
    assert!(parse_duration("d").is_err());
}

#[test]
fn merged_reminders_cover_every_lead_they_absorb() {
    // 24 h and 23 h 30 m land within the hour: one reminder, covering down to 23 h 30 m.
    let p = program(&["0 18 * * TUE"], &["24h", "23h30m", "2h"]);
    let start = utc("2026-12-01T23:00:00Z");
    let slots = p.reminder_slots(New_York, &QuietHours::default(), start);
    let leads: Vec<i64> = slots.iter().map(|s| s.lead.num_minutes()).collect();
    assert_eq!(leads, [23 * 60 + 30, 120]);
}

#[test]
fn the_last_occurrence_mirrors_the_next_across_dst() {
    // 01:30 daily in New York: on fall-back day (1 November 2026) the first 01:30 is the
    // one; on spring-forward day (8 March 2026) 02:30 does not exist, so 03:00.
    let r = Recurrence::parse("30 1 * * *").unwrap();
    let last = r
        .last_at_or_before(New_York, utc("2026-11-01T07:00:00Z"))
        .unwrap();
    assert_eq!(last, utc("2026-11-01T05:30:00Z"));
    let r = Recurrence::parse("30 2 * * *").unwrap();
    let last = r
        .last_at_or_before(New_York, utc("2026-03-08T12:00:00Z"))
        .unwrap();
    assert_eq!(last, utc("2026-03-08T07:00:00Z"));
    assert_eq!(
        r.next_after(New_York, utc("2026-03-08T06:00:00Z")),
        Some(last)
    );
    // And the ladder's: the last check-in at or before a moment, within its phases.
    let ladder = Ladder::standard();
    let discharged = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let at = utc("2026-12-10T12:00:00Z");
    assert_eq!(
        ladder.last_checkin(New_York, discharged, at),
        Some(utc("2026-12-09T22:00:00Z"))
    );
    assert_eq!(
        ladder.last_checkin(New_York, discharged, utc("2026-12-02T21:59:00Z")),
        None
    );
}

#[test]
fn reminders_and_quiet_hours_on_dst_change_days() {
    let p = program(&["0 9 * * SUN"], &["24h", "2h"]);
    // Spring forward (Sunday 8 March 2026): 24 h before 09:00 EDT is 08:00 EST on
    // Saturday, outside quiet hours; 2 h before is 07:00 EDT, quiet, so 08:00 EDT.
    let got = reminders(&p, New_York, "2026-03-06T00:00:00Z", "2026-03-09T00:00:00Z");
    assert_eq!(got, ["Sat 08:00 -> Sun 09:00", "Sun 08:00 -> Sun 09:00"]);
    // Fall back (Sunday 1 November 2026): 24 h before 09:00 EST is 10:00 EDT on Saturday.
    let got = reminders(&p, New_York, "2026-10-30T00:00:00Z", "2026-11-02T00:00:00Z");
    assert_eq!(got, ["Sat 10:00 -> Sun 09:00", "Sun 08:00 -> Sun 09:00"]);
    // Quiet hours end at 08:00 local on both days, whatever the offset did overnight.
    let q = QuietHours::default();
    assert_eq!(
        q.end_after(New_York, utc("2026-03-08T06:30:00Z")), // 01:30 EST
        utc("2026-03-08T12:00:00Z")                         // 08:00 EDT
    );
    assert_eq!(
        q.end_after(New_York, utc("2026-11-01T05:30:00Z")), // 01:30 EDT
        utc("2026-11-01T13:00:00Z")                         // 08:00 EST
    );
    // Both 01:30s of the repeated hour are quiet; 21:00 starts them on either evening.
    assert!(q.contains(New_York, utc("2026-11-01T06:30:00Z"))); // 01:30 EST
    assert!(q.contains(New_York, utc("2026-03-09T01:00:00Z"))); // 21:00 EDT
    assert!(!q.contains(New_York, utc("2026-11-02T01:59:00Z"))); // 20:59 EST
}
