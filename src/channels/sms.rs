//! The SMS channel over Twilio: signed webhooks in (axum), the Messages REST API out
//! (reqwest). The only module that knows either.
//!
//! Inbound, in this order: the signature (anything unsigned or mis-signed gets 403 and
//! changes nothing); a `MessageSid` seen before is acknowledged and not processed again;
//! then the crisis check, before anything else; then the carrier keywords (STOP, START,
//! HELP; an opt-out is kept even after /forget); an opted-out number gets nothing more;
//! a bare number answers the choices last offered; anything else is an ordinary message.
//! Replies go through the outbox like every channel's, so crisis replies go first and
//! nothing is lost in a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use super::http::Bounds;
use super::hub::Hub;
use crate::app::App;
use crate::clock::Clock;
use crate::delivery::{Limits, SendError, Transport, queue_replies};
use crate::engine::{Body, ChatKind, Inbound, Keyword, Reply, Route, Stored, clip};
use crate::pseudonym;
use crate::sms::{MAX_BODY_CHARS, is_e164, keywords, segments, signature};
use crate::store::{Offered, Store};
use crate::user::{Channel, UserKey};

/// `[sms]` in the configuration: where Twilio reaches Waypoint and how it texts back.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsSettings {
    /// Where the webhook server listens (behind the TLS-terminating proxy).
    pub listen: SocketAddr,
    /// The public URL configured in Twilio for incoming messages, exactly: signatures
    /// are computed over it.
    pub webhook_url: String,
    /// The Twilio number texts come from, in E.164 form.
    pub from: String,
    /// Twilio's REST API (a loopback stand-in in tests).
    pub api_url: String,
    /// Texts per second from the sending number.
    pub per_second: f64,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8088)),
            webhook_url: String::new(),
            from: String::new(),
            api_url: "https://api.twilio.com".into(),
            per_second: 1.0,
        }
    }
}

/// The Twilio account's credentials, from the environment only.
#[derive(Clone)]
pub struct Credentials {
    pub account_sid: String,
    pub auth_token: String,
}

