//! One-time moves of stores written by earlier versions:
//! - before encryption at rest (plain JSON values, keys that spell the user key) to person
//!   ids and sealed values;
//! - before the key files (data keys in sled's `keys` tree, values sealed under a key
//!   wrapped inline) to keys kept in the key files.
//!
//! Only entries still in the old form are touched, so a run cut short by a crash carries
//! on at the next start. The old bytes stay in sled's files until it compacts them,
//! which is why SECURITY.md asks to move an old store with `backup` and `restore`.

use serde::de::DeserializeOwned;

use super::alerts::{ALERTS, Alert};
use super::keyfile::{Id, Ring, Wrapped};
use super::keyring::{INLINE_KEYED, KEYS};
use super::texting::CHOICES;
use super::{OUTBOX, Outgoing, SCHEMA_VERSION, Store, StoreError, decode};
use crate::engine::UserRecord;
use crate::user::UserKey;

/// Converts every entry in the old form; returns how many.
pub(super) fn seal_legacy(store: &Store) -> Result<usize, StoreError> {
    // Everyone's data key first, in one rewrite per key file, not two fsyncs a person.
    let mut pids = Vec::new();
    for key in store.users.iter().keys() {
        pids.extend(legacy_user(&key?).map(|user| store.pid(&user)));
    }
    store.make_data_keys(&pids)?;
    let mut moved = 0;
    for entry in store.users.iter() {
        let (key, value) = entry?;
        let Some(user) = legacy_user(&key) else {
            continue;
        };
        match decode::<UserRecord>(&value) {
            Some(record) => store.save(&user, &record, false)?,
            // Unreadable before, unreadable after, but still theirs to /forget.
            None => {
                store.users.insert(store.pid(&user), value)?;
            }
        }
        store.users.remove(key)?;
        moved += 1;
    }
    // The records just saved wrote their own index entries; the old ones go.
    for tree in [&store.due, &store.members] {
        for key in tree.iter().keys() {
            let key = key?;
            if names_legacy_user(&key) {
                tree.remove(key)?;
                moved += 1;
            }
        }
    }
    moved += reseal::<Outgoing>(&store.outbox, |o| store.seal_for(&o.user, super::OUTBOX, o))?;
    let alerts = store.db.open_tree(ALERTS)?;
    for entry in alerts.iter() {
        let (key, value) = entry?;
        if value.first() != Some(&SCHEMA_VERSION) {
            continue;
        }
        match decode::<Alert>(&value) {
            Some(alert) => store.put_alert(&alert)?,
            None => {
                alerts.remove(key)?;
            }
        }
        moved += 1;
    }
    let choices = store.db.open_tree(CHOICES)?;
    for entry in choices.iter() {
        let (key, _) = entry?;
        // Choices offered before sealing are long past answering: they are dropped.
        if legacy_user(&key).is_some() {
            choices.remove(key)?;
            moved += 1;
        }
    }
    store.flush()?;
    Ok(moved)
}

/// Moves the data keys from sled's `keys` tree into the key files, re-seals values whose
/// key was wrapped inline under keys in the key files, and puts the words of crisis
/// messages under keys of their own; then drops the `keys` tree. Returns how many entries
/// moved.
pub(super) fn keys_to_files(store: &Store) -> Result<usize, StoreError> {
    let tree = store.db.open_tree(KEYS)?;
    let mut entries: Vec<(Id, Wrapped)> = Vec::new();
    for entry in tree.iter() {
        let (pid, wrapped) = entry?;
        if let (Ok(pid), Ok(wrapped)) = (pid.as_ref().try_into(), wrapped.as_ref().try_into()) {
            entries.push((pid, wrapped));
        }
    }
    // Keys already moved by a run cut short win: values may be sealed under them.
    store
        .keyfiles
        .insert_all(Ring::Data, &entries)
        .map_err(StoreError::KeyFiles)?;
    let mut moved = entries.len();
    let inline = |v: &[u8]| v.first() == Some(&INLINE_KEYED);
    for entry in store.outbox.iter() {
        let (key, value) = entry?;
        if inline(&value) {
            match store.open_sealed::<Outgoing>(OUTBOX, &value)? {
                Some(item) => store
                    .outbox
                    .insert(key, store.seal_for(&item.user, OUTBOX, &item)?)?,
                None => store.outbox.remove(key)?,
            };
            moved += 1;
        }
    }
    let choices = store.db.open_tree(CHOICES)?;
    for entry in choices.iter() {
        let (key, value) = entry?;
        if inline(&value) {
            // Choices are kept only for people with a record; others are not worth keeping.
            choices.remove(key)?;
            moved += 1;
        }
    }
    for entry in store.db.open_tree(ALERTS)?.iter() {
        let (_, value) = entry?;
        let Some(alert) = store.open_sealed::<Alert>(ALERTS, &value)? else {
            continue;
        };
        if inline(&value) || alert.text.is_some() {
            store.put_alert(&alert)?;
            moved += 1;
        }
    }
    store.flush()?;
    store.db.drop_tree(KEYS)?;
    store.flush()?;
    Ok(moved)
}

/// Seals, in place, every plain value of `tree` with `seal`.
fn reseal<T: DeserializeOwned>(
    tree: &sled::Tree,
    seal: impl Fn(&T) -> Result<Vec<u8>, StoreError>,
) -> Result<usize, StoreError> {
    let mut moved = 0;
    for entry in tree.iter() {
        let (key, value) = entry?;
        if value.first() != Some(&SCHEMA_VERSION) {
            continue;
        }
        match decode::<T>(&value) {
            Some(item) => tree.insert(key, seal(&item)?)?,
            None => tree.remove(key)?,
        };
        moved += 1;
    }
    Ok(moved)
}

/// The user an old-form key (`<user key>\0`) spells.
fn legacy_user(key: &[u8]) -> Option<UserKey> {
    UserKey::parse(std::str::from_utf8(key.strip_suffix(&[0])?).ok()?)
}

/// Whether an index key is in the old form: `<millis><user key>\0<tag>` in `due`,
/// `<program>\0<user key>` in `members`.
fn names_legacy_user(key: &[u8]) -> bool {
    let due = key.len() > 10
        && key[key.len() - 2] == 0
        && std::str::from_utf8(&key[8..key.len() - 2])
            .ok()
            .and_then(UserKey::parse)
            .is_some();
    let member = key
        .iter()
        .position(|&b| b == 0)
        .and_then(|i| std::str::from_utf8(&key[i + 1..]).ok())
        .and_then(UserKey::parse)
        .is_some();
    due || member
}
