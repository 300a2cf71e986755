//! Properties over generated input, the quick cousins of the fuzz targets in `fuzz/`:
//! the engine answers anything in any state, button data round-trips, the configuration
//! parser and the SMS rules never panic and keep their documented invariants, and
//! webhook signatures check out exactly when nothing was changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use waypoint::config::Config;
use waypoint::content::Content;
use waypoint::engine::buttons::{Action, MAX_DATA_BYTES};
use waypoint::engine::state::{Checkin, OutreachReason, RsvpAnswer, UseAnswer};
use waypoint::engine::{
    Body, ChatKind, Dialogue, Engine, Inbound, Outcome, Settings, Stored, UserRecord,
};
use waypoint::locale::Locale;
use waypoint::sms::keywords::{choice, invite, keyword};
use waypoint::sms::segments::{gsm_friendly, segments, split};
use waypoint::sms::signature::{sign, verify};
use waypoint::sms::{MAX_BODY_CHARS, is_e164};
use waypoint::user::{Channel, UserKey};

// ---------------------------------------------------------------------------------------
// Shared set-up

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_config() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(repo().join("waypoint.example.toml")).unwrap())
}

fn content() -> Arc<Content> {
    static CONTENT: OnceLock<Arc<Content>> = OnceLock::new();
    CONTENT
        .get_or_init(|| {
            Arc::new(
                Content::load(&repo().join("messages"))
                    .unwrap_or_else(|e| panic!("shipped content is invalid:\n{e}")),
            )
        })
        .clone()
}

/// The engine on the shipped content and the example configuration (which has programs,
/// so program and RSVP buttons lead somewhere).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = Config::parse(Path::new("waypoint.example.toml"), example_config())
            .unwrap_or_else(|e| panic!("the example configuration is invalid:\n{e}"));
        Engine::new(content(), config.settings)
    })
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Every outcome answers, and every button it offers fits Telegram's limit and is one the
/// engine reads back.
fn assert_answers(outcome: &Outcome) -> Result<(), TestCaseError> {
    prop_assert!(!outcome.replies.is_empty(), "no reply: {outcome:?}");
    for button in outcome
        .replies
        .iter()
        .flat_map(|r| r.buttons.iter().flatten())
    {
        prop_assert!(button.data.len() <= MAX_DATA_BYTES, "{:?}", button.data);
        prop_assert!(Action::decode(&button.data).is_some(), "{:?}", button.data);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Strategies

/// Messages: anything printable, things people write, and command look-alikes.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,200}",
        Just("how many hours a week is the program?".to_string()),
        Just("¿cuántas horas a la semana son?".to_string()),
        Just("i want to kill myself".to_string()),
        Just("quiero morir".to_string()),
        Just("this traffic is killing me lol".to_string()),
        Just("should I stop taking my meds".to_string()),
        Just("America/Chicago".to_string()),
        Just("yes".to_string()),
        "/(start|faq|privacy|forget|stop|resume|timezone|program|language|help|sober)( \\PC{0,20})?",
        "[ \\t\\n]{0,5}",
    ]
}

/// Button data: well-formed actions, near misses, and noise.
fn button_data() -> impl Strategy<Value = String> {
    prop_oneof![
        action().prop_map(|a| a.encode()),
        "(c|x|a|b|tz|l|f|s|t|q|o|p|v|k)(:[a-zA-Z0-9/_+-]{0,12}){0,3}",
        "\\PC{0,70}",
    ]
}

fn yes_no() -> impl Strategy<Value = bool> {
    any::<bool>()
}

fn locale() -> impl Strategy<Value = Locale> {
    prop_oneof![Just(Locale::En), Just(Locale::Es)]
}

/// Identifiers as content and configuration allow them (FAQ ids, topic and program ids).
fn id() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,40}"
}

