//! The `alerts` tree: `<id BE>` -> alert for the staff group, sealed for the person it is
//! about, so `/forget` scans this tree too (by the person id in clear).
//!
//! The words of a crisis message, when the person agreed to share them, are kept apart in
//! `alert_words` (`<id BE>` -> the words), sealed under a key of their own that is
//! destroyed when the alert is posted: from then on no copy of them in the store opens.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::engine::state::EscalationReason;
use crate::user::UserKey;
use chrono::{DateTime, Utc};

pub(super) const ALERTS: &str = "alerts";
pub(super) const ALERT_WORDS: &str = "alert_words";

/// Something staff should follow up, as the staff group sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub user: UserKey,
    /// What staff see instead of a name or chat id.
    pub alias: String,
    pub program: Option<String>,
    pub reason: EscalationReason,
    pub at: DateTime<Utc>,
    /// The crisis message's words, only if the person agreed to share them.
    pub text: Option<String>,
    pub claimed_by: Option<String>,
    pub done: bool,
    /// Posted to the staff group.
    pub posted: bool,
}

impl Store {
    /// Files new alerts (their ids are assigned here). Returns them with ids.
    pub fn add_alerts(&self, alerts: Vec<Alert>) -> Result<Vec<Alert>, StoreError> {
        let mut out = Vec::with_capacity(alerts.len());
        for mut alert in alerts {
            // Short ids: staff type and read them ("#12").
            alert.id = self.db.generate_id()? + 1;
            self.put_alert(&alert)?;
            out.push(alert);
        }
        if !out.is_empty() {
            self.db.flush()?;
        }
        Ok(out)
    }

    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.open_tree(ALERTS)?.iter() {
            let (_, value) = entry?;
            if let Some(alert) = self.open_alert(&value)? {
                out.push(alert);
            }
        }
        Ok(out)
    }

    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        match self.db.open_tree(ALERTS)?.get(id.to_be_bytes())? {
            Some(value) => self.open_alert(&value),
            None => Ok(None),
        }
    }

    /// An alert with its words, if they are still kept.
    fn open_alert(&self, value: &[u8]) -> Result<Option<Alert>, StoreError> {
        let Some(mut alert) = self.open_sealed::<Alert>(ALERTS, value)? else {
            return Ok(None);
        };
        if alert.text.is_none()
            && let Some(words) = self
                .db
                .open_tree(ALERT_WORDS)?
                .get(alert.id.to_be_bytes())?
        {
            alert.text = self.open_sealed(ALERT_WORDS, &words)?;
        }
        Ok(Some(alert))
    }

    /// Stores `alert`; its words (if any) under a key of their own. Words it no longer
    /// carries are destroyed with their key.
    pub fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let words = self.db.open_tree(ALERT_WORDS)?;
        let key = alert.id.to_be_bytes();
        let old = words.get(key)?;
        match &alert.text {
            Some(text) => {
                let sealed = self.seal_alone(&alert.user, ALERT_WORDS, text, old.as_deref())?;
                words.insert(key, sealed)?;
            }
            None => {
                if let Some(old) = old {
                    self.retire([old.as_ref()])?;
                    words.remove(key)?;
                }
            }
        }
        let without = Alert {
            text: None,
            ..alert.clone()
        };
        self.db
            .open_tree(ALERTS)?
            .insert(key, self.seal_for(&alert.user, ALERTS, &without)?)?;
        Ok(())
    }

    /// A staff-group post carrying these alerts could not be delivered: they wait to be
    /// posted again (a crisis message's words, already destroyed, are not in the new
    /// post).
    pub fn unpost_alerts(&self, ids: &[u64]) -> Result<(), StoreError> {
        for id in ids {
            if let Some(mut alert) = self.alert(*id)? {
                alert.posted = false;
                self.put_alert(&alert)?;
            }
        }
        Ok(())
    }

    /// Removes an alert (one staff closed long ago).
    pub fn remove_alert(&self, id: u64) -> Result<(), StoreError> {
        let key = id.to_be_bytes();
        let words = self.db.open_tree(ALERT_WORDS)?;
        if let Some(old) = words.get(key)? {
            self.retire([old.as_ref()])?;
            words.remove(key)?;
        }
        self.db.open_tree(ALERTS)?.remove(key)?;
        Ok(())
    }
}
