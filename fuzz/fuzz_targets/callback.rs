//! Button data: `Action::decode` on arbitrary text; whatever decodes must encode within
//! Telegram's limit and decode back to the same action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waypoint::engine::buttons::{Action, MAX_DATA_BYTES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(action) = Action::decode(&text) else {
        return;
    };
    let encoded = action.encode();
    assert!(
        encoded.len() <= MAX_DATA_BYTES,
        "{text:?} decoded to {action:?}, which encodes to {} bytes",
        encoded.len()
    );
    let again = Action::decode(&encoded);
    assert_eq!(
        again.as_ref(),
        Some(&action),
        "{text:?} -> {action:?} -> {encoded:?} does not round-trip"
    );
    assert_eq!(again.map(|a| a.encode()), Some(encoded));
});