/// Every kind of action, with the values each may carry.
fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (
            yes_no(),
            locale(),
            proptest::option::of("[A-Za-z0-9_-]{8,57}")
        )
            .prop_map(|(agree, locale, invite)| Action::Consent {
                agree,
                locale,
                invite
            }),
        yes_no().prop_map(Action::ShareText),
        prop_oneof![
            proptest::sample::select(chrono_tz::TZ_VARIANTS.to_vec())
                .prop_map(|tz| tz.name().to_string()),
            "[^\\x00]{0,15}",
        ]
        .prop_map(Action::Timezone),
        locale().prop_map(Action::Language),
        yes_no().prop_map(|confirm| Action::Forget { confirm }),
        yes_no().prop_map(Action::Safe),
        (
            yes_no(),
            prop_oneof![Just(OutreachReason::Crisis), Just(OutreachReason::Support)]
        )
            .prop_map(|(want, reason)| Action::Outreach { want, reason }),
        id().prop_map(Action::FaqTopic),
        id().prop_map(Action::FaqEntry),
        id().prop_map(Action::Program),
        (
            any::<i64>(),
            prop_oneof![
                Just(RsvpAnswer::Going),
                Just(RsvpAnswer::Late),
                Just(RsvpAnswer::Absent)
            ]
        )
            .prop_map(|(session, answer)| Action::Rsvp { session, answer }),
        (1u8..=5).prop_map(Action::Mood),
        (yes_no(), any::<u64>()).prop_map(|(claim, id)| Action::Alert { claim, id }),
        yes_no().prop_map(Action::Broadcast),
        prop_oneof![
            Just(UseAnswer::Yes),
            Just(UseAnswer::No),
            Just(UseAnswer::Undisclosed)
        ]
        .prop_map(Action::Used),
        yes_no().prop_map(Action::ReachOut),
    ]
}

/// A stored state: none, unreadable, or a record in any dialogue, with or without a
/// time zone, program and care-team consent, as a participant or an alumnus with a
/// check-in open.
fn stored(now: DateTime<Utc>) -> impl Strategy<Value = Stored> {
    let record = (
        locale(),
        prop_oneof![
            Just(Dialogue::Idle),
            Just(Dialogue::AwaitingTimezone),
            Just(Dialogue::ConfirmForget),
            Just(Dialogue::AwaitingAlias),
        ],
        yes_no(),
        yes_no(),
        yes_no(),
    )
        .prop_map(move |(locale, dialogue, settled, alumnus, paused)| {
            let mut r = UserRecord::new(locale, now - Duration::days(60));
            r.dialogue = dialogue;
            r.paused = paused;
            if settled {
                r.timezone = Some("America/Chicago".into());
                r.care_team_consent = true;
                r.program = Some("evening".into());
                r.alias = Some("Sam".into());
            }
            if alumnus {
                r.discharged_on = Some((now - Duration::days(40)).date_naive());
                r.open_checkin = Some(Checkin {
                    started: now - Duration::hours(1),
                    mood: None,
                    used: None,
                    reach_out: None,
                });
            }
            Stored::Found(r)
        });
    prop_oneof![
        1 => Just(Stored::Nothing),
        1 => Just(Stored::Unreadable),
        4 => record,
    ]
}

/// An ordinary afternoon, New York's spring-forward and fall-back mornings, New Year's Eve.
fn moment() -> impl Strategy<Value = DateTime<Utc>> {
    proptest::sample::select(vec![
        "2026-11-24T15:00:00Z",
        "2026-03-08T07:30:00Z",
        "2026-11-01T06:30:00Z",
        "2026-12-31T23:59:59Z",
    ])
    .prop_map(at)
}

fn inbound_case() -> impl Strategy<Value = (Stored, Inbound)> {
    moment().prop_flat_map(|now| {
        (
            stored(now),
            prop_oneof![
                message().prop_map(Body::Text),
                button_data().prop_map(Body::Button),
                Just(Body::Unsupported),
            ],
            yes_no(),
            proptest::option::of(locale()),
            prop_oneof![4 => Just(ChatKind::Private), 1 => Just(ChatKind::Shared)],
        )
            .prop_map(move |(stored, body, sms, language, chat)| {
                let user = if sms {
                    UserKey::new(Channel::Sms, "+15551230001")
                } else {
                    UserKey::new(Channel::Telegram, "4242")
                };
                let inbound = Inbound {
                    user,
                    at: now,
                    language,
                    chat,
                    body,
                    sender: None,
                };
                (stored, inbound)
            })
    })
}

