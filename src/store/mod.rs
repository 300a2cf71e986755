//! The embedded sled store: the only module that knows sled.
//!
//! Layout: one tree per kind of record. Every key that concerns a person starts with
//! `<user key>\0`, in every tree, so `/forget` finds all of them with a prefix scan over
//! every tree there is — including trees added by later features. Values are
//! `[schema version byte] ++ JSON`.

use std::path::{Path, PathBuf};

use crate::engine::{Stored, UserRecord};
use crate::user::UserKey;

/// The schema version written in front of every value.
pub const SCHEMA_VERSION: u8 = 1;
const USERS: &str = "users";
const META: &str = "meta";
const SALT_KEY: &[u8] = b"log_salt";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data directory {0} is in use by another Waypoint process; stop it first, or pass a different --data directory"
    )]
    Locked(PathBuf),
    #[error("cannot open the data directory {dir}: {source}")]
    Open { dir: PathBuf, source: sled::Error },
    #[error("store operation failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A handle on the data directory; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    salt: [u8; 16],
}

impl Store {
    /// Opens (or creates) the store in `dir`. A second process gets [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            dir: dir.to_path_buf(),
            source: sled::Error::Io(e),
        })?;
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io) if is_lock_error(&io) => StoreError::Locked(dir.to_path_buf()),
            other => StoreError::Open {
                dir: dir.to_path_buf(),
                source: other,
            },
        })?;
        let users = db.open_tree(USERS)?;
        let meta = db.open_tree(META)?;
        let salt = match meta.get(SALT_KEY)? {
            Some(bytes) if bytes.len() == 16 => {
                let mut salt = [0u8; 16];
                salt.copy_from_slice(&bytes);
                salt
            }
            _ => {
                let mut salt = [0u8; 16];
                getrandom::fill(&mut salt).map_err(|e| {
                    StoreError::Sled(sled::Error::Io(std::io::Error::other(e.to_string())))
                })?;
                meta.insert(SALT_KEY, &salt)?;
                meta.flush()?;
                salt
            }
        };
        Ok(Store { db, users, salt })
    }

    /// The random salt for pseudonymous log ids, created with the store.
    pub fn log_salt(&self) -> [u8; 16] {
        self.salt
    }

    /// The person's record; an undecodable one is [`Stored::Unreadable`], not an error, so
    /// that one bad record never stops the others or the crisis reply.
    pub fn load(&self, user: &UserKey) -> Result<Stored, StoreError> {
        Ok(match self.users.get(user_prefix(user))? {
            None => Stored::Nothing,
            Some(bytes) => match decode::<UserRecord>(&bytes) {
                Some(record) => Stored::Found(record),
                None => Stored::Unreadable,
            },
        })
    }

    pub fn save(
        &self,
        user: &UserKey,
        record: &UserRecord,
        durable: bool,
    ) -> Result<(), StoreError> {
        self.users.insert(user_prefix(user), encode(record)?)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    /// Removes every record of `user` from every tree, then flushes. Returns how many
    /// records were removed.
    pub fn forget(&self, user: &UserKey) -> Result<usize, StoreError> {
        let prefix = user_prefix(user);
        let mut removed = 0;
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let keys: Vec<_> = tree.scan_prefix(&prefix).keys().collect::<Result<_, _>>()?;
            for key in keys {
                tree.remove(key)?;
                removed += 1;
            }
        }
        self.db.flush()?;
        Ok(removed)
    }

    /// Every (tree, key) that belongs to `user`, across all trees: what /forget removes.
    pub fn keys_of(&self, user: &UserKey) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = user_prefix(user);
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            for key in tree.scan_prefix(&prefix).keys() {
                out.push((String::from_utf8_lossy(&name).into_owned(), key?.to_vec()));
            }
        }
        Ok(out)
    }

    /// Marks a person unreachable (the channel said they blocked the bot), so schedules
    /// skip them. A person with no record has nothing to mark.
    pub fn mark_unreachable(&self, user: &UserKey) -> Result<(), StoreError> {
        if let Stored::Found(mut record) = self.load(user)? {
            record.unreachable = true;
            self.save(user, &record, false)?;
        }
        Ok(())
    }

    /// Writes raw bytes as a person's record; for tests of corrupt data only.
    #[doc(hidden)]
    pub fn put_raw(
        &self,
        user: &UserKey,
        tree: &str,
        suffix: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut key = user_prefix(user);
        key.extend_from_slice(suffix);
        self.db.open_tree(tree)?.insert(key, value)?;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// `<user key>\0`: the prefix of every key of a person, and the whole key of their
/// record in `users`.
fn user_prefix(user: &UserKey) -> Vec<u8> {
    let mut key = user.to_string().into_bytes();
    key.push(0);
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![SCHEMA_VERSION];
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match bytes.split_first() {
        Some((&SCHEMA_VERSION, body)) => serde_json::from_slice(body).ok(),
        _ => None,
    }
}

/// sled reports a held lock as an I/O error from its file-locking call.
fn is_lock_error(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock
        || err.raw_os_error() == Some(11)
        || err.to_string().contains("lock")
}
