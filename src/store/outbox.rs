//! The outbox: messages waiting to be sent, crisis replies first, then replies, then
//! scheduled messages. Entries survive a restart.
//!
//! Key: `[lane] <priority> <person id> <sequence>`: one queue per priority and person,
//! oldest first. The sender reads the head of each person's queue (a seek, whatever the
//! queue's length), so one person's backlog is one entry to step over, never a window
//! that fills. SMS has a lane of its own (a leading byte that sorts after every
//! priority), so its slow queue (a text a second) never sits in front of Telegram's;
//! Telegram and the terminal use the unprefixed keys. The person id is the same keyed
//! hash every other tree is keyed by, never a chat id or number.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::crypto::PersonId;
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

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 3] = [Priority::Urgent, Priority::Reply, Priority::Scheduled];
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

/// Whose queue an entry is in: an opaque person id, so the sender can tell queues apart
/// (and keep its per-chat limits) without opening a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Recipient(PersonId);

/// The leading byte of SMS entries; above every [`Priority`].
const SMS_LANE: u8 = 0x10;

/// Sequence numbers are big-endian u64s at the end of a key.
const SEQUENCE: usize = 8;

/// Keys from before the outbox was split by person: `[lane] <priority> <sequence>`.
const OLD_KEY_LENGTHS: std::ops::RangeInclusive<usize> = 9..=10;

fn lane(channel: Channel) -> Option<u8> {
    match channel {
        Channel::Sms => Some(SMS_LANE),
        Channel::Telegram | Channel::Terminal => None,
    }
}

/// `[lane] <priority>`: where `channel`'s queues at `priority` start.
fn queue_prefix(channel: Channel, priority: Priority) -> Vec<u8> {
    let mut k = Vec::with_capacity(2);
    k.extend(lane(channel));
    k.push(priority as u8);
    k
}

fn key(channel: Channel, priority: Priority, pid: &PersonId, id: u64) -> OutboxKey {
    let mut k = queue_prefix(channel, priority);
    k.extend_from_slice(pid);
    k.extend_from_slice(&id.to_be_bytes());
    OutboxKey(k)
}

/// Whether `k` has the current layout (lane, priority, person id, sequence).
fn is_current(k: &[u8]) -> bool {
    let prefix = match k.first() {
        Some(&SMS_LANE) => 2,
        _ => 1,
    };
    k.len() == prefix + std::mem::size_of::<PersonId>() + SEQUENCE
}

impl OutboxKey {
    pub(super) fn sequence(&self) -> u64 {
        let mut bytes = [0u8; SEQUENCE];
        let tail = self.0.len().saturating_sub(SEQUENCE);
        bytes.copy_from_slice(&self.0[tail..]);
        u64::from_be_bytes(bytes)
    }

    /// Whose queue this entry is in (no one's, all zeros, for a key too short to say:
    /// such an entry is dropped when it is opened).
    pub fn recipient(&self) -> Recipient {
        let end = self.0.len().saturating_sub(SEQUENCE);
        let mut pid = PersonId::default();
        if let Some(bytes) = end
            .checked_sub(pid.len())
            .and_then(|start| self.0.get(start..end))
        {
            pid.copy_from_slice(bytes);
        }
        Recipient(pid)
    }
}

impl AsRef<[u8]> for OutboxKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Store {
    /// Where `item`, numbered `id`, goes in the outbox.
    pub(super) fn outbox_key(&self, item: &Outgoing, id: u64) -> OutboxKey {
        key(item.user.channel, item.priority, &self.pid(&item.user), id)
    }

    /// Queues messages (no flush: a reply lost in a crash is a reply to a message the
    /// person can send again; scheduled messages are queued through `save_with`).
    pub fn enqueue(&self, items: &[Outgoing]) -> Result<(), StoreError> {
        for item in items {
            let k = self.outbox_key(item, self.db.generate_id()?);
            self.outbox
                .insert(k, self.seal_for(&item.user, OUTBOX, item)?)?;
        }
        Ok(())
    }

    /// Up to `limit` queued messages in sending order, every channel's.
    pub fn outbox_items(&self, limit: usize) -> Result<Vec<(OutboxKey, Outgoing)>, StoreError> {
        self.read_outbox(self.outbox.iter(), limit)
    }

