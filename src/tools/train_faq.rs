//! `waypoint train-faq`: rebuilds the FAQ model (`messages/faq-model.bin`) from the
//! paraphrase corpus (`training/faq/train/`) and the FAQ's own questions and phrasings.
//!
//! One seeded command: the same corpus, content and seed give the same bytes. Every
//! threshold is chosen on out-of-author predictions: each corpus author's questions are
//! scored by a classifier trained without them, and the combiner that judges them is
//! trained without them too. The held-out split (`training/faq/heldout/`) is never read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::content::Content;
use crate::diagnostic::Diagnostics;
use crate::faq::combiner::{self, Decider, FEATURES, FaqModel, Mode};
use crate::faq::semantic::{self, Classifier, NONE};
use crate::faq::{Choice, Judged, choose};
use crate::learn::{self, lowest};
use crate::locale::Locale;
use crate::tools::corpus::{self, CorpusError};

#[derive(Debug, thiserror::Error)]
pub enum TrainFaqError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("the FAQ cannot be loaded")]
    Content(#[source] Diagnostics),
    #[error("{path}: item {item} has no author (every training question names its author)")]
    NoAuthor { path: PathBuf, item: usize },
    #[error("{path}: item {item}: {problem}")]
    Item {
        path: PathBuf,
        item: usize,
        problem: String,
    },
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

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub bits: u32,
    pub epochs: usize,
    pub seed: u64,
    pub learning_rate: f32,
    pub l2: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bits: 14,
            epochs: 20,
            seed: 7,
            learning_rate: 0.3,
            l2: 1e-6,
        }
    }
}

/// What the thresholds are chosen for, in each language, on out-of-author predictions.
/// A little stricter than the gate's targets (0.05 off-topic answered, 0.15 did-you-mean),
/// so a new author's wording has room.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Off-topic questions answered with some entry.
    pub off_topic_answered: f64,
    /// Answerable questions answered with the wrong entry.
    pub wrong_answered: f64,
    /// Answerable questions given "did you mean" instead of an answer.
    pub suggested: f64,
    /// Off-topic questions given "did you mean".
    pub off_topic_suggested: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            off_topic_answered: 0.04,
            wrong_answered: 0.03,
            suggested: 0.12,
            off_topic_suggested: 0.20,
        }
    }
}

/// One training question.
struct Example {
    text: String,
    locale: Locale,
    /// Index into the classes; the last is "none".
    class: usize,
    /// `None` for the FAQ's own questions and phrasings, which every fold trains on and
    /// no threshold is chosen on.
    author: Option<String>,
    /// Whether the engine asks the FAQ at all: the safety screen sends crises, clinical
    /// questions, support, small talk and requests it cannot act on elsewhere first.
    reaches_faq: bool,
}

/// One corpus question as calibration sees it: its language, its entry, and each
/// candidate's id and out-of-author combined probability.
pub struct Calibrating {
    pub lang: Locale,
    pub gold: Option<String>,
    pub candidates: Vec<(String, f32)>,
}

/// What happened to one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Right,
    Wrong,
    Suggested,
    Fallback,
}

impl Calibrating {
    pub fn outcome(&self, answer: f32, suggest: f32) -> Outcome {
        let judged: Vec<Judged> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(doc, (_, p))| Judged {
                doc,
                probability: *p,
                answer,
                suggest,
            })
            .collect();
        match choose(&judged) {
            Choice::Answer(doc) if Some(&self.candidates[doc].0) == self.gold.as_ref() => {
                Outcome::Right
            }
            Choice::Answer(_) => Outcome::Wrong,
            Choice::Suggest(_) => Outcome::Suggested,
            Choice::Nothing => Outcome::Fallback,
        }
    }
}

/// Shares per language: (answerable, off-topic) counts and the outcomes of each.
#[derive(Debug, Default, Clone, Copy)]
pub struct Shares {
    pub answerable: usize,
    pub right: usize,
    pub wrong: usize,
    pub suggested: usize,
    pub off_topic: usize,
    pub off_topic_answered: usize,
    pub off_topic_suggested: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn shares(items: &[Calibrating], answer: f32, suggest: f32) -> BTreeMap<&'static str, Shares> {
    let mut out: BTreeMap<&'static str, Shares> = BTreeMap::new();
    for item in items {
        let s = out.entry(item.lang.code()).or_default();
        let outcome = item.outcome(answer, suggest);
        if item.gold.is_some() {
            s.answerable += 1;
            s.right += usize::from(outcome == Outcome::Right);
            s.wrong += usize::from(outcome == Outcome::Wrong);
            s.suggested += usize::from(outcome == Outcome::Suggested);
        } else {
            s.off_topic += 1;
            s.off_topic_answered += usize::from(matches!(outcome, Outcome::Right | Outcome::Wrong));
            s.off_topic_suggested += usize::from(outcome == Outcome::Suggested);
        }
    }
    out
}

