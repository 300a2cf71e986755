//! End to end: the release-built `waypoint run` binary against a loopback Bot API
//! stand-in named by TELOXIDE_API_URL, exactly as it would meet any Bot API server.

mod common;

use std::process::Command;
use std::time::Duration;

use common::bot_api::BotApi;
use waypoint::engine::Stored;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

use common::bot_api::Bot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_with_buttons_over_the_bot_api() {
    let api = BotApi::start().await;
    let data = tempfile::tempdir().unwrap();
    let bot = Bot::start(&api, data.path());
    let chat = 5001;

    api.wait_until(20, "command registration", |a| {
        a.calls("setMyCommands").len() >= 3
    })
    .await;
    let langs: Vec<_> = api
        .calls("setMyCommands")
        .iter()
        .map(|c| c["language_code"].clone())
        .collect();
    assert!(
        langs.contains(&"es".into()) && langs.contains(&"en".into()),
        "{langs:?}"
    );

    api.send_text(chat, "/start", "en");
    api.wait_until(10, "consent buttons", |a| {
        a.find_button(chat, "I agree").is_some()
    })
    .await;
    let agree = api.button(chat, "I agree");
    assert!(agree.len() <= 64);
    let sent = api.calls("sendMessage");
    assert!(sent.iter().all(|m| m["parse_mode"] == "HTML"));

    api.press(chat, &agree);
    api.wait_until(10, "time zone buttons", |a| {
        a.find_button(chat, "Chicago").is_some()
    })
    .await;
    api.wait_until(10, "callback answered", |a| {
        a.calls("answerCallbackQuery").len() == 1
    })
    .await;
    assert_eq!(
        api.calls("answerCallbackQuery").len(),
        1,
        "every callback query is answered"
    );

    api.press(chat, &api.button(chat, "Chicago"));
    api.wait_until(10, "time zone saved", |a| {
        a.texts_to(chat)
            .iter()
            .any(|t| t.contains("America/Chicago"))
    })
    .await;

    // A forged button is answered too, and gets a polite reply.
    api.press(chat, "definitely-not-ours");
    api.wait_until(10, "expired-button reply", |a| {
        a.texts_to(chat)
            .iter()
            .any(|t| t.contains("no longer active"))
    })
    .await;
    assert_eq!(api.calls("answerCallbackQuery").len(), 3);

    // HTML special characters in a person's text are escaped, never interpreted.
    api.send_text(chat, "/timezone", "en");
    api.send_text(chat, "<b>Mars</b>", "en");
    api.wait_until(10, "escaped echo", |a| {
        a.texts_to(chat)
            .iter()
            .any(|t| t.contains("&lt;b&gt;Mars&lt;/b&gt;"))
    })
    .await;

    api.send_sticker(chat);
    api.wait_until(10, "sticker reply", |a| {
        a.texts_to(chat)
            .iter()
            .any(|t| t.contains("only read text"))
    })
    .await;

    // A long FAQ answer and a text at Telegram's limit: split and escaped so that
    // Telegram would take every part.
    api.send_text(chat, "is it confidential? will my employer know?", "en");
    api.send_text(chat, &"&<".repeat(3000), "en");
    api.wait_until(10, "replies to both", |a| {
        let texts = a.texts_to(chat);
        texts.iter().any(|t| t.contains("42 CFR"))
            && texts
                .iter()
                .filter(|t| t.contains("know a time zone called"))
                .count()
                >= 2
    })
    .await;

    let status = bot.stop();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        api.bad_requests(),
        Vec::<String>::new(),
        "Telegram would refuse these"
    );
    let store = Store::open(data.path()).unwrap();
    let Stored::Found(record) = store
        .load(&UserKey::new(Channel::Telegram, chat.to_string()))
        .unwrap()
    else {
        panic!("onboarding did not store a record");
    };
    assert_eq!(record.timezone.as_deref(), Some("America/Chicago"));
}

