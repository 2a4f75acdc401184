//! `flicktune train`: labelled reviews in (JSON Lines), a classifier file out, in the
//! very format the page exports and imports.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use flicktune::assets::pip::sha256_bytes;
use flicktune::assets::{AssetDir, page_data, read_reviews};
use flicktune::backend::BackendKind;
use flicktune::classifier::{Classifier, Confusion, FeatureScaling, TextView};
use flicktune::encoders::{ModelName, WeightPrecision};
use flicktune::features::{FeatureCache, Pooling};
use flicktune::recipe::{Recipe, TrainingSet};
use flicktune::training::{Example, FeatureSource, HeadTrainer, HeadTrainingConfig, class_weights, train_blocking};

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
    /// lexicon voting beside the encoder: the encoder's recipe, what the page trains
    /// (`docs/few-shot.md`).
    Ensemble,
}

impl TrainMethod {
    /// The recipe it names, for `model`: its own, or the steps towards it.
    fn recipe(self, model: ModelName) -> Recipe {
        let page = Recipe::for_encoder(model);
        match self {
            TrainMethod::Frozen => Recipe::FROZEN,
            TrainMethod::SelfTrain => Recipe { lexicon_seeds: 0, votes: None, ..page },
            TrainMethod::LexiconSelfTrain => Recipe { votes: None, ..page },
            TrainMethod::Ensemble => page,
        }
    }
}

/// What `--model` names: a BERT-style encoder whose frozen features the classifier reads,
/// or ULMFiT's AWD-LSTM, fine-tuned with its classifier.
#[derive(Clone, Copy)]
pub enum TrainModel {
    Encoder(ModelName),
    AwdLstm,
}

impl std::str::FromStr for TrainModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "awd-lstm" => Ok(TrainModel::AwdLstm),
            _ => s.parse().map(TrainModel::Encoder).map_err(|e| format!("{e}, or awd-lstm")),
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled reviews, JSON Lines: {"text": "...", "label": 1} (1 positive, 0 negative).
    #[arg(long)]
    labels: PathBuf,
    /// Where to write the classifier (JSON; `flicktune predict` and the page read it; for
    /// awd-lstm a safetensors file that `predict` reads).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Encoder whose frozen features the classifier reads: e5 (the page's default), l3-reviews,
    /// l3 or l6; or awd-lstm: ULMFiT (the language model tuned to the --unlabelled reviews,
    /// then its classifier, gradually unfrozen; --pooling and --method do not apply).
    #[arg(long, default_value = "e5")]
    pub(super) model: TrainModel,
    /// How long reviews are read: first, head-tail, chunks or windows (default: the page's
    /// choice for the encoder, its spec's classifier pooling).
    #[arg(long)]
    pooling: Option<Pooling>,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    pub(super) backend: BackendKind,
    /// What to train; the default is the page's own method.
    #[arg(long, value_enum, default_value = "ensemble")]
    method: TrainMethod,
    /// Reviews without labels (JSON Lines texts, like `predict`'s input): they standardise
    /// the features, and every method but `frozen` pseudo-labels the surest of them.
    /// Default for those methods: the page's bundled sample of 300 `train` reviews, as the
    /// page learns from.
    #[arg(long)]
    pub(super) unlabelled: Option<PathBuf>,
    /// awd-lstm: the pretrained language model's folder (default: the fetched one in the assets).
    #[arg(long)]
    pub(super) lm: Option<PathBuf>,
    /// awd-lstm: passes of language-model tuning over the labelled and unlabelled texts.
    #[arg(long, default_value_t = 1.0)]
    pub(super) lm_epochs: f64,
}

