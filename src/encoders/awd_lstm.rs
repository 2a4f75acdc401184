//! ULMFiT's language model: an AWD-LSTM (Merity, Keskar & Socher, 2017), one file with its
//! config beside it, as `bert.rs` is BERT's. Token ids → an embedding table → stacked
//! LSTM layers → the embedding table again as the decoder (tied weights, plus a bias), so
//! the last layer is as wide as the embedding.
//!
//! Each layer is a cell of its own rather than `burn::nn::Lstm`: DropConnect needs one mask
//! per batch laid on the hidden-to-hidden weights themselves (a mask through a `Param`
//! would be redrawn at every step, and putting a masked tensor into a `Param` cuts its
//! gradient), and the input's share of the gates is one matmul over every timestep, not
//! one per step. The regularisation, only while training (on a device that records
//! gradients, as `burn::nn::Dropout` decides):
//! - embedding dropout: whole words dropped from the embedding table, once per batch;
//! - locked (variational) dropout: one mask per sequence, the same at every timestep, on
//!   the embeddings, between layers and on the last layer's output;
//! - weight dropout (DropConnect) on each layer's hidden-to-hidden weights.
//!
//! [`LmTrainer`] trains it on a token stream with truncated backpropagation through time
//! (the state carried from batch to batch, detached), Adam on the slanted triangular
//! schedule every trainer here uses, and optionally a sampled softmax: the loss over the batch's
//! targets and a shared set of uniformly drawn negatives instead of the whole vocabulary,
//! which is most of a small model's work. Evaluation ([`perplexity`]) uses the full softmax.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, grad_clipping::GradientClippingConfig};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::encoders::weights::apply_safetensors;
use crate::training::{Stepwise, slanted_triangular};

#[derive(Config, Debug, PartialEq)]
pub struct AwdLstmConfig {
    /// Rows of the embedding table, and of the tied decoder.
    pub vocab: usize,
    #[config(default = 256)]
    pub embedding: usize,
    #[config(default = 512)]
    pub hidden: usize,
    #[config(default = 3)]
    pub layers: usize,
    /// The dropouts, fastai's AWD-LSTM defaults (the paper's are for a model four times
    /// wider on Penn Treebank): words from the table, then locked dropout on the
    /// embeddings, between layers and on the output, then DropConnect.
    #[config(default = 0.02)]
    pub embedding_dropout: f64,
    #[config(default = 0.25)]
    pub input_dropout: f64,
    #[config(default = 0.15)]
    pub hidden_dropout: f64,
    #[config(default = 0.1)]
    pub output_dropout: f64,
    #[config(default = 0.2)]
    pub weight_dropout: f64,
}

impl AwdLstmConfig {
    pub fn init(&self, device: &Device) -> AwdLstm {
        let layers = (0..self.layers)
            .map(|i| {
                let input = if i == 0 { self.embedding } else { self.hidden };
                let output = if i + 1 == self.layers { self.embedding } else { self.hidden };
                LstmLayer::new(input, output, device)
            })
            .collect();
        AwdLstm {
            embedding: Initializer::Uniform { min: -0.1, max: 0.1 }.init([self.vocab, self.embedding], device),
            layers,
            decoder_bias: Param::from_tensor(Tensor::zeros([self.vocab], device)),
            embedding_dropout: self.embedding_dropout,
            input_dropout: self.input_dropout,
            hidden_dropout: self.hidden_dropout,
            output_dropout: self.output_dropout,
            weight_dropout: self.weight_dropout,
        }
    }
}

/// One LSTM layer: the gates (input, forget, cell, output) side by side in each matrix.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// `[input, 4·width]`: the input's share of the gates.
    input_weights: Param<Tensor<2>>,
    /// `[width, 4·width]`: the previous hidden state's share; DropConnect masks it.
    hidden_weights: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
}

/// A layer's hidden and cell state, `[batch, width]` each.
#[derive(Debug, Clone)]
pub struct LayerState {
    pub hidden: Tensor<2>,
    pub cell: Tensor<2>,
}

impl LstmLayer {
    fn new(input: usize, width: usize, device: &Device) -> Self {
        // PyTorch's LSTM initialisation, which the AWD-LSTM was tuned with.
        let bound = 1.0 / (width as f64).sqrt();
        let init = Initializer::Uniform { min: -bound, max: bound };
        LstmLayer {
            input_weights: init.init([input, 4 * width], device),
            hidden_weights: init.init([width, 4 * width], device),
            bias: init.init([4 * width], device),
        }
    }

