//! SMS without the network: Twilio's webhook signatures, carrier keywords and bare-number
//! answers, and how a text is encoded and split. Pure; the Twilio adapter is
//! `channels::sms`.

pub mod keywords;
pub mod segments;
pub mod signature;

/// Twilio accepts at most this many characters in one message's body.
pub const MAX_BODY_CHARS: usize = 1600;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn e164_numbers() {
        for good in ["+15551230001", "+447700900123", "+5215512345678"] {
            assert!(super::is_e164(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "15551230001",
            "+1555",
            "+0555123000",
            "+1 555 123 0001",
            "whatsapp:+15551230001",
            "+1234567890123456",
        ] {
            assert!(!super::is_e164(bad), "{bad}");
        }
    }
}
