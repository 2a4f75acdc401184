//! Text → word n-grams → NB-SVM (Wang & Manning, 2012), the classic bag-of-n-grams
//! classifier: a linear SVM on binarised uni+bigram features scaled by their naive-Bayes
//! log-count ratios, its weights interpolated towards their mean magnitude. It votes
//! beside the encoder in the page's classifier (see [`crate::classifier::TextVotes`]),
//! and is a baseline of `flicktune-bench curve`.
//!
//! A trained model is a map from n-gram (as text) to weight, so it is a stable part of the
//! classifier file: the same in the page, the CLI and a later version.
//!
//! Hand-written (about a hundred lines) rather than a dependency: no maintained Rust crate
//! offers a sparse linear SVM; `linfa-svm` is a dense kernel SMO, far too slow for 10^5
//! n-gram dimensions. The solver is liblinear's dual coordinate descent for the L2-loss
//! SVM (Hsieh et al., 2008).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// The paper's settings for sentiment: Laplace smoothing, SVM cost, interpolation.
const ALPHA: f32 = 1.0;
const COST: f32 = 1.0;
const BETA: f32 = 0.25;
/// liblinear's stopping tolerance on the projected gradient, and its pass limit.
const TOLERANCE: f32 = 0.1;
const MAX_PASSES: usize = 1_000;

/// A text as the sorted set of its lower-cased word unigrams and bigrams (a bigram is its
/// two words joined by a space; words are runs of letters, digits and apostrophes).
pub fn ngrams(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    let mut grams: Vec<String> =
        words.iter().map(|w| w.to_string()).chain(words.windows(2).map(|pair| pair.join(" "))).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// A trained NB-SVM: per n-gram `(1 - β)·w̄ + β·w` times its log-count ratio, and a bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NbSvm {
    /// Written in n-gram order, so the same model is always the same file; a hash map in
    /// memory, since the page scores hundreds of reviews after every label.
    #[serde(serialize_with = "in_order")]
    pub weights: FxHashMap<String, f32>,
    pub bias: f32,
}

fn in_order<S: serde::Serializer>(weights: &FxHashMap<String, f32>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(weights.iter().collect::<BTreeMap<_, _>>())
}

impl NbSvm {
    /// Trains on documents (n-gram sets) with labels 1 positive / 0 negative; `seed`
    /// orders the coordinate-descent passes.
    pub fn train<D: AsRef<[String]>>(docs: &[D], labels: &[u8], seed: u64) -> Self {
        // The vocabulary is the training documents' n-grams.
        let mut vocab: FxHashMap<&str, usize> = FxHashMap::default();
        for doc in docs {
            for g in doc.as_ref() {
                let next = vocab.len();
                vocab.entry(g.as_str()).or_insert(next);
            }
        }
        // Each class weighs half, in the counts and in the SVM's loss (liblinear's per-class
        // -w), as in the page's logistic regression: a person's labels are rarely balanced,
        // and unweighted counts would tilt every log-count ratio towards the class labelled
        // more. Balanced labels weigh 1 each: Wang & Manning's NB-SVM exactly.
        let positives = labels.iter().filter(|&&l| l == 1).count() as f32;
        let n = labels.len() as f32;
        let class_weight = |label: u8| n / (2.0 * if label == 1 { positives } else { n - positives });
        let mut positive = vec![ALPHA; vocab.len()];
        let mut negative = vec![ALPHA; vocab.len()];
        for (doc, &label) in docs.iter().zip(labels) {
            let counts = if label == 1 { &mut positive } else { &mut negative };
            doc.as_ref().iter().for_each(|g| counts[vocab[g.as_str()]] += class_weight(label));
        }
        let (p_total, q_total) = (positive.iter().sum::<f32>(), negative.iter().sum::<f32>());
        let ratio: Vec<f32> =
            positive.iter().zip(&negative).map(|(p, q)| ((p / p_total) / (q / q_total)).ln()).collect();

        // Sparse rows of r ∘ x, with a constant bias feature last (liblinear's -B 1).
        let bias_index = vocab.len();
        let rows: Vec<Vec<(usize, f32)>> = docs
            .iter()
            .map(|doc| {
                doc.as_ref()
                    .iter()
                    .map(|g| vocab[g.as_str()])
                    .map(|i| (i, ratio[i]))
                    .chain([(bias_index, 1.0)])
                    .collect()
            })
            .collect();
        let signs: Vec<f32> = labels.iter().map(|&l| if l == 1 { 1.0 } else { -1.0 }).collect();
        let costs: Vec<f32> = labels.iter().map(|&l| COST * class_weight(l)).collect();
        let w = dual_coordinate_descent(&rows, &signs, &costs, bias_index + 1, seed);

        // Interpolation: the decision is β·(SVM score) + (1 − β)·w̄·Σ r, i.e. every weight
        // becomes (1 − β)·w̄ + β·w and the bias β·b. Scaling the weights but not the bias
        // would move the decision threshold, so the bias is scaled too.
        let mean_magnitude = w[..bias_index].iter().map(|x| x.abs()).sum::<f32>() / bias_index.max(1) as f32;
        let weights = vocab
            .iter()
            .map(|(&g, &i)| (g.to_string(), ((1.0 - BETA) * mean_magnitude + BETA * w[i]) * ratio[i]))
            .collect();
        NbSvm { weights, bias: BETA * w[bias_index] }
    }

