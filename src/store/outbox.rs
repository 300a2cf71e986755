//! The outbox: messages waiting to be sent, crisis replies first, then replies, then
//! scheduled messages; oldest first within each. Entries survive a restart.
//!
//! Key: `[lane] <priority> <sequence>`. SMS has a lane of its own (a leading byte that
//! sorts after every priority), so its slow queue (a text a second) never sits in front
//! of Telegram's; Telegram and the terminal use the unprefixed keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{OUTBOX, Store, StoreError, keyring};
use crate::engine::Reply;
use crate::user::{Channel, UserKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Urgent = 0,
    Reply = 1,
    Scheduled = 2,
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub user: UserKey,
    pub reply: Reply,
    pub priority: Priority,
    /// Failed attempts so far (network errors, 5xx).
    #[serde(default)]
    pub attempts: u32,
    /// Not before this instant (backoff after a failure).
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
    /// A PNG sent as a photo, with the reply's text as its caption (staff invites' QR
    /// codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<u8>>,
    /// The staff alerts this message carries (staff-group posts), so that forgetting a
    /// person also withdraws a post about them that has not gone out yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<u64>,
}

impl Outgoing {
    pub fn new(user: UserKey, reply: Reply, priority: Priority) -> Self {
        Self {
            user,
            reply,
            priority,
            attempts: 0,
            not_before: None,
            photo: None,
            alerts: Vec::new(),
        }
    }
}

/// An entry's place in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxKey(pub(super) Vec<u8>);

/// The leading byte of SMS entries; above every [`Priority`].
const SMS_LANE: u8 = 0x10;

fn lane(channel: Channel) -> Option<u8> {
    match channel {
        Channel::Sms => Some(SMS_LANE),
        Channel::Telegram | Channel::Terminal => None,
    }
}

pub(super) fn key(item: &Outgoing, id: u64) -> OutboxKey {
    let mut k = Vec::with_capacity(10);
    k.extend(lane(item.user.channel));
    k.push(item.priority as u8);
    k.extend_from_slice(&id.to_be_bytes());
    OutboxKey(k)
}

impl OutboxKey {
    pub(super) fn sequence(&self) -> u64 {
        let mut bytes = [0u8; 8];
        let tail = self.0.len().saturating_sub(8);
        bytes.copy_from_slice(&self.0[tail..]);
        u64::from_be_bytes(bytes)
    }
}

impl AsRef<[u8]> for OutboxKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Store {
    /// Queues messages (no flush: a reply lost in a crash is a reply to a message the
    /// person can send again; scheduled messages are queued through `save_with`).
    pub fn enqueue(&self, items: &[Outgoing]) -> Result<(), StoreError> {
        for item in items {
            let k = key(item, self.db.generate_id()?);
            self.outbox
                .insert(k, self.seal_for(&item.user, OUTBOX, item)?)?;
        }
        Ok(())
    }

    /// Up to `limit` queued messages in sending order, every channel's.
    pub fn outbox_items(&self, limit: usize) -> Result<Vec<(OutboxKey, Outgoing)>, StoreError> {
        self.read_outbox(self.outbox.iter(), limit)
    }

    /// `channel`'s queued messages in sending order, each opened only when it is reached:
    /// the sender usually needs just the first.
    pub fn outbox_lane(
        &self,
        channel: Channel,
    ) -> impl Iterator<Item = Result<(OutboxKey, Outgoing), StoreError>> + '_ {
        let entries = match lane(channel) {
            Some(lane) => self.outbox.scan_prefix([lane]),
            None => self.outbox.range(..[SMS_LANE]),
        };
        self.open_outbox(entries)
    }

    fn read_outbox(
        &self,
        entries: sled::Iter,
        limit: usize,
    ) -> Result<Vec<(OutboxKey, Outgoing)>, StoreError> {
        self.open_outbox(entries).take(limit).collect()
    }

    /// Opens entries as they are read, dropping (with an error in the log) any that can
    /// never be sent: a key that is not ours, a damaged value, a forgotten person's.
    fn open_outbox(
        &self,
        entries: sled::Iter,
    ) -> impl Iterator<Item = Result<(OutboxKey, Outgoing), StoreError>> + '_ {
        entries.filter_map(move |entry| {
            let opened = entry.map_err(StoreError::from).and_then(|(k, v)| {
                let item = match (9..=10).contains(&k.len()) {
                    true => self.open_sealed::<Outgoing>(OUTBOX, &v)?,
                    false => None,
                };
                if item.is_none() {
                    tracing::error!("dropping an unreadable outbox entry");
                    self.retire([v.as_ref()])?;
                    self.outbox.remove(&k)?;
                }
                Ok(item.map(|item| (OutboxKey(k.to_vec()), item)))
            });
            opened.transpose()
        })
    }

    /// The message was sent (or given up on). A message sealed under a key of its own (to
    /// someone without a record, or to the staff group) has the key destroyed first.
    pub fn outbox_remove(&self, key: &OutboxKey) -> Result<(), StoreError> {
        if let Some(old) = self.outbox.get(key)? {
            self.retire([old.as_ref()])?;
        }
        self.outbox.remove(key)?;
        Ok(())
    }

    /// Records a failed attempt (attempts, backoff) in place.
    pub fn outbox_update(&self, key: &OutboxKey, item: &Outgoing) -> Result<(), StoreError> {
        if let Some(old) = self.outbox.get(key)? {
            self.outbox.insert(
                key,
                self.reseal_for(&item.user, OUTBOX, item, Some(old.as_ref()))?,
            )?;
        }
        Ok(())
    }

    /// Drops everything queued for `user` (they blocked the bot). Returns how many.
    pub fn outbox_drop_user(&self, user: &UserKey) -> Result<usize, StoreError> {
        let pid = self.pid(user);
        let mut n = 0;
        for entry in self.outbox.iter() {
            let (k, v) = entry?;
            if keyring::owner(&v) == Some(pid) {
                self.retire([v.as_ref()])?;
                self.outbox.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }
}
