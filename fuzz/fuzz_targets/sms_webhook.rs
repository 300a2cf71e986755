//! An SMS webhook request, without the network: the form body parsed as the channel
//! parses it, the signature check, carrier keywords, choices, invite codes, and the
//! encoding, segment and split rules on the Body field.
//!
//! Input: `<X-Twilio-Signature header>\n<form body>`; with no newline, all of it is the
//! body and the header is empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waypoint::sms::keywords::{choice, invite, keyword};
use waypoint::sms::segments::{gsm_friendly, segments, split};
use waypoint::sms::signature::{sign, verify};
use waypoint::sms::{MAX_BODY_CHARS, is_e164};

const TOKEN: &str = "2bd9e9638872de601313dc77410d3b23";
const URL: &str = "https://waypoint.example.org/sms/inbound";

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let header = String::from_utf8_lossy(header);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();

    let _ = verify(TOKEN, URL, &params, &header);
    let _ = verify("", URL, &params, &header);
    // What we sign ourselves verifies, in any parameter order, with stray whitespace.
    let signature = sign(TOKEN, URL, &params);
    assert!(verify(TOKEN, URL, &params, &signature));
    let mut reversed = params.clone();
    reversed.reverse();
    assert!(verify(TOKEN, URL, &reversed, &format!(" {signature}\r\n")));
    // An extra parameter breaks it.
    let mut extra = params.clone();
    extra.push(("Extra".into(), String::new()));
    assert!(!verify(TOKEN, URL, &extra, &signature));

    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    for name in ["From", "To"] {
        if let Some(number) = field(name) {
            let _ = is_e164(number);
        }
    }
    let text = field("Body").unwrap_or_default();
    for text in [text, &header] {
        let _ = keyword(text);
        let _ = invite(text);
        if let Some(n) = choice(text) {
            assert!(n >= 1);
        }
        let _ = is_e164(text);

        let raw = segments(text);
        assert!(raw.count >= 1);
        let friendly = gsm_friendly(text);
        let cleaned = segments(&friendly);
        assert!(cleaned.count >= 1);
        let limit = 1 + text.len() % 200;
        for max in [MAX_BODY_CHARS, 160, 70, limit, 1, 0] {
            let pieces = split(&friendly, max);
            if !friendly.trim().is_empty() {
                assert!(!pieces.is_empty(), "text lost (max {max})");
            }
            // Only whitespace at breaks and at the ends may go.
            let kept: String = pieces
                .concat()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let given: String = friendly.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(kept, given, "split changed the text (max {max})");
            for piece in &pieces {
                assert!(!piece.is_empty(), "an empty piece (max {max})");
                assert!(
                    piece.chars().count() <= max.max(1),
                    "a piece of {} chars over the limit {max}",
                    piece.chars().count()
                );
            }
        }
    }
});
