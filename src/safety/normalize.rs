//! Turning raw chat text into comparable words.
//!
//! Invariant: patterns and messages go through exactly the same functions, so whatever a
//! lexicon author writes matches the same words however a person types them.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Splits text into lower-case, accent-free words, with leetspeak inside words undone.
/// Emoji become words of their own; punctuation, control and direction marks separate words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    scan_words(text, |w| out.push(w.to_string()));
    out
}

/// [`words`] without building a list: calls `visit` with each word in turn, reusing one
/// buffer (the screening hot path).
pub fn scan_words(text: &str, mut visit: impl FnMut(&str)) {
    let mut current = String::new();
    // Plain ASCII (most chat messages) is already normalised: only the case needs folding,
    // and it can be read byte by byte.
    if text.is_ascii() {
        scan_ascii(text, &mut visit);
        return;
    }
    let folded: Vec<char> = text
        .nfkc()
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    for (i, &c) in folded.iter().enumerate() {
        match classify(c) {
            CharClass::Word => current.push(c),
            CharClass::Joiner => {}
            CharClass::Leet if is_inside_word(&folded, i) => current.push(c),
            CharClass::Leet | CharClass::Separator => flush(&mut current, &mut visit),
            CharClass::Emoji => {
                flush(&mut current, &mut visit);
                visit(c.encode_utf8(&mut [0; 4]));
            }
        }
    }
    flush(&mut current, &mut visit);
}

/// [`scan_words`] for ASCII text: words are slices of one lower-cased copy, and a word is
/// copied only when it holds an apostrophe to drop.
fn scan_ascii(text: &str, visit: &mut impl FnMut(&str)) {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut start: Option<usize> = None;
    let mut has_joiner = false;
    let mut emit = |from: usize, to: usize, has_joiner: bool| {
        let word = &lower[from..to];
        if has_joiner {
            visit_one(&word.replace('\'', ""), visit);
        } else {
            visit_one(word, visit);
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        let in_word = b.is_ascii_alphanumeric()
            || (b == b'\'' && start.is_some())
            || (matches!(b, b'!' | b'@' | b'$' | b'|') && leet_inside_ascii(bytes, i));
        match (in_word, start) {
            (true, None) => {
                start = Some(i);
                has_joiner = false;
            }
            (true, Some(_)) => has_joiner |= b == b'\'',
            (false, Some(from)) => {
                emit(from, i, has_joiner);
                start = None;
            }
            (false, None) => {}
        }
    }
    if let Some(from) = start {
        emit(from, bytes.len(), has_joiner);
    }
}

/// Visits one word, with leetspeak undone; an apostrophe-only word is no word.
fn visit_one(word: &str, visit: &mut impl FnMut(&str)) {
    if word.is_empty() {
        return;
    }
    if needs_unleet(word) {
        visit(&unleet(word));
    } else {
        visit(word);
    }
}

/// [`is_inside_word`] for ASCII bytes.
fn leet_inside_ascii(bytes: &[u8], i: usize) -> bool {
    let is_word = |j: usize| bytes.get(j).is_some_and(|b| b.is_ascii_alphanumeric());
    let before = i > 0 && is_word(i - 1);
    let after = is_word(i + 1);
    after && (before || matches!(bytes[i], b'$' | b'@'))
}

fn flush(current: &mut String, visit: &mut impl FnMut(&str)) {
    visit_one(current, visit);
    current.clear();
}

enum CharClass {
    Word,
    /// Dropped without splitting: apostrophes ("don't"), zero-width joiners, variation
    /// selectors and skin-tone modifiers that ride on emoji.
    Joiner,
    /// Symbols that stand for letters when typed inside a word: `su!cide`, `$uicide`.
    Leet,
    Emoji,
    Separator,
}

fn classify(c: char) -> CharClass {
    match c {
        c if c.is_alphanumeric() => CharClass::Word,
        '\'' | '\u{2019}' | '\u{02bc}' | '\u{200d}' | '\u{fe00}'..='\u{fe0f}' => CharClass::Joiner,
        '\u{1f3fb}'..='\u{1f3ff}' => CharClass::Joiner,
        '!' | '@' | '$' | '|' => CharClass::Leet,
        c if (c as u32) < 0x2100 => CharClass::Separator,
        // Arrows, dingbats, pictographs and other symbols: each is a word of its own.
        c if c.is_whitespace() => CharClass::Separator,
        _ => CharClass::Emoji,
    }
}

/// A leet symbol counts as a letter only between word characters (`k!ll`) or before a
/// word at its start (`$uicide`); elsewhere it is punctuation ("help!").
fn is_inside_word(chars: &[char], i: usize) -> bool {
    let is_word = |j: usize| chars.get(j).is_some_and(|c| c.is_alphanumeric());
    let before = i > 0 && is_word(i - 1);
    let after = is_word(i + 1);
    after && (before || matches!(chars[i], '$' | '@'))
}

/// Whether a word mixes letters with digits or symbols and is not a quantity ("60mg",
/// "2nd", "7am"): such a word is leetspeak.
fn needs_unleet(word: &str) -> bool {
    let has_leet = word
        .bytes()
        .any(|b| b.is_ascii_digit() || matches!(b, b'!' | b'@' | b'$' | b'|'));
    has_leet && word.chars().any(|c| c.is_alphabetic()) && !is_quantity(word)
}

/// Undoes leetspeak: `k1ll` -> `kill`, `$uicide` -> `suicide`.
fn unleet(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// A number with a unit or an ordinal suffix: a dose ("60mg"), a time ("7am"), "2nd".
/// Anything else that mixes digits and letters is read as leetspeak ("3nd" = "end").
fn is_quantity(word: &str) -> bool {
    const UNITS: &[&str] = &[
        "mg", "mcg", "ug", "ml", "g", "gr", "kg", "lb", "lbs", "oz", "x", "h", "hr", "hrs", "min",
        "mins", "am", "pm", "k", "s", "d", "w", "wk", "wks", "mo", "yr", "yrs", "yo",
    ];
    let digits = word.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let (number, rest) = word.split_at(digits);
    let last = number.chars().last().unwrap_or('0');
    let teen = number.len() >= 2 && number.as_bytes()[number.len() - 2] == b'1';
    let ordinal = match rest {
        "st" => last == '1' && !teen,
        "nd" => last == '2' && !teen,
        "rd" => last == '3' && !teen,
        "th" => teen || !matches!(last, '1' | '2' | '3'),
        _ => false,
    };
    ordinal || UNITS.contains(&rest)
}

/// The key a word is matched by: repeated letters collapsed ("kmsssss" = "kms") and a few
/// sound-alike spellings folded ("bida" = "vida", "fone" = "phone").
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    fold_into(word, &mut out);
    out
}

/// [`fold`] into a buffer the caller reuses.
pub fn fold_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        let bytes = word.as_bytes();
        let mut last = 0u8;
        let mut i = 0;
        while i < bytes.len() {
            let (b, step) = match (bytes[i], bytes.get(i + 1)) {
                (b'p', Some(b'h')) => (b'f', 2),
                (b'c', Some(b'k')) => (b'k', 2),
                (b'v', _) => (b'b', 1),
                (b'z', _) => (b's', 1),
                (b, _) => (b, 1),
            };
            if b != last {
                out.push(char::from(b));
            }
            last = b;
            i += step;
        }
        return;
    }
    let mut last = None;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match (c, chars.peek()) {
            ('p', Some('h')) | ('c', Some('k')) => {
                let replaced = if c == 'p' { 'f' } else { 'k' };
                chars.next();
                replaced
            }
            ('v', _) => 'b',
            ('z', _) => 's',
            (c, _) => c,
        };
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
}

