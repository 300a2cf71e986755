//! The staff desk and alerts: staff-only commands, alerts in the staff group with claim
//! buttons, the crisis text only with consent, discharge, roster, cancel and broadcast.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use waypoint::app::App;
use waypoint::config::Config;
use waypoint::delivery::Scheduler;
use waypoint::engine::{Body, ChatKind, Engine, Inbound, JobKind, Reply, Stored, UserRecord};
use waypoint::enroll::{self, Invite, Role};
use waypoint::locale::Locale;
use waypoint::store::{Outgoing, Store};
use waypoint::user::{Channel, UserKey};

const STAFF: i64 = 777;
const GROUP: i64 = -100_500;

const CONFIG: &str = r#"
[telegram]
bot_username = "waypoint_test_bot"
[staff]
members = [{ id = 777, name = "Dana" }]
group_chat_id = -100500
[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
"#;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Clinic {
    _dir: tempfile::TempDir,
    store: Store,
    app: Arc<App>,
    scheduler: Scheduler,
}

impl Clinic {
    fn new() -> Clinic {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = Config::parse(Path::new("test.toml"), CONFIG).unwrap();
        let app = Arc::new(App::staffed(
            Engine::new(common::content(), config.settings),
            store.clone(),
        ));
        let scheduler = Scheduler::new(app.clone(), store.clone());
        Clinic {
            _dir: dir,
            store,
            app,
            scheduler,
        }
    }

    fn send(&self, chat: i64, sender: i64, body: Body) -> Vec<Reply> {
        self.app
            .handle(&Inbound {
                user: UserKey::new(Channel::Telegram, chat.to_string()),
                at: t0(),
                language: Some(Locale::En),
                chat: if chat < 0 {
                    ChatKind::Shared
                } else {
                    ChatKind::Private
                },
                body,
                sender: Some(sender.to_string()),
            })
            .replies
    }

    /// A private message from `who`.
    fn text(&self, who: i64, text: &str) -> String {
        joined(&self.send(who, who, Body::Text(text.into())))
    }

    /// Enrolls `who` through an invite, with `alias` and the crisis-text choice.
    fn enroll(&self, who: i64, alias: &str, share: bool) {
        let code = enroll::new_code().unwrap();
        let invite = Invite {
            program: "evening".into(),
            role: Role::Participant,
            created: t0(),
            expires: None,
            max_uses: None,
            uses: 0,
            revoked: false,
        };
        self.store.put_invite(&code, &invite).unwrap();
        self.text(who, &format!("/start {code}"));
        self.send(who, who, Body::Button(format!("c:y:en:{code}")));
        self.send(who, who, Body::Button("tz:America/New_York".into()));
        self.text(who, alias);
        self.send(
            who,
            who,
            Body::Button(format!("x:{}", if share { "y" } else { "n" })),
        );
        assert_eq!(self.record(who).alias.as_deref(), Some(alias));
    }

