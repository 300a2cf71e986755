//! Content lint: the shipped `messages/` loads cleanly, and broken content is reported
//! with file, line and field.

mod common;

use std::fs;
use std::path::Path;

use waypoint::content::{Content, Msg};
use waypoint::locale::Locale;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn broken(edit: impl FnOnce(&Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::messages_dir(), dir.path());
    edit(dir.path());
    match Content::load(dir.path()) {
        Ok(_) => panic!("broken content loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shipped_content_is_complete_in_every_locale() {
    let content = common::content();
    for locale in Locale::ALL {
        for msg in Msg::ALL {
            assert!(
                !content.text(locale, *msg).trim().is_empty(),
                "{locale:?} {msg:?}"
            );
        }
    }
    // Spanish is really Spanish, not a copy of the English.
    assert_ne!(
        content.text(Locale::En, Msg::Help),
        content.text(Locale::Es, Msg::Help)
    );
}

#[test]
fn crisis_texts_carry_the_verified_numbers() {
    let engine = common::engine();
    for (locale, text, keyword) in [
        (Locale::En, "i want to kill myself", "HOME"),
        (Locale::Es, "quiero matarme", "AYUDA"),
    ] {
        let outcome = engine.triage(text, locale, common::t0());
        assert_eq!(outcome.locale, locale);
        let reply = &outcome.replies[0].text;
        for number in ["988", "741741", "1-800-662-4357"] {
            assert!(reply.contains(number), "{locale:?} lacks {number}: {reply}");
        }
        assert!(reply.contains(keyword), "{locale:?} lacks {keyword}");
    }
}

#[test]
fn a_missing_key_names_the_file_and_key() {
    let err = broken(|dir| {
        let path = dir.join("es/replies.toml");
        let text = fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("btn_agree"))
            .collect();
        fs::write(&path, kept.join("\n")).unwrap();
    });
    assert!(err.contains("es/replies.toml: btn_agree: missing"), "{err}");
}

#[test]
fn an_unknown_placeholder_names_file_line_and_key() {
    let err = broken(|dir| {
        let path = dir.join("en/replies.toml");
        let mut text = fs::read_to_string(&path).unwrap();
        text = text.replace(
            "btn_not_now = \"Not now\"",
            "btn_not_now = \"Not now, {name}\"",
        );
        fs::write(&path, text).unwrap();
    });
    assert!(
        err.contains("en/replies.toml:") && err.contains("btn_not_now: unknown placeholder {name}"),
        "{err}"
    );
}

#[test]
fn a_rule_with_an_unknown_concept_or_category_is_reported() {
    let err = broken(|dir| {
        let path = dir.join("rules.toml");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("\n[[rule]]\nid = \"typo\"\nroute = \"crisis\"\ncategory = \"sadness\"\nall = [\"no_such_concept\"]\n");
        fs::write(&path, text).unwrap();
    });
    assert!(
        err.contains("rules.toml:") && err.contains("unknown route/category crisis/sadness"),
        "{err}"
    );
    assert!(
        err.contains("no locale defines the concept no_such_concept"),
        "{err}"
    );
}

#[test]
fn a_toml_syntax_error_gives_the_line() {
    let err = broken(|dir| {
        fs::write(
            dir.join("en/safety.toml"),
            "[concepts]\nmask = [\"ok\"\nwant = []\n",
        )
        .unwrap();
    });
    assert!(err.contains("en/safety.toml:"), "{err}");
}

#[test]
fn the_faq_lint_catches_what_authors_get_wrong() {
    let err = broken(|dir| {
        let path = dir.join("en/faq.toml");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "\n[[entry]]\nid = \"hours\"\ntopic = \"nowhere\"\nquestion = \"How many hours a week is IOP?\"\nanswer = \"\"\"{}\"\"\"\nsource = \"\"\nreviewed = \"last week\"\nrelated = [\"ghost\"]\n",
            "x".repeat(701)
        ));
        fs::write(&path, text).unwrap();
    });
    for expected in [
        "entry hours: id: duplicate id",
        "entry hours: topic: no topic \"nowhere\"",
        "entry hours: answer: must be 1-700 characters, is 701",
        "entry hours: source:",
        "entry hours: reviewed:",
        "entry hours: related: no entry \"ghost\"",
        "near-duplicate",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("en/faq.toml:"), "{err}");
}
