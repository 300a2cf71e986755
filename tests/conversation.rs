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
        [New York (Eastern)]
        [Chicago (Central)]
        * Chicago (Central)
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
        [New York (Eastern)]
        = dialogue
        > pacific
        < Time zone saved: America/Los_Angeles
        > /timezone
        > europe/madrid
        < Time zone saved: Europe/Madrid
        ! You're all set
        > /timezone
        < a city like Chicago, or a plain name like eastern
        > Honolulu
        < Time zone saved: Pacific/Honolulu
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
        * Denver (Mountain)
        > /privacy
        < chat: tg:4242
        < language: English
        < time zone: America/Denver
        < agreed to this on: 2026-11-24 8:00 AM
        < reminders and check-ins: on
        < Your program
        < next scheduled messages: none
        < no one at a clinic sees anything you send here
        ! open question
        ! UTC
        ",
    );
}

#[test]
fn privacy_for_someone_with_a_care_team_lists_what_staff_see_in_their_zone() {
    let mut c = Conversation::new();
    c.check("> /start\n* I agree\n* Denver (Mountain)");
    let Stored::Found(mut record) = c.store.load(&c.user).unwrap() else {
        panic!("enrolled")
    };
    record.care_team_consent = true;
    record.program = Some("evening".into());
    record.alias = Some("Jo".into());
    c.store.save(&c.user, &record, true).unwrap();
    c.check(
        "
        > i want to end my life
        * Yes, let them know
        > /privacy
        < Your care team
        < the name they see: Jo
        < they also see your words: No
        < things noted for them to follow up: 2
        < your requests for them to reach out: 2026-11-24 8:00 AM (after a crisis message)
        ! no one at a clinic
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
        * Denver (Mountain)
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
        * Denver (Mountain)
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
        * Denver (Mountain)
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
        * Denver (Mountain)
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
    c.check("> /start\n* I agree\n* Denver (Mountain)");
    c.deliver(Body::Button("c:y:es".into()));
    assert!(c.said().contains("already set up"));
}

#[test]
fn odd_text_never_breaks_the_conversation() {
    let mut c = Conversation::new();
    c.check("> /start\n* I agree\n* Denver (Mountain)");
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

const EVENING: &str = r#"
[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
"#;

/// Someone who joined with plain /start and /program: no staff member sees them.
fn joined_without_an_invite() -> Conversation {
    let config = waypoint::config::Config::parse(std::path::Path::new("t.toml"), EVENING).unwrap();
    let mut c = Conversation::with_settings(config.settings);
    c.check(
        "
        > /start
        * I agree
        * New York (Eastern)
        > /program
        * Evening group
        < Next session: tomorrow at 6:00 PM
        ",
    );
    c
}

#[test]
fn without_a_care_team_no_reply_promises_a_follow_up() {
    let mut c = joined_without_an_invite();
    // "Can't make it" for tomorrow's session (2026-11-25 18:00 New York).
    let session = common::t0() + chrono::Duration::hours(32);
    let absent = waypoint::engine::buttons::Action::Rsvp {
        session: session.timestamp() / 60,
        answer: waypoint::engine::state::RsvpAnswer::Absent,
    };
    c.deliver(Body::Button(absent.encode()));
    let said = c.said();
    assert!(!said.contains("care team"), "{said}");
    assert!(said.contains("no one at a clinic sees it"), "{said}");
    // A worrying check-in: no "reach out?" question, no promise, the ways to call.
    c.check(
        "
        > /checkin
        * 1
        < Any alcohol or drug use
        * Yes
        < no one at a clinic sees them
        < call your clinic
        < 988
        ! follow up
        ! reach out
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!("no record")
    };
    assert!(record.escalations.is_empty(), "{:?}", record.escalations);
    assert_eq!(record.checkins.len(), 1);
    assert!(record.open_checkin.is_none());
}

#[test]
fn a_bare_number_with_no_question_open_is_never_an_faq_question() {
    let mut c = joined_without_an_invite();
    for number in ["3", "42", "#2", "1000."] {
        c.send(number);
        let said = c.said();
        assert!(
            said.contains("no numbered question is open"),
            "{number}: {said}"
        );
        assert_eq!(c.route(), "other", "{number}");
    }
    // Before consent too, and in Spanish.
    let mut fresh = Conversation::new();
    fresh.language = Some(Locale::Es);
    fresh.send("/start");
    fresh.send("42");
    assert!(
        fresh.said().contains("ninguna pregunta numerada"),
        "{}",
        fresh.said()
    );
}

#[test]
fn asking_when_ones_group_meets_gets_the_next_session_in_ones_zone() {
    let mut c = joined_without_an_invite();
    c.check(
        "
        > what time is my group tonight?
        < Your next Evening group session is tomorrow at 6:00 PM.
        > ¿a qué hora es mi grupo mañana?
        < Tu próxima sesión de Evening group es mañana a las
        ",
    );
    // Someone without a program is told how to get one.
    let mut fresh = Conversation::new();
    fresh.check(
        "
        > /start
        * I agree
        * New York (Eastern)
        > when is my next session
        < send /program
        ",
    );
}

#[test]
fn time_zone_buttons_name_the_city_and_the_region_in_the_persons_language() {
    let mut c = Conversation::new();
    c.language = Some(Locale::Es);
    c.check(
        "
        > /start
        * Acepto
        < este, centro, montaña o pacífico
        [New York (Este)]
        [Los Angeles (Pacífico)]
        [Honolulu (Hawái)]
        > pacífico
        < Zona horaria guardada: America/Los_Angeles
        ",
    );
}

/// Lines a test types into the terminal, one at a time; reading blocks until the next
/// one (or the end, when the sender is dropped).
struct Typed(std::sync::mpsc::Receiver<String>, std::io::Cursor<Vec<u8>>);

impl std::io::Read for Typed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.position() as usize == self.1.get_ref().len() {
            match self.0.recv() {
                Ok(line) => self.1 = std::io::Cursor::new(format!("{line}\n").into_bytes()),
                Err(_) => return Ok(0),
            }
        }
        self.1.read(buf)
    }
}

/// What the terminal printed so far.
#[derive(Clone, Default)]
struct Screen(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (up to a generous bound, never part of what is asserted) for `what`.
    fn wait_for(&self, what: &str) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if self.text().contains(what) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }
}

