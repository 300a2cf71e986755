//! Speed of the pure triage path on the shipped content: crisis screening of one message
//! (short, ~200 and ~1,000 characters) and the whole engine triage.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use waypoint::content::Content;
use waypoint::engine::{Engine, Settings};
use waypoint::locale::Locale;

const SHORT: &str = "how many hours a week is the program?";
const MEDIUM: &str = "ok so this week was rough. work was long and my sponsor was out of town, \
    but i made it to group on tuesday and thursday. the drive is about 40 minutes. is there \
    an evening option closer to me?";

fn content() -> Arc<Content> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages");
    Arc::new(Content::load(&dir).expect("shipped content loads"))
}

fn bench(c: &mut Criterion) {
    let content = content();
    let long = MEDIUM.repeat(5);
    assert!(
        (180..=220).contains(&MEDIUM.chars().count()),
        "{}",
        MEDIUM.chars().count()
    );
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
    group.finish();

    let engine = Engine::new(content.clone(), Settings::default());
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
    c.bench_function("engine_triage_200_chars", |b| {
        b.iter(|| engine.triage(black_box(MEDIUM), Locale::En, at))
    });
    c.bench_function("content_load", |b| b.iter(|| content_for_bench()));
}

fn content_for_bench() -> Content {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages");
    Content::load(&dir).expect("shipped content loads")
}

criterion_group!(benches, bench);
criterion_main!(benches);
