//! Key layouts of the `due` and `members` indexes.

use chrono::{DateTime, Utc};

use super::crypto::PersonId;
use super::{DUE, MEMBERS, Store, StoreError};
use crate::engine::Job;
use crate::user::UserKey;

/// One scheduled moment, read back from the due index. The index names the person only
/// by their person id: [`Store::due_person`] reads who it is from their record, so that
/// scanning the index opens nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub at: DateTime<Utc>,
    person: PersonId,
    pub tag: u8,
}

/// `<millis BE><person id><tag>`: sorted by time, so "what is due" is one range read.
pub(super) fn due_key(pid: &PersonId, job: &Job) -> Vec<u8> {
    raw_due_key(job.at, pid, job.kind.tag())
}

fn raw_due_key(at: DateTime<Utc>, pid: &PersonId, tag: u8) -> Vec<u8> {
    let mut key = Vec::with_capacity(DUE_KEY_LEN);
    key.extend_from_slice(&millis(at).to_be_bytes());
    key.extend_from_slice(pid);
    key.push(tag);
    key
}

const DUE_KEY_LEN: usize = 8 + 16 + 1;

pub(super) fn member_key(program: &str, pid: &PersonId) -> Vec<u8> {
    let mut key = program.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(pid);
    key
}

fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

/// A due key's moment, person and tag.
fn parse_due(key: &[u8]) -> Option<(DateTime<Utc>, PersonId, u8)> {
    if key.len() != DUE_KEY_LEN {
        return None;
    }
    let (time, rest) = key.split_first_chunk::<8>()?;
    let (pid, rest) = rest.split_first_chunk::<16>()?;
    let at = DateTime::from_timestamp_millis(i64::try_from(u64::from_be_bytes(*time)).ok()?)?;
    Some((at, *pid, rest[0]))
}

/// Whether an index key belongs to `pid` (for forgetting a record that cannot be read).
pub(super) fn names_person(tree: &str, key: &[u8], pid: &PersonId) -> bool {
    match tree {
        DUE => parse_due(key).is_some_and(|(_, of, _)| of == *pid),
        MEMBERS => key.ends_with(pid) && key.len() > pid.len() && key[key.len() - 17] == 0,
        _ => false,
    }
}

impl Store {
    /// Scheduled moments at or before `now`, earliest first, at most `limit`.
    pub fn due_until(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        let end = (millis(now) + 1).to_be_bytes();
        self.read_due(self.due.range(..end.as_slice()), limit)
    }

    fn read_due(&self, keys: sled::Iter, limit: usize) -> Result<Vec<DueEntry>, StoreError> {
        let mut out = Vec::new();
        for key in keys.keys().take(limit) {
            let key = key?;
            match parse_due(&key) {
                Some((at, person, tag)) => out.push(DueEntry { at, person, tag }),
                None => {
                    // Not ours to interpret; removing it keeps the scheduler from spinning.
                    tracing::error!("dropping an unreadable due-index key");
                    self.due.remove(key)?;
                }
            }
        }
        Ok(out)
    }

    /// Who a due entry is for; `None` if their record cannot be read.
    pub fn due_person(&self, entry: &DueEntry) -> Result<Option<UserKey>, StoreError> {
        self.user_of(&entry.person)
    }

    /// The earliest scheduled moment, if any: one read, however many people there are.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .due
            .first()?
            .and_then(|(k, _)| parse_due(&k))
            .map(|(at, _, _)| at))
    }

    /// Scheduled moments in `[from, to)`, earliest first.
    pub fn due_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let (a, b) = (millis(from).to_be_bytes(), millis(to).to_be_bytes());
        self.read_due(self.due.range(a.as_slice()..b.as_slice()), usize::MAX)
    }

    /// Everyone enrolled in `program`.
    pub fn members(&self, program: &str) -> Result<Vec<UserKey>, StoreError> {
        let mut prefix = program.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for key in self.members.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(pid) = PersonId::try_from(&key[prefix.len()..]) else {
                continue;
            };
            if let Some(user) = self.user_of(&pid)? {
                out.push(user);
            }
        }
        Ok(out)
    }

    /// Removes one due entry (one whose person no longer holds that job).
    pub fn remove_due(&self, entry: &DueEntry) -> Result<(), StoreError> {
        self.due
            .remove(raw_due_key(entry.at, &entry.person, entry.tag))?;
        Ok(())
    }

    /// How many entries the due index holds (for benchmarks and health).
    pub fn due_len(&self) -> usize {
        self.due.len()
    }
}
