//! The BERT encoder: token ids in, one hidden vector per token out.
//!
//! A whole BERT in one file, with its config beside it: embeddings, a stack of
//! post-LayerNorm transformer layers (multi-head self-attention with a padding mask,
//! then an exact-GELU feed-forward), read from a Hugging Face `config.json` and loaded
//! from HF-named safetensors. The code is backend-agnostic: the same module runs on
//! Burn's CPU backend and on wgpu/WebGPU, picked by the `Device` it is built on.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::cpu::{self, gelu::gelu, linear::add, linear::linear};
use super::weights::{FloatTensor, float_tensors, snapshots};

/// The fields of a Hugging Face BERT `config.json` that shape the network.
/// Unknown fields are ignored, so a stock `config.json` deserialises as is.
#[derive(Config, Debug)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Dropout is only active while training with autodiff; inference ignores it.
    #[config(default = 0.1)]
    pub hidden_dropout_prob: f64,
    #[config(default = 0.1)]
    pub attention_probs_dropout_prob: f64,
    #[config(default = 0)]
    pub pad_token_id: usize,
}

/// A batch of padded token sequences, as the encoder takes it.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    /// `[batch, seq]` token ids, padded with the pad id.
    pub input_ids: Tensor<2, Int>,
    /// `[batch, seq]`, `true` where the position is padding.
    pub padding_mask: Tensor<2, Bool>,
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    dropout: Dropout,
}

/// Multi-head self-attention over a padded batch. Where no gradient can flow it is one
/// pass over each head's scores, heads in parallel: the CPU path's own kernel
/// ([`cpu::attention`]) on the CPU backend, Burn's fused attention op on wgpu/WebGPU.
/// Where one can, it is composed of tensor ops so that its weights get dropout, as in
/// BERT's training.
#[derive(Module, Debug)]
pub struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    dropout: Dropout,
    heads: usize,
}

/// One transformer layer. Names follow HF's tensors (see [`hf_key_remapping`]).
#[derive(Module, Debug)]
pub struct BertLayer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    dropout: Dropout,
}

#[derive(Module, Debug)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

impl BertConfig {
    /// Parses a Hugging Face `config.json`, refusing shapes no BERT has (zero sizes, heads
    /// that do not divide the hidden size, a vocabulary of billions) and dropout or
    /// epsilon outside their ranges, so nothing is sized by an absurd declared value.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        let config: Self = serde_json::from_slice(json)?;
        config.check().map_err(<serde_json::Error as serde::de::Error>::custom)?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 14),
            ("num_hidden_layers", self.num_hidden_layers, 256),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("intermediate_size", self.intermediate_size, 1 << 16),
            ("max_position_embeddings", self.max_position_embeddings, 1 << 16),
            ("type_vocab_size", self.type_vocab_size, 16),
        ];
        for (name, value, max) in sizes {
            if value == 0 || value > max {
                return Err(format!("{name} is {value}; a BERT has between 1 and {max}"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(format!("pad_token_id {} is outside the vocabulary of {}", self.pad_token_id, self.vocab_size));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return Err(format!("layer_norm_eps is {}, not a small positive number", self.layer_norm_eps));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} is {p}, not a probability below 1"));
            }
        }
        Ok(())
    }

    /// How many weights the network has (saturating: only compared against file sizes).
    pub fn parameter_count(&self) -> u64 {
        let [v, h, l, i, p, t] = [
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.intermediate_size,
            self.max_position_embeddings,
            self.type_vocab_size,
        ]
        .map(|n| n as u64);
        let embeddings = (v + p + t).saturating_mul(h);
        let layer = (4 * h * h + 2 * h * i).saturating_add(9 * h + i);
        embeddings.saturating_add(l.saturating_mul(layer))
    }

    /// A freshly initialised (random) model; load weights with [`BertModel::load_safetensors`].
    pub fn init(&self, device: &Device) -> BertModel {
        let embedding = |n: usize| EmbeddingConfig::new(n, self.hidden_size).init(device);
        let norm = || LayerNormConfig::new(self.hidden_size).with_epsilon(self.layer_norm_eps).init(device);
        let linear = || LinearConfig::new(self.hidden_size, self.hidden_size).init(device);
        let embeddings = BertEmbeddings {
            word_embeddings: embedding(self.vocab_size),
            position_embeddings: embedding(self.max_position_embeddings),
            token_type_embeddings: embedding(self.type_vocab_size),
            layer_norm: norm(),
            dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: SelfAttention {
                    query: linear(),
                    key: linear(),
                    value: linear(),
                    output: linear(),
                    dropout: DropoutConfig::new(self.attention_probs_dropout_prob).init(),
                    heads: self.num_attention_heads,
                },
                attention_norm: norm(),
                intermediate: LinearConfig::new(self.hidden_size, self.intermediate_size).init(device),
                output: LinearConfig::new(self.intermediate_size, self.hidden_size).init(device),
                output_norm: norm(),
                dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
            })
            .collect();
        BertModel { embeddings, layers }
    }
}

