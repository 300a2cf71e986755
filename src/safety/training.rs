//! Fitting the learned layer ([`super::model`]) and choosing its thresholds.
//!
//! Multinomial logistic regression trained by AdaGrad, in a fixed order derived from a
//! seed, so the same corpus and seed always give the same bytes. Thresholds are chosen on
//! *out-of-author* predictions: each author's messages are scored by a model trained
//! without them, which is how the model meets a stranger's wording in production.

use super::model::{Label, Model, Scores, Thresholds, for_each_feature, message_words};
use crate::learn::{self, highest, lowest};

/// One labelled training message.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub label: Label,
    /// Who wrote it: predictions for calibration never come from a model that saw the
    /// same author.
    pub author: String,
    pub lang: String,
    /// What the rules found in it ([`super::Screener::evidence`]).
    pub evidence: Vec<String>,
}

impl Example {
    fn evidence(&self) -> Vec<&str> {
        self.evidence.iter().map(String::as_str).collect()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub bits: u32,
    pub epochs: usize,
    pub seed: u64,
    pub learning_rate: f32,
    pub l2: f32,
    /// How much more a crisis example's loss counts: a miss costs more than a false alarm.
    pub crisis_weight: f32,
    /// Whether to learn a per-label bias. Without one, a message of words the model has
    /// never seen ("Ben", typed as a name) scores every label alike instead of the
    /// corpus's mix, which is far richer in crises than real traffic.
    pub bias: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bits: 18,
            epochs: 12,
            seed: 7,
            learning_rate: 0.4,
            l2: 1e-6,
            crisis_weight: 2.0,
            bias: false,
        }
    }
}

/// Targets the thresholds are chosen for (on out-of-author predictions).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Crisis recall (crisis reply or check) in each language.
    pub crisis_recall: f64,
    /// Benign messages given the full crisis reply by the model alone, and again by a rule
    /// the model confirms.
    pub benign_full_crisis: f64,
    /// True crises found by a rule that the model may overrule.
    pub vetoed_crisis: f64,
    /// Program questions the model may send to the clinical refusal.
    pub faq_as_clinical: f64,
    /// Non-support messages the model may send to the support reply.
    pub support_false: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            crisis_recall: 0.98,
            benign_full_crisis: 0.007,
            vetoed_crisis: 0.003,
            faq_as_clinical: 0.01,
            support_false: 0.02,
        }
    }
}

/// The lowest a threshold may go: below it nearly everything would be asked "are you safe?".
const CHECK_FLOOR: f32 = 0.04;

/// Fits a model on `examples` with placeholder thresholds.
pub fn fit(examples: &[&Example], options: &Options) -> Model {
    let features: Vec<Vec<u32>> = examples
        .iter()
        .map(|e| {
            let mut f = Vec::new();
            for_each_feature(&message_words(&e.text), &e.evidence(), options.bits, |b| {
                f.push(b)
            });
            f
        })
        .collect();
    let labels: Vec<usize> = examples.iter().map(|e| e.label.index()).collect();
    let fitted = learn::fit(
        &features,
        &labels,
        |i| {
            if examples[i].label == Label::Crisis {
                options.crisis_weight
            } else {
                1.0
            }
        },
        &learn::Fit {
            classes: Label::COUNT,
            bits: options.bits,
            epochs: options.epochs,
            seed: options.seed,
            learning_rate: options.learning_rate,
            l2: options.l2,
            bias: options.bias,
        },
    );
    let bias = std::array::from_fn(|k| fitted.bias[k]);
    Model::quantise(options.bits, &fitted.weights, bias, PLACEHOLDER)
}

const PLACEHOLDER: Thresholds = Thresholds {
    crisis: 0.5,
    confirm: 0.5,
    check: 0.2,
    veto: 0.0,
    signal: 0.1,
    clinical: 0.5,
    support: 0.5,
};

/// Each example's scores from a model trained on every other author's messages.
pub fn out_of_author(examples: &[Example], options: &Options) -> Vec<Scores> {
    let authors: Vec<&str> = examples.iter().map(|e| e.author.as_str()).collect();
    let mut scores = vec![None; examples.len()];
    for (author, held) in learn::author_folds(&authors) {
        let train: Vec<&Example> = examples.iter().filter(|e| e.author != author).collect();
        let model = fit(&train, options);
        for i in held {
            let e = &examples[i];
            scores[i] = Some(model.score(&e.text, &e.evidence()));
        }
    }
    scores
        .into_iter()
        .map(|s| s.expect("every example belongs to one author"))
        .collect()
}

/// One example as calibration sees it: its label, language, the model's out-of-author
/// scores, and whether the rules alone already call it a crisis.
#[derive(Debug, Clone, Copy)]
pub struct Calibrating<'a> {
    pub label: Label,
    pub lang: &'a str,
    pub scores: Scores,
    pub rules_crisis: bool,
}

impl Calibrating<'_> {
    fn tier(&self, t: &Thresholds) -> (bool, bool) {
        t.tier(self.scores.crisis, self.rules_crisis, self.scores.rival())
    }
}

