//! The combiner: a tiny logistic model that turns one candidate entry's lexical and
//! semantic evidence into the probability that it is the right answer, with the two
//! thresholds (answer, suggest) calibrated on out-of-author predictions by
//! `waypoint train-faq`. Also the FAQ model file, which carries the classifier and the
//! three deciders (lexical only, semantic only, hybrid) together.
//!
//! Why a learned combiner rather than hand-set coverage thresholds: the two scorers miss
//! different questions, and how far to trust each depends on the other (a weak BM25 match
//! the classifier agrees with is a good answer; a strong one it calls "none" often is not).

use super::semantic::Classifier;

/// The evidence about one candidate entry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evidence {
    /// The share of the question's idf mass the entry covers (0 when BM25 did not find it).
    pub coverage: f32,
    /// Its BM25 score over the best score.
    pub relative: f32,
    /// Whether it is BM25's first.
    pub lexical_top: bool,
    /// (best − second) / best, for BM25's first only.
    pub lexical_margin: f32,
    /// Whether one of its keyword phrases stands whole in the question.
    pub anchored: bool,
    /// ln(1 + BM25 score).
    pub log_score: f32,
    /// The classifier's probability of the entry.
    pub probability: f32,
    /// Whether it is the classifier's first entry.
    pub semantic_top: bool,
    /// Best minus second entry probability, for the classifier's first only.
    pub semantic_margin: f32,
    /// The classifier's probability of "no entry".
    pub none: f32,
    /// Whether the text reads as a question.
    pub question: bool,
}

/// Inputs to the logistic model (without the bias).
pub const FEATURES: usize = 14;

/// Which evidence a decider may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// BM25 only: what a clinic-file entry the classifier never saw is judged by.
    Lexical,
    /// The classifier only.
    Semantic,
    /// Both, combined: what ships.
    Hybrid,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Lexical, Mode::Semantic, Mode::Hybrid];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Lexical => "lexical",
            Mode::Semantic => "semantic",
            Mode::Hybrid => "hybrid",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl Evidence {
    /// The model's inputs under `mode`; what a mode may not use is zero.
    pub fn inputs(&self, mode: Mode) -> [f32; FEATURES] {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        let lexical = mode != Mode::Semantic;
        let semantic = mode != Mode::Lexical;
        let l = |x: f32| if lexical { x } else { 0.0 };
        let s = |x: f32| if semantic { x } else { 0.0 };
        [
            l(self.coverage),
            l(self.relative),
            l(b(self.lexical_top)),
            l(self.lexical_margin),
            l(b(self.anchored)),
            l(self.log_score),
            s(self.probability),
            s(b(self.semantic_top)),
            s(self.semantic_margin),
            s(self.none),
            // Log-odds too: the difference between 0.9 and 0.99 matters more than the
            // one between 0.4 and 0.49.
            s(logit(self.probability)),
            s(logit(self.none)),
            if lexical && semantic {
                b(self.lexical_top && self.semantic_top)
            } else {
                0.0
            },
            b(self.question),
        ]
    }
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// One mode's logistic weights and thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decider {
    pub weights: [f32; FEATURES],
    pub bias: f32,
    /// At or above this probability the candidate is the answer.
    pub answer: f32,
    /// At or above this probability the candidate is offered as "did you mean".
    pub suggest: f32,
}

impl Decider {
    pub fn probability(&self, mode: Mode, evidence: &Evidence) -> f32 {
        self.score(&evidence.inputs(mode))
    }

    /// The probability for inputs already masked by [`Evidence::inputs`].
    pub fn score(&self, inputs: &[f32; FEATURES]) -> f32 {
        let z: f32 = self.bias
            + self
                .weights
                .iter()
                .zip(inputs)
                .map(|(w, x)| w * x)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// Fits logistic weights by Newton's method (iteratively reweighted least squares) with a
/// small ridge: exact and deterministic, no seed or learning rate to tune.
pub fn fit(rows: &[([f32; FEATURES], bool)]) -> ([f32; FEATURES], f32) {
    const STEPS: usize = 30;
    const RIDGE: f64 = 1e-2;
    const N: usize = FEATURES + 1;
    // The bias is the last coordinate.
    let mut beta = [0f64; N];
    let input = |x: &[f32; FEATURES], j: usize| if j == FEATURES { 1.0 } else { f64::from(x[j]) };
    for _ in 0..STEPS {
        let mut gradient = [0f64; N];
        let mut hessian = [[0f64; N]; N];
        for (x, y) in rows {
            let z: f64 = (0..N).map(|j| beta[j] * input(x, j)).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - if *y { 1.0 } else { 0.0 };
            let w = (p * (1.0 - p)).max(1e-9);
            let xs: [f64; N] = std::array::from_fn(|j| input(x, j));
            for ((g, row), xa) in gradient.iter_mut().zip(hessian.iter_mut()).zip(&xs) {
                *g += err * xa;
                for (h, xb) in row.iter_mut().zip(&xs) {
                    *h += w * xa * xb;
                }
            }
        }
        for a in 0..N {
            gradient[a] += RIDGE * beta[a];
            hessian[a][a] += RIDGE;
        }
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        let mut change = 0f64;
        for a in 0..N {
            beta[a] -= step[a];
            change = change.max(step[a].abs());
        }
        if change < 1e-7 {
            break;
        }
    }
    let weights = std::array::from_fn(|j| beta[j] as f32);
    (weights, beta[FEATURES] as f32)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            let (above, below) = a.split_at_mut(row);
            for (v, p) in below[0][col..].iter_mut().zip(&above[col][col..]) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The FAQ's model file: the classifier and one decider per mode.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqModel {
    pub classifier: Classifier,
    /// In the order of [`Mode::ALL`].
    pub deciders: [Decider; 3],
}

const MAGIC: &[u8; 8] = b"WPFAQ\0\0\0";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("not a Waypoint FAQ model file")]
    Magic,
    #[error("format version {0} is not supported (rebuild it with `waypoint train-faq`)")]
    Version(u32),
    #[error("the file is cut short or damaged")]
    Truncated,
    #[error("bits {0} out of range 8-20")]
    Bits(u32),
    #[error("a threshold is not between 0 and 1")]
    Threshold,
}