    fn width(&self) -> usize {
        self.hidden_weights.dims()[0]
    }

    pub(crate) fn zero_state(&self, batch: usize, device: &Device) -> LayerState {
        LayerState {
            hidden: Tensor::zeros([batch, self.width()], device),
            cell: Tensor::zeros([batch, self.width()], device),
        }
    }

    /// Every timestep's hidden state `[batch, time, width]` for `x` `[batch, time, input]`,
    /// and the state after the last step.
    fn forward(&self, x: Tensor<3>, state: LayerState, weight_dropout: f64) -> (Tensor<3>, LayerState) {
        let [batch, time, input] = x.dims();
        let width = self.width();
        let from_input = (x.reshape([batch * time, input]).matmul(self.input_weights.val())
            + self.bias.val().unsqueeze_dim(0))
        .reshape([batch, time, 4 * width]);
        let recurrent = dropout_where_training(self.hidden_weights.val(), weight_dropout, None);
        let LayerState { mut hidden, mut cell } = state;
        let mut outputs = Vec::with_capacity(time);
        for t in 0..time {
            let gates =
                from_input.clone().narrow(1, t, 1).reshape([batch, 4 * width]) + hidden.matmul(recurrent.clone());
            let [input_gate, forget_gate, candidate, output_gate] =
                <[Tensor<2>; 4]>::try_from(gates.chunk(4, 1)).expect("four gates");
            cell = sigmoid(forget_gate) * cell + sigmoid(input_gate) * tanh(candidate);
            hidden = sigmoid(output_gate) * tanh(cell.clone());
            outputs.push(hidden.clone());
        }
        (Tensor::stack(outputs, 1), LayerState { hidden, cell })
    }
}

/// The language model. Its state between calls is one [`LayerState`] per layer.
#[derive(Module, Debug)]
pub struct AwdLstm {
    /// `[vocab, embedding]`: the input table and, transposed, the decoder.
    embedding: Param<Tensor<2>>,
    layers: Vec<LstmLayer>,
    decoder_bias: Param<Tensor<1>>,
    embedding_dropout: f64,
    input_dropout: f64,
    hidden_dropout: f64,
    output_dropout: f64,
    weight_dropout: f64,
}

impl AwdLstm {
    /// Where its weights are.
    pub fn device(&self) -> Device {
        self.embedding.val().device()
    }

    pub fn vocab(&self) -> usize {
        self.embedding.dims()[0]
    }

