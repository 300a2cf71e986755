//! The `invites` tree: `sha256(code)` -> invite. Not about any one person.

use chrono::{DateTime, Utc};
use sled::transaction::ConflictableTransactionError;

use super::{Store, StoreError, decode, encode};
use crate::enroll::{Invite, InviteStatus, code_hash};

const INVITES: &str = "invites";

impl Store {
    pub fn put_invite(&self, code: &str, invite: &Invite) -> Result<(), StoreError> {
        self.db
            .open_tree(INVITES)?
            .insert(code_hash(code), encode(invite)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// What presenting `code` at `now` would mean, without using it up.
    pub fn peek_invite(&self, code: &str, now: DateTime<Utc>) -> Result<InviteStatus, StoreError> {
        Ok(match self.db.open_tree(INVITES)?.get(code_hash(code))? {
            Some(bytes) => {
                decode::<Invite>(&bytes).map_or(InviteStatus::Unknown, |i| i.status(now))
            }
            None => InviteStatus::Unknown,
        })
    }

    /// Presents `code` at `now`: a valid invite counts one use, atomically, so two people
    /// racing for the last use cannot both get it.
    pub fn redeem_invite(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<InviteStatus, StoreError> {
        let tree = self.db.open_tree(INVITES)?;
        let key = code_hash(code);
        let result = tree.transaction(|t| {
            let Some(bytes) = t.get(key)? else {
                return Ok(InviteStatus::Unknown);
            };
            let Some(mut invite) = decode::<Invite>(&bytes) else {
                return Ok(InviteStatus::Unknown);
            };
            let status = invite.status(now);
            if matches!(status, InviteStatus::Valid { .. }) {
                // An invite without a limit can be used forever; the count stops at the top.
                invite.uses = invite.uses.saturating_add(1);
                let value = encode(&invite).map_err(ConflictableTransactionError::Abort)?;
                t.insert(&key[..], value)?;
            }
            Ok(status)
        });
        match result {
            Ok(status) => Ok(status),
            Err(sled::transaction::TransactionError::Abort(e)) => Err(e),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Revokes `code`; returns whether there was such an invite.
    pub fn revoke_invite(&self, code: &str) -> Result<bool, StoreError> {
        let tree = self.db.open_tree(INVITES)?;
        let key = code_hash(code);
        let Some(mut invite) = tree.get(key)?.and_then(|b| decode::<Invite>(&b)) else {
            return Ok(false);
        };
        invite.revoked = true;
        tree.insert(key, encode(&invite)?)?;
        self.db.flush()?;
        Ok(true)
    }
}