/// Chooses the thresholds that meet `targets` on out-of-author predictions: first the
/// points that bound false alarms, then the check as high as recall allows.
pub fn calibrate(items: &[Calibrating], targets: &Targets) -> Thresholds {
    let of =
        |label: Label| -> Vec<&Calibrating> { items.iter().filter(|i| i.label == label).collect() };
    let benign = of(Label::Benign);
    let crises = of(Label::Crisis);
    let share = |subset: &[&Calibrating], pick: &dyn Fn(&Calibrating) -> bool| {
        ratio(subset.iter().filter(|i| pick(i)).count(), subset.len())
    };

    // crisis: the model alone gives few full replies to benign messages.
    let crisis =
        lowest(|t| share(&benign, &|i| i.scores.crisis >= t) <= targets.benign_full_crisis);
    // confirm: a rule the model confirms adds few more.
    let confirm = lowest(|t| {
        share(&benign, &|i| {
            i.scores.crisis < crisis && i.rules_crisis && i.scores.crisis >= t
        }) <= targets.benign_full_crisis
    })
    .min(crisis);
    // veto: the model overrules few true crises that a rule found.
    let ruled: Vec<&Calibrating> = crises.iter().copied().filter(|i| i.rules_crisis).collect();
    let veto =
        highest(|t| share(&ruled, &|i| i.scores.crisis < t) <= targets.vetoed_crisis).min(confirm);

    let mut langs: Vec<&str> = items.iter().map(|i| i.lang).collect();
    langs.sort_unstable();
    langs.dedup();
    // check: the highest threshold at which every language reaches the recall target.
    let check = langs
        .iter()
        .map(|lang| {
            let here: Vec<&Calibrating> =
                crises.iter().copied().filter(|i| i.lang == *lang).collect();
            highest(|t| {
                let trial = Thresholds {
                    crisis,
                    confirm,
                    check: t,
                    veto,
                    signal: t,
                    clinical: 1.0,
                    support: 1.0,
                };
                share(&here, &|i| {
                    let (full, check) = i.tier(&trial);
                    full || check
                }) >= targets.crisis_recall
            })
        })
        .fold(confirm, f32::min)
        .max(CHECK_FLOOR);

    let top_is = |i: &Calibrating, label: Label, t: f32| {
        i.scores.top_non_crisis() == label && i.scores.of(label) >= t
    };
    let faq = of(Label::Faq);
    let clinical =
        lowest(|t| share(&faq, &|i| top_is(i, Label::Clinical, t)) <= targets.faq_as_clinical)
            .clamp(0.35, 0.9);
    let others: Vec<&Calibrating> = items
        .iter()
        .filter(|i| !matches!(i.label, Label::Support | Label::Crisis))
        .collect();
    let support =
        lowest(|t| share(&others, &|i| top_is(i, Label::Support, t)) <= targets.support_false)
            .clamp(0.35, 0.9);

    Thresholds {
        crisis,
        confirm,
        check,
        veto,
        signal: check / 2.0,
        clinical,
        support,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: Label, author: &str) -> Example {
        Example {
            text: text.into(),
            label,
            author: author.into(),
            lang: "en".into(),
            evidence: Vec::new(),
        }
    }

    fn corpus() -> Vec<Example> {
        let mut out = Vec::new();
        for (i, author) in ["a", "b", "c"].iter().enumerate() {
            for n in 0..20 {
                let k = n + 20 * i;
                out.push(ex(&format!("zzdanger now {k}"), Label::Crisis, author));
                out.push(ex(
                    &format!("what are the program hours {k}"),
                    Label::Faq,
                    author,
                ));
                out.push(ex(&format!("hello friend {k}"), Label::Smalltalk, author));
            }
        }
        out
    }

    /// Options small enough for a unit test.
    fn small() -> Options {
        Options {
            bits: 12,
            epochs: 5,
            ..Options::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
        let data = corpus();
        let refs: Vec<&Example> = data.iter().collect();
        let options = small();
        let a = fit(&refs, &options).to_bytes();
        assert_eq!(a, fit(&refs, &options).to_bytes());
        let other = Options { seed: 8, ..options };
        assert_ne!(a, fit(&refs, &other).to_bytes());
    }

    #[test]
    fn learns_what_it_is_shown_and_generalises_across_authors() {
        let data = corpus();
        let scores = out_of_author(&data, &small());
        for (e, s) in data.iter().zip(&scores) {
            let top = Label::ALL
                .into_iter()
                .max_by(|a, b| s.of(*a).total_cmp(&s.of(*b)))
                .unwrap();
            assert_eq!(top, e.label, "{}: {s:?}", e.text);
        }
    }

    #[test]
    fn calibration_meets_the_recall_target() {
        let data = corpus();
        let scores = out_of_author(&data, &small());
        let items: Vec<Calibrating> = data
            .iter()
            .zip(&scores)
            .map(|(e, s)| Calibrating {
                label: e.label,
                lang: "en",
                scores: *s,
                rules_crisis: false,
            })
            .collect();
        let t = calibrate(&items, &Targets::default());
        assert!(
            t.check <= t.confirm && t.confirm <= t.crisis && t.veto <= t.confirm,
            "{t:?}"
        );
        let found = items
            .iter()
            .filter(|i| i.label == Label::Crisis && i.scores.crisis >= t.check)
            .count();
        assert!(found as f64 / 60.0 >= 0.99, "{found} of 60 at {t:?}");
    }
}