impl Credentials {
    pub fn from_env() -> Result<Self, SmsError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_string())
                .ok_or(SmsError::MissingEnv(name))
        };
        Ok(Self {
            account_sid: var("TWILIO_ACCOUNT_SID")?,
            auth_token: var("TWILIO_AUTH_TOKEN")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("{0} is not set; copy it from the Twilio console (Account Info) into the environment")]
    MissingEnv(&'static str),
    #[error("[sms] webhook_url {0:?} is not a URL")]
    BadUrl(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the HTTPS client: {0}")]
    Client(reqwest::Error),
}

/// A bound webhook server whose sender is running in the hub.
pub struct Sms {
    listener: TcpListener,
    path: String,
    gateway: Arc<Gateway>,
}

impl Sms {
    /// Binds the webhook listener and starts this channel's sender in `hub`.
    pub async fn start(
        hub: &mut Hub,
        settings: &SmsSettings,
        credentials: Credentials,
    ) -> Result<Self, SmsError> {
        let url = url::Url::parse(&settings.webhook_url)
            .map_err(|_| SmsError::BadUrl(settings.webhook_url.clone()))?;
        let choices = Arc::new(ChoiceBook::new(hub.store.clone(), hub.clock.clone()));
        let transport = Arc::new(SmsTransport::new(
            settings,
            credentials.clone(),
            hub.store.clone(),
            hub.clock.clone(),
            choices.clone(),
        )?);
        let queued = hub.add_sender(transport.clone(), limits(settings.per_second));
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| SmsError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let gateway = Arc::new(Gateway {
            app: hub.app.clone(),
            store: hub.store.clone(),
            clock: hub.clock.clone(),
            auth_token: credentials.auth_token,
            webhook_url: settings.webhook_url.clone(),
            choices,
            seen: Mutex::default(),
            queued,
            changed: hub.changed.clone(),
            transport,
        });
        Ok(Self {
            listener,
            path: url.path().to_string(),
            gateway,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves the webhook until `shutdown` turns true, finishing the requests in hand.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> Result<(), SmsError> {
        if let Some(addr) = self.local_addr() {
            tracing::info!(%addr, path = %self.path, "SMS webhook listening");
        }
        let router = axum::Router::new()
            .route(&self.path, axum::routing::post(inbound))
            .with_state(self.gateway);
        super::http::serve(self.listener, router, Bounds::WEBHOOK, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
        tracing::info!("SMS channel stopped");
        Ok(())
    }
}

/// `/privacy` or `/forget`: a person's rights over their data hold after STOP too.
fn is_data_right(text: &str) -> bool {
    let command = text.split_whitespace().next().unwrap_or_default();
    ["/privacy", "/forget"]
        .iter()
        .any(|c| command.eq_ignore_ascii_case(c))
}

/// One text a second by default (a long code's usual limit); one at a time per person so
/// their texts arrive in order.
fn limits(per_second: f64) -> Limits {
    let gap = Duration::from_secs_f64(1.0 / per_second.clamp(0.01, 100.0));
    Limits {
        per_window: 1,
        window: gap,
        per_chat: gap,
        per_group: gap,
        max_in_flight: 4,
        ..Limits::default()
    }
}

struct Gateway {
    app: Arc<App>,
    store: Store,
    clock: Arc<dyn Clock>,
    auth_token: String,
    webhook_url: String,
    choices: Arc<ChoiceBook>,
    /// `MessageSid`s taken in the last day: Twilio may deliver a webhook twice.
    seen: Mutex<HashMap<String, Instant>>,
    queued: Arc<Notify>,
    changed: Arc<Notify>,
    transport: Arc<SmsTransport>,
}

/// How long a `MessageSid` is remembered, and how many at most.
const SEEN_FOR: Duration = Duration::from_secs(24 * 3600);
const SEEN_MAX: usize = 100_000;

/// An empty TwiML answer: replies go through the REST API, from the outbox.
const TWIML_EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

async fn inbound(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let signed = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| signature::verify(&gw.auth_token, &gw.webhook_url, &params, sig));
    if !signed {
        crate::telemetry::http_refused("sms", "signature");
        return (StatusCode::FORBIDDEN, "invalid signature").into_response();
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(from), Some(sid)) = (field("From"), field("MessageSid")) else {
        return (StatusCode::BAD_REQUEST, "From and MessageSid are required").into_response();
    };
    // People are keyed by their E.164 number; anything else (WhatsApp, a malformed
    // sender) is not this channel's.
    if !is_e164(&from) {
        return (StatusCode::BAD_REQUEST, "From is not a phone number").into_response();
    }
    let text = field("Body").unwrap_or_default();
    let media = field("NumMedia").is_some_and(|n| n.trim() != "0");
    if !gw.claim(&sid) {
        return twiml();
    }
    let user = UserKey::new(Channel::Sms, from);
    let (g, u) = (gw.clone(), user.clone());
    let handled = tokio::task::spawn_blocking(move || g.receive(&u, &text, media)).await;
    let Ok(replies) = handled else {
        // Let Twilio's retry (if configured) try again.
        gw.release(&sid);
        tracing::error!("SMS handling failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    queue_replies(&gw.store, gw.transport.as_ref(), &user, replies).await;
    gw.queued.notify_one();
    gw.changed.notify_one();
    twiml()
}

fn twiml() -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], TWIML_EMPTY).into_response()
}

impl Gateway {
    /// Takes a `MessageSid` for processing; false if it was taken before.
    fn claim(&self, sid: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if seen.len() >= SEEN_MAX {
            seen.retain(|_, at| now.duration_since(*at) < SEEN_FOR);
        }
        if seen.len() >= SEEN_MAX {
            seen.clear();
        }
        seen.insert(sid.to_string(), now).is_none()
    }

    fn release(&self, sid: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
    }

    /// One inbound text, end to end; returns the replies to queue. Blocking. Only the
    /// first [`crate::engine::MAX_TEXT_CHARS`] characters are read (the reply says so).
    fn receive(&self, user: &UserKey, text: &str, media: bool) -> Vec<Reply> {
        let user = user.clone();
        let at = self.clock.now();
        let tag = pseudonym::tag(&self.store.log_salt(), &user);
        let (text, ignored) = clip(text);
        if ignored > 0 {
            tracing::info!(user = %tag, ignored, "read only the start of a long text");
        }
        let mut replies = self.answer(&user, &tag, text, media, at);
        if ignored > 0 && !replies.is_empty() {
            let locale = match self.store.load(&user) {
                Ok(Stored::Found(record)) => record.locale,
                _ => self.app.engine().settings().default_locale,
            };
            replies.push(self.app.engine().clipped_reply(locale));
        }
        replies
    }

    /// [`Gateway::receive`] for the part of the text that is read.
    fn answer(
        &self,
        user: &UserKey,
        tag: &str,
        text: &str,
        media: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Reply> {
        let user = user.clone();
        let inbound = |body| Inbound {
            user: user.clone(),
            at,
            language: None,
            chat: ChatKind::Private,
            body,
            sender: None,
        };
        let as_text = Body::Text(text.to_string());
        // A carrier keyword is the whole text ("HELP", "STOP"): never a statement of
        // crisis, and carriers require its own answer (HELP's carries the crisis lines).
        let keyword = keywords::keyword(text);
        let outcome = if keyword.is_none() && self.app.engine().is_risk(&as_text) {
            // First, whatever else the text is, and even for a number that opted out.
            self.app.handle(&inbound(as_text))
        } else if let Some((keyword, hint)) = keyword {
            self.keyword(&user, tag, keyword, hint, at)
        } else if self.opted_out(&user, tag) {
            // After STOP: only what the person is entitled to ask for — to see or erase
            // their data, and answers to an urgent question (a crisis reply's "are you
            // safe?") — and the replies to those go out as urgent, past the opt-out.
            let choice = keywords::choice(text).and_then(|n| self.choices.pick(&user, n));
            let body = match choice {
                Some((data, true)) => Body::Button(data),
                _ if is_data_right(text) => as_text,
                _ => {
                    tracing::info!(user = %tag, "text from an opted-out number; not answered");
                    return Vec::new();
                }
            };
            let mut outcome = self.app.handle(&inbound(body));
            outcome.replies.iter_mut().for_each(|r| r.urgent = true);
            outcome
        } else if let Some(code) = keywords::invite(text) {
            self.app
                .handle(&inbound(Body::Text(format!("/start {code}"))))
        } else if media && text.trim().is_empty() {
            self.app.handle(&inbound(Body::Unsupported))
        } else if let Some((data, _)) =
            keywords::choice(text).and_then(|n| self.choices.pick(&user, n))
        {
            self.app.handle(&inbound(Body::Button(data)))
        } else {
            let first_contact = self.choices.offered(&user).is_none()
                && matches!(self.store.load(&user), Ok(Stored::Nothing));
            let mut outcome = self.app.handle(&inbound(as_text));
            if first_contact && !text.trim_start().starts_with('/') {
                // People who text do not know to send /start: a first text starts
                // consent. A useful answer to it stays; small talk makes way.
                let welcome = self.app.handle(&inbound(Body::Text("/start".into())));
                if !matches!(outcome.route, Route::Faq | Route::Support | Route::Clinical) {
                    outcome.replies.clear();
                }
                outcome.replies.extend(welcome.replies);
            }
            outcome
        };
        // Known at once, not only once sent: a second text before the first reply goes
        // out already answers these choices (and does not get a second welcome).
        for reply in outcome.replies.iter().filter(|r| !r.buttons.is_empty()) {
            self.choices.remember(&user, reply);
        }
        outcome.replies
    }

    /// STOP, START or HELP: the opt-out list changes first (an opt-out holds from the
    /// moment it is confirmed, and nothing queued goes out after it), then the engine
    /// answers.
    fn keyword(
        &self,
        user: &UserKey,
        tag: &str,
        keyword: Keyword,
        hint: Option<crate::locale::Locale>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> crate::engine::Outcome {
        let opted_out = match keyword {
            Keyword::Stop => Some(true),
            Keyword::Start => Some(false),
            Keyword::Help => None,
        };
        if let Some(out) = opted_out {
            if let Err(e) = self.store.set_opted_out(user, out, at) {
                tracing::error!(user = %tag, error = %e, "cannot record an SMS opt-out change");
            }
            if out && let Err(e) = self.store.outbox_drop_user(user) {
                tracing::error!(user = %tag, error = %e, "cannot drop queued texts");
            }
        }
        tracing::info!(user = %tag, keyword = ?keyword, "SMS keyword");
        self.app.keyword(user, keyword, hint, at)
    }

    fn opted_out(&self, user: &UserKey, tag: &str) -> bool {
        self.store.is_opted_out(user).unwrap_or_else(|e| {
            // When in doubt, stay silent: texting someone who opted out is the worse error.
            tracing::error!(user = %tag, error = %e, "cannot read the opt-out list");
            true
        })
    }
}

/// The numbered choices each person was last offered. Kept in the store for people with
/// a record (so a restart does not lose them); before consent only in memory, since
/// nothing is stored before consent. Choices older than [`CHOICES_FOR`] answer nothing:
/// a "3" typed days later is a new message, not an old RSVP.
struct ChoiceBook {
    store: Store,
    clock: Arc<dyn Clock>,
    unconsented: Mutex<HashMap<UserKey, Offered>>,
}

/// Enough for every conversation in progress; beyond it the oldest are forgotten.
const UNCONSENTED_MAX: usize = 10_000;

/// How long numbered choices stay answerable.
const CHOICES_FOR: chrono::Duration = chrono::Duration::days(3);

impl ChoiceBook {
    fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            unconsented: Mutex::default(),
        }
    }

    fn remember(&self, user: &UserKey, reply: &Reply) {
        let offered = Offered {
            choices: reply
                .buttons
                .iter()
                .flatten()
                .map(|b| b.data.clone())
                .collect(),
            urgent: reply.urgent,
            at: self.clock.now(),
        };
        // Under the person's lock, so a /forget cannot pass between the look and the write.
        let _person = self.store.lock_user(user);
        let mut memory = self.unconsented.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(self.store.load(user), Ok(Stored::Found(_))) {
            memory.remove(user);
            if let Err(e) = self.store.remember_choices(user, &offered) {
                tracing::error!(error = %e, "cannot keep the choices offered");
            }
        } else {
            if memory.len() >= UNCONSENTED_MAX {
                memory.clear();
            }
            memory.insert(user.clone(), offered);
        }
    }

    fn offered(&self, user: &UserKey) -> Option<Offered> {
        let stored = self.store.choices(user).ok().flatten();
        stored
            .or_else(|| {
                self.unconsented
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(user)
                    .cloned()
            })
            .filter(|o| self.clock.now() - o.at < CHOICES_FOR)
    }

    /// The button data behind choice `n` (1-based), and whether it answers an urgent
    /// question.
    fn pick(&self, user: &UserKey, n: usize) -> Option<(String, bool)> {
        let offered = self.offered(user)?;
        let data = offered.choices.get(n.checked_sub(1)?)?.clone();
        Some((data, offered.urgent))
    }
}

/// Sends through Twilio's Messages API; sorts its answers into retry, wait, unreachable.
pub struct SmsTransport {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    from: String,
    store: Store,
    clock: Arc<dyn Clock>,
    choices: Arc<ChoiceBook>,
}

/// Twilio's error codes that mean this number cannot be texted (not a valid or mobile
/// number, unreachable by SMS).
const UNREACHABLE_CODES: &[u64] = &[21211, 21612, 21614];

/// Twilio's "attempt to send to unsubscribed recipient": the person texted STOP to the
/// number (Twilio and the carriers enforce it, whatever Waypoint knows).
const UNSUBSCRIBED: u64 = 21610;

/// How long sending pauses when Twilio refuses the credentials: long enough not to
/// hammer it, short enough to resume soon after the token is fixed and Waypoint restarted.
const AUTH_PAUSE: Duration = Duration::from_secs(60);

impl SmsTransport {
    fn new(
        settings: &SmsSettings,
        credentials: Credentials,
        store: Store,
        clock: Arc<dyn Clock>,
        choices: Arc<ChoiceBook>,
    ) -> Result<Self, SmsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(SmsError::Client)?;
        let endpoint = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            settings.api_url.trim_end_matches('/'),
            credentials.account_sid
        );
        Ok(Self {
            http,
            endpoint,
            credentials,
            from: settings.from.clone(),
            store,
            clock,
            choices,
        })
    }

    async fn post(&self, to: &str, body: &str) -> Result<(), SendError> {
        let response = self
            .http
            .post(&self.endpoint)
            .basic_auth(
                &self.credentials.account_sid,
                Some(&self.credentials.auth_token),
            )
            .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Err(SendError::RetryAfter(Duration::from_secs(
                wait.clamp(1, 3600),
            )));
        }
        if status.is_server_error() {
            return Err(SendError::Transient(format!("Twilio answered {status}")));
        }
        if matches!(status.as_u16(), 401 | 403) {
            // A wrong or rotated token: keep every message and wait (dropping them would
            // lose crisis replies to a configuration mistake).
            tracing::error!(%status, "Twilio refused the credentials; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN");
            return Err(SendError::RetryAfter(AUTH_PAUSE));
        }
        let code = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_u64()));
        match code {
            Some(UNSUBSCRIBED) => {
                // Keep Waypoint's list in step with the carrier's.
                let user = UserKey::new(Channel::Sms, to);
                if let Err(e) = self.store.set_opted_out(&user, true, self.clock.now()) {
                    tracing::error!(error = %e, "cannot record a carrier opt-out");
                }
                Err(SendError::Unreachable)
            }
            Some(code) if UNREACHABLE_CODES.contains(&code) => Err(SendError::Unreachable),
            Some(code) => Err(SendError::Permanent(format!(
                "Twilio refused the message: {status}, error {code}"
            ))),
            None => Err(SendError::Permanent(format!(
                "Twilio refused the message: {status}"
            ))),
        }
    }
}

impl Transport for SmsTransport {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, to: &UserKey, reply: &Reply) -> Result<(), SendError> {
        if to.channel != Channel::Sms {
            return Err(SendError::Permanent("not an SMS number".into()));
        }
        // The last word on an opt-out, whatever queued the text (a scheduled job that
        // fired as STOP arrived, a staff broadcast, a reply to an earlier text): only
        // urgent replies (crisis, STOP and HELP answers) reach an opted-out number.
        if !reply.urgent && self.store.is_opted_out(to).unwrap_or(true) {
            return Err(SendError::Permanent("the person opted out of texts".into()));
        }
        // Typographic quotes and dashes would make the whole text UCS-2 (70 characters a
        // segment instead of 160).
        let text = segments::gsm_friendly(&reply.text);
        for body in segments::split(&text, MAX_BODY_CHARS) {
            self.post(&to.id, &body).await?;
        }
        if !reply.buttons.is_empty() {
            self.choices.remember(to, reply);
        }
        Ok(())
    }
}