#[test]
fn the_terminal_prints_a_reminder_when_it_is_due_without_waiting_for_a_line() {
    use std::sync::Arc;
    use waypoint::clock::{Clock, ManualClock};
    let config = waypoint::config::Config::parse(std::path::Path::new("t.toml"), EVENING).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = waypoint::store::Store::open(dir.path()).unwrap();
    let engine = waypoint::engine::Engine::new(common::content(), config.settings);
    let app = Arc::new(waypoint::app::App::staffed(engine, store.clone()));
    let scheduler = waypoint::delivery::Scheduler::new(app.clone(), store);
    let clock = Arc::new(ManualClock::new(common::t0()));
    let user = waypoint::user::UserKey::new(waypoint::user::Channel::Terminal, "ana");
    let (typing, typed) = std::sync::mpsc::channel();
    let screen = Screen::default();
    std::thread::scope(|scope| {
        let (out, clock_ref) = (screen.clone(), clock.clone());
        let (app, scheduler, user) = (&app, &scheduler, &user);
        let chat = scope.spawn(move || {
            let input = std::io::BufReader::new(Typed(typed, std::io::Cursor::new(Vec::new())));
            let clock: &dyn Clock = clock_ref.as_ref();
            waypoint::channels::console::run(
                app,
                scheduler,
                clock,
                user,
                Some(Locale::En),
                input,
                out,
                false,
            )
        });
        for line in ["/start", "1", "1", "/program", "1"] {
            typing.send(line.to_string()).unwrap();
        }
        assert!(
            screen.wait_for("Next session: tomorrow at 6:00 PM"),
            "{}",
            screen.text()
        );
        // A day later, with nothing typed: the reminder for the evening session appears.
        clock.advance(chrono::Duration::hours(26));
        let shown = screen.wait_for("Will you make it?");
        drop(typing);
        chat.join().unwrap().unwrap();
        assert!(
            shown,
            "no reminder printed while waiting:\n{}",
            screen.text()
        );
    });
}

