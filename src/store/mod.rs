//! The embedded sled store: the only module that knows sled.
//!
//! Layout: one tree per kind of record. A person appears in keys only as their person id,
//! `HMAC(index key, user key)` shortened to 16 bytes, never as a chat id or number. Every
//! key that concerns a person starts with that id, in every tree, so `/forget` finds all
//! of them with a prefix scan over every tree there is — including trees added by later
//! features. Every value about a person is sealed under their own data key (see
//! `keyring.rs`); other values are `[schema version byte] ++ JSON`.
//!
//! No key that opens anything about a person is stored in sled (whose files keep old
//! values until it reclaims them): they live in the key files (`keyfile.rs`).
//!
//! Five trees are ordered by something else, and `/forget` clears them explicitly:
//! - `due`: `<UTC millis, big-endian><person id><job tag>`, the scheduler's index. It
//!   mirrors the `jobs` of each record exactly; both change in one transaction.
//! - `members`: `<program id>\0<person id>`, who is in which program (same transaction).
//! - `outbox`: `[lane]<priority><person id><sequence>`, messages waiting to be sent, one
//!   queue per priority and person, each sealed for its person.
//! - `alerts`: `<id>`, alerts for the staff group, each sealed for its person.
//! - `alert_words`: `<id>`, a crisis message's words for that alert, under a key of
//!   their own (destroyed when the alert is posted).
//!
//! One tree deliberately survives `/forget`: `sms_opt_outs` (keyed hashes; see
//! `texting.rs`), because carriers require an opt-out to be kept.

mod alerts;
mod backup;
pub mod crypto;
mod index;
mod invites;
mod keyfile;
mod keyring;
mod migrate;
mod outbox;
mod texting;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::engine::{Stored, UserRecord};
use crate::user::UserKey;
pub use alerts::Alert;
pub use backup::{BackupError, Summary as BackupSummary};
use crypto::{KeyError, KeySource, PersonId, Secret};
pub use index::DueEntry;
use keyfile::KeyFiles;
pub use keyring::Rotation;
use keyring::{INDEX_KEY, KEYS, open_with, seal_with};
pub use outbox::{OutboxKey, Outgoing, Priority, Recipient};

/// sled's page cache. Bounded, so memory stays flat however many people are stored.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The schema version written in front of every value.
pub const SCHEMA_VERSION: u8 = 1;
const USERS: &str = "users";
const META: &str = "meta";
const DUE: &str = "due";
const MEMBERS: &str = "members";
const OUTBOX: &str = "outbox";
/// Trees whose keys do not start with the person id; `forget` clears them by other means.
const INDEXES: [&str; 5] = [DUE, MEMBERS, OUTBOX, alerts::ALERTS, alerts::ALERT_WORDS];
/// Where stores from before encryption at rest kept their random salt.
const LEGACY_SALT_KEY: &[u8] = b"log_salt";
/// Set in `meta` once a store written before encryption at rest has been converted.
const MIGRATED: &[u8] = b"sealed_layout";

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
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error(
        "the master key from {origin} does not open the store in {dir}: it was made with another key (use that key, or restore a backup made under the current one)"
    )]
    WrongMasterKey { dir: PathBuf, origin: KeySource },
    #[error(
        "the store in {0} is encrypted, but no master key is configured: set WAYPOINT_MASTER_KEY_FILE (or WAYPOINT_MASTER_KEY) to the key it was made with"
    )]
    NoMasterKey(PathBuf),
    #[error("a person's data key is damaged and cannot be opened")]
    KeyUnreadable,
    #[error("cannot read or write the key files (keys/ in the data directory): {0}")]
    KeyFiles(#[source] std::io::Error),
}

