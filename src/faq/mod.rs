//! The curated FAQ: reviewed entries per locale and a hybrid, explainable matcher.
//!
//! Two scorers look at every question: a lexical one (BM25 over one document per entry,
//! with stemming, stop words, synonyms, typo tolerance, and each keyword kept as a whole
//! phrase) and a semantic one (a classifier trained on many authors' rewordings,
//! [`semantic`]). A small trained combiner ([`combiner`]) turns each candidate's evidence
//! into the probability that it is the right entry: high -> answer; middling -> "did you
//! mean" (up to three); low -> the honest fallback. Entries the classifier never saw (a
//! clinic's own) are judged by the lexical decider, so the classifier cannot veto them.
//! Pure: no I/O; any text gets a decision.

pub mod analyzer;
pub mod combiner;
pub mod index;
pub mod semantic;

use analyzer::Analyzer;
use combiner::{Evidence, FaqModel};
use index::{Index, Scored};

pub use combiner::Mode;

use crate::locale::Locale;

/// How much more an entry's BM25 score counts, when ranking, if one of its keyword
/// phrases stands whole in the question.
pub const KEYWORD_BOOST: f64 = 1.5;
/// How many entries "did you mean" offers at most.
pub const MAX_SUGGESTIONS: usize = 3;
/// How many of each scorer's best entries become candidates.
pub const CANDIDATES: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub topic: String,
    pub question: String,
    pub phrasings: Vec<String>,
    pub keywords: Vec<String>,
    pub answer: String,
    pub source: String,
    pub reviewed: String,
    pub related: Vec<String>,
}

/// One locale's topics and entries, indexed.
pub struct Catalog {
    pub topics: Vec<Topic>,
    pub entries: Vec<Entry>,
    analyzer: Analyzer,
    index: Index,
    /// Each entry's keyword phrases, as term sequences: a keyword anchors a match only
    /// when all of it stands in the question in order ("stand for", never "for" alone).
    anchors: Vec<Vec<Vec<String>>>,
}

/// A candidate entry and the evidence about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its position in [`Catalog::entries`].
    pub doc: usize,
    /// Its BM25 score (0 when BM25 did not find it).
    pub score: f64,
    pub evidence: Evidence,
    /// Whether the classifier knows the entry (a clinic's new entry it does not).
    pub known: bool,
}

impl Catalog {
    pub fn new(topics: Vec<Topic>, entries: Vec<Entry>, analyzer: Analyzer) -> Catalog {
        let docs: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let text = std::iter::once(e.question.as_str())
                    .chain(e.phrasings.iter().map(String::as_str))
                    .chain(e.keywords.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" \n ");
                analyzer.terms(&text)
            })
            .collect();
        let index = Index::build(&docs);
        let anchors = entries
            .iter()
            .map(|e| {
                e.keywords
                    .iter()
                    .map(|k| analyzer.terms(k))
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .collect();
        Catalog {
            topics,
            entries,
            analyzer,
            index,
            anchors,
        }
    }

    pub fn terms(&self, text: &str) -> Vec<String> {
        self.analyzer.terms(text)
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn in_topic<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.topic == topic)
    }

    /// BM25 results for the question's terms, best first, re-ranked so that a match on
    /// one of an entry's keyword phrases beats a slightly higher score built from
    /// incidental words; with each result's ranking score.
    fn search(&self, terms: &[String]) -> Vec<(f64, Scored)> {
        let mut weighted: Vec<(f64, Scored)> = self
            .index
            .search(terms)
            .into_iter()
            .map(|s| {
                let boost = if self.anchored(terms, s.doc) {
                    KEYWORD_BOOST
                } else {
                    1.0
                };
                (s.score * boost, s)
            })
            .collect();
        weighted.sort_by(|(wa, a), (wb, b)| wb.total_cmp(wa).then(a.doc.cmp(&b.doc)));
        weighted
    }

    /// Whether one of the entry's keyword phrases stands whole, in order, in `terms`.
    fn anchored(&self, terms: &[String], doc: usize) -> bool {
        self.anchors[doc]
            .iter()
            .any(|phrase| terms.windows(phrase.len()).any(|w| w == phrase.as_slice()))
    }

    /// The candidates for `text` under `mode`: BM25's best [`CANDIDATES`] entries and the
    /// classifier's, with the evidence about each. `probabilities[doc]` is the
    /// classifier's probability of each entry (`None` for an entry it never saw) and
    /// `none` its probability of "no entry".
    pub fn candidates(
        &self,
        text: &str,
        probabilities: &[Option<f32>],
        none: f32,
        mode: Mode,
    ) -> Vec<Candidate> {
        let terms = self.analyzer.terms(text);
        let lexical = self.search(&terms);
        let top_weight = lexical.first().map_or(0.0, |(w, _)| *w);
        let lexical_margin = match lexical.as_slice() {
            [(a, _), (b, _), ..] if *a > 0.0 => ((a - b) / a) as f32,
            [(a, _)] if *a > 0.0 => 1.0,
            _ => 0.0,
        };
        let mut semantic: Vec<(usize, f32)> = probabilities
            .iter()
            .enumerate()
            .filter_map(|(doc, p)| p.map(|p| (doc, p)))
            .collect();
        semantic.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let semantic_margin = match semantic.as_slice() {
            [(_, a), (_, b), ..] => a - b,
            [(_, a)] => *a,
            [] => 0.0,
        };
        let mut docs: Vec<usize> = Vec::with_capacity(2 * CANDIDATES);
        if mode != Mode::Semantic {
            docs.extend(lexical.iter().take(CANDIDATES).map(|(_, s)| s.doc));
        }
        if mode != Mode::Lexical {
            for &(doc, _) in semantic.iter().take(CANDIDATES) {
                if !docs.contains(&doc) {
                    docs.push(doc);
                }
            }
        }
        let question = looks_like_question(text);
        docs.into_iter()
            .map(|doc| {
                let found = lexical.iter().position(|(_, s)| s.doc == doc);
                let (weight, scored) = match found {
                    Some(i) => (lexical[i].0, Some(&lexical[i].1)),
                    None => (0.0, None),
                };
                let lexical_top = found == Some(0);
                let semantic_top = semantic.first().is_some_and(|(d, _)| *d == doc);
                let score = scored.map_or(0.0, |s| s.score);
                Candidate {
                    doc,
                    score,
                    known: probabilities[doc].is_some(),
                    evidence: Evidence {
                        coverage: scored.map_or(0.0, |s| s.coverage as f32),
                        relative: if top_weight > 0.0 {
                            (weight / top_weight) as f32
                        } else {
                            0.0
                        },
                        lexical_top,
                        lexical_margin: if lexical_top { lexical_margin } else { 0.0 },
                        anchored: self.anchored(&terms, doc),
                        log_score: score.ln_1p() as f32,
                        probability: probabilities[doc].unwrap_or(0.0),
                        semantic_top,
                        semantic_margin: if semantic_top { semantic_margin } else { 0.0 },
                        none,
                        question,
                    },
                }
            })
            .collect()
    }
}

