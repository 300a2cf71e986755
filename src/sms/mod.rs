//! SMS without the network: Twilio's webhook signatures, carrier keywords and bare-number
//! answers, and how a text is encoded and split. Pure; the Twilio adapter is
//! `channels::sms`.

pub mod keywords;
pub mod segments;
pub mod signature;

/// Twilio accepts at most this many characters in one message's body.
pub const MAX_BODY_CHARS: usize = 1600;
