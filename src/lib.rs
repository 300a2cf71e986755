//! Waypoint: a chat companion for people in Intensive Outpatient Programs.
//!
//! # Layout
//! - [`safety`], [`faq`], [`learn`], [`content`], [`engine`]: the pure core. Text in, replies and state
//!   changes out; time is passed in; no I/O beyond loading content at start.
//! - [`schedule`]: pure schedule maths (cron in a time zone, quiet hours, the check-in
//!   ladder, milestones); the engine plans with it.
//! - [`store`]: the sled store (the only module that knows sled), with the due index and
//!   the outbox.
//! - [`delivery`]: the scheduler loop and the rate-limited outbox sender.
//! - [`enroll`], [`staff`], [`report`]: invite codes, the staff desk and alerts, staff
//!   reports and exports.
//! - [`app`]: wiring — load state, run the engine, commit, hand replies to a channel.
//! - [`sms`]: pure SMS rules (Twilio signatures, carrier keywords, encoding and segments).
//! - [`channels`]: the terminal, Telegram and SMS adapters (only `channels::telegram`
//!   knows teloxide; only `channels::sms` knows reqwest; the HTTP listeners share
//!   `channels::http`).
//! - [`config`], [`clock`], [`pseudonym`], [`telemetry`]: configuration, time, log ids,
//!   metrics and health; [`pace`]: how fast one person's messages are taken.
//!
//! See `ARCHITECTURE.md` for the data flow and the invariants.

pub mod app;
pub mod channels;
pub mod clock;
pub mod command;
pub mod config;
pub mod content;
pub mod delivery;
pub mod diagnostic;
pub mod engine;
pub mod enroll;
pub mod faq;
pub mod learn;
pub mod locale;
pub mod pace;
pub mod pseudonym;
pub mod report;
pub mod safety;
pub mod schedule;
pub mod sms;
pub mod staff;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod user;
