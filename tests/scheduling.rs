//! The scheduler and the outbox on a real store with a manual clock: RSVP and check-in
//! flows, restart without duplicates, the downtime rule, cancellations, /stop and
//! /forget across every index.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use waypoint::app::App;
use waypoint::config::Config;
use waypoint::delivery::Scheduler;
use waypoint::engine::{Body, ChatKind, Engine, Inbound, Stored};
use waypoint::locale::Locale;
use waypoint::store::{Outgoing, Store};
use waypoint::user::{Channel, UserKey};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const CONFIG: &str = r#"
[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
cancelled = ["2026-12-03"]
[[program.session]]
cron = "0 18 * * MON,WED,THU"
place = "Room 2"
"#;

struct Bench {
    dir: tempfile::TempDir,
    store: Store,
    app: Arc<App>,
    scheduler: Scheduler,
}

fn open(dir: tempfile::TempDir, config: &str) -> Bench {
    let config = Config::parse(Path::new("test.toml"), config).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let app = Arc::new(App::new(
        Engine::new(common::content(), config.settings),
        Arc::new(store.clone()),
    ));
    let scheduler = Scheduler::new(app.clone(), store.clone());
    Bench {
        dir,
        store,
        app,
        scheduler,
    }
}

impl Bench {
    fn new() -> Bench {
        open(tempfile::tempdir().unwrap(), CONFIG)
    }

    /// Closes the store and opens it again, as after a restart.
    fn restart(self) -> Bench {
        let dir = self.dir;
        drop((self.scheduler, self.app, self.store));
        open(dir, CONFIG)
    }

    fn say(&self, user: &UserKey, at: DateTime<Utc>, body: Body) -> Vec<String> {
        let outcome = self.app.handle(&Inbound {
            user: user.clone(),
            at,
            language: Some(Locale::En),
            chat: ChatKind::Private,
            body,
            sender: None,
        });
        outcome.replies.into_iter().map(|r| r.text).collect()
    }

    fn text(&self, user: &UserKey, at: DateTime<Utc>, text: &str) -> Vec<String> {
        self.say(user, at, Body::Text(text.into()))
    }

    /// Enrolls a person in New York (or `zone`) in the evening program.
    fn enroll(&self, user: &UserKey, at: DateTime<Utc>, zone: &str) {
        self.say(user, at, Body::Text("/start".into()));
        self.say(user, at, Body::Button("c:y:en".into()));
        self.say(user, at, Body::Button(format!("tz:{zone}")));
        let reply = self.say(user, at, Body::Button("p:evening".into()));
        assert!(reply[0].contains("Evening group"), "{reply:?}");
    }

    /// Gives `user` the care-team consent an invite gives, so their answers reach staff.
    fn with_care_team(&self, user: &UserKey) {
        let mut record = self.record(user);
        record.care_team_consent = true;
        self.store.save(user, &record, true).unwrap();
    }

    /// Runs the scheduler at `now` and takes every queued message (as a channel would).
    fn deliver(&self, now: DateTime<Utc>) -> Vec<Outgoing> {
        self.scheduler.run_due(now).unwrap();
        let items = self.store.outbox_items(usize::MAX).unwrap();
        for (key, _) in &items {
            self.store.outbox_remove(key).unwrap();
        }
        items.into_iter().map(|(_, item)| item).collect()
    }

    fn record(&self, user: &UserKey) -> waypoint::engine::UserRecord {
        match self.store.load(user).unwrap() {
            Stored::Found(r) => r,
            other => panic!("no record: {other:?}"),
        }
    }
}

fn ana() -> UserKey {
    UserKey::new(Channel::Telegram, "1001")
}

#[test]
fn a_reminder_arrives_once_with_rsvp_buttons_and_the_answer_is_kept() {
    let b = Bench::new();
    let monday_morning = utc("2026-11-30T14:00:00Z"); // 09:00 EST
    b.enroll(&ana(), monday_morning, "America/New_York");
    b.with_care_team(&ana());
    assert!(
        b.deliver(utc("2026-11-30T20:59:00Z")).is_empty(),
        "nothing before 15:59 EST"
    );
    let sent = b.deliver(utc("2026-11-30T21:00:00Z")); // 16:00 EST: 2 h before 18:00
    assert_eq!(sent.len(), 1);
    let reminder = &sent[0].reply;
    assert!(
        reminder
            .text
            .starts_with("Evening group: tonight at 6:00 PM."),
        "{}",
        reminder.text
    );
    assert!(reminder.text.contains("Room 2"));
    let labels: Vec<&str> = reminder.buttons[0]
        .iter()
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(labels, ["Going", "Running late", "Can't make it"]);
    assert!(
        b.deliver(utc("2026-11-30T21:30:00Z")).is_empty(),
        "never twice"
    );

    let absent = reminder.buttons[0][2].data.clone();
    let reply = b.say(
        &ana(),
        utc("2026-11-30T21:05:00Z"),
        Body::Button(absent.clone()),
    );
    assert!(
        reply[0].contains("noted it for your care team"),
        "{reply:?}"
    );
    let record = b.record(&ana());
    assert_eq!(record.rsvps.len(), 1);
    assert_eq!(record.escalations.len(), 1);
    // After the session has started, the button is closed.
    let late = b.say(&ana(), utc("2026-11-30T23:30:00Z"), Body::Button(absent));
    assert!(late[0].contains("already started"), "{late:?}");
    // The next reminder is 24 h before Wednesday's session.
    let next = b.deliver(utc("2026-12-01T23:00:00Z"));
    assert_eq!(next.len(), 1);
    assert!(
        next[0].reply.text.contains("tomorrow at 6:00 PM"),
        "{}",
        next[0].reply.text
    );
}

#[test]
fn a_person_in_another_zone_sees_their_own_time() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-11-30T14:00:00Z"), "America/Chicago");
    let sent = b.deliver(utc("2026-11-30T21:00:00Z"));
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].reply.text.contains("tonight at 5:00 PM CST"),
        "{}",
        sent[0].reply.text
    );
}

