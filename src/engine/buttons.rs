//! What a button press means. Button data is short text (Telegram allows 1–64 bytes), and
//! it comes back from the outside world, so parsing never trusts it: anything unknown or
//! malformed is `None` and gets a polite "that button is no longer active".

use crate::engine::state::{OutreachReason, RsvpAnswer, UseAnswer};
use crate::locale::Locale;

/// Telegram's limit on `callback_data`.
pub const MAX_DATA_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `invite`: the code from `/start <code>`, carried through consent.
    Consent {
        agree: bool,
        locale: Locale,
        invite: Option<String>,
    },
    /// Whether the care team may see the text of a crisis message.
    ShareText(bool),
    Timezone(String),
    Language(Locale),
    Forget {
        confirm: bool,
    },
    Safe(bool),
    /// "I need help now", from the "are you safe?" check: the full crisis reply.
    NeedHelp,
    Outreach {
        want: bool,
        reason: OutreachReason,
    },
    FaqTopic(String),
    FaqEntry(String),
    Program(String),
    /// An answer to the reminder of the session starting at `session` (Unix minutes).
    Rsvp {
        session: i64,
        answer: RsvpAnswer,
    },
    Mood(u8),
    /// Staff: claim (`claim`) or close an alert.
    Alert {
        claim: bool,
        id: u64,
    },
    /// Staff: send (or drop) the previewed broadcast.
    Broadcast(bool),
    Used(UseAnswer),
    ReachOut(bool),
}

impl Action {
    pub fn encode(&self) -> String {
        let yes_no = |b: bool| if b { "y" } else { "n" };
        let data = match self {
            Action::Consent {
                agree,
                locale,
                invite: None,
            } => format!("c:{}:{}", yes_no(*agree), locale.code()),
            Action::Consent {
                agree,
                locale,
                invite: Some(code),
            } => format!("c:{}:{}:{code}", yes_no(*agree), locale.code()),
            Action::ShareText(share) => format!("x:{}", yes_no(*share)),
            Action::Timezone(name) => format!("tz:{name}"),
            Action::Language(locale) => format!("l:{}", locale.code()),
            Action::Forget { confirm } => format!("f:{}", yes_no(*confirm)),
            Action::Safe(safe) => format!("s:{}", yes_no(*safe)),
            Action::NeedHelp => "s:h".to_string(),
            Action::Outreach { want, reason } => format!(
                "o:{}:{}",
                yes_no(*want),
                match reason {
                    OutreachReason::Crisis => "c",
                    OutreachReason::Support => "s",
                }
            ),
            Action::FaqTopic(id) => format!("t:{id}"),
            Action::FaqEntry(id) => format!("q:{id}"),
            Action::Program(id) => format!("p:{id}"),
            Action::Rsvp { session, answer } => format!(
                "v:{session}:{}",
                match answer {
                    RsvpAnswer::Going => "g",
                    RsvpAnswer::Late => "l",
                    RsvpAnswer::Absent => "a",
                }
            ),
            Action::Mood(score) => format!("k:m:{score}"),
            Action::Alert { claim, id } => format!("a:{}:{id}", if *claim { "c" } else { "d" }),
            Action::Broadcast(send) => format!("b:{}", yes_no(*send)),
            Action::Used(answer) => format!(
                "k:u:{}",
                match answer {
                    UseAnswer::Yes => "y",
                    UseAnswer::No => "n",
                    UseAnswer::Undisclosed => "p",
                }
            ),
            Action::ReachOut(want) => format!("k:r:{}", yes_no(*want)),
        };
        debug_assert!(data.len() <= MAX_DATA_BYTES, "button data too long: {data}");
        data
    }