    /// Zeros for every layer, for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> Vec<LayerState> {
        self.layers.iter().map(|l| l.zero_state(batch, device)).collect()
    }

    /// The last layer's output `[batch, time, embedding]` for `ids` `[batch, time]`, read on
    /// from `state` (zeros when `None`), and the state after the last token.
    pub fn forward(&self, ids: Tensor<2, Int>, state: Option<Vec<LayerState>>) -> (Tensor<3>, Vec<LayerState>) {
        let mut x = self.embed(ids);
        let state = state.unwrap_or_else(|| self.zero_state(x.dims()[0], &x.device()));
        let mut after = Vec::with_capacity(self.layers.len());
        for (i, (layer, state)) in self.layers.iter().zip(state).enumerate() {
            let (out, state) = self.read_layer(i, layer, x, state);
            after.push(state);
            x = out;
        }
        (x, after)
    }

    /// The embeddings `[batch, time, embedding]` of `ids`, with embedding dropout (whole
    /// words, a mask over the table's rows for the whole batch) and locked dropout while training.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, time] = ids.dims();
        let table = self.embedding.val();
        let width = table.dims()[1];
        let table = dropout_where_training(table, self.embedding_dropout, Some([self.vocab(), 1]));
        locked_dropout(table.select(0, ids.reshape([batch * time])).reshape([batch, time, width]), self.input_dropout)
    }

    /// `x` read through `layer` standing as layer `i` of this model, from `state`, with the
    /// dropouts that place gets while training; and the state after the last step. A
    /// classifier's trainer passes its own copy of a layer it is tuning.
    pub(crate) fn read_layer(
        &self,
        i: usize,
        layer: &LstmLayer,
        x: Tensor<3>,
        state: LayerState,
    ) -> (Tensor<3>, LayerState) {
        let (out, state) = layer.forward(x, state, self.weight_dropout);
        let p = if i + 1 == self.layers.len() { self.output_dropout } else { self.hidden_dropout };
        (locked_dropout(out, p), state)
    }

    /// `x` read through layers `range` from zero states.
    pub(crate) fn read_layers(&self, x: Tensor<3>, range: std::ops::Range<usize>) -> Tensor<3> {
        let (batch, device) = (x.dims()[0], x.device());
        range.fold(x, |x, i| {
            let layer = &self.layers[i];
            self.read_layer(i, layer, x, layer.zero_state(batch, &device)).0
        })
    }

    /// This model without its dropouts (a classifier's tuned layers read as at inference,
    /// like the frozen ones below them).
    pub fn without_dropout(mut self) -> Self {
        self.embedding_dropout = 0.0;
        self.input_dropout = 0.0;
        self.hidden_dropout = 0.0;
        self.output_dropout = 0.0;
        self.weight_dropout = 0.0;
        self
    }

    /// Width of the embedding, and of the last layer's output.
    pub fn embedding_width(&self) -> usize {
        self.embedding.dims()[1]
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The layers from `first` to the top.
    pub(crate) fn top_layers(&self, first: usize) -> Vec<LstmLayer> {
        self.layers[first..].to_vec()
    }

    /// This model with the layers from `first` up replaced by `layers`.
    pub(crate) fn with_top_layers(mut self, first: usize, layers: Vec<LstmLayer>) -> Self {
        self.layers.truncate(first);
        self.layers.extend(layers);
        self
    }

    /// Vocabulary logits `[n, vocab]` for outputs `[n, embedding]`: the tied decoder.
    pub fn logits(&self, output: Tensor<2>) -> Tensor<2> {
        output.matmul(self.embedding.val().transpose()) + self.decoder_bias.val().unsqueeze_dim(0)
    }

    /// Mean cross-entropy of `targets` given outputs `[n, embedding]`, over the whole vocabulary.
    pub fn loss(&self, output: Tensor<2>, targets: &[u32]) -> Tensor<1> {
        let device = output.device();
        CrossEntropyLossConfig::new().init(&device).forward(self.logits(output), ids_tensor(targets, &device))
    }

    /// The same over the targets and `negatives` only (a sampled softmax): the decoder
    /// reads those rows of the table alone. With uniformly drawn negatives it estimates
    /// [`AwdLstm::loss`] for training; with the whole vocabulary as negatives it is that loss.
    pub fn sampled_loss(&self, output: Tensor<2>, targets: &[u32], negatives: &[u32]) -> Tensor<1> {
        let device = output.device();
        let mut candidates: Vec<u32> = targets.iter().chain(negatives).copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        let rows = ids_tensor(&candidates, &device);
        let weights = self.embedding.val().select(0, rows.clone());
        let bias = self.decoder_bias.val().select(0, rows);
        let logits = output.matmul(weights.transpose()) + bias.unsqueeze_dim(0);
        let positions: Vec<u32> =
            targets.iter().map(|t| candidates.binary_search(t).expect("every target is a candidate") as u32).collect();
        CrossEntropyLossConfig::new().init(&device).forward(logits, ids_tensor(&positions, &device))
    }
}

/// A language-model weights file that does not fit the model it is read into.
#[derive(Debug, thiserror::Error)]
#[error("the language model's weights do not match its config: {0}")]
pub struct LmWeightsError(String);

impl AwdLstm {
    /// The weights as safetensors bytes (f32), under this file's module names.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, LmWeightsError> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.save_into(&mut store).map_err(|e| LmWeightsError(e.to_string()))?;
        store.get_bytes().map_err(|e| LmWeightsError(e.to_string()))
    }

    /// Reads weights written by [`AwdLstm::to_safetensors`], in f32 or f16, into this
    /// model (made from the same config); every tensor must be there, in its shape.
    pub fn load_safetensors(mut self, bytes: &[u8]) -> Result<Self, LmWeightsError> {
        let result = apply_safetensors(&mut self, bytes, None).map_err(LmWeightsError)?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
            return Err(LmWeightsError(format!("missing [{}]; errors: {:?}", missing.join(", "), result.errors)));
        }
        Ok(self)
    }
}

