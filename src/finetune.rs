//! Fine-tuning the encoder's top layers together with the classifier, ULMFiT's way:
//! gradual unfreezing (the top layer first, one more layer down each epoch),
//! discriminative learning rates (each layer down learns 2.6 times slower) and a slanted
//! triangular schedule (a short warm-up, then a long linear decay).
//!
//! It starts from a trained [`Classifier`] (the head), so the first steps do not wreck
//! the pretrained layers with a random head's gradients. The layers below the tuned
//! block never change: their output is computed once, and each step runs only the top.
//! Each review is read through its first window (`max_tokens` tokens) while training;
//! the resulting encoder is then used like the original, on whole reviews.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::backend::read_values;
use crate::classifier::Classifier;
use crate::encoders::bert::{BertLayer, BertModel, EncoderInput};
use crate::features::padded_batch;
use crate::tokens::{TextTokenizer, TokenizeError};
use crate::training::{
    Stepwise, TrainError, adam, class_weights, slanted_triangular, step_layers, weighted_cross_entropy,
};

#[derive(Config, Debug, PartialEq)]
pub struct FineTuneConfig {
    /// How many layers from the top are unfrozen, one more per epoch.
    #[config(default = 2)]
    pub layers: usize,
    #[config(default = 3)]
    pub epochs: usize,
    #[config(default = 8)]
    pub batch_size: usize,
    /// Tokens of each review read while training (`[CLS]` and `[SEP]` included).
    #[config(default = 128)]
    pub max_tokens: usize,
    /// Peak learning rate of the top layer; each layer down gets it divided by `layer_decay`.
    #[config(default = 1e-4)]
    pub learning_rate: f64,
    #[config(default = 2.6)]
    pub layer_decay: f64,
    /// Peak learning rate of the classifier head.
    #[config(default = 1e-3)]
    pub head_learning_rate: f64,
}

/// A labelled review as token ids: `[CLS] … [SEP]`, at most `max_tokens`.
pub struct TokenExample {
    pub ids: Vec<u32>,
    pub label: u8,
}

impl TokenExample {
    /// A review as the fine-tuner reads it: its first window of `max_tokens` tokens.
    pub fn new(tokenizer: &TextTokenizer, text: &str, label: u8, max_tokens: usize) -> Result<Self, TokenizeError> {
        let content = tokenizer.content_ids(text)?;
        let room = max_tokens.saturating_sub(2);
        Ok(TokenExample { ids: tokenizer.wrap(&content[..content.len().min(room)]), label })
    }
}

/// One batch, with the frozen layers' output already computed.
struct Batch {
    hidden: Tensor<3>,
    padding_mask: Tensor<2, Bool>,
    /// `[batch, seq, 1]`: 1 for real tokens.
    real: Tensor<3>,
    targets: Tensor<2>,
    weights: Tensor<2>,
}

pub struct FineTuner {
    config: FineTuneConfig,
    encoder: BertModel,
    /// Index of the first tuned layer.
    first_tuned: usize,
    tuned: Vec<BertLayer>,
    layer_optimizers: Vec<ModuleOptimizer>,
    /// Logistic regression on the L2-normalised pooled output (the classifier's
    /// standardisation folded into its weights).
    head: Linear,
    head_optimizer: ModuleOptimizer,
    classifier: Classifier,
    batches: Vec<Batch>,
    step: usize,
}

impl FineTuner {
    /// `pad_id` pads the batches; `classifier` is the head trained on frozen features.
    pub fn new(
        encoder: &BertModel,
        classifier: &Classifier,
        examples: &[TokenExample],
        pad_id: u32,
        config: FineTuneConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let labels: Vec<u8> = examples.iter().map(|e| e.label).collect();
        let weights = class_weights(&labels)?;
        let layers = config.layers.clamp(1, encoder.num_layers());
        let first_tuned = encoder.num_layers() - layers;
        let batches = examples
            .chunks(config.batch_size.max(1))
            .zip(weights.chunks(config.batch_size.max(1)))
            .map(|(batch, weights)| {
                frozen_batch(encoder, batch, weights, pad_id, config.max_tokens, first_tuned, device)
            })
            .collect();
        let tuned: Vec<BertLayer> = encoder.top_layers(first_tuned).into_iter().map(Module::train).collect();
        let layer_optimizers = tuned.iter().map(|_| adam()).collect();
        Ok(FineTuner {
            head: folded_head(classifier, device).train(),
            head_optimizer: adam(),
            encoder: encoder.clone(),
            first_tuned,
            tuned,
            layer_optimizers,
            classifier: classifier.clone(),
            batches,
            step: 0,
            config,
        })
    }

