//! Who a message is from: a channel plus that channel's own id for the person.
//!
//! Keys are how the store finds every record of a person, so their text form is stable:
//! `tg:<chat id>`, `term:<name>`, `sms:<number>`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    Telegram,
    Terminal,
    Sms,
}

impl Channel {
    /// The channel's name in metrics and health reports.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Terminal => "terminal",
            Channel::Sms => "sms",
        }
    }

    /// Whether replies can carry buttons; SMS shows choices as numbered text instead.
    pub fn has_buttons(self) -> bool {
        !matches!(self, Channel::Sms)
    }

    fn prefix(self) -> &'static str {
        match self {
            Channel::Telegram => "tg",
            Channel::Terminal => "term",
            Channel::Sms => "sms",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserKey {
    pub channel: Channel,
    pub id: String,
}

impl UserKey {
    pub fn new(channel: Channel, id: impl Into<String>) -> Self {
        Self {
            channel,
            id: id.into(),
        }
    }

    /// Parses the text form; `None` if the prefix is unknown or the id empty.
    pub fn parse(text: &str) -> Option<UserKey> {
        let (prefix, id) = text.split_once(':')?;
        let channel = [Channel::Telegram, Channel::Terminal, Channel::Sms]
            .into_iter()
            .find(|c| c.prefix() == prefix)?;
        (!id.is_empty()).then(|| UserKey::new(channel, id))
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel.prefix(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        for key in [
            UserKey::new(Channel::Telegram, "-100123"),
            UserKey::new(Channel::Terminal, "ana"),
            UserKey::new(Channel::Sms, "+15551234567"),
        ] {
            assert_eq!(UserKey::parse(&key.to_string()), Some(key));
        }
        assert_eq!(UserKey::parse("fax:1"), None);
        assert_eq!(UserKey::parse("tg:"), None);
    }
}
