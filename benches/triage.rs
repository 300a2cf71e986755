//! Speed of the pure triage path on the shipped content: crisis screening of one message
//! (short, ~200 and ~1,000 characters), one FAQ query, building the FAQ index, the whole
//! engine triage (crisis, clinical, support, FAQ) on a mix of messages, and on one word of
//! 4K, 16K and 64K characters (linear, not quadratic, in its length).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use waypoint::content::Content;
use waypoint::engine::{Engine, Settings};
use waypoint::faq::Catalog;
use waypoint::faq::analyzer::Analyzer;
use waypoint::locale::Locale;

const SHORT: &str = "how many hours a week is the program?";
const MEDIUM: &str = "ok so this week was rough. work was long and my sponsor was out of town, \
    but i made it to group on tuesday and thursday. the drive is about 40 minutes. is there \
    an evening option closer to me?";
/// A mix for throughput: questions, small talk, a craving, a clinical question, a crisis.
const MIX: &[&str] = &[
    "how long does the program last",
    "does insurance cover this",
    "thanks!",
    "really craving a drink right now",
    "can i take more of my gabapentin tonight",
    "i don't want to be alive anymore",
    "¿cuántas horas a la semana son?",
    "what's the best pizza in town",
];

fn messages_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages")
}

fn load_content() -> Content {
    Content::load(&messages_dir()).expect("shipped content loads")
}

/// `text` with a letter tag unique to `n` appended to every word.
fn unseen_words(text: &str, n: usize) -> String {
    let mut tag = String::new();
    let mut k = n + 1;
    while k > 0 {
        tag.push(char::from(b'a' + (k % 26) as u8));
        k /= 26;
    }
    text.split(' ')
        .map(|w| format!("{w}q{tag}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(serde::Deserialize)]
struct Terms {
    stopwords: Vec<String>,
    synonyms: Vec<Vec<String>>,
}

fn bench(c: &mut Criterion) {
    let content = Arc::new(load_content());
    let long = MEDIUM.repeat(5);
    let mut group = c.benchmark_group("screen");
    group.bench_function("short_37_chars", |b| {
        b.iter(|| content.screener.screen(black_box(SHORT)))
    });
    group.bench_function("medium_200_chars", |b| {
        b.iter(|| content.screener.screen(black_box(MEDIUM)))
    });
    group.bench_function("long_1000_chars", |b| {
        b.iter(|| content.screener.screen(black_box(&long)))
    });
    // Every word new to the word cache: the cost of vocabulary never seen before.
    let cold: Vec<String> = (0..20_000).map(|i| unseen_words(MEDIUM, i)).collect();
    let mut next = 0;
    group.bench_function("medium_200_chars_unseen_words", |b| {
        b.iter(|| {
            next = (next + 1) % cold.len();
            content.screener.screen(black_box(&cold[next]))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("faq");
    group.bench_function("query", |b| {
        b.iter(|| content.faq.lookup(black_box(SHORT), Locale::En).1.clone())
    });
    let catalog = content.faq.catalog(Locale::En);
    let terms_file = std::fs::read_to_string(messages_dir().join("en/faq_terms.toml")).unwrap();
    let terms: Terms = toml::from_str(&terms_file).unwrap();
    group.bench_function("index_build_en", |b| {
        b.iter(|| {
            let analyzer = Analyzer::new(Locale::En, &terms.stopwords, &terms.synonyms);
            Catalog::new(catalog.topics.clone(), catalog.entries.clone(), analyzer)
        })
    });
    group.finish();

    let engine = Engine::new(content.clone(), Settings::default());
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("triage_mix", |b| {
        b.iter(|| {
            for text in MIX {
                black_box(engine.triage(black_box(text), Locale::En, at));
            }
        })
    });
    group.finish();

    // One very long word through the whole triage (crisis check, FAQ typo look-up): the
    // cost must grow with the length, not its square. (Channels read at most 4,096
    // characters; the core must not depend on that.)
    let mut group = c.benchmark_group("long_single_word");
    for chars in [4_096usize, 16_384, 65_536] {
        let word = "a".repeat(chars);
        group.throughput(Throughput::Bytes(chars as u64));
        group.bench_function(format!("{chars}_chars"), |b| {
            b.iter(|| black_box(engine.triage(black_box(&word), Locale::En, at)))
        });
    }
    group.finish();

    c.bench_function("content_load", |b| b.iter(load_content));
}

criterion_group!(benches, bench);
criterion_main!(benches);
