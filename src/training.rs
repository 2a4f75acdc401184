//! Labelled features → a trained [`Classifier`], with Burn's autodiff on any device.
//!
//! Logistic regression on standardised features: class-balanced binary cross-entropy
//! plus an L2 penalty, full-batch Adam for a fixed number of steps, from zero weights.
//! The objective is convex and the schedule fixed, so the result does not depend on a
//! random seed, and a retrain after one more label is as quick as the first.
//!
//! Training is a sequence of [`HeadTrainer::step`] calls, so the page can draw its loss
//! curve, yield to the browser and cancel between steps; the CLI just loops.

use burn::config::Config;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use crate::classifier::{Classifier, ClassifierError, FORMAT, FeatureScaling, TextView, TextVotes, VERSION, sigmoid};
use crate::nbsvm::NbSvm;

#[derive(Config, Debug, PartialEq)]
pub struct HeadTrainingConfig {
    /// Full-batch Adam steps.
    #[config(default = 150)]
    pub steps: usize,
    #[config(default = 0.05)]
    pub learning_rate: f64,
    /// L2 penalty on the weights, per example: the objective is
    /// `mean(loss) + l2 / 2 · |w|²`. Chosen by cross-validation on
    /// the page's `train`-split sample (see `docs/`), never on the test split.
    #[config(default = 0.1)]
    pub l2: f64,
}

/// One labelled example: its features and label (1 positive, 0 negative).
#[derive(Clone, Copy)]
pub struct Example<'a> {
    pub features: &'a [f32],
    pub label: u8,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error("label at least one positive and one negative review before training ({positive} positive, {negative} negative so far)")]
    OneClass { positive: usize, negative: usize },
    #[error("example {index} has {got} features, the others {expected}")]
    Ragged { index: usize, expected: usize, got: usize },
    #[error("the compute device failed: {0}")]
    Device(String),
}

/// Where the classifier's features come from, recorded in the classifier file.
#[derive(Debug, Clone)]
pub struct FeatureSource {
    pub encoder: String,
    pub pooling: String,
}

pub struct HeadTrainer {
    config: HeadTrainingConfig,
    source: FeatureSource,
    scaling: FeatureScaling,
    head: Linear,
    optimizer: ModuleOptimizer,
    /// `[n, dim]` standardised features, `[n, 1]` labels and per-example class weights.
    inputs: Tensor<2>,
    targets: Tensor<2>,
    weights: Tensor<2>,
    n: usize,
    steps_done: usize,
}

impl HeadTrainer {
    pub fn new(
        examples: &[Example],
        scaling: FeatureScaling,
        source: FeatureSource,
        config: HeadTrainingConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let n = examples.len();
        let dim = scaling.dim();
        let mut inputs = Vec::with_capacity(n * dim);
        for (index, example) in examples.iter().enumerate() {
            if example.features.len() != dim {
                return Err(TrainError::Ragged { index, expected: dim, got: example.features.len() });
            }
            inputs.extend(scaling.apply(example.features));
        }
        let labels: Vec<u8> = examples.iter().map(|e| e.label).collect();
        let weights = class_weights(&labels)?;
        let targets: Vec<f32> = labels.iter().map(|&l| f32::from(l)).collect();

        let device = device.clone().autodiff();
        let head = LinearConfig::new(dim, 1).with_initializer(Initializer::Zeros).init(&device);
        let optimizer = AdamConfig::new().with_epsilon(1e-8).init();
        Ok(HeadTrainer {
            inputs: Tensor::from_data(TensorData::new(inputs, [n, dim]), &device),
            targets: Tensor::from_data(TensorData::new(targets, [n, 1]), &device),
            weights: Tensor::from_data(TensorData::new(weights, [n, 1]), &device),
            config,
            source,
            scaling,
            head,
            optimizer,
            n,
            steps_done: 0,
        })
    }

    pub fn total_steps(&self) -> usize {
        self.config.steps
    }

    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    pub fn is_done(&self) -> bool {
        self.steps_done >= self.config.steps
    }

