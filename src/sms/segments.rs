//! How a text travels as SMS: encoding, segment count, GSM-friendly cleanup, splitting.
//!
//! Invariants: a text is GSM-7 exactly when every character is in the GSM 03.38
//! (3GPP TS 23.038) default alphabet or its extension table, else UCS-2; segment counts
//! never split an extension character or a UTF-16 surrogate pair; `gsm_friendly` only
//! ever swaps typographic look-alikes and drops invisible characters, never letters;
//! `split` yields non-empty bodies of at most the limit, broken only between
//! characters. Nothing here panics, whatever the input.

use std::borrow::Cow;

/// The character encoding an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UTF-16 (carriers call it UCS-2), for anything GSM-7 cannot carry.
    Ucs2,
}

/// The size of a text as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// The encoding the text needs.
    pub encoding: Encoding,
    /// septets for GSM-7 (extension-table characters count 2), UTF-16 code units for UCS-2
    pub units: usize,
    /// How many SMS segments the text is billed and sent as.
    pub count: usize,
}

/// Septets in a lone GSM-7 message.
const GSM_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 message (the rest carries the UDH).
const GSM_PART: usize = 153;
/// UTF-16 units in a lone UCS-2 message.
const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 message.
const UCS2_PART: usize = 67;

/// How `text` travels as SMS: GSM-7 if every character is in the GSM 03.38 default
/// alphabet or its extension table, else UCS-2; and how many segments (GSM-7: 160
/// septets in one, 153 per segment when concatenated; UCS-2: 70 units in one, 67 per
/// part; an empty text is 1 segment). When concatenating, an extension character (2
/// septets) must not be split across segments, and a UTF-16 surrogate pair must not be
/// split across parts — count accordingly.
pub fn segments(text: &str) -> Segments {
    let gsm = text.chars().all(|c| gsm_septets(c).is_some());
    let (encoding, single, part) = if gsm {
        (Encoding::Gsm7, GSM_SINGLE, GSM_PART)
    } else {
        (Encoding::Ucs2, UCS2_SINGLE, UCS2_PART)
    };
    let width = |c: char| match encoding {
        Encoding::Gsm7 => gsm_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let units: usize = text.chars().map(width).sum();
    if units <= single {
        return Segments {
            encoding,
            units,
            count: 1,
        };
    }
    // Fill parts greedily; a two-unit character that would straddle a boundary
    // starts the next part instead, leaving the last slot of this one empty.
    let mut count = 1;
    let mut used = 0;
    for w in text.chars().map(width) {
        if used + w > part {
            count += 1;
            used = 0;
        }
        used += w;
    }
    Segments {
        encoding,
        units,
        count,
    }
}

/// The GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet, one table row (high
/// nibble 0–7) per line; 0x1B, the escape to the extension table, is left out as it
/// is no character of its own.
const GSM_DEFAULT: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
);

/// The extension table (§6.2.1.1): form feed, ^ { } \\ [ ~ ] | and €, each sent as
/// the escape plus one septet.
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// The septets `c` takes in GSM-7 (1 in the default alphabet, 2 in the extension
/// table), or `None` when GSM-7 cannot carry it.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_DEFAULT.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// What `gsm_friendly` puts in place of `c`, if `c` is one of the look-alikes it swaps
/// or an invisible character it drops (empty string).
fn look_alike(c: char) -> Option<&'static str> {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => Some("'"),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => Some("\""),
        '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}' => Some("-"),
        '\u{2026}' => Some("..."),
        '\u{2022}' | '\u{00B7}' => Some("-"),
        // Tab and the Unicode spaces: no-break, ogham, the en/em family (U+2000–
        // U+200A), narrow no-break, medium mathematical, ideographic.
        '\t'
        | '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Some(" "),
        // Zero width space, word joiner, and the byte order mark used as a zero
        // width no-break space: invisible and meaningless in an SMS.
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' => Some(""),
        _ => None,
    }
}

/// Zero-width (non-)joiners: invisible, but they shape emoji sequences and some scripts.
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// Whether `c` is, or `gsm_friendly` turns it into, something GSM-7 carries (an edge of
/// the text counts too).
fn gsm_side(c: Option<char>) -> bool {
    c.is_none_or(|c| gsm_septets(c).is_some() || look_alike(c).is_some())
}

