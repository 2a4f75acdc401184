//! Features (and the text) → sentiment: the classifier the page and the CLI train, its
//! file format, and prediction.
//!
//! A classifier reads the pooled features of one encoder: it standardises them (a centre
//! and scale per dimension, fitted on labelled and unlabelled reviews of the `train`
//! split) and applies logistic regression. The page's default adds [`TextVotes`]: NB-SVM
//! on the text's word n-grams and the VADER lexicon vote beside the encoder. The JSON file
//! is the same whether the page exports it or `flicktune train` writes it.

use serde::{Deserialize, Serialize};

use crate::encoders::ModelName;
use crate::encoders::tuned::{TunedError, TunedLayers};
use crate::features::Pooling;
use crate::nbsvm::{self, NbSvm};
use crate::recipe::Recipe;

/// The `format` field of every classifier file.
pub const FORMAT: &str = "flicktune-classifier";
/// Written in new files. Version 2 added the optional `text_votes`: a reader of version 1
/// would ignore them and predict differently, so it must refuse the file instead.
pub const VERSION: u32 = 2;
/// Versions this Flicktune reads.
const READS: std::ops::RangeInclusive<u32> = 1..=VERSION;
/// Features wider than this are not from any encoder we ship: reject before allocating.
const MAX_DIM: usize = 4096;

/// Per-dimension standardisation: `(x - center) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureScaling {
    pub center: Vec<f32>,
    pub scale: Vec<f32>,
}

impl FeatureScaling {
    /// Mean and standard deviation of each dimension over `pool` (any reviews from the
    /// `train` split, labelled or not). A dimension that never varies keeps scale 1.
    pub fn fit<V: AsRef<[f32]>>(pool: &[V]) -> Self {
        let dim = pool.first().map_or(0, |v| v.as_ref().len());
        let n = pool.len().max(1) as f64;
        let mut center = vec![0f64; dim];
        for v in pool {
            center.iter_mut().zip(v.as_ref()).for_each(|(c, x)| *c += *x as f64 / n);
        }
        let mut variance = vec![0f64; dim];
        for v in pool {
            variance.iter_mut().zip(v.as_ref()).zip(&center).for_each(|((s, x), c)| *s += (*x as f64 - c).powi(2) / n);
        }
        FeatureScaling {
            center: center.into_iter().map(|c| c as f32).collect(),
            scale: variance.into_iter().map(|v| if v > 1e-12 { v.sqrt() as f32 } else { 1.0 }).collect(),
        }
    }

    pub fn dim(&self) -> usize {
        self.center.len()
    }

    pub fn apply(&self, features: &[f32]) -> Vec<f32> {
        features.iter().zip(&self.center).zip(&self.scale).map(|((x, c), s)| (x - c) / s).collect()
    }
}

/// A trained sentiment classifier, as stored in files and in the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classifier {
    pub format: String,
    pub version: u32,
    /// The encoder (written as its upstream name) and pooling whose features it reads; a
    /// file naming an encoder this Flicktune does not have is refused.
    pub encoder: ModelName,
    pub pooling: Pooling,
    pub scaling: FeatureScaling,
    /// Logistic regression on the standardised features: `P(positive) = σ(w·x + b)`.
    pub weights: Vec<f32>,
    pub bias: f32,
    /// How many labelled reviews it was trained on.
    pub trained_on: usize,
    /// Set when the encoder's top layers were fine-tuned with it: the features it reads
    /// come from the pretrained encoder with these layers laid over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned_layers: Option<TunedLayers>,
    /// Votes from the text itself beside the encoder's, if it was trained with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_votes: Option<TextVotes>,
    /// How it was trained (informational: predictions do not read it, so older readers
    /// may ignore it). Absent from files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<Recipe>,
}

/// What a classifier reads from a text besides the encoder's features: its word n-grams
/// and the VADER lexicon's compound score. Computed once per text and kept, since the
/// page asks about the same reviews again and again.
#[derive(Debug, Clone, PartialEq)]
pub struct TextView {
    pub ngrams: Vec<String>,
    pub lexicon: f32,
}

impl TextView {
    pub fn of(text: &str) -> Self {
        TextView { ngrams: nbsvm::ngrams(text), lexicon: crate::lexicon::score(text) }
    }
}

/// A vote read from a review's text alone, beside the encoder's logistic regression: its
/// score is positive for positive, on the head's own scale ([`TextVotes`] puts the votes
/// on one scale). A new head implements this, takes a field and a spread in
/// [`TextVotes`] (listed in `TextVotes::text_heads`), and its fit and weight in
/// [`crate::recipe::Recipe::votes`].
pub trait TextHead {
    fn score(&self, text: &TextView) -> f32;
}

