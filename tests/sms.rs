//! The SMS channel end to end: signed Twilio webhooks in, the Messages REST API out, both
//! against loopback stand-ins (tests/common/twilio.rs); carrier keywords in English and
//! Spanish; numbered answers; texting limits with a manual clock; retries and permanent
//! errors; crisis first. One test drives the real binary.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::twilio::{self, ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, Fault, Twilio};
use tokio::sync::{Notify, watch};
use waypoint::app::App;
use waypoint::channels::hub::Hub;
use waypoint::channels::sms::{Credentials, Sms};
use waypoint::clock::ManualClock;
use waypoint::config::Config;
use waypoint::engine::{Engine, Stored, UserRecord};
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

const PUBLIC_URL: &str = "https://clinic.example.org/sms/inbound";
const ANA: &str = "+15551230001";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn config(api_url: &str, extra: &str) -> Config {
    let text = format!(
        r#"
[resources]
clinic_line = "+1 555 010 0100"

[sms]
listen = "127.0.0.1:0"
webhook_url = "{PUBLIC_URL}"
from = "{FROM_NUMBER}"
api_url = "{api_url}"
per_second = 50
name = "Northside Clinic"
{extra}

[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
place = "Room 2"
"#
    );
    Config::parse(Path::new("test.toml"), &text).unwrap()
}

/// Waypoint's SMS channel in this process, on a temporary store and a manual clock,
/// texting through a Twilio stand-in.
struct Texting {
    twilio: Twilio,
    webhook: String,
    store: Store,
    clock: Arc<ManualClock>,
    changed: Arc<Notify>,
    stop: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Texting {
    async fn start(at: &str) -> Texting {
        Self::with(at, "").await
    }

    async fn with(at: &str, extra: &str) -> Texting {
        let twilio = Twilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
        Self::build(twilio, at, extra).await
    }

    /// The channel texting through `twilio` (a stand-in with other credentials).
    async fn on(twilio: &Twilio, at: &str) -> Texting {
        Self::build(twilio.clone(), at, "").await
    }

    async fn build(twilio: Twilio, at: &str, extra: &str) -> Texting {
        let config = config(&twilio.url, extra);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let engine = Engine::new(common::content(), config.settings.clone());
        let app = Arc::new(App::staffed(engine, store.clone()));
        let clock = Arc::new(ManualClock::new(utc(at)));
        let mut hub = Hub::new(app, store.clone(), clock.clone());
        let credentials = Credentials {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
        };
        let sms = Sms::start(&mut hub, config.sms.as_ref().unwrap(), credentials)
            .await
            .unwrap();
        let addr = sms.local_addr().unwrap();
        hub.start_scheduler();
        let (changed, stop, shutdown) = (hub.changed.clone(), hub.trigger(), hub.shutdown());
        let task = tokio::spawn(async move {
            sms.serve(shutdown).await.unwrap();
            hub.finish().await;
        });
        Texting {
            twilio,
            webhook: format!("http://{addr}/sms/inbound"),
            store,
            clock,
            changed,
            stop,
            task,
            _dir: dir,
        }
    }

    /// Posts a text from `from` as Twilio would, signed over the public URL.
    async fn post(&self, from: &str, body: &str, sid: &str) -> (u16, String) {
        let params = twilio::inbound_params(from, FROM_NUMBER, body, sid);
        let signature = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
        twilio::post_inbound(
            &self.webhook,
            AUTH_TOKEN,
            &twilio::borrowed(&params),
            Some(&signature),
        )
        .await
    }

    /// Texts `body` from `from` and returns the texts that came back to them.
    async fn text(&self, from: &str, body: &str) -> Vec<String> {
        let before = self.twilio.delivered_to(from).len();
        let (status, _) = self.post(from, body, &twilio::new_message_sid()).await;
        assert_eq!(status, 200, "{body:?}");
        self.settle().await;
        self.twilio.delivered_to(from)[before..].to_vec()
    }

    /// Waits until the outbox is empty and nothing more arrives for a moment.
    async fn settle(&self) {
        let mut quiet_for = 0;
        let mut last = self.twilio.attempts();
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let now = self.twilio.attempts();
            if self.store.outbox_len() == 0 && now == last {
                quiet_for += 1;
                if quiet_for >= 6 {
                    return;
                }
            } else {
                quiet_for = 0;
            }
            last = now;
        }
        panic!("the outbox did not drain: {} left", self.store.outbox_len());
    }

    /// Moves the clock and lets the scheduler fire what is due.
    async fn at(&self, when: &str) {
        self.clock.set(utc(when));
        self.changed.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.settle().await;
    }

    fn record(&self, number: &str) -> Option<UserRecord> {
        match self
            .store
            .load(&UserKey::new(Channel::Sms, number))
            .unwrap()
        {
            Stored::Found(r) => Some(r),
            _ => None,
        }
    }

    /// Consent, the clinic's time zone and the evening group, all by numbered answers.
    async fn enroll(&self, number: &str) {
        let hello = self.text(number, "hello").await.join("\n");
        assert!(hello.contains("Reply 1 I agree, 2 Not now."), "{hello}");
        let zone = self.text(number, "1").await.join("\n");
        assert!(zone.contains("Reply 1 "), "{zone}");
        self.text(number, "1").await;
        let groups = self.text(number, "/program").await.join("\n");
        assert!(groups.contains("Reply 1 Evening group"), "{groups}");
        let set = self.text(number, "1").await.join("\n");
        assert!(set.contains("Evening group"), "{set}");
        let record = self.record(number).expect("enrolled");
        assert_eq!(record.program.as_deref(), Some("evening"));
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the SMS channel stops on request")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_text_gets_the_engines_reply_through_the_rest_api() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let replies = t.text(ANA, "what is an IOP?").await;
    assert!(!replies.is_empty());
    assert!(
        replies
            .join(" ")
            .to_lowercase()
            .contains("intensive outpatient"),
        "{replies:?}"
    );
    let sent = t.twilio.sent();
    assert!(!sent.is_empty() && sent.iter().all(|s| s.from == FROM_NUMBER));
    // Nothing is stored before consent: no record, no opt-out, no choices on disk.
    assert!(t.record(ANA).is_none());
    let key = UserKey::new(Channel::Sms, ANA);
    assert!(!t.store.is_opted_out(&key).unwrap());
    assert_eq!(t.store.choices(&key).unwrap(), None);
    assert!(t.store.keys_of(&key).unwrap().is_empty());
    // The consent choices are answerable (from memory) for a while, then no longer.
    t.clock.advance(chrono::Duration::days(4));
    let again = t.text(ANA, "1").await.join("\n");
    assert!(
        t.record(ANA).is_none(),
        "an old \"1\" does not consent: {again}"
    );
    assert!(again.contains("Reply 1 I agree"), "{again}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_mis_signed_requests_get_403_and_change_nothing() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let params = twilio::inbound_params(ANA, FROM_NUMBER, "STOP", &twilio::new_message_sid());
    let good = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
    let wrong_token = twilio::twilio_signature("not-the-token", PUBLIC_URL, &params);
    let wrong_url = twilio::twilio_signature(AUTH_TOKEN, "https://elsewhere.example/sms", &params);
    let mut altered = params.clone();
    for (k, v) in &mut altered {
        if k == "From" {
            *v = "+15559999999".into();
        }
    }
    let borrowed = twilio::borrowed(&params);
    for (label, body, signature) in [
        ("missing header", twilio::borrowed(&params), None),
        ("wrong token", borrowed.clone(), Some(wrong_token.as_str())),
        ("wrong URL", borrowed.clone(), Some(wrong_url.as_str())),
        (
            "altered parameter",
            twilio::borrowed(&altered),
            Some(good.as_str()),
        ),
        ("garbage", borrowed.clone(), Some("not base64 at all")),
    ] {
        let (status, _) = twilio::post_inbound(&t.webhook, AUTH_TOKEN, &body, signature).await;
        assert_eq!(status, 403, "{label}");
    }
    t.settle().await;
    assert_eq!(t.twilio.attempts(), 0, "no reply to a forged request");
    let key = UserKey::new(Channel::Sms, ANA);
    assert!(
        !t.store.is_opted_out(&key).unwrap(),
        "a forged STOP is ignored"
    );
    // The same request, signed, is honoured.
    let (status, _) = twilio::post_inbound(&t.webhook, AUTH_TOKEN, &borrowed, Some(&good)).await;
    assert_eq!(status, 200);
    t.settle().await;
    assert!(t.store.is_opted_out(&key).unwrap());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_twice_is_processed_once() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let sid = twilio::new_message_sid();
    let (a, _) = t.post(ANA, "HELP", &sid).await;
    let (b, _) = t.post(ANA, "HELP", &sid).await;
    assert_eq!((a, b), (200, 200));
    t.settle().await;
    assert_eq!(t.twilio.delivered_to(ANA).len(), 1);
    t.post(ANA, "HELP", &twilio::new_message_sid()).await;
    t.settle().await;
    assert_eq!(t.twilio.delivered_to(ANA).len(), 2, "a new message is new");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_says_who_how_often_what_it_costs_and_where_help_is() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let en = t.text(ANA, "help").await.join("\n");
    for part in [
        "Northside Clinic",
        "1/day",
        "3/week",
        "Msg & data rates may apply",
        "+1 555 010 0100",
        "988",
        "911",
        "STOP",
    ] {
        assert!(en.contains(part), "{part:?} missing from {en}");
    }
    let es = t.text("+15551230002", "AYUDA").await.join("\n");
    for part in [
        "Northside Clinic",
        "tarifas de mensajes y datos",
        "+1 555 010 0100",
        "988",
        "PARAR",
    ] {
        assert!(es.contains(part), "{part:?} missing from {es}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_opts_out_at_once_with_one_confirmation_and_nothing_after() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    let confirmation = t.text(ANA, "Stop").await;
    assert_eq!(confirmation.len(), 1, "{confirmation:?}");
    assert!(confirmation[0].contains("unsubscribed"), "{confirmation:?}");
    let record = t.record(ANA).unwrap();
    assert!(record.paused && record.jobs.is_empty());
    // Nothing after it: not the 16:00 reminder, not an answer to a question.
    let before = t.twilio.delivered_to(ANA).len();
    t.at("2026-11-30T21:00:00Z").await;
    assert_eq!(t.twilio.delivered_to(ANA).len(), before, "no reminder");
    assert!(t.text(ANA, "what is an IOP?").await.is_empty());
    assert!(t.text(ANA, "1").await.is_empty());
    // HELP is still answered, and START opts back in.
    assert_eq!(t.text(ANA, "help").await.len(), 1);
    let back = t.text(ANA, "START").await.join("\n");
    assert!(back.contains("signed up again"), "{back}");
    assert!(!t.record(ANA).unwrap().paused);
    assert!(!t.text(ANA, "what is an IOP?").await.is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spanish_keywords_answer_in_spanish() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let maria = "+15551230003";
    let stop = t.text(maria, "PARAR").await.join("\n");
    assert!(stop.contains("ya no recibirás mensajes"), "{stop}");
    assert!(t.text(maria, "hola").await.is_empty());
    let start = t.text(maria, "comenzar").await.join("\n");
    assert!(start.contains("tu suscripción está activa"), "{start}");
    let alto = t.text(maria, "alto").await.join("\n");
    assert!(alto.contains("ya no recibirás"), "{alto}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_is_kept_under_a_hash_not_the_persons_key() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    t.text(ANA, "/forget").await;
    let done = t.text(ANA, "1").await.join("\n");
    assert!(t.record(ANA).is_none(), "forgotten: {done}");
    t.text(ANA, "STOP").await;
    let key = UserKey::new(Channel::Sms, ANA);
    assert!(t.store.is_opted_out(&key).unwrap());
    // The opt-out is kept under a salted hash, not under the person's key: /forget
    // leaves nothing else behind.
    assert!(t.store.keys_of(&key).unwrap().is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_stop_a_person_can_still_see_and_erase_their_data() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    t.text(ANA, "STOP").await;
    let privacy = t.text(ANA, "/privacy").await.join("\n");
    assert!(privacy.contains("sms:+15551230001"), "{privacy}");
    let ask = t.text(ANA, "/forget").await.join("\n");
    assert!(ask.contains("Reply 1 "), "{ask}");
    t.text(ANA, "1").await;
    assert!(t.record(ANA).is_none(), "forgotten after STOP");
    let key = UserKey::new(Channel::Sms, ANA);
    assert!(t.store.is_opted_out(&key).unwrap(), "and still opted out");
    assert!(t.text(ANA, "hello").await.is_empty());
    t.stop().await;
}

/// Fault 4: a signed text of any length is read only to its first 4,096 characters (the
/// rest is ignored, and the reply says so), so a 200,000-character text costs what a
/// long Telegram message does; its crisis language is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_long_text_is_read_to_its_first_4096_characters() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let long = format!("what is an IOP? {}", "a".repeat(200_000));
    let replies = t.text(ANA, &long).await.join("\n");
    assert!(
        replies.contains("read only its first 4096 characters"),
        "{replies}"
    );
    let crisis = format!("I want to kill myself {}", "b".repeat(200_000));
    let replies = t.text("+15551230005", &crisis).await.join("\n");
    assert!(replies.contains("988"), "{replies}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisis_language_is_answered_first_even_after_stop() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    t.text(ANA, "STOP").await;
    let crisis = t.text(ANA, "I want to kill myself").await.join("\n");
    assert!(crisis.contains("988"), "{crisis}");
    assert!(crisis.contains("911"), "{crisis}");
    // Its question can be answered by number, even though other texts are not.
    assert!(crisis.contains("Reply 1 Yes, I'm safe, 2 No."), "{crisis}");
    let unsafe_now = t.text(ANA, "2").await.join("\n");
    assert!(unsafe_now.contains("Please call 911 now"), "{unsafe_now}");
    assert!(t.text(ANA, "what is an IOP?").await.is_empty());
    // Spanish too.
    let es = t.text("+15551230004", "quiero morir").await.join("\n");
    assert!(es.contains("988"), "{es}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_number_answers_the_reminder() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    t.at("2026-11-30T21:00:00Z").await; // 16:00 EST, 2 h before the session
    let texts = t.twilio.delivered_to(ANA);
    let reminder = texts.last().unwrap();
    assert!(
        reminder.starts_with("Evening group: tonight at 6:00 PM."),
        "{reminder}"
    );
    assert!(
        reminder.ends_with("Reply 1 Going, 2 Running late, 3 Can't make it."),
        "{reminder}"
    );
    let answer = t.text(ANA, "3").await.join("\n");
    // Joined without an invite: no one at the clinic sees it, and the reply says so.
    assert!(answer.contains("no one at a clinic sees it"), "{answer}");
    assert!(!answer.contains("care team"), "{answer}");
    let record = t.record(ANA).unwrap();
    assert_eq!(record.rsvps.len(), 1);
    // A number with nothing behind it is an ordinary message.
    let odd = t.text(ANA, "7").await;
    assert!(!odd.is_empty());
    assert_eq!(t.record(ANA).unwrap().rsvps.len(), 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    t.twilio
        .fail_next(&[Fault::TooMany, Fault::ServerError, Fault::Drop]);
    let (status, _) = t.post(ANA, "HELP", &twilio::new_message_sid()).await;
    assert_eq!(status, 200);
    // Backoff deadlines are kept with the message in wall time: move the clock along.
    for _ in 0..100 {
        if !t.twilio.delivered_to(ANA).is_empty() {
            break;
        }
        t.clock.advance(chrono::Duration::seconds(5));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        t.twilio.delivered_to(ANA).len(),
        1,
        "delivered after retries"
    );
    assert_eq!(t.twilio.attempts(), 4);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_mark_the_person_inactive() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    assert!(!t.record(ANA).unwrap().jobs.is_empty());
    // Unsubscribed at the carrier (Twilio 21610): the reminder cannot go.
    t.twilio.unsubscribe(ANA);
    t.at("2026-11-30T21:00:00Z").await;
    let record = t.record(ANA).unwrap();
    assert!(record.unreachable, "marked inactive");
    assert!(record.jobs.is_empty(), "nothing more scheduled");
    let key = UserKey::new(Channel::Sms, ANA);
    assert!(
        t.store.is_opted_out(&key).unwrap(),
        "the carrier's opt-out is kept"
    );
    // An invalid number (21211) the same way.
    let bad = "+15551230009";
    t.enroll_refused(bad).await;
    t.stop().await;
}

impl Texting {
    async fn enroll_refused(&self, number: &str) {
        self.twilio.fail_next(&[Fault::InvalidNumber]);
        let (status, _) = self.post(number, "hello", &twilio::new_message_sid()).await;
        assert_eq!(status, 200);
        self.settle().await;
        assert!(self.twilio.delivered_to(number).is_empty());
    }
}

/// The scheduler alone on a store, for texting limits with a manual clock.
struct Limits {
    store: Store,
    app: Arc<App>,
    scheduler: waypoint::delivery::Scheduler,
    _dir: tempfile::TempDir,
}

impl Limits {
    fn new(extra: &str) -> Limits {
        let config = config("http://127.0.0.1:9", extra);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let app = Arc::new(App::new(
            Engine::new(common::content(), config.settings),
            Arc::new(store.clone()),
        ));
        let scheduler = waypoint::delivery::Scheduler::new(app.clone(), store.clone());
        Limits {
            store,
            app,
            scheduler,
            _dir: dir,
        }
    }

    /// One message from `user` at `at`; returns the reply texts.
    fn say(&self, user: &UserKey, at: &str, body: waypoint::engine::Body) -> Vec<String> {
        let outcome = self.app.handle(&waypoint::engine::Inbound {
            user: user.clone(),
            at: utc(at),
            language: Some(waypoint::locale::Locale::En),
            chat: waypoint::engine::ChatKind::Private,
            body,
            sender: None,
        });
        outcome.replies.into_iter().map(|r| r.text).collect()
    }

    /// Enrolled on Monday morning with a day count from that Monday: the one-day
    /// milestone falls on Tuesday at 10:00.
    fn enroll_counting_days(&self, user: &UserKey, program: bool) {
        let monday = "2026-11-30T14:00:00Z";
        self.enroll(user, monday, program);
        let set = self.say(
            user,
            monday,
            waypoint::engine::Body::Text("/sober 2026-11-30".into()),
        );
        assert!(!set.is_empty());
    }

    /// Consent and the clinic's zone; with `program`, the evening group.
    fn enroll(&self, user: &UserKey, at: &str, program: bool) {
        use waypoint::engine::Body::Button;
        self.say(user, at, waypoint::engine::Body::Text("/start".into()));
        self.say(user, at, Button("c:y:en".into()));
        self.say(user, at, Button("tz:America/New_York".into()));
        if program {
            self.say(user, at, Button("p:evening".into()));
        }
    }

    /// Runs the scheduler at `now`; returns the texts queued for `user` (and takes them).
    fn deliver(&self, user: &UserKey, now: &str) -> Vec<String> {
        self.scheduler.run_due(utc(now)).unwrap();
        let mut out = Vec::new();
        for (key, item) in self.store.outbox_items(usize::MAX).unwrap() {
            self.store.outbox_remove(&key).unwrap();
            if item.user == *user {
                out.push(item.reply.text);
            }
        }
        out
    }

    fn record(&self, user: &UserKey) -> UserRecord {
        match self.store.load(user).unwrap() {
            Stored::Found(r) => r,
            other => panic!("no record: {other:?}"),
        }
    }
}

#[test]
fn scheduled_texts_keep_to_one_a_day_and_three_a_week_and_say_what_was_held() {
    let l = Limits::new("");
    let sms = UserKey::new(Channel::Sms, ANA);
    let tg = UserKey::new(Channel::Telegram, "5001");
    for user in [&sms, &tg] {
        l.enroll(user, "2026-11-30T14:00:00Z", true);
    }
    // (instant, whether the SMS person gets it): Mon 16:00 for Mon; Tue 18:00 for Wed;
    // Wed 16:00 for Wed; Wed 18:00 for Thu (the day's one is used); Thu 16:00 for Thu
    // (three this week already); Sun 18:00 for Mon (still three in the last seven days);
    // Mon 16:00 (the first Monday's text has left the week).
    let steps = [
        ("2026-11-30T21:00:00Z", true),
        ("2026-12-01T23:00:00Z", true),
        ("2026-12-02T21:00:00Z", true),
        ("2026-12-02T23:00:00Z", false),
        ("2026-12-03T21:00:00Z", false),
        ("2026-12-06T23:00:00Z", false),
        ("2026-12-07T21:00:00Z", true),
    ];
    for (at, expected) in steps {
        let got_sms = l.deliver(&sms, at);
        assert_eq!(
            got_sms.len(),
            usize::from(expected),
            "SMS at {at}: {got_sms:?}"
        );
    }
    let l_tg = Limits::new("");
    l_tg.enroll(&tg, "2026-11-30T14:00:00Z", true);
    let telegram: usize = steps
        .iter()
        .map(|(at, _)| l_tg.deliver(&tg, at).len())
        .sum();
    assert_eq!(telegram, steps.len(), "Telegram is not capped");

    let record = l.record(&sms);
    let reasons: Vec<&str> = record.held.iter().map(|h| h.reason.name()).collect();
    assert_eq!(reasons, ["daily limit", "weekly limit", "weekly limit"]);
    assert!(record.held.iter().all(|h| h.what == "reminder"));
    // The person can see it.
    let said = l.say(
        &sms,
        "2026-12-07T22:00:00Z",
        waypoint::engine::Body::Text("/privacy".into()),
    );
    let privacy = &said[0];
    assert!(
        privacy.contains("held back by texting limits: 3 (reminder 2026-12-06, weekly limit)"),
        "{privacy}"
    );
}

#[test]
fn the_last_text_of_a_day_goes_to_the_session_reminder() {
    let l = Limits::new("");
    let sms = UserKey::new(Channel::Sms, ANA);
    l.enroll_counting_days(&sms, true);
    l.deliver(&sms, "2026-11-30T21:00:00Z"); // Monday's reminder
    // Tuesday: the one-day milestone at 10:00 would use the day's only text, and a
    // reminder (for Wednesday) is due at 18:00: the milestone makes way.
    assert!(l.deliver(&sms, "2026-12-01T15:00:00Z").is_empty());
    let held = &l.record(&sms).held;
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].what.as_str(), held[0].reason.name()),
        ("milestone", "made way for a more useful text")
    );
    let reminder = l.deliver(&sms, "2026-12-01T23:00:00Z");
    assert_eq!(reminder.len(), 1);
    assert!(
        reminder[0].contains("Evening group: tomorrow"),
        "{reminder:?}"
    );
}

#[test]
fn scheduled_texts_wait_for_the_sending_window() {
    let l = Limits::new("send_window = \"11:00-20:00\"");
    let sms = UserKey::new(Channel::Sms, ANA);
    l.enroll_counting_days(&sms, false);
    // The milestone is due at 10:00 local, before the window opens at 11:00.
    assert!(l.deliver(&sms, "2026-12-01T15:00:00Z").is_empty());
    assert!(l.record(&sms).held.is_empty(), "waiting, not dropped");
    let sent = l.deliver(&sms, "2026-12-01T16:00:00Z");
    assert_eq!(sent.len(), 1, "at 11:00");
    // The same person on Telegram would have had it at 10:00.
    let tg = UserKey::new(Channel::Telegram, "5002");
    l.enroll_counting_days(&tg, false);
    assert_eq!(l.deliver(&tg, "2026-12-01T15:00:00Z").len(), 1);
}

/// A free loopback port for the binary's webhook listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_telegram_and_sms_together_and_enrolls_by_a_texted_invite() {
    use std::process::{Command, Stdio};
    let twilio = Twilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let bot_api = common::bot_api::BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let config = dir.path().join("waypoint.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[resources]
clinic_line = "+1 555 010 0100"
[sms]
listen = "127.0.0.1:{port}"
webhook_url = "{PUBLIC_URL}"
from = "{FROM_NUMBER}"
api_url = "{}"
per_second = 20
[metrics]
listen = "127.0.0.1:{metrics_port}"
[[program]]
id = "evening"
name = "Evening group"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
"#,
            twilio.url
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let waypoint = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_waypoint"));
        c.arg("--config").arg(&config).arg("--data").arg(&data);
        c
    };
    let invite = waypoint()
        .args(["invite", "--program", "evening", "--sms", "--uses", "1"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&invite.stdout).to_string();
    assert!(invite.status.success(), "{printed}");
    let code = printed
        .split_whitespace()
        .skip_while(|w| *w != "JOIN")
        .nth(1)
        .expect("the invite says what to text")
        .to_string();
    assert!(
        printed.contains(&format!("text JOIN {code} to {FROM_NUMBER}")),
        "{printed}"
    );

    let mut child = waypoint()
        .arg("run")
        .env("TELOXIDE_TOKEN", "123456:TEST-token")
        .env("TELOXIDE_API_URL", &bot_api.url)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let webhook = format!("http://127.0.0.1:{port}/sms/inbound");
    let post = |body: &str| {
        let params = twilio::inbound_params(ANA, FROM_NUMBER, body, &twilio::new_message_sid());
        let signature = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
        let webhook = webhook.clone();
        async move {
            twilio::post_inbound(
                &webhook,
                AUTH_TOKEN,
                &twilio::borrowed(&params),
                Some(&signature),
            )
            .await
            .0
        }
    };
    // Wait for the webhook listener to come up.
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the webhook listener did not come up");
    let texts = |n: usize| {
        let twilio = twilio.clone();
        async move {
            twilio
                .wait_until(10, "replies by text", |t| t.delivered_to(ANA).len() >= n)
                .await;
            twilio.delivered_to(ANA).join("\n")
        }
    };
    // A texted invite code, typed in lower case: the welcome and consent as numbered text.
    assert_eq!(post(&format!("join {}", code.to_lowercase())).await, 200);
    let hello = texts(2).await;
    assert!(hello.contains("Reply 1 I agree, 2 Not now."), "{hello}");
    assert!(hello.contains("Msg & data rates may apply"), "{hello}");
    assert_eq!(post("1").await, 200);
    let enrolled = texts(3).await;
    assert!(enrolled.contains("Evening group"), "{enrolled}");
    // Telegram runs beside it on the same engine and store.
    bot_api.send_text(42, "/start", "en");
    bot_api
        .wait_until(10, "the Telegram welcome", |api| {
            !api.texts_to(42).is_empty()
        })
        .await;

    // Operators see counts by channel and route, never a person; and health.
    let crisis = twilio::inbound_params(
        "+15551230077",
        FROM_NUMBER,
        "I want to end my life",
        &twilio::new_message_sid(),
    );
    let signature = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &crisis);
    twilio::post_inbound(
        &webhook,
        AUTH_TOKEN,
        &twilio::borrowed(&crisis),
        Some(&signature),
    )
    .await;
    twilio
        .wait_until(10, "the crisis reply", |t| {
            !t.delivered_to("+15551230077").is_empty()
        })
        .await;
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{metrics_port}{path}");
        async move {
            let response = reqwest::get(&url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "waypoint_messages_in_total{channel=\"sms\",route=\"crisis\"} 1",
        "waypoint_crisis_total{channel=\"sms\"} 1",
        "waypoint_messages_in_total{channel=\"telegram\",route=\"command\"} 1",
        "waypoint_outbox_depth",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(
        metrics.contains("waypoint_messages_out_total{channel=\"sms\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("1555123"), "no phone numbers in metrics");
    assert!(!metrics.contains("42\""), "no chat ids in metrics");
    // A channel's state is recorded just after its send returns: wait for both.
    let mut health = serde_json::Value::Null;
    for _ in 0..200 {
        let (status, body) = get("/healthz").await;
        assert_eq!(status, 200, "{body}");
        health = serde_json::from_str(&body).unwrap();
        if health["channels"]["sms"] == "ok" && health["channels"]["telegram"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "ok");
    assert_eq!(health["channels"]["sms"], "ok");
    assert_eq!(health["channels"]["telegram"], "ok");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("waypoint did not stop within 10 s of SIGTERM")
    });
    assert!(status.success(), "{status:?}");
    let store = Store::open(&data).unwrap();
    let Stored::Found(record) = store.load(&UserKey::new(Channel::Sms, ANA)).unwrap() else {
        panic!("the texter is enrolled");
    };
    assert_eq!(record.program.as_deref(), Some("evening"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_is_answered_with_numbers() {
    let t = Texting::start("2026-11-30T14:00:00Z").await;
    t.enroll(ANA).await;
    let mood = t.text(ANA, "/checkin").await.join("\n");
    assert!(mood.ends_with("Reply 1-5."), "{mood}");
    let used = t.text(ANA, "4").await.join("\n");
    assert!(
        used.ends_with("Reply 1 Yes, 2 No, 3 Prefer not to say."),
        "{used}"
    );
    // Joined without an invite: no "reach out?" question no one would act on.
    let thanks = t.text(ANA, "2.").await.join("\n");
    assert!(thanks.contains("Thank you for checking in"), "{thanks}");
    assert!(!thanks.contains("reach out"), "{thanks}");
    let record = t.record(ANA).unwrap();
    let kept = record.checkins.last().expect("the check-in is kept");
    assert_eq!(kept.mood, Some(4));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_without_words_gets_a_polite_reply_and_bad_requests_are_refused() {
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    let mut params = twilio::inbound_params(ANA, FROM_NUMBER, "", &twilio::new_message_sid());
    for (k, v) in &mut params {
        if k == "NumMedia" {
            *v = "1".into();
        }
    }
    let signature = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
    let (status, _) = twilio::post_inbound(
        &t.webhook,
        AUTH_TOKEN,
        &twilio::borrowed(&params),
        Some(&signature),
    )
    .await;
    assert_eq!(status, 200);
    t.settle().await;
    let said = t.twilio.delivered_to(ANA).join("\n");
    assert!(said.contains("I can only read text messages"), "{said}");
    // Signed, but not an inbound text from a phone number: refused, nothing sent.
    let before = t.twilio.attempts();
    for from in ["", "whatsapp:+15551230001", "not a number"] {
        let params = twilio::inbound_params(from, FROM_NUMBER, "hi", &twilio::new_message_sid());
        let signature = twilio::twilio_signature(AUTH_TOKEN, PUBLIC_URL, &params);
        let (status, _) = twilio::post_inbound(
            &t.webhook,
            AUTH_TOKEN,
            &twilio::borrowed(&params),
            Some(&signature),
        )
        .await;
        assert_eq!(status, 400, "{from:?}");
    }
    t.settle().await;
    assert_eq!(t.twilio.attempts(), before);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_queued_reaches_a_number_after_it_opted_out() {
    use waypoint::engine::Reply;
    use waypoint::store::{Outgoing, Priority};
    let t = Texting::start("2026-11-30T15:00:00Z").await;
    t.text(ANA, "STOP").await;
    // A scheduled text or a broadcast queued as STOP arrived (after its queue was
    // emptied): the sender drops it; urgent replies still go.
    let late = Reply {
        text: "Evening group: tonight at 6:00 PM.".into(),
        buttons: Vec::new(),
        urgent: false,
    };
    let key = UserKey::new(Channel::Sms, ANA);
    t.store
        .enqueue(&[Outgoing::new(key, late, Priority::Scheduled)])
        .unwrap();
    let help = t.text(ANA, "HELP").await;
    assert_eq!(help.len(), 1, "{help:?}");
    assert!(help[0].contains("Msg & data rates"));
    assert_eq!(t.store.outbox_len(), 0, "dropped, not kept");
    assert!(
        !t.twilio
            .delivered_to(ANA)
            .iter()
            .any(|m| m.contains("tonight")),
        "the late text never went"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_pause_sending_and_keep_every_message() {
    // A Twilio that refuses the channel's credentials (a rotated token).
    let wrong = Twilio::start(ACCOUNT_SID, "a-different-token").await;
    let other = Texting::on(&wrong, "2026-11-30T15:00:00Z").await;
    let (status, _) = other.post(ANA, "HELP", &twilio::new_message_sid()).await;
    assert_eq!(status, 200);
    wrong
        .wait_until(10, "one refused attempt", |tw| tw.attempts() >= 1)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        other.store.outbox_len(),
        1,
        "the reply waits, it is not dropped"
    );
    assert_eq!(wrong.attempts(), 1, "and sending pauses");
    other.stop().await;
}

#[test]
fn texting_without_telegram_refuses_a_staff_group_it_could_not_post_to() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("waypoint.toml");
    std::fs::write(
        &config,
        format!(
            "[resources]\nclinic_line = \"+1 555 010 0100\"\n[staff]\ngroup_chat_id = -100123\n[sms]\nlisten = \"127.0.0.1:0\"\nwebhook_url = \"{PUBLIC_URL}\"\nfrom = \"{FROM_NUMBER}\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("run")
        .env_remove("TELOXIDE_TOKEN")
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("group_chat_id is set but TELOXIDE_TOKEN is not"),
        "{err}"
    );
}

/// A crisis text to someone enrolled by invite asks two numbered questions (1-2 safe,
/// 3-4 tell the care team): both stay answerable, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_questions_after_a_crisis_text_can_be_answered_in_either_order() {
    for order in [["3", "1"], ["1", "3"]] {
        let t = Texting::start("2026-11-30T15:00:00Z").await;
        let code = waypoint::enroll::new_sms_code().unwrap();
        let invite = waypoint::enroll::Invite {
            program: "evening".into(),
            role: waypoint::enroll::Role::Participant,
            created: utc("2026-11-30T14:00:00Z"),
            expires: None,
            max_uses: None,
            uses: 0,
            revoked: false,
        };
        let canonical = waypoint::enroll::sms_code(&code).unwrap();
        t.store.put_invite(&canonical, &invite).unwrap();
        t.text(ANA, &format!("JOIN {code}")).await;
        for answer in ["1", "1", "Ana", "1"] {
            t.text(ANA, answer).await;
        }
        assert_eq!(t.record(ANA).unwrap().alias.as_deref(), Some("Ana"));
        let crisis = t
            .text(ANA, "i want to end my life tonight")
            .await
            .join("\n");
        assert!(crisis.contains("3 Yes, let them know"), "{crisis}");
        let first = t.text(ANA, order[0]).await.join("\n");
        let second = t.text(ANA, order[1]).await.join("\n");
        let both = format!("{first}\n{second}");
        assert!(
            both.contains("saved your request for your care team"),
            "{order:?}: {both}"
        );
        assert!(both.contains("I'm glad"), "{order:?}: {both}");
        t.stop().await;
    }
}