    fn record(&self, who: i64) -> UserRecord {
        match self
            .store
            .load(&UserKey::new(Channel::Telegram, who.to_string()))
            .unwrap()
        {
            Stored::Found(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Runs the scheduler (which posts alerts) and takes what is queued for `chat`.
    fn queued_for(&self, chat: i64) -> Vec<Outgoing> {
        self.scheduler.run_due(t0()).unwrap();
        let mut out = Vec::new();
        for (key, item) in self.store.outbox_items(usize::MAX).unwrap() {
            if item.user.id == chat.to_string() {
                self.store.outbox_remove(&key).unwrap();
                out.push(item);
            }
        }
        out
    }
}

fn joined(replies: &[Reply]) -> String {
    replies
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn staff_commands_from_anyone_else_are_ordinary_unknown_commands() {
    let clinic = Clinic::new();
    let stranger = 4242;
    let unknown = clinic.text(stranger, "/frobnicate");
    for command in [
        "/roster evening",
        "/broadcast evening",
        "/cancel evening 2026-12-02",
        "/discharge Ana",
        "/stats",
        "/invite evening participant",
        "/staff",
    ] {
        assert_eq!(clinic.text(stranger, command), unknown, "{command}");
    }
    // Even an enrolled participant gets nothing more.
    clinic.enroll(100, "Ana", false);
    assert_eq!(clinic.text(100, "/stats"), clinic.text(100, "/frobnicate"));
    // A stranger pressing an alert button in the staff group changes nothing.
    clinic.text(100, "I want to kill myself");
    let posted = clinic.queued_for(GROUP);
    let claim = posted[0].reply.buttons[0][0].data.clone();
    assert!(clinic.send(GROUP, stranger, Body::Button(claim)).is_empty());
    assert!(clinic.store.alerts().unwrap()[0].claimed_by.is_none());
    // In the staff group the bot stays quiet unless it is its business.
    assert!(
        clinic
            .send(GROUP, STAFF, Body::Text("who is on call tonight?".into()))
            .is_empty()
    );
    assert!(
        clinic
            .send(GROUP, stranger, Body::Text("/roster evening".into()))
            .is_empty()
    );
    assert!(
        clinic.send(GROUP, STAFF, Body::Text("/roster evening".into()))[0]
            .text
            .contains("Ana")
    );
}

#[test]
fn a_crisis_reaches_the_staff_group_with_claim_buttons_and_words_only_with_consent() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    clinic.enroll(200, "Ben", true);
    // The person still gets the crisis reply first.
    assert!(
        clinic
            .text(100, "i want to end my life tonight")
            .contains("988")
    );
    clinic.text(200, "i took too many pills");
    let posted = clinic.queued_for(GROUP);
    assert_eq!(posted.len(), 1, "two alerts, one batched message");
    let text = &posted[0].reply.text;
    assert!(text.contains("Ana (Evening group): CRISIS"), "{text}");
    assert!(text.contains("Ben (Evening group): CRISIS"), "{text}");
    assert!(
        !text.contains("end my life"),
        "Ana did not agree to share her words"
    );
    assert!(text.contains("too many pills"), "Ben did");
    assert!(
        !text.contains("100") && !text.contains("200"),
        "no chat ids: {text}"
    );
    let labels: Vec<&str> = posted[0]
        .reply
        .buttons
        .iter()
        .flatten()
        .map(|b| b.label.as_str())
        .collect();
    assert!(
        labels.iter().any(|l| l.starts_with("I'll take #")),
        "{labels:?}"
    );

    let claim = posted[0].reply.buttons[0][0].data.clone();
    let done = posted[0].reply.buttons[0][1].data.clone();
    assert!(joined(&clinic.send(GROUP, STAFF, Body::Button(claim))).contains("taken by Dana"));
    assert!(joined(&clinic.send(GROUP, STAFF, Body::Button(done))).contains("closed by Dana"));
    assert!(clinic.queued_for(GROUP).is_empty(), "posted once");
}

#[test]
fn reach_out_requests_and_cant_make_it_are_alerts_too() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    clinic.send(100, 100, Body::Button("o:y:s".into()));
    let session = clinic
        .record(100)
        .jobs
        .iter()
        .find_map(|j| match j.kind {
            JobKind::Reminder { session } => Some(session),
            _ => None,
        })
        .unwrap();
    clinic.send(
        100,
        100,
        Body::Button(format!("v:{}:a", session.timestamp() / 60)),
    );
    let posted = clinic.queued_for(GROUP);
    let text = &posted[0].reply.text;
    assert!(text.contains("asked for someone to reach out"), "{text}");
    assert!(text.contains("can't make the session"), "{text}");
}

#[test]
fn discharge_roster_cancel_and_broadcast() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    clinic.enroll(200, "Ben", false);
    // Roster of the next session (Monday 18:00): nobody has answered yet.
    let roster = clinic.text(STAFF, "/roster evening");
    assert!(
        roster.contains("- Ana: -") && roster.contains("- Ben: -"),
        "{roster}"
    );

    // Discharge starts Ben's check-ins and tells him.
    let reply = clinic.text(STAFF, "/discharge ben");
    assert!(reply.contains("Ben is now an alumnus"), "{reply}");
    let ben = clinic.record(200);
    assert!(ben.jobs.iter().any(|j| j.kind == JobKind::Checkin));
    assert!(
        ben.jobs
            .iter()
            .all(|j| !matches!(j.kind, JobKind::Reminder { .. }))
    );
    assert!(
        joined(
            &clinic
                .queued_for(200)
                .into_iter()
                .map(|o| o.reply)
                .collect::<Vec<_>>()
        )
        .contains("Congratulations")
    );
    assert!(
        clinic
            .text(STAFF, "/discharge Nobody")
            .contains("No one enrolled")
    );

    // Cancelling Wednesday tells Ana (Ben is an alumnus now) and no reminder follows.
    let reply = clinic.text(STAFF, "/cancel evening 2026-12-02");
    assert!(reply.contains("People told: 1"), "{reply}");
    let told = clinic.queued_for(100);
    assert!(
        told[0].reply.text.contains("is cancelled"),
        "{}",
        told[0].reply.text
    );

    // Broadcast: a revealing word is refused, then a neutral one previewed and sent.
    assert!(
        clinic
            .text(STAFF, "/broadcast evening")
            .contains("Send the message")
    );
    assert!(
        clinic
            .text(STAFF, "Recovery group moves to room 5")
            .contains("\"recovery\"")
    );
    let preview = clinic.send(
        STAFF,
        STAFF,
        Body::Text("Tonight we meet in room 5.".into()),
    );
    assert!(
        preview[0].text.contains("go to 2 people"),
        "{}",
        preview[0].text
    );
    let send = preview[0].buttons[0][0].data.clone();
    assert!(joined(&clinic.send(STAFF, STAFF, Body::Button(send))).contains("Queued for 2"));
    assert_eq!(
        clinic.queued_for(100)[0].reply.text,
        "Tonight we meet in room 5."
    );

    let stats = clinic.text(STAFF, "/stats");
    assert!(stats.contains('2'), "{stats}");
    let invite = clinic.text(STAFF, "/invite evening alumnus");
    assert!(
        invite.contains("https://t.me/waypoint_test_bot?start="),
        "{invite}"
    );
}

#[test]
fn two_missed_check_ins_alert_the_staff_group() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    clinic.text(STAFF, "/discharge Ana 2026-11-30");
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    for day in [
        "2026-12-02T22:00:00Z",
        "2026-12-09T22:00:00Z",
        "2026-12-16T22:00:00Z",
    ] {
        clinic.scheduler.run_due(at(day)).unwrap();
    }
    let posted = clinic.queued_for(GROUP);
    assert!(
        posted
            .iter()
            .any(|p| p.reply.text.contains("2 check-ins in a row unanswered")),
        "{posted:?}"
    );
}

