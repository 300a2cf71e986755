//! The learned layer: a linear model over hashed word and character n-grams.
//!
//! The rules are precise and explainable but only know wording someone wrote down; this
//! model brings recall on wording nobody listed (typos, slang, symptoms told in a person's
//! own words). It is small enough to ship in the repository, runs in microseconds, and
//! needs nothing at run time but its weight file. Training lives in `safety::training`.
//!
//! Features are the message's normalised words (the same [`scan_words`] and [`fold`] as
//! the lexicons, so leetspeak, accents and stretched letters are already undone), word
//! pairs, stems, framing cues, and the names of the concepts and rules the lexicons found,
//! hashed into `2^bits` buckets. The rules' findings are evidence the model weighs, which
//! is how it learns when a rule is wrong ("I overdosed years ago"). The model scores the
//! whole message and, for long messages, every window of [`WINDOW`] words: a crisis
//! sentence buried in small talk keeps its score.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::OnceLock;

use super::fast_hash::FastHasher;
use super::normalize::{fold, scan_words};
use crate::learn;

/// The labels of the corpus, in the order of the model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Crisis,
    Clinical,
    Support,
    Faq,
    Fallback,
    Smalltalk,
    Benign,
}

impl Label {
    pub const ALL: [Label; 7] = [
        Label::Crisis,
        Label::Clinical,
        Label::Support,
        Label::Faq,
        Label::Fallback,
        Label::Smalltalk,
        Label::Benign,
    ];
    pub const COUNT: usize = Label::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Label::Crisis => "crisis",
            Label::Clinical => "clinical",
            Label::Support => "support",
            Label::Faq => "faq",
            Label::Fallback => "fallback",
            Label::Smalltalk => "smalltalk",
            Label::Benign => "benign",
        }
    }

    pub fn parse(name: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Words per window when a long message is scored piece by piece.
pub const WINDOW: usize = 14;
/// Windows overlap by half, so every run of `WINDOW / 2` words lies inside one window.
const STRIDE: usize = WINDOW / 2;
/// Words beyond this are not featurised: it bounds the cost of a pasted essay. The rules
/// still read every word.
pub const MAX_WORDS: usize = 2_000;

/// Decision points, chosen by the training command on out-of-author predictions. `p` is
/// the model's crisis probability (which already weighs what the rules found).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `p` at or above: the full crisis reply, whatever the rules say.
    pub crisis: f32,
    /// `p` at or above, with a crisis rule fired: the full crisis reply (the rule names
    /// the kind, the model finds it plausible).
    pub confirm: f32,
    /// `p` at or above: the "are you safe right now?" check, unless the message reads more
    /// like a craving or a medication question than a crisis.
    pub check: f32,
    /// `p` below, with a crisis rule fired: the model overrules the rule. At or above, the
    /// rule's finding gets at least the check.
    pub veto: f32,
    /// `p` at or above: a sign of risk, which never gets the generic fallback.
    pub signal: f32,
    /// At or above (and the top non-crisis class): the clinical-advice refusal.
    pub clinical: f32,
    /// At or above (and the top non-crisis class): the support reply.
    pub support: f32,
}

impl Thresholds {
    /// Each threshold with its name, in file order.
    pub fn named(&self) -> [(&'static str, f32); 7] {
        [
            ("crisis", self.crisis),
            ("confirm", self.confirm),
            ("check", self.check),
            ("veto", self.veto),
            ("signal", self.signal),
            ("clinical", self.clinical),
            ("support", self.support),
        ]
    }

    fn from_values(v: [f32; 7]) -> Thresholds {
        let [crisis, confirm, check, veto, signal, clinical, support] = v;
        Thresholds {
            crisis,
            confirm,
            check,
            veto,
            signal,
            clinical,
            support,
        }
    }

    /// The tier for crisis probability `p`: (full crisis reply, safety check). `rival` is
    /// the probability of a craving or medication reading when that is the message's most
    /// likely other label: the check then needs `p` to be at least as likely.
    pub fn tier(&self, p: f32, rules_crisis: bool, rival: Option<f32>) -> (bool, bool) {
        let full = p >= self.crisis || (rules_crisis && p >= self.confirm);
        let check = !full
            && ((p >= self.check && rival.is_none_or(|q| p >= q))
                || (rules_crisis && p >= self.veto));
        (full, check)
    }
}

/// The model's probabilities for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Softmax over [`Label::ALL`] for the whole message.
    pub whole: [f32; Label::COUNT],
    /// The highest crisis probability of the whole message or any of its windows.
    pub crisis: f32,
    /// How many of the whole message's features the model has weights for: with fewer
    /// than [`MIN_KNOWN`], its probabilities are a guess from a word or two.
    pub known: usize,
}

