//! The Telegram channel: long polling through teloxide. The only module that knows
//! teloxide. It turns updates into [`Inbound`]s, runs them through the [`App`] on a
//! blocking thread (the store may flush), and queues the replies in the outbox (crisis
//! replies first). The scheduler and the sender run beside the dispatcher; the sender
//! delivers through [`TelegramTransport`]: HTML-escaped, split at Telegram's length
//! limit, buttons as inline keyboards, errors sorted into retry / wait / unreachable.

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{BotCommand, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode};
use teloxide::update_listeners::polling_default;
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, watch};

use super::hub::Hub;
use crate::app::App;
use crate::clock::Clock;
use crate::content::Msg;
use crate::delivery::{Limits, SendError, Transport, queue_replies};
use crate::engine::{Body, ChatKind, Inbound, Reply, clip};
use crate::locale::Locale;
use crate::store::Store;
use crate::user::{Channel, UserKey};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_TEXT_UTF16: usize = 4096;

/// The dispatcher's bot: `getMe` answered once at start and then from memory, so a Bot
/// API hiccup as polling or the webhook begins cannot stop the channel.
type Tg = teloxide::adaptors::CacheMe<Bot>;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("the Bot API URL {0:?} is not a valid URL")]
    BadUrl(String),
    #[error("the Bot API did not accept the token or could not be reached: {0}")]
    Startup(#[from] RequestError),
    #[error("cannot listen on {addr} for the Telegram webhook: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot make a webhook secret: {0}")]
    Random(String),
}

/// Everything a handler needs, shared across updates.
#[derive(Clone)]
struct Deps {
    app: Arc<App>,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Wakes the sender: something was queued.
    queued: Arc<Notify>,
    /// Wakes the scheduler: someone's schedule may have changed.
    changed: Arc<Notify>,
    /// For sending directly when the outbox cannot be written.
    transport: Arc<TelegramTransport>,
}

/// A connected bot whose sender is running in the hub; [`Telegram::serve`] polls.
pub struct Telegram {
    bot: Tg,
    deps: Deps,
}

impl Telegram {
    /// Checks the token with the Bot API, registers the command menu and starts this
    /// channel's sender in `hub`.
    pub async fn connect(
        hub: &mut Hub,
        token: String,
        api_url: Option<String>,
    ) -> Result<Self, TelegramError> {
        let plain = bot(token, api_url)?;
        let bot: Tg = plain.clone().cache_me();
        let me = get_me(&bot).await?;
        tracing::info!(bot = %me.username(), "connected to the Bot API");
        register_commands(&bot, &hub.app).await;
        let transport = Arc::new(TelegramTransport { bot: plain });
        let queued = hub.add_sender(transport.clone(), Limits::default());
        let deps = Deps {
            app: hub.app.clone(),
            store: hub.store.clone(),
            clock: hub.clock.clone(),
            queued,
            changed: hub.changed.clone(),
            transport,
        };
        Ok(Self { bot, deps })
    }

