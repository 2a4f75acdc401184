//! A fine-tuned encoder, stored as what changed: its top layers.
//!
//! Fine-tuning ([`crate::finetune`]) moves only the encoder's top layers, so a classifier
//! trained with it needs those layers and nothing else of the encoder: a few MB as f16
//! safetensors instead of the whole model. They are named by their sha256, laid over
//! the pretrained encoder when loaded, and travel inside classifier files (base64), so a
//! classifier fine-tuned in the page works after a reload, an export and import, and in
//! `flicktune predict`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use burn::module::Module;
use burn::store::{ModuleSnapshot, PathFilter, SafetensorsStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoders::bert::BertModel;
use crate::encoders::weights::{apply_safetensors, cast_safetensors};

/// Tuned layers larger than this are not from any encoder we ship (two MiniLM layers in
/// f16 are about 7 MB).
pub const MAX_BYTES: usize = 24_000_000;

/// Which layers of the pretrained encoder a classifier replaces, and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedLayers {
    /// The first replaced layer: layers from here to the top come from the file.
    pub from_layer: usize,
    /// sha256 (hex) of the layers' f16 safetensors bytes.
    pub sha256: String,
    /// The bytes themselves, base64. Files carry them; the page's own saved copy leaves
    /// them out (they sit in the browser's Cache Storage under their sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safetensors_base64: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TunedError {
    #[error("the fine-tuned layers are not valid base64: {0}")]
    Base64(String),
    #[error("the fine-tuned layers are {0} bytes; at most {MAX_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the fine-tuned layers do not match their sha256 (corrupted or edited)")]
    Checksum,
    #[error("the fine-tuned layers are missing: this file holds only their sha256")]
    Missing,
    #[error("the fine-tuned layers do not fit this encoder: {0}")]
    Mismatch(String),
}

impl TunedLayers {
    /// Saves `encoder`'s layers from `from_layer` up, rounded to f16. Returns the
    /// description (without the bytes inline) and the bytes.
    pub fn save(encoder: &BertModel, from_layer: usize) -> Result<(TunedLayers, Vec<u8>), TunedError> {
        let mismatch = |e: String| TunedError::Mismatch(e);
        if from_layer >= encoder.num_layers() {
            return Err(mismatch(format!(
                "layer {from_layer} is above the top (the encoder has {})",
                encoder.num_layers()
            )));
        }
        let mut store = SafetensorsStore::from_bytes(None).with_regex(layers_pattern(from_layer, encoder.num_layers()));
        encoder.save_into(&mut store).map_err(|e| mismatch(e.to_string()))?;
        let f32_bytes = store.get_bytes().map_err(|e| mismatch(e.to_string()))?;
        let bytes = cast_safetensors(&f32_bytes, safetensors::Dtype::F16).map_err(|e| mismatch(e.to_string()))?;
        Ok((TunedLayers { from_layer, sha256: sha256_hex(&bytes), safetensors_base64: None }, bytes))
    }

    /// The same description with the bytes inline, as files carry it.
    pub fn with_bytes(self, bytes: &[u8]) -> Self {
        TunedLayers { safetensors_base64: Some(BASE64.encode(bytes)), ..self }
    }

    /// The same description without the bytes (kept elsewhere).
    pub fn without_bytes(self) -> Self {
        TunedLayers { safetensors_base64: None, ..self }
    }

    /// The inline bytes, checked against the sha256; `None` if the file holds none.
    pub fn inline_bytes(&self) -> Result<Option<Vec<u8>>, TunedError> {
        let Some(text) = &self.safetensors_base64 else { return Ok(None) };
        if text.len() / 4 * 3 > MAX_BYTES {
            return Err(TunedError::TooLarge(text.len() / 4 * 3));
        }
        let bytes = BASE64.decode(text).map_err(|e| TunedError::Base64(e.to_string()))?;
        self.check(&bytes)?;
        Ok(Some(bytes))
    }

    /// Checks bytes (from a file or the browser's cache) against the sha256.
    pub fn check(&self, bytes: &[u8]) -> Result<(), TunedError> {
        if bytes.len() > MAX_BYTES {
            return Err(TunedError::TooLarge(bytes.len()));
        }
        if sha256_hex(bytes) != self.sha256 { Err(TunedError::Checksum) } else { Ok(()) }
    }