/// Features the model must know in a message before its probabilities count.
pub const MIN_KNOWN: usize = 2;

impl Scores {
    /// The probability of a support or clinical reading, when one of those is the most
    /// likely label after crisis: the rival a check must outweigh.
    pub fn rival(&self) -> Option<f32> {
        let top = self.top_non_crisis();
        matches!(top, Label::Clinical | Label::Support).then(|| self.of(top))
    }

    pub fn of(&self, label: Label) -> f32 {
        match label {
            Label::Crisis => self.crisis,
            other => self.whole[other.index()],
        }
    }

    /// The most likely label other than crisis, by the whole message.
    pub fn top_non_crisis(&self) -> Label {
        Label::ALL[1..]
            .iter()
            .copied()
            .max_by(|a, b| self.whole[a.index()].total_cmp(&self.whole[b.index()]))
            .unwrap_or(Label::Benign)
    }
}

/// Why a weight file cannot be used; the content loader names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("not a Waypoint triage model (bad magic number)")]
    Magic,
    #[error("model format version {0} is not supported (expected {FORMAT_VERSION})")]
    Version(u32),
    #[error("the file is truncated or has trailing bytes ({got} bytes, expected {expected})")]
    Length { got: usize, expected: usize },
    #[error("bucket bits must be between 10 and 24, found {0}")]
    Bits(u32),
    #[error("threshold {0} is not a number between 0 and 1")]
    Threshold(&'static str),
}

const MAGIC: &[u8; 8] = b"WPTRIAGE";
const FORMAT_VERSION: u32 = 1;

/// A trained model: quantised weights (one `i8` per bucket and label, with one scale per
/// label), float biases, and the thresholds it was calibrated with.
#[derive(Clone, PartialEq)]
pub struct Model {
    bits: u32,
    scales: [f32; Label::COUNT],
    bias: [f32; Label::COUNT],
    /// Bucket-major: `weights[bucket * COUNT + label]`.
    weights: Vec<i8>,
    pub thresholds: Thresholds,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("bits", &self.bits)
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Quantises float weights (`weights[bucket * COUNT + label]`) into a model.
    pub fn quantise(
        bits: u32,
        weights: &[f32],
        bias: [f32; Label::COUNT],
        thresholds: Thresholds,
    ) -> Model {
        let (scales, weights) = learn::quantise(weights, Label::COUNT);
        let scales = std::array::from_fn(|k| scales[k]);
        Model {
            bits,
            scales,
            bias,
            weights,
            thresholds,
        }
    }

    /// Scores one message, with the names of what the rules found in it (`evidence`: the
    /// concepts and rules, which the model weighs like words). Total: any text, including
    /// empty, gets scores.
    pub fn score(&self, text: &str, evidence: &[&str]) -> Scores {
        let words = message_words(text);
        let (whole, known) = self.probabilities(&words, evidence);
        let mut crisis = whole[Label::Crisis.index()];
        if words.len() > WINDOW {
            let mut start = 0;
            while start < words.len() {
                let end = (start + WINDOW).min(words.len());
                let (window, _) = self.probabilities(&words[start..end], evidence);
                crisis = crisis.max(window[Label::Crisis.index()]);
                if end == words.len() {
                    break;
                }
                start += STRIDE;
            }
        }
        Scores {
            whole,
            crisis,
            known,
        }
    }