/// All strings made by deleting one character.
pub fn deletions(key: &str) -> impl Iterator<Item = String> + '_ {
    key.char_indices().map(move |(i, c)| {
        let mut s = String::with_capacity(key.len());
        s.push_str(&key[..i]);
        s.push_str(&key[i + c.len_utf8()..]);
        s
    })
}

/// Optimal string alignment distance ≤ 1: one insertion, deletion, substitution or swap of
/// neighbours.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        one_edit(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        one_edit(&a, &b)
    }
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return true;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    match a.len() as isize - b.len() as isize {
        0 => a[1..] == b[1..] || (a.len() >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..]),
        1 => a[1..] == *b,
        -1 => *a == b[1..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        words(text).iter().map(|w| fold(w)).collect()
    }

    #[test]
    fn case_accents_and_punctuation_fold_away() {
        assert_eq!(words("¿Está BIEN, Ana?"), ["esta", "bien", "ana"]);
        assert_eq!(
            words("don't  \u{200f}stop\u{202e}now"),
            ["dont", "stop", "now"]
        );
    }

    #[test]
    fn leetspeak_is_undone_inside_words_only() {
        assert_eq!(words("k1ll mys3lf"), ["kill", "myself"]);
        assert_eq!(words("5uicide su!cide $uicide"), ["suicide"; 3]);
        assert_eq!(
            words("help! 60mg 2nd 11th 7am 911"),
            ["help", "60mg", "2nd", "11th", "7am", "911"]
        );
        assert_eq!(
            words("g01ng t0 3nd my l1f3"),
            ["going", "to", "end", "my", "life"]
        );
    }

    #[test]
    fn emoji_are_words_and_modifiers_vanish() {
        assert_eq!(words("ok💊💊"), ["ok", "💊", "💊"]);
        assert_eq!(words("👍🏽"), ["👍"]);
        assert_eq!(words("❤️"), ["❤"]);
    }

    #[test]
    fn stretched_letters_and_sound_alikes_share_a_key() {
        assert_eq!(keys("kmsssss"), keys("kms"));
        assert_eq!(keys("diiiie"), keys("die"));
        assert_eq!(keys("bida"), keys("vida"));
        assert_eq!(keys("fone"), keys("phone"));
    }

    #[test]
    fn compatibility_forms_normalise() {
        // Full-width letters and ligatures are NFKC-equivalent to plain ones.
        assert_eq!(words("ｋｉｌｌ"), ["kill"]);
        assert_eq!(words("ﬁne"), ["fine"]);
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit("about", "abuot"));
        assert!(within_one_edit("every", "evry"));
        assert!(within_one_edit("killing", "killin"));
        assert!(!within_one_edit("killing", "kiling x"));
        assert!(!within_one_edit("ab", "ba c"));
    }
}
