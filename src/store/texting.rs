//! What the SMS channel keeps beyond a person's record.
//!
//! - `sms_opt_outs`: `HMAC(index key, "opt-out", user key)` -> the opt-out's date.
//!   Carriers require an opt-out to be honoured for good, so this tree outlives `/forget`;
//!   without the master key (which unwraps the index key) its entries cannot be matched
//!   to a number, not even by trying every number. Stores from before encryption at rest
//!   kept `sha256(salt, …)` instead; those entries are still honoured.
//! - `sms_choices`: `<person id>` -> the numbered questions the person has open
//!   ([`Choices`], sealed), so a bare "2" can answer them after a restart. Keyed like
//!   every record of a person, so `/forget` removes it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, encode};
use crate::engine::choices::Choices;
use crate::user::UserKey;

const OPT_OUTS: &str = "sms_opt_outs";
pub(super) const CHOICES: &str = "sms_choices";

impl Store {
    fn opt_out_key(&self, user: &UserKey) -> [u8; 32] {
        self.index.mac(&[b"opt-out", user.to_string().as_bytes()])
    }

    /// The key an opt-out had before encryption at rest, in a store that had one.
    fn legacy_opt_out_key(&self, user: &UserKey) -> Option<[u8; 32]> {
        let salt = self.legacy_salt?;
        let mut hasher = Sha256::new();
        hasher.update(salt);
        hasher.update(b"opt-out\0");
        hasher.update(user.to_string().as_bytes());
        Some(hasher.finalize().into())
    }

    /// Records (or, with `opted_out = false`, lifts) an opt-out, durably: it must hold
    /// from the confirmation on, even across a crash.
    pub fn set_opted_out(
        &self,
        user: &UserKey,
        opted_out: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tree = self.db.open_tree(OPT_OUTS)?;
        let key = self.opt_out_key(user);
        if opted_out {
            tree.insert(key, encode(&at)?)?;
        } else {
            tree.remove(key)?;
            if let Some(legacy) = self.legacy_opt_out_key(user) {
                tree.remove(legacy)?;
            }
        }
        tree.flush()?;
        Ok(())
    }

    pub fn is_opted_out(&self, user: &UserKey) -> Result<bool, StoreError> {
        let tree = self.db.open_tree(OPT_OUTS)?;
        let legacy = match self.legacy_opt_out_key(user) {
            Some(key) => tree.contains_key(key)?,
            None => false,
        };
        Ok(legacy || tree.contains_key(self.opt_out_key(user))?)
    }

    /// Keeps the questions a person has open.
    pub fn remember_choices(&self, user: &UserKey, open: &Choices) -> Result<(), StoreError> {
        let tree = self.db.open_tree(CHOICES)?;
        let old = tree.get(self.pid(user))?;
        tree.insert(
            self.pid(user),
            self.reseal_for(user, CHOICES, open, old.as_deref())?,
        )?;
        Ok(())
    }

    /// The questions a person has open, if any were kept.
    pub fn choices(&self, user: &UserKey) -> Result<Option<Choices>, StoreError> {
        match self.db.open_tree(CHOICES)?.get(self.pid(user))? {
            Some(value) => self.open_sealed(CHOICES, &value),
            None => Ok(None),
        }
    }
}
