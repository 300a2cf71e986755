//! Safety screening on the shipped lexicons: tables per category with hard negatives,
//! properties under spelling changes, and transcripts showing the crisis check comes first.
//! The examples are this project's own, not the evaluation set's.

mod common;

use chrono::{DateTime, Utc};
use waypoint::enroll::InviteStatus;

use std::sync::Arc;

use common::Conversation;
use proptest::prelude::*;
use waypoint::app::Records;
use waypoint::engine::{Stored, UserRecord};
use waypoint::safety::{Clinical, Crisis, Layers, Screener, Support};
use waypoint::store::StoreError;
use waypoint::user::UserKey;

fn screener() -> &'static Screener {
    use std::sync::OnceLock;
    static CONTENT: OnceLock<Arc<waypoint::content::Content>> = OnceLock::new();
    &CONTENT.get_or_init(common::content).screener
}

fn crisis_of(text: &str) -> Vec<Crisis> {
    screener().screen(text).crisis
}

#[test]
fn crisis_language_is_caught_in_every_category() {
    let table: &[(&str, Crisis)] = &[
        ("i want to end my life", Crisis::Suicide),
        (
            "honestly thinking about killing myself tonight",
            Crisis::Suicide,
        ),
        ("everyone would be better off without me", Crisis::Suicide),
        ("kms", Crisis::Suicide),
        ("gonna unalive myself", Crisis::Suicide),
        ("I WANT TO DIEEEE", Crisis::Suicide),
        ("i want to just die", Crisis::Suicide),
        ("thinking of k!lling mys3lf", Crisis::Suicide),
        ("im so suicidle rn", Crisis::Suicide),
        ("me quiero morir", Crisis::Suicide),
        (
            "ya no quiero vivir, voy a quitarme la vida",
            Crisis::Suicide,
        ),
        ("i keep cutting myself", Crisis::SelfHarm),
        ("quiero cortarme otra vez", Crisis::SelfHarm),
        ("i took all my pills", Crisis::Overdose),
        (
            "i'm going to take every pill in the cabinet",
            Crisis::Overdose,
        ),
        ("i can't keep myself safe tonight", Crisis::Suicide),
        ("im thinking about ending things", Crisis::Suicide),
        ("wrote goodbye letters to my family", Crisis::Suicide),
        ("my brother isn't breathing after using", Crisis::Overdose),
        ("he overdosed and won't wake up", Crisis::Overdose),
        (
            "mi amigo tuvo una sobredosis y no respira",
            Crisis::Overdose,
        ),
        (
            "stopped drinking three days ago and now i'm having seizures",
            Crisis::Withdrawal,
        ),
        (
            "i'm going to stab him when he gets home",
            Crisis::HarmOthers,
        ),
        (
            "my husband hits me and i'm scared to go home",
            Crisis::Unsafe,
        ),
    ];
    for (text, category) in table {
        // The rules name the kind; with the learned layer the message gets the crisis
        // reply or, where the model doubts it, the "are you safe?" check.
        let found = screener().screen_with(text, Layers::Rules).crisis;
        assert!(
            found.contains(category),
            "{text:?}: expected {category:?}, found {found:?}"
        );
        assert!(screener().screen(text).is_risk(), "{text:?}");
    }
}

#[test]
fn a_crisis_sentence_buried_in_a_long_message_is_found() {
    let filler = "today was long, work ran late and the bus was slow again. ".repeat(20);
    let text = format!("{filler}honestly i want to kill myself. {filler}");
    assert!(screener().screen(&text).is_crisis());
}

#[test]
fn idioms_and_ordinary_messages_are_not_crisis() {
    for text in [
        "this commute is killing me",
        "my phone died in the middle of the call",
        "i'm dying to see the new movie",
        "that workout killed my legs lol",
        "i could murder a burger right now",
        "the battery is dead again",
        "what time is group on tuesday?",
        "me muero de hambre",
        "how many hours a week is the program",
        "i nailed my presentation, killed it",
        "i'm ending things with my boyfriend",
        "i'm kicking myself for missing group",
    ] {
        let found = crisis_of(text);
        assert!(found.is_empty(), "{text:?} was taken as {found:?}");
    }
}

#[test]
fn medical_advice_requests_are_recognised_but_program_questions_are_not() {
    let clinical = [
        "can i drink alcohol while taking naltrexone",
        "how many mg of suboxone should i take",
        "is it ok to stop my zoloft suddenly",
        "¿puedo tomar alcohol con la naltrexona?",
    ];
    for text in clinical {
        let a = screener().screen(text);
        assert!(a.clinical.is_some() && !a.is_crisis(), "{text:?}: {a:?}");
    }
    for text in [
        "does the program offer medication management",
        "is detox part of iop",
    ] {
        let a = screener().screen(text);
        assert_eq!(a.clinical, None, "{text:?}: {a:?}");
    }
    assert!(matches!(
        screener()
            .screen("should i lower my methadone dose")
            .clinical,
        Some(Clinical::Medication)
    ));
}