/// `x` with entries dropped (and the kept ones scaled by `1 / (1 − p)`) while training;
/// `mask_shape` (broadcast over `x`) drops whole rows or columns at once.
fn dropout_where_training<const D: usize>(x: Tensor<D>, p: f64, mask_shape: Option<[usize; D]>) -> Tensor<D> {
    if p == 0.0 || !x.device().is_autodiff() {
        return x;
    }
    let shape = mask_shape.unwrap_or(x.dims());
    let mask = Tensor::<D>::random(shape, Distribution::Bernoulli(1.0 - p), &x.device());
    x * mask * (1.0 / (1.0 - p))
}

/// Locked dropout on `[batch, time, width]`: one mask per sequence, the same at every step.
fn locked_dropout(x: Tensor<3>, p: f64) -> Tensor<3> {
    let [batch, _, width] = x.dims();
    dropout_where_training(x, p, Some([batch, 1, width]))
}

/// A one-element tensor's value, read from the device.
pub fn scalar(tensor: Tensor<1>) -> f32 {
    tensor.into_data().try_to_vec::<f32>().expect("an f32 tensor")[0]
}

fn ids_tensor(ids: &[u32], device: &Device) -> Tensor<1, Int> {
    let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let n = ids.len();
    Tensor::from_data(TensorData::new(ids, [n]), device)
}

/// A token stream cut into `batch` parallel streams, read `bptt` tokens at a time: the
/// layout truncated backpropagation through time reads (each stream continues where its
/// previous window stopped, so the carried state matches the text).
pub fn batchify(stream: &[u32], batch: usize) -> Vec<Vec<u32>> {
    let per = stream.len() / batch.max(1);
    (0..batch.max(1)).map(|b| stream[b * per..(b + 1) * per].to_vec()).collect()
}

/// The inputs `[batch, len]` and next-token targets (flattened row by row) of the window
/// of `streams` starting at `start`, `None` past the end.
fn window(streams: &[Vec<u32>], start: usize, bptt: usize, device: &Device) -> Option<(Tensor<2, Int>, Vec<u32>)> {
    let length = streams[0].len();
    if start + 1 >= length {
        return None;
    }
    let len = bptt.min(length - 1 - start);
    let inputs: Vec<i64> = streams.iter().flat_map(|s| s[start..start + len].iter().map(|&i| i64::from(i))).collect();
    let targets = streams.iter().flat_map(|s| s[start + 1..start + 1 + len].iter().copied()).collect();
    Some((Tensor::from_data(TensorData::new(inputs, [streams.len(), len]), device), targets))
}

/// Perplexity of `model` on `stream` (full softmax, no dropout): `exp` of the mean
/// cross-entropy of every next token, read in `batch` streams `bptt` tokens at a time.
pub fn perplexity(model: &AwdLstm, stream: &[u32], batch: usize, bptt: usize, device: &Device) -> f64 {
    let streams = batchify(stream, batch);
    let (mut total, mut count, mut start) = (0.0f64, 0usize, 0usize);
    let mut state = None;
    while let Some((inputs, targets)) = window(&streams, start, bptt, device) {
        let [b, len] = inputs.dims();
        let (output, next) = model.forward(inputs, state);
        let width = output.dims()[2];
        let loss = f64::from(scalar(model.loss(output.reshape([b * len, width]), &targets)));
        total += loss * targets.len() as f64;
        count += targets.len();
        state = Some(next);
        start += len;
    }
    (total / count.max(1) as f64).exp()
}

#[derive(Config, Debug, PartialEq)]
pub struct LmTrainingConfig {
    /// Optimiser steps in the whole run (the schedule's length).
    pub steps: usize,
    #[config(default = 32)]
    pub batch: usize,
    /// Tokens per window of truncated backpropagation.
    #[config(default = 70)]
    pub bptt: usize,
    /// Peak learning rate (Adam, slanted triangular schedule).
    #[config(default = 3e-3)]
    pub learning_rate: f64,
    /// Negatives drawn per step for the sampled softmax; 0 trains on the full softmax.
    #[config(default = 0)]
    pub negatives: usize,
    /// Gradient clipping by norm, per parameter (the AWD-LSTM clips at 0.25 overall).
    #[config(default = 0.5)]
    pub clip: f32,
    #[config(default = 0)]
    pub seed: u64,
}