impl TextHead for NbSvm {
    fn score(&self, text: &TextView) -> f32 {
        NbSvm::score(self, &text.ngrams)
    }
}

/// The VADER lexicon's compound score, computed once per text in its [`TextView`].
pub struct Lexicon;

impl TextHead for Lexicon {
    fn score(&self, text: &TextView) -> f32 {
        text.lexicon
    }
}

/// Votes beside the encoder's logistic regression: the classifier's decision is the sum
/// of its logit, NB-SVM's score and (while labels are few) the lexicon's, each divided by
/// its spread over the unlabelled reviews it was trained beside, so that none drowns the
/// others. Made by [`crate::recipe::Recipe::votes`] (docs/few-shot.md: the ensemble).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextVotes {
    /// Trained on the labelled reviews' n-grams.
    pub nbsvm: NbSvm,
    /// The spread of the logistic regression's logits.
    pub encoder_spread: f32,
    /// The spread of NB-SVM's scores divided by NB-SVM's weight (less than 1 while a class
    /// has few labels).
    pub nbsvm_spread: f32,
    /// The spread of the lexicon's scores divided by the lexicon's weight; absent when the
    /// lexicon does not vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexicon_spread: Option<f32>,
}

impl TextVotes {
    fn check(&self) -> Result<(), String> {
        self.nbsvm.check()?;
        let spreads = [Some(self.encoder_spread), Some(self.nbsvm_spread), self.lexicon_spread];
        if spreads.into_iter().flatten().any(|s| !(s.is_finite() && s > 0.0)) {
            return Err("its votes' spreads must be positive numbers".into());
        }
        Ok(())
    }

    /// The text heads that vote, each with its spread.
    fn text_heads(&self) -> impl Iterator<Item = (&dyn TextHead, f32)> {
        let heads: [(&dyn TextHead, Option<f32>); 2] =
            [(&self.nbsvm, Some(self.nbsvm_spread)), (&Lexicon, self.lexicon_spread)];
        heads.into_iter().filter_map(|(head, spread)| Some((head, spread?)))
    }

    /// The sum of the votes, given the encoder's logit (added first, then each head in turn).
    fn decision(&self, logit: f32, text: &TextView) -> f32 {
        self.text_heads().fold(logit / self.encoder_spread, |sum, (head, spread)| sum + head.score(text) / spread)
    }
}

/// What a classifier says about one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// 1 positive, 0 negative.
    pub label: u8,
    /// Probability of positive.
    pub positive: f32,
}

impl Prediction {
    pub fn from_probability(positive: f32) -> Self {
        Prediction { label: u8::from(positive >= 0.5), positive }
    }

    /// Probability of the predicted label, 0.5..=1.
    pub fn certainty(&self) -> f32 {
        self.positive.max(1.0 - self.positive)
    }

    pub fn label_name(&self) -> &'static str {
        label_name(self.label)
    }
}

pub fn label_name(label: u8) -> &'static str {
    if label == 1 { "positive" } else { "negative" }
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("not a classifier file: {0}")]
    Malformed(String),
    #[error("this is a `{0}` file, not a Flicktune classifier (format `{FORMAT}`)")]
    WrongFormat(String),
    #[error(
        "classifier file version {0} is not supported (this Flicktune reads versions 1 to {VERSION}): use the Flicktune that wrote it, or train again"
    )]
    WrongVersion(u32),
    #[error("the classifier reads features of `{0}`, which is not an encoder this Flicktune has ({known}): train it again with one of them", known = crate::encoders::ENCODERS.map(|spec| spec.full_name).join(", "))]
    UnknownEncoder(String),
    #[error("the classifier is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Tuned(#[from] TunedError),
    #[error("the classifier reads {expected} features, but the encoder gives {got}: train it again with this encoder")]
    DimensionMismatch { expected: usize, got: usize },
}

