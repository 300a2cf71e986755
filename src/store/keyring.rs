//! Per-person data keys and sealed values.
//!
//! - `keys`: `<person id>` -> that person's data key, wrapped by the master key. One
//!   entry per person, so losing or damaging one costs only that person's data, and
//!   `/forget` shreds a person by removing this one entry first.
//! - `meta` `index_key`: the random key behind person ids, wrapped by the master key.
//!
//! A sealed value is `2 <person id> <nonce> <ciphertext>`: the id in clear says which key
//! opens it (so the outbox and alerts can be filtered by person without opening
//! anything), and the associated data binds it to its tree and person. Data keys are
//! made only with a person's record; a value for someone who has none (a message before
//! consent, a staff-group post) is `3 <person id> <wrapped key> <nonce> <ciphertext>`,
//! sealed under a key of its own, so writing to someone never leaves a key behind once
//! the message is gone.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use zeroize::Zeroizing;

use super::crypto::{PersonId, Secret, person_id};
use super::{META, Store, StoreError};
use crate::user::UserKey;

pub(super) const KEYS: &str = "keys";
pub(super) const INDEX_KEY: &[u8] = b"index_key";
const INDEX_AAD: &[u8] = b"waypoint index key";
/// The version byte of a value sealed under its person's data key (plain JSON values
/// carry 1).
const SEALED: u8 = 2;
/// The version byte of a value sealed under a key of its own, wrapped in front of it.
const SELF_KEYED: u8 = 3;
/// A wrapped key: nonce, 32 bytes, tag.
const WRAPPED_LEN: usize = 24 + 32 + 16;

fn data_key_aad(pid: &[u8]) -> Vec<u8> {
    [b"waypoint data key ".as_slice(), pid].concat()
}

fn value_aad(place: &str, pid: &PersonId) -> Vec<u8> {
    [place.as_bytes(), b"\0", pid].concat()
}

/// The person a sealed value belongs to, read without opening it.
pub(super) fn owner(bytes: &[u8]) -> Option<PersonId> {
    match bytes.split_first() {
        Some((&(SEALED | SELF_KEYED), rest)) => rest.first_chunk::<16>().copied(),
        _ => None,
    }
}

/// Seals `value` as `place`'s value for `pid` under `key`.
pub(super) fn seal_with<T: Serialize>(
    key: &Secret,
    pid: &PersonId,
    place: &str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    let plain = Zeroizing::new(serde_json::to_vec(value)?);
    let sealed = key.seal(&value_aad(place, pid), &plain)?;
    let mut out = Vec::with_capacity(1 + pid.len() + sealed.len());
    out.push(SEALED);
    out.extend_from_slice(pid);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a value sealed by [`seal_with`]; `None` if it is not `pid`'s, not from `place`,
/// damaged, or not a `T`.
pub(super) fn open_with<T: DeserializeOwned>(
    key: &Secret,
    pid: &PersonId,
    place: &str,
    bytes: &[u8],
) -> Option<T> {
    if bytes.first() != Some(&SEALED) || owner(bytes)? != *pid {
        return None;
    }
    let plain = key.open(&value_aad(place, pid), &bytes[1 + pid.len()..])?;
    serde_json::from_slice(&plain).ok()
}

/// The index key: unwrapped from `meta`, or made and stored (durably) for a new store.
/// `None` if the master key does not open the stored one.
pub(super) fn index_key(meta: &sled::Tree, master: &Secret) -> Result<Option<Secret>, StoreError> {
    if let Some(wrapped) = meta.get(INDEX_KEY)? {
        return Ok(master
            .open(INDEX_AAD, &wrapped)
            .and_then(|plain| Secret::from_bytes(&plain)));
    }
    let index = Secret::random()?;
    meta.insert(INDEX_KEY, master.seal(INDEX_AAD, index.bytes())?)?;
    meta.flush()?;
    Ok(Some(index))
}

/// What `rotate-key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Data keys now wrapped by the new master key.
    pub rewrapped: usize,
    /// Data keys the old master key could not open (damaged): left as they were.
    pub unreadable: usize,
}

impl Store {
    /// The pseudonymous id that stands for `user` in every store key.
    pub(super) fn pid(&self, user: &UserKey) -> PersonId {
        person_id(&self.index, user)
    }

