//! Per-person data keys and sealed values.
//!
//! - A person's data key, wrapped by the master key, is in the key files (`keyfile.rs`),
//!   never in sled: `/forget` destroys it by rewriting one small file, at once. One key
//!   per person, so losing or damaging one costs only that person's data.
//! - `meta` `index_key`: the random key behind person ids, wrapped by the master key.
//!
//! A sealed value is `2 <person id> <nonce> <ciphertext>`: the id in clear says which key
//! opens it (so the outbox and alerts can be filtered by person without opening
//! anything), and the associated data binds it to its tree and person. Data keys are
//! made only with a person's record; a value for someone who has none (a message before
//! consent, a staff-group post) or one that must outlive nothing (the words of a crisis
//! message) is `4 <person id> <key id> <nonce> <ciphertext>`, sealed under a key of its
//! own that is kept in the key files too and destroyed when the value goes. Stores from
//! before the key files kept such keys inline (`3 <person id> <wrapped key> …`); those
//! still open, and are converted at the first open (`migrate.rs`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::crypto::{PersonId, Secret, person_id};
use super::keyfile::{Id, Ring, WRAPPED_LEN, Wrapped};
use super::{META, Store, StoreError};
use crate::user::UserKey;

/// The sled tree where stores from before the key files kept data keys.
pub(super) const KEYS: &str = "keys";
pub(super) const INDEX_KEY: &[u8] = b"index_key";
const INDEX_AAD: &[u8] = b"waypoint index key";
/// The version byte of a value sealed under its person's data key (plain JSON values
/// carry 1).
const SEALED: u8 = 2;
/// The version byte of a value sealed under a key of its own, wrapped in front of it
/// (stores from before the key files).
pub(super) const INLINE_KEYED: u8 = 3;
/// The version byte of a value sealed under a key of its own, kept in the key files.
const VALUE_KEYED: u8 = 4;

fn data_key_aad(pid: &[u8]) -> Vec<u8> {
    [b"waypoint data key ".as_slice(), pid].concat()
}

fn value_key_aad(id: &Id) -> Vec<u8> {
    [b"waypoint value key ".as_slice(), id].concat()
}

fn value_aad(place: &str, pid: &PersonId) -> Vec<u8> {
    [place.as_bytes(), b"\0", pid].concat()
}

/// The person a sealed value belongs to, read without opening it.
pub(super) fn owner(bytes: &[u8]) -> Option<PersonId> {
    match bytes.split_first() {
        Some((&(SEALED | INLINE_KEYED | VALUE_KEYED), rest)) => rest.first_chunk::<16>().copied(),
        _ => None,
    }
}

