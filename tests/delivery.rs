//! The sender against a loopback Bot API stand-in: 429 pauses and retries, 5xx backs off
//! and retries, 403 marks the person unreachable, crisis replies go first, and nothing
//! queued is lost.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::bot_api::{BotApi, Fault};
use tokio::sync::{Notify, watch};
use waypoint::app::App;
use waypoint::channels::telegram::TelegramTransport;
use waypoint::delivery::{Limits, Sender, SenderStats};
use waypoint::engine::{Reply, Stored, UserRecord};
use waypoint::locale::Locale;
use waypoint::store::{Outgoing, Priority, Store};
use waypoint::user::{Channel, UserKey};

fn reply(text: &str) -> Reply {
    Reply {
        text: text.into(),
        buttons: vec![],
        urgent: false,
    }
}

fn user(chat: i64) -> UserKey {
    UserKey::new(Channel::Telegram, chat.to_string())
}

/// Quick retries, so the test takes seconds, not minutes.
fn limits() -> Limits {
    Limits {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..Limits::default()
    }
}

/// Runs a sender until the outbox is empty (or 20 s pass), then stops it.
async fn drain(api: &BotApi, store: &Store) -> SenderStats {
    let app = Arc::new(App::new(common::engine(), Arc::new(store.clone())));
    let transport = TelegramTransport::new("1:T".into(), Some(api.url.clone())).unwrap();
    let sender = Sender::new(store.clone(), app, Arc::new(transport), limits());
    let (stop, shutdown) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(sender.run(wake.clone(), shutdown));
    for _ in 0..400 {
        if store.outbox_len() == 0 {
            break;
        }
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_everything_then_every_message_arrives_once() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let items: Vec<Outgoing> = (0..5)
        .map(|i| Outgoing::new(user(100 + i), reply(&format!("m{i}")), Priority::Scheduled))
        .collect();
    store.enqueue(&items).unwrap();
    api.fail_next(&[Fault::TooMany(1)]);
    let started = std::time::Instant::now();
    let stats = drain(&api, &store).await;
    assert_eq!(stats.retried_after_429, 1);
    assert_eq!(stats.sent, 5);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retry_after was honoured"
    );
    for i in 0..5 {
        assert_eq!(api.delivered_to(100 + i), vec![format!("m{i}")]);
    }
    assert_eq!(store.outbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_and_retry_then_succeed() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .enqueue(&[Outgoing::new(user(7), reply("hello"), Priority::Reply)])
        .unwrap();
    // teloxide itself waits 10 s after a 5xx before returning the error; one is enough.
    api.fail_next(&[Fault::ServerError]);
    let stats = drain(&api, &store).await;
    assert_eq!(stats.transient_failures, 1);
    assert_eq!(stats.sent, 1);
    assert_eq!(api.delivered_to(7), vec!["hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_chat_marks_the_person_unreachable_and_drops_their_queue() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut record = UserRecord::new(Locale::En, common::t0());
    record.jobs.push(waypoint::engine::Job {
        at: common::t0() + chrono::Duration::days(1),
        kind: waypoint::engine::JobKind::Checkin,
    });
    store.save(&user(9), &record, false).unwrap();
    assert_eq!(store.due_len(), 1);
    api.block(9);
    store
        .enqueue(&[
            Outgoing::new(user(9), reply("one"), Priority::Scheduled),
            Outgoing::new(user(9), reply("two"), Priority::Scheduled),
            Outgoing::new(user(10), reply("other"), Priority::Scheduled),
        ])
        .unwrap();
    let stats = drain(&api, &store).await;
    assert_eq!(stats.unreachable, 1);
    assert_eq!(api.delivered_to(10), vec!["other"]);
    assert!(api.delivered_to(9).is_empty());
    match store.load(&user(9)).unwrap() {
        Stored::Found(r) => assert!(r.unreachable && r.jobs.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.due_len(), 0, "nothing more is scheduled for them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisis_replies_go_ahead_of_a_queue_of_reminders() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reminders: Vec<Outgoing> = (0..60)
        .map(|i| Outgoing::new(user(1000 + i), reply("reminder"), Priority::Scheduled))
        .collect();
    store.enqueue(&reminders).unwrap();
    store
        .enqueue(&[Outgoing::new(user(5), reply("crisis"), Priority::Urgent)])
        .unwrap();
    drain(&api, &store).await;
    let order: Vec<i64> = api
        .calls("sendMessage")
        .iter()
        .map(|c| c["chat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order.len(), 61);
    assert_eq!(order[0], 5, "the crisis reply went first");
}

/// Runs a sender until `done` holds (checked every 20 ms), or one chat has had `cap`
/// messages, then stops it.
async fn run_until(api: &BotApi, store: &Store, limits: Limits, done: impl Fn(&BotApi) -> bool) {
    let app = Arc::new(App::new(common::engine(), Arc::new(store.clone())));
    let transport = TelegramTransport::new("1:T".into(), Some(api.url.clone())).unwrap();
    let sender = Sender::new(store.clone(), app, Arc::new(transport), limits);
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(sender.run(Arc::new(Notify::new()), shutdown));
    for _ in 0..1000 {
        if done(api) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Fault 1: one chat with 700 messages queued (more than the sender once looked at),
/// even crisis replies, does not hold back anybody else's crisis reply, answer or
/// reminder: each goes out while the flood has barely begun to drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chats_backlog_of_700_does_not_delay_anyone_else() {
    const FLOODER: i64 = 666;
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let flood: Vec<Outgoing> = (0..700)
        .map(|i| {
            Outgoing::new(
                user(FLOODER),
                reply(&format!("flood {i}")),
                Priority::Urgent,
            )
        })
        .collect();
    store.enqueue(&flood).unwrap();
    store
        .enqueue(&[
            Outgoing::new(user(5), reply("crisis"), Priority::Urgent),
            Outgoing::new(user(6), reply("answer"), Priority::Reply),
            Outgoing::new(user(7), reply("reminder"), Priority::Scheduled),
        ])
        .unwrap();
    store.flush().unwrap();
    let others_served = |api: &BotApi| (5..=7).all(|chat| !api.delivered_to(chat).is_empty());
    let limits = Limits {
        per_chat: Duration::from_millis(100),
        ..limits()
    };
    run_until(&api, &store, limits, |api| {
        others_served(api) || api.delivered_to(FLOODER).len() >= 20
    })
    .await;
    let order: Vec<i64> = api
        .calls("sendMessage")
        .iter()
        .map(|c| c["chat_id"].as_i64().unwrap())
        .collect();
    // The flood's own crisis replies rank with the others', so a few of them may go
    // first; the flood's backlog (698 more) may not.
    for chat in 5..=7 {
        let at = order.iter().position(|c| *c == chat);
        let flood_before = at.map(|i| order[..i].iter().filter(|c| **c == FLOODER).count());
        assert!(
            flood_before.is_some_and(|n| n <= 2),
            "chat {chat} served at {at:?} of {order:?}"
        );
    }
    let flooded = api.delivered_to(FLOODER);
    let in_order: Vec<String> = (0..flooded.len()).map(|i| format!("flood {i}")).collect();
    assert_eq!(flooded, in_order, "the flood itself still goes in order");
}

/// Several chats with backlogs at one priority take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_with_backlogs_take_turns() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for chat in [21, 22, 23] {
        let items: Vec<Outgoing> = (0..4)
            .map(|i| Outgoing::new(user(chat), reply(&format!("{chat}:{i}")), Priority::Reply))
            .collect();
        store.enqueue(&items).unwrap();
    }
    run_until(&api, &store, limits(), |api| {
        api.calls("sendMessage").len() >= 6
    })
    .await;
    let order: Vec<i64> = api
        .calls("sendMessage")
        .iter()
        .map(|c| c["chat_id"].as_i64().unwrap())
        .collect();
    let mut first_three = order[..3].to_vec();
    first_three.sort();
    assert_eq!(first_three, [21, 22, 23], "{order:?}");
    for chat in [21, 22, 23] {
        assert_eq!(
            api.delivered_to(chat)[..2],
            [format!("{chat}:0"), format!("{chat}:1")]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chat_gets_at_most_one_message_a_second_in_order() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let items: Vec<Outgoing> = (0..3)
        .map(|i| Outgoing::new(user(42), reply(&format!("part {i}")), Priority::Reply))
        .collect();
    store.enqueue(&items).unwrap();
    let started = std::time::Instant::now();
    drain(&api, &store).await;
    assert_eq!(api.delivered_to(42), vec!["part 0", "part 1", "part 2"]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "spaced a second apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_wait_when_the_staff_group_cannot_be_reached() {
    use chrono::{DateTime, Utc};
    use waypoint::staff::alerts::{POST_PAUSE, post_alerts};
    let engine = staffed_engine();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now: DateTime<Utc> = Utc::now();
    store.add_alerts(vec![crisis_alert(now)]).unwrap();
    assert_eq!(post_alerts(&engine, &store, now).unwrap(), 1);
    assert!(store.alerts().unwrap()[0].posted);

    // The bot was removed from the group: the post fails, the alert is not lost.
    let gone = BotApi::start().await;
    gone.block(GROUP);
    drain(&gone, &store).await;
    assert!(gone.delivered_to(GROUP).is_empty());
    assert_eq!(store.outbox_len(), 0);
    assert!(
        !store.alerts().unwrap()[0].posted,
        "waiting to be posted again"
    );
    // Not on every wake: after a pause.
    let soon = Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(post_alerts(&engine, &store, soon).unwrap(), 0);
    let later = Utc::now() + POST_PAUSE + chrono::Duration::minutes(1);
    assert_eq!(post_alerts(&engine, &store, later).unwrap(), 1);
    let back = BotApi::start().await;
    drain(&back, &store).await;
    assert_eq!(
        back.delivered_to(GROUP).len(),
        1,
        "posted once the group is back"
    );
    assert!(store.alerts().unwrap()[0].posted);
}

const GROUP: i64 = -100500;

fn staffed_engine() -> waypoint::engine::Engine {
    use waypoint::engine::{Engine, Settings, Staff};
    Engine::new(
        common::content(),
        Settings {
            staff: Staff {
                group: Some(GROUP),
                ..Staff::default()
            },
            ..Settings::default()
        },
    )
}

fn crisis_alert(at: chrono::DateTime<chrono::Utc>) -> waypoint::store::Alert {
    waypoint::store::Alert {
        id: 0,
        user: user(4001),
        alias: "J.".into(),
        program: None,
        reason: waypoint::engine::state::EscalationReason::Crisis,
        at,
        text: None,
        claimed_by: None,
        done: false,
        posted: false,
    }
}

#[test]
fn alerts_closed_long_ago_are_pruned() {
    use waypoint::staff::alerts::{ALERTS_KEPT, post_alerts};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let closed = |age: chrono::Duration| waypoint::store::Alert {
        done: true,
        posted: true,
        ..crisis_alert(now - age)
    };
    store
        .add_alerts(vec![
            closed(ALERTS_KEPT + chrono::Duration::days(1)),
            closed(chrono::Duration::days(1)),
            crisis_alert(now - ALERTS_KEPT - chrono::Duration::days(5)),
        ])
        .unwrap();
    post_alerts(&staffed_engine(), &store, now).unwrap();
    let left = store.alerts().unwrap();
    assert_eq!(left.len(), 2, "only the long-closed one goes: {left:?}");
    assert!(
        left.iter().any(|a| !a.done),
        "an open alert stays, however old"
    );
}

/// A flood of crisis language (which the pace never holds back) queues its crisis reply
/// once while a copy is still waiting, so the person's next, different crisis reply is not
/// stuck behind copies; other replies are queued as they come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_reply_already_waiting_is_not_queued_again() {
    use waypoint::delivery::queue_replies;
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let transport = TelegramTransport::new("1:T".into(), Some(api.url.clone())).unwrap();
    let urgent = |text: &str| Reply {
        urgent: true,
        ..reply(text)
    };
    for _ in 0..50 {
        queue_replies(&store, &transport, &user(1), vec![urgent("crisis")]).await;
    }
    queue_replies(&store, &transport, &user(1), vec![urgent("overdose")]).await;
    queue_replies(&store, &transport, &user(2), vec![urgent("crisis")]).await;
    for _ in 0..2 {
        queue_replies(&store, &transport, &user(1), vec![reply("answer")]).await;
    }
    let queued: Vec<(String, String)> = store
        .outbox_items(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, item)| (item.user.id, item.reply.text))
        .collect();
    let of = |chat: &str| -> Vec<&str> {
        queued
            .iter()
            .filter(|(c, _)| c == chat)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    assert_eq!(of("1"), ["crisis", "overdose", "answer", "answer"]);
    assert_eq!(of("2"), ["crisis"]);
    assert!(
        api.calls("sendMessage").is_empty(),
        "queued, not sent directly"
    );
}