/// SMS text: any printable text, or text built from the characters that make SMS hard
/// (extension-table characters, look-alikes, joiners, astral emoji, line breaks).
fn sms_text() -> impl Strategy<Value = String> {
    let tricky = proptest::sample::select(vec![
        'a', 'Z', '0', ' ', ' ', '\n', '\r', '\t', '{', '€', '^', '\\', 'é', 'ñ', '¿', 'Ç', '“',
        '’', '—', '…', '\u{a0}', '\u{200b}', '\u{200d}', '\u{fe0f}', '\u{20e3}', '😀', '👍', '🏽',
        'д', '中', '\u{301}',
    ]);
    prop_oneof![
        "\\PC{0,400}",
        proptest::collection::vec(tricky, 0..400).prop_map(|cs| cs.into_iter().collect()),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("\\PC{0,12}", "\\PC{0,30}"), 0..8)
}

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_engine_answers_anything_in_any_state((stored, inbound) in inbound_case()) {
        let outcome = engine().handle(&stored, &inbound);
        assert_answers(&outcome)?;
        if let Body::Text(text) = &inbound.body
            && engine().content().screener.screen(text).is_crisis()
        {
            prop_assert!(outcome.replies.iter().any(|r| r.urgent), "{text:?}");
        }
    }

    #[test]
    fn triage_answers_anything(text in message(), locale in locale(), now in moment()) {
        assert_answers(&engine().triage(&text, locale, now))?;
    }

    #[test]
    fn actions_round_trip_through_button_data(action in action()) {
        let data = action.encode();
        prop_assert!(data.len() <= MAX_DATA_BYTES, "{data:?}");
        prop_assert_eq!(Action::decode(&data), Some(action));
    }

    #[test]
    fn whatever_decodes_encodes_back(data in button_data()) {
        if let Some(action) = Action::decode(&data) {
            let encoded = action.encode();
            prop_assert!(encoded.len() <= MAX_DATA_BYTES);
            prop_assert_eq!(Action::decode(&encoded), Some(action));
        }
    }

    #[test]
    fn config_parse_never_panics(text in "\\PC{0,300}") {
        let _ = Config::parse(Path::new("fuzz.toml"), &text);
    }

    /// The example with one line replaced, or one value changed: mostly well-formed TOML,
    /// so the checks behind the parser are reached. Accepted settings must run.
    #[test]
    fn config_edits_never_panic(
        line in any::<prop::sample::Index>(),
        replacement in prop_oneof![
            "\\PC{0,60}",
            Just(String::new()),
            Just("\"\"".to_string()),
            Just("\"25:00-08:00\"".to_string()),
            Just("\"21:00-21:00\"".to_string()),
            Just("\"0 0 31 2 *\"".to_string()),
            Just("\"60 25 * * *\"".to_string()),
            Just("\"Mars/Olympus_Mons\"".to_string()),
            Just("\"0s\"".to_string()),
            Just("\"99999999h\"".to_string()),
            Just("-1".to_string()),
            Just("18446744073709551616".to_string()),
            Just("[]".to_string()),
            Just("1e308".to_string()),
        ],
        whole_line in any::<bool>(),
    ) {
        let lines: Vec<&str> = example_config().lines().collect();
        let i = line.index(lines.len());
        let edited_line = match lines[i].split_once(" = ") {
            Some((key, _)) if !whole_line => format!("{key} = {replacement}"),
            _ => replacement.clone(),
        };
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[i] = edited_line;
        let text = edited.join("\n");
        if let Ok(config) = Config::parse(Path::new("waypoint.toml"), &text) {
            let engine = Engine::new(content(), config.settings);
            let now = at("2026-11-24T15:00:00Z");
            assert_answers(&engine.triage("hi", Locale::En, now))?;
            let mut record = UserRecord::new(Locale::En, now - Duration::days(60));
            record.dialogue = Dialogue::Idle;
            record.discharged_on = Some((now - Duration::days(40)).date_naive());
            let inbound = Inbound {
                user: UserKey::new(Channel::Telegram, "4242"),
                at: now,
                language: None,
                chat: ChatKind::Private,
                body: Body::Text("/program".into()),
                sender: None,
            };
            assert_answers(&engine.handle(&Stored::Found(record), &inbound))?;
        }
    }

    #[test]
    fn default_settings_engine_is_unaffected(text in message()) {
        // The engine on `Settings::default()` (no programs) answers too.
        static DEFAULT: OnceLock<Engine> = OnceLock::new();
        let engine = DEFAULT.get_or_init(|| Engine::new(content(), Settings::default()));
        assert_answers(&engine.triage(&text, Locale::Es, at("2026-11-24T15:00:00Z")))?;
    }

    #[test]
    fn sms_rules_never_panic_and_keep_their_invariants(
        text in sms_text(),
        limit in prop_oneof![0usize..200, Just(MAX_BODY_CHARS)],
    ) {
        let _ = keyword(&text);
        let _ = invite(&text);
        let _ = is_e164(&text);
        if let Some(n) = choice(&text) {
            prop_assert!(n >= 1);
        }
        prop_assert!(segments(&text).count >= 1);
        let friendly = gsm_friendly(&text);
        prop_assert!(segments(&friendly).count >= 1);
        for body in [text.as_str(), friendly.as_ref()] {
            let pieces = split(body, limit);
            for piece in &pieces {
                prop_assert!(!piece.is_empty());
                prop_assert!(piece.chars().count() <= limit.max(1), "{piece:?} over {limit}");
            }
            if !body.trim().is_empty() {
                prop_assert!(!pieces.is_empty());
            }
            // Only whitespace (at breaks and at the ends) is ever dropped.
            let kept: String = pieces.concat().chars().filter(|c| !c.is_whitespace()).collect();
            let given: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            prop_assert_eq!(kept, given);
        }
    }

    #[test]
    fn e164_numbers_are_recognised(digits in "[1-9][0-9]{7,14}") {
        let number = format!("+{digits}");
        prop_assert!(is_e164(&number));
        prop_assert!(!is_e164(&digits));
        let extended = format!("{number}0");
        prop_assert_eq!(is_e164(&extended), digits.len() < 15);
    }

    #[test]
    fn a_signature_verifies_exactly_its_own_request(
        token in "\\PC{0,40}",
        url in "https://[a-z]{1,10}\\.example/[a-z?=&]{0,20}",
        params in params(),
        which in any::<prop::sample::Index>(),
        extra in "\\PC{1,3}",
    ) {
        let signature = sign(&token, &url, &params);
        prop_assert!(verify(&token, &url, &params, &signature));
        // Parameter order and stray whitespace around the header do not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        let padded = format!(" {signature}\r\n");
        prop_assert!(verify(&token, &url, &reversed, &padded));
        // Any change to what was signed breaks it. (Edits that change the signed string's
        // length: name and value are joined with no separator, so "ab"+"c" and "a"+"bc"
        // sign alike, as they do for Twilio.)
        if !params.is_empty() {
            let i = which.index(params.len());
            let mut value = params.clone();
            value[i].1.push_str(&extra);
            prop_assert!(!verify(&token, &url, &value, &signature));
            let mut name = params.clone();
            name[i].0.insert_str(0, &extra);
            prop_assert!(!verify(&token, &url, &name, &signature));
            let mut fewer = params.clone();
            let removed = fewer.remove(i);
            if !(removed.0.is_empty() && removed.1.is_empty()) {
                prop_assert!(!verify(&token, &url, &fewer, &signature));
            }
        }
        let mut more = params.clone();
        more.push(("Extra".into(), extra.clone()));
        prop_assert!(!verify(&token, &url, &more, &signature));
        let longer_url = format!("{url}{extra}");
        prop_assert!(!verify(&token, &longer_url, &params, &signature));
        let longer_token = format!("{token}{extra}");
        prop_assert!(!verify(&longer_token, &url, &params, &signature));
        prop_assert!(!verify(&token, &url, &params, &signature[..signature.len() - 4]));
    }
}
