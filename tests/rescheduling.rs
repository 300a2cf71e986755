//! Schedules that survive restarts, lag and zone changes: the terminal channel driven with
//! fixed instants (as `waypoint chat --at … ` is), one test per fault found that way.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use waypoint::app::App;
use waypoint::channels::console;
use waypoint::clock::ManualClock;
use waypoint::config::Config;
use waypoint::delivery::Scheduler;
use waypoint::engine::Engine;
use waypoint::locale::Locale;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn example_config() -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("waypoint.example.toml");
    Config::load(&path).unwrap()
}

/// One run of `waypoint chat --at AT` on the store in `data`, with `script` typed in;
/// returns what it printed. Each call is a fresh process as far as the store goes: two
/// calls on one directory are a restart.
fn chat_in(data: &Path, language: Locale, at: &str, script: &str) -> String {
    let store = Store::open(data).unwrap();
    let engine = Engine::new(common::content(), example_config().settings);
    let app = Arc::new(App::staffed(engine, store.clone()));
    let scheduler = Scheduler::new(app.clone(), store);
    let clock = ManualClock::new(utc(at));
    let user = UserKey::new(Channel::Terminal, "ana");
    let mut out = Vec::new();
    console::run(
        &app,
        &scheduler,
        &clock,
        &user,
        Some(language),
        script.as_bytes(),
        &mut out,
        false,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn chat(data: &Path, at: &str, script: &str) -> String {
    chat_in(data, Locale::En, at, script)
}

/// Consent, a time zone (the n-th button), a program (the n-th button).
fn enroll(zone: u8, program: u8) -> String {
    format!("/start\n1\n{zone}\n/program\n{program}\n")
}

const NEW_YORK: u8 = 1;
const HONOLULU: u8 = 7;
const EVENING: u8 = 1;
const MORNING: u8 = 2;

/// The lines of `/privacy` that list what is scheduled.
fn scheduled(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.contains("next scheduled messages"))
        .collect()
}

#[test]
fn a_restart_in_quiet_hours_keeps_the_reminder_chain() {
    let data = tempfile::tempdir().unwrap();
    chat(
        data.path(),
        "2026-12-02T14:10:00Z",
        &enroll(NEW_YORK, EVENING),
    );
    // Back at 21:10 in New York, inside quiet hours, after Wednesday's reminder and the
    // 24 h one for Thursday were due.
    let out = chat(
        data.path(),
        "2026-12-03T02:10:00Z",
        "/privacy\n/_time +20h\n",
    );
    let planned = scheduled(&out);
    assert!(
        planned.len() == 1 && !planned[0].ends_with(": -"),
        "nothing planned after the restart:\n{out}"
    );
    assert!(
        out.contains("Evening group: tonight at 6:00 PM") || out.contains("Evening group: today"),
        "Thursday's session was never reminded:\n{out}"
    );
}

#[test]
fn one_minute_of_lag_at_the_evening_before_still_reminds_and_keeps_the_chain() {
    let data = tempfile::tempdir().unwrap();
    // Honolulu, morning group (09:30 New York = 04:30 Honolulu): Friday's 2 h reminder
    // moves to 20:59 on Thursday evening; the scheduler reaches it at 21:00.
    let script = format!("{}/_time +3890m\n/privacy\n", enroll(HONOLULU, MORNING));
    let out = chat(data.path(), "2026-12-01T14:10:00Z", &script);
    let after = out.split("(clock moved to").nth(1).unwrap();
    assert_eq!(
        after.matches("Will you make it?").count(),
        1,
        "one reminder for Friday, a minute late:\n{out}"
    );
    assert!(
        after.contains("Morning group: tomorrow at 4:30 AM HST"),
        "{out}"
    );
    let planned = scheduled(after);
    assert!(
        planned.len() == 1 && planned[0].contains("reminder"),
        "the chain ended:\n{out}"
    );
}

#[test]
fn the_24_hour_reminder_goes_out_late_while_its_session_is_ahead() {
    let data = tempfile::tempdir().unwrap();
    // 9 h later it is 18:10 on Wednesday: Wednesday's session has started, Thursday's
    // 24 h reminder (due at 18:00) has not been sent, and its session is a day ahead.
    let script = format!("{}/_time +9h\n/privacy\n", enroll(NEW_YORK, EVENING));
    let out = chat(data.path(), "2026-12-02T14:10:00Z", &script);
    let after = out.split("(clock moved to").nth(1).unwrap();
    assert!(
        after.contains("Evening group: tomorrow at 6:00 PM"),
        "the 24 h reminder was skipped:\n{out}"
    );
    assert_eq!(after.matches("Will you make it?").count(), 1, "{out}");
}

#[test]
fn changing_zone_westward_does_not_repeat_a_milestone() {
    let data = tempfile::tempdir().unwrap();
    let script = format!(
        "{}/sober 2026-11-25\n/_time +1h\n/timezone\n{HONOLULU}\n/_time +6h\n/_time +1d\n",
        enroll(NEW_YORK, EVENING)
    );
    let out = chat(data.path(), "2026-12-02T14:10:00Z", &script);
    assert_eq!(out.matches("marks day 7").count(), 1, "{out}");
}

#[test]
fn changing_zone_eastward_after_the_new_zones_moment_still_sends_the_milestone() {
    let data = tempfile::tempdir().unwrap();
    let script = format!(
        "{}/sober 2026-11-25\n/_time +2h\n/timezone\n{NEW_YORK}\n/_time +1d\n",
        enroll(HONOLULU, EVENING)
    );
    let out = chat(data.path(), "2026-12-02T14:10:00Z", &script);
    assert_eq!(out.matches("marks day 7").count(), 1, "{out}");
}

#[test]
fn changing_zone_westward_does_not_repeat_a_check_in() {
    let data = tempfile::tempdir().unwrap();
    // Discharged on Monday: the first check-in is Wednesday 17:00 in New York; moving to
    // Honolulu (12:00 there) must not bring Wednesday's back at 17:00 Honolulu time.
    let script = format!(
        "{}/_discharge 2026-11-30\n/_time +8h\n/timezone\n{HONOLULU}\n/_time +6h\n/_time +1d\n",
        enroll(NEW_YORK, EVENING)
    );
    let out = chat(data.path(), "2026-12-02T14:10:00Z", &script);
    assert_eq!(out.matches("How are you doing").count(), 1, "{out}");
}

#[test]
fn downtime_keeps_a_missed_check_ins_place() {
    let data = tempfile::tempdir().unwrap();
    // The README's recipe: discharged, then a week later a check-in shows.
    let script = format!(
        "{}/_discharge 2026-11-30\n/_time +7d\n",
        enroll(NEW_YORK, EVENING)
    );
    let out = chat(data.path(), "2026-12-02T23:30:00Z", &script);
    let after = out.split("(clock moved to").nth(1).unwrap();
    assert_eq!(
        after.matches("How are you doing").count(),
        1,
        "the missed check-in was dropped (or sent more than once):\n{out}"
    );
    // Down for three weeks, back at night: the most recent missed one, once, in the
    // morning.
    let out = chat(
        data.path(),
        "2026-12-31T04:00:00Z",
        "/_time +5h\n/_time +5h\n",
    );
    let parts: Vec<&str> = out.split("(clock moved to").collect();
    assert!(!parts[0].contains("How are you doing"), "at night:\n{out}");
    assert_eq!(out.matches("How are you doing").count(), 1, "{out}");
    assert!(
        parts[2].contains("How are you doing"),
        "in the morning:\n{out}"
    );
}

#[test]
fn privacy_in_spanish_names_scheduled_messages_in_spanish() {
    let data = tempfile::tempdir().unwrap();
    let script = format!("{}/privacy\n", enroll(NEW_YORK, EVENING));
    let out = chat_in(data.path(), Locale::Es, "2026-12-02T14:10:00Z", &script);
    let planned = scheduled_es(&out);
    assert!(
        planned.contains("recordatorio") && !planned.contains("reminder"),
        "{planned}"
    );
}

fn scheduled_es(out: &str) -> &str {
    out.lines()
        .find(|l| l.contains("próximos mensajes programados"))
        .unwrap_or("")
}

#[test]
fn the_program_confirmation_names_the_zone_as_reminders_do() {
    let data = tempfile::tempdir().unwrap();
    let out = chat(
        data.path(),
        "2026-12-02T14:10:00Z",
        &enroll(HONOLULU, EVENING),
    );
    assert!(out.contains("Next session: today at 1:00 PM HST."), "{out}");
}
