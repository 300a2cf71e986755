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
        std::io::Cursor::new(script.as_bytes().to_vec()),
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
        planned.len() == 1 && !planned[0].ends_with(": none"),
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

#[test]
fn two_sessions_reminders_on_one_instant_both_go_out() {
    // Tuesday 18:00 (2 h before: Tue 16:00) and Wednesday 16:00 (24 h before: Tue 16:00).
    let config = r#"
[[program]]
id = "twice"
name = "Group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * TUE"
[[program.session]]
cron = "0 16 * * WED"
"#;
    let mut sim = Sim::new(
        config,
        "America/New_York",
        Role::Participant("twice"),
        utc("2026-11-30T05:00:00Z"),
    );
    sim.advance(utc("2026-12-01T21:00:00Z")).unwrap();
    let at_16: Vec<_> = sim
        .log
        .iter()
        .filter(|(at, _)| *at == utc("2026-12-01T21:00:00Z"))
        .collect();
    assert_eq!(at_16.len(), 2, "{:?}", sim.log);
}

// --- Properties: any sequence of clock jumps, restarts and zone changes ---------------

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use waypoint::engine::buttons::Action;
use waypoint::engine::{Body, Change, ChatKind, Inbound, Stored, UserRecord};
use waypoint::schedule::QuietHours;

/// Programs for the properties: the example's two, and one at 01:30 and 02:30 Chicago
/// time on Sundays, which meets both DST changes (1 November and 8 March 2026).
const PROGRAMS: &str = r#"
[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
[[program]]
id = "morning"
name = "Morning group"
timezone = "America/New_York"
[[program.session]]
cron = "30 9 * * TUE,FRI"
[[program]]
id = "late"
name = "Late group"
timezone = "America/Chicago"
reminders = ["3h", "30m"]
[[program.session]]
cron = "30 1,2 * * SUN"
"#;

const ZONES: [&str; 6] = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Phoenix",
];

#[derive(Debug, Clone, Copy)]
enum Role {
    Participant(&'static str),
    /// Discharged this many days before the start.
    Alumnus(i64),
}

/// One person and an in-memory scheduler over the pure engine: every wake fires what is
/// due, earliest first, exactly as `delivery::Scheduler` does with the store.
struct Sim {
    engine: Engine,
    record: UserRecord,
    now: DateTime<Utc>,
    /// Whether the person has a record yet.
    stored: bool,
    /// The channel scheduled messages go out on (texting limits apply to SMS).
    channel: Channel,
    /// When the person chose their program.
    enrolled: DateTime<Utc>,
    /// Everything sent: when, and what.
    log: Vec<(DateTime<Utc>, Sent)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Reminder { session: DateTime<Utc>, lead: i64 },
    Checkin(chrono::NaiveDateTime),
    Milestone(NaiveDate, String),
}

impl Sim {
    fn new(programs: &str, zone: &str, role: Role, now: DateTime<Utc>) -> Sim {
        let config = Config::parse(Path::new("test.toml"), programs).unwrap();
        let engine = Engine::new(common::content(), config.settings);
        let mut sim = Sim {
            engine,
            record: UserRecord::new(Locale::En, now),
            now,
            stored: false,
            channel: Channel::Terminal,
            enrolled: now,
            log: Vec::new(),
        };
        sim.say(Body::Button("c:y:en".into()));
        sim.say(Body::Button(format!("tz:{zone}")));
        match role {
            Role::Participant(program) => sim.say(Body::Button(format!("p:{program}"))),
            Role::Alumnus(days) => {
                let date = (now - Duration::days(days)).date_naive();
                sim.say(Body::Text(format!("/_discharge {date}")));
            }
        }
        sim
    }

    fn say(&mut self, body: Body) {
        let inbound = Inbound {
            user: UserKey::new(Channel::Terminal, "sim"),
            at: self.now,
            language: Some(Locale::En),
            chat: ChatKind::Private,
            body,
            sender: None,
        };
        let stored = if self.stored {
            Stored::Found(self.record.clone())
        } else {
            Stored::Nothing
        };
        if let Change::Save { record, .. } = self.engine.handle(&stored, &inbound).change {
            self.record = record;
            self.stored = true;
        }
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.record.timezone.as_deref().unwrap().parse().unwrap()
    }

    /// Moves the clock to `to` and wakes the scheduler once there (what a restart, a
    /// jump or a late scheduler looks like).
    fn advance(&mut self, to: DateTime<Utc>) -> Result<(), TestCaseError> {
        self.now = to;
        self.wake()
    }

