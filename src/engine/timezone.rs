//! Reading a time zone a person typed: IANA names in any case, with spaces for
//! underscores, and the everyday US names ("eastern", "pacífico").

use chrono_tz::{TZ_VARIANTS, Tz};

use crate::safety::normalize::words;

/// Everyday names people type, in English and Spanish, for the common US zones.
const ALIASES: &[(&str, &str)] = &[
    ("eastern", "America/New_York"),
    ("et", "America/New_York"),
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("este", "America/New_York"),
    ("central", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("centro", "America/Chicago"),
    ("mountain", "America/Denver"),
    ("mt", "America/Denver"),
    ("mst", "America/Denver"),
    ("mdt", "America/Denver"),
    ("montana", "America/Denver"),
    ("arizona", "America/Phoenix"),
    ("pacific", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pacifico", "America/Los_Angeles"),
    ("alaska", "America/Anchorage"),
    ("hawaii", "Pacific/Honolulu"),
    ("puerto rico", "America/Puerto_Rico"),
];

/// The zone `input` names, if any.
pub fn resolve(input: &str) -> Option<Tz> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 64 {
        return None;
    }
    let wanted = trimmed.replace(' ', "_").to_ascii_lowercase();
    if let Some(tz) = TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
    {
        return Some(*tz);
    }
    let plain = words(trimmed)
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "time" | "zone" | "hora" | "del"))
        .collect::<Vec<_>>()
        .join(" ");
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == plain)
        .and_then(|(_, name)| name.parse().ok())
}

/// Whether a message that is not a zone still looks like an attempt at one, so it deserves
/// "I don't know that zone" rather than being treated as a question.
pub fn looks_like_attempt(input: &str) -> bool {
    let t = input.trim();
    !t.contains('?') && (t.contains('/') || t.split_whitespace().count() <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_case_and_aliases() {
        assert_eq!(
            resolve("america/new_york"),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(
            resolve(" America/Los Angeles "),
            Some(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(
            resolve("Pacific time"),
            Some(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(resolve("Pacífico"), Some(chrono_tz::America::Los_Angeles));
        assert_eq!(resolve("Mars/Olympus"), None);
        assert_eq!(resolve(""), None);
    }

    #[test]
    fn attempts_are_told_from_questions() {
        assert!(looks_like_attempt("Mars/Olympus"));
        assert!(looks_like_attempt("eastren"));
        assert!(!looks_like_attempt("how long does the program last?"));
    }
}