    /// Receives updates — by long polling, or at a webhook — until `shutdown` turns true,
    /// then finishes the updates in hand.
    pub async fn serve(
        self,
        mode: Updates,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), TelegramError> {
        let handler = dptree::entry()
            .branch(Update::filter_message().endpoint(on_message))
            .branch(Update::filter_callback_query().endpoint(on_callback));
        let mut dispatcher = Dispatcher::builder(self.bot.clone(), handler)
            .dependencies(dptree::deps![self.deps])
            .default_handler(|_| async {})
            .build();
        let token = dispatcher.shutdown_token();
        let stopper = tokio::spawn(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
            // The dispatcher may still be starting: try until it takes the request.
            loop {
                match token.shutdown() {
                    Ok(done) => {
                        done.await;
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        let dispatched = match mode {
            // Polling deletes any webhook first, so switching back needs nothing else.
            Updates::Polling => {
                let listener = polling_default(self.bot).await;
                dispatcher
                    .try_dispatch_with_listener(
                        listener,
                        LoggingErrorHandler::with_custom_text("polling"),
                    )
                    .await
            }
            Updates::Webhook { url, listen } => {
                let (listener, server) = webhook(self.bot, url, listen).await?;
                let dispatched = dispatcher
                    .try_dispatch_with_listener(
                        listener,
                        LoggingErrorHandler::with_custom_text("webhook"),
                    )
                    .await;
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "the webhook server task failed");
                }
                dispatched
            }
        };
        stopper.abort();
        dispatched?;
        tracing::info!("Telegram channel stopped");
        Ok(())
    }
}

/// How updates arrive.
#[derive(Debug, Clone)]
pub enum Updates {
    /// `getUpdates` long polling: outbound connections only.
    Polling,
    /// Telegram posts each update to `url` (the public HTTPS address, behind a proxy that
    /// forwards to `listen`).
    Webhook {
        url: url::Url,
        listen: std::net::SocketAddr,
    },
}

/// Registers the webhook with a fresh random secret, and serves it: a request without
/// the matching `X-Telegram-Bot-Api-Secret-Token` gets 403 and goes no further. When the
/// dispatcher stops the listener, the webhook is deleted and the server stops.
async fn webhook(
    bot: Tg,
    url: url::Url,
    listen: std::net::SocketAddr,
) -> Result<
    (
        impl teloxide::update_listeners::UpdateListener<Err = std::convert::Infallible>,
        tokio::task::JoinHandle<()>,
    ),
    TelegramError,
> {
    use teloxide::update_listeners::webhooks::{Options, axum_to_router};
    let secret: Arc<str> = webhook_secret()?.into();
    // Bound first: a webhook registered for a port we cannot take would hold Telegram's
    // updates with a secret nobody has.
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| TelegramError::Bind {
            addr: listen,
            source,
        })?;
    let options = Options::new(listen, url).secret_token(secret.to_string());
    let (listener, stopped, router) = axum_to_router(bot, options).await?;
    let router = router.layer(axum::middleware::from_fn_with_state(secret, check_secret));
    tracing::info!(addr = %listen, "Telegram webhook listening");
    let server = tokio::spawn(super::http::serve(
        tcp,
        router,
        super::http::Bounds::WEBHOOK,
        stopped,
    ));
    Ok((listener, server))
}

/// 32 random characters from the alphabet Telegram allows in a secret token.
fn webhook_secret() -> Result<String, TelegramError> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TelegramError::Random(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect())
}

/// Lets a webhook request through only with the right secret header (compared in
/// constant time); anything else gets 403 before any update is read.
async fn check_secret(
    axum::extract::State(secret): axum::extract::State<Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let given = request
        .headers()
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // In time that depends only on the lengths, so the secret cannot be guessed byte by byte.
    if bool::from(subtle::ConstantTimeEq::ct_eq(given, secret.as_bytes())) {
        next.run(request).await
    } else {
        crate::telemetry::http_refused("telegram", "secret");
        axum::http::StatusCode::FORBIDDEN.into_response()
    }
}

fn bot(token: String, api_url: Option<String>) -> Result<Bot, TelegramError> {
    let mut bot = Bot::new(token);
    if let Some(url) = api_url {
        let parsed = url::Url::parse(url.trim_end_matches('/'))
            .map_err(|_| TelegramError::BadUrl(url.clone()))?;
        bot = bot.set_api_url(parsed);
    }
    Ok(bot)
}

/// Registers the command menu in every locale; a failure only costs the menu.
async fn register_commands(bot: &Tg, app: &App) {
    let commands = [
        ("start", Msg::CmdStart),
        ("help", Msg::CmdHelp),
        ("faq", Msg::CmdFaq),
        ("privacy", Msg::CmdPrivacy),
        ("stop", Msg::CmdStop),
        ("resume", Msg::CmdResume),
        ("forget", Msg::CmdForget),
        ("language", Msg::CmdLanguage),
        ("timezone", Msg::CmdTimezone),
        ("program", Msg::CmdProgram),
        ("checkin", Msg::CmdCheckin),
        ("sober", Msg::CmdSober),
        ("days", Msg::CmdDays),
    ];
    for locale in Locale::ALL {
        let list: Vec<BotCommand> = commands
            .iter()
            .map(|(name, msg)| BotCommand::new(*name, app.engine().content().text(locale, *msg)))
            .collect();
        let request = bot
            .set_my_commands(list.clone())
            .language_code(locale.code());
        if let Err(e) = request.await {
            tracing::warn!(error = %e, locale = locale.code(), "cannot register commands");
        }
        if locale == app.engine().settings().default_locale
            && let Err(e) = bot.set_my_commands(list).await
        {
            tracing::warn!(error = %e, "cannot register default commands");
        }
    }
}