/// Replaces typographic characters that would force UCS-2 with GSM-7 look-alikes: ‘ ’ ‚
/// ′ → ', “ ” „ ″ → ", – — ‒ − → -, … → ..., non-breaking and other Unicode spaces →
/// space, • · → - (bullet) , zero-width characters removed. Leaves everything else alone
/// (accented letters like á í ó ú ñ that are not in GSM-7 stay — Spanish text with them
/// is UCS-2, which is correct and must not be mangled). Returns the text unchanged
/// (borrowed) when nothing needs replacing.
pub fn gsm_friendly(text: &str) -> Cow<'_, str> {
    // Built only once the first change is met, so clean text costs no allocation.
    let mut out: Option<String> = None;
    let mut prev: Option<char> = None;
    let mut rest = text.char_indices().peekable();
    while let Some((at, c)) = rest.next() {
        let next = rest.peek().map(|&(_, n)| n);
        let swap = match look_alike(c) {
            Some(s) => Some(s),
            // A joiner between emoji or letters of a joining script carries meaning,
            // so it stays; beside GSM-7 text it is a stray that only forces UCS-2.
            None if is_joiner(c) && (gsm_side(prev) || gsm_side(next)) => Some(""),
            None => None,
        };
        match (swap, out.as_mut()) {
            (Some(s), Some(buf)) => buf.push_str(s),
            (Some(s), None) => {
                let mut buf = String::with_capacity(text.len());
                buf.push_str(&text[..at]);
                buf.push_str(s);
                out = Some(buf);
            }
            (None, Some(buf)) => buf.push(c),
            (None, None) => {}
        }
        prev = Some(c);
    }
    match out {
        Some(buf) => Cow::Owned(buf),
        None => Cow::Borrowed(text),
    }
}

/// Splits `text` into bodies of at most `max_chars` characters (Twilio accepts at most
/// 1600 per message), preferring to break at a blank line, then a line break, then a
/// space; never inside a character. Text within the limit is one body. No body is empty.
///
/// The whitespace at a break is dropped, as is whitespace at either end of a text over
/// the limit; a preferred break that would leave less than half the limit in a body is
/// passed over for a later one; an empty text gives no bodies; a `max_chars` of 0 is
/// taken as 1.
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    if text.is_empty() {
        return Vec::new();
    }
    if fits(text, max) {
        return vec![text.to_owned()];
    }
    let mut bodies = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if fits(rest, max) {
            bodies.push(rest.to_owned());
            break;
        }
        let (end, resume) = break_point(rest, max);
        bodies.push(rest[..end].trim_end().to_owned());
        rest = rest[resume..].trim_start();
    }
    bodies
}

/// Whether `s` has at most `max` characters (without counting past `max`).
fn fits(s: &str, max: usize) -> bool {
    s.char_indices().nth(max).is_none()
}

/// Where to break `rest` (longer than `max` characters, starting with a non-space):
/// the byte where its first body ends and the byte where the remainder starts.
fn break_point(rest: &str, max: usize) -> (usize, usize) {
    // The last break of each kind within reach, as (chars before it, byte of it,
    // byte after it). A separator at char index `max` still leaves `max` before it.
    let mut blank = None;
    let mut line = None;
    let mut space = None;
    let mut seen_newline = false;
    let mut line_is_blank = true;
    for (k, (at, c)) in rest.char_indices().take(max.saturating_add(1)).enumerate() {
        let after = at + c.len_utf8();
        if c == '\n' {
            if k > 0 {
                line = Some((k, at, after));
                if seen_newline && line_is_blank {
                    blank = Some((k, at, after));
                }
            }
            seen_newline = true;
            line_is_blank = true;
        } else if c.is_whitespace() {
            if k > 0 {
                space = Some((k, at, after));
            }
        } else {
            line_is_blank = false;
        }
    }
    // A preferred break that comes very early would waste most of a message, so a
    // kind is taken only if at least half the limit goes before it.
    let floor = max / 2;
    let chosen = [blank, line, space]
        .into_iter()
        .flatten()
        .find(|&(k, _, _)| k >= floor)
        .or_else(|| {
            [blank, line, space]
                .into_iter()
                .flatten()
                .max_by_key(|b| b.0)
        });
    match chosen {
        Some((_, at, after)) => (at, after),
        None => {
            let cut = hard_cut(rest, max);
            (cut, cut)
        }
    }
}

