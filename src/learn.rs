//! Seeded linear softmax over hashed features: the fitting both learned layers share (the
//! triage model in `safety::model` and the FAQ classifier in `faq::semantic`).
//!
//! Invariants: pure and deterministic. The same features, labels, options and seed give
//! the same weights bit for bit (a fixed visiting order derived from the seed, no hash
//! maps, no threads), which is what lets CI compare a retrained file with `cmp`.

/// How a model is fitted.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    /// Outputs of the softmax.
    pub classes: usize,
    /// `2^bits` feature buckets.
    pub bits: u32,
    pub epochs: usize,
    pub seed: u64,
    pub learning_rate: f32,
    pub l2: f32,
    /// Whether to learn a per-class bias.
    pub bias: bool,
}

/// Float weights (`weights[bucket * classes + class]`) and the per-class bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Multinomial logistic regression by AdaGrad. `features[i]` are example `i`'s buckets
/// (duplicates count twice), `labels[i]` its class, `weight(i)` how much its loss counts.
/// Each present feature carries [`feature_norm`], so long and short texts share a scale.
pub fn fit(
    features: &[Vec<u32>],
    labels: &[usize],
    weight: impl Fn(usize) -> f32,
    options: &Fit,
) -> Fitted {
    let k = options.classes;
    let n_weights = (1usize << options.bits) * k;
    let mut weights = vec![0f32; n_weights];
    let mut squares = vec![0f32; n_weights];
    let mut bias = vec![0f32; k];
    let mut bias_squares = vec![0f32; k];
    let mut logits = vec![0f32; k];
    let mut grad = vec![0f32; k];
    let lr = options.learning_rate;
    for epoch in 0..options.epochs {
        for &i in &order(features.len(), options.seed, epoch as u64) {
            let feats = &features[i];
            let norm = feature_norm(feats.len());
            logits.copy_from_slice(&bias);
            for &b in feats {
                let row = &weights[b as usize * k..][..k];
                for (z, w) in logits.iter_mut().zip(row) {
                    *z += w * norm;
                }
            }
            softmax(&mut logits);
            let w = weight(i);
            for (c, g) in grad.iter_mut().enumerate() {
                let y = if c == labels[i] { 1.0 } else { 0.0 };
                *g = (logits[c] - y) * w;
            }
            for &b in feats {
                let at = b as usize * k;
                for c in 0..k {
                    let g = grad[c] * norm + options.l2 * weights[at + c];
                    squares[at + c] += g * g;
                    weights[at + c] -= lr * g / (squares[at + c].sqrt() + 1e-8);
                }
            }
            if options.bias {
                for c in 0..k {
                    bias_squares[c] += grad[c] * grad[c];
                    bias[c] -= lr * grad[c] / (bias_squares[c].sqrt() + 1e-8);
                }
            }
        }
    }
    Fitted { weights, bias }
}

/// The value each present feature carries: the feature vector has unit length.
pub fn feature_norm(count: usize) -> f32 {
    if count == 0 {
        0.0
    } else {
        1.0 / (count as f32).sqrt()
    }
}

/// Turns logits into probabilities, in place.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in values.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f32 = values.iter().sum();
    for v in values.iter_mut() {
        *v /= sum;
    }
}

/// Per-class scales that map each class's largest weight to ±127 (1 for an all-zero class).
pub fn quantise(weights: &[f32], classes: usize) -> (Vec<f32>, Vec<i8>) {
    let mut scales = vec![0f32; classes];
    for (i, w) in weights.iter().enumerate() {
        let c = i % classes;
        scales[c] = scales[c].max(w.abs() / 127.0);
    }
    for s in &mut scales {
        if *s == 0.0 {
            *s = 1.0;
        }
    }
    let quantised = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (w / scales[i % classes]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (scales, quantised)
}

/// A visiting order for one epoch: a permutation fixed by the seed and the epoch.
pub fn order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut keyed: Vec<(u64, usize)> = (0..n)
        .map(|i| (splitmix(seed ^ (epoch << 40) ^ i as u64), i))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The distinct authors of `authors` (one per example), sorted, each with the indices of
/// its examples: the folds of out-of-author prediction, where every author is scored by a
/// model trained without them.
pub fn author_folds<'a>(authors: &[&'a str]) -> Vec<(&'a str, Vec<usize>)> {
    let mut names: Vec<&str> = authors.to_vec();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let held = (0..authors.len()).filter(|&i| authors[i] == name).collect();
            (name, held)
        })
        .collect()
}

/// Steps of 0.005 between 0 and 1: the thresholds calibration may choose.
pub fn grid() -> impl DoubleEndedIterator<Item = f32> {
    (0..=200).map(|i| i as f32 / 200.0)
}

/// The highest grid point where `ok` holds (0 if none).
pub fn highest(ok: impl Fn(f32) -> bool) -> f32 {
    grid().rev().find(|&t| ok(t)).unwrap_or(0.0)
}

/// The lowest grid point where `ok` holds (1 if none).
pub fn lowest(ok: impl Fn(f32) -> bool) -> f32 {
    grid().find(|&t| ok(t)).unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_classes_and_is_deterministic() {
        let features = vec![vec![1, 2], vec![3, 4], vec![1, 5], vec![3, 6]];
        let labels = [0, 1, 0, 1];
        let options = Fit {
            classes: 2,
            bits: 4,
            epochs: 20,
            seed: 3,
            learning_rate: 0.5,
            l2: 0.0,
            bias: true,
        };
        let a = fit(&features, &labels, |_| 1.0, &options);
        assert_eq!(a, fit(&features, &labels, |_| 1.0, &options));
        let score = |f: &[u32], c: usize| {
            f.iter()
                .map(|&b| a.weights[b as usize * 2 + c])
                .sum::<f32>()
        };
        assert!(score(&[1], 0) > score(&[1], 1));
        assert!(score(&[3], 1) > score(&[3], 0));
    }

    #[test]
    fn folds_cover_every_example_once() {
        let folds = author_folds(&["b", "a", "b", "c"]);
        assert_eq!(folds, [("a", vec![1]), ("b", vec![0, 2]), ("c", vec![3])]);
    }
}
