//! Keys kept outside sled, so that destroying one is final.
//!
//! sled is log-structured: a removed or replaced value stays in its files until sled
//! reclaims the space, which can take thousands of writes and several restarts. A key
//! kept there would outlive `/forget`. So every key that opens something about a person —
//! their data key, and the key of each value sealed under a key of its own (a message
//! before consent, a staff-group post, the words of a crisis message) — lives in small
//! files in `<data dir>/keys/`, each rewritten whole on every change: a new file is
//! written beside it, synced, renamed over it, and the directory synced. Once a key is
//! removed, no file of the directory holds it, at once; sled's leftovers sealed under it
//! are noise. (A file system may keep the old blocks until reused, and an SSD its old
//! pages: see SECURITY.md.)
//!
//! Layout: `keys/p.XYZ` holds data keys, `keys/v.XYZ` value keys, where `XYZ` is the first
//! 12 bits of the id in hex (4,096 files at most of each, so a rewrite stays small with a
//! million people). Each file is a run of fixed-size records `<id 16><wrapped key 72>`;
//! keys are wrapped by the master key, so the files open nothing without it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An id: a person id (data keys) or a random value-key id.
pub(super) type Id = [u8; 16];
/// A wrapped key: nonce, 32 bytes, tag.
pub(super) const WRAPPED_LEN: usize = 24 + 32 + 16;
pub(super) type Wrapped = [u8; WRAPPED_LEN];
const RECORD: usize = 16 + WRAPPED_LEN;
/// The key directory, inside the data directory.
pub(super) const DIR: &str = "keys";
/// The start of a file's name while it is being written.
const NEW: &str = ".new-";

/// Which keys: people's data keys or single values' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ring {
    Data,
    Value,
}

impl Ring {
    fn prefix(self) -> &'static str {
        match self {
            Ring::Data => "p.",
            Ring::Value => "v.",
        }
    }
}

/// The key files of one data directory. Reads take no lock (a rename replaces a file
/// whole); writes are serialised, so a read-modify-write never loses another's change.
pub(super) struct KeyFiles {
    dir: PathBuf,
    writing: Mutex<()>,
}

impl KeyFiles {
    /// The key directory of `data_dir`, made (owner-only) if missing. A new file left
    /// half-written by a crash is removed: it may hold keys destroyed since. Called with
    /// the store's lock held, so no one else is writing.
    pub(super) fn open(data_dir: &Path) -> std::io::Result<KeyFiles> {
        let dir = data_dir.join(DIR);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(NEW) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(KeyFiles {
            dir,
            writing: Mutex::new(()),
        })
    }

    fn path(&self, ring: Ring, id: &Id) -> PathBuf {
        let shard = (u16::from(id[0]) << 4) | u16::from(id[1] >> 4);
        self.dir.join(format!("{}{shard:03x}", ring.prefix()))
    }

    /// `id`'s wrapped key, if there is one.
    pub(super) fn get(&self, ring: Ring, id: &Id) -> std::io::Result<Option<Wrapped>> {
        Ok(records(&read(&self.path(ring, id))?)
            .find(|(k, _)| k == id)
            .map(|(_, w)| w))
    }

    /// Adds `id` -> `wrapped` unless `id` has a key already; returns the key that is kept
    /// (the existing one if two callers race), once it is on disk.
    pub(super) fn insert(
        &self,
        ring: Ring,
        id: &Id,
        wrapped: &Wrapped,
    ) -> std::io::Result<Wrapped> {
        let _writing = self.lock();
        let path = self.path(ring, id);
        let mut bytes = read(&path)?;
        if let Some((_, kept)) = records(&bytes).find(|(k, _)| k == id) {
            return Ok(kept);
        }
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(wrapped);
        self.replace(&path, &bytes)?;
        Ok(*wrapped)
    }

    /// Adds every key of `entries` whose id has none yet (existing keys win: something
    /// may be sealed under them), each file rewritten once: for bulk paths (moving a
    /// store), where a rewrite per key would cost two fsyncs each.
    pub(super) fn insert_all(&self, ring: Ring, entries: &[(Id, Wrapped)]) -> std::io::Result<()> {
        let _writing = self.lock();
        let mut by_file: BTreeMap<PathBuf, Vec<&(Id, Wrapped)>> = BTreeMap::new();
        for entry in entries {
            by_file
                .entry(self.path(ring, &entry.0))
                .or_default()
                .push(entry);
        }
        for (path, new) in by_file {
            let mut bytes = read(&path)?;
            let held: Vec<Id> = records(&bytes).map(|(id, _)| id).collect();
            for (id, wrapped) in new {
                if !held.contains(id) {
                    bytes.extend_from_slice(id);
                    bytes.extend_from_slice(wrapped);
                }
            }
            self.replace(&path, &bytes)?;
        }
        Ok(())
    }