/// The id of the key a value is sealed under, if it has one of its own in the key files.
pub(super) fn value_key(bytes: &[u8]) -> Option<Id> {
    match bytes.split_first() {
        Some((&VALUE_KEYED, rest)) => rest.get(16..32)?.try_into().ok(),
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
    /// Keys of single values (queued messages, crisis words) now wrapped by it.
    pub values: usize,
    /// Keys neither master key opens (damaged): left as they were.
    pub unreadable: usize,
}

impl Store {
    /// The pseudonymous id that stands for `user` in every store key.
    pub(super) fn pid(&self, user: &UserKey) -> PersonId {
        person_id(&self.index, user)
    }

    /// `pid`'s data key; with `create`, one is made if there is none, and is on disk
    /// before it is returned. Two callers racing to make it agree on one, so nothing is
    /// sealed under a key that is then replaced.
    pub(super) fn data_key(
        &self,
        pid: &PersonId,
        create: bool,
    ) -> Result<Option<Secret>, StoreError> {
        let aad = data_key_aad(pid);
        if let Some(wrapped) = self
            .keyfiles
            .get(Ring::Data, pid)
            .map_err(StoreError::KeyFiles)?
        {
            return Ok(self.unwrap_key(&aad, &wrapped));
        }
        if !create {
            return Ok(None);
        }
        let key = Secret::random()?;
        let wrapped = self.wrap(&aad, &key)?;
        let kept = self
            .keyfiles
            .insert(Ring::Data, pid, &wrapped)
            .map_err(StoreError::KeyFiles)?;
        Ok(if kept == wrapped {
            Some(key)
        } else {
            self.unwrap_key(&aad, &kept)
        })
    }

    /// Makes a data key for each of `pids` that has none, on disk, in one rewrite per
    /// key file (moving a large store).
    pub(super) fn make_data_keys(&self, pids: &[PersonId]) -> Result<(), StoreError> {
        let mut entries = Vec::with_capacity(pids.len());
        for pid in pids {
            let key = Secret::random()?;
            entries.push((*pid, self.wrap(&data_key_aad(pid), &key)?));
        }
        self.keyfiles
            .insert_all(Ring::Data, &entries)
            .map_err(StoreError::KeyFiles)
    }

    fn wrap(&self, aad: &[u8], key: &Secret) -> Result<Wrapped, StoreError> {
        let sealed = self.master.seal(aad, key.bytes())?;
        Ok(sealed
            .as_slice()
            .try_into()
            .expect("a sealed key is nonce, key and tag"))
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
        self.seal_alone(user, place, value, None)
    }

    /// Seals `value` for `user` under a key of its own, kept in the key files until
    /// [`Store::retire`] destroys it. With `replacing` (the bytes of the value this one
    /// replaces), that value's own key is used again, so an update leaves no key behind.
    pub(super) fn seal_alone<T: Serialize>(
        &self,
        user: &UserKey,
        place: &str,
        value: &T,
        replacing: Option<&[u8]>,
    ) -> Result<Vec<u8>, StoreError> {
        let pid = self.pid(user);
        let reused = match replacing.and_then(value_key) {
            Some(id) => self.value_key_of(&id)?.map(|key| (id, key)),
            None => None,
        };
        let (id, key) = match reused {
            Some(found) => found,
            None => {
                let mut id = [0u8; 16];
                getrandom::fill(&mut id)
                    .map_err(|e| crate::store::crypto::KeyError::Random(e.to_string()))?;
                let key = Secret::random()?;
                let wrapped = self.wrap(&value_key_aad(&id), &key)?;
                self.keyfiles
                    .insert(Ring::Value, &id, &wrapped)
                    .map_err(StoreError::KeyFiles)?;
                (id, key)
            }
        };
        let plain = Zeroizing::new(serde_json::to_vec(value)?);
        let sealed = key.seal(&value_aad(place, &pid), &plain)?;
        Ok([&[VALUE_KEYED][..], &pid, &id, &sealed].concat())
    }

    fn value_key_of(&self, id: &Id) -> Result<Option<Secret>, StoreError> {
        Ok(self
            .keyfiles
            .get(Ring::Value, id)
            .map_err(StoreError::KeyFiles)?
            .and_then(|wrapped| self.unwrap_key(&value_key_aad(id), &wrapped)))
    }

    /// Destroys the own keys of these values (those that have one): they can no longer
    /// be opened, wherever a copy of them lies.
    pub(super) fn retire<'a>(
        &self,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), StoreError> {
        let ids: Vec<Id> = values.into_iter().filter_map(value_key).collect();
        self.keyfiles
            .remove(Ring::Value, &ids)
            .map_err(StoreError::KeyFiles)?;
        Ok(())
    }

    /// Opens a sealed value of `place`; `None` if its key is gone (forgotten, retired) or
    /// it does not open.
    pub(super) fn open_sealed<T: DeserializeOwned>(
        &self,
        place: &str,
        bytes: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let Some(pid) = owner(bytes) else {
            return Ok(None);
        };
        let aad = value_aad(place, &pid);
        let rest = &bytes[1 + pid.len()..];
        let opened = match bytes[0] {
            INLINE_KEYED => rest
                .split_at_checked(WRAPPED_LEN)
                .and_then(|(wrapped, sealed)| {
                    self.unwrap_key(&aad, wrapped)
                        .and_then(|key| key.open(&aad, sealed))
                }),
            VALUE_KEYED => match value_key(bytes) {
                Some(id) => self
                    .value_key_of(&id)?
                    .and_then(|key| key.open(&aad, &rest[16..])),
                None => None,
            },
            _ => {
                return Ok(self
                    .data_key(&pid, false)?
                    .and_then(|key| open_with(&key, &pid, place, bytes)));
            }
        };
        Ok(opened.and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    /// Destroys `pid`'s data key and the own keys of `values` (theirs), on disk, so that
    /// whatever of theirs is left in sled's files cannot be opened.
    pub(super) fn shred<'a>(
        &self,
        pid: &PersonId,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), StoreError> {
        self.keyfiles
            .remove(Ring::Data, &[*pid])
            .map_err(StoreError::KeyFiles)?;
        self.retire(values)
    }

    /// Whether `pid` has a data key.
    pub(super) fn has_data_key(&self, pid: &PersonId) -> Result<bool, StoreError> {
        Ok(self
            .keyfiles
            .get(Ring::Data, pid)
            .map_err(StoreError::KeyFiles)?
            .is_some())
    }

    /// Re-wraps the index key and every key in the key files under `new`, and checks the
    /// result. Keys that the old master key cannot open but `new` can were re-wrapped by
    /// an earlier run cut short: they are kept, so running it again finishes the job. The
    /// store must be opened again with `new` afterwards, hence `self`.
    pub fn rotate_master_key(self, new: &Secret) -> Result<Rotation, StoreError> {
        let mut done = [0, 0];
        let mut unreadable = 0;
        for (n, ring) in [Ring::Data, Ring::Value].into_iter().enumerate() {
            let rewrapped = &mut done[n];
            let mut entries = self.keyfiles.all(ring).map_err(StoreError::KeyFiles)?;
            for (id, wrapped) in &mut entries {
                let aad = match ring {
                    Ring::Data => data_key_aad(id),
                    Ring::Value => value_key_aad(id),
                };
                if let Some(key) = self.unwrap_key(&aad, wrapped) {
                    let sealed = new.seal(&aad, key.bytes())?;
                    *wrapped = sealed.as_slice().try_into().expect("a wrapped key");
                    *rewrapped += 1;
                } else if new.open(&aad, wrapped).is_some() {
                    *rewrapped += 1;
                } else {
                    unreadable += 1;
                }
            }
            self.keyfiles
                .set_all(ring, &entries)
                .map_err(StoreError::KeyFiles)?;
        }
        let index = new.seal(INDEX_AAD, self.index.bytes())?;
        self.db.open_tree(META)?.insert(INDEX_KEY, index)?;
        self.db.flush()?;
        Ok(Rotation {
            rewrapped: done[0],
            values: done[1],
            unreadable,
        })
    }
}

impl Store {
    /// Destroys the value keys no stored value uses (left by a crash between removing a
    /// value and destroying its key). Returns how many. Run at opening, before anyone
    /// else uses the store.
    pub(super) fn retire_orphans(&self) -> Result<usize, StoreError> {
        let mut used = std::collections::HashSet::new();
        for name in self.db.tree_names() {
            // Records are sealed under data keys; the indexes hold no values.
            if [super::USERS, super::DUE, super::MEMBERS]
                .iter()
                .any(|n| n.as_bytes() == name.as_ref())
            {
                continue;
            }
            for value in self.db.open_tree(name)?.iter().values() {
                used.extend(value_key(&value?));
            }
        }
        let orphans: Vec<Id> = self
            .keyfiles
            .all(Ring::Value)
            .map_err(StoreError::KeyFiles)?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !used.contains(id))
            .collect();
        self.keyfiles
            .remove(Ring::Value, &orphans)
            .map_err(StoreError::KeyFiles)
    }

    /// Seals `value` for `user` in place of `old`: under `old`'s own key if it had one
    /// (an update leaves no key behind), else as [`Store::seal_for`] does.
    pub(super) fn reseal_for<T: Serialize>(
        &self,
        user: &UserKey,
        place: &str,
        value: &T,
        old: Option<&[u8]>,
    ) -> Result<Vec<u8>, StoreError> {
        match old.filter(|o| value_key(o).is_some()) {
            Some(old) => self.seal_alone(user, place, value, Some(old)),
            None => self.seal_for(user, place, value),
        }
    }
}
