//! `waypoint keygen` and `waypoint rotate-key`: making and changing the master key.

use std::path::Path;

use crate::store::crypto::{self, KeyError, KeySource, Secret};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Writes a new random master key to `file` (owner-only, never over an existing file).
pub fn keygen(file: &Path) -> Result<String, KeysError> {
    crypto::write_key_file(file, &Secret::random()?)?;
    Ok(format!(
        "wrote a new master key to {0}\nuse it with: WAYPOINT_MASTER_KEY_FILE={0}\nkeep a copy apart from the data and its backups: without it they cannot be read\n",
        file.display()
    ))
}

/// Re-wraps the store in `data_dir` under the key in `new_file` (made there if missing),
/// checks that the new key opens it (an interrupted run is finished by running it again), and removes a fallback key file that no longer
/// opens anything.
pub fn rotate(data_dir: &Path, new_file: &Path) -> Result<String, KeysError> {
    let store = Store::open(data_dir)?;
    let old = store.key_source().clone();
    let new = if new_file.exists() {
        crypto::read_key_file(new_file)?
    } else {
        let key = Secret::random()?;
        crypto::write_key_file(new_file, &key)?;
        key
    };
    let rotation = store.rotate_master_key(&new)?;
    Store::open_with_key(data_dir, new)?;
    let mut report = format!(
        "re-wrapped the index key, {} data keys and {} keys of single values under the key in {}",
        rotation.rewrapped,
        rotation.values,
        new_file.display()
    );
    if rotation.unreadable > 0 {
        report.push_str(&format!(
            "; {} damaged data keys could not be opened and were left as they were",
            rotation.unreadable
        ));
    }
    report.push_str(&format!(
        "\nfrom now on start Waypoint with WAYPOINT_MASTER_KEY_FILE={}\n",
        new_file.display()
    ));
    match old {
        KeySource::Fallback(path) if path != new_file => {
            std::fs::remove_file(&path).map_err(|source| KeyError::Write {
                path: path.clone(),
                source,
            })?;
            report.push_str(&format!("removed the old key file {}\n", path.display()));
        }
        old => report.push_str(&format!(
            "the old key ({old}) no longer opens this store: destroy it once a backup under the new key exists\n"
        )),
    }
    Ok(report)
}
