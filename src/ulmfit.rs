//! ULMFiT's classifier (Howard & Ruder, 2018) on the AWD-LSTM of [`crate::encoders::awd_lstm`]:
//! 1. the pretrained language model is fine-tuned on the target domain's texts, labels
//!    unused ([`language_model_tuning`]: [`LmTrainer`] on their word stream);
//! 2. a head reads the last layer's outputs through concat pooling (the last step's
//!    state, the maximum and the mean over the review, side by side) and a small network;
//! 3. [`UlmfitTrainer`] trains the head alone first, then unfreezes one LSTM layer more
//!    from the top at each stage (gradual unfreezing), each layer down learning 2.6 times
//!    slower (discriminative rates), each stage on the slanted triangular schedule every
//!    trainer here uses. The embedding table stays as the language model left it.
//!
//! Within a stage the frozen layers do not change, so their output for every batch is
//! computed once when the stage starts (as `finetune.rs` does), and each step runs only
//! the unfrozen layers and the head, without the language model's dropouts (the head has
//! its own). fastai's head normalises each batch; this one standardises with statistics
//! fixed when training starts ([`PoolingHead`] says why).

use std::collections::HashMap;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::encoders::awd_lstm::{AwdLstm, AwdLstmConfig, LmTrainer, LmTrainingConfig, LstmLayer};
use crate::encoders::weights::{apply_safetensors, float_safetensors_with, float_tensors};
use crate::training::{
    Stepwise, TrainError, adam, class_weights, slanted_triangular, step_layers, weighted_cross_entropy,
};
use crate::word_vocab::WordVocab;

#[derive(Config, Debug, PartialEq)]
pub struct UlmfitConfig {
    /// Words read of each review, its first ones (fastai reads whole reviews; the cost
    /// here grows with the length, and a review's first 400 words are nearly all of it).
    #[config(default = 400)]
    pub max_tokens: usize,
    /// Width of the head's hidden layer (fastai's 50).
    #[config(default = 50)]
    pub head_width: usize,
    #[config(default = 0.2)]
    pub head_dropout: f64,
    #[config(default = 16)]
    pub batch_size: usize,
    /// LSTM layers unfrozen, from the top, one more per stage after the head's own.
    #[config(default = 3)]
    pub unfreeze: usize,
    /// Steps in each stage: one pass over the labels, or this many where a pass is
    /// shorter (with ten labels a pass is one step).
    #[config(default = 60)]
    pub min_stage_steps: usize,
    /// Peak rate of the head's own stage.
    #[config(default = 2e-2)]
    pub head_learning_rate: f64,
    /// Peak rate of the head and the top layer in the first stage with a layer unfrozen,
    /// halved at each later stage; each layer down gets it divided by `layer_decay`.
    #[config(default = 1e-2)]
    pub learning_rate: f64,
    #[config(default = 2.6)]
    pub layer_decay: f64,
    #[config(default = 0)]
    pub seed: u64,
}

impl UlmfitConfig {
    /// The page's settings: each review's first 200 words (more than half of IMDB's
    /// reviews whole) and stages of at least 20 steps, so that training in a browser tab
    /// takes minutes rather than the best part of an hour (docs/few-shot.md has both
    /// settings' accuracy and time).
    pub fn for_page() -> Self {
        UlmfitConfig::new().with_max_tokens(200).with_min_stage_steps(20)
    }
}

/// The settings of target-domain language-model tuning on `tokens` words: `epochs`
/// passes (at least one step) of the pretraining's sampled softmax at a tenth of its rate,
/// in fewer parallel streams where the text is short (each at least two windows long
/// where it can be, and never under two words).
pub fn language_model_tuning(tokens: usize, epochs: f64, seed: u64) -> LmTrainingConfig {
    let defaults = LmTrainingConfig::new(1);
    let batch = (tokens / (2 * defaults.bptt)).clamp(1, defaults.batch);
    let per_step = batch * defaults.bptt;
    let steps = (epochs * tokens as f64 / per_step as f64).ceil().max(1.0) as usize;
    LmTrainingConfig::new(steps)
        .with_batch(batch)
        .with_learning_rate(defaults.learning_rate / 10.0)
        .with_negatives(2_048)
        .with_seed(seed)
}