    fn wake(&mut self) -> Result<(), TestCaseError> {
        let now = self.now;
        for _ in 0..64 {
            let Some(job) = self
                .record
                .jobs
                .iter()
                .filter(|j| j.at <= now)
                .min_by_key(|j| j.at)
                .cloned()
            else {
                return Ok(());
            };
            let before = self.record.clone();
            let outcome = self.engine.fire(
                &Stored::Found(before.clone()),
                self.channel,
                (job.kind.tag(), job.at),
                &[],
                now,
            );
            match outcome.change {
                Change::Save { record, .. } => self.record = record,
                _ => self.record.jobs.retain(|j| *j != job),
            }
            for reply in &outcome.replies {
                let sent = self.identify(&before, reply)?;
                prop_assert!(
                    !self.log.iter().any(|(_, s)| *s == sent),
                    "sent twice: {sent:?} at {now}; log {:?}",
                    self.log
                );
                self.log.push((now, sent));
            }
        }
        Err(TestCaseError::fail(format!(
            "the scheduler never settled at {now}"
        )))
    }

    /// What a reply was, by its identity. A reminder is known by its session and the
    /// shortest lead it now covers, which must have come down: a reminder that covers
    /// nothing new is a repeat.
    fn identify(
        &self,
        before: &UserRecord,
        reply: &waypoint::engine::Reply,
    ) -> Result<Sent, TestCaseError> {
        if let Some(Action::Rsvp { session, .. }) = reply
            .buttons
            .first()
            .and_then(|row| row.first())
            .and_then(|b| Action::decode(&b.data))
        {
            let session = DateTime::from_timestamp(session * 60, 0).unwrap();
            let lead = |r: &UserRecord| {
                r.reminded
                    .iter()
                    .find(|x| x.session == session)
                    .map(|x| x.lead_minutes)
            };
            let (old, new) = (lead(before), lead(&self.record));
            prop_assert!(
                new.is_some() && old.is_none_or(|o| new < Some(o)),
                "a reminder for {session} that covers nothing new ({old:?} -> {new:?})"
            );
            return Ok(Sent::Reminder {
                session,
                lead: new.unwrap_or_default(),
            });
        }
        if reply.text.contains("How are you doing") {
            let through = self.record.checkins_through;
            prop_assert!(
                through > before.checkins_through,
                "a check-in with no new occurrence"
            );
            return Ok(Sent::Checkin(through.unwrap_or_default()));
        }
        if reply.text.contains("marks") {
            let since = before.sober.as_ref().map(|s| s.since).unwrap_or_default();
            return Ok(Sent::Milestone(since, reply.text.clone()));
        }
        Err(TestCaseError::fail(format!(
            "unexpected message: {}",
            reply.text
        )))
    }

