//! Sealing and key handling for encryption at rest.
//!
//! Every value about a person is sealed with XChaCha20-Poly1305 under that person's own
//! data key; the data keys and the index key are sealed ("wrapped") under the master key,
//! which never touches the data directory when it is configured. The 24-byte nonce is
//! random for every seal, which XChaCha's long nonce makes safe without a counter. The
//! associated data names where the value lives, so a sealed value moved to another place
//! or another person does not open.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::user::UserKey;

const NONCE_LEN: usize = 24;

/// The environment variable holding the master key itself (64 hex digits).
pub const MASTER_KEY_ENV: &str = "WAYPOINT_MASTER_KEY";
/// The environment variable naming a file that holds the master key (systemd credentials).
pub const MASTER_KEY_FILE_ENV: &str = "WAYPOINT_MASTER_KEY_FILE";
/// The key file used when no master key is configured: it protects erased data
/// (crypto-shredding) but not a stolen disk, since it sits beside the data.
pub const FALLBACK_KEY_FILE: &str = "master.key";

/// 32 secret bytes, wiped from memory when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{origin}: a master key is 64 hexadecimal digits (make one with `waypoint keygen FILE`)"
    )]
    Malformed { origin: String },
    #[error("cannot read the master key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system's random number generator failed: {0}")]
    Random(String),
    #[error("no master key is configured")]
    Missing,
}

impl Secret {
    pub fn random() -> Result<Secret, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Secret(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Secret> {
        let mut out = Zeroizing::new([0u8; 32]);
        (bytes.len() == 32).then(|| {
            out.copy_from_slice(bytes);
            Secret(out)
        })
    }

    /// Parses exactly 64 hex digits (surrounding whitespace ignored; no sign, no prefix);
    /// `origin` names where the text came from, for the error.
    pub fn from_hex(text: &str, origin: &str) -> Result<Secret, KeyError> {
        let malformed = || KeyError::Malformed {
            origin: origin.to_string(),
        };
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let mut out = Zeroizing::new([0u8; 32]);
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| malformed())?;
        }
        Ok(Secret(out))
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `plain` so that only this key and the same `aad` open it:
    /// `<nonce 24><ciphertext and tag>`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plain bytes, or `None` if the value was not sealed by this key with this `aad`
    /// (or was damaged).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// A keyed hash: the same input gives the same output only under the same key, so the
    /// outputs name no one to a reader without the key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.bytes()).expect("HMAC takes any key size");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }
}

/// A person's pseudonymous id, the only way store keys refer to them.
pub type PersonId = [u8; 16];

/// `HMAC(index key, user key)`, shortened: without the index key (wrapped by the master
/// key) a chat id or phone number cannot be turned into the id, nor the id back.
pub fn person_id(index_key: &Secret, user: &UserKey) -> PersonId {
    let full = index_key.mac(&[b"person", user.to_string().as_bytes()]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&full[..16]);
    id
}

/// Where the master key came from, for messages that tell the operator what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    /// No key was configured: the fallback file in the data directory.
    Fallback(PathBuf),
    /// Passed in by the caller.
    Given,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment => write!(f, "{MASTER_KEY_ENV}"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
            KeySource::Fallback(path) => write!(f, "the fallback key file {}", path.display()),
            KeySource::Given => f.write_str("the given key"),
        }
    }
}

/// The master key: from `WAYPOINT_MASTER_KEY`, else the file named by
/// `WAYPOINT_MASTER_KEY_FILE`, else `<data dir>/master.key`, made only for a new store
/// (`may_create`): an existing store whose key is missing must not get a new one.
pub fn master_key(data_dir: &Path, may_create: bool) -> Result<(Secret, KeySource), KeyError> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return Ok((
            Secret::from_hex(&text, MASTER_KEY_ENV)?,
            KeySource::Environment,
        ));
    }
    if let Some(path) = std::env::var_os(MASTER_KEY_FILE_ENV) {
        let path = PathBuf::from(path);
        return Ok((read_key_file(&path)?, KeySource::File(path)));
    }
    let path = data_dir.join(FALLBACK_KEY_FILE);
    let key = match std::fs::metadata(&path) {
        Ok(_) => read_key_file(&path)?,
        Err(_) if !may_create => return Err(KeyError::Missing),
        Err(_) => {
            let key = Secret::random()?;
            write_key_file(&path, &key)?;
            key
        }
    };
    Ok((key, KeySource::Fallback(path)))
}

pub fn read_key_file(path: &Path) -> Result<Secret, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Secret::from_hex(&text, &path.display().to_string())
}

/// Writes a key file readable by its owner only, synced, and moved into place whole so a
/// crash never leaves half a key. Refuses to replace an existing file.
pub fn write_key_file(path: &Path, key: &Secret) -> Result<(), KeyError> {
    use std::io::Write;
    let error = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it already exists",
        )));
    }
    let partial = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial).map_err(error)?;
    file.write_all(key.to_hex().as_bytes()).map_err(error)?;
    file.write_all(b"\n").map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&partial, path).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Channel;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let key = Secret::random().unwrap();
        let other = Secret::random().unwrap();
        let sealed = key.seal(b"users", b"hello").unwrap();
        assert_eq!(&key.open(b"users", &sealed).unwrap()[..], b"hello");
        assert!(other.open(b"users", &sealed).is_none());
        assert!(key.open(b"alerts", &sealed).is_none());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(key.open(b"users", &damaged).is_none());
        assert!(key.open(b"users", &sealed[..10]).is_none());
        // Random nonces: the same message never seals to the same bytes.
        assert_ne!(sealed, key.seal(b"users", b"hello").unwrap());
    }

    #[test]
    fn hex_keys_round_trip_and_bad_ones_name_their_origin() {
        let key = Secret::random().unwrap();
        let back = Secret::from_hex(&format!("  {}\n", *key.to_hex()), "x").unwrap();
        assert_eq!(back.bytes(), key.bytes());
        for bad in [
            "",
            "abc",
            &"zz".repeat(32),
            &"é".repeat(32),
            &"0".repeat(66),
        ] {
            let err = Secret::from_hex(bad, "/etc/waypoint/key").unwrap_err();
            assert!(err.to_string().contains("/etc/waypoint/key"), "{err}");
        }
    }

    #[test]
    fn a_master_key_is_exactly_64_hex_digits() {
        // `u8::from_str_radix` alone takes "+0": 32 of them would make an all-zero key.
        for bad in [
            "+0".repeat(32),
            "-0".repeat(32),
            format!("+{}", "0".repeat(63)),
        ] {
            assert!(Secret::from_hex(&bad, "x").is_err(), "{bad}");
        }
        let key = Secret::from_hex(&"aB".repeat(32), "x").unwrap();
        assert_eq!(key.bytes(), &[0xab; 32]);
    }

    #[test]
    fn person_ids_depend_on_the_index_key() {
        let (a, b) = (Secret::random().unwrap(), Secret::random().unwrap());
        let ana = UserKey::new(Channel::Telegram, "1");
        let ben = UserKey::new(Channel::Telegram, "12");
        assert_eq!(person_id(&a, &ana), person_id(&a, &ana));
        assert_ne!(person_id(&a, &ana), person_id(&a, &ben));
        assert_ne!(person_id(&a, &ana), person_id(&b, &ana));
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = Secret::random().unwrap();
        write_key_file(&path, &key).unwrap();
        assert_eq!(read_key_file(&path).unwrap().bytes(), key.bytes());
        assert!(write_key_file(&path, &Secret::random().unwrap()).is_err());
        assert_eq!(read_key_file(&path).unwrap().bytes(), key.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