#[test]
fn a_consent_button_counts_only_while_the_consent_question_is_open() {
    let mut c = Conversation::new();
    // Button data nobody was shown: no consent, the question instead.
    for data in ["c:y:en", "c:y:en:AAAAAAAAAAAAAAAA"] {
        c.deliver(Body::Button(data.into()));
        assert_eq!(c.store.load(&c.user).unwrap(), Stored::Nothing, "{data}");
        assert!(c.labels().iter().any(|l| l.contains("I agree")), "{data}");
    }
    // The question just shown can be answered, once.
    c.check("* I agree\n< time zone");
    assert!(matches!(c.store.load(&c.user).unwrap(), Stored::Found(_)));
    c.check("> /forget\n* Yes\n");
    assert_eq!(c.store.load(&c.user).unwrap(), Stored::Nothing);
    c.deliver(Body::Button("c:y:en".into()));
    assert_eq!(c.store.load(&c.user).unwrap(), Stored::Nothing);
}

#[test]
fn a_discharge_date_in_the_future_is_refused() {
    let mut c = Conversation::new();
    c.user = waypoint::user::UserKey::new(waypoint::user::Channel::Terminal, "dee");
    c.check("> /start\n* I agree\n* Denver (Mountain)\n> /_discharge 2099-01-01\n< 2099\n! Congratulations");
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!("enrolled")
    };
    assert_eq!(record.discharged_on, None);
    let today = waypoint::clock::Clock::now(&c.clock)
        .format("%Y-%m-%d")
        .to_string();
    c.check(&format!("> /_discharge {today}\n< Congratulations"));
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

#[test]
fn a_reminder_can_be_answered_and_changed_in_words() {
    use waypoint::engine::state::RsvpAnswer;
    let mut c = joined_without_an_invite();
    let rsvps = |c: &Conversation| match c.store.load(&c.user).unwrap() {
        Stored::Found(r) => r.rsvps.iter().map(|r| r.answer).collect::<Vec<_>>(),
        _ => panic!("enrolled"),
    };
    // 32 h before the session: not an answer to anything yet.
    c.send("I have to miss group tomorrow");
    assert!(rsvps(&c).is_empty(), "{}", c.said());
    // 22 h before: an answer, and it can change.
    c.clock.advance(chrono::Duration::hours(10));
    c.check("> can't come to group tomorrow, I have to work\n< no one at a clinic sees it\n! Are you safe");
    assert_eq!(rsvps(&c), [RsvpAnswer::Absent]);
    c.check("> I can make it after all, see you at group\n< see you there");
    assert_eq!(rsvps(&c), [RsvpAnswer::Going]);
    c.check("> running late, be there soon\n< Come when you can");
    assert_eq!(rsvps(&c), [RsvpAnswer::Late]);

    // In Spanish too.
    let config = waypoint::config::Config::parse(std::path::Path::new("t.toml"), EVENING).unwrap();
    let mut es = Conversation::with_settings(config.settings);
    es.language = Some(Locale::Es);
    es.check("> /start\n* Acepto\n* New York (Este)\n> /program\n* Evening group");
    es.clock.advance(chrono::Duration::hours(10));
    es.check("> al final no puedo ir al grupo mañana\n< Está bien faltar a una sesión\n! a salvo");
    assert_eq!(rsvps(&es), [RsvpAnswer::Absent]);
}

#[test]
fn privacy_names_why_a_text_was_held_in_the_persons_language() {
    let mut c = Conversation::new();
    c.language = Some(Locale::Es);
    c.check("> /start\n* Acepto\n* New York (Este)");
    let Stored::Found(mut record) = c.store.load(&c.user).unwrap() else {
        panic!("enrolled")
    };
    record.held.push(waypoint::engine::state::Held {
        at: common::t0(),
        what: "reminder".into(),
        reason: waypoint::schedule::caps::HoldReason::WeeklyCap,
    });
    c.store.save(&c.user, &record, true).unwrap();
    c.check("> /privacy\n< (recordatorio 2026-11-24, límite semanal)\n! weekly limit");
}
