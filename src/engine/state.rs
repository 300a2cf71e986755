//! What Waypoint keeps about a person who has agreed to it — and nothing else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::locale::Locale;

/// The stored record of one consented person. Before consent there is no record at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub locale: Locale,
    pub consented_at: DateTime<Utc>,
    /// An IANA zone name, validated when set.
    pub timezone: Option<String>,
    /// Set by /stop: no proactive message (reminder, check-in) goes out.
    pub paused: bool,
    /// Set when the channel reports the person unreachable (blocked the bot, deactivated).
    #[serde(default)]
    pub unreachable: bool,
    /// Whether the person agreed, at enrollment, that their care team may be told of a
    /// crisis. Only then does the crisis reply offer to let the team know.
    #[serde(default)]
    pub care_team_consent: bool,
    /// Requests for the care team to reach out, newest last; staff delivery reads these.
    #[serde(default)]
    pub outreach_requests: Vec<OutreachRequest>,
    #[serde(default)]
    pub dialogue: Dialogue,
}

impl UserRecord {
    pub fn new(locale: Locale, consented_at: DateTime<Utc>) -> Self {
        Self {
            locale,
            consented_at,
            timezone: None,
            paused: false,
            unreachable: false,
            care_team_consent: false,
            outreach_requests: Vec::new(),
            dialogue: Dialogue::AwaitingTimezone,
        }
    }
}

/// An open question the next message may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dialogue {
    #[default]
    Idle,
    AwaitingTimezone,
    ConfirmForget,
}

/// A person's request that someone from their care team reach out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutreachRequest {
    pub at: DateTime<Utc>,
    pub reason: OutreachReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutreachReason {
    Crisis,
    Support,
}
