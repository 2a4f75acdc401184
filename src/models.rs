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
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The contents of a model folder.
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
}

impl ModelFiles {
    /// Builds the tokenizer and the encoder (weights on `device`).
    pub fn load(self, device: &Device) -> Result<(TextTokenizer, BertModel), ModelError> {
        let config = BertConfig::from_json(&self.config_json)?;
        let tokenizer = TextTokenizer::from_bytes(&self.tokenizer_json)?;
        let model = config.init(device).load_safetensors(self.weights)?;
        Ok((tokenizer, model))
    }
}