/// Tunes `lm` to `texts` (word ids, reviews one after another): ULMFiT's second step.
pub fn tune_language_model(lm: AwdLstm, texts: &[Vec<u32>], config: LmTrainingConfig, device: &Device) -> LmTrainer {
    let stream: Vec<u32> = texts.iter().flatten().copied().collect();
    LmTrainer::new(lm, &stream, config, device)
}

/// The files `flicktune lstm pretrain` leaves in its folder, and `flicktune fetch` installs.
pub const LM_VOCAB_FILE: &str = "vocab.json";
pub const LM_WEIGHTS_FILE: &str = "awd-lstm.f16.safetensors";
/// What made the weights: the command, settings, perplexities, sha256.
pub const LM_CARD_FILE: &str = "awd-lstm.json";
/// The three, as the page downloads them (its manifest lists them in this order).
pub const LM_FILES: [&str; 3] = [LM_VOCAB_FILE, LM_CARD_FILE, LM_WEIGHTS_FILE];
/// Their folder under `assets/models/` and the page's `/models/`.
pub const LM_FOLDER: &str = "awd-lstm";
/// The page's list of them: sizes and sha256.
pub const LM_MANIFEST_FILE: &str = "manifest.json";

/// The pretrained language model with its vocabulary and settings.
pub struct PretrainedLm {
    pub vocab: WordVocab,
    pub config: AwdLstmConfig,
    pub model: AwdLstm,
}

/// Pretrained language-model files that do not make a model.
#[derive(Debug, thiserror::Error)]
#[error("the AWD-LSTM's {file} is unusable ({reason}); run `flicktune fetch` again, or `flicktune lstm pretrain`")]
pub struct LmFilesError {
    file: &'static str,
    reason: String,
}

impl PretrainedLm {
    /// The model from the three files' bytes, its weights onto `device`.
    pub fn from_files(vocab: &[u8], card: &[u8], weights: &[u8], device: &Device) -> Result<Self, LmFilesError> {
        let fail = |file: &'static str| move |e: &dyn std::fmt::Display| LmFilesError { file, reason: e.to_string() };
        let vocab: WordVocab = serde_json::from_slice(vocab).map_err(|e| fail(LM_VOCAB_FILE)(&e))?;
        let card: serde_json::Value = serde_json::from_slice(card).map_err(|e| fail(LM_CARD_FILE)(&e))?;
        let config: AwdLstmConfig = serde_json::from_value(card["progress"]["model"].clone())
            .map_err(|e| fail(LM_CARD_FILE)(&format!("no model settings: {e}")))?;
        if config.vocab != vocab.len() {
            return Err(fail(LM_VOCAB_FILE)(&format!("{} words for a model of {}", vocab.len(), config.vocab)));
        }
        let model = config.init(device).load_safetensors(weights).map_err(|e| fail(LM_WEIGHTS_FILE)(&e))?;
        Ok(PretrainedLm { vocab, config, model })
    }

    /// The last layer's outputs for `texts` (their first `max_tokens` words), concat-pooled
    /// as the classifier's head reads them: `[texts, 3·embedding]`.
    pub fn pooled(&self, texts: &[&str], max_tokens: usize) -> Tensor<2> {
        let reviews: Vec<Vec<u32>> = texts.iter().map(|t| self.vocab.encode(t)).collect();
        pooled_outputs(&self.model, &reviews.iter().map(Vec::as_slice).collect::<Vec<_>>(), max_tokens)
    }

    /// The model from a folder holding the three files (`lstm pretrain`'s, or the fetched one).
    #[cfg(not(target_family = "wasm"))]
    pub fn read_dir(dir: &std::path::Path, device: &Device) -> Result<Self, LmFilesError> {
        let read = |file: &'static str| {
            std::fs::read(dir.join(file))
                .map_err(|e| LmFilesError { file, reason: format!("in {}: {e}", dir.display()) })
        };
        Self::from_files(&read(LM_VOCAB_FILE)?, &read(LM_CARD_FILE)?, &read(LM_WEIGHTS_FILE)?, device)
    }
}