#[test]
fn a_restart_in_the_middle_of_a_burst_sends_nothing_twice() {
    let b = Bench::new();
    let people: Vec<UserKey> = (0..40)
        .map(|i| UserKey::new(Channel::Telegram, format!("{}", 2000 + i)))
        .collect();
    for p in &people {
        b.enroll(p, utc("2026-11-30T14:00:00Z"), "America/New_York");
    }
    // Fire the burst, "send" half of the queue, then stop.
    b.scheduler.run_due(utc("2026-11-30T21:00:00Z")).unwrap();
    let queued = b.store.outbox_items(usize::MAX).unwrap();
    assert_eq!(queued.len(), 40);
    for (key, _) in &queued[..20] {
        b.store.outbox_remove(key).unwrap();
    }
    let b = b.restart();
    // After the restart the other half is still queued, and nothing fires again.
    let left = b.deliver(utc("2026-11-30T21:01:00Z"));
    assert_eq!(left.len(), 20);
    assert!(b.deliver(utc("2026-11-30T22:00:00Z")).is_empty());
}

#[test]
fn after_downtime_a_reminder_still_useful_goes_out_and_a_stale_one_is_dropped() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-11-30T14:00:00Z"), "America/New_York");
    // Down from 15:00 to 17:30 EST: the 16:00 reminder is late but the session has not
    // started, so it goes out.
    let sent = b.deliver(utc("2026-11-30T22:30:00Z"));
    assert_eq!(sent.len(), 1);
    // Down from before Tuesday 18:00 (the 24 h reminder for Wednesday) to Wednesday
    // 17:00: still useful, one reminder (not two) goes out.
    let sent = b.deliver(utc("2026-12-02T22:00:00Z"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    // Down across the whole of Wednesday evening and Thursday's reminders (Thursday is
    // cancelled), back Friday: nothing stale is sent.
    let sent = b.deliver(utc("2026-12-04T15:00:00Z"));
    assert!(sent.is_empty(), "{sent:?}");
}

#[test]
fn a_cancelled_session_gets_a_notice_instead_of_a_reminder_and_stops_and_forgets_clear_the_index() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-12-02T14:00:00Z"), "America/New_York");
    // Wednesday 16:00: reminder for Wednesday.
    assert_eq!(b.deliver(utc("2026-12-02T21:00:00Z")).len(), 1);
    // Wednesday 18:00 (24 h before Thursday, which is cancelled): a notice, once.
    let sent = b.deliver(utc("2026-12-02T23:00:00Z"));
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].reply.text.contains("is cancelled"),
        "{}",
        sent[0].reply.text
    );
    assert!(sent[0].reply.buttons.is_empty());
    assert!(
        b.deliver(utc("2026-12-03T21:00:00Z")).is_empty(),
        "no second notice"
    );

    // /stop empties the schedule; /resume plans again.
    b.text(&ana(), utc("2026-12-04T14:00:00Z"), "/stop");
    assert!(b.record(&ana()).jobs.is_empty());
    assert_eq!(b.store.due_len(), 0);
    b.text(&ana(), utc("2026-12-04T14:00:00Z"), "/resume");
    assert_eq!(b.store.due_len(), 1);

    // /forget leaves nothing of Ana in any tree, index or queue.
    b.store
        .enqueue(&[Outgoing::new(
            ana(),
            waypoint::engine::Reply {
                text: "queued".into(),
                buttons: vec![],
                urgent: false,
            },
            waypoint::store::Priority::Reply,
        )])
        .unwrap();
    b.text(&ana(), utc("2026-12-04T14:00:00Z"), "/forget");
    b.say(
        &ana(),
        utc("2026-12-04T14:00:00Z"),
        Body::Button("f:y".into()),
    );
    assert_eq!(b.store.due_len(), 0);
    assert!(b.store.members("evening").unwrap().is_empty());
    assert_eq!(b.store.outbox_len(), 0);
    let dir = b.dir.path().to_path_buf();
    drop((b.scheduler, b.app, b.store));
    let db = common::reopen_sled(&dir);
    for name in db.tree_names() {
        for entry in db.open_tree(&name).unwrap().iter() {
            let (k, v) = entry.unwrap();
            for bytes in [&k[..], &v[..]] {
                assert!(
                    !bytes.windows(7).any(|w| w == b"tg:1001"),
                    "something of Ana's is left in tree {:?}",
                    String::from_utf8_lossy(&name)
                );
            }
        }
    }
}