/// Language-model training, one window per [`LmTrainer::step`] ([`Stepwise`]). The state
/// is carried from window to window and starts again at zero after the stream's end.
pub struct LmTrainer {
    model: AwdLstm,
    optimizer: ModuleOptimizer,
    config: LmTrainingConfig,
    streams: Vec<Vec<u32>>,
    position: usize,
    state: Option<Vec<LayerState>>,
    rng: ChaCha8Rng,
    step: usize,
    device: Device,
}

impl LmTrainer {
    /// Trains `model` on `stream` on an autodiff view of `device`.
    pub fn new(model: AwdLstm, stream: &[u32], config: LmTrainingConfig, device: &Device) -> Self {
        device.seed(config.seed);
        let optimizer = AdamConfig::new()
            .with_beta_1(0.8)
            .with_beta_2(0.99)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(config.clip)))
            .init();
        LmTrainer {
            model: model.train(),
            optimizer,
            streams: batchify(stream, config.batch),
            position: 0,
            state: None,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            step: 0,
            device: device.clone().autodiff(),
            config,
        }
    }

    /// Goes on from `step` of the run (a resumed run): the schedule, the window and the
    /// negatives' generator continue from there; the state starts at zero and Adam's
    /// moments anew.
    pub fn resume_at(mut self, step: usize) -> Self {
        self.step = step;
        self.position = (step % self.steps_per_pass()) * self.config.bptt;
        self.rng = ChaCha8Rng::seed_from_u64(self.config.seed.wrapping_add(step as u64));
        self.device.seed(self.config.seed.wrapping_add(step as u64));
        self
    }

    /// Steps in one pass over the stream (the last window of a pass may be shorter).
    pub fn steps_per_pass(&self) -> usize {
        self.streams[0].len().saturating_sub(1).div_ceil(self.config.bptt).max(1)
    }

    /// Tokens read per step (all streams together).
    pub fn tokens_per_step(&self) -> usize {
        self.streams.len() * self.config.bptt
    }

    /// The trained model, ready for inference.
    pub fn finish(self) -> AwdLstm {
        self.model.valid()
    }

    /// The model as it is now, for inference (a checkpoint, a perplexity).
    pub fn model(&self) -> AwdLstm {
        self.model.clone().valid()
    }
}