/// The lowest answer threshold that keeps wrong and off-topic answers under their
/// targets in every language, then the lowest suggest threshold (no higher than it) that
/// keeps "did you mean" under its targets.
pub fn calibrate(items: &[Calibrating], targets: &Targets) -> (f32, f32) {
    let every = |answer: f32, suggest: f32, ok: &dyn Fn(&Shares) -> bool| {
        shares(items, answer, suggest).values().all(ok)
    };
    let answer = lowest(|a| {
        every(a, a, &|s| {
            ratio(s.off_topic_answered, s.off_topic) <= targets.off_topic_answered
                && ratio(s.wrong, s.answerable) <= targets.wrong_answered
        })
    });
    let suggest = lowest(|t| {
        t <= answer
            && every(answer, t, &|s| {
                ratio(s.suggested, s.answerable) <= targets.suggested
                    && ratio(s.off_topic_suggested, s.off_topic) <= targets.off_topic_suggested
            })
    })
    .min(answer);
    (answer, suggest)
}

/// Trains on `corpus_path` and the FAQ in `messages`, writes `out`, and returns a report
/// of the out-of-author figures the thresholds were chosen on.
pub fn run(
    messages: &Path,
    corpus_path: &Path,
    out: &Path,
    options: &Options,
) -> Result<String, TrainFaqError> {
    let catalogs = Content::load_faq_catalogs(messages).map_err(TrainFaqError::Content)?;
    let screener = Content::load_screener(messages).map_err(TrainFaqError::Content)?;
    let mut classes: Vec<String> = catalogs
        .iter()
        .flat_map(|c| c.entries.iter().map(|e| e.id.clone()))
        .collect();
    classes.sort_unstable();
    classes.dedup();
    classes.push(NONE.to_string());
    let none = classes.len() - 1;
    let class_of = |id: &str| classes.iter().position(|c| c == id);

    let items = corpus::read_all(corpus_path)?;
    let mut examples = Vec::with_capacity(items.len() + 2000);
    for (n, item) in items.iter().enumerate() {
        let bad = |problem: String| TrainFaqError::Item {
            path: corpus_path.to_path_buf(),
            item: n + 1,
            problem,
        };
        let Some(author) = item.author.clone() else {
            return Err(TrainFaqError::NoAuthor {
                path: corpus_path.to_path_buf(),
                item: n + 1,
            });
        };
        let class = match (item.expect.as_str(), item.entry.as_deref()) {
            ("faq", Some(id)) => class_of(id).ok_or_else(|| bad(format!("no FAQ entry {id:?}")))?,
            ("faq", None) => return Err(bad("an faq question names its entry".into())),
            ("fallback", _) => none,
            (other, _) => return Err(bad(format!("expect {other:?}: only faq or fallback"))),
        };
        let a = screener.screen(&item.text);
        let reaches_faq = !a.is_crisis()
            && !a.check
            && a.clinical.is_none()
            && a.support.is_none()
            && a.smalltalk.is_none()
            && a.request.is_none();
        examples.push(Example {
            text: item.text.clone(),
            locale: Locale::from_tag(item.lang()).unwrap_or(Locale::En),
            class,
            author: Some(author),
            reaches_faq,
        });
    }
    let authors: Vec<&str> = examples
        .iter()
        .filter_map(|e| e.author.as_deref())
        .collect();
    let folds: Vec<(String, Vec<usize>)> = learn::author_folds(&authors)
        .into_iter()
        .map(|(a, held)| (a.to_string(), held))
        .collect();
    if folds.len() < 2 {
        return Err(TrainFaqError::OneAuthor(corpus_path.to_path_buf()));
    }
    let corpus_len = examples.len();
    for locale in Locale::ALL {
        let catalog = &catalogs[locale.index()];
        for e in &catalog.entries {
            let class = class_of(&e.id).unwrap_or(none);
            for text in std::iter::once(&e.question).chain(&e.phrasings) {
                examples.push(Example {
                    text: text.clone(),
                    locale,
                    class,
                    author: None,
                    reaches_faq: true,
                });
            }
        }
    }
    let features: Vec<Vec<u32>> = examples
        .iter()
        .map(|e| semantic::features(catalogs[e.locale.index()].analyzer(), &e.text, options.bits))
        .collect();
    let fit = |keep: &dyn Fn(&Example) -> bool| -> Classifier {
        let chosen: Vec<usize> = (0..examples.len())
            .filter(|&i| keep(&examples[i]))
            .collect();
        let feats: Vec<Vec<u32>> = chosen.iter().map(|&i| features[i].clone()).collect();
        let labels: Vec<usize> = chosen.iter().map(|&i| examples[i].class).collect();
        let fitted = learn::fit(
            &feats,
            &labels,
            |_| 1.0,
            &learn::Fit {
                classes: classes.len(),
                bits: options.bits,
                epochs: options.epochs,
                seed: options.seed,
                learning_rate: options.learning_rate,
                l2: options.l2,
                bias: true,
            },
        );
        Classifier::quantise(options.bits, classes.clone(), &fitted)
    };

    // Out-of-author classifier probabilities for every corpus question.
    let mut probabilities: Vec<Vec<f32>> = vec![Vec::new(); corpus_len];
    for (author, held) in &folds {
        let model = fit(&|e: &Example| e.author.as_deref() != Some(author.as_str()));
        for &i in held {
            probabilities[i] = model.probabilities_of(&features[i]);
        }
    }

    let mut top_right: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for (i, e) in examples[..corpus_len].iter().enumerate() {
        let p = &probabilities[i];
        let top = (0..p.len())
            .max_by(|&a, &b| p[a].total_cmp(&p[b]))
            .unwrap_or(none);
        let slot = top_right.entry(e.locale.code()).or_default();
        if e.class == none {
            slot.3 += 1;
            slot.2 += usize::from(top == none);
        } else {
            slot.1 += 1;
            slot.0 += usize::from(top == e.class);
        }
    }
    let reaching = examples[..corpus_len]
        .iter()
        .filter(|e| e.reaches_faq)
        .count();
    let mut report = format!(
        "{reaching} of {corpus_len} corpus questions reach the FAQ (the safety screen routes the rest first); thresholds are chosen on those\n"
    );
    for (lang, (right, answerable, none_top, off_topic)) in &top_right {
        let _ = writeln!(
            report,
            "classifier alone [{lang}]: its first class is the right entry for {:.1}% of answerable questions, \"none\" for {:.1}% of off-topic ones",
            100.0 * ratio(*right, *answerable),
            100.0 * ratio(*none_top, *off_topic),
        );
    }

    // Each question's candidates, per mode: (entry id, inputs, right?).
    type Rows = Vec<(String, [f32; FEATURES], bool)>;
    let mut rows: Vec<[Rows; 3]> = Vec::with_capacity(corpus_len);
    for (i, e) in examples[..corpus_len].iter().enumerate() {
        let catalog = &catalogs[e.locale.index()];
        let per_entry: Vec<Option<f32>> = catalog
            .entries
            .iter()
            .map(|entry| class_of(&entry.id).map(|c| probabilities[i][c]))
            .collect();
        let gold = (e.class != none).then(|| classes[e.class].as_str());
        rows.push(Mode::ALL.map(|mode| {
            catalog
                .candidates(&e.text, &per_entry, probabilities[i][none], mode)
                .into_iter()
                .map(|c| {
                    let id = catalog.entries[c.doc].id.clone();
                    let right = Some(id.as_str()) == gold;
                    (id, c.evidence.inputs(mode), right)
                })
                .collect()
        }));
    }

    let targets = Targets::default();
    let mut deciders = Vec::new();
    for mode in Mode::ALL {
        let training_rows = |keep: &dyn Fn(usize) -> bool| -> Vec<([f32; FEATURES], bool)> {
            (0..corpus_len)
                .filter(|&i| keep(i))
                .flat_map(|i| rows[i][mode.index()].iter().map(|(_, x, y)| (*x, *y)))
                .collect()
        };
        // Out-of-author combined probabilities: the combiner that judges an author's
        // questions never saw them either.
        let mut calibrating: Vec<Calibrating> = (0..corpus_len)
            .map(|i| Calibrating {
                lang: examples[i].locale,
                gold: (examples[i].class != none).then(|| classes[examples[i].class].clone()),
                candidates: Vec::new(),
            })
            .collect();
        for (author, held) in &folds {
            let (weights, bias) = combiner::fit(&training_rows(&|i| {
                examples[i].author.as_deref() != Some(author.as_str())
            }));
            let d = Decider {
                weights,
                bias,
                answer: 1.0,
                suggest: 1.0,
            };
            for &i in held {
                calibrating[i].candidates = rows[i][mode.index()]
                    .iter()
                    .map(|(id, x, _)| (id.clone(), d.score(x)))
                    .collect();
            }
        }
        let reaching: Vec<Calibrating> = calibrating
            .into_iter()
            .zip(&examples)
            .filter(|(_, e)| e.reaches_faq)
            .map(|(c, _)| c)
            .collect();
        let calibrating = reaching;
        let (answer, suggest) = calibrate(&calibrating, &targets);
        let (weights, bias) = combiner::fit(&training_rows(&|_| true));
        deciders.push(Decider {
            weights,
            bias,
            answer,
            suggest,
        });
        let _ = writeln!(
            report,
            "{}: answer at {answer:.3}, suggest at {suggest:.3}",
            mode.name()
        );
        report.push_str(&render_shares(&shares(&calibrating, answer, suggest)));
    }
    let classifier = fit(&|_| true);
    let model = FaqModel {
        classifier,
        deciders: [deciders[0], deciders[1], deciders[2]],
    };
    let bytes = model.to_bytes();
    write_atomically(out, &bytes)?;
    let names: Vec<&str> = folds.iter().map(|(a, _)| a.as_str()).collect();
    Ok(format!(
        "trained on {corpus_len} questions by {} authors ({}) and {} FAQ questions and phrasings, seed {}, 2^{} buckets, {} classes\nwrote {} ({} bytes)\n\nout-of-author figures (each author judged by models trained without them):\n{report}",
        folds.len(),
        names.join(", "),
        examples.len() - corpus_len,
        options.seed,
        options.bits,
        classes.len(),
        out.display(),
        bytes.len(),
    ))
}