#[test]
fn a_config_cancellation_tells_those_already_reminded_at_start() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-12-02T14:00:00Z"), "America/New_York");
    // Reminded of Wednesday; Wednesday is then cancelled in the configuration.
    assert_eq!(b.deliver(utc("2026-12-02T21:00:00Z")).len(), 1);
    let dir = b.dir;
    drop((b.scheduler, b.app, b.store));
    let b = open(dir, &CONFIG.replace("2026-12-03", "2026-12-02"));
    let told = b
        .scheduler
        .announce_cancellations(utc("2026-12-02T21:30:00Z"))
        .unwrap();
    assert_eq!(told, 1);
    let sent = b.deliver(utc("2026-12-02T21:30:00Z"));
    assert!(
        sent[0]
            .reply
            .text
            .contains("tonight at 6:00 PM is cancelled"),
        "{sent:?}"
    );
    // Announced once, however often the bot restarts.
    assert_eq!(
        b.scheduler
            .announce_cancellations(utc("2026-12-02T21:40:00Z"))
            .unwrap(),
        0
    );
}

#[test]
fn alumni_get_check_ins_and_worrying_or_missing_answers_are_escalated() {
    let b = Bench::new();
    let now = utc("2026-11-30T14:00:00Z");
    b.enroll(&ana(), now, "America/New_York");
    b.with_care_team(&ana());
    // Discharge is terminal-only until the staff tools: over Telegram it is unknown.
    let reply = b.text(&ana(), now, "/_discharge 2026-11-30");
    assert!(reply[0].contains("don't know that command"), "{reply:?}");
    let mut record = b.record(&ana());
    record.discharged_on = Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    record.jobs = b.app.engine().plan(&record, now);
    b.store.save(&ana(), &record, false).unwrap();

    // Wednesday 17:00 EST: the first weekly check-in, no session reminders any more.
    let sent = b.deliver(utc("2026-12-02T22:00:00Z"));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].reply.text.contains("How are you doing"));
    // Unanswered, and the next one unanswered too: escalated at the third.
    assert_eq!(b.deliver(utc("2026-12-09T22:00:00Z")).len(), 1);
    assert!(b.record(&ana()).escalations.is_empty());
    assert_eq!(b.deliver(utc("2026-12-16T22:00:00Z")).len(), 1);
    let record = b.record(&ana());
    assert_eq!(record.missed_checkins, 2);
    assert_eq!(record.escalations.len(), 1);

    // Answered: a 4, no use, no outreach — thanks, no escalation, answers as values.
    let at = utc("2026-12-16T22:05:00Z");
    b.say(&ana(), at, Body::Button("k:m:4".into()));
    b.say(&ana(), at, Body::Button("k:u:n".into()));
    let done = b.say(&ana(), at, Body::Button("k:r:n".into()));
    assert!(done[0].contains("Thank you for checking in"), "{done:?}");
    let record = b.record(&ana());
    assert_eq!(record.escalations.len(), 1);
    assert_eq!(record.missed_checkins, 0);
    let last = record.checkins.last().unwrap();
    assert_eq!((last.mood, last.reach_out), (Some(4), Some(false)));

    // /checkin on demand; a 2 and "prefer not to say": escalated, support reply.
    b.text(&ana(), at, "/checkin");
    b.say(&ana(), at, Body::Button("k:m:2".into()));
    b.say(&ana(), at, Body::Button("k:u:p".into()));
    let done = b.say(&ana(), at, Body::Button("k:r:y".into()));
    assert!(
        done[0].contains("noted your answers for your care team"),
        "{done:?}"
    );
    assert!(done[0].contains("988"));
    assert_eq!(b.record(&ana()).escalations.len(), 3); // low mood, reach out
    // A stale check-in button after it closed.
    let stale = b.say(&ana(), at, Body::Button("k:r:y".into()));
    assert!(stale[0].contains("check-in is closed"), "{stale:?}");
}

