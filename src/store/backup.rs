//! `waypoint backup` and `waypoint restore`: the whole store — every tree, every key —
//! in one file, with a checksum, restorable only into an empty data directory.
//!
//! File: `WAYPOINT-BACKUP 2\n`, then for each tree `T <name length u32><name>` followed by
//! its entries `E <key length u32><key><value length u32><value>`, then each key of the
//! key files `K <p (data) or v (value)><id 16><wrapped key 72>`, then `I` and the store's
//! id counter (u64: alert ids and outbox numbers continue after it), then `Z` and the
//! SHA-256 of everything before it. Version 1 files (from before the key files: data keys
//! in a `keys` tree) restore too; the store moves their keys at its first open. Taken from a store no other process has open (the
//! store's lock guarantees it), so it is a consistent snapshot. Values are copied as
//! they are stored, sealed, the keys still wrapped, and the master key is not in the file:
//! a backup opens only with the master key of the store it came from.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::keyfile::{Id, KeyFiles, Ring, Wrapped};
use super::{Store, StoreError};

const MAGIC: &[u8] = b"WAYPOINT-BACKUP 2\n";
/// Backups from before the key files: the same records but `K`.
const MAGIC_V1: &[u8] = b"WAYPOINT-BACKUP 1\n";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot read or write the backup file: {0}")]
    Io(#[from] std::io::Error),
    #[error("this is not a Waypoint backup (or a newer format)")]
    NotABackup,
    #[error("the backup is damaged: {0}")]
    Damaged(&'static str),
    #[error(
        "{0} already holds data; restore only into a new or empty directory (move the old one aside first)"
    )]
    NotEmpty(std::path::PathBuf),
}

/// What a backup held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub trees: usize,
    pub entries: usize,
}

/// Writes through to `inner` and hashes what passes.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("entry too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

impl Store {
    /// Writes every tree to `out`.
    pub fn backup(&self, out: impl Write) -> Result<Summary, BackupError> {
        self.flush()?;
        let mut out = Hashing {
            inner: out,
            hash: Sha256::new(),
        };
        out.write_all(MAGIC)?;
        let mut summary = Summary::default();
        // In name order, so the same store always gives the same file.
        let mut names = self.db.tree_names();
        names.sort();
        for name in names {
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            out.write_all(b"T")?;
            put(&mut out, &name)?;
            summary.trees += 1;
            for entry in tree.iter() {
                let (k, v) = entry.map_err(StoreError::from)?;
                out.write_all(b"E")?;
                put(&mut out, &k)?;
                put(&mut out, &v)?;
                summary.entries += 1;
            }
        }
        for (tag, ring) in [(b'p', Ring::Data), (b'v', Ring::Value)] {
            for (id, wrapped) in self.keyfiles.all(ring).map_err(StoreError::KeyFiles)? {
                out.write_all(&[b'K', tag])?;
                out.write_all(&id)?;
                out.write_all(&wrapped)?;
                summary.entries += 1;
            }
        }
        // sled keeps its id counter outside the trees: without it a restored store would
        // hand out alert ids and outbox numbers it already holds.
        let next_id = self.db.generate_id().map_err(StoreError::from)?;
        out.write_all(b"I")?;
        out.write_all(&next_id.to_be_bytes())?;
        out.write_all(b"Z")?;
        let digest = out.hash.finalize_reset();
        out.inner.write_all(&digest)?;
        out.inner.flush()?;
        Ok(summary)
    }

