//! The content loader. Its parsers are private, so this fuzzes the lowest public entry,
//! `Content::load_with_clinic(dir, clinic)`, on a per-process content directory in which
//! one file is replaced by the input (and put back afterwards):
//!
//! input = one selector byte + the file's text (lossy UTF-8). Selector bits: 0-2 which
//! file (see `SLOTS`); 3 sparse; 7 exercise accepted content in Spanish.
//!
//! Complete mode loads a compact but complete copy of `messages/`, made at start-up so
//! that one load costs a fraction of the full one: replies and rules as shipped; each
//! safety concept with its first few patterns; every FAQ topic with the entries in
//! `KEEP`; no FAQ terms (they are optional). It loads without a problem (checked at
//! start-up), so an input that is a valid file loads too, and then gets used.
//!
//! Sparse mode loads a directory holding only the input file: every other file is
//! missing, so the load always fails, but the input is parsed and checked in full, fast.
//!
//! Loading must return Ok or Err, never panic. When it accepts the content, rendering every
//! reply and running messages and button presses on it must not panic either, and every
//! button it offers must fit Telegram's limit and be readable by the engine.
#![no_main]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use waypoint::content::{Content, Msg};
use waypoint::engine::{Body, Engine, Settings, Stored};
use waypoint::locale::Locale;

use common::Shape;

/// The files an input can stand for; `None` is the clinic's own FAQ file.
const SLOTS: [Option<&str>; 8] = [
    Some("en/replies.toml"),
    Some("es/replies.toml"),
    Some("en/faq.toml"),
    Some("es/faq_terms.toml"),
    Some("en/safety.toml"),
    Some("es/safety.toml"),
    Some("rules.toml"),
    None,
];
const CLINIC_FILE: &str = "clinic-faq.toml";
const PREFIX: &str = "waypoint-fuzz-content-";

/// FAQ entries kept in the compact copy (at least one per topic; `fuzz/seeds` uses the
/// same list).
const KEEP: [&str; 10] = [
    "what-is-iop",
    "vs-php",
    "hours",
    "length",
    "therapies",
    "insurance",
    "first-day",
    "what-to-bring",
    "bot-capabilities",
    "bot-crisis",
];
/// Patterns kept per safety concept in the compact copy.
const PATTERNS_PER_CONCEPT: usize = 3;

/// This process's content directories: (complete, sparse).
fn workspace() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let temp = std::env::temp_dir();
        remove_stale_copies(&temp);
        let root = temp.join(format!("{PREFIX}{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let (complete, sparse) = (root.join("complete"), root.join("sparse"));
        compact_copy(Path::new(common::MESSAGES), &complete);
        if let Err(e) = Content::load(&complete) {
            panic!(
                "the compact copy of messages/ does not load (fix fuzz_targets/content.rs):\n{e}"
            );
        }
        for locale in Locale::ALL {
            fs::create_dir_all(sparse.join(locale.code())).expect("create the sparse directory");
        }
        (complete, sparse)
    })
}

fn compact_copy(from: &Path, to: &Path) {
    for locale in Locale::ALL {
        fs::create_dir_all(to.join(locale.code())).expect("create the copy");
        let path = Path::new(locale.code()).join("replies.toml");
        fs::copy(from.join(&path), to.join(&path)).expect("copy a messages file");
        let path = Path::new(locale.code()).join("safety.toml");
        rewrite(from, to, &path, |table| {
            if let Some(toml::Value::Table(concepts)) = table.get_mut("concepts") {
                for (_, patterns) in concepts.iter_mut() {
                    if let toml::Value::Array(list) = patterns {
                        list.truncate(PATTERNS_PER_CONCEPT);
                    }
                }
            }
        });
        let path = Path::new(locale.code()).join("faq.toml");
        rewrite(from, to, &path, |table| {
            if let Some(toml::Value::Array(entries)) = table.get_mut("entry") {
                entries.retain(|e| e.get("id").and_then(|v| v.as_str()).is_some_and(kept));
                for entry in entries.iter_mut() {
                    if let Some(toml::Value::Array(related)) = entry.get_mut("related") {
                        related.retain(|r| r.as_str().is_some_and(kept));
                    }
                }
            }
        });
    }
    fs::copy(from.join("rules.toml"), to.join("rules.toml")).expect("copy rules.toml");
}

fn kept(id: &str) -> bool {
    KEEP.contains(&id)
}

fn rewrite(from: &Path, to: &Path, path: &Path, edit: impl FnOnce(&mut toml::Table)) {
    let text = fs::read_to_string(from.join(path)).expect("read a messages file");
    let mut table: toml::Table = text.parse().expect("a shipped file is TOML");
    edit(&mut table);
    fs::write(to.join(path), toml::to_string(&table).expect("write TOML")).expect("write");
}

/// Copies left by earlier runs whose process is gone (libFuzzer exits without unwinding,
/// so nothing removes them at the end).
fn remove_stale_copies(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (complete, sparse) = workspace();
    let dir = if selector & 8 != 0 { sparse } else { complete };
    let slot = SLOTS[usize::from(selector & 7)];
    let path = dir.join(slot.unwrap_or(CLINIC_FILE));
    // What to put back: the base file, or nothing (sparse mode, FAQ terms, clinic file).
    let original = fs::read(&path).ok();
    fs::write(&path, text.as_bytes()).expect("write the input");
    let loaded = Content::load_with_clinic(dir, slot.is_none().then_some(path.as_path()));
    match &original {
        Some(bytes) => fs::write(&path, bytes).expect("restore the copy"),
        None => fs::remove_file(&path).expect("remove the input"),
    }
    match loaded {
        Ok(content) => {
            assert!(dir == complete, "a sparse directory loaded");
            exercise(content, selector & 0x80 != 0);
        }
        Err(problems) => assert!(!problems.0.is_empty(), "an error without a diagnostic"),
    }
});

/// What the rest of the program does with accepted content.
fn exercise(content: Content, spanish: bool) {
    for locale in Locale::ALL {
        for &msg in Msg::ALL {
            let _ = content.text(locale, msg);
            let filled: Vec<(&str, &str)> = msg.params().iter().map(|p| (*p, "x")).collect();
            let _ = content.render(locale, msg, &filled);
        }
    }
    let engine = Engine::new(Arc::new(content), Settings::default());
    let shape = Shape::from_byte(if spanish { 0b0010_1000 } else { 0b0000_1000 });
    let stored = Stored::Found(shape.record());
    let say = |body: Body, what: &str| {
        let outcome = engine.handle(&stored, &shape.inbound(body));
        common::check(&outcome, what);
        outcome
    };
    for text in [
        "how many hours a week is the program?",
        "¿cuántas horas a la semana son?",
        "where do i park",
        "i want to kill myself",
        "thanks",
    ] {
        say(Body::Text(text.into()), text);
    }
    // The FAQ menu: every topic, and the first entries of each.
    let menu = say(Body::Text("/faq".into()), "/faq");
    for topic in common::buttons(&menu) {
        let entries = say(Body::Button(topic), "a topic button");
        for entry in common::buttons(&entries).into_iter().take(2) {
            say(Body::Button(entry), "an entry button");
        }
    }
}
