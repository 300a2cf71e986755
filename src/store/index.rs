//! Key layouts of the `due` and `members` indexes.

use chrono::{DateTime, Utc};

use super::{DUE, MEMBERS, Store, StoreError};
use crate::engine::Job;
use crate::user::UserKey;

/// One scheduled moment, read back from the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub at: DateTime<Utc>,
    pub user: UserKey,
    pub tag: u8,
}

/// `<millis BE><user key>\0<tag>`: sorted by time, so "what is due" is one range read.
pub(super) fn due_key(user: &UserKey, job: &Job) -> Vec<u8> {
    let user = user.to_string();
    let mut key = Vec::with_capacity(8 + user.len() + 2);
    key.extend_from_slice(&millis(job.at).to_be_bytes());
    key.extend_from_slice(user.as_bytes());
    key.push(0);
    key.push(job.kind.tag());
    key
}

pub(super) fn member_key(program: &str, user: &UserKey) -> Vec<u8> {
    let mut key = program.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(user.to_string().as_bytes());
    key
}

fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn parse_due(key: &[u8]) -> Option<DueEntry> {
    let (time, rest) = key.split_first_chunk::<8>()?;
    let (&tag, rest) = rest.split_last()?;
    let user = std::str::from_utf8(rest.strip_suffix(&[0])?).ok()?;
    Some(DueEntry {
        at: DateTime::from_timestamp_millis(i64::try_from(u64::from_be_bytes(*time)).ok()?)?,
        user: UserKey::parse(user)?,
        tag,
    })
}

/// Whether an index key belongs to `user` (for forgetting a record that cannot be read).
pub(super) fn names_user(tree: &str, key: &[u8], user: &UserKey) -> bool {
    match tree {
        DUE => parse_due(key).is_some_and(|e| e.user == *user),
        MEMBERS => key
            .iter()
            .position(|&b| b == 0)
            .is_some_and(|i| key[i + 1..] == *user.to_string().as_bytes()),
        _ => false,
    }
}

impl Store {
    /// Scheduled moments at or before `now`, earliest first, at most `limit`.
    pub fn due_until(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        let end = (millis(now) + 1).to_be_bytes();
        let mut out = Vec::new();
        for key in self.due.range(..end.as_slice()).keys().take(limit) {
            let key = key?;
            match parse_due(&key) {
                Some(entry) => out.push(entry),
                None => {
                    // Not ours to interpret; removing it keeps the scheduler from spinning.
                    tracing::error!("dropping an unreadable due-index key");
                    self.due.remove(key)?;
                }
            }
        }
        Ok(out)
    }

    /// The earliest scheduled moment, if any: one read, however many people there are.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .due
            .first()?
            .and_then(|(k, _)| parse_due(&k))
            .map(|e| e.at))
    }

    /// Scheduled moments in `[from, to)`, earliest first.
    pub fn due_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let (a, b) = (millis(from).to_be_bytes(), millis(to).to_be_bytes());
        let mut out = Vec::new();
        for key in self.due.range(a.as_slice()..b.as_slice()).keys() {
            if let Some(entry) = parse_due(&key?) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Everyone enrolled in `program`.
    pub fn members(&self, program: &str) -> Result<Vec<UserKey>, StoreError> {
        let mut prefix = program.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for key in self.members.scan_prefix(&prefix).keys() {
            let key = key?;
            if let Some(user) = std::str::from_utf8(&key[prefix.len()..])
                .ok()
                .and_then(UserKey::parse)
            {
                out.push(user);
            }
        }
        Ok(out)
    }

    /// Removes one due entry (one whose person no longer holds that job).
    pub fn remove_due(&self, entry: &DueEntry) -> Result<(), StoreError> {
        let mut key = millis(entry.at).to_be_bytes().to_vec();
        key.extend_from_slice(entry.user.to_string().as_bytes());
        key.push(0);
        key.push(entry.tag);
        self.due.remove(key)?;
        Ok(())
    }

    /// How many entries the due index holds (for benchmarks and health).
    pub fn due_len(&self) -> usize {
        self.due.len()
    }
}