async fn on_message(msg: Message, deps: Deps) -> ResponseResult<()> {
    let chat = if msg.chat.is_private() {
        ChatKind::Private
    } else {
        ChatKind::Shared
    };
    let language = msg
        .from
        .as_ref()
        .and_then(|u| u.language_code.as_deref())
        .and_then(Locale::from_tag);
    let body = match msg.text() {
        Some(text) => {
            // Telegram's own limit is the same; this only guards against a stand-in or a
            // future change.
            let (text, ignored) = clip(text);
            if ignored > 0 {
                tracing::info!(ignored, "read only the start of a long text");
            }
            Body::Text(text.to_string())
        }
        None => Body::Unsupported,
    };
    let inbound = Inbound {
        user: UserKey::new(Channel::Telegram, msg.chat.id.0.to_string()),
        at: deps.clock.now(),
        language,
        chat,
        body,
        sender: msg.from.as_ref().map(|u| u.id.0.to_string()),
    };
    process(&deps, inbound).await;
    Ok(())
}

async fn on_callback(bot: Tg, query: CallbackQuery, deps: Deps) -> ResponseResult<()> {
    // Always answer, first, so the person's button stops spinning whatever happens next.
    if let Err(e) = bot.answer_callback_query(query.id.clone()).await {
        tracing::warn!(error = %e, "cannot answer a callback query");
    }
    let message = query.regular_message();
    let chat_id = message
        .map(|m| m.chat.id)
        .unwrap_or(ChatId(query.from.id.0 as i64));
    let chat = if message.is_none_or(|m| m.chat.is_private()) {
        ChatKind::Private
    } else {
        ChatKind::Shared
    };
    let inbound = Inbound {
        user: UserKey::new(Channel::Telegram, chat_id.0.to_string()),
        at: deps.clock.now(),
        language: query
            .from
            .language_code
            .as_deref()
            .and_then(Locale::from_tag),
        chat,
        body: Body::Button(query.data.clone().unwrap_or_default()),
        sender: Some(query.from.id.0.to_string()),
    };
    process(&deps, inbound).await;
    Ok(())
}

/// Runs one inbound through the app and queues the replies for the sender.
async fn process(deps: &Deps, inbound: Inbound) {
    let app = deps.app.clone();
    let user = inbound.user.clone();
    let outcome = match tokio::task::spawn_blocking(move || app.handle(&inbound)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "message handling failed");
            return;
        }
    };
    queue_replies(&deps.store, deps.transport.as_ref(), &user, outcome.replies).await;
    deps.queued.notify_one();
    deps.changed.notify_one();
}

/// Sends through the Bot API. Sorts teloxide's errors into what the sender can act on.
pub struct TelegramTransport {
    bot: Bot,
}

impl TelegramTransport {
    /// A transport to the Bot API at `api_url` (Telegram's own when `None`).
    pub fn new(token: String, api_url: Option<String>) -> Result<Self, TelegramError> {
        Ok(Self {
            bot: bot(token, api_url)?,
        })
    }
}

impl Transport for TelegramTransport {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn is_group(&self, to: &UserKey) -> bool {
        to.id.starts_with('-')
    }

    async fn send_photo(&self, to: &UserKey, png: &[u8], caption: &str) -> Result<(), SendError> {
        let chat_id = chat_of(to)?;
        let photo = teloxide::types::InputFile::memory(png.to_vec()).file_name("invite.png");
        self.bot
            .send_photo(chat_id, photo)
            .caption(caption)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn send(&self, to: &UserKey, reply: &Reply) -> Result<(), SendError> {
        let chat_id = chat_of(to)?;
        send(&self.bot, chat_id, reply).await.map_err(classify)
    }
}

fn chat_of(to: &UserKey) -> Result<ChatId, SendError> {
    to.id
        .parse::<i64>()
        .map(ChatId)
        .map_err(|_| SendError::Permanent("not a Telegram chat id".into()))
}

/// Sends one reply, split at the length limit, with its buttons on the last part.
async fn send(bot: &Bot, chat_id: ChatId, reply: &Reply) -> Result<(), RequestError> {
    let parts = split_text(&reply.text, MAX_TEXT_UTF16);
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        let mut request = bot
            .send_message(chat_id, teloxide::utils::html::escape(part))
            .parse_mode(ParseMode::Html);
        if i == last && !reply.buttons.is_empty() {
            request = request.reply_markup(keyboard(reply));
        }
        request.await?;
    }
    Ok(())
}

