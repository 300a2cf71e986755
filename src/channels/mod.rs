//! Adapters between the outside world and [`crate::app::App`]. Each turns its own
//! messages into [`crate::engine::Inbound`] and shows [`crate::engine::Reply`]s its way.

pub mod console;
pub mod http;
pub mod hub;
pub mod ops;
pub mod sms;
pub mod telegram;
