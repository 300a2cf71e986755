//! Wiring: load a person's state, run the engine, commit the change, return the replies.
//!
//! Shared by every channel, so Telegram, the terminal and later SMS behave identically.
//! Ordering rules live here: urgent (crisis) replies are returned even when the store
//! fails; consent and /forget reach the disk before their acknowledgement is returned;
//! a failed save never lets a reply claim something that was not kept. One person's
//! messages are taken at a pace (see [`crate::pace`]), after the crisis check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::command::Command;
use crate::engine::buttons::Action;
use crate::engine::{
    Body, Change, ChatKind, Engine, Inbound, Keyword, Outcome, Stored, UserRecord,
};
use crate::enroll::{self, InviteStatus};
use crate::locale::Locale;
use crate::pace::Verdict;
use crate::pseudonym;
use crate::staff::Desk;
use crate::store::{Store, StoreError};
use crate::user::UserKey;

/// Where per-person state lives. [`Store`] in production; tests may inject failures.
pub trait Records: Send + Sync {
    fn load(&self, user: &UserKey) -> Result<Stored, StoreError>;
    fn save(&self, user: &UserKey, record: &UserRecord, durable: bool) -> Result<(), StoreError>;
    fn forget(&self, user: &UserKey) -> Result<usize, StoreError>;
    fn mark_unreachable(&self, user: &UserKey) -> Result<(), StoreError>;
    fn log_salt(&self) -> [u8; 16];
    /// Serialises load -> engine -> save for one person against the scheduler, the
    /// sender and staff work. Stores without concurrency need not lock.
    fn lock_user(&self, user: &UserKey) -> Option<MutexGuard<'_, ()>> {
        let _ = user;
        None
    }
    /// The verdict on an invite code at `now`; `redeem` also counts one use.
    fn invite(
        &self,
        code: &str,
        now: DateTime<Utc>,
        redeem: bool,
    ) -> Result<InviteStatus, StoreError>;
}

impl Records for Store {
    fn load(&self, user: &UserKey) -> Result<Stored, StoreError> {
        Store::load(self, user)
    }
    fn save(&self, user: &UserKey, record: &UserRecord, durable: bool) -> Result<(), StoreError> {
        Store::save(self, user, record, durable)
    }
    fn forget(&self, user: &UserKey) -> Result<usize, StoreError> {
        Store::forget(self, user)
    }
    fn mark_unreachable(&self, user: &UserKey) -> Result<(), StoreError> {
        Store::mark_unreachable(self, user)
    }
    fn log_salt(&self) -> [u8; 16] {
        Store::log_salt(self)
    }
    fn lock_user(&self, user: &UserKey) -> Option<MutexGuard<'_, ()>> {
        Some(Store::lock_user(self, user))
    }
    fn invite(
        &self,
        code: &str,
        now: DateTime<Utc>,
        redeem: bool,
    ) -> Result<InviteStatus, StoreError> {
        if redeem {
            self.redeem_invite(code, now)
        } else {
            self.peek_invite(code, now)
        }
    }
}

pub struct App {
    engine: Engine,
    records: Arc<dyn Records>,
    /// Staff commands and alerts; present when the app runs on a real store.
    desk: Option<Desk>,
    /// Who was asked for consent, when, and the "I agree" button data offered: consent
    /// counts only as the answer to a question still open, with a button it showed.
    /// Nothing is stored before consent, so this lives in memory; after a restart the
    /// question is simply asked again.
    asked: Mutex<HashMap<UserKey, Asked>>,
    /// How fast each person's messages are taken.
    pace: Mutex<crate::pace::Pace>,
}

/// When a person was asked for consent, and the "I agree" button data offered.
type Asked = (DateTime<Utc>, Vec<String>);

/// How long a consent question stays open (Telegram keeps an unread update as long).
const CONSENT_OPEN: chrono::Duration = chrono::Duration::hours(24);

impl App {
    pub fn new(engine: Engine, records: Arc<dyn Records>) -> Self {
        Self {
            engine,
            records,
            desk: None,
            asked: Mutex::default(),
            pace: Mutex::default(),
        }
    }