    /// The probabilities, and how many features had weights.
    fn probabilities(&self, words: &[String], evidence: &[&str]) -> ([f32; Label::COUNT], usize) {
        let mut sums = [0i32; Label::COUNT];
        let mut count = 0usize;
        let mut known = 0usize;
        for_each_feature(words, evidence, self.bits, |bucket| {
            count += 1;
            let row = &self.weights[bucket as usize * Label::COUNT..][..Label::COUNT];
            known += usize::from(row.iter().any(|&w| w != 0));
            for (s, &w) in sums.iter_mut().zip(row) {
                *s += i32::from(w);
            }
        });
        let norm = feature_norm(count);
        let mut logits = [0f32; Label::COUNT];
        for (i, logit) in logits.iter_mut().enumerate() {
            *logit = self.bias[i] + sums[i] as f32 * self.scales[i] * norm;
        }
        (softmax(logits), known)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.weights.len() + 128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        for (_, v) in self.thresholds.named() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in self.scales.iter().chain(&self.bias) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(self.weights.iter().map(|&w| w as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelError::Magic);
        }
        let mut at = MAGIC.len();
        let u32_at = |at: &mut usize| {
            let v = u32::from_le_bytes(bytes[*at..*at + 4].try_into().unwrap_or([0; 4]));
            *at += 4;
            v
        };
        let version = u32_at(&mut at);
        if version != FORMAT_VERSION {
            return Err(ModelError::Version(version));
        }
        let bits = u32_at(&mut at);
        if !(10..=24).contains(&bits) {
            return Err(ModelError::Bits(bits));
        }
        let floats = 7 + 2 * Label::COUNT;
        let expected = at + 4 * floats + (1usize << bits) * Label::COUNT;
        if bytes.len() != expected {
            return Err(ModelError::Length {
                got: bytes.len(),
                expected,
            });
        }
        let mut f = bytes[at..at + 4 * floats]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = || f.next().unwrap_or(f32::NAN);
        let thresholds = Thresholds::from_values(std::array::from_fn(|_| take()));
        let scales = std::array::from_fn(|_| take());
        let bias = std::array::from_fn(|_| take());
        if let Some((name, _)) = thresholds
            .named()
            .into_iter()
            .find(|(_, v)| !(0.0..=1.0).contains(v))
        {
            return Err(ModelError::Threshold(name));
        }
        let weights = bytes[at + 4 * floats..].iter().map(|&b| b as i8).collect();
        Ok(Model {
            bits,
            scales,
            bias,
            weights,
            thresholds,
        })
    }
}

/// The words a message is featurised from: normalised like the lexicons, then folded.
pub fn message_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    scan_words(text, |w| {
        if words.len() < MAX_WORDS {
            words.push(fold(w));
        }
    });
    words
}

/// Kinds of framing that turn danger words into something else: a negation, a past
/// event, a hypothetical, someone else, a joke, a question for information, a job, a
/// story. Listed as plain function words in both languages; the model learns what each
/// does to the words around it (see [`for_each_feature`]).
const CUES: &[(u8, &[&str])] = &[
    (
        b'n',
        &[
            "not", "never", "no", "dont", "wont", "wouldnt", "isnt", "aint", "nah", "nope",
            "nunca", "jamas", "tampoco", "ni", "nada",
        ],
    ),
    (
        b'p',
        &[
            "ago",
            "used",
            "was",
            "were",
            "had",
            "back",
            "years",
            "yrs",
            "since",
            "anniversary",
            "survived",
            "hace",
            "antes",
            "cuando",
            "era",
            "fue",
            "tenia",
            "estaba",
            "anos",
            "pasado",
            "atras",
            "quedo",
            "sobrevivi",
        ],
    ),
    (
        b'h',
        &[
            "if",
            "hypothetically",
            "would",
            "suppose",
            "imagine",
            "si",
            "supongamos",
            "hipoteticamente",
            "seria",
        ],
    ),
    (
        b'o',
        &[
            "friend", "he", "she", "they", "someone", "somebody", "brother", "sister", "son",
            "daughter", "husband", "wife", "cousin", "amigo", "amiga", "alguien", "hermano",
            "hermana", "hijo", "hija", "esposo", "esposa", "primo", "prima", "el", "ella", "ellos",
        ],
    ),
    (
        b'j',
        &[
            "lol",
            "lmao",
            "lmfao",
            "haha",
            "jaja",
            "jeje",
            "jk",
            "xd",
            "\u{1f602}",
            "\u{1f923}",
            "\u{1f480}",
        ],
    ),
    (
        b'q',
        &[
            "how",
            "what",
            "signs",
            "paper",
            "essay",
            "class",
            "school",
            "project",
            "training",
            "presentation",
            "research",
            "como",
            "que",
            "cuales",
            "senales",
            "clase",
            "escuela",
            "tarea",
            "ensayo",
            "taller",
            "curso",
        ],
    ),
    (
        b'k',
        &[
            "nurse",
            "paramedic",
            "emt",
            "shift",
            "patient",
            "patients",
            "pharmacist",
            "cop",
            "firefighter",
            "enfermera",
            "enfermero",
            "paramedico",
            "bombero",
            "turno",
            "paciente",
        ],
    ),
    (
        b'm',
        &[
            "movie", "show", "song", "book", "podcast", "news", "episode", "series", "game",
            "novela", "pelicula", "cancion", "serie", "noticias", "libro", "juego",
        ],
    ),
];

