//! `flicktune train`: labelled reviews in (JSON Lines), a classifier file out, in the
//! very format the page exports and imports.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use flicktune::assets::AssetDir;
use flicktune::backend::BackendKind;
use flicktune::classifier::{Classifier, Confusion, FeatureScaling, TextView};
use flicktune::features::{CLASSIFIER_POOLING, Pooling};
use flicktune::models::ModelName;
use flicktune::training::{
    Example, FeatureSource, HeadTrainer, HeadTrainingConfig, LEXICON_VOTE, LexiconSeeds, class_weights, first_round, second_round, text_votes,
    train_blocking,
};

use super::EncoderArgs;
use super::jsonl::{parse_labelled, parse_texts};

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum TrainMethod {
    /// Logistic regression on the frozen encoder's features of the labelled reviews.
    Frozen,
    /// `frozen`, then one round of self-training on the --unlabelled reviews.
    SelfTrain,
    /// `self-train` whose first classifier also learns from the --unlabelled reviews the
    /// VADER lexicon is surest of.
    LexiconSelfTrain,
    /// `lexicon-self-train` with NB-SVM (on the labelled reviews' word n-grams) and the
    /// lexicon voting beside the encoder: what the page trains (`docs/few-shot.md`).
    Ensemble,
}

impl TrainMethod {
    fn learns_from_unlabelled(self) -> bool {
        self != TrainMethod::Frozen
    }

    fn lexicon_seeds(self) -> bool {
        matches!(self, TrainMethod::LexiconSelfTrain | TrainMethod::Ensemble)
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled reviews, JSON Lines: {"text": "...", "label": 1} (1 positive, 0 negative).
    #[arg(long)]
    labels: PathBuf,
    /// Where to write the classifier (JSON; `flicktune predict` and the page read it).
    #[arg(long)]
    out: PathBuf,
    /// Encoder whose frozen features the classifier reads: l3-reviews (the page's), l3 or l6.
    #[arg(long, default_value = "l3-reviews")]
    model: ModelName,
    /// How long reviews are read: first, head-tail or chunks (the page's choice).
    #[arg(long, default_value = CLASSIFIER_POOLING.name())]
    pooling: Pooling,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    #[arg(long, value_enum, default_value = "frozen")]
    method: TrainMethod,
    /// Reviews without labels (JSON Lines texts, like `predict`'s input): they standardise
    /// the features, and `--method self-train` pseudo-labels the surest of them.
    #[arg(long)]
    unlabelled: Option<PathBuf>,
}

pub fn run(args: TrainArgs, assets: &AssetDir) -> Result<()> {
    let input = std::fs::read_to_string(&args.labels).with_context(|| format!("cannot read {}", args.labels.display()))?;
    let (texts, labels): (Vec<String>, Vec<u8>) =
        parse_labelled(&input).with_context(|| format!("{} is not a labels file", args.labels.display()))?.into_iter().unzip();
    // Refuse one-class labels and bad unlabelled files before minutes of encoding, not after.
    class_weights(&labels)?;
    let unlabelled_texts = match &args.unlabelled {
        Some(path) => {
            let input = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            parse_texts(&input).with_context(|| format!("{} is not a file of texts", path.display()))?
        }
        None if args.method.learns_from_unlabelled() => {
            bail!("--method {} needs --unlabelled FILE.jsonl: reviews to pseudo-label", args.method.to_possible_value().expect("no skipped values").get_name())
        }
        None => Vec::new(),
    };

    let encoder = EncoderArgs { model: args.model, pooling: args.pooling, backend: args.backend, batch: 8 };
    let embedder = encoder.embedder(assets)?;
    eprintln!(
        "encoding {} labelled and {} unlabelled reviews with {} ({} pooling)",
        texts.len(),
        unlabelled_texts.len(),
        args.model.full_name(),
        args.pooling.name()
    );
    let vectors = |texts: &[String]| -> Result<Vec<Vec<f32>>> { Ok(embedder.embed(texts)?.into_iter().map(|e| e.vector).collect()) };
    let features = vectors(&texts)?;
    let unlabelled = vectors(&unlabelled_texts)?;

    let scaling = FeatureScaling::fit(&features.iter().chain(&unlabelled).collect::<Vec<_>>());
    let source = FeatureSource { encoder: args.model.full_name().into(), pooling: args.pooling.name().into() };
    let examples: Vec<Example> = features.iter().zip(&labels).map(|(f, &label)| Example { features: f, label }).collect();
    let fit = |examples: &[Example]| -> Result<Classifier> {
        let trainer = HeadTrainer::new(examples, scaling.clone(), source.clone(), HeadTrainingConfig::new(), &embedder.device)?;
        Ok(train_blocking(trainer)?)
    };
    let unlabelled: Vec<&[f32]> = unlabelled.iter().map(Vec::as_slice).collect();
    let views: Vec<TextView> = texts.iter().map(|t| TextView::of(t)).collect();
    let unlabelled_views: Vec<TextView> =
        if args.method.lexicon_seeds() { unlabelled_texts.iter().map(|t| TextView::of(t)).collect() } else { Vec::new() };
    let lexicon_scores: Vec<f32> = unlabelled_views.iter().map(|v| v.lexicon).collect();
    let seeds = args.method.lexicon_seeds().then(|| LexiconSeeds::new(&lexicon_scores));
    let first = first_round(&examples, &unlabelled, seeds);
    if seeds.is_some() {
        eprintln!("lexicon seeds: {} unlabelled reviews labelled by VADER", first.len() - examples.len());
    }
    let mut classifier = fit(&first)?;
    if args.method.learns_from_unlabelled() {
        let second = second_round(&classifier, examples, &unlabelled, seeds)?;
        eprintln!("self-training: {} unlabelled reviews join the labels in the second round", second.len() - labels.len());
        classifier = Classifier { trained_on: labels.len(), ..fit(&second)? };
    }
    if args.method == TrainMethod::Ensemble {
        let labelled: Vec<(&TextView, u8)> = views.iter().zip(labels.iter().copied()).collect();
        let unlabelled: Vec<(&[f32], &TextView)> = unlabelled.iter().copied().zip(&unlabelled_views).collect();
        classifier.text_votes = Some(text_votes(&classifier, &labelled, &unlabelled, LEXICON_VOTE, 0)?);
        eprintln!("votes: NB-SVM on the labelled reviews' n-grams and the VADER lexicon join the encoder's");
    }

    let mut confusion = Confusion::default();
    for ((f, view), &label) in features.iter().zip(&views).zip(&labels) {
        confusion.add(label, classifier.predict(f, view)?.label);
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
