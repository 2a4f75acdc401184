//! Transfer learning against the baselines, each trained on exactly the person's labels:
//! NB-SVM on the words, logistic regression on word vectors (the encoder's input
//! embeddings averaged over the review: context-free), logistic regression on the
//! encoder's features, the page's full recipe, and ULMFiT on its AWD-LSTM. FF11's report made this comparison
//! with a learning curve; the page makes it live, on the labels of the person using it.
//!
//! This module names the contenders and does the arithmetic every view shares: shares of
//! positive predictions, accuracy against gold labels, and the reviews two contenders
//! disagree on. Training them is the page's (`app::actions::compare`).

use serde::{Deserialize, Serialize};

use crate::classifier::sigmoid;
use crate::nbsvm::NbSvm;

/// One way of classifying reviews, trained on the person's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    NbSvm,
    WordVectors,
    Encoder,
    /// The classifier the page trains and uses everywhere else.
    Recipe,
    /// ULMFiT on the AWD-LSTM pretrained here (`crate::ulmfit`): trained after the others,
    /// for it takes minutes.
    Ulmfit,
}

/// One value per contender, in [`Contender::ALL`]'s order.
pub type PerContender<T> = [T; Contender::COUNT];

impl Contender {
    pub const COUNT: usize = 5;
    pub const ALL: PerContender<Contender> =
        [Contender::NbSvm, Contender::WordVectors, Contender::Encoder, Contender::Recipe, Contender::Ulmfit];
    /// The classic model Disagreements sets the transfer model against.
    pub const BASELINE: Contender = Contender::NbSvm;
    pub const TRANSFER: Contender = Contender::Recipe;

    /// Its name in the page's test hooks and `window.flicktune.comparison()`.
    pub fn key(self) -> &'static str {
        match self {
            Contender::NbSvm => "nbsvm",
            Contender::WordVectors => "word-vectors",
            Contender::Encoder => "encoder",
            Contender::Recipe => "recipe",
            Contender::Ulmfit => "ulmfit",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Contender::NbSvm => "NB-SVM",
            Contender::WordVectors => "Word vectors",
            Contender::Encoder => "Encoder features",
            Contender::Recipe => "Your classifier",
            Contender::Ulmfit => "ULMFiT (AWD-LSTM)",
        }
    }

    /// What it is, in a sentence a first-time visitor can follow.
    pub fn describe(self) -> &'static str {
        match self {
            Contender::NbSvm => {
                "naive Bayes weights on words and word pairs, then a linear SVM: the classic baseline, no transfer"
            }
            Contender::WordVectors => {
                "logistic regression on the average of the encoder's input word-piece vectors: what each word means alone, no context"
            }
            Contender::Encoder => {
                "logistic regression on the pretrained encoder's features of the whole review: transfer learning, labels only"
            }
            Contender::Recipe => {
                "the encoder's features plus the page's recipe: the lexicon's surest picks, self-training, NB-SVM and lexicon votes"
            }
            Contender::Ulmfit => {
                "an LSTM language model pretrained here on IMDB's training texts, tuned to the sample, then its classifier unfrozen a layer at a time: transfer learning as in 2018, before transformers"
            }
        }
    }

    /// Whether it reads a pretrained encoder (transfer learning).
    pub fn transfers(self) -> bool {
        matches!(self, Contender::Encoder | Contender::Recipe | Contender::Ulmfit)
    }

    pub fn index(self) -> usize {
        Contender::ALL.iter().position(|c| *c == self).expect("every contender is in ALL")
    }
}

/// NB-SVM with a certainty: its margin over its spread on unlabelled reviews (the scale
/// the recipe's votes share), through the logistic. A raw SVM margin from a few labels
/// is tiny, and would read as "50% certain" everywhere.
#[derive(Debug, Clone)]
pub struct ScaledNbSvm {
    pub model: NbSvm,
    pub spread: f32,
}

impl ScaledNbSvm {
    pub fn new<D: AsRef<[String]>>(model: NbSvm, unlabelled: &[D]) -> Self {
        let scores: Vec<f32> = unlabelled.iter().map(|d| model.score(d.as_ref())).collect();
        ScaledNbSvm { spread: crate::recipe::spread(&scores), model }
    }

    /// The probability of positive for a review's n-grams.
    pub fn positive(&self, ngrams: &[String]) -> f32 {
        sigmoid(self.model.score(ngrams) / self.spread)
    }
}

/// Each contender's accuracy after one round of training, for the learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComparePoint {
    pub labels: usize,
    /// On the held-out IMDB sample, in [`Contender::ALL`]'s order (`None`: not measured).
    #[serde(deserialize_with = "per_contender")]
    pub heldout: PerContender<Option<f32>>,
}