/// Per language: right, wrong, "did you mean" on answerable questions; answered and
/// "did you mean" on off-topic ones.
pub fn render_shares(shares: &BTreeMap<&'static str, Shares>) -> String {
    let mut s = String::new();
    for (lang, v) in shares {
        let _ = writeln!(
            s,
            "  [{}] right {:5.1}%  wrong {:4.1}%  did-you-mean {:4.1}%  (of {})  |  off-topic answered {:4.1}%  did-you-mean {:4.1}%  (of {})",
            lang,
            100.0 * ratio(v.right, v.answerable),
            100.0 * ratio(v.wrong, v.answerable),
            100.0 * ratio(v.suggested, v.answerable),
            v.answerable,
            100.0 * ratio(v.off_topic_answered, v.off_topic),
            100.0 * ratio(v.off_topic_suggested, v.off_topic),
            v.off_topic,
        );
    }
    s
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainFaqError> {
    let tmp = path.with_extension("bin.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| TrainFaqError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(lang: Locale, gold: Option<&str>, candidates: &[(&str, f32)]) -> Calibrating {
        Calibrating {
            lang,
            gold: gold.map(str::to_string),
            candidates: candidates
                .iter()
                .map(|(i, p)| (i.to_string(), *p))
                .collect(),
        }
    }

    #[test]
    fn calibration_keeps_off_topic_answers_under_target_in_each_language() {
        let mut items = Vec::new();
        for n in 0..20 {
            let p = 0.5 + n as f32 / 50.0;
            items.push(item(Locale::En, Some("hours"), &[("hours", p)]));
            items.push(item(Locale::Es, Some("hours"), &[("hours", p)]));
        }
        // Spanish off-topic questions score higher than English ones.
        for n in 0..10 {
            items.push(item(Locale::En, None, &[("cost", 0.1 + n as f32 / 100.0)]));
            items.push(item(Locale::Es, None, &[("cost", 0.6 + n as f32 / 100.0)]));
        }
        let (answer, suggest) = calibrate(&items, &Targets::default());
        let s = shares(&items, answer, suggest);
        for v in s.values() {
            assert_eq!(v.off_topic_answered, 0, "{answer} {s:?}");
        }
        assert!(answer > 0.69 && suggest <= answer, "{answer} {suggest}");
    }
}
