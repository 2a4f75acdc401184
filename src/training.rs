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
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use crate::backend::{DeviceFailure, read_values};
use crate::classifier::{Classifier, FORMAT, FeatureScaling, VERSION};
use crate::encoders::ModelName;
use crate::features::Pooling;

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

/// The Adam every trainer here uses (the head's, fine-tuning's, adaptation's): PyTorch's
/// epsilon, 1e-8, so that schedules taken from the literature mean what they say there.
pub fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-8).init()
}

/// The step protocol of every trainer here (the head's, fine-tuning's, adaptation's): a
/// fixed number of optimiser steps taken one at a time, so that a caller can draw the
/// loss, yield to the browser or cancel between them. [`run_to_end`] drives one natively;
/// the page paces one between frames.
pub trait Stepwise {
    /// One optimiser step. Returns the loss before it, on the device: reading it waits
    /// for the device, so read it only when it is shown.
    fn step(&mut self) -> Tensor<1>;
    fn steps_done(&self) -> usize;
    fn total_steps(&self) -> usize;
    fn is_done(&self) -> bool {
        self.steps_done() >= self.total_steps()
    }
}

/// Takes every remaining step; the last step's loss (on the device), if any was taken.
pub fn run_to_end(trainer: &mut impl Stepwise) -> Option<Tensor<1>> {
    let mut loss = None;
    while !trainer.is_done() {
        loss = Some(trainer.step());
    }
    loss
}

/// One labelled example: its features and label (1 positive, 0 negative).
#[derive(Clone, Copy)]
pub struct Example<'a> {
    pub features: &'a [f32],
    pub label: u8,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error(
        "label at least one positive and one negative review before training ({positive} positive, {negative} negative so far)"
    )]
    OneClass { positive: usize, negative: usize },
    #[error("example {index} has {got} features, the others {expected}")]
    Ragged { index: usize, expected: usize, got: usize },
    #[error(transparent)]
    Device(#[from] DeviceFailure),
}

/// Where the classifier's features come from, recorded in the classifier file.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FeatureSource {
    pub encoder: ModelName,
    pub pooling: Pooling,
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
        let optimizer = adam();
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

    /// The trained classifier (reads the weights back from the device).
    ///
    /// Full-batch: each [`Stepwise::step`] is one Adam step on all examples, and the loss
    /// it returns is the objective, L2 penalty included.
    pub async fn into_classifier(self) -> Result<Classifier, TrainError> {
        let weights = read_values(self.head.weight.val()).await?;
        let bias = match &self.head.bias {
            Some(bias) => read_values(bias.val()).await?[0],
            None => 0.0,
        };
        Ok(Classifier {
            format: FORMAT.into(),
            version: VERSION,
            encoder: self.source.encoder,
            pooling: self.source.pooling,
            scaling: self.scaling,
            weights,
            bias,
            trained_on: self.n,
            tuned_layers: None,
            text_votes: None,
            recipe: None,
        })
    }
}

impl Stepwise for HeadTrainer {
    fn step(&mut self) -> Tensor<1> {
        let logits = self.head.forward(self.inputs.clone());
        let penalty = self.head.weight.val().powi_scalar(2).sum().mul_scalar(self.config.l2 / 2.0);
        let loss = weighted_cross_entropy(logits, self.targets.clone(), self.weights.clone()) + penalty;
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optimizer.step(self.config.learning_rate, self.head.clone(), grads);
        self.steps_done += 1;
        loss.detach()
    }

    fn steps_done(&self) -> usize {
        self.steps_done
    }

    fn total_steps(&self) -> usize {
        self.config.steps
    }
}

/// Binary cross-entropy from logits (`[n, 1]`), weighted per example, averaged; in the
/// numerically stable log-sigmoid form.
pub(crate) fn weighted_cross_entropy(logits: Tensor<2>, targets: Tensor<2>, weights: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0].max(1);
    let per_example =
        (targets.clone() * log_sigmoid(logits.clone()) + (targets.neg() + 1.0) * log_sigmoid(logits.neg())).neg()
            * weights;
    per_example.sum().div_scalar(n as f64)
}

/// Slanted triangular learning-rate factor at step `t` of `total` (Howard & Ruder):
/// a linear rise over the first 10% to 1, then a linear fall to 1/32.
pub fn slanted_triangular(t: usize, total: usize) -> f64 {
    let (cut_frac, ratio) = (0.1, 32.0);
    let cut = (total as f64 * cut_frac).floor().max(1.0);
    let t = t as f64;
    let p = if t < cut { t / cut } else { 1.0 - (t - cut) / (cut * (1.0 / cut_frac - 1.0)).max(1.0) };
    (1.0 + p.max(0.0) * (ratio - 1.0)) / ratio
}

/// One optimiser step on `layers[first..]`, the top layer at `rate` and each one down at
/// `decay` times less than the one above (ULMFiT's discriminative rates).
pub fn step_layers<M: Module>(
    layers: &mut [M],
    optimizers: &mut [ModuleOptimizer],
    first: usize,
    grads: &mut Gradients,
    rate: f64,
    decay: f64,
) {
    let top = layers.len().saturating_sub(1);
    for i in first..layers.len() {
        let layer_grads = GradientsParams::from_module(grads, &layers[i]);
        let lr = rate / decay.powi((top - i) as i32);
        layers[i] = optimizers[i].step(lr, layers[i].clone(), layer_grads);
    }
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

/// Reads a scalar loss back from the device.
pub async fn read_loss(loss: Tensor<1>) -> Result<f32, TrainError> {
    let values = read_values(loss).await?;
    values.first().copied().ok_or_else(|| DeviceFailure::Failed("the loss came back empty".into()).into())
}

/// Trains to the end, blocking: native targets only.
#[cfg(not(target_family = "wasm"))]
pub fn train_blocking(mut trainer: HeadTrainer) -> Result<Classifier, TrainError> {
    run_to_end(&mut trainer);
    pollster::block_on(trainer.into_classifier())
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    fn source() -> FeatureSource {
        FeatureSource { encoder: ModelName::L3, pooling: Pooling::First }
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
    fn the_schedule_rises_then_falls() {
        let f: Vec<f64> = (0..100).map(|t| slanted_triangular(t, 100)).collect();
        assert!((f[0] - 1.0 / 32.0).abs() < 1e-9);
        assert!((f[10] - 1.0).abs() < 1e-9);
        assert!(f[..10].windows(2).all(|w| w[0] < w[1]) && f[10..].windows(2).all(|w| w[0] > w[1]));
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