/// A candidate as the decision sees it: its combined probability and the thresholds of
/// the decider that judged it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub doc: usize,
    pub probability: f32,
    pub answer: f32,
    pub suggest: f32,
}

/// What a catalog makes of its judged candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Answer(usize),
    Suggest(Vec<usize>),
    Nothing,
}

/// The most probable candidate at or above its answer threshold is the answer; else up to
/// [`MAX_SUGGESTIONS`] at or above their suggest threshold, most probable first; else none.
pub fn choose(judged: &[Judged]) -> Choice {
    let mut sorted: Vec<&Judged> = judged.iter().collect();
    sorted.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.doc.cmp(&b.doc))
    });
    if let Some(best) = sorted.iter().find(|j| j.probability >= j.answer) {
        return Choice::Answer(best.doc);
    }
    let suggested: Vec<usize> = sorted
        .iter()
        .filter(|j| j.probability >= j.suggest)
        .take(MAX_SUGGESTIONS)
        .map(|j| j.doc)
        .collect();
    if suggested.is_empty() {
        Choice::Nothing
    } else {
        Choice::Suggest(suggested)
    }
}

/// Words that open or mark a question in English or Spanish.
const QUESTION_WORDS: &[&str] = &[
    "how",
    "what",
    "whats",
    "when",
    "where",
    "who",
    "why",
    "which",
    "can",
    "could",
    "do",
    "does",
    "did",
    "is",
    "are",
    "am",
    "will",
    "would",
    "should",
    "shall",
    "may",
    "might",
    "must",
    "have",
    "has",
    "any",
    "anyone",
    "tell",
    "explain",
    "need",
    "want",
    "wondering",
    "que",
    "como",
    "cuanto",
    "cuanta",
    "cuantos",
    "cuantas",
    "cuando",
    "donde",
    "quien",
    "quienes",
    "cual",
    "cuales",
    "por",
    "puedo",
    "puede",
    "pueden",
    "hay",
    "es",
    "son",
    "tengo",
    "tienen",
    "necesito",
    "debo",
    "existe",
    "ofrecen",
    "dan",
    "eres",
];

/// Words that mark a question wherever they stand.
const WH_WORDS: &[&str] = &[
    "how", "what", "whats", "when", "where", "who", "why", "which", "que", "como", "cuanto",
    "cuanta", "cuantos", "cuantas", "cuando", "donde", "quien", "quienes", "cual", "cuales",
    // Auxiliaries that questions keep after a leading clause ("if i start, do i …").
    "do", "does", "would", "should", "puedo", "debo",
];