#[test]
fn cravings_and_lapses_get_support_not_crisis() {
    for text in [
        "really craving a drink tonight",
        "i relapsed last weekend",
        "tengo muchas ganas de consumir",
    ] {
        let a = screener().screen(text);
        assert!(a.support.is_some() && !a.is_crisis(), "{text:?}: {a:?}");
    }
    assert!(matches!(
        screener().screen("i slipped and drank last night").support,
        Some(Support::Lapse | Support::Craving)
    ));
}

fn leet(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'i' => '1',
            'e' => '3',
            'o' => '0',
            other => other,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn screening_never_panics(text in "\\PC{0,400}") {
        let _ = screener().screen(&text);
    }

    #[test]
    fn verdicts_survive_case_spacing_accents_and_leetspeak(
        index in 0usize..6,
        upper in any::<bool>(),
        spaces in 1usize..4,
        leetify in any::<bool>(),
    ) {
        let phrases = [
            "i want to kill myself",
            "going to end my life tonight",
            "this commute is killing me",
            "what time does group start",
            "quiero morir",
            "my phone died",
        ];
        let base = phrases[index];
        let mut variant = base.split(' ').collect::<Vec<_>>().join(&" ".repeat(spaces));
        if upper { variant = variant.to_uppercase(); }
        if leetify { variant = leet(&variant); }
        if index == 4 { variant = variant.replace('e', "é"); }
        prop_assert_eq!(
            screener().screen(base).is_crisis(),
            screener().screen(&variant).is_crisis(),
            "{} vs {}", base, variant
        );
    }
}

#[test]
fn crisis_comes_first_before_consent_after_stop_and_mid_dialogue() {
    let mut c = Conversation::new();
    c.check(
        "
        # before consent: no record at all
        > i want to kill myself
        = crisis
        < 988
        [Yes, I'm safe]
        > /start
        * I agree
        # mid-dialogue: the time zone question is open
        > i took all my pills
        = crisis
        < 911
        < Poison Control: 1-800-222-1222
        > /privacy
        < time zone: not set
        > /stop
        > quiero morirme
        = crisis
        < 988
        < AYUDA
        * No
        < 911
        ",
    );
}

#[test]
fn the_care_team_offer_needs_consent_from_enrollment() {
    let mut c = Conversation::new();
    c.check("> /start\n* I agree\n* Denver (Mountain)\n> i want to end my life\n! care team know");
    let Stored::Found(mut record) = c.store.load(&c.user).unwrap() else {
        panic!()
    };
    // Consent alone is not enough: staff see only people in a program.
    record.care_team_consent = true;
    c.store.save(&c.user, &record, true).unwrap();
    c.check("> i want to end my life\n! care team know");
    record.program = Some("evening".into());
    c.store.save(&c.user, &record, true).unwrap();
    c.check(
        "
        > i want to end my life
        < let your care team know
        * Yes, let them know
        < saved your request
        ",
    );
    let Stored::Found(record) = c.store.load(&c.user).unwrap() else {
        panic!()
    };
    assert_eq!(record.outreach_requests.len(), 1);
}

/// A store that fails: every operation, or only writes.
struct BrokenStore {
    reads_work: bool,
}

fn fire() -> StoreError {
    StoreError::Sled(sled::Error::Unsupported("disk on fire".into()))
}

impl Records for BrokenStore {
    fn load(&self, _: &UserKey) -> Result<Stored, StoreError> {
        if self.reads_work {
            Ok(Stored::Nothing)
        } else {
            Err(fire())
        }
    }
    fn save(&self, _: &UserKey, _: &UserRecord, _: bool) -> Result<(), StoreError> {
        Err(fire())
    }
    fn forget(&self, _: &UserKey) -> Result<usize, StoreError> {
        Err(fire())
    }
    fn mark_unreachable(&self, _: &UserKey) -> Result<(), StoreError> {
        Ok(())
    }
    fn log_salt(&self) -> [u8; 16] {
        [0; 16]
    }
    fn invite(&self, _: &str, _: DateTime<Utc>, _: bool) -> Result<InviteStatus, StoreError> {
        Err(fire())
    }
}

#[test]
fn the_crisis_reply_goes_out_even_when_the_store_fails() {
    let mut c = Conversation::with_records(Arc::new(BrokenStore { reads_work: false }));
    c.check(
        "
        > my friend overdosed and he's not breathing
        = crisis
        < 911
        < Poison Control
        > /start
        < something went wrong on my side
        ",
    );
}

#[test]
fn a_failed_save_never_claims_success() {
    let mut c = Conversation::with_records(Arc::new(BrokenStore { reads_work: true }));
    c.check(
        "
        > /start
        * I agree
        < couldn't save that
        ! Which time zone
        > i want to kill myself
        = crisis
        < 988
        ",
    );
}
