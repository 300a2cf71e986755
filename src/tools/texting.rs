//! `waypoint check`'s texting table: how the messages people get by SMS travel — GSM-7 or
//! UCS-2, how long, how many segments — with sample values in their placeholders and the
//! numbered choices added as the SMS channel adds them. Texts beyond two segments cost
//! more and arrive in parts; the table shows which ones to shorten.

use crate::content::{Content, Msg};
use crate::engine::Settings;
use crate::locale::Locale;
use crate::sms::segments::{Encoding, segments};

/// The texts an SMS user meets most, with sample placeholder values and the buttons that
/// become numbered choices.
/// How a sample's choices read: labelled buttons, or a plain number scale.
enum Choices {
    None,
    Labels(Vec<Msg>),
    Scale(usize),
}

/// A text, its placeholder values and its choices.
type Sample = (Msg, Vec<(&'static str, String)>, Choices);

fn samples(settings: &Settings) -> Vec<Sample> {
    let program = settings
        .schedules
        .programs
        .first()
        .map_or_else(|| "Evening group".to_string(), |p| p.name.clone());
    let r = &settings.resources;
    let caps = &settings.schedules.texting;
    let clinic = r
        .clinic_line
        .clone()
        .unwrap_or_else(|| "+1 555 010 0100".into());
    vec![
        (
            Msg::SmsWelcome,
            vec![
                ("program", settings.texting_name.clone()),
                ("emergency", r.emergency.clone()),
                ("lifeline", r.lifeline.clone()),
            ],
            Choices::None,
        ),
        (
            Msg::SmsConsent,
            vec![("per_day", caps.per_day.to_string())],
            Choices::Labels(vec![Msg::BtnAgree, Msg::BtnNotNow]),
        ),
        (
            Msg::Reminder,
            vec![
                ("name", program.clone()),
                ("when", "tonight".into()),
                ("time", "6:00 PM".into()),
                ("place", "Room 2".into()),
            ],
            Choices::Labels(vec![Msg::BtnGoing, Msg::BtnLate, Msg::BtnAbsent]),
        ),
        (
            Msg::SessionCancelled,
            vec![
                ("name", program),
                ("when", "tomorrow".into()),
                ("time", "6:00 PM".into()),
            ],
            Choices::None,
        ),
        (Msg::CheckinMood, vec![], Choices::Scale(5)),
        (
            Msg::CheckinUse,
            vec![],
            Choices::Labels(vec![Msg::BtnYes, Msg::BtnNo, Msg::BtnPreferNot]),
        ),
        (
            Msg::MilestoneDays,
            vec![("days", "30".into())],
            Choices::None,
        ),
        (
            Msg::SmsStopped,
            vec![
                ("program", settings.texting_name.clone()),
                ("lifeline", r.lifeline.clone()),
            ],
            Choices::None,
        ),
        (
            Msg::SmsStarted,
            vec![("program", settings.texting_name.clone())],
            Choices::None,
        ),
        (
            Msg::SmsHelp,
            vec![
                ("program", settings.texting_name.clone()),
                ("per_day", caps.per_day.to_string()),
                ("per_week", caps.per_week.to_string()),
                ("clinic", clinic),
                ("lifeline", r.lifeline.clone()),
                ("emergency", r.emergency.clone()),
            ],
            Choices::None,
        ),
    ]
}

/// The table, one line per locale and text.
pub fn report(content: &Content, settings: &Settings) -> String {
    let mut out =
        String::from("texts by SMS (encoding, characters, segments; two or fewer is the aim):\n");
    let mut long = Vec::new();
    for locale in Locale::ALL {
        for (msg, params, buttons) in samples(settings) {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut text = content.render(locale, msg, &params);
            let list = match buttons {
                Choices::None => None,
                Choices::Scale(n) => Some(format!("1-{n}")),
                Choices::Labels(labels) => Some(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(i, b)| format!("{} {}", i + 1, content.text(locale, *b)))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            };
            if let Some(list) = list {
                text.push_str("\n\n");
                text.push_str(&content.render(locale, Msg::SmsChoices, &[("choices", &list)]));
            }
            let friendly = crate::sms::segments::gsm_friendly(&text);
            let s = segments(&friendly);
            let encoding = match s.encoding {
                Encoding::Gsm7 => "GSM-7",
                Encoding::Ucs2 => "UCS-2",
            };
            out.push_str(&format!(
                "  {} {:<20} {encoding} {:>5} {:>2}{}\n",
                locale.code(),
                msg.key(),
                friendly.chars().count(),
                s.count,
                if s.count > 2 { "  <- long" } else { "" }
            ));
            if s.count > 2 {
                long.push(format!("{}/{}", locale.code(), msg.key()));
            }
        }
    }
    if !long.is_empty() {
        out.push_str(&format!(
            "  {} of these need three or more segments: {}\n",
            long.len(),
            long.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_every_locale_and_counts_segments() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("messages");
        let content = Content::load(&dir).unwrap();
        let table = report(&content, &Settings::default());
        for locale in Locale::ALL {
            assert!(
                table.contains(&format!("  {} reminder ", locale.code())),
                "{table}"
            );
            assert!(table.contains(&format!("  {} sms_help ", locale.code())));
        }
        // The English reminder is plain GSM-7 once typographic quotes are replaced.
        let line = table
            .lines()
            .find(|l| l.starts_with("  en reminder "))
            .unwrap();
        assert!(line.contains("GSM-7"), "{line}");
    }
}
