//! `flicktune train`: labelled reviews in (JSON Lines), a classifier file out, in the
//! very format the page exports and imports.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use flicktune::assets::AssetDir;
use flicktune::backend::BackendKind;
use flicktune::classifier::{Confusion, FeatureScaling};
use flicktune::features::{CLASSIFIER_POOLING, Pooling};
use flicktune::models::ModelName;
use flicktune::training::{Example, FeatureSource, HeadTrainer, HeadTrainingConfig, class_weights, train_blocking};

use super::EncoderArgs;
use super::jsonl::parse_labelled;

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled reviews, JSON Lines: {"text": "...", "label": 1} (1 positive, 0 negative).
    #[arg(long)]
    labels: PathBuf,
    /// Where to write the classifier (JSON; `flicktune predict` and the page read it).
    #[arg(long)]
    out: PathBuf,
    /// Encoder whose frozen features the classifier reads: l3 or l6.
    #[arg(long, default_value = "l3")]
    model: ModelName,
    /// How long reviews are read: first, head-tail or chunks (the page's choice).
    #[arg(long, default_value = CLASSIFIER_POOLING.name())]
    pooling: Pooling,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
}

pub fn run(args: TrainArgs, assets: &AssetDir) -> Result<()> {
    let input = std::fs::read_to_string(&args.labels).with_context(|| format!("cannot read {}", args.labels.display()))?;
    let (texts, labels): (Vec<String>, Vec<u8>) =
        parse_labelled(&input).with_context(|| format!("{} is not a labels file", args.labels.display()))?.into_iter().unzip();
    // Refuse one-class labels before minutes of encoding, not after.
    class_weights(&labels)?;

    let encoder = EncoderArgs { model: args.model, pooling: args.pooling, backend: args.backend, batch: 8 };
    let embedder = encoder.embedder(assets)?;
    eprintln!("encoding {} labelled reviews with {} ({} pooling)", texts.len(), args.model.hf_name(), args.pooling.name());
    let features: Vec<Vec<f32>> = embedder.embed(&texts)?.into_iter().map(|e| e.vector).collect();

    let examples: Vec<Example> = features.iter().zip(&labels).map(|(f, &label)| Example { features: f, label }).collect();
    let source = FeatureSource { encoder: args.model.hf_name().into(), pooling: args.pooling.name().into() };
    let trainer = HeadTrainer::new(&examples, FeatureScaling::fit(&features), source, HeadTrainingConfig::new(), &embedder.device)?;
    let classifier = train_blocking(trainer)?;

    let mut confusion = Confusion::default();
    for (f, &label) in features.iter().zip(&labels) {
        confusion.add(label, classifier.predict(f)?.label);
    }
    std::fs::write(&args.out, classifier.to_json()).with_context(|| format!("cannot write {}", args.out.display()))?;
    let positive = labels.iter().filter(|&&l| l == 1).count();
    eprintln!(
        "trained on {} reviews ({positive} positive, {} negative); accuracy on them {:.1}%; wrote {}",
        labels.len(),
        labels.len() - positive,
        100.0 * confusion.accuracy(),
        args.out.display()
    );
    Ok(())
}
