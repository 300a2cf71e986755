//! Latency distribution of the whole triage of one message (rules and model together), on
//! every message of the training corpus: p50, p99 and max per message on one core, the
//! throughput, the start-up cost of loading the content with the model, and the resident
//! memory the model adds. Criterion (benches/triage.rs) gives means; a safety goal is a
//! tail, so this one sorts every timing.
//!
//! `cargo bench --bench triage_latency`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use waypoint::content::Content;
use waypoint::tools::corpus;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let messages = root.join("messages");

    let before = resident_kib();
    let start = Instant::now();
    let rules = Content::load_rules(&messages).expect("rules load");
    let rules_time = start.elapsed();
    let with_rules = resident_kib();
    drop(rules);
    let start = Instant::now();
    let content = Content::load(&messages).expect("content loads");
    let load_time = start.elapsed();
    let with_all = resident_kib();
    println!(
        "start-up: content with the model {:.1} ms (rules alone {:.1} ms)",
        load_time.as_secs_f64() * 1e3,
        rules_time.as_secs_f64() * 1e3
    );
    println!(
        "resident memory: rules {} KiB, content with the model {} KiB (from {} KiB at start)",
        with_rules.saturating_sub(before),
        with_all.saturating_sub(before),
        before
    );

    let items = corpus::read_all(&root.join("training/train")).expect("corpus reads");
    let texts: Vec<&str> = items
        .iter()
        .map(|i| i.text.as_str())
        .filter(|t| t.chars().count() <= 1_000)
        .collect();
    // Warm the word cache once, as a running service would be.
    for t in &texts {
        std::hint::black_box(content.screener.screen(t));
    }
    let mut timings = Vec::with_capacity(texts.len() * 3);
    let all = Instant::now();
    for _ in 0..3 {
        for t in &texts {
            let start = Instant::now();
            std::hint::black_box(content.screener.screen(std::hint::black_box(t)));
            timings.push(start.elapsed());
        }
    }
    let total = all.elapsed();
    timings.sort_unstable();
    println!(
        "triage of one message (rules + model), {} messages up to 1,000 characters, 3 passes:",
        texts.len()
    );
    println!(
        "  p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; {:.0} messages/s on one core",
        percentile(&timings, 0.5).as_secs_f64() * 1e6,
        percentile(&timings, 0.99).as_secs_f64() * 1e6,
        timings.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
        timings.len() as f64 / total.as_secs_f64()
    );
    let long = "so today was long and honestly kind of a mess but group helped. ".repeat(16);
    let mut long_timings: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(content.screener.screen(std::hint::black_box(&long)));
            start.elapsed()
        })
        .collect();
    long_timings.sort_unstable();
    println!(
        "  a {}-character message: p50 {:.1} µs, p99 {:.1} µs",
        long.chars().count(),
        percentile(&long_timings, 0.5).as_secs_f64() * 1e6,
        percentile(&long_timings, 0.99).as_secs_f64() * 1e6
    );
}
