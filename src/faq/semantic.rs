//! The semantic scorer: a fastText-style linear classifier from a question to the FAQ
//! entry it asks about, or to "none".
//!
//! BM25 only sees shared words; this model learns from many authors' rewordings ("when
//! would I be done", "UA", "block off the afternoon") which words, stems, word pairs and
//! character n-grams point to which entry. Features are hashed into `2^bits` buckets, the
//! weights are quantised to one byte, and the file lives in `messages/faq-model.bin`,
//! rebuilt by `waypoint train-faq` (fitting is `crate::learn`, shared with triage).
//! Classes are entry ids, shared by every locale, so an English and a Spanish rewording of
//! one entry teach the same class. Pure: scoring any text, even empty, gives probabilities.

use super::analyzer::Analyzer;
use crate::learn;
use crate::safety::model::{hash_parts, mix};
use crate::safety::normalize::{fold, words};

/// The class of questions no entry answers.
pub const NONE: &str = "none";
/// Words beyond this are not featurised: it bounds the cost of a pasted essay.
pub const MAX_WORDS: usize = 200;
/// Character n-grams of each folded word (with `<` and `>` marking its ends), this long.
const NGRAMS: std::ops::RangeInclusive<usize> = 3..=5;

/// Every feature's bucket: folded words, pairs of neighbouring words, the FAQ analyzer's
/// terms (stems and synonym groups, stop words dropped) and their pairs, and each word's
/// character n-grams, which carry a misspelling or an unseen inflection to its stem.
pub fn features(analyzer: &Analyzer, text: &str, bits: u32) -> Vec<u32> {
    let bucket = |h: u64| (mix(h) >> (64 - bits)) as u32;
    let folded: Vec<String> = words(text)
        .iter()
        .take(MAX_WORDS)
        .map(|w| fold(w))
        .collect();
    let terms: Vec<String> = analyzer.terms(text).into_iter().take(MAX_WORDS).collect();
    let mut out = Vec::with_capacity(folded.len() * 12 + terms.len() * 2);
    for (i, word) in folded.iter().enumerate() {
        out.push(bucket(hash_parts(b'w', &[word])));
        if let Some(next) = folded.get(i + 1) {
            out.push(bucket(hash_parts(b'b', &[word, next])));
        }
        let chars: Vec<char> = format!("<{word}>").chars().collect();
        for n in NGRAMS {
            for gram in chars.windows(n) {
                let gram: String = gram.iter().collect();
                out.push(bucket(hash_parts(b'c', &[&gram])));
            }
        }
    }
    for (i, term) in terms.iter().enumerate() {
        out.push(bucket(hash_parts(b't', &[term])));
        if let Some(next) = terms.get(i + 1) {
            out.push(bucket(hash_parts(b'u', &[term, next])));
        }
    }
    out
}

/// The trained classifier: per-class scales and biases, one byte per bucket and class.
#[derive(Clone, PartialEq)]
pub struct Classifier {
    pub bits: u32,
    /// Entry ids, then [`NONE`] last.
    pub classes: Vec<String>,
    pub scales: Vec<f32>,
    pub bias: Vec<f32>,
    /// Bucket-major: `weights[bucket * classes + class]`.
    pub weights: Vec<i8>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("bits", &self.bits)
            .field("classes", &self.classes.len())
            .finish_non_exhaustive()
    }
}

impl Classifier {
    /// Quantises fitted float weights.
    pub fn quantise(bits: u32, classes: Vec<String>, fitted: &learn::Fitted) -> Classifier {
        let (scales, weights) = learn::quantise(&fitted.weights, classes.len());
        Classifier {
            bits,
            classes,
            scales,
            bias: fitted.bias.clone(),
            weights,
        }
    }

    /// The probability of each class (in the order of `classes`) for already computed
    /// feature buckets.
    pub fn probabilities_of(&self, features: &[u32]) -> Vec<f32> {
        let k = self.classes.len();
        let mut sums = vec![0i32; k];
        for &b in features {
            let row = &self.weights[b as usize * k..][..k];
            for (s, &w) in sums.iter_mut().zip(row) {
                *s += i32::from(w);
            }
        }
        let norm = learn::feature_norm(features.len());
        let mut p: Vec<f32> = (0..k)
            .map(|c| self.bias[c] + sums[c] as f32 * self.scales[c] * norm)
            .collect();
        learn::softmax(&mut p);
        p
    }

    /// The probability of each class for `text`, read with `analyzer`.
    pub fn probabilities(&self, analyzer: &Analyzer, text: &str) -> Vec<f32> {
        self.probabilities_of(&features(analyzer, text, self.bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::Locale;

    #[test]
    fn any_text_gets_probabilities_and_features_stay_in_range() {
        let analyzer = Analyzer::new(Locale::En, &[], &[]);
        let bits = 10;
        let fitted = learn::Fitted {
            weights: (0..(1 << bits) * 3).map(|i| (i % 7) as f32 - 3.0).collect(),
            bias: vec![0.0; 3],
        };
        let model = Classifier::quantise(bits, vec!["a".into(), "b".into(), NONE.into()], &fitted);
        for text in [
            "",
            "🙂",
            "how long is it",
            &"word ".repeat(5_000),
            "a\u{0}b",
        ] {
            let f = features(&analyzer, text, bits);
            assert!(f.iter().all(|&b| b < 1 << bits));
            let p = model.probabilities(&analyzer, text);
            let sum: f32 = p.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{text:?}: {sum}");
        }
    }
}