/// Reads one value per contender, as kept by a page that knew fewer of them (those it
/// did not know get the default: not measured).
pub fn per_contender<'de, D, T>(deserializer: D) -> Result<PerContender<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let mut kept: Vec<T> = Vec::deserialize(deserializer)?;
    if kept.len() > Contender::COUNT {
        return Err(serde::de::Error::invalid_length(kept.len(), &"at most one value per contender"));
    }
    kept.resize_with(Contender::COUNT, T::default);
    kept.try_into().map_err(|_| serde::de::Error::custom("one value per contender"))
}

/// The share of probabilities above one half.
pub fn positive_share(probabilities: impl IntoIterator<Item = f32>) -> Option<f32> {
    let (positive, total) =
        probabilities.into_iter().fold((0usize, 0usize), |(p, t), x| (p + usize::from(x >= 0.5), t + 1));
    (total > 0).then(|| positive as f32 / total as f32)
}

/// The share of `(probability, gold)` pairs predicted right.
pub fn accuracy(scored: impl IntoIterator<Item = (f32, u8)>) -> Option<f32> {
    let (right, total) = scored
        .into_iter()
        .fold((0usize, 0usize), |(r, t), (p, gold)| (r + usize::from(u8::from(p >= 0.5) == gold), t + 1));
    (total > 0).then(|| right as f32 / total as f32)
}

/// The positions where `a` and `b` predict different labels, the pair most sure of
/// itself first (by the two certainties together).
pub fn disagreements(a: &[f32], b: &[f32]) -> Vec<usize> {
    let certainty = |p: f32| (p - 0.5).abs();
    let mut at: Vec<usize> = (0..a.len().min(b.len())).filter(|&i| (a[i] >= 0.5) != (b[i] >= 0.5)).collect();
    at.sort_by(|&i, &j| (certainty(b[j]) + certainty(a[j])).total_cmp(&(certainty(b[i]) + certainty(a[i]))));
    at
}

/// How split a movie's reviews are under a classifier: 1 half and half, 0 unanimous.
pub fn divisiveness(share_positive: f32) -> f32 {
    1.0 - (2.0 * share_positive - 1.0).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_accuracies_count_what_they_say() {
        assert_eq!(positive_share([0.9, 0.2, 0.5, 0.1]), Some(0.5));
        assert_eq!(positive_share(std::iter::empty()), None);
        assert_eq!(accuracy([(0.9, 1), (0.2, 1), (0.1, 0)]), Some(2.0 / 3.0));
        assert_eq!(accuracy(std::iter::empty()), None);
    }

    #[test]
    fn disagreements_are_the_differing_labels_surest_first() {
        let a = [0.9, 0.6, 0.2, 0.4, 0.99];
        let b = [0.8, 0.3, 0.7, 0.45, 0.01];
        assert_eq!(disagreements(&a, &b), [4, 2, 1]);
        assert!(disagreements(&a, &a).is_empty());
    }

    #[test]
    fn nbsvm_certainty_is_its_margin_over_its_spread() {
        let model = NbSvm {
            weights: [("good".to_string(), 0.02), ("bad".to_string(), -0.02)].into_iter().collect(),
            bias: 0.0,
        };
        let docs = [vec!["good".to_string()], vec!["bad".to_string()]];
        let scaled = ScaledNbSvm::new(model, &docs);
        assert!((scaled.spread - 0.02).abs() < 1e-6);
        // One spread above the middle: the logistic of 1, whatever the margin's own scale.
        assert!((scaled.positive(&docs[0]) - sigmoid(1.0)).abs() < 1e-5);
        assert!(scaled.positive(&docs[1]) < 0.5);
    }

    #[test]
    fn a_split_movie_is_the_most_divisive() {
        assert_eq!(divisiveness(0.5), 1.0);
        assert_eq!(divisiveness(1.0), 0.0);
        assert!(divisiveness(0.4) > divisiveness(0.9));
    }

    #[test]
    fn a_curve_kept_before_ulmfit_reads_with_it_unmeasured() {
        let point: ComparePoint = serde_json::from_str(r#"{"labels":10,"heldout":[0.5,0.6,null,0.8]}"#).unwrap();
        assert_eq!(point.heldout, [Some(0.5), Some(0.6), None, Some(0.8), None]);
        let again: ComparePoint = serde_json::from_str(&serde_json::to_string(&point).unwrap()).unwrap();
        assert_eq!(again, point);
        assert!(serde_json::from_str::<ComparePoint>(r#"{"labels":1,"heldout":[1,2,3,4,5,6]}"#).is_err());
    }

    #[test]
    fn every_contender_has_its_own_key() {
        let keys: std::collections::HashSet<_> = Contender::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(keys.len(), Contender::ALL.len());
        assert!(Contender::ALL.iter().enumerate().all(|(i, c)| c.index() == i));
    }
}
