//! What a channel without buttons needs: choices as numbered text, and the carrier
//! keywords (STOP, START, HELP) that every texting service must honour.
//!
//! The keywords are decided here like any other turn (pure, content from `messages/`);
//! recognising them in a text, and remembering an opt-out beyond `/forget`, is the SMS
//! channel's part.

use chrono::{DateTime, Utc};

use super::{Change, Engine, Outcome, Reply, Route, Stored, UserRecord, choices, plain};
use crate::content::Msg;
use crate::locale::Locale;
use crate::user::{Channel, UserKey};

/// A carrier keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Opt out of every text, at once; one confirmation and nothing after it.
    Stop,
    /// Opt back in.
    Start,
    /// Who is texting, how often, what it costs, and how to get help now.
    Help,
}

impl Engine {
    /// Appends "Reply 1 Going, 2 Running late, …" to replies with buttons, for channels
    /// that cannot show buttons, numbered on across the replies as
    /// [`choices::numbering`] says. The buttons stay: the channel maps a bare number back
    /// to them.
    pub(super) fn number_choices(&self, channel: Channel, locale: Locale, replies: &mut [Reply]) {
        if channel.has_buttons() {
            return;
        }
        let firsts = choices::numbering(replies);
        for (reply, first) in replies.iter_mut().zip(firsts) {
            let Some(first) = first else { continue };
            let labels: Vec<&str> = reply
                .buttons
                .iter()
                .flatten()
                .map(|b| b.label.as_str())
                .collect();
            // Buttons that are their own numbers (a 1-5 scale) need no list.
            let plain_numbers = labels
                .iter()
                .enumerate()
                .all(|(i, l)| *l == (first + i).to_string());
            let list = if plain_numbers {
                format!("{first}-{}", first + labels.len() - 1)
            } else {
                labels
                    .iter()
                    .enumerate()
                    .map(|(i, label)| format!("{} {label}", first + i))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let line = self
                .content
                .render(locale, Msg::SmsChoices, &[("choices", &list)]);
            reply.text.push_str("\n\n");
            reply.text.push_str(&line);
        }
    }

    /// When a text staff send (a broadcast, a cancellation, a discharge note) may reach
    /// this person: `None` for now, or for SMS outside the sending window, when it opens.
    /// Staff texts are not counted against the caps: staff choose to send them.
    pub fn texting_hold(
        &self,
        user: &UserKey,
        stored: &Stored,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if user.channel != Channel::Sms {
            return None;
        }
        let tz = match stored {
            Stored::Found(record) => self.zone_of(record),
            _ => self.settings.default_timezone,
        };
        let outside = self.settings.schedules.texting.quiet();
        outside
            .contains(tz, now)
            .then(|| outside.end_after(tz, now))
    }

    /// A carrier keyword from this person. `hint` is the keyword's own language, if it
    /// has one (PARAR, AYUDA); a stored person's language wins over it.
    pub fn keyword(
        &self,
        stored: &Stored,
        keyword: Keyword,
        hint: Option<Locale>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let record = match stored {
            Stored::Found(r) => Some(r),
            _ => None,
        };
        let locale = record
            .map(|r| r.locale)
            .or(hint)
            .unwrap_or(self.settings.default_locale);
        let name = self.settings.texting_name.as_str();
        let r = &self.settings.resources;
        let (text, paused) = match keyword {
            Keyword::Stop => (
                self.content.render(
                    locale,
                    Msg::SmsStopped,
                    &[("program", name), ("lifeline", &r.lifeline)],
                ),
                Some(true),
            ),
            Keyword::Start => (
                self.content
                    .render(locale, Msg::SmsStarted, &[("program", name)]),
                Some(false),
            ),
            Keyword::Help => {
                let caps = &self.settings.schedules.texting;
                let clinic = r.clinic_line.clone().unwrap_or_else(|| {
                    self.content.text(locale, Msg::SmsClinicUnknown).to_string()
                });
                let text = self.content.render(
                    locale,
                    Msg::SmsHelp,
                    &[
                        ("program", name),
                        ("per_day", &caps.per_day.to_string()),
                        ("per_week", &caps.per_week.to_string()),
                        ("clinic", &clinic),
                        ("lifeline", &r.lifeline),
                        ("emergency", &r.emergency),
                    ],
                );
                (text, None)
            }
        };
        let change = match (record, paused) {
            (Some(record), Some(paused)) if record.paused != paused => Change::Save {
                record: UserRecord {
                    paused,
                    ..record.clone()
                },
                // An opt-out must hold from the moment it is confirmed.
                durable: true,
            },
            _ => Change::Keep,
        };
        // Carriers require these answers at once, and the STOP confirmation must pass the
        // opt-out it confirms: they travel as urgent replies.
        let mut reply = plain(text);
        reply.urgent = true;
        let outcome = Outcome {
            replies: vec![reply],
            change,
            route: Route::Command,
            locale,
            faq_id: None,
        };
        self.finish(stored, outcome, now)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::content::Content;
    use crate::engine::Settings;

    fn engine() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("messages");
        Engine::new(
            std::sync::Arc::new(Content::load(&dir).unwrap()),
            Settings::default(),
        )
    }

    fn ny(d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::America::New_York
            .with_ymd_and_hms(2026, 12, d, h, 0, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn staff_texts_wait_for_the_sending_window_by_sms_only() {
        let e = engine();
        let sms = UserKey::new(Channel::Sms, "+15551230001");
        let tg = UserKey::new(Channel::Telegram, "1");
        assert_eq!(
            e.texting_hold(&sms, &Stored::Nothing, ny(1, 22)),
            Some(ny(2, 8))
        );
        assert_eq!(
            e.texting_hold(&sms, &Stored::Nothing, ny(2, 6)),
            Some(ny(2, 8))
        );
        assert_eq!(e.texting_hold(&sms, &Stored::Nothing, ny(2, 12)), None);
        assert_eq!(e.texting_hold(&tg, &Stored::Nothing, ny(1, 22)), None);
    }

    #[test]
    fn keyword_answers_are_urgent_and_stop_pauses() {
        let e = engine();
        let record = UserRecord::new(Locale::Es, ny(1, 12));
        let out = e.keyword(&Stored::Found(record), Keyword::Stop, None, ny(1, 12));
        assert!(out.replies.iter().all(|r| r.urgent));
        assert!(
            out.replies[0].text.contains("ya no recibirás"),
            "{:?}",
            out.replies
        );
        match out.change {
            Change::Save { record, durable } => assert!(record.paused && durable),
            other => panic!("{other:?}"),
        }
        let help = e.keyword(&Stored::Nothing, Keyword::Help, None, ny(1, 12));
        assert!(help.replies[0].urgent);
        assert_eq!(help.change, Change::Keep);
    }
}