    /// One Adam step on all examples. Returns the objective before the step, on the
    /// device: reading it waits for the device, so read it only when it is shown.
    pub fn step(&mut self) -> Tensor<1> {
        let logits = self.head.forward(self.inputs.clone());
        let penalty = self.head.weight.val().powi_scalar(2).sum().mul_scalar(self.config.l2 / 2.0);
        let loss = weighted_cross_entropy(logits, self.targets.clone(), self.weights.clone()) + penalty;
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optimizer.step(self.config.learning_rate, self.head.clone(), grads);
        self.steps_done += 1;
        loss.detach()
    }

    /// The trained classifier (reads the weights back from the device).
    pub async fn into_classifier(self) -> Result<Classifier, TrainError> {
        let weight = self.head.weight.val().into_data_async().await.map_err(device_error)?;
        let bias = match &self.head.bias {
            Some(bias) => bias.val().into_data_async().await.map_err(device_error)?.try_into_vec::<f32>().map_err(device_error)?[0],
            None => 0.0,
        };
        Ok(Classifier {
            format: FORMAT.into(),
            version: VERSION,
            encoder: self.source.encoder,
            pooling: self.source.pooling,
            scaling: self.scaling,
            weights: weight.try_into_vec::<f32>().map_err(device_error)?,
            bias,
            trained_on: self.n,
            tuned_layers: None,
            text_votes: None,
        })
    }
}

/// How many pseudo-labels per class one round of self-training adds: as many in all as
/// there are real labels. Fixed in advance, never tuned on `test` (`docs/few-shot.md`).
pub fn pseudo_per_class(labels: usize) -> usize {
    labels / 2
}

/// Self-training's pseudo-labels, as `(index, label)`: of the unlabelled feature vectors,
/// the `per_class` the classifier finds most negative, labelled 0, and the `per_class`
/// most positive, labelled 1 (fewer when there are not that many).
pub fn pseudo_labels<V: AsRef<[f32]>>(classifier: &Classifier, unlabelled: &[V], per_class: usize) -> Result<Vec<(usize, u8)>, ClassifierError> {
    Ok(surest_of_each_class(&positive_probabilities(classifier, unlabelled)?, per_class))
}

/// The classifier's probability that each of the feature vectors is positive.
fn positive_probabilities<V: AsRef<[f32]>>(classifier: &Classifier, unlabelled: &[V]) -> Result<Vec<f32>, ClassifierError> {
    unlabelled.iter().map(|features| Ok(sigmoid(classifier.logit(features.as_ref())?))).collect()
}

/// `(index, label)` of the `per_class` lowest scores, labelled 0, and the `per_class`
/// highest, labelled 1 (at most half the scores each).
fn surest_of_each_class(scores: &[f32], per_class: usize) -> Vec<(usize, u8)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // A stable sort: ties keep their order, so the pick is deterministic.
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let per_class = per_class.min(order.len() / 2);
    let negatives = order[..per_class].iter().map(|&i| (i, 0));
    let positives = order[order.len() - per_class..].iter().map(|&i| (i, 1));
    negatives.chain(positives).collect()
}

/// Unlabelled reviews per class that the lexicon labels for the first round: chosen among
/// 25, 50 and 100 on `train` reviews (`flicktune bench curve --eval train-dev`,
/// docs/few-shot.md).
pub const LEXICON_SEEDS_PER_CLASS: usize = 100;

/// Up to this many labels the second round keeps every lexicon seed; beyond, it keeps
/// `per_class × this / labels` per class (chosen on `train` reviews too):
/// the lexicon steadies a classifier that knows little, and holds back one that knows more.
const LEXICON_SEEDS_KEPT_UNTIL: usize = 20;

/// `examples` plus the `per_class` unlabelled reviews [`crate::lexicon::score`] finds
/// most negative, labelled 0, and most positive, labelled 1. `lexicon_scores[i]` is
/// `unlabelled[i]`'s.
pub fn with_lexicon_seeds<'a>(mut examples: Vec<Example<'a>>, unlabelled: &[&'a [f32]], lexicon_scores: &[f32], per_class: usize) -> Vec<Example<'a>> {
    debug_assert_eq!(unlabelled.len(), lexicon_scores.len());
    for (i, label) in surest_of_each_class(lexicon_scores, per_class) {
        examples.push(Example { features: unlabelled[i], label });
    }
    examples
}

/// The lexicon's scores of the unlabelled reviews, and how many per class it labels.
#[derive(Clone, Copy)]
pub struct LexiconSeeds<'s> {
    pub scores: &'s [f32],
    pub per_class: usize,
}

