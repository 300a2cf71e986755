//! A loopback stand-in for the Telegram Bot API: enough of the HTTP protocol for teloxide
//! (getMe, getUpdates, sendMessage, answerCallbackQuery, setMyCommands, deleteWebhook),
//! with queued updates, a record of every call, and chats that answer 403.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct State {
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    calls: Vec<(String, Value)>,
    blocked: HashSet<i64>,
    /// Blocked chats that have been answered 403 at least once.
    refused: HashSet<i64>,
    /// Answers for the next sendMessage calls, before any normal answer.
    faults: VecDeque<Fault>,
    /// (chat, text) of every message accepted.
    delivered: Vec<(i64, String)>,
    /// Why each refused sendMessage was refused (what Telegram would have answered 400 to).
    bad_requests: Vec<String>,
    /// The webhook URL set with setWebhook, until deleteWebhook.
    webhook: Option<String>,
    /// Random faults on every call until this instant.
    chaos: Option<Chaos>,
}

/// Random faults for a while: each call draws one answer.
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    pub until: Instant,
    /// Chances, each out of 1,000: 429 (retry after 1 s), 500, no answer for 20 s, the
    /// connection dropped unanswered.
    pub too_many: u32,
    pub server_error: u32,
    pub hang: u32,
    pub drop: u32,
    /// xorshift state.
    pub seed: u64,
}

/// What chaos makes of one call.
enum Mischief {
    Answer(u16, Value),
    Hang,
    Drop,
}

impl Chaos {
    fn draw(&mut self) -> Option<Mischief> {
        if Instant::now() >= self.until {
            return None;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let roll = (self.seed % 1000) as u32;
        let mut edge = self.too_many;
        if roll < edge {
            return Some(Mischief::Answer(
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
            ));
        }
        edge += self.server_error;
        if roll < edge {
            return Some(Mischief::Answer(
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
            ));
        }
        edge += self.hang;
        if roll < edge {
            return Some(Mischief::Hang);
        }
        edge += self.drop;
        (roll < edge).then_some(Mischief::Drop)
    }
}

/// A failure the stand-in can be told to answer with.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 with `retry_after` seconds.
    TooMany(u32),
    /// 500 Internal Server Error.
    ServerError,
}

#[derive(Clone)]
pub struct BotApi {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl BotApi {
    pub async fn start() -> BotApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            next_update_id: 1,
            next_message_id: 1,
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        BotApi { url, state }
    }

    fn push(&self, make: impl FnOnce(i64, i64) -> Value) {
        let mut s = self.state.lock().unwrap();
        let (id, mid) = (s.next_update_id, s.next_message_id);
        s.next_update_id += 1;
        s.next_message_id += 1;
        let update = make(id, mid);
        s.updates.push_back(update);
    }

    pub fn send_text(&self, chat: i64, text: &str, lang: &str) {
        self.push(|id, mid| text_update(id, mid, chat, text, lang));
    }

