//! `waypoint train`: rebuilds the learned layer's weights from `training/train/`.
//!
//! One seeded command, so anyone can check that the shipped weights are what the corpus
//! gives: the same corpus, rules and seed produce the same file, byte for byte. The
//! held-out split (`training/heldout/`) is never read here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::content::Content;
use crate::diagnostic::Diagnostics;
use crate::safety::Layers;
use crate::safety::model::Label;
use crate::safety::training::{self, Calibrating, Example, Options, Targets};
use crate::tools::corpus::{self, CorpusError};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("the rules cannot be loaded")]
    Rules(#[source] Diagnostics),
    #[error("{path}: line {line} has no author (every training message names its author)")]
    NoAuthor { path: PathBuf, line: usize },
    #[error(
        "{0}: the corpus needs at least two authors, so thresholds come from out-of-author predictions"
    )]
    OneAuthor(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Trains on `corpus`, calibrates beside the rules in `messages`, writes `out`, and returns
/// a report of the out-of-author figures the thresholds were chosen on.
pub fn run(
    messages: &Path,
    corpus_path: &Path,
    out: &Path,
    options: &Options,
    dump: Option<&Path>,
) -> Result<String, TrainError> {
    let items = corpus::read_all(corpus_path)?;
    let mut examples = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let Some(author) = item.author.clone() else {
            return Err(TrainError::NoAuthor {
                path: corpus_path.to_path_buf(),
                line: n + 1,
            });
        };
        examples.push(Example {
            text: item.text.clone(),
            label: item.label(),
            author,
            lang: item.lang().to_string(),
            evidence: Vec::new(),
        });
    }
    let mut authors: Vec<String> = examples.iter().map(|e| e.author.clone()).collect();
    authors.sort_unstable();
    authors.dedup();
    if authors.len() < 2 {
        return Err(TrainError::OneAuthor(corpus_path.to_path_buf()));
    }
    let rules = Content::load_rules(messages).map_err(TrainError::Rules)?;
    for e in &mut examples {
        e.evidence = rules.evidence(&e.text);
    }
    let rules_crisis: Vec<bool> = examples
        .iter()
        .map(|e| rules.screen_with(&e.text, Layers::Rules).is_crisis())
        .collect();
    let scores = training::out_of_author(&examples, options);
    let calibrating: Vec<Calibrating> = examples
        .iter()
        .zip(&scores)
        .zip(&rules_crisis)
        .map(|((e, s), &r)| Calibrating {
            label: e.label,
            lang: &e.lang,
            scores: *s,
            rules_crisis: r,
        })
        .collect();
    if let Some(path) = dump {
        let mut lines = String::new();
        for (e, c) in examples.iter().zip(&calibrating) {
            let line = serde_json::json!({
                "text": e.text,
                "expect": e.label.name(),
                "author": e.author,
                "lang": e.lang,
                "p": c.scores.crisis,
                "rules": c.rules_crisis,
                "whole": c.scores.whole.to_vec(),
            });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        write_atomically(path, lines.as_bytes())?;
    }
    let thresholds = training::calibrate(&calibrating, &Targets::default());
    let refs: Vec<&Example> = examples.iter().collect();
    let mut model = training::fit(&refs, options);
    model.thresholds = thresholds;
    let bytes = model.to_bytes();
    write_atomically(out, &bytes)?;

    let mut report = format!(
        "trained on {} messages by {} authors ({}), seed {}, 2^{} buckets\nwrote {} ({} bytes)\nthresholds: {:?}\n",
        examples.len(),
        authors.len(),
        authors.join(", "),
        options.seed,
        options.bits,
        out.display(),
        bytes.len(),
        thresholds,
    );
    let tiers = tiers(&calibrating, &thresholds);
    report.push_str(&out_of_author_figures(&calibrating, &tiers));
    Ok(report)
}

/// Each example's tier under the chosen thresholds: (full crisis, check).
fn tiers(items: &[Calibrating], t: &crate::safety::model::Thresholds) -> Vec<(bool, bool)> {
    items
        .iter()
        .map(|i| t.tier(i.scores.crisis, i.rules_crisis, i.scores.rival()))
        .collect()
}

fn out_of_author_figures(items: &[Calibrating], tiers: &[(bool, bool)]) -> String {
    #[derive(Default)]
    struct Row {
        crisis: (usize, usize),
        rules_only: usize,
        benign_full: usize,
        benign_check: usize,
        benign: usize,
        clinical: (usize, usize),
        support: (usize, usize),
    }
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for (i, &(full, check)) in items.iter().zip(tiers) {
        let row = rows.entry(i.lang).or_default();
        let top = i.scores.top_non_crisis();
        match i.label {
            Label::Crisis => {
                row.crisis.1 += 1;
                row.crisis.0 += usize::from(full || check);
                row.rules_only += usize::from(i.rules_crisis);
            }
            Label::Benign => {
                row.benign += 1;
                row.benign_full += usize::from(full);
                row.benign_check += usize::from(check);
            }
            Label::Clinical => {
                row.clinical.1 += 1;
                row.clinical.0 += usize::from(top == Label::Clinical);
            }
            Label::Support => {
                row.support.1 += 1;
                row.support.0 += usize::from(top == Label::Support);
            }
            _ => {}
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * a as f64 / b as f64)
        }
    };
    let mut s = String::from(
        "\nout-of-author figures (each author scored by a model trained without them):\n",
    );
    s.push_str(&curve(items));
    for (lang, r) in &rows {
        let _ = writeln!(
            s,
            "[{lang}] crisis or check {} (rules alone {}); benign: full crisis {}, check {}; clinical (model top) {}; support (model top) {}",
            pct(r.crisis.0, r.crisis.1),
            pct(r.rules_only, r.crisis.1),
            pct(r.benign_full, r.benign),
            pct(r.benign_check, r.benign),
            pct(r.clinical.0, r.clinical.1),
            pct(r.support.0, r.support.1),
        );
    }
    s
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let err = |source| TrainError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Recall against false alarms at a range of check thresholds, per language: what moving
/// the threshold would trade.
fn curve(items: &[Calibrating]) -> String {
    let mut langs: Vec<&str> = items.iter().map(|i| i.lang).collect();
    langs.sort_unstable();
    langs.dedup();
    let mut s = String::from("check at   ");
    for lang in &langs {
        let _ = write!(s, "| {lang}: recall  benign>=t  benign-rules ");
    }
    s.push('\n');
    for t in [0.03f32, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9] {
        let _ = write!(s, "{t:<10.2} ");
        for lang in &langs {
            let of = |label: Label| {
                items
                    .iter()
                    .filter(move |i| i.lang == *lang && i.label == label)
            };
            let crises = of(Label::Crisis).count().max(1) as f64;
            let found = of(Label::Crisis)
                .filter(|i| i.rules_crisis || i.scores.crisis >= t)
                .count();
            let benign = of(Label::Benign).count().max(1) as f64;
            let alarmed = of(Label::Benign).filter(|i| i.scores.crisis >= t).count();
            let rules = of(Label::Benign)
                .filter(|i| i.rules_crisis && i.scores.crisis < t)
                .count();
            let _ = write!(
                s,
                "|     {:5.1}%     {:5.1}%        {:5.1}% ",
                100.0 * found as f64 / crises,
                100.0 * alarmed as f64 / benign,
                100.0 * rules as f64 / benign
            );
        }
        s.push('\n');
    }
    s
}