impl<'s> LexiconSeeds<'s> {
    /// The page's: [`LEXICON_SEEDS_PER_CLASS`] per class.
    pub fn new(scores: &'s [f32]) -> Self {
        LexiconSeeds { scores, per_class: LEXICON_SEEDS_PER_CLASS }
    }
}

/// Learning from unlabelled reviews, the page's default (docs/few-shot.md): what the
/// first classifier trains on. The labels, plus the lexicon's surest picks among the
/// unlabelled reviews when `seeds` are given (plain self-training without).
pub fn first_round<'a>(examples: &[Example<'a>], unlabelled: &[&'a [f32]], seeds: Option<LexiconSeeds>) -> Vec<Example<'a>> {
    match seeds {
        Some(seeds) => with_lexicon_seeds(examples.to_vec(), unlabelled, seeds.scores, seeds.per_class),
        None => examples.to_vec(),
    }
}

/// What the second classifier trains on, given the `first` one: the labels, the first
/// classifier's surest picks among the unlabelled reviews (as many as there are labels,
/// [`pseudo_labels`]), and, fading as labels grow, the lexicon's surest picks again.
pub fn second_round<'a>(
    first: &Classifier,
    examples: Vec<Example<'a>>,
    unlabelled: &[&'a [f32]],
    seeds: Option<LexiconSeeds>,
) -> Result<Vec<Example<'a>>, ClassifierError> {
    let per_class = pseudo_per_class(examples.len());
    Ok(second_round_by(&positive_probabilities(first, unlabelled)?, per_class, examples, unlabelled, seeds))
}

/// [`second_round`] with the first round's opinion of the unlabelled reviews given as
/// `scores` (higher: more positive), and `per_class` of its surest picks per class.
pub fn second_round_by<'a>(
    scores: &[f32],
    per_class: usize,
    mut examples: Vec<Example<'a>>,
    unlabelled: &[&'a [f32]],
    seeds: Option<LexiconSeeds>,
) -> Vec<Example<'a>> {
    let labels = examples.len();
    for (i, label) in surest_of_each_class(scores, per_class) {
        examples.push(Example { features: unlabelled[i], label });
    }
    match seeds {
        Some(seeds) => {
            let kept = (seeds.per_class * LEXICON_SEEDS_KEPT_UNTIL) as f32 / labels.max(LEXICON_SEEDS_KEPT_UNTIL) as f32;
            with_lexicon_seeds(examples, unlabelled, seeds.scores, kept.round() as usize)
        }
        None => examples,
    }
}

/// Up to this many labels the lexicon's vote keeps its weight; beyond, it counts
/// `this / labels` of it (chosen on `train` reviews: docs/few-shot.md).
const LEXICON_VOTES_FULLY_UNTIL: usize = 100;

/// The lexicon's vote in the page's ensemble, against each model's 1, while labels are
/// few (chosen among 0, 0.25, 0.5, 0.75 and 1 on `train` reviews: docs/few-shot.md). The
/// encoder's classifier has learnt from the lexicon's surest picks already.
pub const LEXICON_VOTE: f32 = 0.5;

/// NB-SVM's vote counts fully once each class has this many labels, and in proportion to
/// the class labelled less before (chosen among 1, 5, 10, 25 and 50 on `train` reviews:
/// docs/few-shot.md): n-gram weights from a handful of reviews, or from one review of a
/// class, are mostly noise.
const NBSVM_VOTES_FULLY_FROM: usize = 25;