/// The classifier's head: concat pooling in, one logit (positive) out. The pooled
/// outputs are standardised first with a centre and scale fixed when training starts (the
/// labelled reviews' own), where fastai's head normalises each batch: the maximum and the
/// mean over a few hundred steps differ little from review to review, and a handful of
/// labels makes batches too small to normalise over.
#[derive(Module, Debug)]
pub struct PoolingHead {
    center: Param<Tensor<1>>,
    scale: Param<Tensor<1>>,
    hidden: Linear,
    output: Linear,
    dropout: Dropout,
}

impl PoolingHead {
    fn new(width: usize, config: &UlmfitConfig, device: &Device) -> Self {
        let fixed = |t: Tensor<1>| Param::from_tensor(t).set_require_grad(false);
        PoolingHead {
            center: fixed(Tensor::zeros([3 * width], device)),
            scale: fixed(Tensor::ones([3 * width], device)),
            hidden: LinearConfig::new(3 * width, config.head_width).init(device),
            output: LinearConfig::new(config.head_width, 1).init(device),
            dropout: DropoutConfig::new(config.head_dropout).init(),
        }
    }

    /// The head standardising with the mean and standard deviation of `pooled` `[n, 3·width]`.
    fn standardising(mut self, pooled: Tensor<2>) -> Self {
        let center = pooled.clone().mean_dim(0);
        // At least 0.1 (outputs lie in [-1, 1]): a dimension that hardly varies over the
        // labelled reviews (a maximum near saturation) must not turn dropout's or the tuned
        // layers' small changes into huge inputs.
        let scale = ((pooled - center.clone()).powi_scalar(2).mean_dim(0) + 0.01).sqrt();
        let fixed = |t: Tensor<2>| Param::from_tensor(t.squeeze_dim::<1>(0)).set_require_grad(false);
        self.center = fixed(center);
        self.scale = fixed(scale);
        self
    }

    /// Logits `[batch, 1]` for pooled outputs `[batch, 3·width]`.
    fn forward(&self, pooled: Tensor<2>) -> Tensor<2> {
        let standard = (pooled - self.center.val().unsqueeze_dim(0)) / self.scale.val().unsqueeze_dim(0);
        let hidden = relu(self.hidden.forward(self.dropout.forward(standard)));
        self.output.forward(self.dropout.forward(hidden))
    }
}

/// Concat pooling of outputs `[batch, time, width]` whose rows have `lengths` real
/// steps (padding after them): `[last, max, mean]`, `[batch, 3·width]`.
fn concat_pool(x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
    let [batch, time, width] = x.dims();
    let device = x.device();
    let mask = |keep: &dyn Fn(usize, usize) -> bool| {
        let values: Vec<f32> =
            lengths.iter().flat_map(|&n| (0..time).map(move |t| (n, t))).map(|(n, t)| f32::from(keep(n, t))).collect();
        Tensor::<3>::from_data(TensorData::new(values, [batch, time, 1]), &device)
    };
    let real = mask(&|n, t| t < n);
    let last = (x.clone() * mask(&|n, t| t + 1 == n)).sum_dim(1);
    // Padding far below any output, so that it is never the maximum.
    let max = (x.clone() + (real.clone() - 1.0) * 1e4).max_dim(1);
    let mean = (x * real.clone()).sum_dim(1) / real.sum_dim(1);
    Tensor::cat(vec![last, max, mean], 2).reshape([batch, 3 * width])
}

/// What the classifier's head reads of each review (word ids, up to `max_tokens`): the
/// last layer's outputs, concat-pooled, `[reviews, 3·width]`, all in one batch.
pub fn pooled_outputs(lm: &AwdLstm, reviews: &[&[u32]], max_tokens: usize) -> Tensor<2> {
    let (ids, lengths) = padded(reviews, max_tokens, &lm.device());
    concat_pool(lm.read_layers(lm.embed(ids), 0..lm.num_layers()), &lengths)
}

/// Reviews as word ids, cut to `max_tokens`, padded into one batch `[n, longest]`, and
/// their lengths.
fn padded(reviews: &[&[u32]], max_tokens: usize, device: &Device) -> (Tensor<2, Int>, Vec<usize>) {
    let lengths: Vec<usize> = reviews.iter().map(|r| r.len().clamp(1, max_tokens.max(1))).collect();
    let longest = lengths.iter().copied().max().unwrap_or(1);
    let ids: Vec<i64> = reviews
        .iter()
        .zip(&lengths)
        .flat_map(|(r, &n)| (0..longest).map(move |t| if t < n { r.get(t).map_or(0, |&i| i64::from(i)) } else { 0 }))
        .collect();
    (Tensor::from_data(TensorData::new(ids, [reviews.len(), longest]), device), lengths)
}