/// Whether `text` reads as a question or a request for information: a question mark, an
/// interrogative anywhere, or a question word among the first three words of a clause.
fn looks_like_question(text: &str) -> bool {
    if text.contains('?') || text.contains('¿') {
        return true;
    }
    text.split([',', '.', ';', '!']).any(|clause| {
        let words = crate::safety::normalize::words(clause);
        words.iter().any(|w| WH_WORDS.contains(&w.as_str()))
            || words
                .iter()
                .take(3)
                .any(|w| QUESTION_WORDS.contains(&w.as_str()))
    })
}

/// What the FAQ makes of a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'a> {
    Answer(&'a Entry),
    Suggest(Vec<&'a Entry>),
    Nothing,
}

impl Match<'_> {
    fn rank(&self) -> u8 {
        match self {
            Match::Answer(_) => 2,
            Match::Suggest(_) => 1,
            Match::Nothing => 0,
        }
    }
}

/// One candidate in `waypoint faq explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub id: String,
    /// BM25 score, the share of the question it covers, and whether a keyword phrase of
    /// the entry stands in the question.
    pub score: f64,
    pub coverage: f64,
    pub anchored: bool,
    /// The classifier's probability (`None`: an entry it never saw).
    pub semantic: Option<f32>,
    /// The combiner's probability, and the thresholds it was held to.
    pub combined: f32,
    pub answer_at: f32,
    pub suggest_at: f32,
    /// The decider that judged it.
    pub mode: Mode,
}

/// What `waypoint faq explain` shows: the terms, each candidate, and the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub terms: Vec<String>,
    pub none: f32,
    pub candidates: Vec<Explained>,
    pub decision: String,
}

/// The FAQ in every locale, with the model that scores and decides.
pub struct Faq {
    catalogs: Vec<Catalog>,
    model: FaqModel,
    /// Per catalog, per entry: the classifier's class for it, if it has one.
    classes: Vec<Vec<Option<usize>>>,
    /// The class of "no entry".
    none: Option<usize>,
}

impl Faq {
    /// `catalogs` in the order of [`Locale::ALL`].
    pub fn new(catalogs: Vec<Catalog>, model: FaqModel) -> Faq {
        debug_assert_eq!(catalogs.len(), Locale::ALL.len());
        let class_of = |id: &str| model.classifier.classes.iter().position(|c| c == id);
        let classes = catalogs
            .iter()
            .map(|c| c.entries.iter().map(|e| class_of(&e.id)).collect())
            .collect();
        let none = class_of(semantic::NONE);
        Faq {
            catalogs,
            model,
            classes,
            none,
        }
    }

    pub fn catalog(&self, locale: Locale) -> &Catalog {
        &self.catalogs[locale.index()]
    }

    pub fn model(&self) -> &FaqModel {
        &self.model
    }

    /// Each candidate judged by its decider: `mode`'s, except that under the hybrid an
    /// entry the classifier never saw is judged by the lexical decider.
    fn judge(
        &self,
        text: &str,
        locale: Locale,
        mode: Mode,
    ) -> (f32, Vec<(Candidate, Judged, Mode)>) {
        let catalog = self.catalog(locale);
        let (probabilities, none) = if mode == Mode::Lexical {
            (vec![None; catalog.entries.len()], 0.0)
        } else {
            let p = self.model.classifier.probabilities(&catalog.analyzer, text);
            let per_entry = self.classes[locale.index()]
                .iter()
                .map(|c| c.map(|c| p[c]))
                .collect();
            (per_entry, self.none.map_or(0.0, |n| p[n]))
        };
        let judged = catalog
            .candidates(text, &probabilities, none, mode)
            .into_iter()
            .map(|c| {
                let by = if mode == Mode::Hybrid && !c.known {
                    Mode::Lexical
                } else {
                    mode
                };
                let decider = self.model.decider(by);
                let j = Judged {
                    doc: c.doc,
                    probability: decider.probability(by, &c.evidence),
                    answer: decider.answer,
                    suggest: decider.suggest,
                };
                (c, j, by)
            })
            .collect();
        (none, judged)
    }

