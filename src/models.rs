//! The encoders Flicktune ships, and loading one from its three files.
//!
//! Two pretrained BERT-architecture MiniLMs with the bert-base-uncased vocabulary, sharing
//! one `tokenizer.json`, and L3 adapted to review text (`flicktune adapt`; its weights are
//! committed under `weights/`). Loading takes bytes, so the CLI (files on disk) and the
//! page (files from the local server) go through the same code.

use std::str::FromStr;

use burn::tensor::Device;

use crate::encoder::{BertConfig, BertModel, LoadError};
use crate::tokens::{TextTokenizer, TokenizeError};

/// An encoder, by its short CLI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelName {
    /// sentence-transformers/paraphrase-MiniLM-L3-v2: 3 layers, the fastest.
    L3,
    /// sentence-transformers/all-MiniLM-L6-v2: 6 layers.
    L6,
    /// L3 after masked-LM training on the `train` split's texts (no labels): the default,
    /// as it reads reviews better (docs/few-shot.md).
    #[default]
    L3Reviews,
}

impl ModelName {
    pub const ALL: [ModelName; 3] = [ModelName::L3, ModelName::L6, ModelName::L3Reviews];
    /// The two as published (onnxruntime's reference embeddings exist for these).
    pub const PUBLISHED: [ModelName; 2] = [ModelName::L3, ModelName::L6];

    pub fn short(self) -> &'static str {
        match self {
            ModelName::L3 => "l3",
            ModelName::L6 => "l6",
            ModelName::L3Reviews => "l3-reviews",
        }
    }

    /// The model's full name (the upstream one for the pretrained two), also its folder
    /// under `assets/models/` and the name classifier files record.
    pub fn full_name(self) -> &'static str {
        match self {
            ModelName::L3 => "paraphrase-MiniLM-L3-v2",
            ModelName::L6 => "all-MiniLM-L6-v2",
            ModelName::L3Reviews => "paraphrase-MiniLM-L3-v2-reviews",
        }
    }

    /// How the page's menu and the bench's tables name it.
    pub fn describe(self) -> &'static str {
        match self {
            ModelName::L3 => "L3",
            ModelName::L6 => "L6",
            ModelName::L3Reviews => "L3-reviews",
        }
    }
}

impl FromStr for ModelName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::ALL
            .into_iter()
            .find(|m| m.short() == s.to_ascii_lowercase() || m.full_name() == s)
            .ok_or_else(|| format!("unknown model `{s}`: use l3-reviews, l3 or l6"))
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
    float_safetensors(&float_tensors(bytes)?, dtype)
}

/// A weight tensor read out of safetensors: name, shape, values.
pub type FloatTensor = (String, Vec<usize>, Vec<f32>);

/// The floating-point tensors of a safetensors file, widened to f32, in the file's order;
/// other tensors are skipped.
pub fn float_tensors(bytes: &[u8]) -> Result<Vec<FloatTensor>, safetensors::SafeTensorError> {
    use safetensors::Dtype;

    let tensors = safetensors::SafeTensors::deserialize(bytes)?;
    let mut floats = Vec::new();
    for (name, view) in tensors.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            _ => continue,
        };
        floats.push((name, view.shape().to_vec(), values));
    }
    Ok(floats)
}

/// Writes tensors as a safetensors file, every one in `dtype` (F16, else F32).
pub fn float_safetensors(tensors: &[FloatTensor], dtype: safetensors::Dtype) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    use safetensors::tensor::TensorView;

    let encoded: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let data = match dtype {
                safetensors::Dtype::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
                _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            (name.as_str(), shape.as_slice(), data)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(name, shape, data)| Ok((name.to_string(), TensorView::new(dtype, shape.to_vec(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, None)
}