    /// Removes the keys of `ids`, each file rewritten once. Returns how many there were.
    pub(super) fn remove(&self, ring: Ring, ids: &[Id]) -> std::io::Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let _writing = self.lock();
        let mut by_file: BTreeMap<PathBuf, Vec<&Id>> = BTreeMap::new();
        for id in ids {
            by_file.entry(self.path(ring, id)).or_default().push(id);
        }
        let mut removed = 0;
        for (path, gone) in by_file {
            let bytes = read(&path)?;
            let kept: Vec<u8> = records(&bytes)
                .filter(|(k, _)| !gone.contains(&k))
                .flat_map(|(k, w)| k.into_iter().chain(w))
                .collect();
            if kept.len() != bytes.len() {
                removed += (bytes.len() - kept.len()) / RECORD;
                self.replace(&path, &kept)?;
            }
        }
        Ok(removed)
    }

    /// Every key of `ring`.
    pub(super) fn all(&self, ring: Ring) -> std::io::Result<Vec<(Id, Wrapped)>> {
        let mut out = Vec::new();
        for path in self.files(ring)? {
            out.extend(records(&read(&path)?));
        }
        Ok(out)
    }

    /// Replaces the keys of `ring` with `entries` (rotation, restore).
    pub(super) fn set_all(&self, ring: Ring, entries: &[(Id, Wrapped)]) -> std::io::Result<()> {
        let _writing = self.lock();
        let mut by_file: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
        for path in self.files(ring)? {
            by_file.insert(path, Vec::new());
        }
        for (id, wrapped) in entries {
            let bytes = by_file.entry(self.path(ring, id)).or_default();
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(wrapped);
        }
        for (path, bytes) in by_file {
            self.replace(&path, &bytes)?;
        }
        Ok(())
    }

    fn files(&self, ring: Ring) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.len() == 5 && name.starts_with(ring.prefix()) {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Puts `bytes` in place of `path` whole (an empty file is removed): written to a new
    /// file beside it, synced, renamed over it, and the directory synced, so a crash
    /// leaves the old file or the new one, and the old bytes are in no file afterwards.
    fn replace(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                other => other?,
            }
        } else {
            let mut file = tempfile::Builder::new()
                .prefix(NEW)
                .tempfile_in(&self.dir)?;
            file.write_all(bytes)?;
            file.as_file().sync_all()?;
            file.persist(path).map_err(|e| e.error)?;
        }
        sync_dir(&self.dir)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A poisoned lock guards no data; keep going.
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A file's bytes; a missing file is empty.
fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    }
}

/// The whole records of a file (a damaged tail is ignored).
fn records(bytes: &[u8]) -> impl Iterator<Item = (Id, Wrapped)> + '_ {
    bytes.chunks_exact(RECORD).map(|r| {
        let (id, wrapped) = r.split_at(16);
        (
            id.try_into().expect("16 bytes"),
            wrapped.try_into().expect("72 bytes"),
        )
    })
}

/// Makes a rename in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_once_and_removed_from_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::open(dir.path()).unwrap();
        let (a, b) = ([1u8; 16], [2u8; 16]);
        assert_eq!(
            files.insert(Ring::Data, &a, &[7; WRAPPED_LEN]).unwrap(),
            [7; WRAPPED_LEN]
        );
        // A second key for the same id loses to the first.
        assert_eq!(
            files.insert(Ring::Data, &a, &[8; WRAPPED_LEN]).unwrap(),
            [7; WRAPPED_LEN]
        );
        files.insert(Ring::Data, &b, &[9; WRAPPED_LEN]).unwrap();
        files.insert(Ring::Value, &a, &[5; WRAPPED_LEN]).unwrap();
        assert_eq!(files.get(Ring::Data, &a).unwrap(), Some([7; WRAPPED_LEN]));
        assert_eq!(files.remove(Ring::Data, &[a]).unwrap(), 1);
        assert_eq!(files.get(Ring::Data, &a).unwrap(), None);
        assert_eq!(files.get(Ring::Value, &a).unwrap(), Some([5; WRAPPED_LEN]));
        assert_eq!(files.all(Ring::Data).unwrap(), vec![(b, [9; WRAPPED_LEN])]);
        // In bulk, existing keys win and new ones are added.
        let c = [3u8; 16];
        files
            .insert_all(Ring::Data, &[(b, [1; WRAPPED_LEN]), (c, [3; WRAPPED_LEN])])
            .unwrap();
        assert_eq!(files.get(Ring::Data, &b).unwrap(), Some([9; WRAPPED_LEN]));
        assert_eq!(files.get(Ring::Data, &c).unwrap(), Some([3; WRAPPED_LEN]));
        files.remove(Ring::Data, &[c]).unwrap();
        // A file a crash left half-written goes at the next open.
        std::fs::write(dir.path().join(DIR).join(".new-x1"), [7; RECORD]).unwrap();
        let files = KeyFiles::open(dir.path()).unwrap();
        assert_eq!(files.all(Ring::Data).unwrap(), vec![(b, [9; WRAPPED_LEN])]);
        // No file of the directory holds the removed key any more.
        for entry in std::fs::read_dir(dir.path().join(DIR)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(WRAPPED_LEN).any(|w| w == [7; WRAPPED_LEN]));
        }
    }
}
