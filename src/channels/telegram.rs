//! The Telegram channel: long polling through teloxide. The only module that knows
//! teloxide. It turns updates into [`Inbound`]s, runs them through the [`App`] on a
//! blocking thread (the store may flush), and sends the replies: HTML-escaped, split at
//! Telegram's length limit, buttons as inline keyboards. A person who blocked the bot is
//! marked unreachable; no send error stops the bot.

use std::sync::Arc;
use std::time::Duration;

use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::Limits;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode};
use teloxide::update_listeners::polling_default;
use teloxide::{ApiError, RequestError};

use crate::app::App;
use crate::clock::Clock;
use crate::content::Msg;
use crate::engine::{Body, ChatKind, Inbound, Reply};
use crate::locale::Locale;
use crate::user::{Channel, UserKey};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_TEXT_UTF16: usize = 4096;
/// How many times a send is retried after Telegram asks us to wait (HTTP 429).
const RETRY_AFTER_ATTEMPTS: usize = 3;

type Tg = Throttle<Bot>;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("the Bot API URL {0:?} is not a valid URL")]
    BadUrl(String),
    #[error("the Bot API did not accept the token or could not be reached: {0}")]
    Startup(#[from] RequestError),
}

/// Everything a handler needs, shared across updates.
#[derive(Clone)]
struct Deps {
    app: Arc<App>,
    clock: Arc<dyn Clock>,
}

/// Runs the bot until Ctrl-C or SIGTERM, then finishes in-flight updates and returns.
pub async fn run(
    app: Arc<App>,
    clock: Arc<dyn Clock>,
    token: String,
    api_url: Option<String>,
) -> Result<(), TelegramError> {
    let mut bot = Bot::new(token);
    if let Some(url) = api_url {
        let trimmed = url.trim_end_matches('/');
        let parsed = reqwest_url(trimmed).ok_or_else(|| TelegramError::BadUrl(url.clone()))?;
        bot = bot.set_api_url(parsed);
    }
    let bot = bot.throttle(Limits::default());
    let me = bot.get_me().await?;
    tracing::info!(bot = %me.username(), "connected to the Bot API");
    register_commands(&bot, &app).await;

    let deps = Deps { app, clock };
    let handler = dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback));
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![deps])
        .default_handler(|_| async {})
        .enable_ctrlc_handler()
        .build();
    let token = dispatcher.shutdown_token();
    tokio::spawn(async move {
        wait_for_sigterm().await;
        tracing::info!("SIGTERM: finishing in-flight work");
        if let Ok(done) = token.shutdown() {
            done.await;
        }
    });
    let listener = polling_default(bot).await;
    dispatcher
        .try_dispatch_with_listener(listener, LoggingErrorHandler::with_custom_text("polling"))
        .await?;
    tracing::info!("stopped");
    Ok(())
}

fn reqwest_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s).ok()
}

#[cfg(unix)]
async fn wait_for_sigterm() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_sigterm() {
    std::future::pending::<()>().await;
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

async fn on_message(bot: Tg, msg: Message, deps: Deps) -> ResponseResult<()> {
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
        Some(text) => Body::Text(text.to_string()),
        None => Body::Unsupported,
    };
    let inbound = Inbound {
        user: UserKey::new(Channel::Telegram, msg.chat.id.0.to_string()),
        at: deps.clock.now(),
        language,
        chat,
        body,
    };
    process(&bot, &deps, msg.chat.id, inbound).await;
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
    };
    process(&bot, &deps, chat_id, inbound).await;
    Ok(())
}

async fn process(bot: &Tg, deps: &Deps, chat_id: ChatId, inbound: Inbound) {
    let app = deps.app.clone();
    let user = inbound.user.clone();
    let outcome = match tokio::task::spawn_blocking(move || app.handle(&inbound)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "message handling failed");
            return;
        }
    };
    for reply in &outcome.replies {
        if let Err(e) = send(bot, chat_id, reply).await {
            if is_unreachable(&e) {
                let app = deps.app.clone();
                let user = user.clone();
                let _ = tokio::task::spawn_blocking(move || app.mark_unreachable(&user)).await;
                return;
            }
            tracing::warn!(error = %e, "cannot send a reply");
        }
    }
}

/// Sends one reply, split at the length limit, with its buttons on the last part.
async fn send(bot: &Tg, chat_id: ChatId, reply: &Reply) -> Result<(), RequestError> {
    let parts = split_text(&reply.text, MAX_TEXT_UTF16);
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        let escaped = teloxide::utils::html::escape(part);
        let mut attempt = 0;
        loop {
            let mut request = bot
                .send_message(chat_id, escaped.clone())
                .parse_mode(ParseMode::Html);
            if i == last && !reply.buttons.is_empty() {
                request = request.reply_markup(keyboard(reply));
            }
            match request.await {
                Ok(_) => break,
                Err(RequestError::RetryAfter(wait)) if attempt < RETRY_AFTER_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(wait.duration().min(Duration::from_secs(60))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
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