impl Classifier {
    pub fn from_json(json: &[u8]) -> Result<Self, ClassifierError> {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| ClassifierError::Malformed(e.to_string()))?;
        Self::from_value(value)
    }

    /// Checks format, version, sizes and values: a classifier that passes cannot panic
    /// or produce NaN on features of its width.
    pub fn from_value(value: serde_json::Value) -> Result<Self, ClassifierError> {
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(ClassifierError::WrongFormat(other.into())),
            None => return Err(ClassifierError::Malformed("no `format` field".into())),
        }
        if let Some(name) = value.get("encoder").and_then(|e| e.as_str())
            && name.parse::<ModelName>().is_err()
        {
            return Err(ClassifierError::UnknownEncoder(name.into()));
        }
        let classifier: Classifier =
            serde_json::from_value(value).map_err(|e| ClassifierError::Malformed(e.to_string()))?;
        if !READS.contains(&classifier.version) {
            return Err(ClassifierError::WrongVersion(classifier.version));
        }
        let dim = classifier.weights.len();
        let inconsistent = |what: String| Err(ClassifierError::Inconsistent(what));
        if dim == 0 || dim > MAX_DIM {
            return inconsistent(format!("{dim} weights (expected 1..={MAX_DIM})"));
        }
        if classifier.scaling.center.len() != dim || classifier.scaling.scale.len() != dim {
            return inconsistent(format!("{dim} weights but a scaling for {} features", classifier.scaling.dim()));
        }
        let values = classifier.weights.iter().chain(&classifier.scaling.center).chain([&classifier.bias]);
        if values.into_iter().any(|v| !v.is_finite())
            || classifier.scaling.scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return inconsistent("it holds non-finite numbers or a non-positive scale".into());
        }
        if let Some(tuned) = &classifier.tuned_layers {
            if tuned.sha256.len() != 64 || !tuned.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return inconsistent("its fine-tuned layers' sha256 is not 64 hex digits".into());
            }
            tuned.inline_bytes()?;
        }
        if let Some(votes) = &classifier.text_votes {
            votes.check().map_err(ClassifierError::Inconsistent)?;
        }
        Ok(classifier)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a classifier serialises")
    }

    pub fn dim(&self) -> usize {
        self.weights.len()
    }

    /// The encoder's vote alone: the logit `w·x + b` of one feature vector.
    pub fn logit(&self, features: &[f32]) -> Result<f32, ClassifierError> {
        if features.len() != self.dim() {
            return Err(ClassifierError::DimensionMismatch { expected: self.dim(), got: features.len() });
        }
        let scaled = self.scaling.apply(features);
        Ok(scaled.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f32>() + self.bias)
    }

    /// The decision on a text, given its features: positive above 0. The logit, or the
    /// sum of the votes when the classifier has [`TextVotes`].
    pub fn decision(&self, features: &[f32], text: &TextView) -> Result<f32, ClassifierError> {
        let logit = self.logit(features)?;
        Ok(match &self.text_votes {
            Some(votes) => votes.decision(logit, text),
            None => logit,
        })
    }

    /// What it says about a text, given the text's features.
    pub fn predict(&self, features: &[f32], text: &TextView) -> Result<Prediction, ClassifierError> {
        Ok(Prediction::from_probability(sigmoid(self.decision(features, text)?)))
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Accuracy and confusion counts of predictions against gold labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// `[gold][predicted]`, 0 negative, 1 positive.
    pub counts: [[usize; 2]; 2],
}

