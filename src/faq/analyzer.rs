//! Text -> index terms for the FAQ: the safety module's normalisation, then synonym groups,
//! stop words and Snowball stemming (English or Spanish).

use std::collections::{HashMap, HashSet};

use rust_stemmers::{Algorithm, Stemmer};

use crate::locale::Locale;
use crate::safety::normalize::words;

/// Turns text into the terms the FAQ index compares.
pub struct Analyzer {
    stemmer: Stemmer,
    stopwords: HashSet<String>,
    /// Multi-word synonym phrases by their first stemmed word, longest first, with the
    /// term each stands for.
    synonyms: HashMap<String, Vec<(Vec<String>, String)>>,
    /// Single stemmed words that are synonyms, for quick look-up.
    single: HashMap<String, String>,
}

impl Analyzer {
    /// `synonyms`: groups of words or phrases; every member counts as the group's first.
    pub fn new(locale: Locale, stopwords: &[String], synonyms: &[Vec<String>]) -> Analyzer {
        let stemmer = Stemmer::create(match locale {
            Locale::En => Algorithm::English,
            Locale::Es => Algorithm::Spanish,
        });
        let stopwords = stopwords.iter().flat_map(|w| words(w)).collect();
        let mut analyzer = Analyzer {
            stemmer,
            stopwords,
            synonyms: HashMap::new(),
            single: HashMap::new(),
        };
        for group in synonyms {
            let Some(canonical) = group.first() else {
                continue;
            };
            let canonical_term = analyzer.stem_phrase(canonical).join("_");
            if canonical_term.is_empty() {
                continue;
            }
            for member in group {
                let phrase = analyzer.stem_phrase(member);
                match phrase.len() {
                    0 => {}
                    1 => {
                        analyzer
                            .single
                            .insert(phrase[0].clone(), canonical_term.clone());
                    }
                    _ => analyzer
                        .synonyms
                        .entry(phrase[0].clone())
                        .or_default()
                        .push((phrase, canonical_term.clone())),
                }
            }
        }
        for list in analyzer.synonyms.values_mut() {
            list.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        }
        analyzer
    }

    fn stem(&self, word: &str) -> String {
        self.stemmer.stem(word).into_owned()
    }

    fn stem_phrase(&self, text: &str) -> Vec<String> {
        words(text).iter().map(|w| self.stem(w)).collect()
    }

    /// The terms of `text`, in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let raw = words(text);
        let stemmed: Vec<String> = raw.iter().map(|w| self.stem(w)).collect();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        'words: while i < raw.len() {
            for (phrase, canonical) in self.synonyms.get(&stemmed[i]).into_iter().flatten() {
                if stemmed[i..].starts_with(phrase) {
                    out.push(canonical.clone());
                    i += phrase.len();
                    continue 'words;
                }
            }
            if let Some(canonical) = self.single.get(&stemmed[i]) {
                out.push(canonical.clone());
            } else if !self.stopwords.contains(&raw[i]) {
                out.push(stemmed[i].clone());
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stems_drops_stop_words_and_maps_synonyms() {
        let a = Analyzer::new(
            Locale::En,
            &strings(&["the", "a", "is"]),
            &[
                strings(&["counselor", "therapist"]),
                strings(&["12 step", "aa", "twelve step"]),
            ],
        );
        assert_eq!(a.terms("Is the therapist nice?"), ["counselor", "nice"]);
        assert_eq!(a.terms("therapists"), ["counselor"]);
        assert_eq!(a.terms("twelve-step meetings"), ["12_step", "meet"]);
        assert_eq!(a.terms("AA"), ["12_step"]);
    }

    #[test]
    fn spanish_stems_spanish() {
        let a = Analyzer::new(Locale::Es, &strings(&["la", "de"]), &[]);
        assert_eq!(
            a.terms("¿Cuántas horas de terapia?"),
            a.terms("cuantas hora terapias")
        );
    }
}