/// A byte offset at most `max` characters into `rest` (which is longer) for a break
/// with no whitespace to use: backs off so as not to strand a combining mark, joiner,
/// variation selector or skin-tone modifier from the character it belongs to.
fn hard_cut(rest: &str, max: usize) -> usize {
    let bounds: Vec<usize> = rest
        .char_indices()
        .take(max.saturating_add(1))
        .map(|(at, _)| at)
        .collect();
    let Some(&plain) = bounds.last() else {
        return rest.len();
    };
    // Look back only a little: a long run of marks is cut plainly rather than
    // producing a tiny body.
    let lowest = bounds.len().saturating_sub(16).max(2) - 1;
    for i in (lowest..bounds.len()).rev() {
        let at = bounds[i];
        let after = rest[at..].chars().next();
        let before = rest[..at].chars().next_back();
        let strands = after.is_some_and(attaches) || before == Some('\u{200D}');
        if !strands {
            return at;
        }
    }
    plain
}

/// Whether `c` belongs with the character before it (so a cut must not come before it).
fn attaches(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}' | '\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(encoding: Encoding, units: usize, count: usize) -> Segments {
        Segments {
            encoding,
            units,
            count,
        }
    }

    #[test]
    fn empty_text_is_one_gsm_segment() {
        assert_eq!(segments(""), seg(Encoding::Gsm7, 0, 1));
    }

    #[test]
    fn ascii_segment_boundaries() {
        let a = |n: usize| "a".repeat(n);
        assert_eq!(segments(&a(160)), seg(Encoding::Gsm7, 160, 1));
        assert_eq!(segments(&a(161)), seg(Encoding::Gsm7, 161, 2));
        assert_eq!(segments(&a(306)), seg(Encoding::Gsm7, 306, 2));
        assert_eq!(segments(&a(307)), seg(Encoding::Gsm7, 307, 3));
        assert_eq!(segments(&a(459)), seg(Encoding::Gsm7, 459, 3));
        assert_eq!(segments(&a(460)), seg(Encoding::Gsm7, 460, 4));
    }

    #[test]
    fn extension_characters_count_two() {
        assert_eq!(segments("€"), seg(Encoding::Gsm7, 2, 1));
        assert_eq!(segments("a{b}"), seg(Encoding::Gsm7, 6, 1));
        for c in ['^', '{', '}', '\\', '[', '~', ']', '|', '€', '\u{0C}'] {
            assert_eq!(segments(&c.to_string()).units, 2, "{c:?}");
        }
        // 159 + 2 septets no longer fits in one message.
        let text = format!("{}€", "a".repeat(159));
        assert_eq!(segments(&text), seg(Encoding::Gsm7, 161, 2));
    }

    #[test]
    fn extension_character_at_boundary_moves_to_next_segment() {
        // 152 + 2 would straddle the 153-septet boundary, so the € opens part two,
        // which then holds € + 151 b = 153, and the last b needs a third part; a
        // plain division (306 / 153) would say 2.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(152));
        assert_eq!(segments(&text), seg(Encoding::Gsm7, 306, 3));
        // One septet earlier it fits exactly.
        let text = format!("{}€{}", "a".repeat(151), "b".repeat(153));
        assert_eq!(segments(&text), seg(Encoding::Gsm7, 306, 2));
    }

    #[test]
    fn default_alphabet_is_gsm7() {
        let all = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                   ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        assert_eq!(all.chars().count(), 127);
        let s = segments(all);
        assert_eq!(s.encoding, Encoding::Gsm7);
        assert_eq!(s.units, 127);
    }

    #[test]
    fn tables_have_their_sizes_and_no_repeats() {
        // 128 positions less the escape; 10 extension characters.
        let mut default: Vec<char> = GSM_DEFAULT.chars().collect();
        default.sort_unstable();
        default.dedup();
        assert_eq!(default.len(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
        assert!(GSM_EXTENSION.chars().all(|c| !GSM_DEFAULT.contains(c)));
    }

    #[test]
    fn spanish_with_only_gsm_letters_stays_gsm7() {
        assert_eq!(segments("¿Qué tal, señor? ¡Años!").encoding, Encoding::Gsm7);
        assert_eq!(segments("Ü ü É é Ñ ñ").encoding, Encoding::Gsm7);
    }

    #[test]
    fn characters_outside_gsm7_force_ucs2() {
        for text in [
            "á", "í", "ó", "ú", "Á", "ç", "`", "\t", "😀", "canción", "’", "\u{A0}",
        ] {
            assert_eq!(segments(text).encoding, Encoding::Ucs2, "{text:?}");
        }
    }

    #[test]
    fn ucs2_segment_boundaries() {
        let t = |n: usize| format!("á{}", "a".repeat(n - 1));
        assert_eq!(segments(&t(70)), seg(Encoding::Ucs2, 70, 1));
        assert_eq!(segments(&t(71)), seg(Encoding::Ucs2, 71, 2));
        assert_eq!(segments(&t(134)), seg(Encoding::Ucs2, 134, 2));
        assert_eq!(segments(&t(135)), seg(Encoding::Ucs2, 135, 3));
        let e = |n: usize| format!("😀{}", "a".repeat(n - 2));
        assert_eq!(segments(&e(70)), seg(Encoding::Ucs2, 70, 1));
        assert_eq!(segments(&e(71)), seg(Encoding::Ucs2, 71, 2));
    }

    #[test]
    fn surrogate_pair_at_boundary_moves_to_next_part() {
        // 66 units, then an emoji (2 units) that would straddle the 67-unit
        // boundary: it opens part two, leaving 😀 + 65 b there and 1 b in part
        // three, where a plain division (134 / 67) would say 2.
        let text = format!("{}😀{}", "a".repeat(66), "b".repeat(66));
        assert_eq!(segments(&text), seg(Encoding::Ucs2, 134, 3));
        let text = format!("{}😀{}", "a".repeat(65), "b".repeat(67));
        assert_eq!(segments(&text), seg(Encoding::Ucs2, 134, 2));
    }

    #[test]
    fn gsm_friendly_fixes_typography() {
        let fixed = gsm_friendly("Can’t – “ok”…");
        assert_eq!(fixed, "Can't - \"ok\"...");
        assert!(matches!(fixed, Cow::Owned(_)));
        assert_eq!(segments(&fixed).encoding, Encoding::Gsm7);
        assert_eq!(
            gsm_friendly("‘a’ ‚b′ „c″ d‒e—f−g • h·i"),
            "'a' 'b' \"c\" d-e-f-g - h-i"
        );
    }

    #[test]
    fn gsm_friendly_borrows_clean_text() {
        for text in [
            "",
            "Plain ASCII, 100% fine.",
            "¿Qué tal? ¡Sí, mañana!",
            "😀",
        ] {
            assert!(matches!(gsm_friendly(text), Cow::Borrowed(_)), "{text:?}");
        }
    }

    #[test]
    fn gsm_friendly_keeps_letters_outside_gsm7() {
        let text = "¿Cómo está? Canción, país, último.";
        let fixed = gsm_friendly(text);
        assert!(matches!(fixed, Cow::Borrowed(_)));
        assert_eq!(segments(&fixed).encoding, Encoding::Ucs2);
        assert_eq!(gsm_friendly("“Sí”…"), "\"Sí\"...");
    }

    #[test]
    fn gsm_friendly_spaces_and_invisibles() {
        assert_eq!(
            gsm_friendly("a\u{A0}b\u{2009}c\u{202F}d\u{3000}e\tf"),
            "a b c d e f"
        );
        assert_eq!(
            gsm_friendly("\u{FEFF}zero\u{200B}width\u{2060}!"),
            "zerowidth!"
        );
        assert_eq!(gsm_friendly("stray\u{200D}joiner\u{200C}"), "strayjoiner");
        let fixed = gsm_friendly("a\u{A0}b");
        assert_eq!(segments(&fixed).encoding, Encoding::Gsm7);
    }

    #[test]
    fn gsm_friendly_keeps_emoji_sequences_whole() {
        let family = "👨\u{200D}👩\u{200D}👧";
        assert!(matches!(gsm_friendly(family), Cow::Borrowed(_)));
        assert_eq!(
            gsm_friendly("Hi “you” 👨\u{200D}👩"),
            "Hi \"you\" 👨\u{200D}👩"
        );
    }

    /// Checks the invariants of `split` and returns the bodies.
    fn check_split(text: &str, max: usize) -> Vec<String> {
        let bodies = split(text, max);
        let mut pos = 0;
        for body in &bodies {
            assert!(!body.is_empty(), "empty body for max {max}");
            assert!(body.chars().count() <= max, "over {max}: {body:?}");
            // Each body is the next stretch of the text, with only whitespace
            // (the removed separators) between it and the previous one.
            let Some(found) = text[pos..].find(body.as_str()) else {
                panic!("body not in text in order: {body:?}");
            };
            assert!(text[pos..pos + found].trim().is_empty(), "skipped text");
            pos += found + body.len();
        }
        assert!(text[pos..].trim().is_empty(), "lost the tail");
        bodies
    }

    #[test]
    fn split_short_text_is_one_body() {
        assert_eq!(split("hello world", 1600), vec!["hello world"]);
        assert_eq!(split("  padded  ", 10), vec!["  padded  "]);
        assert!(split("", 10).is_empty());
        assert_eq!(split("abc", 0), vec!["a", "b", "c"]);
    }

    #[test]
    fn split_prefers_blank_line_then_line_then_space() {
        let text = "first paragraph here\n\nsecond one\nthird line more words";
        assert_eq!(
            check_split(text, 35),
            vec!["first paragraph here", "second one\nthird line more words"]
        );
        let text = "line one is here\nline two is here too";
        assert_eq!(
            check_split(text, 30),
            vec!["line one is here", "line two is here too"]
        );
        let text = "words and more words and yet more";
        assert_eq!(
            check_split(text, 20),
            vec!["words and more words", "and yet more"]
        );
    }

    #[test]
    fn split_blank_line_may_hold_spaces_or_crlf() {
        let text = "para one text\r\n \r\npara two text";
        assert_eq!(
            check_split(text, 20),
            vec!["para one text", "para two text"]
        );
    }

    #[test]
    fn split_ignores_a_preferred_break_that_comes_too_early() {
        // The blank line is 2 characters in; a 2-character body would waste a
        // message, so the later space wins.
        let text = "Hi\n\nthis is a longer sentence that keeps going";
        let bodies = check_split(text, 30);
        assert!(bodies[0].chars().count() >= 15, "{bodies:?}");
    }

    #[test]
    fn split_breaks_exactly_at_limit_when_separator_follows() {
        assert_eq!(check_split("abcde fghij", 5), vec!["abcde", "fghij"]);
    }

    #[test]
    fn split_hard_cuts_between_characters() {
        let text = "ñ".repeat(25);
        let bodies = check_split(&text, 10);
        assert_eq!(bodies, vec!["ñ".repeat(10), "ñ".repeat(10), "ñ".repeat(5)]);
        let emoji = "😀".repeat(7);
        assert_eq!(check_split(&emoji, 3).len(), 3);
    }

    #[test]
    fn split_hard_cut_keeps_combining_marks_and_joiners() {
        // "e" + combining acute: a cut between them would strand the accent.
        let text = "abcde\u{0301}fgh";
        let bodies = check_split(text, 5);
        assert_eq!(bodies[0], "abcd");
        assert!(bodies[1].starts_with("e\u{0301}"));
        let text = "abcd👨\u{200D}👩xyz";
        let bodies = check_split(text, 6);
        assert_eq!(bodies[0], "abcd");
    }

    #[test]
    fn split_property_over_many_lengths() {
        let words = [
            "alpha", "b", "charlie", "dé", "echo😀", "foxtrot", "golf", "h", "india", "juliet",
        ];
        let separators = [" ", " ", "\n", " ", "\n\n", " ", "  ", "\t"];
        let mut text = String::new();
        for i in 0..400 {
            text.push_str(words[i * 7 % words.len()]);
            text.push_str(separators[i * 3 % separators.len()]);
        }
        let expected: Vec<&str> = text.split_whitespace().collect();
        for max in [1, 2, 3, 7, 8, 13, 20, 50, 153, 160, 500, 1600, 5000] {
            let bodies = check_split(&text, max);
            let longest_word = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
            let joined = bodies.join(" ");
            if max >= longest_word {
                // No word is longer than the limit, so none was cut.
                assert_eq!(joined.split_whitespace().collect::<Vec<_>>(), expected);
            } else {
                let squash = |s: &str| s.split_whitespace().collect::<String>();
                assert_eq!(squash(&joined), squash(&text), "max {max}");
            }
        }
    }

    #[test]
    fn split_whitespace_only_and_odd_inputs_do_not_panic() {
        assert!(check_split(&" ".repeat(50), 10).is_empty());
        assert!(check_split(&"\n".repeat(50), 1).is_empty());
        check_split("\u{0301}".repeat(40).as_str(), 7);
        check_split("a\u{200D}".repeat(40).as_str(), 5);
        check_split("x \n", 1);
    }
}
