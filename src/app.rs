//! Wiring: load a person's state, run the engine, commit the change, return the replies.
//!
//! Shared by every channel, so Telegram, the terminal and later SMS behave identically.
//! Ordering rules live here: urgent (crisis) replies are returned even when the store
//! fails; consent and /forget reach the disk before their acknowledgement is returned;
//! a failed save never lets a reply claim something that was not kept.

use std::sync::Arc;

use crate::engine::{Change, Engine, Inbound, Outcome, Stored, UserRecord};
use crate::pseudonym;
use crate::store::{Store, StoreError};
use crate::user::UserKey;

/// Where per-person state lives. [`Store`] in production; tests may inject failures.
pub trait Records: Send + Sync {
    fn load(&self, user: &UserKey) -> Result<Stored, StoreError>;
    fn save(&self, user: &UserKey, record: &UserRecord, durable: bool) -> Result<(), StoreError>;
    fn forget(&self, user: &UserKey) -> Result<usize, StoreError>;
    fn mark_unreachable(&self, user: &UserKey) -> Result<(), StoreError>;
    fn log_salt(&self) -> [u8; 16];
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
}

pub struct App {
    engine: Engine,
    records: Arc<dyn Records>,
}

impl App {
    pub fn new(engine: Engine, records: Arc<dyn Records>) -> Self {
        Self { engine, records }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Handles one inbound message end to end and returns the replies to send, urgent
    /// ones first. Blocking (the store may flush): call from a blocking context.
    pub fn handle(&self, inbound: &Inbound) -> Outcome {
        let tag = pseudonym::tag(&self.records.log_salt(), &inbound.user);
        let stored = self.records.load(&inbound.user).unwrap_or_else(|e| {
            tracing::error!(user = %tag, error = %e, "cannot read state; treating it as unreadable");
            Stored::Unreadable
        });
        let mut outcome = self.engine.handle(&stored, inbound);
        let committed = match &outcome.change {
            Change::Keep => Ok(()),
            Change::Save { record, durable } => self.records.save(&inbound.user, record, *durable),
            Change::Forget => self.records.forget(&inbound.user).map(|n| {
                tracing::info!(user = %tag, removed = n, "forgot a person");
            }),
        };
        if let Err(e) = committed {
            tracing::error!(user = %tag, error = %e, "cannot save state; telling the person");
            let trouble = self.engine.trouble_reply(outcome.locale);
            outcome.replies.retain(|r| r.urgent);
            outcome.replies.push(trouble);
        }
        outcome.replies.sort_by_key(|r| !r.urgent);
        tracing::info!(user = %tag, route = outcome.route.name(), replies = outcome.replies.len(), "handled");
        outcome
    }

    /// The channel reported the person unreachable (blocked the bot, deactivated).
    pub fn mark_unreachable(&self, user: &UserKey) {
        let tag = pseudonym::tag(&self.records.log_salt(), user);
        match self.records.mark_unreachable(user) {
            Ok(()) => tracing::warn!(user = %tag, "person unreachable; marked inactive"),
            Err(e) => tracing::error!(user = %tag, error = %e, "cannot mark person unreachable"),
        }
    }
}
