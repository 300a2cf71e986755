//! The one-time move of a store written before encryption at rest (plain JSON values,
//! keys that spell the user key) to person ids and sealed values.
//!
//! Only entries still in the old form are touched, each on its own, so a run cut short by
//! a crash carries on at the next start. The old plain bytes stay in sled's files until
//! it compacts them, which is why SECURITY.md asks to move an old store with
//! `backup` and `restore` instead.

use serde::de::DeserializeOwned;

use super::alerts::{ALERTS, Alert};
use super::texting::CHOICES;
use super::{Outgoing, SCHEMA_VERSION, Store, StoreError, decode};
use crate::engine::UserRecord;
use crate::user::UserKey;

/// Converts every entry in the old form; returns how many.
pub(super) fn seal_legacy(store: &Store) -> Result<usize, StoreError> {
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
    moved += reseal::<Alert>(&alerts, |a| store.seal_for(&a.user, ALERTS, a))?;
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
