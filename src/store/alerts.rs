//! The `alerts` tree: `<id BE>` -> alert for the staff group, sealed for the person it is
//! about, so `/forget` scans this tree too (by the person id in clear).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::engine::state::EscalationReason;
use crate::user::UserKey;
use chrono::{DateTime, Utc};

pub(super) const ALERTS: &str = "alerts";

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
        let tree = self.db.open_tree(ALERTS)?;
        let mut out = Vec::with_capacity(alerts.len());
        for mut alert in alerts {
            // Short ids: staff type and read them ("#12").
            alert.id = self.db.generate_id()? + 1;
            tree.insert(
                alert.id.to_be_bytes(),
                self.seal_for(&alert.user, ALERTS, &alert)?,
            )?;
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
            if let Some(alert) = self.open_sealed::<Alert>(ALERTS, &value)? {
                out.push(alert);
            }
        }
        Ok(out)
    }

    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        match self.db.open_tree(ALERTS)?.get(id.to_be_bytes())? {
            Some(value) => self.open_sealed(ALERTS, &value),
            None => Ok(None),
        }
    }

    pub fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.db.open_tree(ALERTS)?.insert(
            alert.id.to_be_bytes(),
            self.seal_for(&alert.user, ALERTS, alert)?,
        )?;
        Ok(())
    }

    /// A staff-group post carrying these alerts could not be delivered: they wait to be
    /// posted again (a crisis message's words, already dropped from the store, are not
    /// in the new post).
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
        self.db.open_tree(ALERTS)?.remove(id.to_be_bytes())?;
        Ok(())
    }
}
