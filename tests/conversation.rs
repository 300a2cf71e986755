//! Conversation transcripts through the whole app (engine + real store), one `check` each.

mod common;

use common::Conversation;
use waypoint::engine::{Body, ChatKind, Dialogue, Stored};
use waypoint::locale::Locale;

#[test]
fn onboarding_consent_then_timezone_by_button() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        < automated helper
        < 911
        < 988
        [I agree]
        [Not now]
        = command
        * I agree
        < Which time zone
        [America/New York]
        [America/Chicago]
        * America/Chicago
        < Time zone saved: America/Chicago
        < You're all set
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!("no record")
    };
    assert_eq!(record.timezone.as_deref(), Some("America/Chicago"));
    assert_eq!(record.dialogue, Dialogue::Idle);
    assert_eq!(record.consented_at, common::t0());
}

#[test]
fn nothing_is_stored_before_consent_or_after_declining() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        > hello there
        > /privacy
        < I don't keep anything about you
        > /language
        * Español
        < Hola
        [Acepto]
        * Ahora no
        < No guardé nada
        ",
    );
    assert_eq!(c.store.load(&c.user).unwrap(), Stored::Nothing);
    assert!(c.store.keys_of(&c.user).unwrap().is_empty());
}

#[test]
fn a_typed_timezone_is_read_and_a_wrong_one_gets_help() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        * I agree
        > Mars/Olympus_Mons
        < I don't know a time zone called \"Mars/Olympus_Mons\"
        [America/New York]
        = dialogue
        > pacific
        < Time zone saved: America/Los_Angeles
        > /timezone
        > europe/madrid
        < Time zone saved: Europe/Madrid
        ! You're all set
        ",
    );
}

#[test]
fn privacy_shows_exactly_what_is_stored() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        * I agree
        * America/Denver
        > /privacy
        < chat: tg:4242
        < language: English
        < time zone: America/Denver
        < agreed to this on: 2026-11-24 15:00 UTC
        < reminders and check-ins: on
        ",
    );
}

#[test]
fn stop_and_resume_pause_proactive_messages() {
    let mut c = Conversation::new();
    c.check(
        "
        > /stop
        < Send /start first
        > /start
        * I agree
        * America/Denver
        > /stop
        < Paused
        > /stop
        < already paused
        > /privacy
        < reminders and check-ins: paused
        > /resume
        < Welcome back
        > /resume
        < already on
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!()
    };
    assert!(!record.paused);
}

#[test]
fn forget_needs_confirmation_and_erases_everything() {
    let mut c = Conversation::new();
    c.check(
        "
        > /forget
        < nothing to erase
        > /start
        * I agree
        * America/Denver
        > /forget
        < can't be undone
        * No, keep it
        < nothing was erased
        > /forget
        * Yes, erase everything
        < has been erased
        > /privacy
        < I don't keep anything about you
        ",
    );
    assert!(c.store.keys_of(&c.user).unwrap().is_empty());
}

#[test]
fn a_stale_forget_button_erases_nothing() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        * I agree
        * America/Denver
        > /forget
        * No, keep it
        ",
    );
    // The confirmation message still shows its buttons; pressing "yes" later must not erase.
    c.deliver(Body::Button("f:y".into()));
    assert!(c.said().contains("no longer active"));
    assert!(matches!(c.store.load(&c.user).unwrap(), Stored::Found(_)));
}

#[test]
fn language_switches_every_reply() {
    let mut c = Conversation::new();
    c.check(
        "
        > /start
        * I agree
        * America/Denver
        > /language
        * Español
        < español
        > /help
        < /privacy
        < 988
        ! Here's what I can do
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!()
    };
    assert_eq!(record.locale, Locale::Es);
}

#[test]
fn telegram_language_code_picks_the_first_language() {
    let mut c = Conversation::new();
    c.language = Some(Locale::Es);
    c.check(
        "
        > /start
        < Waypoint
        [Acepto]
        * Acepto
        < zona horaria
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!()
    };
    assert_eq!(record.locale, Locale::Es);
}

#[test]
fn unknown_commands_and_non_text_get_a_polite_reply() {
    let mut c = Conversation::new();
    c.check(
        "
        > /frobnicate now
        < I don't know that command
        > /start@WaypointBot
        [I agree]
        ",
    );
    c.deliver(Body::Unsupported);
    assert!(c.said().contains("only read text"));
}

#[test]
fn group_chats_get_one_line_and_nothing_is_stored() {
    let mut c = Conversation::new();
    c.chat = ChatKind::Shared;
    c.check(
        "
        > /start
        < only work in private chats
        ! I agree
        ",
    );
    c.deliver(Body::Button("c:y:en".into()));
    assert!(c.said().contains("only work in private chats"));
    assert!(c.store.keys_of(&c.user).unwrap().is_empty());
}

#[test]
fn forged_and_stale_buttons_are_handled_politely() {
    let mut c = Conversation::new();
    for data in [
        "",
        "zz",
        "c:maybe:en",
        "tz:Mars/Base",
        "f:y",
        "o:y:c",
        &"x".repeat(300),
    ] {
        c.deliver(Body::Button(data.to_string()));
        assert!(
            c.said().contains("no longer active"),
            "{data:?}: {}",
            c.said()
        );
    }
    assert!(c.store.keys_of(&c.user).unwrap().is_empty());
    // Consent pressed twice: the second press changes nothing.
    c.check("> /start\n* I agree\n* America/Denver");
    c.deliver(Body::Button("c:y:es".into()));
    assert!(c.said().contains("already set up"));
}

#[test]
fn odd_text_never_breaks_the_conversation() {
    let mut c = Conversation::new();
    c.check("> /start\n* I agree\n* America/Denver");
    for text in [
        String::new(),
        "   ".into(),
        "a".repeat(10_000),
        "\u{0000}\u{0007}\u{001b}[31m hi".into(),
        "\u{202e}\u{200f}مرحبا\u{200e}".into(),
        "🙂".repeat(3000),
    ] {
        let replies = c.send(&text).to_vec();
        assert!(
            !replies.is_empty(),
            "no reply to {:?}",
            text.chars().take(20).collect::<String>()
        );
        assert!(replies.iter().all(|r| !r.text.trim().is_empty()));
    }
    c.check(">\n< didn't get any text");
}

/// One person's flood (fault 1, inbound): the first messages of a burst are answered,
/// the next gets one "slow down" note and the rest nothing (nothing queued for them);
/// crisis language and the data rights are answered at once whatever the pace, and after
/// a pause the person is answered again.
#[test]
fn a_flood_is_taken_at_a_pace_but_crisis_language_is_always_answered() {
    use waypoint::engine::Route;
    use waypoint::pace::BURST;
    let mut c = Conversation::new();
    let question = "how long does the program last";
    for _ in 0..BURST {
        assert!(!c.send(question).is_empty());
    }
    c.send(question);
    assert!(
        c.said().contains("faster than I can answer"),
        "{}",
        c.said()
    );
    for _ in 0..200 {
        assert!(c.send(question).is_empty(), "told once per burst");
    }
    c.send("i want to kill myself tonight");
    assert_eq!(c.last_outcome.as_ref().unwrap().route, Route::Crisis);
    assert!(c.said().contains("988"));
    c.send("/privacy");
    assert!(!c.last.is_empty(), "the data rights hold at any pace");
    c.clock.advance(chrono::Duration::minutes(1));
    c.send(question);
    assert_eq!(c.last_outcome.as_ref().unwrap().route, Route::Faq);
}
