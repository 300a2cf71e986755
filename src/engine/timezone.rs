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
    ("hawai", "Pacific/Honolulu"),
    ("puerto rico", "America/Puerto_Rico"),
    ("atlantic", "America/Puerto_Rico"),
    ("atlantico", "America/Puerto_Rico"),
    ("nueva york", "America/New_York"),
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
        .or_else(|| city(&plain))
}

/// The zone named after a city ("chicago", "los angeles"), as the zone database spells
/// it; the first of the Americas' and the Pacific's zones when two share a name.
fn city(plain: &str) -> Option<Tz> {
    if plain.is_empty() {
        return None;
    }
    let named = |tz: &&Tz| {
        let name = tz.name();
        let last = name.rsplit('/').next().unwrap_or(name);
        last.replace('_', " ").eq_ignore_ascii_case(plain)
    };
    let preferred =
        |tz: &&Tz| tz.name().starts_with("America/") || tz.name().starts_with("Pacific/");
    let mut found = TZ_VARIANTS.iter().filter(named);
    let first = found.clone().next().copied();
    found.find(preferred).copied().or(first)
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
    fn cities_and_everyday_names_in_both_languages() {
        use chrono_tz::{America, Pacific};
        for (typed, zone) in [
            ("Chicago", America::Chicago),
            ("los angeles", America::Los_Angeles),
            ("Los Ángeles", America::Los_Angeles),
            ("Honolulu", Pacific::Honolulu),
            ("pacífico", America::Los_Angeles),
            ("Montaña", America::Denver),
            ("Hawái", Pacific::Honolulu),
            ("nueva york", America::New_York),
            ("eastern time", America::New_York),
        ] {
            assert_eq!(resolve(typed), Some(zone), "{typed}");
        }
        assert_eq!(resolve("atlantis"), None);
    }

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