/// A handle on the data directory; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    due: sled::Tree,
    members: sled::Tree,
    outbox: sled::Tree,
    /// Data keys and single values' keys, outside sled (see `keyfile.rs`).
    keyfiles: Arc<KeyFiles>,
    /// For pseudonymous log ids.
    log_salt: [u8; 16],
    /// The salt of a store from before encryption at rest (its opt-outs are keyed by it).
    legacy_salt: Option<[u8; 16]>,
    /// Wraps the data keys and the index key; never written to the store.
    master: Arc<Secret>,
    /// Turns user keys into person ids.
    index: Arc<Secret>,
    key_source: Arc<KeySource>,
    /// Outbox entries with a sequence number below this are on disk (see
    /// [`Store::is_durable`]).
    durable_below: Arc<AtomicU64>,
    /// Outbox sequence numbers handed out to transactions not yet committed: a flush
    /// vouches only for numbers below the smallest of them.
    pending: Arc<Mutex<BTreeSet<u64>>>,
    /// One lock per stripe of people: load -> decide -> save for one person never
    /// interleaves (a message, a scheduled job, the sender's 403, staff work).
    stripes: Arc<[Mutex<()>; STRIPES]>,
}

/// How long opening waits for a lock that may be about to be released.
const LOCK_WAIT_MS: u64 = 2000;

/// How many person locks there are; people share a stripe by hash.
const STRIPES: usize = 64;