impl Confusion {
    pub fn add(&mut self, gold: u8, predicted: u8) {
        self.counts[usize::from(gold == 1)][usize::from(predicted == 1)] += 1;
    }

    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f32 {
        let right = self.counts[0][0] + self.counts[1][1];
        right as f32 / self.total().max(1) as f32
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid classifier, for the tests of what carries one.
    pub(crate) fn classifier() -> Classifier {
        Classifier {
            format: FORMAT.into(),
            version: VERSION,
            encoder: ModelName::L3,
            pooling: Pooling::First,
            scaling: FeatureScaling { center: vec![0.0, 1.0], scale: vec![1.0, 2.0] },
            weights: vec![2.0, -1.0],
            bias: 0.5,
            trained_on: 2,
            tuned_layers: None,
            text_votes: None,
            recipe: None,
        }
    }

    fn with_votes(lexicon_spread: Option<f32>) -> Classifier {
        let nbsvm = NbSvm {
            weights: [("great".to_string(), 3.0), ("not great".to_string(), -5.0)].into_iter().collect(),
            bias: -1.0,
        };
        Classifier {
            text_votes: Some(TextVotes { nbsvm, encoder_spread: 2.0, nbsvm_spread: 4.0, lexicon_spread }),
            ..classifier()
        }
    }

    #[test]
    fn scaling_standardises_each_dimension() {
        let scaling = FeatureScaling::fit(&[vec![1.0, 5.0], vec![3.0, 5.0]]);
        assert_eq!(scaling.center, vec![2.0, 5.0]);
        assert_eq!(scaling.scale, vec![1.0, 1.0], "constant dimension keeps scale 1");
        assert_eq!(scaling.apply(&[3.0, 6.0]), vec![1.0, 1.0]);
    }

    #[test]
    fn predicts_with_scaling_and_round_trips_through_json() {
        let c = classifier();
        let text = TextView::of("not great");
        // (1-0)/1*2 + (3-1)/2*-1 + 0.5 = 1.5
        assert!((c.logit(&[1.0, 3.0]).unwrap() - 1.5).abs() < 1e-6);
        assert_eq!(c.decision(&[1.0, 3.0], &text).unwrap(), c.logit(&[1.0, 3.0]).unwrap(), "no votes: the logit alone");
        let p = c.predict(&[1.0, 3.0], &text).unwrap();
        assert_eq!(p.label, 1);
        assert!((p.positive - sigmoid(1.5)).abs() < 1e-6);
        assert_eq!(Classifier::from_json(c.to_json().as_bytes()).unwrap(), c);
        assert!(matches!(c.predict(&[1.0], &text), Err(ClassifierError::DimensionMismatch { expected: 2, got: 1 })));
    }

    #[test]
    fn text_votes_sum_each_vote_over_its_spread() {
        let text = TextView { ngrams: nbsvm::ngrams("Not great."), lexicon: 0.6 };
        // logit 1.5 / 2, NB-SVM (3 - 5 - 1) / 4, lexicon 0.6 / 0.3.
        let with_lexicon = with_votes(Some(0.3));
        assert!((with_lexicon.decision(&[1.0, 3.0], &text).unwrap() - (0.75 - 0.75 + 2.0)).abs() < 1e-5);
        let without = with_votes(None);
        assert!((without.decision(&[1.0, 3.0], &text).unwrap() - 0.0).abs() < 1e-5);
        assert_eq!(Classifier::from_json(with_lexicon.to_json().as_bytes()).unwrap(), with_lexicon);
        let mut bad = with_votes(Some(0.0));
        assert!(matches!(Classifier::from_json(bad.to_json().as_bytes()), Err(ClassifierError::Inconsistent(_))));
        bad = with_votes(None);
        bad.text_votes.as_mut().unwrap().nbsvm.weights.insert(String::new(), 1.0);
        assert!(matches!(Classifier::from_json(bad.to_json().as_bytes()), Err(ClassifierError::Inconsistent(_))));
    }

    #[test]
    fn rejects_bad_files_with_reasons() {
        let mut wrong_len = classifier();
        wrong_len.scaling.scale.pop();
        let mut nan = classifier();
        nan.weights[0] = f32::NAN;
        let mut zero_scale = classifier();
        zero_scale.scaling.scale[1] = 0.0;
        for bad in [wrong_len, zero_scale] {
            assert!(matches!(Classifier::from_json(bad.to_json().as_bytes()), Err(ClassifierError::Inconsistent(_))));
        }
        // serde_json writes NaN as null, which is not a number.
        assert!(Classifier::from_json(nan.to_json().as_bytes()).is_err());
        assert!(matches!(Classifier::from_json(b"{\"format\":\"other\"}"), Err(ClassifierError::WrongFormat(_))));
        assert!(matches!(Classifier::from_json(b"[1,2"), Err(ClassifierError::Malformed(_))));
        let mut newer: serde_json::Value = serde_json::from_str(&classifier().to_json()).unwrap();
        newer["version"] = 3.into();
        assert!(matches!(Classifier::from_value(newer), Err(ClassifierError::WrongVersion(3))));
        let mut v1: serde_json::Value = serde_json::from_str(&classifier().to_json()).unwrap();
        v1["version"] = 1.into();
        assert!(Classifier::from_value(v1).is_ok(), "files from before the votes still read");
        // The encoder and pooling are typed: written by name, and a name this Flicktune
        // does not know is refused, saying which it knows.
        let written: serde_json::Value = serde_json::from_str(&classifier().to_json()).unwrap();
        assert_eq!((&written["encoder"], &written["pooling"]), (&"paraphrase-MiniLM-L3-v2".into(), &"first".into()));
        let mut foreign = written.clone();
        foreign["encoder"] = "bert-base-uncased".into();
        let err = Classifier::from_value(foreign).unwrap_err();
        assert!(matches!(&err, ClassifierError::UnknownEncoder(name) if name == "bert-base-uncased"));
        assert!(err.to_string().contains("multilingual-e5-small"), "{err}");
        let mut odd_pooling = written;
        odd_pooling["pooling"] = "max".into();
        assert!(
            matches!(Classifier::from_value(odd_pooling), Err(ClassifierError::Malformed(e)) if e.contains("unknown pooling"))
        );
    }

    #[test]
    fn confusion_counts_and_accuracy() {
        let mut c = Confusion::default();
        for (gold, predicted) in [(1, 1), (1, 0), (0, 0), (0, 0)] {
            c.add(gold, predicted);
        }
        assert_eq!(c.counts, [[2, 0], [1, 1]]);
        assert_eq!(c.accuracy(), 0.75);
    }
}
