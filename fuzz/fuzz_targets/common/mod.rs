//! What several fuzz targets share: the shipped content and example settings, loaded
//! once per process, and builders for the engine's inputs.
#![allow(dead_code)] // each target uses a different part

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use waypoint::config::Config;
use waypoint::content::Content;
use waypoint::engine::buttons::{Action, MAX_DATA_BYTES};
use waypoint::engine::state::{Checkin, Sobriety};
use waypoint::engine::{Body, ChatKind, Dialogue, Engine, Inbound, Outcome, Settings, UserRecord};
use waypoint::locale::Locale;
use waypoint::user::{Channel, UserKey};

/// The repository's reviewed content.
pub const MESSAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../messages");
/// The documented example configuration (two programs, the standard ladder).
pub const EXAMPLE_CONFIG: &str = include_str!("../../../waypoint.example.toml");

pub fn content() -> Arc<Content> {
    static CONTENT: OnceLock<Arc<Content>> = OnceLock::new();
    CONTENT
        .get_or_init(|| {
            Arc::new(
                Content::load(Path::new(MESSAGES))
                    .unwrap_or_else(|e| panic!("the shipped content does not load:\n{e}")),
            )
        })
        .clone()
}

/// Settings from `waypoint.example.toml`: `Settings::default()` plus two programs, so
/// program and RSVP buttons lead somewhere.
pub fn example_settings() -> Settings {
    Config::parse(Path::new("waypoint.example.toml"), EXAMPLE_CONFIG)
        .unwrap_or_else(|e| panic!("waypoint.example.toml does not parse:\n{e}"))
        .settings
}

/// One engine per process, on the shipped content and the example settings.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(content(), example_settings()))
}

/// Moments the fuzzers pick from: an ordinary afternoon, inside New York's spring-forward
/// gap morning, inside its fall-back repeated hour, and the last second of a year.
pub const MOMENTS: [&str; 4] = [
    "2026-11-24T15:00:00Z",
    "2026-03-08T07:30:00Z",
    "2026-11-01T06:30:00Z",
    "2026-12-31T23:59:59Z",
];

pub fn moment(index: usize) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(MOMENTS[index % MOMENTS.len()])
        .expect("the moments are valid RFC 3339")
        .with_timezone(&Utc)
}

/// The shape of a stored record, decoded from one control byte.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub dialogue: Dialogue,
    pub sms: bool,
    /// Timezone, care-team consent, crisis-text sharing and a program.
    pub settled: bool,
    /// Discharged 40 days ago, with a check-in open and a sober date.
    pub alumnus: bool,
    pub spanish: bool,
    pub moment: usize,
}

impl Shape {
    pub fn from_byte(b: u8) -> Shape {
        Shape {
            dialogue: [
                Dialogue::Idle,
                Dialogue::AwaitingTimezone,
                Dialogue::ConfirmForget,
                Dialogue::AwaitingAlias,
            ][usize::from(b & 3)],
            sms: b & 4 != 0,
            settled: b & 8 != 0,
            alumnus: b & 16 != 0,
            spanish: b & 32 != 0,
            moment: usize::from(b >> 6),
        }
    }

    pub fn locale(&self) -> Locale {
        if self.spanish { Locale::Es } else { Locale::En }
    }

    pub fn at(&self) -> DateTime<Utc> {
        moment(self.moment)
    }

    pub fn record(&self) -> UserRecord {
        let at = self.at();
        let mut record = UserRecord::new(self.locale(), at - Duration::days(60));
        record.dialogue = self.dialogue;
        if self.settled {
            record.timezone = Some("America/Chicago".into());
            record.care_team_consent = true;
            record.share_crisis_text = true;
            record.program = Some("evening".into());
            record.alias = Some("Sam".into());
        }
        if self.alumnus {
            record.discharged_on = Some((at - Duration::days(40)).date_naive());
            record.open_checkin = Some(Checkin {
                started: at - Duration::hours(1),
                mood: None,
                used: None,
                reach_out: None,
            });
            record.sober = Some(Sobriety {
                since: (at - Duration::days(90)).date_naive(),
                earlier: Vec::new(),
            });
        }
        record
    }

    pub fn inbound(&self, body: Body) -> Inbound {
        let user = if self.sms {
            UserKey::new(Channel::Sms, "+15551230001")
        } else {
            UserKey::new(Channel::Telegram, "4242")
        };
        Inbound {
            user,
            at: self.at(),
            language: self.spanish.then_some(Locale::Es),
            chat: ChatKind::Private,
            body,
            sender: None,
        }
    }
}

/// What every outcome must satisfy: at least one reply, and every button's data within
/// Telegram's limit and understood by the engine that made it.
pub fn check(outcome: &Outcome, what: &str) {
    assert!(!outcome.replies.is_empty(), "no reply to {what}");
    for button in outcome
        .replies
        .iter()
        .flat_map(|r| r.buttons.iter().flatten())
    {
        assert!(
            button.data.len() <= MAX_DATA_BYTES,
            "button data over {MAX_DATA_BYTES} bytes: {:?} (after {what})",
            button.data
        );
        assert!(
            Action::decode(&button.data).is_some(),
            "the engine made a button it cannot read: {:?} (after {what})",
            button.data
        );
    }
}

/// Every button's data in an outcome.
pub fn buttons(outcome: &Outcome) -> Vec<String> {
    outcome
        .replies
        .iter()
        .flat_map(|r| r.buttons.iter().flatten())
        .map(|b| b.data.clone())
        .collect()
}