#[test]
fn staff_work_is_refused_in_any_group_but_the_staff_group() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    let other_group = -999;
    let replies = clinic.send(other_group, STAFF, Body::Text("/roster evening".into()));
    assert!(!joined(&replies).contains("Ana"), "{}", joined(&replies));
    let replies = clinic.send(
        other_group,
        STAFF,
        Body::Text("/invite evening participant".into()),
    );
    assert!(!joined(&replies).contains("t.me"), "{}", joined(&replies));
}

#[test]
fn forgetting_withdraws_a_queued_staff_post_and_reposts_the_others() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", true);
    clinic.enroll(200, "Ben", false);
    clinic.text(100, "i want to end my life tonight");
    clinic.text(200, "i want to kill myself");
    clinic.scheduler.run_due(t0()).unwrap();
    // Ana forgets before the staff-group post has gone out.
    clinic.text(100, "/forget");
    clinic.send(100, 100, Body::Button("f:y".into()));
    let posted = clinic.queued_for(GROUP);
    let all = posted
        .iter()
        .map(|p| p.reply.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !all.contains("Ana") && !all.contains("end my life"),
        "{all}"
    );
    assert!(
        all.contains("Ben (Evening group): CRISIS"),
        "Ben's alert is posted again: {all}"
    );
}

#[test]
fn people_who_join_after_a_cancel_hear_of_it_at_their_reminder_time() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    let reply = clinic.text(STAFF, "/cancel evening 2026-12-02");
    assert!(reply.contains("People told: 1"), "{reply}");
    clinic.queued_for(100);
    // Cal joins afterwards; Wednesday's session is still cancelled for Cal.
    clinic.enroll(300, "Cal", false);
    clinic.queued_for(300);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut told = Vec::new();
    for now in ["2026-12-01T23:00:00Z", "2026-12-02T21:00:00Z"] {
        clinic.scheduler.run_due(at(now)).unwrap();
        for (key, item) in clinic.store.outbox_items(usize::MAX).unwrap() {
            clinic.store.outbox_remove(&key).unwrap();
            if item.user.id == "300" {
                told.push(item.reply.text);
            }
        }
    }
    assert_eq!(told.len(), 1, "one notice, no reminder: {told:?}");
    assert!(told[0].contains("is cancelled"), "{told:?}");
}

#[test]
fn crisis_words_in_staff_talk_and_broadcast_drafts_are_staff_work() {
    let clinic = Clinic::new();
    // In the staff group, colleagues talk about crises; the bot stays silent.
    for talk in [
        "Claiming the overdose alert from last night",
        "she said she wanted to kill herself, I'm calling her now",
        "ya hablé con él, dijo que se quería morir pero ya está con su familia",
    ] {
        let replies = clinic.send(GROUP, STAFF, Body::Text(talk.into()));
        assert!(replies.is_empty(), "{talk}: {}", joined(&replies));
    }
    // A broadcast draft that names crisis lines is a draft, previewed, not a crisis.
    assert!(
        clinic
            .text(STAFF, "/broadcast evening")
            .contains("Send the message")
    );
    let draft = "If you're having thoughts of suicide tonight, call or text 988.";
    let preview = clinic.send(STAFF, STAFF, Body::Text(draft.into()));
    assert!(!preview.is_empty());
    assert!(preview[0].text.contains("go to"), "{}", preview[0].text);
    assert!(
        !preview[0].text.contains("Are you safe"),
        "{}",
        preview[0].text
    );
    // Outside a draft, a staff member in a private chat is a person like anyone else.
    let own = clinic.text(STAFF, "i want to kill myself");
    assert!(own.contains("988"), "{own}");
}

#[test]
fn a_discharge_date_in_the_future_is_refused() {
    let clinic = Clinic::new();
    clinic.enroll(100, "Ana", false);
    let reply = clinic.text(STAFF, "/discharge Ana 2099-01-01");
    assert!(
        reply.contains("cannot be in the future (2099-01-01)"),
        "{reply}"
    );
    assert_eq!(clinic.record(100).discharged_on, None);
}