impl Store {
    /// Opens (or creates) the store in `dir` with the master key from the environment
    /// (see [`crypto::master_key`]). A second process gets [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = open_db(dir)?;
        let is_new = db.open_tree(META)?.get(INDEX_KEY)?.is_none();
        let (master, source) = match crypto::master_key(dir, is_new) {
            Err(KeyError::Missing) => return Err(StoreError::NoMasterKey(dir.to_path_buf())),
            other => other?,
        };
        Store::assemble(dir, db, master, source)
    }

    /// Opens (or creates) the store in `dir` with `master` as its master key.
    pub fn open_with_key(dir: &Path, master: Secret) -> Result<Store, StoreError> {
        Store::assemble(dir, open_db(dir)?, master, KeySource::Given)
    }

    /// Where the master key came from (the fallback file earns a warning at start).
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    fn assemble(
        dir: &Path,
        db: sled::Db,
        master: Secret,
        source: KeySource,
    ) -> Result<Store, StoreError> {
        let users = db.open_tree(USERS)?;
        let meta = db.open_tree(META)?;
        let legacy_salt = meta
            .get(LEGACY_SALT_KEY)?
            .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_ref()).ok());
        let Some(index) = keyring::index_key(&meta, &master)? else {
            return Err(StoreError::WrongMasterKey {
                dir: dir.to_path_buf(),
                origin: source,
            });
        };
        let store = Store {
            users,
            due: db.open_tree(DUE)?,
            members: db.open_tree(MEMBERS)?,
            outbox: db.open_tree(OUTBOX)?,
            keyfiles: Arc::new(KeyFiles::open(dir).map_err(StoreError::KeyFiles)?),
            // Everything found at opening is on disk.
            durable_below: Arc::new(AtomicU64::new(db.generate_id()?)),
            pending: Arc::default(),
            stripes: Arc::new(std::array::from_fn(|_| Mutex::new(()))),
            db,
            log_salt: index.mac(&[b"log salt"])[..16]
                .try_into()
                .expect("16 of 32 bytes"),
            legacy_salt,
            master: Arc::new(master),
            index: Arc::new(index),
            key_source: Arc::new(source),
        };
        if store.db.tree_names().iter().any(|n| n == KEYS.as_bytes()) {
            let moved = migrate::keys_to_files(&store)?;
            tracing::info!(
                moved,
                "moved data keys out of sled into the key files; see SECURITY.md about the copies sled still holds"
            );
        }
        let retired = store.retire_orphans()?;
        if retired > 0 {
            tracing::info!(retired, "destroyed keys of values no longer stored");
        }
        if !meta.contains_key(MIGRATED)? {
            let moved = migrate::seal_legacy(&store)?;
            if moved > 0 {
                tracing::info!(moved, "sealed a store written before encryption at rest");
            }
            meta.insert(MIGRATED, &[][..])?;
            store.db.flush()?;
        }
        let rekeyed = store.rekey_outbox()?;
        if rekeyed > 0 {
            tracing::info!(rekeyed, "moved queued messages into per-person queues");
        }
        Ok(store)
    }

    /// The salt for pseudonymous log ids. It is derived from the index key, so someone
    /// holding the logs and the disk but not the master key cannot test chat ids or
    /// numbers against the ids in the logs.
    pub fn log_salt(&self) -> [u8; 16] {
        self.log_salt
    }

    /// The person's record; an undecodable one is [`Stored::Unreadable`], not an error, so
    /// that one bad record never stops the others or the crisis reply.
    pub fn load(&self, user: &UserKey) -> Result<Stored, StoreError> {
        Ok(match self.users.get(self.pid(user))? {
            None => Stored::Nothing,
            Some(bytes) => match self.open_sealed::<Envelope<UserRecord>>(USERS, &bytes)? {
                Some(found) if found.user == *user => Stored::Found(found.record),
                _ => Stored::Unreadable,
            },
        })
    }

    /// Who a person id stands for, read from their record.
    fn user_of(&self, pid: &PersonId) -> Result<Option<UserKey>, StoreError> {
        let Some(bytes) = self.users.get(pid)? else {
            return Ok(None);
        };
        Ok(self
            .open_sealed::<Envelope<serde::de::IgnoredAny>>(USERS, &bytes)?
            .map(|found| found.user))
    }

    pub fn save(
        &self,
        user: &UserKey,
        record: &UserRecord,
        durable: bool,
    ) -> Result<(), StoreError> {
        self.save_with(user, record, &[], durable)
    }

    /// Writes the record, brings the due and members indexes in line with it, and queues
    /// `outgoing` — all in one transaction, so a scheduled message is either fired (index
    /// entry gone, message queued) or not at all. This is the scheduler's ledger.
    pub fn save_with(
        &self,
        user: &UserKey,
        record: &UserRecord,
        outgoing: &[Outgoing],
        durable: bool,
    ) -> Result<(), StoreError> {
        let pid = self.pid(user);
        let data_key = self
            .data_key(&pid, true)?
            .ok_or(StoreError::KeyUnreadable)?;
        let envelope = Envelope {
            user: user.clone(),
            record,
        };
        let value = seal_with(&data_key, &pid, USERS, &envelope)?;
        let new_due: Vec<Vec<u8>> = record
            .jobs
            .iter()
            .map(|j| index::due_key(&pid, j))
            .collect();
        let new_member = record
            .program
            .as_deref()
            .map(|p| index::member_key(p, &pid));
        let mut queued = Vec::with_capacity(outgoing.len());
        let mut ids = Vec::with_capacity(outgoing.len());
        {
            let mut pending = lock(&self.pending);
            for item in outgoing {
                let id = self.db.generate_id()?;
                pending.insert(id);
                ids.push(id);
                queued.push((
                    self.outbox_key(item, id),
                    self.seal_for(&item.user, OUTBOX, item)?,
                ));
            }
        }
        let _committed = Committed {
            pending: &self.pending,
            ids: &ids,
        };
        let result = (&self.users, &self.due, &self.members, &self.outbox).transaction(
            |(users, due, members, outbox)| {
                if let Some(old) = users.get(pid)?
                    && let Some(old) =
                        open_with::<Envelope<UserRecord>>(&data_key, &pid, USERS, &old)
                {
                    for job in &old.record.jobs {
                        due.remove(index::due_key(&pid, job))?;
                    }
                    if let Some(p) = old.record.program.as_deref() {
                        members.remove(index::member_key(p, &pid))?;
                    }
                }
                for k in &new_due {
                    due.insert(k.as_slice(), &[][..])?;
                }
                if let Some(k) = &new_member {
                    members.insert(k.as_slice(), &[][..])?;
                }
                for (k, v) in &queued {
                    outbox.insert(&k.0[..], v.as_slice())?;
                }
                users.insert(&pid[..], value.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            },
        );
        committed(result)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    /// Destroys `user`'s data key and the keys of their values sealed under keys of their
    /// own, in the key files, on disk (crypto-shredding: what is left of them in sled's
    /// files can no longer be opened, by anyone, at once); then removes every record of
    /// theirs from every tree and withdraws any unsent staff-group post about them.
    /// Returns how many records were removed.
    pub fn forget(&self, user: &UserKey) -> Result<usize, StoreError> {
        let pid = self.pid(user);
        let keys = self.keys_of(user)?;
        let theirs: Vec<u64> = keys
            .iter()
            .filter(|(tree, _)| tree == alerts::ALERTS)
            .filter_map(|(_, key)| Some(u64::from_be_bytes(key.as_slice().try_into().ok()?)))
            .collect();
        // A staff-group post about them still waiting to go out goes too; the other
        // people's alerts it carried are posted again without them.
        let posts: Vec<(OutboxKey, Outgoing)> = self
            .outbox_items(usize::MAX)?
            .into_iter()
            .filter(|(_, item)| item.alerts.iter().any(|id| theirs.contains(id)))
            .collect();
        let mut values = Vec::new();
        for (tree, key) in keys.iter().filter(|(tree, _)| tree != KEYS) {
            values.extend(self.db.open_tree(tree)?.get(key)?);
        }
        for (key, _) in &posts {
            values.extend(self.outbox.get(key)?);
        }
        self.shred(&pid, values.iter().map(|v| v.as_ref()))?;
        for (tree, key) in keys.iter().filter(|(tree, _)| tree != KEYS) {
            self.db.open_tree(tree)?.remove(key)?;
        }
        for (key, item) in &posts {
            self.outbox.remove(key)?;
            for id in item.alerts.iter().filter(|id| !theirs.contains(id)) {
                if let Some(mut other) = self.alert(*id)? {
                    other.posted = false;
                    self.put_alert(&other)?;
                }
            }
        }
        self.db.flush()?;
        Ok(keys.len() + posts.len())
    }

    /// Every (tree, key) that belongs to `user`, across all trees: what /forget removes.
    /// Index entries are found through the record; if it cannot be read, by scanning.
    /// Their data key, in the key files, is listed as `("keys", <person id>)`.
    pub fn keys_of(&self, user: &UserKey) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let pid = self.pid(user);
        let mut out = Vec::new();
        if self.has_data_key(&pid)? {
            out.push((KEYS.to_string(), pid.to_vec()));
        }
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if INDEXES.contains(&name.as_str()) {
                continue;
            }
            let tree = self.db.open_tree(&name)?;
            for key in tree.scan_prefix(pid).keys() {
                out.push((name.clone(), key?.to_vec()));
            }
        }
        match self.load(user)? {
            Stored::Found(record) => {
                for job in &record.jobs {
                    let key = index::due_key(&pid, job);
                    if self.due.contains_key(&key)? {
                        out.push((DUE.into(), key));
                    }
                }
                if let Some(p) = record.program.as_deref() {
                    let key = index::member_key(p, &pid);
                    if self.members.contains_key(&key)? {
                        out.push((MEMBERS.into(), key));
                    }
                }
            }
            Stored::Nothing | Stored::Unreadable => {
                for (name, tree) in [(DUE, &self.due), (MEMBERS, &self.members)] {
                    for key in tree.iter().keys() {
                        let key = key?;
                        if index::names_person(name, &key, &pid) {
                            out.push((name.into(), key.to_vec()));
                        }
                    }
                }
            }
        }
        // Sealed values name their person in clear: nothing needs opening here.
        for (name, tree) in [
            (OUTBOX, self.outbox.clone()),
            (alerts::ALERTS, self.db.open_tree(alerts::ALERTS)?),
            (alerts::ALERT_WORDS, self.db.open_tree(alerts::ALERT_WORDS)?),
        ] {
            for entry in tree.iter() {
                let (key, value) = entry?;
                if keyring::owner(&value) == Some(pid) {
                    out.push((name.into(), key.to_vec()));
                }
            }
        }
        Ok(out)
    }

    /// Marks a person unreachable (the channel said they blocked the bot): nothing more
    /// is scheduled for them until they write again. A person with no record has nothing
    /// to mark.
    pub fn mark_unreachable(&self, user: &UserKey) -> Result<(), StoreError> {
        if let Stored::Found(mut record) = self.load(user)? {
            record.unreachable = true;
            record.jobs.clear();
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
        let mut key = self.pid(user).to_vec();
        key.extend_from_slice(suffix);
        self.db.open_tree(tree)?.insert(key, value)?;
        Ok(())
    }

    /// Every sealed value stored for `user`, with its tree, as it lies on disk; for tests
    /// of crypto-shredding only.
    #[doc(hidden)]
    pub fn sealed_values_of(&self, user: &UserKey) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for (tree, key) in self.keys_of(user)? {
            if tree == KEYS {
                continue;
            }
            if let Some(value) = self.db.open_tree(&tree)?.get(key)?
                && keyring::owner(&value).is_some()
            {
                out.push((tree, value.to_vec()));
            }
        }
        Ok(out)
    }

    /// Whether a sealed value from `tree` still opens; for tests of crypto-shredding only.
    #[doc(hidden)]
    pub fn opens(&self, tree: &str, value: &[u8]) -> bool {
        matches!(
            self.open_sealed::<serde::de::IgnoredAny>(tree, value),
            Ok(Some(_))
        )
    }

    /// Every readable record, in key order (for staff reports and exports: a full scan,
    /// never on a person's message path). Unreadable records are skipped.
    pub fn records(&self) -> impl Iterator<Item = Result<(UserKey, UserRecord), StoreError>> + '_ {
        self.users.iter().filter_map(|entry| {
            let found = entry
                .map_err(StoreError::from)
                .and_then(|(_, value)| self.open_sealed::<Envelope<UserRecord>>(USERS, &value));
            match found {
                Err(e) => Some(Err(e)),
                Ok(found) => found.map(|f| Ok((f.user, f.record))),
            }
        })
    }

    /// Small working state that is not about a person (a staff member's broadcast draft).
    pub fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .open_tree(META)?
            .get(format!("kv:{name}"))?
            .map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db
            .open_tree(META)?
            .insert(format!("kv:{name}"), value)?;
        Ok(())
    }

    pub fn meta_remove(&self, name: &str) -> Result<(), StoreError> {
        self.db.open_tree(META)?.remove(format!("kv:{name}"))?;
        Ok(())
    }

    /// A remembered one-off event (not about a person), such as an announced cancellation.
    /// Sessions of `program` that staff cancelled with `/cancel` (still to come), so that
    /// people who join later hear of it at their reminder time too.
    pub fn staff_cancellations(&self, program: &str) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self
            .meta_get(&format!("cancelled:{program}"))?
            .and_then(|v| decode(&v))
            .unwrap_or_default())
    }

    /// Adds staff-cancelled sessions of `program`, dropping ones more than a day past.
    pub fn add_staff_cancellations(
        &self,
        program: &str,
        sessions: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut list = self.staff_cancellations(program)?;
        list.retain(|s| *s > now - chrono::Duration::days(1));
        for session in sessions {
            if !list.contains(session) {
                list.push(*session);
            }
        }
        self.meta_put(&format!("cancelled:{program}"), &encode(&list)?)
    }

    pub fn meta_flag(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .open_tree(META)?
            .contains_key(format!("flag:{name}"))?)
    }

    pub fn set_meta_flag(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .open_tree(META)?
            .insert(format!("flag:{name}"), &[][..])?;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        let mark = self.flush_mark()?;
        self.db.flush()?;
        self.durable_below.fetch_max(mark, Ordering::SeqCst);
        Ok(())
    }

    /// What a flush starting now vouches for: every number handed out so far, except
    /// those whose transaction has not committed.
    fn flush_mark(&self) -> Result<u64, StoreError> {
        let pending = lock(&self.pending);
        let next = self.db.generate_id()?;
        Ok(pending.first().copied().map_or(next, |p| p.min(next)))
    }

    /// Holds `user`'s lock: the caller's load, decision and save are not interleaved
    /// with another for the same person.
    pub fn lock_user(&self, user: &UserKey) -> MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        lock(&self.stripes[hasher.finish() as usize % STRIPES])
    }

    /// Whether a queued message is known to be on disk. The sender sends a scheduled
    /// message only then: its firing (the due entry's removal) reached the disk in the
    /// same transaction, so a crash after sending cannot fire it again.
    pub fn is_durable(&self, key: &OutboxKey) -> bool {
        key.sequence() < self.durable_below.load(Ordering::SeqCst)
    }
}

