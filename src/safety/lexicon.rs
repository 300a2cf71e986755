//! Compiled concept lexicons: find every place a concept's patterns occur in a message.
//!
//! Pattern words are interned as *terms*; each message word is resolved once to the set of
//! terms it satisfies (exact, prefix, or one edit away), then phrases are matched over those
//! sets. Resolution uses hash look-ups only — a deletion index for typos, incremental hashes
//! for prefixes, no allocation per look-up — so screening costs a few look-ups per word,
//! whatever the size of the lexicon.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, RwLock};

use super::fast_hash::FastHasher;
use super::normalize::{fold, fold_into, scan_words, within_one_edit, words};

type Map<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// How many other words may stand between two consecutive words of a phrase.
pub const MAX_GAP: usize = 2;
/// Words at least this long also match a misspelling one edit away.
pub const FUZZY_MIN_CHARS: usize = 5;
/// A prefix pattern (`word*`) needs at least this many characters before the star.
pub const PREFIX_MIN_CHARS: usize = 3;

pub type ConceptId = usize;
type TermId = u32;

/// One occurrence of a concept in a message, as a range of word positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub concept: ConceptId,
    pub start: usize,
    pub end: usize,
}

/// Why a pattern cannot be compiled; the content loader adds file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("the pattern has no words once punctuation is removed")]
    Empty,
    #[error("a prefix pattern needs at least {PREFIX_MIN_CHARS} letters before `*`")]
    ShortPrefix,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TermSpec {
    Exact { key: String, fuzzy: bool },
    Prefix(String),
}

struct Pattern {
    concept: ConceptId,
    terms: Vec<TermId>,
    /// How many other words may stand between two of its words.
    gap: usize,
}

/// Lexicons compiled for matching. Look-up tables are keyed by a 64-bit hash of the text
/// and every candidate is verified against the term's own key, so a hash collision can
/// never produce a false match.
#[derive(Default)]
pub struct Lexicon {
    names: Vec<String>,
    terms: Map<TermSpec, TermId>,
    /// Each term's key (the folded word, or the prefix before `*`).
    keys: Vec<String>,
    exact: Map<u64, Vec<TermId>>,
    /// Hashes of fuzzy terms' keys and of their one-letter deletions.
    deletions: Map<u64, Vec<TermId>>,
    prefixes: Map<u64, Vec<TermId>>,
    /// A bit per hash bucket of every key in the three maps above: most words of a message
    /// are in none of them, and this answers "no" from a small, cache-friendly array.
    filter: Vec<u64>,
    patterns: Vec<Pattern>,
    /// One-word patterns by their term, indexed by term id.
    single: Vec<Vec<usize>>,
    /// Longer patterns by their first two terms: common first words ("i", "my") would
    /// otherwise lead to trying hundreds of patterns at every occurrence.
    by_pair: Map<u64, Vec<usize>>,
    /// A bit per pair bucket, so most absent pairs cost no hash-table probe.
    pair_filter: Vec<u64>,
    /// By term id: whether the term begins, or comes second in, some longer pattern.
    /// Most words of a message do neither, and skip the pair search entirely.
    starts_pair: Vec<bool>,
    seconds_pair: Vec<bool>,
    /// Words already resolved. Resolution is a pure function of the word and the lexicon,
    /// so the cache changes no result, only the cost of common words.
    cache: RwLock<Map<String, TermSet>>,
}

/// The terms one word satisfies, shared between the word cache and prepared messages.
type TermSet = Arc<[TermId]>;

/// How many distinct words the resolution cache keeps before starting afresh. Chat
/// vocabulary is heavily skewed, so a modest cache answers most words of most messages.
const WORD_CACHE_CAPACITY: usize = 50_000;

/// A message made ready for matching: the terms each of its words satisfies.
pub struct Prepared {
    terms: Vec<TermSet>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Blanks the words in `start..=end` so that no pattern can use them.
    pub fn mask(&mut self, start: usize, end: usize) {
        for set in &mut self.terms[start..=end] {
            *set = Arc::from([]);
        }
    }
}

