//! A loopback stand-in for Twilio's Messages REST API: enough of
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` for an SMS sender, with HTTP Basic
//! auth, Twilio-shaped JSON answers and errors, an opt-out list, queued faults (a hang and a
//! dropped connection among them) and a record of every call. It also plays Twilio's side of
//! the inbound webhook: `inbound_params`, `twilio_signature` and `post_inbound`.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

/// An account SID of the right shape for tests that need no particular one.
pub const ACCOUNT_SID: &str = "AC5ef8732a3c49700934481addd5ce1659";
/// An auth token of the right shape for tests that need no particular one.
pub const AUTH_TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015";
/// Twilio's own "valid sender" magic number.
pub const FROM_NUMBER: &str = "+15005550006";

/// How long a `Fault::Hang` keeps the connection open without answering.
const HANG_FOR: Duration = Duration::from_secs(60);
const MAX_LINE: u64 = 16 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 1 << 20;
const API_VERSION: &str = "2010-04-01";

/// A failure the stand-in can be told to answer the next Messages calls with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429, code 20429.
    TooMany,
    /// 500, code 20500.
    ServerError,
    /// 400, code 21610 (the recipient replied STOP).
    Unsubscribed,
    /// 400, code 21211.
    InvalidNumber,
    /// Reads the request and never answers; the connection stays open for about a minute.
    Hang,
    /// Reads the request and closes the connection without answering.
    Drop,
}

/// One Messages call, whatever it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The form parameters, in the order sent.
    pub params: Vec<(String, String)>,
    /// The status answered; `None` for a hung or dropped call.
    pub status: Option<u16>,
}

/// A message the stand-in accepted (answered 201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub sid: String,
    pub to: String,
    /// `From`, or the `MessagingServiceSid` when no `From` was sent.
    pub from: String,
    pub body: String,
    pub messaging_service_sid: Option<String>,
}

struct State {
    account_sid: String,
    auth_token: String,
    seed: u64,
    /// Answers for the next Messages calls, before any normal answer.
    faults: VecDeque<Fault>,
    /// Numbers every send to which answers 21610.
    unsubscribed: HashSet<String>,
    calls: Vec<Call>,
    sent: Vec<Sent>,
    connections: usize,
}

#[derive(Clone)]
pub struct Twilio {
    /// `http://127.0.0.1:PORT`, to use in place of `https://api.twilio.com`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Twilio {
    /// Listens on a free loopback port and serves until the test's runtime ends.
    pub async fn start(account_sid: &str, auth_token: &str) -> Twilio {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Twilio stand-in");
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("the stand-in's listening address")
        );
        let state = Arc::new(Mutex::new(State {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            seed: RandomState::new().hash_one(account_sid),
            faults: VecDeque::new(),
            unsubscribed: HashSet::new(),
            calls: Vec::new(),
            sent: Vec::new(),
            connections: 0,
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        lock(&shared).connections += 1;
                        tokio::spawn(serve(stream, shared.clone()));
                    }
                    // Out of descriptors or similar: wait a moment rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Twilio { url, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn account_sid(&self) -> String {
        self.state().account_sid.clone()
    }

    /// The full Messages resource URL for this stand-in's account.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}/Messages.json",
            self.url,
            self.account_sid()
        )
    }

    /// The next Messages calls are answered with `faults`, in order, whatever they ask.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.state().faults.extend(faults.iter().copied());
    }

    /// Every later send to `number` answers 21610, as after the recipient replied STOP.
    pub fn unsubscribe(&self, number: &str) {
        self.state().unsubscribed.insert(number.to_string());
    }

    pub fn resubscribe(&self, number: &str) {
        self.state().unsubscribed.remove(number);
    }

    /// Bodies accepted for `number` (failed attempts excluded), in order.
    pub fn delivered_to(&self, number: &str) -> Vec<String> {
        self.state()
            .sent
            .iter()
            .filter(|m| m.to == number)
            .map(|m| m.body.clone())
            .collect()
    }

    /// (to, from, body) of every message accepted, in order.
    pub fn delivered(&self) -> Vec<(String, String, String)> {
        self.state()
            .sent
            .iter()
            .map(|m| (m.to.clone(), m.from.clone(), m.body.clone()))
            .collect()
    }

    /// Every message accepted, with its SID.
    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    /// Every `POST .../Messages.json`, faulted, refused and accepted alike.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// How many `POST .../Messages.json` calls arrived, faulted and refused ones included.
    pub fn attempts(&self) -> usize {
        self.state().calls.len()
    }

    /// How many TCP connections clients opened (a keep-alive client reuses one).
    pub fn connections(&self) -> usize {
        self.state().connections
    }

    /// Waits until `pred` holds, polling every 20 ms, or panics after `secs`.
    pub async fn wait_until(&self, secs: u64, what: &str, pred: impl Fn(&Twilio) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !pred(self) {
            if Instant::now() > deadline {
                let (attempts, delivered) = (self.attempts(), self.delivered());
                panic!(
                    "timed out after {secs} s waiting for {what}; \
                     {attempts} Messages calls; delivered (to, from, body): {delivered:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The state even if a test panicked while holding it: the server must keep answering.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------
// Twilio's side of the inbound webhook.

/// The parameters Twilio posts to an SMS webhook for one incoming message (no media, no
/// Messaging Service), in the order Twilio sends them. `AccountSid` is `ACCOUNT_SID`.
pub fn inbound_params(
    from: &str,
    to: &str,
    body: &str,
    message_sid: &str,
) -> Vec<(String, String)> {
    let [to_country, to_state, to_city, to_zip] = place(to, false);
    let [from_country, from_state, from_city, from_zip] = place(from, true);
    let segments = segments(body).to_string();
    [
        ("ToCountry", to_country),
        ("ToState", to_state),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", to_city),
        ("FromZip", from_zip),
        ("SmsSid", message_sid),
        ("FromState", from_state),
        ("SmsStatus", "received"),
        ("FromCity", from_city),
        ("Body", body),
        ("FromCountry", from_country),
        ("To", to),
        ("ToZip", to_zip),
        ("NumSegments", segments.as_str()),
        ("MessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A fresh message SID (`SM` and 32 hex digits), for inbound messages.
pub fn new_message_sid() -> String {
    let random = RandomState::new();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    sid("SM", random.hash_one(nanos), random.hash_one(!nanos))
}

/// Borrows owned parameters (as `inbound_params` gives them) in the form `post_inbound` takes.
pub fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `X-Twilio-Signature` for a webhook request to `url` with these POST parameters: the URL,
/// then each parameter's name and value, sorted by name then value, signed with HMAC-SHA1
/// keyed by the auth token, in standard base64. Written independently of the product.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts `params` form-encoded to `url` as Twilio would, over a fresh connection, with
/// `X-Twilio-Signature` if `signature` is given, and returns the status and body.
/// `_auth_token` is not used: sign with `twilio_signature`, or use `post_signed`.
/// Panics if the server cannot be reached or does not answer within 30 s.
pub async fn post_inbound(
    url: &str,
    _auth_token: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> (u16, String) {
    // Built before any await: the serializer is not `Send`.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            form.append_pair(name, value);
        }
        form.finish()
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange(url, &body, signature)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(why)) => panic!("post_inbound to {url}: {why}"),
        Err(_) => panic!("post_inbound to {url}: no answer within 30 s"),
    }
}

/// `post_inbound` with a correct signature for `url` itself (the product must be configured
/// with this same URL as its public webhook address for the signature to check out).
pub async fn post_signed(
    url: &str,
    auth_token: &str,
    params: &[(String, String)],
) -> (u16, String) {
    let signature = twilio_signature(auth_token, url, params);
    post_inbound(url, auth_token, &borrowed(params), Some(&signature)).await
}

async fn exchange(url: &str, body: &str, signature: Option<&str>) -> Result<(u16, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err("only plain http:// is spoken here".to_string());
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let connected = match parsed.host() {
        Some(url::Host::Domain(name)) => TcpStream::connect((name, port)).await,
        Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
        None => return Err("the URL has no host".to_string()),
    };
    let mut stream = connected.map_err(|e| format!("cannot connect: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut target = parsed.path().to_string();
    if let Some(query) = parsed.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TwilioProxy/1.1\r\nAccept: */*\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(signature) = signature {
        if signature.contains(['\r', '\n']) {
            return Err("a signature cannot hold a line break".to_string());
        }
        request.push_str(&format!("X-Twilio-Signature: {signature}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send: {e}"))?;

    let mut reader = BufReader::new(stream);
    loop {
        let (status_line, headers) = read_head(&mut reader)
            .await
            .map_err(|e| format!("reading the answer: {e:?}"))?
            .ok_or("the connection closed without an answer")?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        if (100..200).contains(&status) {
            continue; // an interim answer; the real one follows
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else {
            read_body(&mut reader, &headers, true)
                .await
                .map_err(|e| format!("reading the answer's body: {e:?}"))?
        };
        return Ok((status, String::from_utf8_lossy(&body).into_owned()));
    }
}

// ---------------------------------------------------------------------------------------
// The server.

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

#[derive(Debug)]
enum HttpError {
    /// The connection failed or closed mid-message.
    Io,
    Malformed(&'static str),
    TooLarge,
}

enum Answer {
    Json(u16, Value),
    Hang,
    Drop,
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let request = match read_request(&mut reader, &mut write).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(HttpError::Io) => return,
            Err(HttpError::Malformed(why)) => {
                let body =
                    json!({"code": null, "message": format!("Bad Request: {why}"), "status": 400});
                let _ = write_json(&mut write, 400, &body, false).await;
                linger_close(reader, write).await;
                return;
            }
            Err(HttpError::TooLarge) => {
                let body =
                    json!({"code": null, "message": "Request Entity Too Large", "status": 413});
                let _ = write_json(&mut write, 413, &body, false).await;
                linger_close(reader, write).await;
                return;
            }
        };
        match route(&state, &request) {
            Answer::Json(status, body) => {
                if write_json(&mut write, status, &body, request.keep_alive)
                    .await
                    .is_err()
                {
                    return;
                }
                if !request.keep_alive {
                    linger_close(reader, write).await;
                    return;
                }
            }
            Answer::Hang => {
                // Hold both halves open until the client gives up or the time runs out.
                let _ = tokio::time::timeout(HANG_FOR, drain(&mut reader)).await;
                return;
            }
            Answer::Drop => return,
        }
    }
}

/// Reads and discards until the peer closes.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut sink = [0u8; 4096];
    while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Closes our side, then briefly reads what the client still sends, so that unread input
/// does not turn the close into a reset that could destroy the answer in flight.
async fn linger_close<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(mut reader: R, mut write: W) {
    let _ = write.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), drain(&mut reader)).await;
}

async fn read_request<R, W>(reader: &mut R, write: &mut W) -> Result<Option<Request>, HttpError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some((start, headers)) = read_head(reader).await? else {
        return Ok(None);
    };
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("bad request line"));
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::Malformed("bad request line"));
    }
    let old = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HttpError::Malformed("unsupported HTTP version")),
    };
    let has_token = |name: &str, token: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let keep_alive = if old {
        has_token("connection", "keep-alive")
    } else {
        !has_token("connection", "close")
    };
    if !old && has_token("expect", "100-continue") {
        write
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| HttpError::Io)?;
    }
    let body = read_body(reader, &headers, false).await?;
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
        keep_alive,
    }))
}

/// One line without its line ending; `None` at a clean end of input.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Option<String>, HttpError> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| HttpError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() as u64 >= MAX_LINE {
            HttpError::TooLarge
        } else {
            HttpError::Io
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// The start line and the headers (names in lower case); `None` if the input ends first.
async fn read_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Option<(String, Vec<(String, String)>)>, HttpError> {
    let mut blank = 0;
    let start = loop {
        match read_line(reader).await? {
            None => return Ok(None),
            Some(line) if line.is_empty() => {
                blank += 1;
                if blank > 8 {
                    return Err(HttpError::Malformed("blank lines instead of a request"));
                }
            }
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).await?.ok_or(HttpError::Io)?;
        if line.is_empty() {
            return Ok(Some((start, headers)));
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::TooLarge);
        }
        if line.starts_with([' ', '\t']) {
            return Err(HttpError::Malformed("folded header line"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line without a colon"))?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(HttpError::Malformed("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The message body by `Transfer-Encoding: chunked` or `Content-Length`; without either,
/// empty, or (for an answer) everything up to the end of input.
async fn read_body<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    headers: &[(String, String)],
    until_eof: bool,
) -> Result<Vec<u8>, HttpError> {
    if let Some(coding) = header(headers, "transfer-encoding") {
        if coding.eq_ignore_ascii_case("chunked") {
            return read_chunked(reader).await;
        }
        return Err(HttpError::Malformed("unsupported Transfer-Encoding"));
    }
    let mut lengths = headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str());
    let length = match lengths.next() {
        Some(first) => {
            if lengths.any(|other| other != first) {
                return Err(HttpError::Malformed("conflicting Content-Length"));
            }
            if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Malformed("bad Content-Length"));
            }
            Some(first.parse::<usize>().map_err(|_| HttpError::TooLarge)?)
        }
        None => None,
    };
    match length {
        Some(n) if n > MAX_BODY => Err(HttpError::TooLarge),
        Some(n) => {
            let mut body = vec![0; n];
            reader
                .read_exact(&mut body)
                .await
                .map_err(|_| HttpError::Io)?;
            Ok(body)
        }
        None if until_eof => {
            let mut body = Vec::new();
            (&mut *reader)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)
                .await
                .map_err(|_| HttpError::Io)?;
            if body.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            Ok(body)
        }
        None => Ok(Vec::new()),
    }
}

async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?.ok_or(HttpError::Io)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HttpError::Malformed("bad chunk size"));
        }
        let size = usize::from_str_radix(size, 16).map_err(|_| HttpError::TooLarge)?;
        if size == 0 {
            // Trailer fields, if any, up to a blank line.
            for _ in 0..=MAX_HEADERS {
                if read_line(reader).await?.ok_or(HttpError::Io)?.is_empty() {
                    return Ok(body);
                }
            }
            return Err(HttpError::TooLarge);
        }
        if size > MAX_BODY - body.len() {
            return Err(HttpError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .await
            .map_err(|_| HttpError::Io)?;
        if !read_line(reader).await?.ok_or(HttpError::Io)?.is_empty() {
            return Err(HttpError::Malformed("chunk longer than its size"));
        }
    }
}

async fn write_json<W: AsyncWrite + Unpin>(
    write: &mut W,
    status: u16,
    body: &Value,
    keep_alive: bool,
) -> std::io::Result<()> {
    let text = body.to_string();
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        text.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    if status == 401 {
        out.push_str("WWW-Authenticate: Basic realm=\"Twilio API\"\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&text);
    write.write_all(out.as_bytes()).await?;
    write.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

fn twilio_error(code: u32, message: &str, status: u16) -> Answer {
    Answer::Json(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn route(state: &Mutex<State>, request: &Request) -> Answer {
    let path = request.target.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", API_VERSION, "Accounts", account, "Messages.json"] => {
            if request.method != "POST" {
                return twilio_error(20004, "Method not allowed", 405);
            }
            let params: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
            let mut s = lock(state);
            let answer = messages(&mut s, request, account, &params);
            let status = match &answer {
                Answer::Json(status, _) => Some(*status),
                Answer::Hang | Answer::Drop => None,
            };
            s.calls.push(Call { params, status });
            answer
        }
        _ => twilio_error(
            20404,
            &format!("The requested resource {path} was not found"),
            404,
        ),
    }
}

fn messages(
    s: &mut State,
    request: &Request,
    account: &str,
    params: &[(String, String)],
) -> Answer {
    if let Some(fault) = s.faults.pop_front() {
        return match fault {
            Fault::TooMany => twilio_error(20429, "Too Many Requests", 429),
            Fault::ServerError => twilio_error(20500, "Internal Server Error", 500),
            Fault::Unsubscribed => {
                twilio_error(21610, "Attempt to send to unsubscribed recipient", 400)
            }
            Fault::InvalidNumber => twilio_error(21211, "Invalid 'To' Phone Number", 400),
            Fault::Hang => Answer::Hang,
            Fault::Drop => Answer::Drop,
        };
    }
    let credentials = format!("{}:{}", s.account_sid, s.auth_token);
    if !basic_auth_matches(header(&request.headers, "authorization"), &credentials) {
        return twilio_error(20003, "Authenticate", 401);
    }
    if account != s.account_sid {
        let path = format!("/{API_VERSION}/Accounts/{account}/Messages.json");
        return twilio_error(
            20404,
            &format!("The requested resource {path} was not found"),
            404,
        );
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(to) = get("To") else {
        return twilio_error(21604, "A 'To' phone number is required.", 400);
    };
    let from = get("From");
    let service = get("MessagingServiceSid");
    let Some(sender) = from.or(service) else {
        return twilio_error(21603, "A 'From' phone number is required.", 400);
    };
    let media = params.iter().filter(|(k, _)| k == "MediaUrl").count();
    let body = get("Body").unwrap_or_default();
    if body.is_empty() && media == 0 {
        return twilio_error(21602, "Message body is required.", 400);
    }
    if body.chars().count() > 1600 {
        return twilio_error(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
            400,
        );
    }
    if !is_phone_number(to) {
        return twilio_error(21211, "Invalid 'To' Phone Number", 400);
    }
    if s.unsubscribed.contains(to) {
        return twilio_error(21610, "Attempt to send to unsubscribed recipient", 400);
    }
    let n = s.sent.len() as u64;
    let sid = sid("SM", mix(s.seed ^ n), mix(s.seed.rotate_left(29) ^ !n));
    s.sent.push(Sent {
        sid: sid.clone(),
        to: to.to_string(),
        from: sender.to_string(),
        body: body.to_string(),
        messaging_service_sid: service.map(str::to_string),
    });
    let now = http_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let base = format!("/{API_VERSION}/Accounts/{account}/Messages/{sid}");
    Answer::Json(
        201,
        json!({
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": null,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": service,
            "num_media": media.to_string(),
            "num_segments": segments(body).to_string(),
            "price": null,
            "price_unit": "USD",
            "sid": sid,
            // Twilio says "accepted" while a Messaging Service still has to pick the sender.
            "status": if from.is_none() { "accepted" } else { "queued" },
            "subresource_uris": {"media": format!("{base}/Media.json")},
            "to": to,
            "uri": format!("{base}.json"),
        }),
    )
}

fn basic_auth_matches(header: Option<&str>, credentials: &str) -> bool {
    let Some((scheme, encoded)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic")
        && STANDARD
            .decode(encoded.trim())
            .is_ok_and(|decoded| decoded == credentials.as_bytes())
}

/// E.164 (`+` and 7 to 15 digits, not starting with 0), optionally with a `whatsapp:` prefix.
fn is_phone_number(number: &str) -> bool {
    let number = number.strip_prefix("whatsapp:").unwrap_or(number);
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Country, state, city and ZIP as Twilio reports them for a number: filled in for North
/// American numbers, only the country for a few others, empty otherwise.
fn place(number: &str, sender: bool) -> [&'static str; 4] {
    let number = number.strip_prefix("whatsapp:").unwrap_or(number);
    let country = [
        ("+1", "US"),
        ("+44", "GB"),
        ("+49", "DE"),
        ("+33", "FR"),
        ("+61", "AU"),
        ("+91", "IN"),
    ]
    .into_iter()
    .find(|(prefix, _)| number.starts_with(prefix))
    .map_or("", |(_, country)| country);
    match (country, sender) {
        ("US", true) => ["US", "NY", "NEW YORK", "10001"],
        ("US", false) => ["US", "CA", "SAN FRANCISCO", "94105"],
        (country, _) => [country, "", "", ""],
    }
}

/// The GSM 03.38 characters that take one septet, and those that take two.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED: &str = "\u{c}^{}\\[~]|€";

/// How many SMS segments a body takes: GSM-7 when every character allows it (160 septets
/// alone, 153 per part), UCS-2 otherwise (70 units alone, 67 per part).
pub fn segments(body: &str) -> usize {
    let septets: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (units, alone, per_part) = match septets {
        Some(septets) => (septets, 160, 153),
        None => (body.encode_utf16().count(), 70, 67),
    };
    if units <= alone {
        1
    } else {
        units.div_ceil(per_part)
    }
}

fn sid(prefix: &str, high: u64, low: u64) -> String {
    format!("{prefix}{high:016x}{low:016x}")
}

/// A bijective scramble of 64 bits (the splitmix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// RFC 2822 date in UTC, the way Twilio writes `date_created`.
fn http_date(unix: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let (hour, minute, second) = (unix % 86_400 / 3600, unix % 3600 / 60, unix % 60);
    // Civil date from days since 1970-01-01, counting in 400-year eras that start on 1 March.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {hour:02}:{minute:02}:{second:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize]
    )
}
