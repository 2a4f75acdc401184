//! Adapting the encoder to review text without labels: masked-language-model training on
//! unlabelled reviews (BERT's objective; ULMFiT's second step, "fine-tune the language
//! model on the target task's text").
//!
//! The MiniLM checkpoints ship without a masked-LM head, so a new one learns beside the
//! encoder: dense + GELU + LayerNorm, then the word-embedding table itself as the output
//! layer (tied, so the 30k-word output adds only a bias). The embeddings stay fixed, which
//! keeps both every token's input vector and the tied output meaning what they meant;
//! the transformer layers and the head learn (the new head ten times faster), on the
//! slanted triangular schedule the fine-tuner uses. Only the masked positions reach the
//! output layer, so a step costs one forward and backward pass of the encoder plus ~15%
//! of the tokens times the vocabulary.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::encoders::bert::BertModel;
use crate::features::padded_batch;
use crate::tokens::{TextTokenizer, TokenizeError};
use crate::training::{Stepwise, adam, slanted_triangular};

#[derive(Config, Debug, PartialEq)]
pub struct AdaptConfig {
    /// Optimiser steps (batches of windows) in the whole run; 800 is the measured run
    /// (docs/few-shot.md).
    #[config(default = 800)]
    pub steps: usize,
    #[config(default = 16)]
    pub batch_size: usize,
    /// Tokens per window, `[CLS]` and `[SEP]` included.
    #[config(default = 128)]
    pub max_tokens: usize,
    /// Peak learning rate of the encoder's layers.
    #[config(default = 1e-4)]
    pub learning_rate: f64,
    /// Peak learning rate of the new head: higher, so it catches up with the pretrained
    /// layers before its gradients move them far.
    #[config(default = 1e-3)]
    pub head_learning_rate: f64,
    /// Share of each window's tokens the model must predict (BERT's 15%).
    #[config(default = 0.15)]
    pub mask_share: f64,
    /// Orders the windows, picks the masked tokens, and seeds the device's generator (the
    /// new head's initial weights, dropout).
    #[config(default = 0)]
    pub seed: u64,
}

/// Predicts a hidden token's id from its final hidden state.
#[derive(Module, Debug)]
pub struct MaskedLmHead {
    dense: Linear,
    activation: Gelu,
    norm: LayerNorm,
    /// One bias per vocabulary entry; the output weights are the word embeddings.
    output_bias: Param<Tensor<1>>,
}

impl MaskedLmHead {
    pub fn new(hidden: usize, vocab: usize, device: &Device) -> Self {
        MaskedLmHead {
            dense: LinearConfig::new(hidden, hidden).init(device),
            activation: Gelu::new(),
            norm: LayerNormConfig::new(hidden).with_epsilon(1e-12).init(device),
            output_bias: Param::from_tensor(Tensor::zeros([vocab], device)),
        }
    }

    /// Vocabulary logits `[m, vocab]` for hidden states `[m, hidden]`, with the word
    /// embeddings `[vocab, hidden]` as the output layer.
    pub fn forward(&self, hidden: Tensor<2>, word_embeddings: Tensor<2>) -> Tensor<2> {
        let x = self.norm.forward(self.activation.forward(self.dense.forward(hidden)));
        x.matmul(word_embeddings.transpose()) + self.output_bias.val().unsqueeze_dim(0)
    }
}

/// A window with some tokens hidden: what the model reads, and what it must predict.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedWindow {
    pub ids: Vec<u32>,
    /// `(position, original token)` for every chosen position.
    pub targets: Vec<(usize, u32)>,
}

