//! The languages Waypoint speaks. Every locale has a complete `messages/<code>/` folder.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Es,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Es];

    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
        }
    }

    /// Reads a language tag such as Telegram's `language_code` ("es", "es-MX", "en-US").
    /// Unknown or missing tags give `None`, and callers fall back to their default.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        Locale::ALL.into_iter().find(|l| l.code() == primary)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_pick_a_locale() {
        assert_eq!(Locale::from_tag("es-MX"), Some(Locale::Es));
        assert_eq!(Locale::from_tag("EN_us"), Some(Locale::En));
        assert_eq!(Locale::from_tag("fr"), None);
        assert_eq!(Locale::from_tag(""), None);
    }
}

/// Short, frequent words that tell Spanish from English in a chat message.
const SPANISH_CUES: &[&str] = &[
    "que", "de", "el", "la", "los", "las", "es", "y", "en", "un", "una", "por", "para", "con",
    "mi", "yo", "tengo", "esta", "estoy", "como", "cuanto", "cuantos", "cuantas", "donde",
    "cuando", "puedo", "hay", "del", "al", "se", "lo", "mas", "pero", "muy", "quiero", "hola",
    "gracias", "semana", "horas", "dias", "programa", "ya", "si", "tambien", "eso",
];
const ENGLISH_CUES: &[&str] = &[
    "the", "and", "is", "i", "to", "of", "my", "in", "it", "you", "what", "how", "do", "does",
    "can", "im", "for", "on", "have", "this", "that", "with", "are", "be", "will", "just", "so",
    "if", "about", "long", "hi", "hello", "thanks", "week", "hours", "days",
];

impl Locale {
    /// A guess at the language of a short message, only when the evidence is clear;
    /// `None` leaves the person's own setting in force.
    pub fn guess(text: &str) -> Option<Locale> {
        let mut es = 0usize;
        let mut en = 0usize;
        let lowered = text.to_lowercase();
        if lowered.contains(['¿', '¡', 'ñ']) {
            es += 2;
        }
        for word in crate::safety::normalize::words(text) {
            es += usize::from(SPANISH_CUES.contains(&word.as_str()));
            en += usize::from(ENGLISH_CUES.contains(&word.as_str()));
        }
        match es.cmp(&en) {
            std::cmp::Ordering::Greater if es >= 1 => Some(Locale::Es),
            std::cmp::Ordering::Less if en >= 1 => Some(Locale::En),
            _ => None,
        }
    }
}

#[cfg(test)]
mod guess_tests {
    use super::*;

    #[test]
    fn clear_messages_are_recognised() {
        assert_eq!(
            Locale::guess("¿cuántas horas a la semana son?"),
            Some(Locale::Es)
        );
        assert_eq!(Locale::guess("how long does it last"), Some(Locale::En));
        assert_eq!(Locale::guess("ok"), None);
        // Words both languages share decide nothing.
        assert_eq!(Locale::guess("no"), None);
        assert_eq!(Locale::guess("me"), None);
    }
}