impl Lexicon {
    /// Adds a concept (or extends one of the same name, as locales share names) and returns
    /// its id.
    pub fn concept(&mut self, name: &str) -> ConceptId {
        if let Some(id) = self.concept_id(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.names.len() - 1
    }

    pub fn concept_id(&self, name: &str) -> Option<ConceptId> {
        self.names.iter().position(|n| n == name)
    }

    pub fn concept_name(&self, id: ConceptId) -> &str {
        &self.names[id]
    }

    pub fn concept_count(&self) -> usize {
        self.names.len()
    }

    /// Compiles one pattern into `concept`. With `loose` false, the pattern matches only
    /// its own words, contiguous and spelled as written: masks must never swallow a
    /// near-miss ("kicking myself" is an idiom, "killing myself" is not) nor reach across
    /// other words ("hang myself, hang on" holds the idiom "hang on", but only at its end).
    pub fn add_pattern(
        &mut self,
        concept: ConceptId,
        pattern: &str,
        loose: bool,
    ) -> Result<(), PatternError> {
        let typos = loose;
        let mut terms = Vec::new();
        for raw in pattern.split_whitespace() {
            let (spec_word, prefix, fuzzy) = if let Some(stem) = raw.strip_suffix('*') {
                (stem, true, false)
            } else if let Some(exact) = raw.strip_prefix('=') {
                (exact, false, false)
            } else {
                (raw, false, typos)
            };
            let parts = words(spec_word);
            let count = parts.len();
            for (i, part) in parts.into_iter().enumerate() {
                let key = fold(&part);
                // Only the last piece of a split word ("12-step*") carries the star.
                let spec = if prefix && i + 1 == count {
                    if key.chars().count() < PREFIX_MIN_CHARS {
                        return Err(PatternError::ShortPrefix);
                    }
                    TermSpec::Prefix(key)
                } else {
                    let fuzzy = fuzzy && key.chars().count() >= FUZZY_MIN_CHARS;
                    TermSpec::Exact { key, fuzzy }
                };
                terms.push(self.intern(spec));
            }
        }
        match terms[..] {
            [] => return Err(PatternError::Empty),
            [only] => self.single[only as usize].push(self.patterns.len()),
            [first, second, ..] => {
                let key = pair(first, second);
                if self.pair_filter.is_empty() {
                    self.pair_filter = vec![0; FILTER_WORDS];
                }
                let bit = filter_bit(key);
                self.pair_filter[bit / 64] |= 1 << (bit % 64);
                self.starts_pair[first as usize] = true;
                self.seconds_pair[second as usize] = true;
                self.by_pair
                    .entry(key)
                    .or_default()
                    .push(self.patterns.len());
            }
        }
        let gap = if loose { MAX_GAP } else { 0 };
        self.patterns.push(Pattern {
            concept,
            terms,
            gap,
        });
        Ok(())
    }

    fn intern(&mut self, spec: TermSpec) -> TermId {
        if let Some(&id) = self.terms.get(&spec) {
            return id;
        }
        // A new term can change how words resolve.
        self.cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let id = self.keys.len() as TermId;
        if self.filter.is_empty() {
            self.filter = vec![0; FILTER_WORDS];
        }
        let mut hashes = Vec::new();
        match &spec {
            TermSpec::Exact { key, fuzzy } => {
                let h = hash(key.as_bytes());
                hashes.push(h);
                self.exact.entry(h).or_default().push(id);
                if *fuzzy {
                    self.deletions.entry(h).or_default().push(id);
                    for_each_deletion(key, |d| {
                        hashes.push(d);
                        self.deletions.entry(d).or_default().push(id);
                    });
                }
                self.keys.push(key.clone());
            }
            TermSpec::Prefix(key) => {
                let h = hash(key.as_bytes());
                hashes.push(h);
                self.prefixes.entry(h).or_default().push(id);
                self.keys.push(key.clone());
            }
        }
        for h in hashes {
            let bit = filter_bit(h);
            self.filter[bit / 64] |= 1 << (bit % 64);
        }
        self.single.push(Vec::new());
        self.starts_pair.push(false);
        self.seconds_pair.push(false);
        self.terms.insert(spec, id);
        id
    }

    /// Normalises `text` and resolves each word to the terms it satisfies.
    pub fn prepare(&self, text: &str) -> Prepared {
        let mut key = String::new();
        let mut terms = Vec::new();
        scan_words(text, |w| terms.push(self.resolve_word(w, &mut key)));
        Prepared { terms }
    }

    /// The terms a message word satisfies, through the cache (keyed by the word as written,
    /// so a cached word is not even folded).
    fn resolve_word(&self, word: &str, key: &mut String) -> TermSet {
        // A poisoned lock only means another thread panicked mid-insert; the map is still
        // a valid cache, so keep using it.
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(word)
        {
            return hit.clone();
        }
        fold_into(word, key);
        let set: TermSet = self.resolve(key).into();
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= WORD_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(word.to_string(), set.clone());
        set
    }

    fn may_contain(&self, h: u64) -> bool {
        let bit = filter_bit(h);
        self.filter
            .get(bit / 64)
            .is_some_and(|word| word & (1 << (bit % 64)) != 0)
    }

    fn resolve(&self, key: &str) -> Vec<TermId> {
        let mut found: Vec<TermId> = Vec::new();
        let add = |id: TermId, found: &mut Vec<TermId>| {
            if !found.contains(&id) {
                found.push(id);
            }
        };
        let whole = hash(key.as_bytes());
        if self.may_contain(whole) {
            for &id in self.exact.get(&whole).into_iter().flatten() {
                if self.keys[id as usize] == key {
                    add(id, &mut found);
                }
            }
        }
        if key.len() >= FUZZY_MIN_CHARS - 1 && !self.deletions.is_empty() {
            let check = |h: u64, found: &mut Vec<TermId>| {
                if !self.may_contain(h) {
                    return;
                }
                for &id in self.deletions.get(&h).into_iter().flatten() {
                    if within_one_edit(key, &self.keys[id as usize]) {
                        add(id, found);
                    }
                }
            };
            check(whole, &mut found);
            // The table holds keys of at least FUZZY_MIN_CHARS characters and their
            // deletions; a shorter word's own deletions cannot be among them.
            if key.chars().count() >= FUZZY_MIN_CHARS {
                for_each_deletion(key, |h| check(h, &mut found));
            }
        }
        if !self.prefixes.is_empty() {
            // One running hash over the word; look up at each character boundary.
            let mut h = 0u64;
            let mut power = 1u64;
            let mut chars = 0;
            for (i, byte) in key.bytes().enumerate() {
                h = h.wrapping_add(u64::from(byte).wrapping_add(1).wrapping_mul(power));
                power = power.wrapping_mul(BASE);
                let boundary = key.is_char_boundary(i + 1);
                chars += usize::from(boundary);
                if boundary && chars >= PREFIX_MIN_CHARS && self.may_contain(h) {
                    for &id in self.prefixes.get(&h).into_iter().flatten() {
                        if key
                            .as_bytes()
                            .starts_with(self.keys[id as usize].as_bytes())
                        {
                            add(id, &mut found);
                        }
                    }
                }
            }
        }
        found
    }

    /// Every occurrence of every concept, in order of position.
    pub fn hits(&self, text: &Prepared) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut push = |hit: Hit| {
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        };
        let n = text.terms.len();
        for start in 0..n {
            for &first in text.terms[start].iter() {
                for &p in &self.single[first as usize] {
                    push(Hit {
                        concept: self.patterns[p].concept,
                        start,
                        end: start,
                    });
                }
                if !self.starts_pair[first as usize] {
                    continue;
                }
                for next in (start + 1)..(start + 2 + MAX_GAP).min(n) {
                    for &second in text.terms[next].iter() {
                        if !self.seconds_pair[second as usize] {
                            continue;
                        }
                        let key = pair(first, second);
                        let bit = filter_bit(key);
                        let maybe = self
                            .pair_filter
                            .get(bit / 64)
                            .is_some_and(|word| word & (1 << (bit % 64)) != 0);
                        if !maybe {
                            continue;
                        }
                        for &p in self.by_pair.get(&key).into_iter().flatten() {
                            let pattern = &self.patterns[p];
                            if next - start > pattern.gap + 1 {
                                continue;
                            }
                            if let Some(end) =
                                match_rest(&pattern.terms[2..], text, next, pattern.gap)
                            {
                                push(Hit {
                                    concept: pattern.concept,
                                    start,
                                    end,
                                });
                            }
                        }
                    }
                }
            }
        }
        hits
    }
}

