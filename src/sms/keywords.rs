//! Reading a text the way carriers do: a whole message that is one keyword (STOP, HELP,
//! START and their Spanish forms), or a bare number answering numbered choices.
//!
//! Case, surrounding spaces, accents and trailing punctuation do not matter; a keyword
//! inside a sentence ("please stop texting me at work") is not a keyword — the carriers
//! match the same way, so the person's phone company and Waypoint agree on who opted out.

use unicode_normalization::UnicodeNormalization;

use crate::engine::Keyword;
use crate::locale::Locale;

/// Opt-out words: the carriers' standard list, and Spanish ones.
const STOP: &[(&str, Option<Locale>)] = &[
    ("STOP", None),
    ("STOPALL", None),
    ("STOP ALL", None),
    ("UNSUBSCRIBE", None),
    ("CANCEL", None),
    ("END", None),
    ("QUIT", None),
    ("REVOKE", None),
    ("OPTOUT", None),
    ("OPT OUT", None),
    ("PARAR", Some(Locale::Es)),
    ("ALTO", Some(Locale::Es)),
    ("DETENER", Some(Locale::Es)),
    ("CANCELAR", Some(Locale::Es)),
    ("BAJA", Some(Locale::Es)),
];

const START: &[(&str, Option<Locale>)] = &[
    ("START", None),
    ("UNSTOP", None),
    ("SUBSCRIBE", None),
    ("COMENZAR", Some(Locale::Es)),
    ("INICIAR", Some(Locale::Es)),
    ("ALTA", Some(Locale::Es)),
];

const HELP: &[(&str, Option<Locale>)] =
    &[("HELP", None), ("INFO", None), ("AYUDA", Some(Locale::Es))];

/// The keyword a whole message is, with its language when the word has one.
pub fn keyword(text: &str) -> Option<(Keyword, Option<Locale>)> {
    let folded = fold(text);
    if folded.is_empty() || folded.len() > 16 {
        return None;
    }
    [
        (Keyword::Stop, STOP),
        (Keyword::Start, START),
        (Keyword::Help, HELP),
    ]
    .into_iter()
    .find_map(|(keyword, words)| {
        words
            .iter()
            .find(|(word, _)| *word == folded)
            .map(|(_, locale)| (keyword, *locale))
    })
}

/// The invite code in "JOIN XXXX-XXXX-XXXX" (or UNIRME, or the bare dashed code), in
/// canonical form.
pub fn invite(text: &str) -> Option<String> {
    let text = text.trim();
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let code = if ["JOIN", "UNIRME", "UNIR"].contains(&fold(first).as_str()) {
        rest.trim()
    } else if text.len() == 14 && text.matches('-').count() == 2 {
        text
    } else {
        return None;
    };
    crate::enroll::sms_code(code)
}

/// A bare choice number ("2", "2.", "#2", " 2 ", "2️⃣"), 1-based.
pub fn choice(text: &str) -> Option<usize> {
    let trimmed = text
        .trim()
        .trim_start_matches('#')
        .trim_end_matches(['.', ')', '!', '\u{fe0f}', '\u{20e3}'])
        .trim();
    if trimmed.is_empty() || trimmed.len() > 2 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok().filter(|n| *n >= 1)
}

/// Upper case, accents off, inner spaces single, punctuation at the ends gone.
fn fold(text: &str) -> String {
    let bare: String = text
        .nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .collect();
    let words: Vec<&str> = bare
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect();
    words.join(" ").to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_keywords_in_any_case_and_both_languages() {
        for text in [
            "STOP",
            "stop",
            " Stop. ",
            "StopAll",
            "unsubscribe",
            "Cancel",
            "end",
            "QUIT!",
        ] {
            assert_eq!(keyword(text), Some((Keyword::Stop, None)), "{text}");
        }
        for text in ["parar", "Alto", "ALTO!", "detener", "Cancelar"] {
            assert_eq!(
                keyword(text),
                Some((Keyword::Stop, Some(Locale::Es))),
                "{text}"
            );
        }
        assert_eq!(keyword("start"), Some((Keyword::Start, None)));
        assert_eq!(keyword("Unstop"), Some((Keyword::Start, None)));
        assert_eq!(
            keyword("comenzar"),
            Some((Keyword::Start, Some(Locale::Es)))
        );
        assert_eq!(keyword("HELP"), Some((Keyword::Help, None)));
        assert_eq!(keyword("help?"), Some((Keyword::Help, None)));
        assert_eq!(keyword("Ayúda"), Some((Keyword::Help, Some(Locale::Es))));
    }

    #[test]
    fn keywords_inside_sentences_are_ordinary_text() {
        for text in [
            "please stop",
            "stop texting me at work",
            "I need help",
            "help me",
            "start over",
            "alto riesgo",
            "",
            "   ",
            "stopp",
        ] {
            assert_eq!(keyword(text), None, "{text:?}");
        }
    }

    #[test]
    fn invite_keywords_carry_a_code() {
        assert_eq!(
            invite("JOIN 7KQ2-M9XD-A3B4").as_deref(),
            Some("7KQ2M9XDA3B4")
        );
        assert_eq!(
            invite("join 7kq2-m9xd-a3b4").as_deref(),
            Some("7KQ2M9XDA3B4")
        );
        assert_eq!(
            invite("Unirme 7KQ2M9XDA3B4").as_deref(),
            Some("7KQ2M9XDA3B4")
        );
        assert_eq!(invite(" 7kq2-m9xd-a3b4 ").as_deref(), Some("7KQ2M9XDA3B4"));
        for text in [
            "join us tonight",
            "7KQ2M9XDA3B4",
            "JOIN",
            "hello",
            "1234-5678",
        ] {
            assert_eq!(invite(text), None, "{text:?}");
        }
    }

    #[test]
    fn bare_numbers_answer_choices() {
        assert_eq!(choice("1"), Some(1));
        assert_eq!(choice(" 2 "), Some(2));
        assert_eq!(choice("3."), Some(3));
        assert_eq!(choice("#2"), Some(2));
        assert_eq!(choice("2)"), Some(2));
        assert_eq!(choice("1\u{fe0f}\u{20e3}"), Some(1));
        assert_eq!(choice("12"), Some(12));
        for text in ["0", "", "one", "1 2", "123", "2 please", "-1", "1.5", "٣"] {
            assert_eq!(choice(text), None, "{text:?}");
        }
    }
}