    /// The app as it runs for real: on the store, with the staff desk and alerts.
    pub fn staffed(engine: Engine, store: Store) -> Self {
        Self {
            engine,
            records: Arc::new(store.clone()),
            desk: Some(Desk::new(store)),
            asked: Mutex::default(),
            pace: Mutex::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Handles one inbound message end to end and returns the replies to send, urgent
    /// ones first. Blocking (the store may flush): call from a blocking context.
    pub fn handle(&self, inbound: &Inbound) -> Outcome {
        let tag = pseudonym::tag(&self.records.log_salt(), &inbound.user);
        // Staff work, from staff only — after the crisis check, which comes first for
        // everyone, but for colleagues talking in the staff group and a broadcast being
        // drafted: there, crisis words are the work, not a person in danger. (Staff work
        // locks the people it changes itself.)
        if let Some(desk) = &self.desk
            && desk.concerns(&self.engine, inbound)
            && (desk.is_staff_talk(&self.engine, inbound) || !self.engine.is_risk(&inbound.body))
            && let Some(replies) = desk.handle(&self.engine, inbound)
        {
            tracing::info!(user = %tag, route = "staff", "handled");
            return Outcome {
                replies,
                change: Change::Keep,
                route: crate::engine::Route::Command,
                locale: self.engine.settings().default_locale,
                faq_id: None,
            };
        }
        if let Some(outcome) = self.paced(inbound, &tag) {
            return outcome;
        }
        let _person = self.records.lock_user(&inbound.user);
        let stored = self.records.load(&inbound.user).unwrap_or_else(|e| {
            tracing::error!(user = %tag, error = %e, "cannot read state; treating it as unreadable");
            Stored::Unreadable
        });
        // Consent nobody was asked for (button data made up, or a question from before a
        // restart) is not consent: it gets the question, as `/start` with its code would.
        let unasked;
        let inbound = match Self::consent_in(&inbound.body) {
            Some(code) if stored == Stored::Nothing && !self.was_asked(inbound) => {
                let start = code.map_or("/start".to_string(), |c| format!("/start {c}"));
                unasked = Inbound {
                    body: Body::Text(start),
                    ..inbound.clone()
                };
                &unasked
            }
            _ => inbound,
        };
        let invite = self.invite(&stored, inbound, &tag);
        let outcome = self
            .engine
            .handle_invited(&stored, inbound, invite.as_ref());
        let offered: Vec<String> = outcome
            .replies
            .iter()
            .flat_map(|r| r.buttons.iter().flatten())
            .filter(|b| Self::consent_in(&Body::Button(b.data.clone())).is_some())
            .map(|b| b.data.clone())
            .collect();
        if !offered.is_empty() {
            self.ask(&inbound.user, inbound.at, offered);
        }
        let crisis_text = match (&inbound.body, outcome.route) {
            (Body::Text(t), crate::engine::Route::Crisis) => Some(t.as_str()),
            _ => None,
        };
        self.commit(&inbound.user, &tag, &stored, outcome, crisis_text)
    }

    /// The outcome for a message over its sender's pace, or `None` to handle it. Crisis
    /// language, answers to the safety check and the data rights (/privacy, /forget) are
    /// never held back; they are checked only once the person is over their pace, so a
    /// message within it is screened once, by the engine.
    fn paced(&self, inbound: &Inbound, tag: &str) -> Option<Outcome> {
        let verdict = self
            .pace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .judge(&inbound.user, inbound.at);
        if verdict == Verdict::Take || self.never_paced(&inbound.body) {
            return None;
        }
        let hinted = inbound
            .language
            .unwrap_or(self.engine.settings().default_locale);
        // The record is read (for its language) only for the one note of a burst.
        let (locale, replies) = match verdict {
            Verdict::SlowDown => {
                tracing::info!(user = %tag, "over their pace; told to slow down");
                let locale = match self.records.load(&inbound.user) {
                    Ok(Stored::Found(record)) => record.locale,
                    _ => hinted,
                };
                (locale, vec![self.engine.slow_down_reply(locale)])
            }
            _ => (hinted, Vec::new()),
        };
        crate::telemetry::message_in(inbound.user.channel, crate::engine::Route::Paced);
        Some(Outcome {
            replies,
            change: Change::Keep,
            route: crate::engine::Route::Paced,
            locale,
            faq_id: None,
        })
    }

    /// What is answered whatever the pace: the crisis check's findings, the safety
    /// check's buttons, and a person's rights over their data.
    fn never_paced(&self, body: &Body) -> bool {
        match body {
            Body::Text(text) => {
                let command = text.split_whitespace().next().unwrap_or_default();
                let command = command.split('@').next().unwrap_or_default();
                ["/privacy", "/forget"]
                    .iter()
                    .any(|c| command.eq_ignore_ascii_case(c))
                    || self.engine.is_risk(body)
            }
            Body::Button(data) => matches!(
                Action::decode(data),
                Some(
                    Action::Safe(_)
                        | Action::NeedHelp
                        | Action::Outreach { .. }
                        | Action::ReachOut(_)
                        | Action::ShareText(_)
                        | Action::Forget { .. }
                )
            ),
            Body::Unsupported => false,
        }
    }

    /// A carrier keyword (SMS STOP, START, HELP) from `user`: the engine's decision,
    /// committed like any message's.
    pub fn keyword(
        &self,
        user: &UserKey,
        keyword: Keyword,
        hint: Option<Locale>,
        at: DateTime<Utc>,
    ) -> Outcome {
        let tag = pseudonym::tag(&self.records.log_salt(), user);
        let _person = self.records.lock_user(user);
        let stored = self.records.load(user).unwrap_or_else(|e| {
            tracing::error!(user = %tag, error = %e, "cannot read state; treating it as unreadable");
            Stored::Unreadable
        });
        let outcome = self.engine.keyword(&stored, keyword, hint, at);
        self.commit(user, &tag, &stored, outcome, None)
    }

    /// Writes the outcome's change, files staff alerts for new escalations, and orders
    /// the replies (urgent first; "couldn't save" instead of claims that were not kept).
    fn commit(
        &self,
        user: &UserKey,
        tag: &str,
        stored: &Stored,
        mut outcome: Outcome,
        crisis_text: Option<&str>,
    ) -> Outcome {
        let committed = match &outcome.change {
            Change::Keep => Ok(()),
            Change::Save { record, durable } => self.records.save(user, record, *durable),
            Change::Forget => self.records.forget(user).map(|n| {
                tracing::info!(user = %tag, removed = n, "forgot a person");
            }),
        };
        if committed.is_ok()
            && let (Some(desk), Change::Save { record, .. }) = (&self.desk, &outcome.change)
        {
            let old = match stored {
                Stored::Found(r) => Some(r),
                _ => None,
            };
            desk.file_alerts(user, old, record, crisis_text);
        }
        if let Err(e) = committed {
            tracing::error!(user = %tag, error = %e, "cannot save state; telling the person");
            let trouble = self.engine.trouble_reply(outcome.locale);
            outcome.replies.retain(|r| r.urgent);
            outcome.replies.push(trouble);
        }
        outcome.replies.sort_by_key(|r| !r.urgent);
        crate::telemetry::message_in(user.channel, outcome.route);
        tracing::info!(user = %tag, route = outcome.route.name(), replies = outcome.replies.len(), "handled");
        outcome
    }

    /// The invite code (if any) of an "I agree" button.
    fn consent_in(body: &Body) -> Option<Option<String>> {
        match body {
            Body::Button(data) => match Action::decode(data)? {
                Action::Consent {
                    agree: true,
                    invite,
                    ..
                } => Some(invite),
                _ => None,
            },
            _ => None,
        }
    }

    /// Notes that `user` was just asked for consent (and forgets questions long closed).
    fn ask(&self, user: &UserKey, at: DateTime<Utc>, offered: Vec<String>) {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.retain(|_, (when, _)| at - *when < CONSENT_OPEN);
        asked.insert(user.clone(), (at, offered));
    }

    /// Whether the sender's consent answers a question still open, with a button it
    /// offered; answering closes the question either way.
    fn was_asked(&self, inbound: &Inbound) -> bool {
        let Body::Button(data) = &inbound.body else {
            return false;
        };
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.remove(&inbound.user).is_some_and(|(when, offered)| {
            inbound.at - when < CONSENT_OPEN && offered.contains(data)
        })
    }

    /// Looks up an invite code the message presents. `/start <code>` before consent
    /// only peeks (nothing is stored before consent); consent given with a code, or
    /// `/start <code>` from someone already set up, uses it.
    fn invite(&self, stored: &Stored, inbound: &Inbound, tag: &str) -> Option<InviteStatus> {
        if inbound.chat != ChatKind::Private {
            return None;
        }
        let (code, redeem) = match &inbound.body {
            Body::Text(text) => {
                let command = Command::parse(text)?;
                let code = command.words().next()?;
                if command.name != "start" || !enroll::looks_like_code(code) {
                    return None;
                }
                (code.to_string(), matches!(stored, Stored::Found(_)))
            }
            Body::Button(data) => match Action::decode(data)? {
                Action::Consent {
                    agree: true,
                    invite: Some(code),
                    ..
                } if *stored == Stored::Nothing => (code, true),
                _ => return None,
            },
            Body::Unsupported => return None,
        };
        // Someone already in the invite's program who opens the link again does not use it
        // up.
        let peeked = self.records.invite(&code, inbound.at, false);
        let again = matches!((&peeked, stored), (Ok(InviteStatus::Valid { program, .. }), Stored::Found(r))
            if r.program.as_deref() == Some(program.as_str()));
        if !redeem || again {
            return Some(peeked.unwrap_or(InviteStatus::Unknown));
        }
        match self.records.invite(&code, inbound.at, true) {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::error!(user = %tag, error = %e, "cannot look up an invite");
                Some(InviteStatus::Unknown)
            }
        }
    }

    /// The channel reported the person unreachable (blocked the bot, deactivated).
    pub fn mark_unreachable(&self, user: &UserKey) {
        let tag = pseudonym::tag(&self.records.log_salt(), user);
        let _person = self.records.lock_user(user);
        match self.records.mark_unreachable(user) {
            Ok(()) => tracing::warn!(user = %tag, "person unreachable; marked inactive"),
            Err(e) => tracing::error!(user = %tag, error = %e, "cannot mark person unreachable"),
        }
    }
}
