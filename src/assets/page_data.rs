//! The page's bundled data: a gold-labelled held-out sample from the `test` split (to
//! show accuracy; never trained on) and the features of both bundled samples per encoder.

use std::path::Path;

use super::error::{self, Result, read};
use super::{AssetDir, read_reviews, reviews};
use burn::tensor::Device;

use crate::backend::{BackendKind, open_device};
use crate::encoders::{ModelName, WeightPrecision};
use crate::features::{Embedder, FeatureCache};

/// Held-out reviews per class shipped with the page.
pub const HELDOUT_PER_CLASS: usize = 100;
pub const HELDOUT_FILE: &str = "heldout.jsonl";

pub fn features_file(model: ModelName) -> String {
    format!("features.{}.json", model.full_name())
}

/// The first `HELDOUT_PER_CLASS` reviews of each class in the (shuffled) test split,
/// in test-split order.
fn heldout_sample(test: Vec<reviews::Review>) -> Vec<reviews::Review> {
    let mut taken = [0usize; 2];
    test.into_iter()
        .filter(|r| {
            let n = &mut taken[usize::from(r.label == 1)];
            *n += 1;
            *n <= HELDOUT_PER_CLASS
        })
        .collect()
}

/// `model`'s encoder as the page loads it by default (the weights file it downloads, the
/// classifier's pooling), and that file's sha256: features made with it are the page's own.
pub fn page_embedder(assets: &AssetDir, model: ModelName, device: &Device) -> Result<(Embedder, String)> {
    let mut files = assets.model_files(model)?;
    files.weights = read(assets.model_dir(model).join(model.spec().weights_file(WeightPrecision::F16)))?;
    let weights_sha256 = super::pip::sha256_bytes(&files.weights);
    let (tokenizer, encoder) = files.load(device)?;
    let embedder = Embedder {
        tokenizer,
        model: encoder,
        device: device.clone(),
        pooling: model.spec().classifier_pooling,
        batch_size: 8,
    };
    Ok((embedder, weights_sha256))
}

pub fn write(assets: &AssetDir, dir: &Path) -> Result<()> {
    let heldout = heldout_sample(read_reviews(&assets.imdb_split("test"))?);
    error::write(dir.join(HELDOUT_FILE), reviews::to_jsonl(&heldout))?;
    let sample = read_reviews(&assets.imdb_dir().join("sample.jsonl"))?;
    let device = open_device(BackendKind::Cpu)?;
    for model in ModelName::ALL {
        eprintln!(
            "computing {} features of the page's {} + {} reviews",
            model.full_name(),
            sample.len(),
            heldout.len()
        );
        let (embedder, weights_sha256) = page_embedder(assets, model, &device)?;
        let vectors = |reviews: &[reviews::Review]| -> Result<Vec<Vec<f32>>> {
            let texts: Vec<&str> = reviews.iter().map(|r| r.text.as_str()).collect();
            Ok(embedder.embed(&texts)?.into_iter().map(|e| e.vector).collect())
        };
        let (sample, heldout) = (vectors(&sample)?, vectors(&heldout)?);
        let cache = FeatureCache {
            model: model.full_name().into(),
            weights_sha256,
            pooling: model.spec().classifier_pooling.name().into(),
            dim: sample.first().map_or(0, Vec::len),
            sample,
            heldout,
        };
        error::write(dir.join(features_file(model)), serde_json::to_string(&cache)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heldout_takes_the_first_of_each_class_in_order() {
        let test: Vec<reviews::Review> =
            (0..400).map(|i| reviews::Review { text: i.to_string(), label: u8::from(i % 4 == 0) }).collect();
        let heldout = heldout_sample(test);
        assert_eq!(heldout.len(), 2 * HELDOUT_PER_CLASS);
        assert_eq!(heldout.iter().filter(|r| r.label == 1).count(), HELDOUT_PER_CLASS);
        assert!(heldout.windows(2).all(|w| w[0].text.parse::<u32>().unwrap() < w[1].text.parse::<u32>().unwrap()));
    }
}