/// The fine-tuned language model (its decoder unused) and the head on it.
#[derive(Module, Debug)]
pub struct UlmfitClassifier {
    lm: AwdLstm,
    head: PoolingHead,
}

impl UlmfitClassifier {
    /// The probability that each review is positive, `[reviews, 1]`, read as one batch
    /// (left on the device: the page reads it back without blocking).
    pub fn positive_batch(&self, reviews: &[&[u32]], max_tokens: usize) -> Tensor<2> {
        sigmoid(self.head.forward(pooled_outputs(&self.lm, reviews, max_tokens)))
    }

    /// The probability that each review (word ids, read up to `max_tokens`) is positive;
    /// `batch` reviews of similar length at a time.
    pub fn positive(&self, reviews: &[Vec<u32>], max_tokens: usize, batch: usize) -> Vec<f32> {
        let mut order: Vec<usize> = (0..reviews.len()).collect();
        order.sort_by_key(|&i| reviews[i].len());
        let mut out = vec![0.0; reviews.len()];
        for part in order.chunks(batch.max(1)) {
            let rows: Vec<&[u32]> = part.iter().map(|&i| reviews[i].as_slice()).collect();
            let values =
                self.positive_batch(&rows, max_tokens).into_data().try_to_vec::<f32>().expect("f32 probabilities");
            for (&i, v) in part.iter().zip(values) {
                out[i] = v;
            }
        }
        out
    }
}

/// A labelled batch, and the frozen layers' output for it in the current stage.
struct Batch {
    ids: Tensor<2, Int>,
    lengths: Vec<usize>,
    targets: Tensor<2>,
    weights: Tensor<2>,
    frozen: Option<Tensor<3>>,
}

/// ULMFiT's classifier training, one step at a time ([`Stepwise`]).
pub struct UlmfitTrainer {
    config: UlmfitConfig,
    /// The language model as tuned to the domain; only `tuned` changes.
    lm: AwdLstm,
    /// Index of the first layer that will be unfrozen.
    first_tuned: usize,
    tuned: Vec<LstmLayer>,
    layer_optimizers: Vec<ModuleOptimizer>,
    head: PoolingHead,
    head_optimizer: ModuleOptimizer,
    batches: Vec<Batch>,
    stage_steps: usize,
    step: usize,
}

impl UlmfitTrainer {
    /// `reviews` as word ids with their labels (1 positive); `lm` tuned to the domain.
    pub fn new(
        lm: AwdLstm,
        reviews: &[(Vec<u32>, u8)],
        config: UlmfitConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let labels: Vec<u8> = reviews.iter().map(|(_, l)| *l).collect();
        let weights = class_weights(&labels)?;
        device.seed(config.seed);
        let training = device.clone().autodiff();
        let mut order: Vec<usize> = (0..reviews.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
        let batches: Vec<Batch> = order
            .chunks(config.batch_size.max(1))
            .map(|part| {
                let rows: Vec<&[u32]> = part.iter().map(|&i| reviews[i].0.as_slice()).collect();
                let (ids, lengths) = padded(&rows, config.max_tokens, device);
                let column =
                    |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, [part.len(), 1]), &training);
                Batch {
                    ids,
                    lengths,
                    targets: column(part.iter().map(|&i| f32::from(labels[i])).collect()),
                    weights: column(part.iter().map(|&i| weights[i]).collect()),
                    frozen: None,
                }
            })
            .collect();
        // The frozen layers' output is computed once, without dropout; the tuned layers
        // read it without dropout too, so that the head meets in later stages what it
        // was fitted on in the first (the head's own dropout regularises).
        let lm = lm.valid().without_dropout();
        let first_tuned = lm.num_layers() - config.unfreeze.min(lm.num_layers());
        let tuned: Vec<LstmLayer> = lm.top_layers(first_tuned).into_iter().map(Module::train).collect();
        let width = lm.embedding_width();
        let mut trainer = UlmfitTrainer {
            head: PoolingHead::new(width, &config, device),
            head_optimizer: adam(),
            layer_optimizers: tuned.iter().map(|_| adam()).collect(),
            stage_steps: batches.len().max(config.min_stage_steps).max(1),
            first_tuned,
            tuned,
            lm,
            batches,
            step: 0,
            config,
        };
        // The head's stage reads the whole stack frozen: its output also fixes the head's standardisation.
        trainer.freeze_below(trainer.lm.num_layers());
        let pooled: Vec<Tensor<2>> =
            trainer.batches.iter().map(|b| concat_pool(b.frozen.clone().expect("just computed"), &b.lengths)).collect();
        let head = trainer.head.clone().standardising(Tensor::cat(pooled, 0));
        trainer.head = head.fork(&training).train();
        Ok(trainer)
    }

    fn stage(&self) -> usize {
        self.step / self.stage_steps
    }

    /// Layers unfrozen in the current stage.
    fn unfrozen(&self) -> usize {
        self.stage().min(self.tuned.len())
    }

    /// Each batch's output of the layers below the unfrozen ones (untouched so far).
    fn freeze_below(&mut self, first_unfrozen: usize) {
        let lm = &self.lm;
        for batch in &mut self.batches {
            batch.frozen = Some(lm.read_layers(lm.embed(batch.ids.clone()), 0..first_unfrozen));
        }
    }

    /// The classifier trained so far, for inference.
    pub fn finish(self) -> UlmfitClassifier {
        let tuned = self.tuned.iter().map(Module::valid).collect();
        UlmfitClassifier { lm: self.lm.with_top_layers(self.first_tuned, tuned), head: self.head.valid() }
    }
}