    /// The first layer that is tuned (layers from here to the top change).
    pub fn first_tuned_layer(&self) -> usize {
        self.first_tuned
    }

    /// The fine-tuned encoder and the classifier for its features (weights read back
    /// from the device).
    pub async fn finish(self) -> Result<(BertModel, Classifier), TrainError> {
        let weights = read_values(self.head.weight.val()).await?;
        let bias = match &self.head.bias {
            Some(b) => read_values(b.val()).await?[0],
            None => 0.0,
        };
        let tuned = self.tuned.iter().map(Module::valid).collect();
        let encoder = self.encoder.with_top_layers(self.first_tuned, tuned);
        Ok((encoder, unfold_head(&self.classifier, &weights, bias)))
    }
}

impl Stepwise for FineTuner {
    /// One Adam step on one batch. Returns the loss on the device (read it only to show it).
    fn step(&mut self) -> Tensor<1> {
        let n_batches = self.batches.len().max(1);
        let epoch = self.step / n_batches;
        let batch = &self.batches[self.step % n_batches];
        // Gradual unfreezing: one more layer from the top each epoch.
        let unfrozen = (epoch + 1).min(self.tuned.len());
        let split = self.tuned.len() - unfrozen;
        let mut x = batch.hidden.clone();
        for layer in &self.tuned[..split] {
            x = layer.valid().forward(x, batch.padding_mask.clone());
        }
        let mut x = x.autodiff();
        for layer in &self.tuned[split..] {
            x = layer.forward(x, batch.padding_mask.clone());
        }
        let pooled = (x * batch.real.clone()).sum_dim(1).div(batch.real.clone().sum_dim(1)).squeeze_dim::<2>(1);
        let norm = pooled.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        let logits = self.head.forward(pooled.div(norm));
        let loss = weighted_cross_entropy(logits, batch.targets.clone(), batch.weights.clone());

        let mut grads = loss.backward();
        let factor = slanted_triangular(self.step, self.total_steps());
        let head_grads = GradientsParams::from_module(&mut grads, &self.head);
        self.head = self.head_optimizer.step(self.config.head_learning_rate * factor, self.head.clone(), head_grads);
        let rate = self.config.learning_rate * factor;
        step_layers(&mut self.tuned, &mut self.layer_optimizers, split, &mut grads, rate, self.config.layer_decay);
        self.step += 1;
        loss.detach()
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    fn total_steps(&self) -> usize {
        self.config.epochs * self.batches.len()
    }
}

/// The frozen layers' output for one batch, plus its masks and targets.
fn frozen_batch(
    encoder: &BertModel,
    examples: &[TokenExample],
    weights: &[f32],
    pad_id: u32,
    max_tokens: usize,
    first_tuned: usize,
    device: &Device,
) -> Batch {
    let ids: Vec<&[u32]> = examples.iter().map(|e| &e.ids[..e.ids.len().min(max_tokens)]).collect();
    let b = ids.len();
    let EncoderInput { input_ids, padding_mask } = padded_batch(&ids, pad_id, device);
    let frozen = encoder.valid();
    let hidden = frozen.forward_layers(frozen.embed(input_ids), padding_mask.clone(), 0..first_tuned);
    let targets: Vec<f32> = examples.iter().map(|e| f32::from(e.label)).collect();
    Batch {
        hidden,
        real: padding_mask.clone().bool_not().float().unsqueeze_dim::<3>(2),
        padding_mask,
        targets: Tensor::from_data(TensorData::new(targets, [b, 1]), device),
        weights: Tensor::from_data(TensorData::new(weights.to_vec(), [b, 1]), device),
    }
}

/// The classifier as a head on raw features: `w' = w / s`, `b' = b − Σ w·c / s`.
fn folded_head(c: &Classifier, device: &Device) -> Linear {
    let s = &c.scaling;
    let weights: Vec<f32> = c.weights.iter().zip(&s.scale).map(|(w, s)| w / s).collect();
    let bias = c.bias - c.weights.iter().zip(&s.center).zip(&s.scale).map(|((w, c), s)| w * c / s).sum::<f32>();
    let dim = weights.len();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(weights, [dim, 1]), device)),
        bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(vec![bias], [1]), device))),
    }
}