    /// `pid`'s data key; with `create`, one is made if there is none. Two callers racing
    /// to make it agree on one (compare-and-swap), so nothing is sealed under a key that
    /// is then replaced.
    pub(super) fn data_key(
        &self,
        pid: &PersonId,
        create: bool,
    ) -> Result<Option<Secret>, StoreError> {
        let aad = data_key_aad(pid);
        if let Some(wrapped) = self.keys.get(pid)? {
            return Ok(self.unwrap_key(&aad, &wrapped));
        }
        if !create {
            return Ok(None);
        }
        let key = Secret::random()?;
        let wrapped = self.master.seal(&aad, key.bytes())?;
        match self
            .keys
            .compare_and_swap(pid, None::<&[u8]>, Some(wrapped))?
        {
            Ok(()) => Ok(Some(key)),
            Err(race) => Ok(race
                .current
                .and_then(|wrapped| self.unwrap_key(&aad, &wrapped))),
        }
    }

    fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Option<Secret> {
        let plain = self.master.open(aad, wrapped)?;
        Secret::from_bytes(&plain)
    }

    /// Seals `value` for `user`: under their data key if they have one (made with their
    /// record), else under a key of its own (a message before consent, a staff post).
    pub(super) fn seal_for<T: Serialize>(
        &self,
        user: &UserKey,
        place: &str,
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let pid = self.pid(user);
        if let Some(key) = self.data_key(&pid, false)? {
            return seal_with(&key, &pid, place, value);
        }
        let key = Secret::random()?;
        let aad = value_aad(place, &pid);
        let wrapped = self.master.seal(&aad, key.bytes())?;
        let plain = Zeroizing::new(serde_json::to_vec(value)?);
        let sealed = key.seal(&aad, &plain)?;
        Ok([&[SELF_KEYED][..], &pid, &wrapped, &sealed].concat())
    }

    /// Opens a sealed value of `place`; `None` if its person's key is gone (forgotten) or
    /// it does not open.
    pub(super) fn open_sealed<T: DeserializeOwned>(
        &self,
        place: &str,
        bytes: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let Some(pid) = owner(bytes) else {
            return Ok(None);
        };
        if bytes[0] == SELF_KEYED {
            let aad = value_aad(place, &pid);
            let rest = &bytes[1 + pid.len()..];
            let Some((wrapped, sealed)) = rest.split_at_checked(WRAPPED_LEN) else {
                return Ok(None);
            };
            return Ok(self
                .unwrap_key(&aad, wrapped)
                .and_then(|key| key.open(&aad, sealed))
                .and_then(|plain| serde_json::from_slice(&plain).ok()));
        }
        Ok(self
            .data_key(&pid, false)?
            .and_then(|key| open_with(&key, &pid, place, bytes)))
    }

    /// Destroys `pid`'s data key and flushes, so that whatever of theirs is left in the
    /// store's files, until sled compacts them, cannot be opened.
    pub(super) fn shred(&self, pid: &PersonId) -> Result<(), StoreError> {
        self.keys.remove(pid)?;
        self.db.flush()?;
        Ok(())
    }

    /// Re-wraps the index key and every data key under `new`, in one transaction, and
    /// flushes. The store must be opened again with `new` afterwards, hence `self`.
    pub fn rotate_master_key(self, new: &Secret) -> Result<Rotation, StoreError> {
        let mut rewrapped = Vec::new();
        let mut unreadable = 0;
        for entry in self.keys.iter() {
            let (pid, wrapped) = entry?;
            let aad = data_key_aad(&pid);
            match self.unwrap_key(&aad, &wrapped) {
                Some(key) => rewrapped.push((pid, new.seal(&aad, key.bytes())?)),
                None => unreadable += 1,
            }
        }
        let index = new.seal(INDEX_AAD, self.index.bytes())?;
        let meta = self.db.open_tree(META)?;
        let result = (&meta, &self.keys).transaction(|(meta, keys)| {
            for (pid, wrapped) in &rewrapped {
                keys.insert(pid, wrapped.as_slice())?;
            }
            meta.insert(INDEX_KEY, index.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        });
        super::committed(result)?;
        self.db.flush()?;
        Ok(Rotation {
            rewrapped: rewrapped.len(),
            unreadable,
        })
    }
}