/// The cue kinds present among `words` (which are folded; so are the cue words).
fn cues(words: &[String]) -> Vec<u8> {
    static TABLE: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table: HashMap<String, Vec<u8>> = HashMap::new();
        for (kind, list) in CUES {
            for word in *list {
                table.entry(fold(word)).or_default().push(*kind);
            }
        }
        table
    });
    let mut found: Vec<u8> = words
        .iter()
        .filter_map(|w| table.get(w))
        .flatten()
        .copied()
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Every feature's bucket, duplicates included: what the rules found, each word, each
/// pair of words one or two apart, each long word's stem, and each word paired with each
/// framing cue in the message, so that "suicide" beside "years ago" can weigh differently
/// from "suicide" alone. (Character n-grams were tried and generalised worse across
/// authors once the rules' evidence was a feature: see docs/SAFETY-MODEL.md.)
pub fn for_each_feature(
    words: &[String],
    evidence: &[&str],
    bits: u32,
    mut visit: impl FnMut(u32),
) {
    let bucket = |h: u64| (mix(h) >> (64 - bits)) as u32;
    for name in evidence {
        let mut h = FastHasher::default();
        h.write_u8(b'e');
        h.write(name.as_bytes());
        visit(bucket(h.finish()));
    }
    let cues = cues(words);
    for (i, word) in words.iter().enumerate() {
        visit(bucket(hash_parts(b'w', &[word])));
        for &cue in &cues {
            visit(bucket(hash_parts(cue, &[word])));
        }
        if let Some(next) = words.get(i + 1) {
            visit(bucket(hash_parts(b'b', &[word, next])));
        }
        if let Some(next) = words.get(i + 2) {
            visit(bucket(hash_parts(b's', &[word, next])));
        }
        // A five-letter stem: one feature for a verb's forms ("matarme", "matarte") and
        // for a misspelt ending.
        if word.chars().count() > 5 {
            let stem: String = word.chars().take(5).collect();
            visit(bucket(hash_parts(b'p', &[&stem])));
        }
    }
}

pub use crate::learn::feature_norm;

pub fn softmax(mut logits: [f32; Label::COUNT]) -> [f32; Label::COUNT] {
    learn::softmax(&mut logits);
    logits
}

pub(crate) fn hash_parts(kind: u8, parts: &[&String]) -> u64 {
    let mut h = FastHasher::default();
    h.write_u8(kind);
    for part in parts {
        h.write(part.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// A finaliser (MurmurHash3's), so the bucket's high bits depend on every input bit.
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            crisis: 0.8,
            confirm: 0.5,
            check: 0.3,
            veto: 0.05,
            signal: 0.15,
            clinical: 0.5,
            support: 0.5,
        }
    }

    fn tiny(bits: u32) -> Model {
        let n = (1usize << bits) * Label::COUNT;
        let weights: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        Model::quantise(bits, &weights, [0.1; Label::COUNT], thresholds())
    }

    #[test]
    fn bytes_round_trip() {
        let model = tiny(10);
        let back = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(back, model);
        let evidence = ["c:die", "r:wish"];
        assert_eq!(
            back.score("hello there", &evidence),
            model.score("hello there", &evidence)
        );
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let bytes = tiny(10).to_bytes();
        assert_eq!(Model::from_bytes(b"nonsense"), Err(ModelError::Magic));
        assert!(matches!(
            Model::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Length { .. })
        ));
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert_eq!(Model::from_bytes(&bad), Err(ModelError::Version(9)));
    }

    #[test]
    fn scores_are_probabilities_for_any_text() {
        let model = tiny(10);
        for text in ["", "   ", "🙂", &"word ".repeat(5_000), "a\u{0}b\u{202e}c"] {
            let s = model.score(text, &["c:x"]);
            let sum: f32 = s.whole.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{text:?}: {sum}");
            assert!((0.0..=1.0).contains(&s.crisis));
        }
    }

    #[test]
    fn a_window_keeps_a_buried_sentence_at_its_own_strength() {
        // One feature pushes towards crisis; padding of neutral words dilutes it in the
        // whole message but not in its window.
        let bits = 12;
        let words = message_words("zzalarm");
        let mut weights = vec![0f32; (1 << bits) * Label::COUNT];
        for_each_feature(&words, &[], bits, |b| {
            weights[b as usize * Label::COUNT + Label::Crisis.index()] = 4.0;
        });
        let model = Model::quantise(bits, &weights, [0.0; Label::COUNT], thresholds());
        let short = model.score("zzalarm", &[]).crisis;
        let padded = format!("{} zzalarm {}", "ok ".repeat(40), "ok ".repeat(40));
        let scores = model.score(&padded, &[]);
        assert!(scores.whole[0] < scores.crisis, "{scores:?}");
        assert!(scores.crisis > 1.5 * scores.whole[0], "{scores:?}");
        assert!(scores.crisis < short);
    }
}