impl Stepwise for UlmfitTrainer {
    /// One Adam step on one batch; the loss before it, on the device.
    fn step(&mut self) -> Tensor<1> {
        let (stage, unfrozen) = (self.stage(), self.unfrozen());
        let first_unfrozen = self.lm.num_layers() - unfrozen;
        let in_stage = self.step % self.stage_steps;
        if in_stage == 0 && self.step > 0 {
            self.freeze_below(first_unfrozen);
        }
        let batch = &self.batches[self.step % self.batches.len()];
        let mut x = batch.frozen.clone().expect("computed at the stage's start").autodiff();
        let split = self.tuned.len() - unfrozen;
        for (k, layer) in self.tuned[split..].iter().enumerate() {
            let state = layer.zero_state(x.dims()[0], &x.device());
            x = self.lm.read_layer(first_unfrozen + k, layer, x, state).0;
        }
        let logits = self.head.forward(concat_pool(x, &batch.lengths));
        let loss = weighted_cross_entropy(logits, batch.targets.clone(), batch.weights.clone());

        let mut grads = loss.backward();
        let factor = slanted_triangular(in_stage, self.stage_steps);
        let rate = if stage == 0 {
            self.config.head_learning_rate
        } else {
            self.config.learning_rate / 2f64.powi(stage as i32 - 1)
        } * factor;
        let head_grads = GradientsParams::from_module(&mut grads, &self.head);
        self.head = self.head_optimizer.step(rate, self.head.clone(), head_grads);
        step_layers(&mut self.tuned, &mut self.layer_optimizers, split, &mut grads, rate, self.config.layer_decay);
        self.step += 1;
        loss.detach()
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    /// The head's stage, then one per unfrozen layer.
    fn total_steps(&self) -> usize {
        (self.tuned.len() + 1) * self.stage_steps
    }
}

/// What a classifier file is: the first thing in its safetensors header.
pub const FORMAT: &str = "flicktune-ulmfit-classifier";
const VERSION: &str = "1";

/// A classifier file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum UlmfitFileError {
    #[error("it is not a ULMFiT classifier file ({0})")]
    NotUlmfit(String),
    #[error("it is a ULMFiT classifier file of version {0}; this flicktune reads version {VERSION}")]
    Version(String),
    #[error("its {0} is unreadable ({1}); train it again")]
    Damaged(&'static str, String),
}

/// A trained ULMFiT classifier with what reading a review needs: the vocabulary and how
/// many words are read. Written as one safetensors file (f16 weights; the settings and
/// the vocabulary in its header).
pub struct UlmfitFile {
    pub classifier: UlmfitClassifier,
    pub vocab: WordVocab,
    pub lm_config: AwdLstmConfig,
    pub config: UlmfitConfig,
}

impl UlmfitFile {
    /// The probability that each text is positive.
    pub fn positive(&self, texts: &[&str]) -> Vec<f32> {
        let reviews: Vec<Vec<u32>> = texts.iter().map(|t| self.vocab.encode(t)).collect();
        self.classifier.positive(&reviews, self.config.max_tokens, self.config.batch_size)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, UlmfitFileError> {
        let damaged = |e: &dyn std::fmt::Display| UlmfitFileError::Damaged("weights", e.to_string());
        let mut store = SafetensorsStore::from_bytes(None);
        self.classifier.save_into(&mut store).map_err(|e| damaged(&e))?;
        let f32_bytes = store.get_bytes().map_err(|e| damaged(&e))?;
        let json = |v: serde_json::Result<String>| v.map_err(|e| damaged(&e));
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
            ("language_model".to_string(), json(serde_json::to_string(&self.lm_config))?),
            ("classifier".to_string(), json(serde_json::to_string(&self.config))?),
            ("vocabulary".to_string(), json(serde_json::to_string(&self.vocab))?),
        ]);
        let tensors = float_tensors(&f32_bytes).map_err(|e| damaged(&e))?;
        float_safetensors_with(&tensors, safetensors::Dtype::F16, Some(metadata)).map_err(|e| damaged(&e))
    }