pub fn run(args: TrainArgs, assets: &AssetDir) -> Result<()> {
    let input =
        std::fs::read_to_string(&args.labels).with_context(|| format!("cannot read {}", args.labels.display()))?;
    let (texts, labels): (Vec<String>, Vec<u8>) = parse_labelled(&input)
        .with_context(|| format!("{} is not a labels file", args.labels.display()))?
        .into_iter()
        .unzip();
    // Refuse one-class labels and bad unlabelled files before minutes of encoding, not after.
    class_weights(&labels)?;
    let model = match args.model {
        TrainModel::Encoder(model) => model,
        TrainModel::AwdLstm => {
            let unlabelled = unlabelled_texts(&args, assets, true)?;
            return super::ulmfit::train(&args, &texts, &labels, &unlabelled, assets);
        }
    };
    let recipe = args.method.recipe(model);
    let page_sample = args.unlabelled.is_none() && recipe.learns_from_unlabelled();
    let unlabelled_texts = unlabelled_texts(&args, assets, page_sample)?;

    let pooling = args.pooling.unwrap_or(model.spec().classifier_pooling);
    let encoder = EncoderArgs { model, pooling: Some(pooling), backend: args.backend, batch: 8 };
    let embedder = encoder.embedder(assets)?;
    eprintln!(
        "encoding {} labelled and {} unlabelled reviews with {} ({} pooling)",
        texts.len(),
        unlabelled_texts.len(),
        model.full_name(),
        pooling.name()
    );
    let vectors = |texts: &[String]| -> Result<Vec<Vec<f32>>> {
        Ok(embedder.embed(texts)?.into_iter().map(|e| e.vector).collect())
    };
    let features = vectors(&texts)?;
    let cached = page_sample.then(|| page_sample_features(assets, model, pooling, &unlabelled_texts)).flatten();
    let unlabelled = match cached {
        Some(vectors) => {
            eprintln!("the sample's features: from the page's feature cache (computed by `fetch` with these weights)");
            vectors
        }
        None => vectors(&unlabelled_texts)?,
    };

    let scaling = FeatureScaling::fit(&features.iter().chain(&unlabelled).collect::<Vec<_>>());
    let source = FeatureSource { encoder: model, pooling };
    let examples: Vec<Example> =
        features.iter().zip(&labels).map(|(f, &label)| Example { features: f, label }).collect();
    let views: Vec<TextView> = texts.iter().map(|t| TextView::of(t)).collect();
    let unlabelled_views: Vec<TextView> =
        if recipe.reads_text() { unlabelled_texts.iter().map(|t| TextView::of(t)).collect() } else { Vec::new() };
    let set = TrainingSet {
        labelled: examples,
        unlabelled: unlabelled.iter().map(Vec::as_slice).collect(),
        lexicon_scores: unlabelled_views.iter().map(|v| v.lexicon).collect(),
    };
    let mut round = 0;
    let fit = |examples: &[Example]| -> Result<Classifier> {
        round += 1;
        let joined = examples.len() - labels.len();
        if round == 1 && recipe.lexicon_seeds > 0 {
            eprintln!("lexicon seeds: {joined} unlabelled reviews labelled by VADER");
        } else if round == 2 {
            eprintln!("self-training: {joined} unlabelled reviews join the labels in the second round");
        }
        let trainer = HeadTrainer::new(examples, scaling.clone(), source, HeadTrainingConfig::new(), &embedder.device)?;
        Ok(train_blocking(trainer)?)
    };
    let mut classifier = recipe.fit_head_blocking(&set, fit)?;
    let labelled: Vec<(&TextView, u8)> = views.iter().zip(labels.iter().copied()).collect();
    let beside: Vec<(&[f32], &TextView)> = set.unlabelled.iter().copied().zip(&unlabelled_views).collect();
    classifier.text_votes = recipe.votes(&classifier, &labelled, &beside, 0)?;
    if classifier.text_votes.is_some() {
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

/// The --unlabelled texts, else the page's sample where `page_sample`, else none.
fn unlabelled_texts(args: &TrainArgs, assets: &AssetDir, page_sample: bool) -> Result<Vec<String>> {
    Ok(match &args.unlabelled {
        Some(path) => {
            let input = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            parse_texts(&input).with_context(|| format!("{} is not a file of texts", path.display()))?
        }
        None if page_sample => {
            let sample = assets.imdb_dir().join("sample.jsonl");
            eprintln!("unlabelled reviews: the page's sample, {}", sample.display());
            read_reviews(&sample)?.into_iter().map(|r| r.text).collect()
        }
        None => Vec::new(),
    })
}

/// The page's precomputed features of its sample, when they were made with the very
/// weights the CLI loads for `model` (e5's packed file is both; the MiniLMs' page cache
/// is of their f16 weights, so they are encoded again) and `pooling`.
fn page_sample_features(
    assets: &AssetDir,
    model: ModelName,
    pooling: Pooling,
    texts: &[String],
) -> Option<Vec<Vec<f32>>> {
    let cache = std::fs::read(assets.page_dir().join(page_data::features_file(model))).ok()?;
    let cache: FeatureCache = serde_json::from_slice(&cache).ok()?;
    let weights = std::fs::read(assets.model_dir(model).join(model.spec().weights_file(WeightPrecision::F32))).ok()?;
    let fits = cache.model == model.full_name()
        && cache.pooling == pooling.name()
        && cache.weights_sha256 == sha256_bytes(&weights)
        && cache.sample.len() == texts.len();
    fits.then_some(cache.sample)
}