    /// Restores a backup into `dir`, which must not hold a store yet. The whole file is
    /// checked before anything is written; the store is built in a new directory beside
    /// `dir` and moved into place only when complete, so a failure leaves nothing
    /// half-restored.
    pub fn restore(dir: &Path, mut input: impl Read) -> Result<Summary, BackupError> {
        match dir.read_dir() {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(BackupError::NotEmpty(dir.to_path_buf()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let (trees, keys, next_id) = parse(&bytes)?;
        // Built in a directory of its own, made here with a unique name (owner-only), so
        // nothing that was there before is ever touched; dropped with it on failure.
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)?;
        let building = tempfile::Builder::new()
            .prefix(".waypoint-restore-")
            .tempdir_in(parent)?;
        let summary = Self::build(building.path(), trees, &keys, next_id)?;
        if dir.exists() {
            // Checked empty above; `remove_dir` refuses anything else.
            std::fs::remove_dir(dir)?;
        }
        std::fs::rename(building.keep(), dir)?;
        sync_dir(parent)?;
        Ok(summary)
    }

    /// Writes the trees into a bare sled directory: opening a `Store` there would make
    /// keys of its own, and the restored store must keep the ones in the backup.
    fn build(
        dir: &Path,
        trees: Trees<'_>,
        keys: &Keys,
        next_id: u64,
    ) -> Result<Summary, BackupError> {
        let db = super::open_db(dir)?;
        let mut summary = Summary::default();
        let files = KeyFiles::open(dir).map_err(StoreError::KeyFiles)?;
        for ring in [Ring::Data, Ring::Value] {
            let entries: Vec<(Id, Wrapped)> = keys
                .iter()
                .filter(|(r, _, _)| *r == ring)
                .map(|(_, id, wrapped)| (*id, *wrapped))
                .collect();
            summary.entries += entries.len();
            files
                .set_all(ring, &entries)
                .map_err(StoreError::KeyFiles)?;
        }
        for (name, entries) in trees {
            let tree = db.open_tree(name).map_err(StoreError::from)?;
            summary.trees += 1;
            for (k, v) in entries {
                tree.insert(k, v).map_err(StoreError::from)?;
                summary.entries += 1;
            }
        }
        // Carry on from the original's id counter.
        while db.generate_id().map_err(StoreError::from)? < next_id {}
        db.flush().map_err(StoreError::from)?;
        Ok(summary)
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The key files' records: which file kind, the id, the wrapped key.
type Keys = Vec<(Ring, Id, Wrapped)>;

type Trees<'a> = Vec<(&'a [u8], Vec<(&'a [u8], &'a [u8])>)>;

/// Checks the magic and the checksum, then splits the body into trees and entries, keys,
/// and the id counter.
fn parse(bytes: &[u8]) -> Result<(Trees<'_>, Keys, u64), BackupError> {
    let body = bytes
        .strip_prefix(MAGIC)
        .or_else(|| bytes.strip_prefix(MAGIC_V1))
        .ok_or(BackupError::NotABackup)?;
    if body.len() < 33 {
        return Err(BackupError::Damaged("it is cut short"));
    }
    let (signed, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(signed).as_slice() != digest {
        return Err(BackupError::Damaged("its checksum does not match"));
    }
    let mut rest = &signed[MAGIC.len()..];
    let mut trees: Trees = Vec::new();
    let mut keys = Vec::new();
    let mut next_id = 0;
    loop {
        match take(&mut rest, 1)? {
            b"T" => trees.push((field(&mut rest)?, Vec::new())),
            b"E" => {
                let k = field(&mut rest)?;
                let v = field(&mut rest)?;
                let (_, entries) = trees
                    .last_mut()
                    .ok_or(BackupError::Damaged("an entry comes before any tree"))?;
                entries.push((k, v));
            }
            b"K" => {
                let ring = match take(&mut rest, 1)? {
                    b"p" => Ring::Data,
                    b"v" => Ring::Value,
                    _ => return Err(BackupError::Damaged("a key of an unknown kind")),
                };
                let id = take(&mut rest, 16)?.try_into().unwrap_or_default();
                let wrapped = take(&mut rest, 72)?
                    .try_into()
                    .map_err(|_| BackupError::Damaged("a key runs past the end"))?;
                keys.push((ring, id, wrapped));
            }
            b"I" => {
                let id = take(&mut rest, 8)?;
                next_id = u64::from_be_bytes(id.try_into().unwrap_or_default());
            }
            b"Z" if rest.is_empty() => return Ok((trees, keys, next_id)),
            _ => return Err(BackupError::Damaged("an unknown record")),
        }
    }
}

/// The next `n` bytes.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], BackupError> {
    if rest.len() < n {
        return Err(BackupError::Damaged("an entry runs past the end"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// A length-prefixed field.
fn field<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], BackupError> {
    let len = take(rest, 4)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    take(rest, len)
}