#[test]
fn milestones_and_a_new_date_that_keeps_the_history() {
    let b = Bench::new();
    let now = utc("2026-11-30T14:00:00Z");
    b.enroll(&ana(), now, "America/New_York");
    let reply = b.text(&ana(), now, "/sober 2026-11-24");
    assert!(reply[0].contains("Days so far: 6"), "{reply:?}");
    // Day 7 is 1 December, congratulated at 10:00 local.
    let sent = b.deliver(utc("2026-12-01T15:00:00Z"));
    let congrats: Vec<_> = sent
        .iter()
        .filter(|s| s.reply.text.contains("day 7"))
        .collect();
    assert_eq!(congrats.len(), 1, "{sent:?}");
    let reply = b.text(&ana(), utc("2026-12-05T15:00:00Z"), "/sober 2026-12-04");
    assert!(reply[0].contains("before (10) still count"), "{reply:?}");
    let days = b.text(&ana(), utc("2026-12-05T15:00:00Z"), "/days");
    assert!(
        days[0].contains("Days since 2026-12-04: 1") && days[0].contains("Earlier counts kept: 1"),
        "{days:?}"
    );
    assert!(b.text(&ana(), now, "/sober 2027-01-01")[0].contains("hasn't happened"));
}

#[test]
fn a_message_written_while_a_reminder_is_due_does_not_swallow_it() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-11-30T14:00:00Z"), "America/New_York");
    // The reminder is due at 21:00; the person writes at 21:00:05, before the scheduler
    // has woken.
    b.text(&ana(), utc("2026-11-30T21:00:05Z"), "/privacy");
    let sent = b.deliver(utc("2026-11-30T21:00:06Z"));
    assert_eq!(sent.len(), 1, "{sent:?}");
}

#[test]
fn a_spanish_speaker_gets_the_reminder_in_spanish_with_a_24_hour_clock() {
    let b = Bench::new();
    let at = utc("2026-11-29T14:00:00Z"); // Sunday
    b.say(&ana(), at, Body::Text("/start".into()));
    b.say(&ana(), at, Body::Button("l:es".into()));
    b.say(&ana(), at, Body::Button("c:y:es".into()));
    b.say(&ana(), at, Body::Button("tz:America/New_York".into()));
    b.say(&ana(), at, Body::Button("p:evening".into()));
    let sent = b.deliver(utc("2026-11-29T23:00:00Z")); // Sunday 18:00: 24 h before Monday
    assert_eq!(sent.len(), 1);
    let text = &sent[0].reply.text;
    assert!(
        text.starts_with("Evening group: mañana a las 18:00."),
        "{text}"
    );
    let labels: Vec<&str> = sent[0].reply.buttons[0]
        .iter()
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(labels, ["Voy", "Llego tarde", "No puedo ir"]);
}

#[test]
fn a_milestone_found_late_in_someones_night_is_not_sent_on_another_day() {
    let b = Bench::new();
    b.enroll(&ana(), utc("2026-11-30T14:00:00Z"), "America/New_York");
    b.text(&ana(), utc("2026-11-30T14:00:00Z"), "/sober 2026-11-24");
    // Day 7's congratulation ("today marks day 7") is due at 10:00 on 1 December; the
    // bot is down until 02:30 on 2 December, New York time: not in the night, and not
    // the next morning either, when it would no longer be true.
    let night = b.deliver(utc("2026-12-02T07:30:00Z"));
    let morning = b.deliver(utc("2026-12-02T13:00:00Z"));
    assert!(
        night
            .iter()
            .chain(&morning)
            .all(|s| !s.reply.text.contains("day 7")),
        "{night:?} {morning:?}"
    );
    // The next one is still planned.
    let record = b.record(&ana());
    assert!(
        record.jobs.iter().any(|j| matches!(
            j.kind,
            waypoint::engine::JobKind::Milestone {
                mark: waypoint::schedule::Mark::Days(30),
                ..
            }
        )),
        "{:?}",
        record.jobs
    );
}

#[test]
fn a_scheduled_job_and_forget_at_the_same_time_leave_nothing_behind() {
    let b = Bench::new();
    let people: Vec<UserKey> = (0..30)
        .map(|i| UserKey::new(Channel::Telegram, format!("{}", 3000 + i)))
        .collect();
    for p in &people {
        b.enroll(p, utc("2026-11-30T14:00:00Z"), "America/New_York");
        b.text(p, utc("2026-11-30T20:59:00Z"), "/forget");
    }
    std::thread::scope(|s| {
        s.spawn(|| b.scheduler.run_due(utc("2026-11-30T21:00:00Z")).unwrap());
        for p in &people {
            b.say(p, utc("2026-11-30T21:00:00Z"), Body::Button("f:y".into()));
        }
    });
    for p in &people {
        assert!(b.store.keys_of(p).unwrap().is_empty(), "{p} came back");
    }
}