    pub fn decode(data: &str) -> Option<Action> {
        if data.is_empty() || data.len() > MAX_DATA_BYTES {
            return None;
        }
        let yes_no = |s: &str| match s {
            "y" => Some(true),
            "n" => Some(false),
            _ => None,
        };
        let mut parts = data.splitn(3, ':');
        let kind = parts.next()?;
        let first = parts.next()?;
        let second = parts.next();
        Some(match (kind, second) {
            ("c", Some(rest)) => {
                let (code, invite) = match rest.split_once(':') {
                    Some((code, invite)) if crate::enroll::looks_like_code(invite) => {
                        (code, Some(invite.to_string()))
                    }
                    Some(_) => return None,
                    None => (rest, None),
                };
                Action::Consent {
                    agree: yes_no(first)?,
                    locale: Locale::from_tag(code)?,
                    invite,
                }
            }
            ("x", None) => Action::ShareText(yes_no(first)?),
            ("a", Some(id)) => Action::Alert {
                claim: match first {
                    "c" => true,
                    "d" => false,
                    _ => return None,
                },
                id: id.parse().ok()?,
            },
            ("b", None) => Action::Broadcast(yes_no(first)?),
            ("tz", None) => Action::Timezone(first.to_string()),
            ("tz", Some(rest)) => Action::Timezone(format!("{first}:{rest}")),
            ("l", None) => Action::Language(Locale::from_tag(first)?),
            ("f", None) => Action::Forget {
                confirm: yes_no(first)?,
            },
            ("s", None) if first == "h" => Action::NeedHelp,
            ("s", None) => Action::Safe(yes_no(first)?),
            ("t", None) if !first.is_empty() => Action::FaqTopic(first.to_string()),
            ("q", None) if !first.is_empty() => Action::FaqEntry(first.to_string()),
            ("o", Some(reason)) => Action::Outreach {
                want: yes_no(first)?,
                reason: match reason {
                    "c" => OutreachReason::Crisis,
                    "s" => OutreachReason::Support,
                    _ => return None,
                },
            },
            ("p", None) if !first.is_empty() => Action::Program(first.to_string()),
            ("v", Some(answer)) => Action::Rsvp {
                session: first.parse().ok()?,
                answer: match answer {
                    "g" => RsvpAnswer::Going,
                    "l" => RsvpAnswer::Late,
                    "a" => RsvpAnswer::Absent,
                    _ => return None,
                },
            },
            ("k", Some(value)) => match first {
                "m" => match value.parse::<u8>().ok()? {
                    score @ 1..=5 => Action::Mood(score),
                    _ => return None,
                },
                "u" => Action::Used(match value {
                    "y" => UseAnswer::Yes,
                    "n" => UseAnswer::No,
                    "p" => UseAnswer::Undisclosed,
                    _ => return None,
                }),
                "r" => Action::ReachOut(yes_no(value)?),
                _ => return None,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_within_the_limit() {
        let actions = [
            Action::Consent {
                agree: true,
                locale: Locale::Es,
                invite: None,
            },
            Action::Consent {
                agree: false,
                locale: Locale::En,
                invite: None,
            },
            Action::Consent {
                agree: true,
                locale: Locale::En,
                invite: Some("AbCdEfGhIjKlMnOp".into()),
            },
            Action::ShareText(false),
            Action::Alert {
                claim: true,
                id: 18_446_744_073_709_551_615,
            },
            Action::Broadcast(true),
            Action::Timezone("America/Argentina/ComodRivadavia".into()),
            Action::Language(Locale::Es),
            Action::Forget { confirm: true },
            Action::Safe(false),
            Action::NeedHelp,
            Action::Outreach {
                want: true,
                reason: OutreachReason::Crisis,
            },
            Action::Outreach {
                want: false,
                reason: OutreachReason::Support,
            },
            Action::Program("tue-eve_2".into()),
            Action::Rsvp {
                session: 29_400_000,
                answer: RsvpAnswer::Absent,
            },
            Action::Mood(1),
            Action::Used(UseAnswer::Undisclosed),
            Action::ReachOut(true),
        ];
        for action in actions {
            let data = action.encode();
            assert!(data.len() <= MAX_DATA_BYTES);
            assert_eq!(Action::decode(&data), Some(action));
        }
    }

    #[test]
    fn forged_data_is_refused() {
        for data in [
            "",
            "x",
            "c:maybe:en",
            "c:y:fr",
            "c:y:en:bad code",
            "x:maybe",
            "f:",
            "s:yes",
            "s:hh",
            "o:y:z",
            "l:de",
            "k:m:0",
            "k:m:6",
            "k:u:maybe",
            "v:soon:g",
            "v:123:x",
            "p:",
            &"tz:".repeat(30),
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
