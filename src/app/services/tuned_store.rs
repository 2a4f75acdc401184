//! Fine-tuned layers in this browser: kept in Cache Storage beside the downloaded models,
//! with the bundled reviews' features read through them, so a reload need not read the
//! reviews again. Everything is keyed by the layers' sha256 and checked when read back.

use super::index::AllFeatures;
use super::loader;
use crate::app::error::PageError;
use crate::encoders::tuned::TunedLayers;

/// Cache Storage keys: paths under `tuned/`, which the server never serves.
fn layers_key(layers: &TunedLayers) -> String {
    format!("/tuned/{}.safetensors", layers.sha256)
}

fn features_key(layers: &TunedLayers) -> String {
    format!("/tuned/{}.features.json", layers.sha256)
}

/// Keeps the layers (checked against their sha256 first) and, if given, their features.
pub async fn keep(layers: &TunedLayers, bytes: &[u8], features: Option<&AllFeatures>) -> Result<(), PageError> {
    layers.check(bytes)?;
    loader::keep(&layers_key(layers), bytes).await?;
    match features {
        Some(features) => keep_features(layers, features).await,
        None => Ok(()),
    }
}

pub async fn keep_features(layers: &TunedLayers, features: &AllFeatures) -> Result<(), PageError> {
    let json = serde_json::to_vec(features)
        .map_err(|source| PageError::Json { what: "the fine-tuned features".into(), source })?;
    loader::keep(&features_key(layers), &json).await
}

/// The layers' bytes, if this browser still has them and they match their sha256.
pub async fn layers_bytes(layers: &TunedLayers) -> Option<Vec<u8>> {
    let bytes = loader::kept(&layers_key(layers)).await?;
    layers.check(&bytes).ok().map(|()| bytes)
}

/// The bundled reviews' features through these layers, if kept and labelled with them.
pub async fn features(layers: &TunedLayers) -> Option<AllFeatures> {
    let json = loader::kept(&features_key(layers)).await?;
    serde_json::from_slice::<AllFeatures>(&json).ok().filter(|f| f.weights_sha256 == layers.sha256)
}