/// The text's votes beside `classifier` (the page's default, docs/few-shot.md: the
/// ensemble): NB-SVM trained on the `labelled` reviews' n-grams and the lexicon at
/// `lexicon_weight` (0: it does not vote; the page's is [`LEXICON_VOTE`]), each vote
/// divided by its spread over the `unlabelled` reviews (features and text). `seed` orders
/// NB-SVM's solver.
pub fn text_votes(
    classifier: &Classifier,
    labelled: &[(&TextView, u8)],
    unlabelled: &[(&[f32], &TextView)],
    lexicon_weight: f32,
    seed: u64,
) -> Result<TextVotes, ClassifierError> {
    let docs: Vec<&[String]> = labelled.iter().map(|(view, _)| view.ngrams.as_slice()).collect();
    let labels: Vec<u8> = labelled.iter().map(|&(_, label)| label).collect();
    let nbsvm = NbSvm::train(&docs, &labels, seed);
    let mut logits = Vec::with_capacity(unlabelled.len());
    for (features, _) in unlabelled {
        logits.push(classifier.logit(features)?);
    }
    let nbsvm_scores: Vec<f32> = unlabelled.iter().map(|(_, view)| nbsvm.score(&view.ngrams)).collect();
    let positives = labels.iter().filter(|&&l| l == 1).count();
    let fewer = positives.min(labels.len() - positives);
    let nbsvm_weight = (fewer as f32 / NBSVM_VOTES_FULLY_FROM as f32).clamp(f32::EPSILON, 1.0);
    let lexicon_spread = (lexicon_weight > 0.0).then(|| {
        // The lexicon knows nothing of this data: it keeps its weight while labels are few
        // and fades as they grow.
        let weight = lexicon_weight * (LEXICON_VOTES_FULLY_UNTIL as f32 / labelled.len().max(1) as f32).min(1.0);
        spread(&unlabelled.iter().map(|(_, view)| view.lexicon).collect::<Vec<_>>()) / weight
    });
    Ok(TextVotes { encoder_spread: spread(&logits), nbsvm_spread: spread(&nbsvm_scores) / nbsvm_weight, lexicon_spread, nbsvm })
}

/// The standard deviation (at least `f32::EPSILON`), for putting votes on one scale.
fn spread(values: &[f32]) -> f32 {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt().max(f32::EPSILON)
}

/// Binary cross-entropy from logits (`[n, 1]`), weighted per example, averaged; in the
/// numerically stable log-sigmoid form.
pub(crate) fn weighted_cross_entropy(logits: Tensor<2>, targets: Tensor<2>, weights: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0].max(1);
    let per_example = (targets.clone() * log_sigmoid(logits.clone()) + (targets.neg() + 1.0) * log_sigmoid(logits.neg())).neg() * weights;
    per_example.sum().div_scalar(n as f64)
}

/// Per-example weights giving each class half of the loss, however unbalanced the
/// labels; an error unless both classes are present.
pub fn class_weights(labels: &[u8]) -> Result<Vec<f32>, TrainError> {
    let positive = labels.iter().filter(|&&l| l == 1).count();
    let negative = labels.len() - positive;
    if positive == 0 || negative == 0 {
        return Err(TrainError::OneClass { positive, negative });
    }
    let n = labels.len() as f32;
    Ok(labels.iter().map(|&l| n / (2.0 * (if l == 1 { positive } else { negative }) as f32)).collect())
}

pub(crate) fn device_error(e: impl std::fmt::Debug) -> TrainError {
    TrainError::Device(format!("{e:?}"))
}

/// Reads a scalar loss back from the device.
pub async fn read_loss(loss: Tensor<1>) -> Result<f32, TrainError> {
    let data = loss.into_data_async().await.map_err(device_error)?;
    data.try_into_vec::<f32>()
        .map_err(device_error)?
        .first()
        .copied()
        .ok_or_else(|| TrainError::Device("the loss came back empty".into()))
}