    /// After a wake: nothing left due, an active person always has a next message, and
    /// every session still ahead whose reminder time has come (outside quiet hours) has
    /// been reminded — with its latest reminder by then.
    fn check(&self) -> Result<(), TestCaseError> {
        let now = self.now;
        prop_assert!(
            self.record.jobs.iter().all(|j| j.at > now),
            "left due: {:?}",
            self.record.jobs
        );
        prop_assert!(!self.record.jobs.is_empty(), "nothing planned at {now}");
        let Some(program) = self
            .record
            .program
            .as_deref()
            .and_then(|id| self.engine.settings().schedules.program(id))
        else {
            return Ok(());
        };
        if self.record.discharged_on.is_some() {
            return Ok(());
        }
        let tz = self.tz();
        let quiet = QuietHours::default();
        if quiet.contains(tz, now) {
            return Ok(());
        }
        let settled = self.enrolled + program.longest_lead().unwrap() + Duration::days(1);
        for o in program
            .sessions_after(now)
            .take_while(|o| o.start < now + Duration::days(3))
        {
            if o.start <= settled {
                continue;
            }
            let Some(latest) = program
                .reminder_slots(tz, &quiet, o.start)
                .into_iter()
                .rfind(|s| s.at <= now)
            else {
                continue;
            };
            let covered = self.log.iter().any(|(_, s)| {
                matches!(s, Sent::Reminder { session, lead } if *session == o.start && *lead <= latest.lead.num_minutes())
            });
            prop_assert!(
                covered,
                "the session at {} was not reminded (latest reminder due {}); log {:?}",
                o.start,
                latest.at,
                self.log
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The clock moves on and the scheduler wakes there: lag, a restart, downtime.
    Jump(i64),
    /// The person moves to another zone (and the scheduler wakes, as after any message).
    Zone(usize),
    /// The day count starts this many days ago.
    Sober(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1i64..=240).prop_map(Step::Jump),
        3 => (240i64..=4000).prop_map(Step::Jump),
        2 => (0usize..ZONES.len()).prop_map(Step::Zone),
        1 => (0i64..=400).prop_map(Step::Sober),
    ]
}

fn start() -> impl Strategy<Value = DateTime<Utc>> {
    (
        proptest::sample::select(vec![
            "2026-10-27T12:00:00Z", // fall back on 1 November
            "2026-03-03T12:00:00Z", // spring forward on 8 March
            "2026-11-30T14:10:00Z",
        ]),
        0i64..(3 * 24 * 60),
    )
        .prop_map(|(s, m)| utc(s) + Duration::minutes(m))
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        proptest::sample::select(vec!["evening", "morning", "late"]).prop_map(Role::Participant),
        (0i64..120).prop_map(Role::Alumnus),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_jumps_restarts_and_zone_changes_keep_the_schedule(
        begin in start(),
        zone in 0usize..ZONES.len(),
        who in role(),
        steps in proptest::collection::vec(step(), 1..30),
    ) {
        let mut sim = Sim::new(PROGRAMS, ZONES[zone], who, begin);
        sim.wake()?;
        sim.check()?;
        for step in steps {
            match step {
                Step::Jump(minutes) => {
                    let to = sim.now + Duration::minutes(minutes);
                    sim.advance(to)?;
                }
                Step::Zone(z) => {
                    sim.say(Body::Text("/timezone".into()));
                    sim.say(Body::Button(format!("tz:{}", ZONES[z])));
                    sim.wake()?;
                }
                Step::Sober(days) => {
                    let date: NaiveDate = (sim.now.with_timezone(&sim.tz()) - Duration::days(days)).date_naive();
                    sim.say(Body::Text(format!("/sober {date}")));
                    sim.wake()?;
                }
            }
            sim.check()?;
        }
    }
}

#[test]
fn sessions_on_dst_change_nights_are_reminded_once_each() {
    // 01:30 and 02:30 on Sunday, Chicago: on 1 November 01:30 happens twice, on 8 March
    // 02:30 does not happen (the session is at 03:00). Reminders 3 h and 30 min before
    // all fall in quiet hours, so each session gets one, at 20:59 on Saturday.
    for (from, to) in [
        ("2026-10-31T12:00:00Z", "2026-11-01T12:00:00Z"),
        ("2026-03-07T12:00:00Z", "2026-03-08T12:00:00Z"),
    ] {
        let mut sim = Sim::new(
            PROGRAMS,
            "America/Chicago",
            Role::Participant("late"),
            utc(from),
        );
        while sim.now < utc(to) {
            let next = sim.now + Duration::minutes(10);
            sim.advance(next).unwrap();
            sim.check().unwrap();
        }
        let sessions: Vec<DateTime<Utc>> = sim
            .log
            .iter()
            .map(|(_, sent)| match sent {
                Sent::Reminder { session, .. } => *session,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sessions.len(), 2, "{from}: {:?}", sim.log);
        assert_ne!(sessions[0], sessions[1], "{from}: {:?}", sim.log);
    }
}

#[test]
fn a_missed_check_in_keeps_to_the_texting_caps_on_return() {
    // Discharged on Wednesday 2 December; down until 08:05 on Wednesday 9 December, when
    // a scheduled text already went out today (one a day): the missed check-in waits
    // for tomorrow's window, and then the latest (that evening's) goes, once.
    let mut sim = Sim::new(
        PROGRAMS,
        "America/New_York",
        Role::Alumnus(0),
        utc("2026-12-02T12:00:00Z"),
    );
    sim.channel = Channel::Sms;
    sim.record.texted = vec![utc("2026-12-09T13:00:00Z")];
    sim.advance(utc("2026-12-09T13:05:00Z")).unwrap();
    assert!(sim.log.is_empty(), "{:?}", sim.log);
    while sim.now < utc("2026-12-11T12:00:00Z") {
        let next = sim.now + Duration::minutes(30);
        sim.advance(next).unwrap();
    }
    let sent: Vec<_> = sim.log.iter().map(|(at, _)| *at).collect();
    assert_eq!(sent, [utc("2026-12-10T13:05:00Z")], "{:?}", sim.log);
    assert!(
        matches!(sim.log[0].1, Sent::Checkin(wall) if wall.to_string() == "2026-12-09 17:00:00")
    );
}