fn pair(first: TermId, second: TermId) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
}

/// Matches the remaining terms after `start`, allowing up to `gap` words between them;
/// returns the position of the last word matched.
fn match_rest(rest: &[TermId], text: &Prepared, start: usize, gap: usize) -> Option<usize> {
    let mut at = start;
    for term in rest {
        let window = (at + 1)..(at + 2 + gap).min(text.terms.len());
        at = window.clone().find(|&j| text.terms[j].contains(term))?;
    }
    Some(at)
}

/// The filter's size in 64-bit words: 2^19 bits, 64 KiB.
const FILTER_WORDS: usize = 1 << 13;

fn filter_bit(h: u64) -> usize {
    // The high bits of a multiplicative mix; the polynomial hash's low bits are weak.
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 45) as usize
}

/// Words are hashed as polynomials, `Σ byte_k · BASE^k` (wrapping), so the hash of a word
/// with one character deleted follows from its prefix hashes in constant time, and a
/// prefix's hash grows one byte at a time.
const BASE: u64 = 0x0100_0000_01b3;
/// The inverse of [`BASE`] modulo 2^64 (BASE is odd), by Newton's iteration.
const BASE_INVERSE: u64 = {
    let mut x = BASE;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(BASE.wrapping_mul(x)));
        i += 1;
    }
    x
};

fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut power = 1u64;
    for &b in bytes {
        h = h.wrapping_add(u64::from(b).wrapping_add(1).wrapping_mul(power));
        power = power.wrapping_mul(BASE);
    }
    h
}