impl BertEmbeddings {
    fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]).expand([batch, seq]);
        // Single-segment input: token type 0 everywhere.
        let token_types = Tensor::<2, Int>::zeros([batch, seq], &device);
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_types);
        self.dropout.forward(self.layer_norm.forward(x))
    }
}

impl SelfAttention {
    /// `x` `[batch, seq, hidden]`; `padding_mask` `[batch, seq]`, true where a token is padding.
    fn forward(&self, x: Tensor<3>, padding_mask: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let (query, key, value) =
            (linear(&self.query, x.clone()), linear(&self.key, x.clone()), linear(&self.value, x.clone()));
        let context = if cpu::takes_over(&x) {
            cpu::attention::self_attention(query, key, value, padding_mask, self.heads)
        } else {
            let head_size = hidden / self.heads;
            let heads = |t: Tensor<3>| t.reshape([batch, seq, self.heads, head_size]).swap_dims(1, 2);
            let (query, key, value) = (heads(query), heads(key), heads(value));
            // Every query row may read every token that is not padding: `[batch, 1, seq, seq]`.
            let masked = padding_mask.reshape([batch, 1, 1, seq]).repeat_dim(2, seq);
            let context = if x.device().is_autodiff() {
                let scores = query.matmul(key.swap_dims(2, 3)).div_scalar((head_size as f32).sqrt());
                let weights = softmax(scores.mask_fill(masked, f32::NEG_INFINITY), 3);
                self.dropout.forward(weights).matmul(value)
            } else {
                attention(query, key, value, Some(masked), None, AttentionModuleOptions::default())
            };
            context.swap_dims(1, 2).reshape([batch, seq, hidden])
        };
        linear(&self.output, context)
    }
}

impl BertLayer {
    pub fn forward(&self, x: Tensor<3>, padding_mask: Tensor<2, Bool>) -> Tensor<3> {
        let attended = self.attention.forward(x.clone(), padding_mask);
        let x = self.attention_norm.forward(add(x, self.dropout.forward(attended)));
        let hidden = gelu(linear(&self.intermediate, x.clone()));
        let out = self.dropout.forward(linear(&self.output, hidden));
        self.output_norm.forward(add(x, out))
    }
}

impl BertModel {
    /// The last hidden state, `[batch, seq, hidden]`.
    pub fn forward(&self, input: EncoderInput) -> Tensor<3> {
        let x = self.embeddings.forward(input.input_ids);
        self.forward_layers(x, input.padding_mask, 0..self.layers.len())
    }

    /// The embeddings' output, before any layer: `[batch, seq, hidden]`.
    pub fn embed(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        self.embeddings.forward(input_ids)
    }

    /// Runs the layers in `range` on hidden states (fine-tuning runs the frozen bottom once
    /// and the trained top many times).
    pub fn forward_layers(
        &self,
        mut x: Tensor<3>,
        padding_mask: Tensor<2, Bool>,
        range: std::ops::Range<usize>,
    ) -> Tensor<3> {
        for layer in &self.layers[range] {
            x = layer.forward(x, padding_mask.clone());
        }
        x
    }

    /// The layers from `from` to the top.
    pub fn top_layers(&self, from: usize) -> Vec<BertLayer> {
        self.layers[from..].to_vec()
    }

    /// This model with its layers from `from` up replaced (e.g. by fine-tuned ones).
    pub fn with_top_layers(mut self, from: usize, layers: Vec<BertLayer>) -> Self {
        self.layers.truncate(from);
        self.layers.extend(layers);
        self
    }

    /// The input word-embedding table, `[vocab, hidden]`: a token's vector before any
    /// layer (a classic baseline averages these over a review).
    pub fn word_embeddings(&self) -> Tensor<2> {
        self.embeddings.word_embeddings.weight.val()
    }

