//! Encoder features of the learning curve's reviews, computed once and kept on disk in
//! shards, so an interrupted `flicktune-bench curve` resumes where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use flicktune::features::{Embedder, Pooling};

/// Reviews per shard: a few minutes of encoding at most.
const SHARD: usize = 250;

/// Each pooling's features of one set of reviews, in order, and the encoding time.
pub struct PooledFeatures {
    pub by_pooling: HashMap<&'static str, Vec<Vec<f32>>>,
    pub seconds: f64,
}

/// Loads or computes `texts`' features under every pooling; shards go to
/// `dir/<name>-<shard>.safetensors`.
pub fn pooled_features(embedder: &Embedder, texts: &[&str], dir: &Path, name: &str) -> Result<PooledFeatures> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let shards: Vec<&[&str]> = texts.chunks(SHARD).collect();
    let path = |i: usize| -> PathBuf { dir.join(format!("{name}-{i:03}.safetensors")) };
    let missing: usize = shards.iter().enumerate().filter(|(i, _)| !path(*i).exists()).map(|(_, s)| s.len()).sum();
    let bar = ProgressBar::new(missing as u64).with_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} reviews encoded ({elapsed}, eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    let mut out = PooledFeatures { by_pooling: HashMap::new(), seconds: 0.0 };
    for (i, shard) in shards.iter().enumerate() {
        let bytes = match std::fs::read(path(i)) {
            Ok(bytes) => bytes,
            Err(_) => {
                let bytes = encode_shard(embedder, shard)?;
                std::fs::write(path(i), &bytes)?;
                bar.inc(shard.len() as u64);
                bytes
            }
        };
        let (shard_seconds, features) = read_shard(&bytes, shard.len())
            .with_context(|| format!("{} is damaged: delete it and run again", path(i).display()))?;
        out.seconds += shard_seconds;
        for (pooling, vectors) in features {
            out.by_pooling.entry(pooling).or_default().extend(vectors);
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

fn encode_shard(embedder: &Embedder, texts: &[&str]) -> Result<Vec<u8>> {
    let started = Instant::now();
    let embeddings = pollster::block_on(embedder.embed_poolings(texts, &Pooling::ALL))?;
    let seconds = started.elapsed().as_secs_f64();
    let dim = embeddings[0].first().map_or(0, |e| e.vector.len());
    let data: Vec<(String, Vec<u8>)> = Pooling::ALL
        .iter()
        .zip(&embeddings)
        .map(|(p, es)| {
            (p.name().to_string(), es.iter().flat_map(|e| &e.vector).flat_map(|x| x.to_le_bytes()).collect())
        })
        .collect();
    let views = data
        .iter()
        .map(|(name, bytes)| Ok((name.clone(), TensorView::new(Dtype::F32, vec![texts.len(), dim], bytes)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let metadata = HashMap::from([("seconds".to_string(), seconds.to_string())]);
    Ok(safetensors::serialize(views, Some(metadata))?)
}

/// Each pooling's name and its rows of features.
type ByPooling = Vec<(&'static str, Vec<Vec<f32>>)>;

fn read_shard(bytes: &[u8], expected: usize) -> Result<(f64, ByPooling)> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)?;
    let seconds =
        metadata.metadata().as_ref().and_then(|m| m.get("seconds")).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let tensors = SafeTensors::deserialize(bytes)?;
    let mut features = Vec::new();
    for pooling in Pooling::ALL {
        let view = tensors.tensor(pooling.name())?;
        let shape = view.shape();
        ensure!(
            shape.len() == 2 && shape[0] == expected,
            "{} has shape {shape:?}, expected {expected} rows",
            pooling.name()
        );
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        features.push((pooling.name(), values.chunks(shape[1]).map(<[f32]>::to_vec).collect()));
    }
    Ok((seconds, features))
}