/// Opens sled in `dir` (made if missing), waiting briefly for a lock about to be released.
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let io_error = |e| StoreError::Open {
        dir: dir.to_path_buf(),
        source: sled::Error::Io(e),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error)?;
    // A store just closed in this process may hold its file lock for a moment while
    // sled's background thread winds down: wait briefly before calling it "in use".
    let mut waited = 0;
    let db = loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Ok(db) => break db,
            Err(sled::Error::Io(io)) if is_lock_error(&io) && waited < LOCK_WAIT_MS => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                waited += 50;
            }
            Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            Err(other) => {
                return Err(StoreError::Open {
                    dir: dir.to_path_buf(),
                    source: other,
                });
            }
        }
    };
    owner_only(dir).map_err(io_error)?;
    Ok(db)
}

/// Makes the data directory and what sled wrote in it readable by their owner only,
/// whatever the umask: directories 0700, files 0600. Files sled writes later (snapshots)
/// sit in a directory no one else can enter.
fn owner_only(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir)?;
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        if meta.permissions().mode() & 0o777 != mode {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                // Never follow a link out of the directory.
                if !entry.file_type()?.is_symlink() {
                    owner_only(&entry.path())?;
                }
            }
        }
    }
    Ok(())
}

/// A poisoned lock still guards valid data (a panic elsewhere cannot corrupt `()` or a
/// set of numbers); keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes a transaction's outbox numbers off the pending list when it ends, committed or
/// not.
struct Committed<'a> {
    pending: &'a Mutex<BTreeSet<u64>>,
    ids: &'a [u64],
}

impl Drop for Committed<'_> {
    fn drop(&mut self) {
        let mut pending = lock(self.pending);
        for id in self.ids {
            pending.remove(id);
        }
    }
}

/// A record in `users`: who it is about (the key holds only their person id) and what
/// is kept. Short field names and the user key as text: with a million people, every
/// byte of a record is a megabyte sled reads at each start.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<R> {
    #[serde(rename = "u", with = "user_as_text")]
    user: UserKey,
    #[serde(rename = "r")]
    record: R,
}

mod user_as_text {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::user::UserKey;

    pub fn serialize<S: Serializer>(user: &UserKey, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(user)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<UserKey, D::Error> {
        let text = String::deserialize(input)?;
        UserKey::parse(&text).ok_or_else(|| D::Error::custom("not a user key"))
    }
}

/// A transaction's outcome; ours never abort.
fn committed<T>(result: Result<T, TransactionError<()>>) -> Result<T, StoreError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Storage(e)) => Err(e.into()),
        Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
    }
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
