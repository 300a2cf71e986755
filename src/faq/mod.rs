//! The curated FAQ: reviewed entries per locale and a deterministic, explainable matcher.
//!
//! BM25 over one document per entry, with stemming, stop words, synonyms and typo
//! tolerance. Confidence is the share of the question's information (idf mass) the best
//! entry covers, and whether the match rests on one of the entry's own keywords:
//! high -> answer; middling -> "did you mean"; low -> honest fallback. Pure: no I/O.

pub mod analyzer;
pub mod index;

use analyzer::Analyzer;
use index::{Index, Scored};

use crate::locale::Locale;

/// At or above this coverage the best entry is the answer.
pub const ANSWER_COVERAGE: f64 = 0.6;
/// At or above this coverage the best entry is the answer when the match rests on one of
/// its keywords (the words its author marked as distinctive).
pub const ANSWER_COVERAGE_WITH_KEYWORD: f64 = 0.25;
/// How much more an entry's score counts when the match rests on one of its keywords.
pub const KEYWORD_BOOST: f64 = 1.5;
/// At or above this coverage the best entries are offered as "did you mean".
pub const SUGGEST_COVERAGE: f64 = 0.4;
/// How many entries "did you mean" offers at most.
pub const MAX_SUGGESTIONS: usize = 3;

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
    /// Each entry's keyword terms: the words its author marked as distinctive.
    anchors: Vec<Vec<String>>,
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
            .map(|e| e.keywords.iter().flat_map(|k| analyzer.terms(k)).collect())
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

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn in_topic<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.topic == topic)
    }

    /// BM25 results, re-ranked so that a match resting on an entry's own keywords beats a
    /// slightly higher score built from incidental words.
    fn search(&self, text: &str) -> Vec<Scored> {
        let mut weighted: Vec<(f64, Scored)> = self
            .index
            .search(&self.analyzer.terms(text))
            .into_iter()
            .map(|s| {
                let boost = if self.anchored(&s) {
                    KEYWORD_BOOST
                } else {
                    1.0
                };
                (s.score * boost, s)
            })
            .collect();
        weighted.sort_by(|(wa, a), (wb, b)| wb.total_cmp(wa).then(a.doc.cmp(&b.doc)));
        weighted.into_iter().map(|(_, s)| s).collect()
    }

    /// Whether the match rests on one of the entry's own keywords.
    fn anchored(&self, scored: &Scored) -> bool {
        scored
            .matched
            .iter()
            .any(|t| self.anchors[scored.doc].contains(t))
    }

    fn decide(&self, text: &str) -> Match<'_> {
        let found = self.search(text);
        let Some(best) = found.first() else {
            return Match::Nothing;
        };
        // The keyword shortcut is for questions; a statement ("dying laughing at this
        // video") must cover most of itself to be taken as one.
        let keyword_ok = self.anchored(best) && looks_like_question(text);
        if best.coverage >= ANSWER_COVERAGE
            || (best.coverage >= ANSWER_COVERAGE_WITH_KEYWORD && keyword_ok)
        {
            return Match::Answer(&self.entries[best.doc]);
        }
        let suggestions: Vec<&Entry> = found
            .iter()
            .filter(|s| s.coverage >= SUGGEST_COVERAGE)
            .take(MAX_SUGGESTIONS)
            .map(|s| &self.entries[s.doc])
            .collect();
        if suggestions.is_empty() {
            Match::Nothing
        } else {
            Match::Suggest(suggestions)
        }
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

/// One line of `waypoint faq explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub id: String,
    pub score: f64,
    pub coverage: f64,
    pub matched: Vec<String>,
    pub anchored: bool,
}

/// The FAQ in every locale.
pub struct Faq {
    catalogs: Vec<Catalog>,
}

impl Faq {
    /// `catalogs` in the order of [`Locale::ALL`].
    pub fn new(catalogs: Vec<Catalog>) -> Faq {
        debug_assert_eq!(catalogs.len(), Locale::ALL.len());
        Faq { catalogs }
    }

    pub fn catalog(&self, locale: Locale) -> &Catalog {
        &self.catalogs[locale.index()]
    }

    /// Matches `text`, preferring `locale`, but answering from another locale's entries when
    /// only they fit (a Spanish question from someone whose setting is English).
    pub fn lookup(&self, text: &str, locale: Locale) -> (Locale, Match<'_>) {
        let mut best = (locale, self.catalog(locale).decide(text));
        for other in Locale::ALL.into_iter().filter(|l| *l != locale) {
            if matches!(best.1, Match::Answer(_)) {
                break;
            }
            let candidate = self.catalog(other).decide(text);
            if candidate.rank() > best.1.rank() {
                best = (other, candidate);
            }
        }
        best
    }

    /// The top three entries for `text` in `locale`, with scores and matched terms.
    pub fn explain(&self, text: &str, locale: Locale) -> Vec<Explained> {
        let catalog = self.catalog(locale);
        catalog
            .search(text)
            .into_iter()
            .take(3)
            .map(|s| Explained {
                id: catalog.entries[s.doc].id.clone(),
                score: s.score,
                coverage: s.coverage,
                anchored: catalog.anchored(&s),
                matched: s.matched,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_question;

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
