//! A message through the whole pipeline: normalisation, the screener, the FAQ lookup,
//! and the engine in every stored state, as text and as button data.
//!
//! Input: one control byte (see `common::Shape`: dialogue, channel, record extras,
//! language, moment), then the message, read as lossy UTF-8.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use waypoint::engine::{Body, Stored};
use waypoint::locale::Locale;
use waypoint::safety::normalize;

use common::Shape;

fuzz_target!(|data: &[u8]| {
    let (shape, text) = match data.split_first() {
        Some((&control, rest)) => (Shape::from_byte(control), String::from_utf8_lossy(rest)),
        None => (Shape::from_byte(0), String::from_utf8_lossy(data)),
    };
    let text = text.as_ref();
    let engine = common::engine();
    let content = engine.content();

    // Normalisation, piece by piece.
    let words = normalize::words(text);
    let mut scanned = 0usize;
    normalize::scan_words(text, |_| scanned += 1);
    let mut buffer = String::new();
    for pair in words.windows(2) {
        let folded = normalize::fold(&pair[0]);
        normalize::fold_into(&pair[1], &mut buffer);
        let _ = normalize::within_one_edit(&folded, &buffer);
        assert!(normalize::within_one_edit(&folded, &folded));
    }
    if let Some(word) = words.iter().max_by_key(|w| w.len()) {
        for deleted in normalize::deletions(word).take(64) {
            assert!(
                normalize::within_one_edit(word, &deleted),
                "{word:?} / {deleted:?}"
            );
        }
    }
    let _ = Locale::guess(text);

    // The screener and the FAQ on their own.
    let assessment = content.screener.screen(text);
    let _ = content.screener.explain(text);
    for locale in Locale::ALL {
        let _ = content.faq.lookup(text, locale);
        let _ = content.faq.explain(text, locale);
    }
    assert_eq!(
        engine.is_crisis(&Body::Text(text.to_string())),
        assessment.is_crisis()
    );

    // The engine: the triage path in both languages ...
    for locale in Locale::ALL {
        let outcome = engine.triage(text, locale, shape.at());
        common::check(&outcome, "triage");
    }
    // ... and every stored state, as text and as a button press.
    let record = shape.record();
    for stored in [Stored::Nothing, Stored::Found(record), Stored::Unreadable] {
        for body in [Body::Text(text.to_string()), Body::Button(text.to_string())] {
            let inbound = shape.inbound(body);
            let outcome = engine.handle(&stored, &inbound);
            common::check(&outcome, "a message");
            if assessment.is_crisis() && matches!(inbound.body, Body::Text(_)) {
                assert!(
                    outcome.replies.iter().any(|r| r.urgent),
                    "a crisis message got no urgent reply"
                );
            }
        }
    }
});