    /// `pretrained` with its layers from `from_layer` up replaced by these `bytes`
    /// (checked against the sha256). Every replaced layer's every tensor must be present.
    pub fn apply(&self, pretrained: BertModel, bytes: &[u8]) -> Result<BertModel, TunedError> {
        self.check(bytes)?;
        let mismatch = |e: String| TunedError::Mismatch(e);
        let top = pretrained.num_layers();
        if self.from_layer >= top {
            return Err(mismatch(format!("they start at layer {}, but the encoder has {top}", self.from_layer)));
        }
        let layers = PathFilter::new().with_regex(layers_pattern(self.from_layer, top));
        let mut model = pretrained;
        let result = apply_safetensors(&mut model, bytes, Some(layers)).map_err(mismatch)?;
        // The loader reports every other parameter of the model as missing too: only the
        // replaced layers' count.
        let missing: Vec<&str> = result
            .missing
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| layer_of(p).is_some_and(|l| l >= self.from_layer))
            .collect();
        if !result.errors.is_empty() || !missing.is_empty() || !result.unused.is_empty() || result.applied.is_empty() {
            return Err(mismatch(format!(
                "missing [{}], unexpected [{}], errors {:?}",
                missing.join(", "),
                result.unused.join(", "),
                result.errors
            )));
        }
        Ok(model.valid())
    }
}

/// The layer a module path (`layers.N.…`) belongs to, if any.
fn layer_of(path: &str) -> Option<usize> {
    path.strip_prefix("layers.")?.split('.').next()?.parse().ok()
}

/// The module paths of layers `from..top` (`layers.N.…`).
fn layers_pattern(from: usize, top: usize) -> String {
    let indices: Vec<String> = (from..top).map(|i| i.to_string()).collect();
    format!(r"^layers\.({})\.", indices.join("|"))
}

/// Lower-case hex sha256, as manifests and files name their contents.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::bert::BertConfig;
    use crate::features::padded_batch;
    use burn::tensor::Device;

    fn tiny(seed_layers: usize) -> BertModel {
        BertConfig::new(40, 8, seed_layers, 2, 16, 32, 2).with_hidden_dropout_prob(0.0).init(&Device::flex())
    }

    fn output(model: &BertModel) -> Vec<f32> {
        let input = padded_batch(&[&[1, 12, 25, 2]], 0, &Device::flex());
        model.forward(input).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn saved_layers_laid_over_the_pretrained_model_give_the_tuned_model() {
        let (pretrained, tuned) = (tiny(3), tiny(3));
        // "Fine-tuned": the pretrained bottom with other top layers.
        let tuned = pretrained.clone().with_top_layers(1, tuned.top_layers(1));
        let (layers, bytes) = TunedLayers::save(&tuned, 1).unwrap();
        assert_eq!(layers.from_layer, 1);
        let restored = layers.apply(pretrained.clone(), &bytes).unwrap();
        let (want, got) = (output(&tuned), output(&restored));
        // f16 storage: close, not equal.
        assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 2e-2), "{want:?} vs {got:?}");
        assert!(want.iter().zip(output(&pretrained)).any(|(a, b)| (a - b).abs() > 1e-3), "the top really differs");
        // Through a file's base64 and back.
        let inline = layers.clone().with_bytes(&bytes);
        assert_eq!(inline.inline_bytes().unwrap(), Some(bytes.clone()));
        assert_eq!(inline.without_bytes(), layers);
    }

    #[test]
    fn corrupted_or_misfitting_layers_are_refused() {
        let pretrained = tiny(3);
        let (layers, mut bytes) = TunedLayers::save(&pretrained, 2).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(layers.apply(pretrained.clone(), &bytes).unwrap_err(), TunedError::Checksum);
        let edited = TunedLayers { safetensors_base64: Some("!!not base64".into()), ..layers.clone() };
        assert!(matches!(edited.inline_bytes(), Err(TunedError::Base64(_))));
        // Layers saved from a 3-layer model start at layer 2: a 2-layer model has no layer 2.
        let (_, good) = TunedLayers::save(&pretrained, 2).unwrap();
        assert!(matches!(layers.apply(tiny(2), &good), Err(TunedError::Mismatch(_))));
        // Claiming they start lower than they do: layer 1's tensors are missing.
        let lower = TunedLayers { from_layer: 1, ..layers };
        assert!(matches!(lower.apply(pretrained, &good), Err(TunedError::Mismatch(_))));
    }
}