/// The stand-in refuses what Telegram refuses, so the tests above mean something: an
/// over-long text (in UTF-16 units, after its HTML), HTML it cannot parse, callback data
/// over 64 bytes, an empty text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_api_stand_in_refuses_what_telegram_refuses() {
    let api = BotApi::start().await;
    let client = reqwest::Client::new();
    let send = |body: serde_json::Value| {
        let (client, url) = (client.clone(), format!("{}/botTOKEN/sendMessage", api.url));
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    let emoji = "\u{1F600}".repeat(2049); // 4,098 UTF-16 units in 2,049 characters
    let button = |data: &str| serde_json::json!({"inline_keyboard": [[{"text": "x", "callback_data": data}]]});
    for (body, expected) in [
        (
            serde_json::json!({"chat_id": 1, "text": "hello", "parse_mode": "HTML"}),
            200,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "a &lt; b &amp; <b>c</b>", "parse_mode": "HTML"}),
            200,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "x".repeat(4096)}),
            200,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "x".repeat(4097)}),
            400,
        ),
        (serde_json::json!({"chat_id": 1, "text": emoji}), 400),
        (
            serde_json::json!({"chat_id": 1, "text": "a < b", "parse_mode": "HTML"}),
            400,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "fish & chips", "parse_mode": "HTML"}),
            400,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "<b>open", "parse_mode": "HTML"}),
            400,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "<script>x</script>", "parse_mode": "HTML"}),
            400,
        ),
        (serde_json::json!({"chat_id": 1, "text": " "}), 400),
        (
            serde_json::json!({"chat_id": 1, "text": "ok", "reply_markup": button(&"d".repeat(64))}),
            200,
        ),
        (
            serde_json::json!({"chat_id": 1, "text": "ok", "reply_markup": button(&"d".repeat(65))}),
            400,
        ),
    ] {
        assert_eq!(send(body.clone()).await, expected, "{body}");
    }
    assert_eq!(api.bad_requests().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_person_is_marked_and_the_bot_keeps_going() {
    let api = BotApi::start().await;
    let data = tempfile::tempdir().unwrap();
    let bot = Bot::start(&api, data.path());
    let (blocked, other, group) = (6001, 6002, -7001);

    api.send_text(blocked, "/start", "es");
    api.wait_until(10, "Spanish consent buttons", |a| {
        a.find_button(blocked, "Acepto").is_some()
    })
    .await;
    api.press(blocked, &api.button(blocked, "Acepto"));
    api.wait_until(10, "Spanish time zone question", |a| {
        a.texts_to(blocked).len() >= 3
    })
    .await;
    api.block(blocked);
    api.send_text(blocked, "/privacy", "es");
    api.wait_until(10, "403 on send", |a| {
        a.calls("sendMessage")
            .iter()
            .filter(|m| m["chat_id"] == blocked)
            .count()
            >= 4
    })
    .await;

    api.send_text(group, "/start", "en");
    api.wait_until(10, "group reply", |a| {
        a.texts_to(group)
            .iter()
            .any(|t| t.contains("private chats"))
    })
    .await;
    api.send_text(other, "/help", "en");
    api.wait_until(10, "still serving others", |a| {
        a.texts_to(other).iter().any(|t| t.contains("/privacy"))
    })
    .await;

    assert!(bot.stop().success());
    let store = Store::open(data.path()).unwrap();
    let Stored::Found(record) = store
        .load(&UserKey::new(Channel::Telegram, blocked.to_string()))
        .unwrap()
    else {
        panic!("no record for the blocked person");
    };
    assert!(record.unreachable, "a 403 marks the person unreachable");
    assert!(
        store
            .keys_of(&UserKey::new(Channel::Telegram, group.to_string()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_missing_token_names_the_variable_and_botfather() {
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["run", "--data"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("TELOXIDE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TELOXIDE_TOKEN") && err.contains("@BotFather"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_check_ins_survive_a_stop_mid_burst_and_go_out_exactly_once() {
    let api = BotApi::start().await;
    let data = tempfile::tempdir().unwrap();
    let chats: Vec<i64> = (8000..8090).collect();
    {
        // Ninety alumni whose weekly check-in fell due a minute ago.
        let store = Store::open(data.path()).unwrap();
        let now = chrono::Utc::now();
        for chat in &chats {
            let mut record = waypoint::engine::UserRecord::new(waypoint::locale::Locale::En, now);
            record.dialogue = waypoint::engine::Dialogue::Idle;
            // A zone where it is midday now, so quiet hours never hold the burst back.
            let offset = 12 - i64::from(chrono::Timelike::hour(&now));
            record.timezone = Some(match offset {
                0 => "Etc/GMT".to_string(),
                o if o > 0 => format!("Etc/GMT-{o}"),
                o => format!("Etc/GMT+{}", -o),
            });
            record.discharged_on = Some(now.date_naive() - chrono::Duration::days(3));
            record.jobs = vec![waypoint::engine::Job {
                at: now - chrono::Duration::minutes(1),
                kind: waypoint::engine::JobKind::Checkin,
            }];
            store
                .save(
                    &UserKey::new(Channel::Telegram, chat.to_string()),
                    &record,
                    true,
                )
                .unwrap();
        }
    }
    let checkins = |a: &BotApi, chat: i64| {
        a.delivered_to(chat)
            .iter()
            .filter(|t| t.contains("How are you doing"))
            .count()
    };
    let bot = Bot::start(&api, data.path());
    // At 30 a second the burst takes three seconds: stop it part-way.
    api.wait_until(20, "the burst to start", |a| {
        chats.iter().filter(|c| checkins(a, **c) > 0).count() >= 15
    })
    .await;
    assert!(bot.stop().success());
    let sent_before = chats.iter().filter(|c| checkins(&api, **c) > 0).count();
    assert!(sent_before < chats.len(), "the stop came mid-burst");

    let bot = Bot::start(&api, data.path());
    api.wait_until(20, "every check-in", |a| {
        chats.iter().all(|c| checkins(a, *c) > 0)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(bot.stop().success());
    for chat in &chats {
        assert_eq!(
            checkins(&api, *chat),
            1,
            "chat {chat} got its check-in once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_enrolls_and_a_crisis_reaches_the_staff_group_where_staff_claim_it() {
    let api = BotApi::start().await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("waypoint.toml");
    std::fs::write(
        &config,
        "[telegram]\nbot_username = \"waypoint_test_bot\"\n[staff]\nmembers = [{ id = 777, name = \"Dana\" }]\ngroup_chat_id = -100500\n[[program]]\nid = \"evening\"\nname = \"Evening group\"\n[[program.session]]\ncron = \"0 18 * * MON,WED,THU\"\n",
    )
    .unwrap();
    let store_dir = data.path().join("store");
    let invite = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&store_dir)
        .args(["invite", "--program", "evening", "--uses", "1"])
        .output()
        .unwrap();
    assert!(
        invite.status.success(),
        "{}",
        String::from_utf8_lossy(&invite.stderr)
    );
    let out = String::from_utf8_lossy(&invite.stdout);
    let code = out
        .lines()
        .next()
        .and_then(|l| l.split("start=").nth(1))
        .unwrap()
        .to_string();

    let config_arg = config.to_string_lossy().to_string();
    let bot = Bot::start_with(&api, &store_dir, &["--config", &config_arg]);
    let (chat, group) = (5101, -100500);
    api.send_text(chat, &format!("/start {code}"), "en");
    api.wait_until(10, "consent", |a| a.find_button(chat, "I agree").is_some())
        .await;
    api.press(chat, &api.button(chat, "I agree"));
    api.wait_until(10, "time zones", |a| {
        a.find_button(chat, "Chicago").is_some()
    })
    .await;
    api.press(chat, &api.button(chat, "Chicago"));
    api.wait_until(10, "alias question", |a| {
        a.texts_to(chat)
            .iter()
            .any(|t| t.contains("What name should"))
    })
    .await;
    api.send_text(chat, "Pat", "en");
    api.wait_until(10, "share question", |a| {
        a.find_button(chat, "No, just alert").is_some()
    })
    .await;
    api.press(chat, &api.button(chat, "No, just alert"));
    api.wait_until(10, "enrolled", |a| {
        a.texts_to(chat).iter().any(|t| t.contains("\"Pat\""))
    })
    .await;

    api.send_text(chat, "I don't want to live anymore", "en");
    api.wait_until(10, "the alert in the staff group", |a| {
        a.find_button(group, "I'll take").is_some()
    })
    .await;
    let alert = api.texts_to(group).join("\n");
    assert!(alert.contains("Pat (Evening group): CRISIS"), "{alert}");
    assert!(
        !alert.contains("live anymore") && !alert.contains("5101"),
        "{alert}"
    );
    // Someone who is not staff cannot claim it; Dana can.
    api.press_as(group, 4242, &api.button(group, "I'll take"));
    api.press_as(group, 777, &api.button(group, "I'll take"));
    api.wait_until(10, "claimed", |a| {
        a.texts_to(group)
            .iter()
            .any(|t| t.contains("taken by Dana"))
    })
    .await;
    assert!(bot.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_needs_the_secret_and_polling_deletes_the_webhook() {
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("waypoint.toml");
    std::fs::write(
        &config,
        format!("[telegram]\nwebhook_listen = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let public = "https://bot.example.org/telegram/hook";
    let bot = Bot::start_run(
        &api,
        &data,
        &["--config", config.to_str().unwrap()],
        &["--webhook", public],
    );
    api.wait_until(10, "setWebhook", |a| !a.calls("setWebhook").is_empty())
        .await;
    let set = api.calls("setWebhook").remove(0);
    assert_eq!(set["url"], public);
    let secret = set["secret_token"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32, "a long random secret: {secret}");

    let local = format!("http://127.0.0.1:{port}/telegram/hook");
    let update = common::bot_api::text_update(1, 1, 77, "/start", "en");
    let http = reqwest::Client::new();
    let post = |token: Option<&str>| {
        let mut request = http.post(&local).json(&update);
        if let Some(t) = token {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", t);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // The listener may take a moment after setWebhook.
    let mut status = 0;
    for _ in 0..100 {
        if let Ok(r) = http.post(&local).json(&update).send().await {
            status = r.status().as_u16();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 403, "no secret");
    assert_eq!(post(Some("wrong-secret")).await, 403);
    // One character off (never the same one: a secret ending in "x" made this flaky).
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let almost = format!("{}{last}", &secret[..secret.len() - 1]);
    assert_eq!(post(Some(&almost)).await, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(api.texts_to(77).is_empty(), "refused requests do nothing");
    assert_eq!(post(Some(&secret)).await, 200);
    api.wait_until(10, "the welcome, through the webhook", |a| {
        !a.texts_to(77).is_empty()
    })
    .await;
    assert!(bot.stop().success());
    assert_eq!(api.webhook(), None, "the webhook is removed on the way out");

    // A webhook left behind (a crash, another deployment) is deleted when polling starts.
    api.set_webhook(public);
    let bot = Bot::start_run(&api, &data, &[], &[]);
    api.wait_until(10, "polling deletes the webhook", |a| a.webhook().is_none())
        .await;
    api.send_text(78, "/start", "en");
    api.wait_until(10, "a reply by polling", |a| !a.texts_to(78).is_empty())
        .await;
    assert!(bot.stop().success());
}

/// Fault 5: forged webhook requests are refused, counted in the metrics, and summed up
/// in the log at most once a minute (one warning per request flooded it); a connection
/// that never sends a request is closed (800 such stayed open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_webhook_requests_are_counted_not_logged_each_and_silent_connections_close() {
    use tokio::io::AsyncReadExt;
    let api = BotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free(), free());
    let config = dir.path().join("waypoint.toml");
    std::fs::write(
        &config,
        format!(
            "[telegram]\nwebhook_listen = \"127.0.0.1:{port}\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"
        ),
    )
    .unwrap();
    let bot = Bot::start_logged(
        &api,
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &["--webhook", "https://bot.example.org/telegram/hook"],
    );
    api.wait_until(10, "setWebhook", |a| !a.calls("setWebhook").is_empty())
        .await;
    let local = format!("http://127.0.0.1:{port}/telegram/hook");
    let update = common::bot_api::text_update(1, 1, 77, "/start", "en");
    let http = reqwest::Client::new();
    let forged = || {
        http.post(&local)
            .header("X-Telegram-Bot-Api-Secret-Token", "forged")
            .json(&update)
            .send()
    };
    let mut up = false;
    for _ in 0..100 {
        if forged().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the webhook listener came up");
    for _ in 0..49 {
        assert_eq!(forged().await.unwrap().status(), 403);
    }
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("waypoint_http_refused_total")
                && l.contains("listener=\"telegram\"")
                && l.ends_with(" 50")),
        "{metrics}"
    );
    // A connection that never sends a request is closed by the server.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(60), silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "a silent connection stayed open"
    );
    let (status, log) = bot.stop_with_log();
    assert!(status.success());
    let refusal_lines = log.lines().filter(|l| l.contains("refused")).count();
    assert_eq!(refusal_lines, 1, "{log}");
}