    /// Reads a file written by [`UlmfitFile::to_bytes`], its weights onto `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, UlmfitFileError> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| UlmfitFileError::NotUlmfit(format!("no safetensors header: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |key: &str| meta.get(key).map(String::as_str);
        if field("format") != Some(FORMAT) {
            return Err(UlmfitFileError::NotUlmfit(format!("its header names no {FORMAT}")));
        }
        if field("version") != Some(VERSION) {
            return Err(UlmfitFileError::Version(field("version").unwrap_or("none").to_string()));
        }
        fn parse<T: serde::de::DeserializeOwned>(text: Option<&str>, what: &'static str) -> Result<T, UlmfitFileError> {
            serde_json::from_str(text.unwrap_or("")).map_err(|e| UlmfitFileError::Damaged(what, e.to_string()))
        }
        let lm_config: AwdLstmConfig = parse(field("language_model"), "language model's settings")?;
        let config: UlmfitConfig = parse(field("classifier"), "classifier's settings")?;
        let vocab: WordVocab = parse(field("vocabulary"), "vocabulary")?;
        if vocab.len() != lm_config.vocab {
            return Err(UlmfitFileError::Damaged(
                "vocabulary",
                format!("{} words for a model of {}", vocab.len(), lm_config.vocab),
            ));
        }
        let empty = UlmfitClassifier {
            lm: lm_config.init(device),
            head: PoolingHead::new(lm_config.embedding, &config, device),
        };
        let weights = |e: &dyn std::fmt::Display| UlmfitFileError::Damaged("weights", e.to_string());
        let mut classifier = empty;
        let result = apply_safetensors(&mut classifier, bytes, None).map_err(|e| weights(&e))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(weights(&format!("missing {:?}, errors {:?}", result.missing, result.errors)));
        }
        Ok(UlmfitFile { classifier, vocab, lm_config, config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::awd_lstm::scalar;
    use crate::training::run_to_end;

    /// No dropout: the tests are of the mechanics, not of regularisation.
    fn small_lm(vocab: usize, device: &Device) -> AwdLstm {
        AwdLstmConfig::new(vocab)
            .with_embedding(8)
            .with_hidden(12)
            .with_layers(2)
            .with_embedding_dropout(0.0)
            .with_input_dropout(0.0)
            .with_hidden_dropout(0.0)
            .with_output_dropout(0.0)
            .with_weight_dropout(0.0)
            .init(device)
    }

    #[test]
    fn concat_pooling_reads_only_each_reviews_own_steps() {
        let device = Device::flex();
        // Two rows of three steps, width 1: the second row's last step is padding.
        let x = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 5.0, 3.0, 2.0, -4.0, 9.0], [2, 3, 1]), &device);
        let pooled = concat_pool(x, &[3, 2]).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![3.0, 5.0, 3.0, -4.0, 2.0, -1.0], "[last, max, mean] per row");
    }

    /// Reviews of words 2..6 are positive, of 6..10 negative.
    fn toy_reviews(n: usize) -> Vec<(Vec<u32>, u8)> {
        (0..n)
            .map(|i| {
                let label = (i % 2) as u8;
                let base = if label == 1 { 2 } else { 6 };
                let len = 3 + i % 4;
                ((0..len).map(|k| base + ((i + k) % 4) as u32).chain([1]).collect(), label)
            })
            .collect()
    }

    #[test]
    fn training_unfreezes_from_the_top_and_learns_a_separable_task() {
        let device = Device::flex();
        // Tests run side by side and seed the same device: any seed must do (twelve were tried).
        device.seed(1);
        let lm = small_lm(10, &device);
        let config =
            UlmfitConfig::new().with_unfreeze(1).with_batch_size(8).with_min_stage_steps(150).with_head_dropout(0.0);
        let reviews = toy_reviews(16);
        let mut trainer = UlmfitTrainer::new(lm.clone(), &reviews, config, &device).unwrap();
        assert_eq!(trainer.total_steps(), 300, "the head's stage and one for the top layer");
        let mut losses = Vec::new();
        while !trainer.is_done() {
            losses.push(scalar(trainer.step()));
        }
        let late = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
        assert!(late < 0.25 * losses[0], "the loss falls: {} → {late}", losses[0]);
        let classifier = trainer.finish();
        let ids: Vec<Vec<u32>> = reviews.iter().map(|(r, _)| r.clone()).collect();
        let p = classifier.positive(&ids, 400, 5);
        let right = p.iter().zip(&reviews).filter(|(p, (_, l))| (**p > 0.5) == (*l == 1)).count();
        assert_eq!(right, reviews.len(), "{p:?}");
        // Gradual unfreezing reached the top layer only: the one below is as it was.
        let probe = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 7, 2], [1, 3]), &device);
        let below = |m: &AwdLstm| m.read_layers(m.embed(probe.clone()), 0..1).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(below(&lm), below(&classifier.lm));
        let top = |m: &AwdLstm| m.read_layers(m.embed(probe.clone()), 0..2).into_data().try_to_vec::<f32>().unwrap();
        assert_ne!(top(&lm), top(&classifier.lm));
    }

    #[test]
    fn one_class_is_refused() {
        let device = Device::flex();
        let reviews: Vec<(Vec<u32>, u8)> = vec![(vec![2, 3, 1], 1), (vec![4, 1], 1)];
        assert!(matches!(
            UlmfitTrainer::new(small_lm(10, &device), &reviews, UlmfitConfig::new(), &device),
            Err(TrainError::OneClass { .. })
        ));
    }

    #[test]
    fn the_file_round_trips_and_foreign_or_damaged_files_are_refused() {
        let device = Device::flex();
        device.seed(2);
        let vocab = WordVocab::build(["good fine great bad awful poor"], 10);
        let lm_config = AwdLstmConfig::new(vocab.len()).with_embedding(8).with_hidden(12).with_layers(2);
        let config = UlmfitConfig::new().with_min_stage_steps(2);
        let reviews: Vec<(Vec<u32>, u8)> =
            vec![(vocab.encode("good great"), 1), (vocab.encode("awful poor"), 0), (vocab.encode("fine"), 1)];
        let mut trainer = UlmfitTrainer::new(lm_config.init(&device), &reviews, config.clone(), &device).unwrap();
        run_to_end(&mut trainer);
        let file = UlmfitFile { classifier: trainer.finish(), vocab, lm_config, config };
        let bytes = file.to_bytes().unwrap();
        let read = UlmfitFile::from_bytes(&bytes, &device).unwrap();
        let texts = ["good, great", "awful and poor", ""];
        for (a, b) in file.positive(&texts).iter().zip(read.positive(&texts)) {
            assert!((a - b).abs() < 1e-2, "f16 weights stay close: {a} vs {b}");
        }
        assert!(matches!(UlmfitFile::from_bytes(b"{\"format\": 1}", &device), Err(UlmfitFileError::NotUlmfit(_))));
        assert!(UlmfitFile::from_bytes(&bytes[..bytes.len() - 10], &device).is_err(), "a truncated file");
    }
}