/// How long start-up keeps trying a Bot API that answers with temporary failures.
const STARTUP_PATIENCE: Duration = Duration::from_secs(120);

/// `getMe`, retried with backoff while the failure is temporary (a 5xx, a 429, the
/// network): a Bot API hiccup at start is not a reason to exit. A refused token fails at
/// once.
async fn get_me(bot: &Tg) -> Result<teloxide::types::Me, TelegramError> {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_secs(1);
    loop {
        match bot.get_me().await {
            Ok(me) => return Ok(me),
            Err(e) => {
                let pause = match classify(e.clone()) {
                    SendError::RetryAfter(d) => d,
                    SendError::Transient(_) => wait,
                    _ => return Err(e.into()),
                };
                if started.elapsed() + pause > STARTUP_PATIENCE {
                    return Err(e.into());
                }
                tracing::warn!(error = %e, seconds = pause.as_secs(), "the Bot API is not answering yet; retrying");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn classify(e: RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(wait) => {
            SendError::RetryAfter(wait.duration().min(Duration::from_secs(3600)))
        }
        e if is_unreachable(&e) => SendError::Unreachable,
        RequestError::Network(e) => SendError::Transient(e.to_string()),
        RequestError::Io(e) => SendError::Transient(e.to_string()),
        // A proxy's HTML error page (502, 503) is not the Bot API's JSON.
        RequestError::InvalidJson { .. } => SendError::Transient("not a Bot API answer".into()),
        RequestError::Api(ApiError::Unknown(text)) if is_server_error(&text) => {
            SendError::Transient(text)
        }
        e => SendError::Permanent(e.to_string()),
    }
}

/// The descriptions the Bot API gives with 5xx answers.
fn is_server_error(text: &str) -> bool {
    [
        "Internal Server Error",
        "Bad Gateway",
        "Service Unavailable",
        "Gateway Timeout",
    ]
    .iter()
    .any(|s| text.contains(s))
}

fn keyboard(reply: &Reply) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(reply.buttons.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
            .collect::<Vec<_>>()
    }))
}

/// Telegram's 403 family: the person blocked the bot, deleted their account, or never
/// started a chat. Sending again cannot succeed.
fn is_unreachable(e: &RequestError) -> bool {
    match e {
        RequestError::Api(api) => {
            matches!(
                api,
                ApiError::BotBlocked
                    | ApiError::UserDeactivated
                    | ApiError::CantInitiateConversation
                    | ApiError::BotKicked
                    | ApiError::BotKickedFromSupergroup
                    | ApiError::BotKickedFromChannel
            ) || matches!(api, ApiError::Unknown(text) if text.starts_with("Forbidden"))
        }
        _ => false,
    }
}

/// Splits text into parts of at most `limit` UTF-16 units, preferring line breaks, then
/// spaces, and only then splitting inside a word.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(2);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.encode_utf16().count() > limit {
        let mut units = 0;
        let mut cut = 0;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > limit {
                break;
            }
            units += c.len_utf16();
            cut = i + c.len_utf8();
        }
        let head = &rest[..cut];
        let at = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .filter(|&i| i > 0)
            .map(|i| i + 1)
            .unwrap_or(cut);
        parts.push(rest[..at].trim_end().to_string());
        rest = &rest[at..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_splits_on_line_breaks_within_the_limit() {
        let text = format!(
            "{}\n{}\n{}",
            "a".repeat(3000),
            "b".repeat(3000),
            "c".repeat(10)
        );
        let parts = split_text(&text, MAX_TEXT_UTF16);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(3000));
        assert!(
            parts
                .iter()
                .all(|p| p.encode_utf16().count() <= MAX_TEXT_UTF16)
        );
        assert_eq!(parts.concat().replace('\n', ""), text.replace('\n', ""));
    }

    #[test]
    fn astral_characters_count_as_two_units_and_are_never_cut() {
        let text = "🙂".repeat(3000);
        let parts = split_text(&text, MAX_TEXT_UTF16);
        assert!(
            parts
                .iter()
                .all(|p| p.encode_utf16().count() <= MAX_TEXT_UTF16)
        );
        assert_eq!(parts.concat(), text);
    }
}