/// Trains to the end, blocking: native targets only.
#[cfg(not(target_family = "wasm"))]
pub fn train_blocking(mut trainer: HeadTrainer) -> Result<Classifier, TrainError> {
    while !trainer.is_done() {
        trainer.step();
    }
    pollster::block_on(trainer.into_classifier())
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    fn source() -> FeatureSource {
        FeatureSource { encoder: "toy".into(), pooling: "first".into() }
    }

    /// Two separable clusters along the first axis, noise on the second.
    fn toy() -> Vec<(Vec<f32>, u8)> {
        (0..20)
            .map(|i| {
                let label = (i % 2) as u8;
                let x = if label == 1 { 1.0 } else { -1.0 } + 0.1 * (i as f32 / 20.0);
                (vec![x, ((i * 7) % 5) as f32 - 2.0], label)
            })
            .collect()
    }

    #[test]
    fn learns_a_separable_problem_and_the_loss_falls() {
        let data = toy();
        let examples: Vec<Example> = data.iter().map(|(f, l)| Example { features: f, label: *l }).collect();
        let scaling = FeatureScaling::fit(&data.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>());
        let device = Device::flex();
        let mut trainer = HeadTrainer::new(&examples, scaling, source(), HeadTrainingConfig::new(), &device).unwrap();
        let first = pollster::block_on(read_loss(trainer.step())).unwrap();
        assert!((first - std::f32::consts::LN_2).abs() < 1e-5, "zero weights start at ln 2: {first}");
        let mut last = first;
        while !trainer.is_done() {
            last = pollster::block_on(read_loss(trainer.step())).unwrap();
        }
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        let classifier = pollster::block_on(trainer.into_classifier()).unwrap();
        assert_eq!(classifier.trained_on, 20);
        for (features, label) in &data {
            assert_eq!(u8::from(classifier.logit(features).unwrap() > 0.0), *label);
        }
        assert!(classifier.weights[0] > 10.0 * classifier.weights[1].abs(), "{:?}", classifier.weights);
    }

    /// Positive as its one feature is above 0, surer as it is further from 0.
    fn one_feature_classifier() -> Classifier {
        Classifier {
            format: FORMAT.into(),
            version: VERSION,
            encoder: "toy".into(),
            pooling: "first".into(),
            scaling: FeatureScaling { center: vec![0.0], scale: vec![1.0] },
            weights: vec![1.0],
            bias: 0.0,
            trained_on: 2,
            tuned_layers: None,
            text_votes: None,
        }
    }

    #[test]
    fn pseudo_labels_are_the_surest_of_each_class() {
        let classifier = one_feature_classifier();
        let unlabelled = [vec![0.1f32], vec![-3.0], vec![2.0], vec![-0.2], vec![5.0]];
        assert_eq!(pseudo_labels(&classifier, &unlabelled, 2).unwrap(), [(1, 0), (3, 0), (2, 1), (4, 1)]);
        assert_eq!(pseudo_labels(&classifier, &unlabelled, 9).unwrap().len(), 4, "at most half the pool per class");
        assert!(pseudo_labels(&classifier, &[vec![1.0f32, 2.0]], 1).is_err(), "wrong width");
        assert_eq!(pseudo_per_class(20), 10);
    }

    #[test]
    fn lexicon_seeds_are_its_surest_of_each_class_after_the_labels() {
        let (a, b, c, d) = ([0.0f32], [1.0f32], [2.0f32], [3.0f32]);
        let labelled = vec![Example { features: &a, label: 1 }];
        let seeded = with_lexicon_seeds(labelled, &[&b, &c, &d], &[0.9, -0.8, 0.1], 1);
        let got: Vec<(f32, u8)> = seeded.iter().map(|e| (e.features[0], e.label)).collect();
        assert_eq!(got, [(0.0, 1), (2.0, 0), (1.0, 1)], "the label first, then the most negative and the most positive");
        assert_eq!(with_lexicon_seeds(Vec::new(), &[&b, &c, &d], &[0.9, -0.8, 0.1], 5).len(), 2, "at most half the pool per class");
    }

    #[test]
    fn the_second_round_keeps_fewer_lexicon_seeds_as_labels_grow() {
        let classifier = one_feature_classifier();
        let features: Vec<[f32; 1]> = (0..1000).map(|i| [i as f32]).collect();
        let unlabelled: Vec<&[f32]> = features.iter().map(|f| f.as_slice()).collect();
        let scores: Vec<f32> = (0..1000).map(|i| -(i as f32)).collect();
        let label = [0.5f32];
        let second_round_len = |n: usize| {
            let examples: Vec<Example> = (0..n).map(|i| Example { features: &label, label: (i % 2) as u8 }).collect();
            second_round(&classifier, examples, &unlabelled, Some(LexiconSeeds::new(&scores))).unwrap().len()
        };
        // n labels + n pseudo-labels + the kept seeds of both classes.
        assert_eq!(second_round_len(10), 10 + 10 + 200, "all kept up to 20 labels");
        assert_eq!(second_round_len(20), 20 + 20 + 200);
        assert_eq!(second_round_len(100), 100 + 100 + 40, "100 × 20 / 100 per class");
        assert_eq!(first_round(&[], &unlabelled, Some(LexiconSeeds::new(&scores))).len(), 200);
        assert!(first_round(&[], &unlabelled, None).is_empty(), "plain self-training: the labels only");
        let plain = second_round(&classifier, vec![Example { features: &label, label: 1 }; 4], &unlabelled, None).unwrap();
        assert_eq!(plain.len(), 8);
    }

    #[test]
    fn text_votes_put_each_vote_on_the_unlabelled_reviews_scale() {
        let classifier = one_feature_classifier();
        let view = |text: &str, lexicon: f32| TextView { ngrams: crate::nbsvm::ngrams(text), lexicon };
        let labelled = [view("a great film", 0.6), view("a dull film", -0.4)];
        let labelled: Vec<(&TextView, u8)> = labelled.iter().zip([1, 0]).collect();
        let texts = [view("great", 0.5), view("dull", -0.5), view("great great", 0.3), view("film", -0.3)];
        let features = [[1.0f32], [-1.0], [3.0], [-3.0]];
        let unlabelled: Vec<(&[f32], &TextView)> = features.iter().map(|f| f.as_slice()).zip(&texts).collect();
        let votes = text_votes(&classifier, &labelled, &unlabelled, 1.0, 0).unwrap();
        assert!((votes.encoder_spread - 5f32.sqrt()).abs() < 1e-5, "{}", votes.encoder_spread);
        assert!((votes.lexicon_spread.unwrap() - (0.17f32).sqrt()).abs() < 1e-5, "full weight at 2 labels");
        assert!(votes.nbsvm.score(&texts[0].ngrams) > votes.nbsvm.score(&texts[1].ngrams));
        let nbsvm_scores: Vec<f32> = texts.iter().map(|t| votes.nbsvm.score(&t.ngrams)).collect();
        let full_spread = super::spread(&nbsvm_scores);
        assert!((votes.nbsvm_spread - 25.0 * full_spread).abs() < 1e-4 * full_spread.max(1.0), "one label per class: 1/25 of a vote");
        let half = text_votes(&classifier, &labelled, &unlabelled, 0.5, 0).unwrap();
        assert!((half.lexicon_spread.unwrap() - 2.0 * (0.17f32).sqrt()).abs() < 1e-5, "half a vote: twice the spread");
        let without = text_votes(&classifier, &labelled, &unlabelled, 0.0, 0).unwrap();
        assert_eq!((without.lexicon_spread, without.nbsvm), (None, votes.nbsvm));
        // With 200 labels the lexicon counts half (its spread doubles) and NB-SVM fully.
        let many: Vec<(&TextView, u8)> = (0..200).map(|i| labelled[i % 2]).collect();
        let faded = text_votes(&classifier, &many, &unlabelled, 1.0, 0).unwrap();
        assert!((faded.lexicon_spread.unwrap() - 2.0 * (0.17f32).sqrt()).abs() < 1e-5);
        let scores: Vec<f32> = texts.iter().map(|t| faded.nbsvm.score(&t.ngrams)).collect();
        assert!((faded.nbsvm_spread - super::spread(&scores)).abs() < 1e-6);
    }

    #[test]
    fn one_class_and_ragged_inputs_are_refused() {
        let f = [0.0f32, 1.0];
        let g = [0.0f32];
        let scaling = FeatureScaling::fit(&[f.to_vec()]);
        let device = Device::flex();
        let one_class = [Example { features: &f, label: 1 }, Example { features: &f, label: 1 }];
        let err = HeadTrainer::new(&one_class, scaling.clone(), source(), HeadTrainingConfig::new(), &device).err();
        assert_eq!(err, Some(TrainError::OneClass { positive: 2, negative: 0 }));
        let ragged = [Example { features: &f, label: 1 }, Example { features: &g, label: 0 }];
        let err = HeadTrainer::new(&ragged, scaling, source(), HeadTrainingConfig::new(), &device).err();
        assert_eq!(err, Some(TrainError::Ragged { index: 1, expected: 2, got: 1 }));
    }
}