impl FaqModel {
    pub fn decider(&self, mode: Mode) -> &Decider {
        &self.deciders[mode.index()]
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let c = &self.classifier;
        let mut out = Vec::with_capacity(c.weights.len() + 4096);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&c.bits.to_le_bytes());
        out.extend_from_slice(&(c.classes.len() as u32).to_le_bytes());
        for name in &c.classes {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        for d in &self.deciders {
            for v in d.weights.iter().chain([&d.bias, &d.answer, &d.suggest]) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for v in c.scales.iter().chain(&c.bias) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(c.weights.iter().map(|&w| w as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<FaqModel, ModelError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(ModelError::Magic);
        }
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(ModelError::Version(version));
        }
        let bits = r.u32()?;
        if !(8..=20).contains(&bits) {
            return Err(ModelError::Bits(bits));
        }
        let n = r.u32()? as usize;
        if n == 0 || n > 10_000 {
            return Err(ModelError::Truncated);
        }
        let mut classes = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::from(r.take(1)?[0]);
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| ModelError::Truncated)?;
            classes.push(name.to_string());
        }
        let mut deciders = [Decider {
            weights: [0.0; FEATURES],
            bias: 0.0,
            answer: 1.0,
            suggest: 1.0,
        }; 3];
        for d in &mut deciders {
            for w in &mut d.weights {
                *w = r.f32()?;
            }
            d.bias = r.f32()?;
            d.answer = r.f32()?;
            d.suggest = r.f32()?;
            if !(0.0..=1.0).contains(&d.answer) || !(0.0..=1.0).contains(&d.suggest) {
                return Err(ModelError::Threshold);
            }
        }
        let scales = (0..n).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
        let bias = (0..n).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
        let weights: Vec<i8> = r
            .take((1usize << bits) * n)?
            .iter()
            .map(|&b| b as i8)
            .collect();
        if r.at != bytes.len() {
            return Err(ModelError::Truncated);
        }
        Ok(FaqModel {
            classifier: Classifier {
                bits,
                classes,
                scales,
                bias,
                weights,
            },
            deciders,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.at.checked_add(n).ok_or(ModelError::Truncated)?;
        let out = self.bytes.get(self.at..end).ok_or(ModelError::Truncated)?;
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32(&mut self) -> Result<f32, ModelError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::Fitted;

    fn model() -> FaqModel {
        let fitted = Fitted {
            weights: (0..(1 << 8) * 2).map(|i| (i % 5) as f32 - 2.0).collect(),
            bias: vec![0.1, -0.1],
        };
        let d = Decider {
            weights: [0.5; FEATURES],
            bias: -1.0,
            answer: 0.6,
            suggest: 0.3,
        };
        FaqModel {
            classifier: Classifier::quantise(8, vec!["hours".into(), "none".into()], &fitted),
            deciders: [d; 3],
        }
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let m = model();
        let bytes = m.to_bytes();
        assert_eq!(FaqModel::from_bytes(&bytes), Ok(m));
        assert_eq!(FaqModel::from_bytes(b"WPFA"), Err(ModelError::Truncated));
        assert_eq!(
            FaqModel::from_bytes(b"nonsense-longer-than-8"),
            Err(ModelError::Magic)
        );
        for cut in [bytes.len() - 1, 30, 13] {
            assert!(FaqModel::from_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(FaqModel::from_bytes(&longer), Err(ModelError::Truncated));
    }

    #[test]
    fn the_logistic_fit_separates_what_it_can() {
        let mut rows = Vec::new();
        for i in 0..40 {
            let mut x = [0f32; FEATURES];
            x[0] = i as f32 / 40.0;
            rows.push((x, i >= 20));
        }
        let (weights, bias) = fit(&rows);
        let d = Decider {
            weights,
            bias,
            answer: 0.5,
            suggest: 0.5,
        };
        let high = Evidence {
            coverage: 0.95,
            ..Evidence::default()
        };
        let low = Evidence {
            coverage: 0.05,
            ..Evidence::default()
        };
        assert!(d.probability(Mode::Lexical, &high) > 0.5);
        assert!(d.probability(Mode::Lexical, &low) < 0.5);
        // The semantic mode may not look at coverage.
        assert_eq!(
            d.probability(Mode::Semantic, &high),
            d.probability(Mode::Semantic, &low)
        );
    }
}