/// Back to the classifier's standardised form, keeping its scaling: the inverse of
/// [`folded_head`].
fn unfold_head(c: &Classifier, weights: &[f32], bias: f32) -> Classifier {
    let s = &c.scaling;
    let mut out = c.clone();
    out.weights = weights.iter().zip(&s.scale).map(|(w, s)| w * s).collect();
    out.bias = bias + weights.iter().zip(&s.center).map(|(w, c)| w * c).sum::<f32>();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::FeatureScaling;

    #[test]
    fn folding_the_scaling_into_the_head_and_back_is_exact() {
        let c = Classifier {
            format: crate::classifier::FORMAT.into(),
            version: crate::classifier::VERSION,
            encoder: crate::encoders::ModelName::L3,
            pooling: crate::features::Pooling::Chunks,
            scaling: FeatureScaling { center: vec![0.5, -1.0], scale: vec![2.0, 0.25] },
            weights: vec![1.5, -0.5],
            bias: 0.25,
            trained_on: 2,
            tuned_layers: None,
            text_votes: None,
            recipe: None,
        };
        let device = Device::flex();
        let head = folded_head(&c, &device);
        let x = [0.3f32, 0.8];
        let folded: f32 = head
            .forward(Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, 2]), &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0];
        assert!((folded - c.logit(&x).unwrap()).abs() < 1e-5);
        let w = head.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let b = head.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap()[0];
        let back = unfold_head(&c, &w, b);
        assert!(back.weights.iter().zip(&c.weights).all(|(a, b)| (a - b).abs() < 1e-5));
        assert!((back.bias - c.bias).abs() < 1e-5);
    }

    fn tiny() -> (BertModel, Vec<TokenExample>, Classifier) {
        let device = Device::flex();
        // Random weights, but no dropout: the loss path depends on the data, not on chance.
        let encoder = crate::encoders::bert::BertConfig::new(40, 8, 2, 2, 16, 32, 2)
            .with_hidden_dropout_prob(0.0)
            .with_attention_probs_dropout_prob(0.0)
            .init(&device);
        // Positive reviews use tokens 10..20, negative ones 20..30.
        let examples: Vec<TokenExample> = (0..12)
            .map(|i| {
                let label = (i % 2) as u8;
                let base = if label == 1 { 10 } else { 20 };
                TokenExample { ids: vec![1, base + i % 7, base + (i * 3) % 9, 2], label }
            })
            .collect();
        let classifier = Classifier {
            format: crate::classifier::FORMAT.into(),
            version: crate::classifier::VERSION,
            encoder: crate::encoders::ModelName::L3,
            pooling: crate::features::Pooling::Chunks,
            scaling: FeatureScaling { center: vec![0.0; 8], scale: vec![1.0; 8] },
            weights: vec![0.1; 8],
            bias: 0.0,
            trained_on: 12,
            tuned_layers: None,
            text_votes: None,
            recipe: None,
        };
        (encoder, examples, classifier)
    }

    fn run(config: FineTuneConfig) -> (Vec<f32>, Classifier, BertModel, BertModel) {
        let (encoder, examples, classifier) = tiny();
        let mut tuner = FineTuner::new(&encoder, &classifier, &examples, 0, config, &Device::flex()).unwrap();
        let mut losses = Vec::new();
        while !tuner.is_done() {
            losses.push(pollster::block_on(crate::training::read_loss(tuner.step())).unwrap());
        }
        let (tuned, out) = pollster::block_on(tuner.finish()).unwrap();
        (losses, out, encoder, tuned)
    }

    fn same_outputs(a: &BertModel, b: &BertModel) -> bool {
        let input = padded_batch(&[&[1, 12, 25, 2]], 0, &Device::flex());
        let (x, y) = (a.forward(input.clone()).into_data(), b.forward(input).into_data());
        x.try_to_vec::<f32>().unwrap().iter().zip(y.try_to_vec::<f32>().unwrap()).all(|(p, q)| (p - q).abs() < 1e-6)
    }

    #[test]
    fn with_zero_learning_rates_nothing_changes() {
        let config = FineTuneConfig::new().with_learning_rate(0.0).with_head_learning_rate(0.0).with_batch_size(4);
        let (_, out, before, after) = run(config);
        let (_, _, classifier) = tiny();
        assert!(out.weights.iter().zip(&classifier.weights).all(|(a, b)| (a - b).abs() < 1e-5));
        assert!(same_outputs(&before, &after));
    }

    #[test]
    fn training_lowers_the_loss_and_changes_only_the_top_layers() {
        let config = FineTuneConfig::new()
            .with_layers(1)
            .with_epochs(30)
            .with_batch_size(12)
            .with_learning_rate(1e-2)
            .with_head_learning_rate(1e-1);
        let (losses, _, before, after) = run(config);
        let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
        assert!(last < 0.8 * losses[0], "{losses:?}");
        assert!(!same_outputs(&before, &after), "the top layer moved");
        let bottom = |m: &BertModel| m.clone().with_top_layers(1, Vec::new());
        assert!(same_outputs(&bottom(&before), &bottom(&after)), "the frozen layer did not");
    }
}
