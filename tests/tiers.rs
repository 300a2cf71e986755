//! The triage tiers on the shipped rules and model: masks never hide a stated crisis, the
//! "are you safe?" check and its buttons, the fallback's safety line, and the learned
//! layer's reach beyond the lexicons. The sentences are this project's own.

mod common;

use std::sync::{Arc, OnceLock};

use common::Conversation;
use waypoint::content::Content;
use waypoint::engine::Body;
use waypoint::safety::{Layers, Screener};

fn screener() -> &'static Screener {
    static CONTENT: OnceLock<Arc<Content>> = OnceLock::new();
    &CONTENT.get_or_init(common::content).screener
}

/// A code review found that idiom masks ("time to kill", "hang on", "knock myself out",
/// "for my dog") hid these from the rules; each must reach crisis help, in either language.
#[test]
fn masks_never_hide_a_stated_crisis_in_either_language() {
    for text in [
        "it's time to kill myself",
        "i think it is time for me to kill myself",
        "im going to take all the pills for my dog",
        "gonna knock myself out with all my pills tonight",
        "i want to hang myself, hang on",
        "ya es hora de matarme",
        "creo que ya llegó la hora de matarme",
        "me voy a tomar todas las pastillas de mi perro",
        "esta noche me voy a noquear con todas mis pastillas",
        "me quiero ahorcar, espérate",
    ] {
        let rules = screener().screen_with(text, Layers::Rules);
        assert!(
            rules.is_crisis(),
            "the rules alone miss {text:?}: {rules:?}"
        );
        let mut c = Conversation::new();
        c.send(text);
        assert!(
            matches!(c.route(), "crisis" | "check"),
            "{text:?} got {}",
            c.route()
        );
        assert!(c.said().contains("988"), "{text:?}: {}", c.said());
    }
}

#[test]
fn a_mask_matches_only_its_own_contiguous_words() {
    // "hang on" is an idiom; "hang myself ... on" is not one.
    for text in ["hang myself on the weekend", "kill time myself at all"] {
        let assessment = screener().screen_with(text, Layers::Rules);
        let explained = screener().explain(text);
        assert!(
            !explained.iter().any(|e| e.starts_with("mask: hang myself")),
            "{text:?}: {explained:?} {assessment:?}"
        );
    }
    // The idiom itself is still an idiom.
    assert!(
        !screener()
            .screen_with("hang on a sec", Layers::Rules)
            .is_crisis()
    );
    assert!(
        !screener()
            .screen_with("just killing time", Layers::Rules)
            .is_crisis()
    );
}

#[test]
fn the_check_asks_are_you_safe_and_i_need_help_now_gives_the_crisis_reply() {
    let mut c = Conversation::new();
    c.deliver(Body::Button("s:h".into()));
    assert_eq!(c.route(), "crisis");
    let said = c.said();
    assert!(said.contains("911") && said.contains("988"), "{said}");

    // A message the layers find possibly risky gets the question, both buttons, and 988
    // on one line.
    let mut c = Conversation::new();
    let text = checked_example();
    c.send(text);
    assert_eq!(c.route(), "check", "{text}");
    let said = c.said();
    assert!(said.contains("Are you safe right now?"), "{said}");
    assert!(
        said.lines().any(|l| l.contains("988") && l.contains("911")),
        "{said}"
    );
    assert_eq!(c.labels(), ["I'm safe", "I need help now"]);
    c.press("I need help now");
    assert_eq!(c.route(), "crisis");
    assert!(c.said().contains("Suicide & Crisis Lifeline"));

    let mut c = Conversation::new();
    c.send(text);
    c.press("I'm safe");
    assert!(c.said().contains("I'm glad"), "{}", c.said());
}

#[test]
fn the_check_is_asked_in_spanish_too() {
    let mut c = Conversation::new();
    c.send(checked_example_es());
    assert_eq!(c.route(), "check");
    assert!(c.said().contains("¿Estás a salvo"), "{}", c.said());
    assert_eq!(c.labels(), ["Estoy a salvo", "Necesito ayuda ya"]);
}

/// A message in the check band: a risk word in a negated, uncertain frame.
fn checked_example() -> &'static str {
    "i feel kind of unsafe tonight but whatever"
}

fn checked_example_es() -> &'static str {
    "no sé si estoy a salvo esta noche"
}

#[test]
fn the_fallback_ends_with_the_crisis_lines() {
    let mut c = Conversation::new();
    c.send("what's the capital of mongolia");
    assert_eq!(c.route(), "fallback");
    let last = c.said().lines().last().unwrap_or_default().to_string();
    assert!(last.contains("988") && last.contains("911"), "{last}");
}

#[test]
fn the_learned_layer_finds_what_no_lexicon_lists() {
    // Wording chosen to avoid the lexicons' phrases: symptoms, preparations, a goodbye.
    for text in [
        "his lips are going blue and he's making a snoring noise, i can't wake him",
        "gave my dog to my sister and wrote letters for my kids, tonight's the night",
        "tengo la soga lista en el garaje",
    ] {
        let both = screener().screen(text);
        assert!(both.is_risk(), "{text:?}: {both:?}");
    }
}

#[test]
fn negated_and_past_statements_do_not_get_the_full_crisis_reply() {
    for text in [
        "I'm not suicidal, just burnt out from work",
        "I overdosed twice years ago, now I hand out naloxone at the shelter",
        "no me quiero matar, solo estoy cansado del trabajo",
    ] {
        let both = screener().screen(text);
        assert!(!both.is_crisis(), "{text:?}: {both:?}");
    }
}

#[test]
fn dose_questions_are_clinical_in_both_languages() {
    for text in [
        "should I double my suboxone dose",
        "¿debo doblar mi dosis de suboxone?",
    ] {
        let mut c = Conversation::new();
        c.send(text);
        assert_eq!(c.route(), "clinical", "{text}: {}", c.said());
    }
}

/// An invite code texted as "JOIN XXXX-XXXX-XXXX" is the bot's own vocabulary: its random
/// letters never read as risk (they did, now and then, to the learned layer).
#[test]
fn a_texted_invite_code_is_never_read_as_risk() {
    let engine = common::engine();
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut flagged = Vec::new();
    for _ in 0..400 {
        let code: String = (0..12)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let c = char::from(ALPHABET[(state >> 59) as usize]);
                if i % 4 == 0 && i > 0 {
                    format!("-{c}")
                } else {
                    c.to_string()
                }
            })
            .collect();
        for text in [
            format!("JOIN {code}"),
            format!("join {}", code.to_lowercase()),
            format!("UNIRME {code}"),
        ] {
            if engine.screen(&text).is_risk() {
                flagged.push(text);
            }
        }
    }
    assert!(
        flagged.is_empty(),
        "{} flagged, e.g. {:?}",
        flagged.len(),
        &flagged[..flagged.len().min(5)]
    );
}