    /// The decision value: positive above 0; n-grams never seen in training weigh nothing.
    pub fn score(&self, doc: &[String]) -> f32 {
        doc.iter().filter_map(|g| self.weights.get(g)).sum::<f32>() + self.bias
    }

    /// 1 positive, 0 negative.
    pub fn predict(&self, doc: &[String]) -> u8 {
        u8::from(self.score(doc) > 0.0)
    }

    /// Why a model read from a file cannot be used, if it cannot: every weight and the
    /// bias must be finite and no n-gram empty.
    pub fn check(&self) -> Result<(), String> {
        if !self.bias.is_finite() || self.weights.values().any(|w| !w.is_finite()) {
            return Err("its n-gram weights hold non-finite numbers".into());
        }
        if self.weights.keys().any(String::is_empty) {
            return Err("it weighs an empty n-gram".into());
        }
        Ok(())
    }
}

/// Minimises `½|w|² + Σ Cᵢ max(0, 1 − yᵢ w·xᵢ)²` in its dual, one coordinate at a time.
fn dual_coordinate_descent(
    rows: &[Vec<(usize, f32)>],
    signs: &[f32],
    costs: &[f32],
    dim: usize,
    seed: u64,
) -> Vec<f32> {
    let diagonals: Vec<f32> = costs.iter().map(|c| 1.0 / (2.0 * c)).collect();
    let norms: Vec<f32> =
        rows.iter().zip(&diagonals).map(|(r, d)| r.iter().map(|(_, v)| v * v).sum::<f32>() + d).collect();
    let mut alpha = vec![0f32; rows.len()];
    let mut w = vec![0f32; dim];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..MAX_PASSES {
        order.shuffle(&mut rng);
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        for &i in &order {
            let margin: f32 = rows[i].iter().map(|&(j, v)| w[j] * v).sum();
            let gradient = signs[i] * margin - 1.0 + diagonals[i] * alpha[i];
            let projected = if alpha[i] == 0.0 { gradient.min(0.0) } else { gradient };
            pg_max = pg_max.max(projected);
            pg_min = pg_min.min(projected);
            if projected != 0.0 {
                let old = alpha[i];
                alpha[i] = (old - gradient / norms[i]).max(0.0);
                let step = (alpha[i] - old) * signs[i];
                rows[i].iter().for_each(|&(j, v)| w[j] += step * v);
            }
        }
        if pg_max - pg_min < TOLERANCE {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_are_case_blind_sets_of_words_and_pairs() {
        assert_eq!(ngrams("Great film, great FILM"), ngrams("great film great film"));
        assert_eq!(ngrams("b a"), ["a", "b", "b a"]);
        assert_ne!(ngrams("not good"), ngrams("good not"));
        assert!(ngrams(" ,. ").is_empty());
    }

    #[test]
    fn learns_sentiment_words_and_bigrams() {
        let texts = [
            ("a wonderful moving film", 1),
            ("wonderful acting and a great story", 1),
            ("great fun, loved it", 1),
            ("not good at all, boring", 0),
            ("boring plot and awful acting", 0),
            ("awful, a waste of time", 0),
        ];
        let docs: Vec<Vec<String>> = texts.iter().map(|(t, _)| ngrams(t)).collect();
        let labels: Vec<u8> = texts.iter().map(|&(_, l)| l).collect();
        let model = NbSvm::train(&docs, &labels, 0);
        for (doc, &label) in docs.iter().zip(&labels) {
            assert_eq!(model.predict(doc), label);
        }
        assert_eq!(model.predict(&ngrams("a wonderful story")), 1);
        assert_eq!(model.predict(&ngrams("boring and awful")), 0);
        assert_eq!(model.check(), Ok(()));
        let json = serde_json::to_string(&model).unwrap();
        assert!(json.find("\"acting\"").unwrap() < json.find("\"wonderful\"").unwrap(), "written in n-gram order");
        assert_eq!(serde_json::from_str::<NbSvm>(&json).unwrap(), model);
        let mut broken = model.clone();
        broken.weights.insert("good".into(), f32::INFINITY);
        assert!(broken.check().is_err());
    }

    #[test]
    fn the_solver_separates_a_separable_problem_with_margin() {
        let rows = vec![vec![(0, 1.0), (2, 1.0)], vec![(1, 1.0), (2, 1.0)]];
        let w = dual_coordinate_descent(&rows, &[1.0, -1.0], &[COST, COST], 3, 0);
        assert!(w[0] - w[1] > 1.0, "{w:?}");
    }
}
