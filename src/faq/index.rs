//! A BM25 index with one document per FAQ entry (question, phrasings and keywords together:
//! indexing each phrasing alone answers far more off-topic questions).

use std::collections::HashMap;

use crate::safety::normalize::{deletions, within_one_edit};

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Query terms at least this long may match an index term one edit away.
const TYPO_MIN_CHARS: usize = 5;

pub struct Index {
    /// term -> (document, term frequency)
    postings: HashMap<String, Vec<(usize, u32)>>,
    lengths: Vec<f64>,
    average: f64,
    /// One-deletion variants of every term, for typo look-ups.
    variants: HashMap<String, Vec<String>>,
    /// The longest term's length in characters: a word more than one longer cannot be a
    /// typo of any term, and is not taken apart (its deletions alone cost the square of
    /// its length).
    longest: usize,
}

/// How one document scored against a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub doc: usize,
    pub score: f64,
    /// The share of the query's information (idf mass) this document covers, 0–1.
    pub coverage: f64,
    /// Query terms found in the document; a term reached by typo correction is written
    /// `~term`.
    pub matched: Vec<String>,
}

impl Index {
    pub fn build(docs: &[Vec<String>]) -> Index {
        let mut postings: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        for (doc, terms) in docs.iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for t in terms {
                *counts.entry(t).or_default() += 1;
            }
            for (term, tf) in counts {
                postings
                    .entry(term.to_string())
                    .or_default()
                    .push((doc, tf));
            }
        }
        let lengths: Vec<f64> = docs.iter().map(|d| d.len() as f64).collect();
        let average = (lengths.iter().sum::<f64>() / lengths.len().max(1) as f64).max(1.0);
        let mut variants: HashMap<String, Vec<String>> = HashMap::new();
        // In sorted order, so that ties between typo candidates break the same way in
        // every process (a hash map's order is random per process).
        let mut terms: Vec<&String> = postings
            .keys()
            .filter(|t| t.chars().count() >= TYPO_MIN_CHARS - 1)
            .collect();
        terms.sort_unstable();
        for term in terms {
            for v in deletions(term) {
                variants.entry(v).or_default().push(term.clone());
            }
            variants.entry(term.clone()).or_default().push(term.clone());
        }
        let longest = postings
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0);
        Index {
            postings,
            lengths,
            average,
            variants,
            longest,
        }
    }

    fn docs(&self) -> f64 {
        self.lengths.len() as f64
    }

    fn idf(&self, df: usize) -> f64 {
        let n = self.docs();
        ((n - df as f64 + 0.5) / (df as f64 + 0.5) + 1.0).ln()
    }

    /// The index term a query term stands for: itself, or a unique term one edit away.
    fn resolve<'a>(&'a self, term: &'a str) -> Option<&'a str> {
        if self.postings.contains_key(term) {
            return Some(term);
        }
        let length = term.chars().count();
        if length < TYPO_MIN_CHARS || length > self.longest + 1 || term.contains('_') {
            return None;
        }
        let mut best: Option<&str> = None;
        for v in std::iter::once(term.to_string()).chain(deletions(term)) {
            for candidate in self.variants.get(&v).into_iter().flatten() {
                if within_one_edit(term, candidate) {
                    // Prefer the more common term when several are one edit away.
                    let df = |t: &str| self.postings.get(t).map_or(0, Vec::len);
                    if best.is_none_or(|b| df(candidate) > df(b)) {
                        best = Some(candidate);
                    }
                }
            }
        }
        best
    }

    /// Scores every document sharing a term with the query, best first.
    pub fn search(&self, query: &[String]) -> Vec<Scored> {
        let mut unique: Vec<&str> = Vec::new();
        for t in query {
            if !unique.contains(&t.as_str()) {
                unique.push(t);
            }
        }
        // Unknown words weigh like the rarest words: a question full of words the FAQ never
        // uses is probably not an FAQ question.
        let unknown_idf = self.idf(0);
        let mut total_idf = 0.0;
        let mut scores: Vec<(f64, f64, Vec<String>)> =
            vec![(0.0, 0.0, Vec::new()); self.lengths.len()];
        for term in unique {
            let Some(resolved) = self.resolve(term) else {
                total_idf += unknown_idf;
                continue;
            };
            let postings = &self.postings[resolved];
            let idf = self.idf(postings.len());
            total_idf += idf;
            for &(doc, tf) in postings {
                let tf = f64::from(tf);
                let norm = K1 * (1.0 - B + B * self.lengths[doc] / self.average);
                let entry = &mut scores[doc];
                entry.0 += idf * tf * (K1 + 1.0) / (tf + norm);
                entry.1 += idf;
                // A typo-corrected term is marked, so it never counts as the entry's keyword:
                // "commute" one edit from "commit" must not answer on its own.
                entry.2.push(if resolved == term {
                    resolved.to_string()
                } else {
                    format!("~{resolved}")
                });
            }
        }
        let mut out: Vec<Scored> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, (_, _, matched))| !matched.is_empty())
            .map(|(doc, (score, covered, matched))| Scored {
                doc,
                score,
                coverage: if total_idf > 0.0 {
                    covered / total_idf
                } else {
                    0.0
                },
                matched,
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_best_document_wins_and_typos_are_forgiven() {
        let index = Index::build(&[
            doc("insurance cover cost"),
            doc("hours week days"),
            doc("detox medical"),
        ]);
        let found = index.search(&doc("insurnce cost"));
        assert_eq!(found[0].doc, 0);
        assert!((found[0].coverage - 1.0).abs() < 1e-9);
        let partial = index.search(&doc("hours sourdough"));
        assert_eq!(partial[0].doc, 1);
        assert!(partial[0].coverage < 0.6);
        assert!(index.search(&doc("pizza")).is_empty());
    }

    /// A typo one edit from two equally common terms resolved by hash-map order, which is
    /// random per map: the same question could match differently from run to run (and
    /// `waypoint train-faq` could write different bytes).
    #[test]
    fn a_tie_between_typo_candidates_breaks_the_same_way_every_time() {
        let docs = [doc("sober house"), doc("sober horse"), doc("sober hose")];
        let first = Index::build(&docs).search(&doc("hoise"))[0].matched.clone();
        for _ in 0..30 {
            assert_eq!(Index::build(&docs).search(&doc("hoise"))[0].matched, first);
        }
    }
}