    /// The first entry of every person's queue at `priority` in `channel`'s lane, without
    /// opening any: people in id order, starting after `after` and wrapping round to end
    /// with `after`'s own queue (so a sender that remembers whom it served last serves
    /// them round-robin). One seek per person, however long their queue.
    pub fn outbox_heads(
        &self,
        channel: Channel,
        priority: Priority,
        after: Option<Recipient>,
    ) -> impl Iterator<Item = Result<OutboxKey, StoreError>> + '_ {
        let prefix = queue_prefix(channel, priority);
        let start = prefix.clone();
        let past = move |who: &Recipient| {
            let mut k = start.clone();
            k.extend_from_slice(&who.0);
            k.extend_from_slice(&[0xff; SEQUENCE]);
            k
        };
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        // Those after `after`, then from the start up to and including `after`.
        let mut passes = match after {
            Some(who) => vec![
                (Bound::Excluded(past(&who)), Bound::Excluded(end)),
                (Bound::Included(prefix.clone()), Bound::Included(past(&who))),
            ],
            None => vec![(Bound::Included(prefix.clone()), Bound::Excluded(end))],
        }
        .into_iter();
        let mut pass = passes.next();
        std::iter::from_fn(move || {
            loop {
                let (from, to) = pass.as_mut()?;
                match self
                    .outbox
                    .range::<Vec<u8>, _>((from.clone(), to.clone()))
                    .next()
                {
                    Some(Ok((k, _))) => {
                        let k = OutboxKey(k.to_vec());
                        // Past this person's queue: the next seek lands on the next one.
                        *from = Bound::Excluded(past(&k.recipient()));
                        return Some(Ok(k));
                    }
                    Some(Err(e)) => {
                        pass = None;
                        return Some(Err(e.into()));
                    }
                    None => pass = passes.next(),
                }
            }
        })
    }

    /// What is still waiting for `user` at `priority`, oldest first.
    pub fn outbox_waiting(
        &self,
        user: &UserKey,
        priority: Priority,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let mut prefix = queue_prefix(user.channel, priority);
        prefix.extend_from_slice(&self.pid(user));
        self.open_outbox(self.outbox.scan_prefix(prefix))
            .map(|entry| entry.map(|(_, item)| item))
            .collect()
    }

    /// Opens one queued message; `None` if it is gone (sent, dropped, forgotten) or can
    /// never be sent (then it is dropped, with an error in the log).
    pub fn outbox_get(&self, key: &OutboxKey) -> Result<Option<Outgoing>, StoreError> {
        let Some(value) = self.outbox.get(key)? else {
            return Ok(None);
        };
        let entry = Ok((sled::IVec::from(key.as_ref()), value));
        match self.open_outbox_entry(entry)? {
            Some((_, item)) => Ok(Some(item)),
            None => Ok(None),
        }
    }

    /// Moves entries queued before the outbox was split by person into their person's
    /// queue (once, at opening; their owner is in clear in the sealed value). Returns how
    /// many moved.
    pub(super) fn rekey_outbox(&self) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let (mut old, mut moved) = (0, 0);
        for entry in self.outbox.iter() {
            let (k, v) = entry?;
            if !OLD_KEY_LENGTHS.contains(&k.len()) {
                continue;
            }
            old += 1;
            batch.remove(k.clone());
            // A value with no owner could never be opened: it goes.
            match keyring::owner(&v) {
                Some(pid) => {
                    let sequence = OutboxKey(k.to_vec()).sequence();
                    let mut new = k[..k.len() - SEQUENCE].to_vec();
                    new.extend_from_slice(&pid);
                    new.extend_from_slice(&sequence.to_be_bytes());
                    batch.insert(new, v);
                    moved += 1;
                }
                None => {
                    tracing::error!("dropping an unreadable outbox entry");
                    self.retire([v.as_ref()])?;
                }
            }
        }
        if old > 0 {
            self.outbox.apply_batch(batch)?;
            self.outbox.flush()?;
        }
        Ok(moved)
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
        entries.filter_map(move |entry| self.open_outbox_entry(entry).transpose())
    }

    fn open_outbox_entry(
        &self,
        entry: sled::Result<(sled::IVec, sled::IVec)>,
    ) -> Result<Option<(OutboxKey, Outgoing)>, StoreError> {
        let (k, v) = entry?;
        let item = match is_current(&k) {
            true => self.open_sealed::<Outgoing>(OUTBOX, &v)?,
            false => None,
        };
        if item.is_none() {
            tracing::error!("dropping an unreadable outbox entry");
            self.retire([v.as_ref()])?;
            self.outbox.remove(&k)?;
        }
        Ok(item.map(|item| (OutboxKey(k.to_vec()), item)))
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