    fn decide(&self, text: &str, locale: Locale, mode: Mode) -> Match<'_> {
        let (_, judged) = self.judge(text, locale, mode);
        let list: Vec<Judged> = judged.into_iter().map(|(_, j, _)| j).collect();
        let entries = &self.catalog(locale).entries;
        match choose(&list) {
            Choice::Answer(doc) => Match::Answer(&entries[doc]),
            Choice::Suggest(docs) => {
                Match::Suggest(docs.into_iter().map(|d| &entries[d]).collect())
            }
            Choice::Nothing => Match::Nothing,
        }
    }

    /// Matches `text` with the hybrid, preferring `locale`, but answering from another
    /// locale's entries when only they fit (a Spanish question from someone whose
    /// setting is English).
    pub fn lookup(&self, text: &str, locale: Locale) -> (Locale, Match<'_>) {
        self.lookup_with(text, locale, Mode::Hybrid)
    }

    /// [`Faq::lookup`] with the deciders of `mode` (the others are for measuring).
    pub fn lookup_with(&self, text: &str, locale: Locale, mode: Mode) -> (Locale, Match<'_>) {
        let mut best = (locale, self.decide(text, locale, mode));
        for other in Locale::ALL.into_iter().filter(|l| *l != locale) {
            if matches!(best.1, Match::Answer(_)) {
                break;
            }
            let candidate = self.decide(text, other, mode);
            if candidate.rank() > best.1.rank() {
                best = (other, candidate);
            }
        }
        best
    }

    /// The hybrid's candidates for `text` in `locale`, most probable first, with every
    /// score, and its decision.
    pub fn explain(&self, text: &str, locale: Locale) -> Explanation {
        let catalog = self.catalog(locale);
        let (none, judged) = self.judge(text, locale, Mode::Hybrid);
        let list: Vec<Judged> = judged.iter().map(|(_, j, _)| *j).collect();
        let decision = match choose(&list) {
            Choice::Answer(doc) => format!("answer {}", catalog.entries[doc].id),
            Choice::Suggest(docs) => format!(
                "did you mean: {}",
                docs.iter()
                    .map(|&d| catalog.entries[d].id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Choice::Nothing => "fallback (offers /faq)".to_string(),
        };
        let mut candidates: Vec<Explained> = judged
            .into_iter()
            .map(|(c, j, mode)| Explained {
                id: catalog.entries[c.doc].id.clone(),
                score: c.score,
                coverage: f64::from(c.evidence.coverage),
                anchored: c.evidence.anchored,
                semantic: c.known.then_some(c.evidence.probability),
                combined: j.probability,
                answer_at: j.answer,
                suggest_at: j.suggest,
                mode,
            })
            .collect();
        candidates.sort_by(|a, b| b.combined.total_cmp(&a.combined).then(a.id.cmp(&b.id)));
        Explanation {
            terms: catalog.terms(text),
            none,
            candidates,
            decision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, question: &str, keywords: &[&str]) -> Entry {
        Entry {
            id: id.into(),
            topic: "t".into(),
            question: question.into(),
            phrasings: Vec::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            answer: "a".into(),
            source: "s".into(),
            reviewed: "2026-01-01".into(),
            related: Vec::new(),
        }
    }

    /// Issue 16: "time commitment" made "time" an anchor on its own.
    #[test]
    fn keywords_anchor_only_as_whole_phrases() {
        let catalog = Catalog::new(
            Vec::new(),
            vec![
                entry(
                    "hours",
                    "How many hours a week?",
                    &["time commitment", "hours"],
                ),
                entry("what-is-iop", "What is IOP?", &["stand for"]),
            ],
            Analyzer::new(Locale::En, &[], &[]),
        );
        let anchored = |text: &str, doc: usize| catalog.anchored(&catalog.terms(text), doc);
        assert!(anchored("what's the time commitment", 0));
        assert!(anchored("how many hours", 0));
        assert!(!anchored("what time is it", 0));
        assert!(!anchored("a commitment to my time", 0));
        assert!(anchored("what does iop stand for", 1));
        assert!(!anchored("i can't stand it", 1));
    }

    #[test]
    fn the_most_probable_candidate_over_its_threshold_wins() {
        let j = |doc, probability, answer| Judged {
            doc,
            probability,
            answer,
            suggest: 0.3,
        };
        assert_eq!(choose(&[j(0, 0.7, 0.6), j(1, 0.9, 0.6)]), Choice::Answer(1));
        // A clinic entry judged by another decider, with a lower threshold, still answers.
        assert_eq!(
            choose(&[j(0, 0.5, 0.6), j(1, 0.45, 0.4)]),
            Choice::Answer(1)
        );
        assert_eq!(
            choose(&[j(0, 0.5, 0.6), j(1, 0.35, 0.6), j(2, 0.1, 0.6)]),
            Choice::Suggest(vec![0, 1])
        );
        assert_eq!(choose(&[j(0, 0.1, 0.6)]), Choice::Nothing);
        assert_eq!(choose(&[]), Choice::Nothing);
    }

    #[test]
    fn questions_are_told_from_statements() {
        for q in [
            "how long is it",
            "is there a night group",
            "ok so, can my wife come",
            "if i start monday when would i finish",
            "¿hay grupos en la noche?",
            "cuanto cuesta",
        ] {
            assert!(looks_like_question(q), "{q}");
        }
        for s in [
            "my laptop died again",
            "laughing at this video all day",
            "we shot some hoops after group",
        ] {
            assert!(!looks_like_question(s), "{s}");
        }
    }
}