    pub fn send_sticker(&self, chat: i64) {
        self.push(|id, mid| {
            json!({"update_id": id, "message": {
                "message_id": mid, "date": 1_764_000_000, "chat": chat_json(chat), "from": user_json(chat, "en"),
                "sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512, "height": 512,
                            "is_animated": false, "is_video": false}
            }})
        });
    }

    pub fn press(&self, chat: i64, data: &str) {
        self.press_as(chat, chat.abs(), data);
    }

    /// A button press in `chat` by the user `from` (in a group, someone other than the chat).
    pub fn press_as(&self, chat: i64, from: i64, data: &str) {
        self.push(|id, mid| {
            json!({"update_id": id, "callback_query": {
                "id": format!("cq{id}"), "from": user_json(from, "en"), "chat_instance": "ci",
                "data": data,
                "message": {"message_id": mid, "date": 1_764_000_000, "chat": chat_json(chat), "text": "earlier"}
            }})
        });
    }

    /// The next sendMessage calls fail with `faults`, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(faults.iter().copied());
    }

    /// Texts accepted for `chat` (failed attempts excluded), in order.
    /// The sendMessage calls refused as Telegram would refuse them, and why.
    pub fn bad_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().bad_requests.clone()
    }

    pub fn delivered_to(&self, chat: i64) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.delivered
            .iter()
            .filter(|(c, _)| *c == chat)
            .map(|(_, t)| t.clone())
            .collect()
    }

    pub fn block(&self, chat: i64) {
        self.state.lock().unwrap().blocked.insert(chat);
    }

    /// Answers every call with random faults (see [`Chaos`]) until `chaos.until`.
    pub fn chaos(&self, chaos: Chaos) {
        self.state.lock().unwrap().chaos = Some(chaos);
    }

    /// Sets a webhook as if a deployment had left one behind.
    pub fn set_webhook(&self, url: &str) {
        self.state.lock().unwrap().webhook = Some(url.to_string());
    }

    /// The webhook currently set, if any.
    pub fn webhook(&self) -> Option<String> {
        self.state.lock().unwrap().webhook.clone()
    }

    /// Whether a send to this blocked chat has been answered 403.
    #[allow(dead_code)]
    pub fn refused(&self, chat: i64) -> bool {
        self.state.lock().unwrap().refused.contains(&chat)
    }

    pub fn calls(&self, method: &str) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Texts sent to `chat`, in order.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls("sendMessage")
            .iter()
            .filter(|b| b["chat_id"].as_i64() == Some(chat))
            .map(|b| b["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until `pred` holds for the recorded calls, or panics after `secs`.
    pub async fn wait_until(&self, secs: u64, what: &str, pred: impl Fn(&BotApi) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !pred(self) {
            if Instant::now() > deadline {
                let s = self.state.lock().unwrap();
                panic!("timed out waiting for {what}; calls: {:#?}", s.calls);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The callback data of the button labelled `label` in the last keyboard sent to `chat`.
    pub fn button(&self, chat: i64, label: &str) -> String {
        self.find_button(chat, label)
            .unwrap_or_else(|| panic!("no button {label:?} sent to {chat}"))
    }

    pub fn find_button(&self, chat: i64, label: &str) -> Option<String> {
        self.calls("sendMessage")
            .iter()
            .rev()
            .filter(|b| b["chat_id"].as_i64() == Some(chat))
            .flat_map(|b| {
                b["reply_markup"]["inline_keyboard"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .find(|btn| btn["text"].as_str().is_some_and(|t| t.contains(label)))
            .and_then(|btn| btn["callback_data"].as_str().map(str::to_string))
    }
}

/// The text fields of a multipart/form-data body (sendPhoto), enough to see who it is for.
fn multipart(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text
        .split("Content-Disposition: form-data; name=\"")
        .skip(1)
    {
        let Some((name, rest)) = part.split_once('"') else {
            continue;
        };
        if rest.starts_with("; filename=") {
            fields.insert(name.to_string(), json!("<file>"));
        } else if let Some(value) = rest
            .split("\r\n\r\n")
            .nth(1)
            .and_then(|v| v.split("\r\n").next())
        {
            let value = value
                .parse::<i64>()
                .map_or_else(|_| json!(value), |n| json!(n));
            fields.insert(name.to_string(), value);
        }
    }
    Value::Object(fields)
}

/// A text message from a private chat as an update, as Telegram would send it (by
/// `getUpdates` or to a webhook).
pub fn text_update(id: i64, mid: i64, chat: i64, text: &str, lang: &str) -> Value {
    let mut message = json!({
        "message_id": mid, "date": 1_764_000_000,
        "chat": chat_json(chat), "from": user_json(chat, lang), "text": text,
    });
    if text.starts_with('/') {
        let len = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .encode_utf16()
            .count();
        message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
    }
    json!({"update_id": id, "message": message})
}

fn chat_json(chat: i64) -> Value {
    if chat < 0 {
        json!({"id": chat, "type": "group", "title": "Clinic group"})
    } else {
        json!({"id": chat, "type": "private", "first_name": "Pat"})
    }
}

fn user_json(chat: i64, lang: &str) -> Value {
    json!({"id": chat.abs(), "is_bot": false, "first_name": "Pat", "language_code": lang})
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let method = path.rsplit('/').next().unwrap_or("").to_string();
        let params: Value = serde_json::from_slice(&body).unwrap_or_else(|_| multipart(&body));
        let mischief = {
            let mut s = state.lock().unwrap();
            s.chaos.as_mut().and_then(Chaos::draw)
        };
        let (status, response) = match mischief {
            Some(Mischief::Drop) => return,
            Some(Mischief::Hang) => {
                tokio::time::sleep(Duration::from_secs(20)).await;
                return;
            }
            Some(Mischief::Answer(status, body)) => (status, body),
            None => respond(&state, &method, &params).await,
        };
        let text = response.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(text.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

async fn respond(state: &Arc<Mutex<State>>, method: &str, params: &Value) -> (u16, Value) {
    let ok = |result: Value| (200, json!({"ok": true, "result": result}));
    if method != "GetUpdates" && method != "getUpdates" {
        state
            .lock()
            .unwrap()
            .calls
            .push((method.to_string(), params.clone()));
    }
    match method.to_ascii_lowercase().as_str() {
        "setwebhook" => {
            state.lock().unwrap().webhook = params["url"].as_str().map(str::to_string);
            ok(json!(true))
        }
        "deletewebhook" => {
            state.lock().unwrap().webhook = None;
            ok(json!(true))
        }
        "getwebhookinfo" => {
            let url = state.lock().unwrap().webhook.clone().unwrap_or_default();
            ok(json!({"url": url, "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "getme" => ok(json!({
            "id": 1, "is_bot": true, "first_name": "Waypoint", "username": "waypoint_test_bot",
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false
        })),
        "getupdates" => {
            let offset = params["offset"].as_i64().unwrap_or(0);
            for _ in 0..20 {
                let batch: Vec<Value> = {
                    let mut s = state.lock().unwrap();
                    s.updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    s.updates.iter().cloned().collect()
                };
                if !batch.is_empty() {
                    return ok(Value::Array(batch));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            ok(json!([]))
        }
        "sendmessage" => {
            let chat = params["chat_id"].as_i64().unwrap_or(0);
            if let Some(refusal) = telegram_refuses(params) {
                state.lock().unwrap().bad_requests.push(refusal.clone());
                return (
                    400,
                    json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {refusal}")}),
                );
            }
            let mut s = state.lock().unwrap();
            match s.faults.pop_front() {
                Some(Fault::TooMany(secs)) => {
                    return (
                        429,
                        json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {secs}"), "parameters": {"retry_after": secs}}),
                    );
                }
                Some(Fault::ServerError) => {
                    return (
                        500,
                        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
                    );
                }
                None => {}
            }
            if s.blocked.contains(&chat) {
                s.refused.insert(chat);
                return (
                    403,
                    json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
                );
            }
            let mid = s.next_message_id;
            s.next_message_id += 1;
            let text = params["text"].as_str().unwrap_or_default().to_string();
            s.delivered.push((chat, text));
            ok(
                json!({"message_id": mid, "date": 1_764_000_000, "chat": chat_json(chat), "text": params["text"]}),
            )
        }
        "sendphoto" => {
            let chat = params["chat_id"].as_i64().unwrap_or(0);
            let mut s = state.lock().unwrap();
            let mid = s.next_message_id;
            s.next_message_id += 1;
            ok(
                json!({"message_id": mid, "date": 1_764_000_000, "chat": chat_json(chat),
                "photo": [{"file_id": "p", "file_unique_id": "p", "width": 400, "height": 400}]}),
            )
        }
        _ => ok(json!(true)),
    }
}

/// What Telegram's Bot API answers 400 to in a sendMessage: an empty text, a text over
/// 4,096 UTF-16 code units once its HTML is parsed, HTML it cannot parse (an unknown or
/// unclosed tag, a bare `<` or `&`), and callback data over 64 bytes.
fn telegram_refuses(params: &Value) -> Option<String> {
    let text = params["text"].as_str().unwrap_or_default();
    let shown = if params["parse_mode"].as_str() == Some("HTML") {
        match parse_html(text) {
            Ok(shown) => shown,
            Err(why) => return Some(format!("can't parse entities: {why}")),
        }
    } else {
        text.to_string()
    };
    if shown.trim().is_empty() {
        return Some("message text is empty".into());
    }
    if shown.encode_utf16().count() > 4096 {
        return Some("message is too long".into());
    }
    let markup = match &params["reply_markup"] {
        Value::String(raw) => serde_json::from_str(raw).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let too_long = markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .any(|button| {
            button["callback_data"]
                .as_str()
                .is_some_and(|d| d.len() > 64)
        });
    too_long.then(|| "BUTTON_DATA_INVALID".into())
}

/// The text Telegram shows for `html`, or why it refuses it: the tags it knows, closed in
/// order, and the four named entities plus numeric ones.
fn parse_html(html: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut shown = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unclosed start tag")?;
                let tag = &rest[1..end];
                let (closing, name) = match tag.strip_prefix('/') {
                    Some(name) => (true, name.trim()),
                    None => (false, tag.split_whitespace().next().unwrap_or("")),
                };
                let name = name.to_ascii_lowercase();
                if !TAGS.contains(&name.as_str()) {
                    return Err(format!("unsupported start tag \"{name}\""));
                }
                if closing {
                    if open.pop().as_deref() != Some(name.as_str()) {
                        return Err(format!("can't find end tag corresponding to \"{name}\""));
                    }
                } else {
                    open.push(name);
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("unclosed entity")?;
                let entity = &rest[1..end];
                let ch = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => entity
                        .strip_prefix('#')
                        .and_then(|n| n.parse::<u32>().ok())
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("unknown entity \"{entity}\""))?,
                };
                shown.push(ch);
                rest = &rest[end + 1..];
            }
            _ => {
                shown.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.pop() {
        Some(tag) => Err(format!("can't find end tag corresponding to \"{tag}\"")),
        None => Ok(shown),
    }
}

/// `waypoint run` as a child process talking to a stand-in.
pub struct Bot(pub std::process::Child);

impl Bot {
    pub fn start(api: &BotApi, data: &std::path::Path) -> Bot {
        Bot::start_with(api, data, &[])
    }

    pub fn start_with(api: &BotApi, data: &std::path::Path, extra: &[&str]) -> Bot {
        Bot::start_run(api, data, extra, &[])
    }

    /// `waypoint <global> run --data DIR <run>`.
    pub fn start_run(api: &BotApi, data: &std::path::Path, global: &[&str], run: &[&str]) -> Bot {
        Bot::spawn(api, data, global, run, std::process::Stdio::inherit())
    }

    /// [`Bot::start_run`] with its log (warnings and errors) kept for [`Bot::stop_with_log`].
    pub fn start_logged(
        api: &BotApi,
        data: &std::path::Path,
        global: &[&str],
        run: &[&str],
    ) -> Bot {
        Bot::spawn(api, data, global, run, std::process::Stdio::piped())
    }

    fn spawn(
        api: &BotApi,
        data: &std::path::Path,
        global: &[&str],
        run: &[&str],
        log: std::process::Stdio,
    ) -> Bot {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .args(global)
            .args(["run", "--data"])
            .arg(data)
            .args(run)
            // Away from the checkout, so no local waypoint.toml is picked up.
            .current_dir(data.parent().unwrap_or(data))
            .env("TELOXIDE_TOKEN", "123456:TEST-token")
            .env("TELOXIDE_API_URL", &api.url)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start waypoint run");
        Bot(child)
    }

    /// [`Bot::stop`], then the log of a bot started with [`Bot::start_logged`].
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let stderr = self.0.stderr.take();
        let status = self.stop();
        let mut log = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut log);
        }
        (status, log)
    }

    /// Resident memory of the process, in KiB (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..400 {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        panic!("waypoint did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}