/// BERT's masking of one `[CLS] … [SEP]` window: each content token is chosen with
/// probability `share` (at least one per window); a chosen token becomes `[MASK]` 80% of
/// the time, a token drawn from `replacements` 10%, and stays itself 10%. `[CLS]` and
/// `[SEP]` (the first and last ids) are never chosen.
pub fn mask_window(window: &[u32], mask_id: u32, share: f64, replacements: &[u32], rng: &mut impl Rng) -> MaskedWindow {
    let mut ids = window.to_vec();
    let content = 1..window.len().saturating_sub(1);
    let mut chosen: Vec<usize> = content.clone().filter(|_| rng.random_bool(share)).collect();
    if chosen.is_empty() && !content.is_empty() {
        chosen.push(rng.random_range(content));
    }
    let targets = chosen.iter().map(|&p| (p, window[p])).collect();
    for p in chosen {
        let roll: f64 = rng.random();
        if roll < 0.8 {
            ids[p] = mask_id;
        } else if roll < 0.9 && !replacements.is_empty() {
            ids[p] = replacements[rng.random_range(0..replacements.len())];
        }
    }
    MaskedWindow { ids, targets }
}

/// Cuts texts into `[CLS] … [SEP]` windows of at most `max_tokens`, all of each text (a
/// last piece shorter than a quarter window is dropped: mostly padding, little to learn).
pub fn windows(tokenizer: &TextTokenizer, texts: &[&str], max_tokens: usize) -> Result<Vec<Vec<u32>>, TokenizeError> {
    let room = max_tokens.saturating_sub(2).max(1);
    let mut out = Vec::new();
    for text in texts {
        let content = tokenizer.content_ids(text)?;
        out.extend(
            content.chunks(room).filter(|c| c.len() >= room / 4 || c.len() == content.len()).map(|c| tokenizer.wrap(c)),
        );
    }
    Ok(out)
}

/// Whether adaptation changes the tensor of this name (in [`BertModel::to_safetensors`]'s
/// naming): everything but the embeddings, which it keeps fixed. Shipping only these keeps
/// the adapted model's own file small; the rest is the encoder it started from.
pub fn is_adapted(tensor: &str) -> bool {
    !tensor.starts_with("embeddings.")
}

/// Masked-LM training of an encoder, one batch per [`Adapter::step`].
pub struct Adapter {
    config: AdaptConfig,
    encoder: BertModel,
    head: MaskedLmHead,
    encoder_optimizer: ModuleOptimizer,
    head_optimizer: ModuleOptimizer,
    loss: CrossEntropyLoss,
    windows: Vec<Vec<u32>>,
    mask_id: u32,
    pad_id: u32,
    rng: ChaCha8Rng,
    step: usize,
    device: Device,
}

#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    #[error("the tokenizer has no [MASK] token; masked-LM training needs a BERT tokenizer")]
    NoMaskToken,
    #[error("no text to adapt on")]
    NoText,
}