impl Stepwise for LmTrainer {
    /// One Adam step on the next window; its loss (sampled, if so configured) on the device.
    fn step(&mut self) -> Tensor<1> {
        let (inputs, targets) = match window(&self.streams, self.position, self.config.bptt, &self.device) {
            Some(w) => w,
            None => {
                // The stream's end: start again from its beginning, with a fresh state.
                self.position = 0;
                self.state = None;
                window(&self.streams, 0, self.config.bptt, &self.device).expect("a stream of two tokens or more")
            }
        };
        let [batch, len] = inputs.dims();
        let (output, state) = self.model.forward(inputs, self.state.take());
        let output = output.reshape([batch * len, self.model.embedding_width()]);
        let loss = if self.config.negatives == 0 {
            self.model.loss(output, &targets)
        } else {
            let vocab = self.model.vocab() as u32;
            let negatives: Vec<u32> = (0..self.config.negatives).map(|_| self.rng.random_range(0..vocab)).collect();
            self.model.sampled_loss(output, &targets, &negatives)
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let rate = self.config.learning_rate * slanted_triangular(self.step, self.config.steps);
        self.model = self.optimizer.step(rate, self.model.clone(), grads);
        // Truncated backpropagation: the state goes on, its history does not.
        self.state =
            Some(state.into_iter().map(|s| LayerState { hidden: s.hidden.detach(), cell: s.cell.detach() }).collect());
        self.position += len;
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
    use crate::training::run_to_end;

    fn small(vocab: usize) -> AwdLstmConfig {
        AwdLstmConfig::new(vocab).with_embedding(16).with_hidden(24).with_layers(2)
    }

    fn ids(rows: &[&[u32]], device: &Device) -> Tensor<2, Int> {
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().map(|&i| i64::from(i))).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device)
    }

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        scalar((a - b).abs().max())
    }

    #[test]
    fn reading_on_from_the_carried_state_equals_reading_the_whole_sequence() {
        let device = Device::flex();
        device.seed(3);
        let model = small(20).init(&device);
        let sequence: &[u32] = &[3, 7, 1, 19, 4, 4, 0, 12];
        let (whole, _) = model.forward(ids(&[sequence], &device), None);
        let (first, state) = model.forward(ids(&[&sequence[..5]], &device), None);
        let (rest, _) = model.forward(ids(&[&sequence[5..]], &device), Some(state));
        assert_eq!(whole.dims(), [1, 8, 16], "the last layer is as wide as the embedding (tied decoder)");
        let diff = max_diff(whole, Tensor::cat(vec![first, rest], 1));
        assert!(diff < 1e-5, "halves differ from the whole by {diff}");
    }

    #[test]
    fn dropout_only_while_training() {
        let device = Device::flex();
        device.seed(5);
        let config = small(20).with_embedding_dropout(0.3).with_weight_dropout(0.5);
        let model = config.init(&device);
        let input = [[1u32, 2, 3, 4, 5, 6]];
        let read = |model: &AwdLstm, device: &Device| model.forward(ids(&[&input[0]], device), None).0;
        assert_eq!(max_diff(read(&model, &device), read(&model, &device)), 0.0, "inference is deterministic");
        let training = device.clone().autodiff();
        let model = config.init(&training).train();
        let diff = max_diff(read(&model, &training).detach(), read(&model, &training).detach());
        assert!(diff > 1e-4, "two training passes draw different masks (differ by {diff})");
    }

    #[test]
    fn the_sampled_softmax_over_every_word_is_the_full_softmax() {
        let device = Device::flex();
        device.seed(7);
        let model = small(12).init(&device);
        let (output, _) = model.forward(ids(&[&[1, 5, 9, 2]], &device), None);
        let output = output.reshape([4, 16]);
        let targets = [5u32, 9, 2, 11];
        let full = scalar(model.loss(output.clone(), &targets));
        let every: Vec<u32> = (0..12).rev().collect();
        let sampled = scalar(model.sampled_loss(output.clone(), &targets, &every));
        assert!((full - sampled).abs() < 1e-5, "{full} vs {sampled}");
        let fewer = scalar(model.sampled_loss(output, &targets, &[0, 3]));
        assert!(fewer < full, "fewer candidates, less mass to beat: {fewer} < {full}");
    }

    #[test]
    fn weights_round_trip_through_safetensors_and_a_wrong_file_is_refused() {
        let device = Device::flex();
        device.seed(13);
        let model = small(20).init(&device);
        let bytes = model.to_safetensors().unwrap();
        device.seed(14);
        let loaded = small(20).init(&device).load_safetensors(&bytes).unwrap();
        let input = ids(&[&[4, 8, 15, 16]], &device);
        let diff = max_diff(model.forward(input.clone(), None).0, loaded.forward(input.clone(), None).0);
        assert_eq!(diff, 0.0, "the same weights, the same outputs");
        let half = crate::encoders::weights::cast_safetensors(&bytes, safetensors::Dtype::F16).unwrap();
        let widened = small(20).init(&device).load_safetensors(&half).unwrap();
        assert!(
            max_diff(model.forward(input.clone(), None).0, widened.forward(input, None).0) < 1e-2,
            "f16 stays close"
        );
        assert!(small(21).init(&device).load_safetensors(&bytes).is_err(), "another vocabulary size");
        assert!(small(20).init(&device).load_safetensors(&bytes[..bytes.len() / 2]).is_err(), "a truncated file");
    }

    #[test]
    fn training_learns_a_repeating_text_with_either_softmax() {
        let device = Device::flex();
        let stream: Vec<u32> = (0..600).map(|i| [1, 2, 3, 4, 5, 6, 7][i % 7]).collect();
        for negatives in [0, 3] {
            device.seed(11);
            let model = small(8).init(&device);
            let before = perplexity(&model, &stream, 4, 10, &device);
            let config = LmTrainingConfig::new(400)
                .with_batch(4)
                .with_bptt(10)
                .with_learning_rate(1e-2)
                .with_negatives(negatives);
            let mut trainer = LmTrainer::new(model, &stream, config, &device);
            run_to_end(&mut trainer);
            let after = perplexity(&trainer.finish(), &stream, 4, 10, &device);
            assert!(before > 5.0, "an untrained model is near chance over 8 words: {before}");
            assert!(after < 1.5, "with {negatives} negatives: perplexity {before:.2} → {after:.2}");
        }
    }
}