    /// This model with its embeddings fixed: training moves only the layers (and whatever
    /// reads [`Self::word_embeddings`] as a tied output layer learns against a fixed table).
    pub fn with_frozen_embeddings(mut self) -> Self {
        self.embeddings = self.embeddings.no_grad();
        self
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Loads HF-named BERT weights (`embeddings.*`, `encoder.layer.N.*`) from safetensors
    /// bytes (f32 or f16). Every parameter of the model must be present; `position_ids` and
    /// `pooler.*` are not parameters here and are ignored.
    pub fn load_safetensors(self, bytes: &[u8]) -> Result<Self, LoadError> {
        let tensors = float_tensors(bytes).map_err(|e| LoadError(e.to_string()))?;
        self.load_tensors(tensors)
    }

    /// Loads HF-named BERT weights given as f32 tensors, as [`Self::load_safetensors`] does.
    /// Each tensor's values move into the model as they are ([`snapshots`]; a linear weight
    /// is transposed on its own), so loading costs the model's size once.
    pub fn load_tensors(mut self, tensors: Vec<FloatTensor>) -> Result<Self, LoadError> {
        let snapshots = snapshots(tensors).map_err(LoadError)?;
        let (snapshots, _) = hf_key_remapping().remap(snapshots);
        let result = self.apply(snapshots, None, Some(Box::new(PyTorchToBurnAdapter)), false);
        if !result.errors.is_empty() || !result.missing.is_empty() {
            let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
            return Err(LoadError(format!("missing tensors [{}]; errors: {:?}", missing.join(", "), result.errors)));
        }
        Ok(self)
    }

    /// The weights as safetensors bytes, laid out as PyTorch lays them out (linear weights
    /// `[out, in]`), under this file's module names; [`Self::load_safetensors`] reads them back.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, LoadError> {
        let mut store = SafetensorsStore::from_bytes(None).with_to_adapter(BurnToPyTorchAdapter);
        self.save_into(&mut store).map_err(|e| LoadError(e.to_string()))?;
        store.get_bytes().map_err(|e| LoadError(e.to_string()))
    }
}

/// The weights file does not fit the model described by `config.json`.
#[derive(Debug, thiserror::Error)]
#[error("the encoder weights do not match the model config: {0}")]
pub struct LoadError(String);

/// Maps Hugging Face BERT tensor names onto this file's module paths. Applied in order.
pub fn hf_key_remapping() -> burn::store::KeyRemapper {
    burn::store::KeyRemapper::from_patterns(vec![
        (r"^(bert\.)?encoder\.layer\.(\d+)\.", "layers.$2."),
        (r"^bert\.embeddings\.", "embeddings."),
        (r"^embeddings\.LayerNorm\.", "embeddings.layer_norm."),
        (r"\.attention\.self\.(query|key|value)\.", ".attention.$1."),
        (r"\.attention\.output\.dense\.", ".attention.output."),
        (r"\.attention\.output\.LayerNorm\.", ".attention_norm."),
        (r"\.intermediate\.dense\.", ".intermediate."),
        (r"\.output\.dense\.", ".output."),
        (r"\.output\.LayerNorm\.", ".output_norm."),
    ])
    .expect("the remapping patterns are valid regexes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(device: &Device) -> BertModel {
        BertConfig::new(40, 8, 2, 2, 16, 32, 2).init(device)
    }

    #[test]
    fn tensors_load_as_their_safetensors_file_does_and_bad_ones_are_named() {
        let device = Device::flex();
        let model = tiny(&device);
        let tensors = float_tensors(&model.to_safetensors().unwrap()).unwrap();
        let loaded = tiny(&device).load_tensors(tensors.clone()).unwrap();
        let input = crate::features::padded_batch(&[&[1, 12, 25, 2], &[1, 7, 2]], 0, &device);
        let embed = |m: &BertModel| m.forward(input.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(embed(&model), embed(&loaded));

        let mut short = tensors.clone();
        short[0].2.pop();
        let error = tiny(&device).load_tensors(short).unwrap_err().to_string();
        assert!(error.contains(&tensors[0].0), "{error}");

        // `to_safetensors` names tensors by this file's module paths.
        let missing: Vec<FloatTensor> = tensors.iter().filter(|t| t.0 != "layers.1.output.bias").cloned().collect();
        assert_eq!(missing.len(), tensors.len() - 1);
        let error = tiny(&device).load_tensors(missing).unwrap_err().to_string();
        assert!(error.contains("layers.1.output.bias"), "{error}");
    }
}
