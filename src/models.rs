//! The two pretrained encoders Flicktune ships, and loading one from its three files.
//!
//! Both are BERT-architecture MiniLMs with the bert-base-uncased vocabulary and share one
//! `tokenizer.json`. Loading takes bytes, so the CLI (files on disk) and the page (files
//! from the local server) go through the same code.

use std::str::FromStr;

use burn::tensor::Device;

use crate::encoder::{BertConfig, BertModel, LoadError};
use crate::tokens::{TextTokenizer, TokenizeError};

/// A pretrained encoder, by its short CLI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelName {
    /// sentence-transformers/paraphrase-MiniLM-L3-v2: 3 layers, the faster of the two.
    #[default]
    L3,
    /// sentence-transformers/all-MiniLM-L6-v2: 6 layers.
    L6,
}

impl ModelName {
    pub const ALL: [ModelName; 2] = [ModelName::L3, ModelName::L6];

    pub fn short(self) -> &'static str {
        match self {
            ModelName::L3 => "l3",
            ModelName::L6 => "l6",
        }
    }

    /// The upstream model's name; also its folder under `assets/models/`.
    pub fn hf_name(self) -> &'static str {
        match self {
            ModelName::L3 => "paraphrase-MiniLM-L3-v2",
            ModelName::L6 => "all-MiniLM-L6-v2",
        }
    }
}

impl FromStr for ModelName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::ALL
            .into_iter()
            .find(|m| m.short() == s.to_ascii_lowercase() || m.hf_name() == s)
            .ok_or_else(|| format!("unknown model `{s}`: use l3 or l6"))
    }
}

/// File names of a model folder, as written by `flicktune fetch`.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The same weights in f16, half the download, for the page.
pub const F16_WEIGHTS_FILE: &str = "model.f16.safetensors";
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

    pub fn weights_file(self) -> &'static str {
        match self {
            WeightPrecision::F16 => F16_WEIGHTS_FILE,
            WeightPrecision::F32 => WEIGHTS_FILE,
        }
    }

    /// The page's list of files to download (name, size, sha256) for this precision.
    pub fn manifest_file(self) -> &'static str {
        match self {
            WeightPrecision::F16 => "manifest.json",
            WeightPrecision::F32 => "manifest.f32.json",
        }
    }

    /// The files the page downloads, in the order it loads them.
    pub fn files(self) -> [&'static str; 3] {
        [CONFIG_FILE, TOKENIZER_FILE, self.weights_file()]
    }
}

/// The contents of a model folder.
#[derive(Clone)]
pub struct ModelFiles {
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
}

impl ModelFiles {
    /// Builds the tokenizer and the encoder (weights on `device`).
    pub fn load(self, device: &Device) -> Result<(TextTokenizer, BertModel), ModelError> {
        let config = BertConfig::from_json(&self.config_json)?;
        let tokenizer = TextTokenizer::from_bytes(&self.tokenizer_json)?;
        // Weights may be stored as f16; compute is always f32.
        let weights = cast_safetensors(&self.weights, safetensors::Dtype::F32)?;
        let model = config.init(device).load_safetensors(weights)?;
        Ok((tokenizer, model))
    }
}

/// Rewrites a safetensors file with every floating-point tensor in `dtype` (F32 or F16).
/// Non-float tensors (such as BERT's `position_ids` buffer) are not weights and are dropped.
pub fn cast_safetensors(bytes: &[u8], dtype: safetensors::Dtype) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    use safetensors::Dtype;
    use safetensors::tensor::{SafeTensors, TensorView};

    let tensors = SafeTensors::deserialize(bytes)?;
    let mut converted = Vec::new();
    for (name, view) in tensors.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            _ => continue,
        };
        let data: Vec<u8> = match dtype {
            Dtype::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
            _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        converted.push((name, view.shape().to_vec(), data));
    }
    let views = converted
        .iter()
        .map(|(name, shape, data)| Ok((name.clone(), TensorView::new(dtype, shape.clone(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, None)
}