impl Adapter {
    /// `windows` (from [`windows`]) are shuffled once with the config's seed and read in
    /// order, round and round, `batch_size` per step.
    pub fn new(
        encoder: &BertModel,
        tokenizer: &TextTokenizer,
        mut windows: Vec<Vec<u32>>,
        config: AdaptConfig,
        device: &Device,
    ) -> Result<Self, AdaptError> {
        let mask_id = tokenizer.token_id("[MASK]").ok_or(AdaptError::NoMaskToken)?;
        if windows.is_empty() {
            return Err(AdaptError::NoText);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        windows.shuffle(&mut rng);
        // The head's initial weights and dropout come from the backend's generator, which
        // is seeded from the OS unless told otherwise.
        device.seed(config.seed);
        let [vocab, hidden] = encoder.word_embeddings().dims();
        Ok(Adapter {
            encoder: encoder.clone().with_frozen_embeddings().train(),
            head: MaskedLmHead::new(hidden, vocab, device).train(),
            encoder_optimizer: adam(),
            head_optimizer: adam(),
            loss: CrossEntropyLossConfig::new().init(device),
            windows,
            mask_id,
            pad_id: tokenizer.pad_id(),
            rng,
            step: 0,
            device: device.clone(),
            config,
        })
    }

    /// The adapted encoder, ready for inference (the masked-LM head is dropped: only the
    /// encoder's features are used downstream).
    pub fn finish(self) -> BertModel {
        self.encoder.valid()
    }
}

impl Stepwise for Adapter {
    /// One Adam step on the next batch. Returns the mean cross-entropy of its masked
    /// tokens, on the device (read it only to show it).
    fn step(&mut self) -> Tensor<1> {
        let size = self.config.batch_size.max(1);
        let batch: Vec<MaskedWindow> = (0..size)
            .map(|i| {
                let window = &self.windows[(self.step * size + i) % self.windows.len()];
                // Random replacements come from the window itself: real tokens, in proportion.
                let content = &window[1..window.len().saturating_sub(1).max(1)];
                mask_window(window, self.mask_id, self.config.mask_share, content, &mut self.rng)
            })
            .collect();
        let ids: Vec<&[u32]> = batch.iter().map(|m| m.ids.as_slice()).collect();
        let input = padded_batch(&ids, self.pad_id, &self.device);
        let hidden = self.encoder.forward(input);
        let [b, s, h] = hidden.dims();
        let (positions, targets): (Vec<i64>, Vec<i64>) = batch
            .iter()
            .enumerate()
            .flat_map(|(row, m)| m.targets.iter().map(move |&(p, id)| ((row * s + p) as i64, i64::from(id))))
            .unzip();
        let m = positions.len();
        let chosen = hidden
            .reshape([b * s, h])
            .select(0, Tensor::<1, Int>::from_data(TensorData::new(positions, [m]), &self.device));
        let logits = self.head.forward(chosen, self.encoder.word_embeddings());
        let loss = self.loss.forward(logits, Tensor::<1, Int>::from_data(TensorData::new(targets, [m]), &self.device));

        let mut grads = loss.backward();
        let factor = slanted_triangular(self.step, self.config.steps);
        let head_grads = GradientsParams::from_module(&mut grads, &self.head);
        self.head = self.head_optimizer.step(self.config.head_learning_rate * factor, self.head.clone(), head_grads);
        let encoder_grads = GradientsParams::from_module(&mut grads, &self.encoder);
        self.encoder =
            self.encoder_optimizer.step(self.config.learning_rate * factor, self.encoder.clone(), encoder_grads);
        self.step += 1;
        loss.detach()
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    fn total_steps(&self) -> usize {
        self.config.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_spares_the_ends_hides_about_the_share_and_remembers_the_originals() {
        let window: Vec<u32> = std::iter::once(101).chain(1000..1400).chain(std::iter::once(102)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let masked = mask_window(&window, 103, 0.15, &[5], &mut rng);
        assert_eq!((masked.ids[0], *masked.ids.last().unwrap()), (101, 102));
        let share = masked.targets.len() as f64 / 400.0;
        assert!((0.10..0.20).contains(&share), "{share}");
        for &(p, original) in &masked.targets {
            assert_eq!(original, window[p]);
            assert!(p > 0 && p < window.len() - 1);
        }
        let hidden = masked.targets.iter().filter(|&&(p, _)| masked.ids[p] == 103).count() as f64;
        assert!(hidden / masked.targets.len() as f64 > 0.6, "most chosen tokens become [MASK]");
        let untouched: Vec<usize> = (0..window.len()).filter(|p| !masked.targets.iter().any(|t| t.0 == *p)).collect();
        assert!(untouched.iter().all(|&p| masked.ids[p] == window[p]), "tokens not chosen are left as they were");
        // A short window still gets one target; the same seed masks the same way.
        let short = mask_window(&[101, 2000, 102], 103, 0.15, &[], &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(short.targets, vec![(1, 2000)]);
        assert_eq!(mask_window(&window, 103, 0.15, &[5], &mut ChaCha8Rng::seed_from_u64(7)), masked);
    }

    fn tiny() -> BertModel {
        crate::encoders::bert::BertConfig::new(40, 8, 2, 2, 16, 32, 2)
            .with_hidden_dropout_prob(0.0)
            .with_attention_probs_dropout_prob(0.0)
            .init(&Device::flex())
    }

    #[test]
    fn the_weights_round_trip_through_safetensors() {
        let encoder = tiny();
        let device = Device::flex();
        let bytes = encoder.to_safetensors().unwrap();
        let loaded = crate::encoders::bert::BertConfig::new(40, 8, 2, 2, 16, 32, 2)
            .init(&device)
            .load_safetensors(&bytes)
            .unwrap();
        let input = padded_batch(&[&[1, 12, 25, 2]], 0, &device);
        let (a, b) = (encoder.forward(input.clone()).into_data(), loaded.forward(input).into_data());
        a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::absolute(1e-6));
    }

    /// Windows where token 10 + k is always followed by 20 + k: a model that reads the
    /// context can predict a masked token exactly.
    #[test]
    fn masked_lm_training_lowers_the_loss_and_leaves_the_embeddings_alone() {
        let windows: Vec<Vec<u32>> = (0..64)
            .map(|i| {
                let k = i % 8;
                vec![1, 10 + k, 20 + k, 10 + (k + 1) % 8, 20 + (k + 1) % 8, 2]
            })
            .collect();
        let tokenizer_json = tiny_tokenizer();
        let format = crate::tokens::SequenceFormat { window: 16, prefix: "" };
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json.as_bytes(), 0, format).unwrap();
        let encoder = tiny();
        let config = AdaptConfig::new()
            .with_steps(600)
            .with_batch_size(16)
            .with_learning_rate(1e-2)
            .with_head_learning_rate(1e-2)
            .with_mask_share(0.3);
        let mut adapter = Adapter::new(&encoder, &tokenizer, windows, config, &Device::flex()).unwrap();
        let mut losses = Vec::new();
        while !adapter.is_done() {
            losses.push(pollster::block_on(crate::training::read_loss(adapter.step())).unwrap());
        }
        let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len() as f32;
        // Enough steps that the fall does not hang on the random start (the tests share
        // the device's generator, so the tiny model's first weights differ run to run).
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        assert!(last < 0.6 * first, "{losses:?}");
        assert!(last < 0.5 * 40f32.ln(), "well below guessing among the 40 tokens: {losses:?}");
        let adapted = adapter.finish();
        let table = |m: &BertModel| m.word_embeddings().into_data();
        assert_eq!(table(&adapted), table(&encoder), "the embeddings are fixed");
        let input = padded_batch(&[&[1, 12, 25, 2]], 0, &Device::flex());
        assert_ne!(
            adapted.forward(input.clone()).into_data(),
            encoder.forward(input).into_data(),
            "the layers learned"
        );
    }

    /// A WordPiece tokenizer over a 40-token vocabulary with the special tokens BERT has.
    fn tiny_tokenizer() -> String {
        let mut vocab: Vec<String> =
            vec!["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"].into_iter().map(String::from).collect();
        vocab.extend((vocab.len()..40).map(|i| format!("w{i}")));
        let entries: Vec<String> = vocab.iter().enumerate().map(|(i, t)| format!("\"{t}\": {i}")).collect();
        format!(
            r###"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {{"type": "Whitespace"}}, "decoder": null,
            "post_processor": {{"type": "TemplateProcessing", "single": [{{"SpecialToken": {{"id": "[CLS]", "type_id": 0}}}},
                {{"Sequence": {{"id": "A", "type_id": 0}}}}, {{"SpecialToken": {{"id": "[SEP]", "type_id": 0}}}}], "pair": [],
                "special_tokens": {{"[CLS]": {{"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}}, "[SEP]": {{"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}}}}},
            "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": {{{}}}}}}}"###,
            entries.join(", ")
        )
    }
}