/// Calls `f` with the hash of every string made by deleting one character of `key`,
/// without building those strings.
fn for_each_deletion(key: &str, mut f: impl FnMut(u64)) {
    let bytes = key.as_bytes();
    // prefix[i] = hash(bytes[..i]); on the stack for ordinary words.
    let mut stack = [0u64; 33];
    let mut heap = Vec::new();
    let prefix: &mut [u64] = if bytes.len() < stack.len() {
        &mut stack[..=bytes.len()]
    } else {
        heap.resize(bytes.len() + 1, 0);
        &mut heap
    };
    let mut h = 0u64;
    let mut power = 1u64;
    for (i, &b) in bytes.iter().enumerate() {
        h = h.wrapping_add(u64::from(b).wrapping_add(1).wrapping_mul(power));
        power = power.wrapping_mul(BASE);
        prefix[i + 1] = h;
    }
    let total = h;
    for (i, c) in key.char_indices() {
        let end = i + c.len_utf8();
        let mut shift = 1u64;
        for _ in i..end {
            shift = shift.wrapping_mul(BASE_INVERSE);
        }
        f(prefix[i].wrapping_add(total.wrapping_sub(prefix[end]).wrapping_mul(shift)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(patterns: &[(&str, &[&str])]) -> Lexicon {
        let mut lex = Lexicon::default();
        for (name, list) in patterns {
            let id = lex.concept(name);
            for p in *list {
                lex.add_pattern(id, p, *name != "mask").unwrap();
            }
        }
        lex
    }

    fn found(lex: &Lexicon, text: &str) -> Vec<String> {
        let prepared = lex.prepare(text);
        lex.hits(&prepared)
            .iter()
            .map(|h| lex.concept_name(h.concept).to_string())
            .collect()
    }

    #[test]
    fn phrases_allow_two_words_between() {
        let lex = lexicon(&[("wish", &["want to die"])]);
        assert_eq!(found(&lex, "i want to just die"), ["wish"]);
        assert_eq!(found(&lex, "want to really truly die"), ["wish"]);
        assert!(found(&lex, "want to go outside and maybe die").is_empty());
        assert!(found(&lex, "die to want").is_empty());
    }

    #[test]
    fn typos_prefixes_and_exact_words() {
        let lex = lexicon(&[
            ("s", &["suicidal"]),
            ("o", &["overdos*"]),
            ("e", &["=pills"]),
        ]);
        assert_eq!(found(&lex, "feeling sucidal"), ["s"]);
        assert_eq!(found(&lex, "feeling suicdial"), ["s"]);
        assert_eq!(found(&lex, "he overdosed"), ["o"]);
        assert_eq!(found(&lex, "pills"), ["e"]);
        assert!(found(&lex, "pill").is_empty(), "exact words take no typos");
        assert!(found(&lex, "suicide squad").is_empty());
    }

    #[test]
    fn short_words_need_an_exact_match() {
        let lex = lexicon(&[("k", &["kms"])]);
        assert_eq!(found(&lex, "kmssss"), ["k"]);
        assert!(found(&lex, "kma").is_empty());
    }

    #[test]
    fn patterns_without_typos_match_exactly() {
        let lex = lexicon(&[("mask", &["kicking myself"]), ("s", &["killing myself"])]);
        assert_eq!(
            found(&lex, "killing myself"),
            ["s"],
            "the mask takes no typo"
        );
        assert!(found(&lex, "kicking myself").contains(&"mask".to_string()));
    }

    #[test]
    fn masked_words_match_nothing() {
        let lex = lexicon(&[("die", &["dying"]), ("mask", &["dying to"])]);
        let mut prepared = lex.prepare("dying to see it");
        let mask = lex.concept_id("mask").unwrap();
        for hit in lex
            .hits(&prepared)
            .into_iter()
            .filter(|h| h.concept == mask)
        {
            prepared.mask(hit.start, hit.end);
        }
        assert!(lex.hits(&prepared).is_empty());
    }

    #[test]
    fn bad_patterns_are_refused() {
        let mut lex = Lexicon::default();
        let c = lex.concept("x");
        assert_eq!(lex.add_pattern(c, " ?! ", true), Err(PatternError::Empty));
        assert_eq!(
            lex.add_pattern(c, "ki*", true),
            Err(PatternError::ShortPrefix)
        );
    }

    #[test]
    fn deletion_hashes_equal_hashes_of_deletions() {
        for word in ["suicide", "ab", "mañana", "💊x"] {
            let mut got = Vec::new();
            for_each_deletion(word, |h| got.push(h));
            let want: Vec<u64> = word
                .char_indices()
                .map(|(i, c)| {
                    let mut s = word.to_string();
                    s.replace_range(i..i + c.len_utf8(), "");
                    hash(s.as_bytes())
                })
                .collect();
            assert_eq!(got, want, "{word}");
        }
    }
}
