//! Latency of one FAQ lookup (both scorers and the combiner) next to the lexical-only
//! lookup, on every question of the FAQ corpus (`training/faq/train`), one core: p50, p99
//! and max per question, sorted from every timing rather than averaged. Also the start-up
//! cost of loading the content with both models.
//!
//! `cargo bench --bench faq_latency`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use waypoint::content::Content;
use waypoint::faq::Mode;
use waypoint::locale::Locale;
use waypoint::tools::corpus;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let start = Instant::now();
    let content = Content::load(&root.join("messages")).expect("content loads");
    println!(
        "start-up: content with the triage and FAQ models {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let items = corpus::read_all(&root.join("training/faq/train")).expect("corpus reads");
    let questions: Vec<(&str, Locale)> = items
        .iter()
        .map(|i| {
            let locale = Locale::from_tag(i.lang()).unwrap_or(Locale::En);
            (i.text.as_str(), locale)
        })
        .collect();
    for mode in [Mode::Lexical, Mode::Hybrid] {
        // Once to warm caches, as a running service would be; then three timed rounds.
        for (q, l) in &questions {
            std::hint::black_box(content.faq.lookup_with(q, *l, mode));
        }
        let mut timings = Vec::with_capacity(questions.len() * 3);
        for _ in 0..3 {
            for (q, l) in &questions {
                let t = Instant::now();
                std::hint::black_box(content.faq.lookup_with(std::hint::black_box(q), *l, mode));
                timings.push(t.elapsed());
            }
        }
        timings.sort_unstable();
        let total: Duration = timings.iter().sum();
        println!(
            "{:<8} {} lookups: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, {:.0} lookups/s on one core",
            mode.name(),
            timings.len(),
            micros(percentile(&timings, 0.5)),
            micros(percentile(&timings, 0.99)),
            micros(*timings.last().unwrap_or(&Duration::ZERO)),
            timings.len() as f64 / total.as_secs_f64().max(1e-9),
        );
    }
}
