//! `flicktune-bench labels`: what the page's "what to label next" buys. Labels of the
//! page's review sample are given one at a time, chosen by the page's suggestion (with a
//! retrain after each, as in the page) or at random (seeded draws); the classifier is the
//! page's, trained with the same code on the same cached features.
//!
//! Accuracy is measured on the page's held-out sample (from `test`), or, for choosing
//! between methods without looking at `test`, on other `train` reviews (`--eval train-dev`).

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use flicktune::assets::{AssetDir, Review, page_data, read_reviews};
use flicktune::backend::{BackendKind, open_device};
use flicktune::classifier::{Classifier, Confusion, FeatureScaling, TextView};
use flicktune::encoders::{ModelName, WeightPrecision};
use flicktune::features::{Embedder, FeatureCache};
use flicktune::recipe::{Recipe, TrainingSet};
use flicktune::sampling::{self, Candidate};
use flicktune::training::{Example, FeatureSource, HeadTrainer, HeadTrainingConfig, train_blocking};

#[derive(Clone, Copy, ValueEnum)]
pub enum EvalSet {
    /// The page's held-out sample (200 reviews of the test split).
    Heldout,
    /// Train-split reviews outside the page's sample, for choosing methods.
    TrainDev,
}

#[derive(Args)]
pub struct LabelsArgs {
    /// Encoder (l3: the one `docs/labelling.md` measured with; the page's default is e5).
    #[arg(long, default_value = "l3")]
    model: ModelName,
    #[arg(long, value_enum, default_value = "heldout")]
    eval: EvalSet,
    /// How many train-split reviews `--eval train-dev` measures on.
    #[arg(long, default_value_t = 500)]
    dev_size: usize,
    /// Label counts to report, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,50,100")]
    sizes: Vec<usize>,
    /// Random draws per size.
    #[arg(long, default_value_t = 10)]
    draws: u64,
    /// The simulated person trains after every this many labels (the suggestion uses the
    /// last classifier trained, as in the page); 1 retrains after every label.
    #[arg(long, default_value_t = 10)]
    retrain_every: usize,
    /// Train as the page does by default: the lexicon's surest picks among the sample's
    /// unlabelled reviews seed the first classifier, one round of self-training follows,
    /// and NB-SVM and the lexicon vote beside it.
    #[arg(long)]
    self_train: bool,
}

/// Labelled reviews and their features (the page's, `chunks` pooling, f16 weights).
pub(super) struct Labelled {
    pub texts: Vec<String>,
    pub views: Vec<TextView>,
    pub features: Vec<Vec<f32>>,
    pub labels: Vec<u8>,
}

/// The page's sample (the pool to label) and the set to measure on.
pub(super) fn pool_and_eval(
    assets: &AssetDir,
    model: ModelName,
    eval: EvalSet,
    dev_size: usize,
) -> Result<(Labelled, Labelled)> {
    let cache_path = assets.page_dir().join(page_data::features_file(model));
    let cache: FeatureCache = serde_json::from_slice(
        &std::fs::read(&cache_path)
            .with_context(|| format!("cannot read {}; run `flicktune fetch`", cache_path.display()))?,
    )?;
    let labelled = |reviews: Vec<Review>, features| Labelled {
        labels: reviews.iter().map(|r| r.label).collect(),
        views: reviews.iter().map(|r| TextView::of(&r.text)).collect(),
        texts: reviews.into_iter().map(|r| r.text).collect(),
        features,
    };
    let sample = read_reviews(&assets.imdb_dir().join("sample.jsonl"))?;
    let sample_len = sample.len();
    let pool = labelled(sample, cache.sample);
    let eval = match eval {
        EvalSet::Heldout => labelled(read_reviews(&assets.page_dir().join(page_data::HELDOUT_FILE))?, cache.heldout),
        EvalSet::TrainDev => {
            let reviews: Vec<Review> =
                read_reviews(&assets.imdb_split("train"))?.into_iter().skip(sample_len).take(dev_size).collect();
            let features = train_dev_features(assets, model, &reviews)?;
            labelled(reviews, features)
        }
    };
    ensure!(
        pool.features.len() == pool.labels.len() && eval.features.len() == eval.labels.len(),
        "features and reviews disagree: run `flicktune fetch`"
    );
    Ok((pool, eval))
}

pub fn run(args: LabelsArgs, assets: &AssetDir) -> Result<()> {
    let (pool, eval) = pool_and_eval(assets, args.model, args.eval, args.dev_size)?;
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    ensure!(largest <= pool.labels.len(), "the sample has only {} reviews", pool.labels.len());
    let scaling = FeatureScaling::fit(&pool.features);

    let started = Instant::now();
    let recipe = if args.self_train { Recipe::for_encoder(args.model) } else { Recipe::FROZEN };
    let source = FeatureSource { encoder: args.model, pooling: args.model.spec().classifier_pooling };
    let trainer = Trainer { pool: &pool, scaling: &scaling, recipe, source };
    let order = suggestion_order(&trainer, largest, args.retrain_every.max(1))?;
    let suggested = curve(&order, &trainer, &eval, &args.sizes)?;
    let suggest_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut random: Vec<Vec<f32>> = vec![Vec::new(); args.sizes.len()];
    for seed in 0..args.draws {
        let mut order: Vec<usize> = (0..pool.labels.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        for (i, accuracy) in curve(&order, &trainer, &eval, &args.sizes)?.into_iter().enumerate() {
            random[i].push(accuracy);
        }
    }
    let eval_name = match args.eval {
        EvalSet::Heldout => "the page's held-out sample (test split)",
        EvalSet::TrainDev => "train-split reviews outside the page's sample",
    };
    let method = if args.self_train {
        ", the page's default (lexicon seeds, self-training, NB-SVM and lexicon votes)"
    } else {
        ""
    };
    println!("{}{method}: accuracy (%) on {} reviews of {eval_name}", args.model.full_name(), eval.labels.len());
    println!(
        "suggested: one run, training after every {} label(s) ({suggest_seconds:.1} s); random: {} seeded draws ({:.1} s)\n",
        args.retrain_every,
        args.draws,
        started.elapsed().as_secs_f64()
    );
    println!("| labels | suggested | random (mean ± sd) |");
    println!("|---|---|---|");
    for (i, n) in args.sizes.iter().enumerate() {
        let (mean, sd) = mean_sd(&random[i]);
        println!("| {n} | {:.1} | {:.1} ± {:.1} |", 100.0 * suggested[i], 100.0 * mean, 100.0 * sd);
    }
    Ok(())
}

/// The order in which the page would suggest the sample's reviews to a person who
/// trains after every `retrain_every` labels.
fn suggestion_order(trainer: &Trainer, n: usize, retrain_every: usize) -> Result<Vec<usize>> {
    let pool = trainer.pool;
    let mut order: Vec<usize> = Vec::new();
    let mut classifier = None;
    while order.len() < n {
        if order.len().is_multiple_of(retrain_every) {
            classifier = trainer.train(&order)?;
        }
        let open: Vec<usize> = (0..pool.labels.len()).filter(|i| !order.contains(i)).collect();
        let candidates: Vec<Candidate> = open
            .iter()
            .map(|&i| Candidate {
                features: &pool.features[i],
                positive: classifier
                    .as_ref()
                    .and_then(|c| c.predict(&pool.features[i], &pool.views[i]).ok())
                    .map(|p| p.positive),
            })
            .collect();
        let labelled: Vec<&[f32]> = order.iter().map(|&i| pool.features[i].as_slice()).collect();
        let pick = sampling::suggest(&candidates, &labelled).context("the pool ran out")?;
        order.push(open[pick]);
    }
    Ok(order)
}

/// Accuracy on `eval` after training on the first `n` of `order`, for each size.
fn curve(order: &[usize], trainer: &Trainer, eval: &Labelled, sizes: &[usize]) -> Result<Vec<f32>> {
    sizes
        .iter()
        .map(|&n| {
            Ok(match trainer.train(&order[..n])? {
                Some(c) => accuracy(&c, eval),
                None => 0.5, // one class only: no classifier, chance
            })
        })
        .collect()
}

/// The page's training on its sample with `recipe`: the encoder's own (learning from the
/// rest of the sample) or [`Recipe::FROZEN`].
struct Trainer<'a> {
    pool: &'a Labelled,
    scaling: &'a FeatureScaling,
    recipe: Recipe,
    source: FeatureSource,
}

impl Trainer<'_> {
    /// The page's classifier on these labelled reviews of the pool; `None` while one class is missing.
    fn train(&self, labelled: &[usize]) -> Result<Option<Classifier>> {
        let examples = examples(labelled, self.pool);
        if examples.iter().all(|e| e.label == examples[0].label) {
            return Ok(None);
        }
        let pool = self.pool;
        let open: Vec<usize> = (0..pool.labels.len()).filter(|i| !labelled.contains(i)).collect();
        let set = TrainingSet {
            labelled: examples,
            unlabelled: open.iter().map(|&i| pool.features[i].as_slice()).collect(),
            lexicon_scores: open.iter().map(|&i| pool.views[i].lexicon).collect(),
        };
        let mut classifier =
            self.recipe.fit_head_blocking(&set, |examples| fit(examples, self.scaling, self.source))?;
        let labelled_views: Vec<(&TextView, u8)> = labelled.iter().map(|&i| (&pool.views[i], pool.labels[i])).collect();
        let beside: Vec<(&[f32], &TextView)> =
            open.iter().map(|&i| (pool.features[i].as_slice(), &pool.views[i])).collect();
        classifier.text_votes = self.recipe.votes(&classifier, &labelled_views, &beside, 0)?;
        Ok(Some(classifier))
    }
}

fn examples<'a>(labelled: &[usize], pool: &'a Labelled) -> Vec<Example<'a>> {
    labelled.iter().map(|&i| Example { features: &pool.features[i], label: pool.labels[i] }).collect()
}

/// The page's classifier on these labelled reviews; `None` while one class is missing.
pub(super) fn train(
    labelled: &[usize],
    pool: &Labelled,
    scaling: &FeatureScaling,
    source: FeatureSource,
) -> Result<Option<Classifier>> {
    let examples = examples(labelled, pool);
    if examples.iter().all(|e| e.label == examples[0].label) {
        return Ok(None);
    }
    fit(&examples, scaling, source).map(Some)
}

/// The page's classifier (logistic regression, its fixed settings) on the CPU backend,
/// reading features from `source`.
pub(super) fn fit(examples: &[Example], scaling: &FeatureScaling, source: FeatureSource) -> Result<Classifier> {
    let device = open_device(BackendKind::Cpu)?;
    let trainer = HeadTrainer::new(examples, scaling.clone(), source, HeadTrainingConfig::new(), &device)?;
    Ok(train_blocking(trainer)?)
}

pub(super) fn accuracy(classifier: &Classifier, eval: &Labelled) -> f32 {
    let mut confusion = Confusion::default();
    for ((features, view), &label) in eval.features.iter().zip(&eval.views).zip(&eval.labels) {
        confusion.add(label, classifier.predict(features, view).map_or(0, |p| p.label));
    }
    confusion.accuracy()
}

pub(super) fn mean_sd(values: &[f32]) -> (f32, f32) {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    (mean, (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt())
}

/// The page's encoder as the feature cache was computed: f16 weights, `chunks` pooling, CPU.
pub(super) fn page_embedder(assets: &AssetDir, model: ModelName) -> Result<Embedder> {
    let device = open_device(BackendKind::Cpu)?;
    let mut files = assets.model_files(model)?;
    files.weights = std::fs::read(assets.model_dir(model).join(model.spec().weights_file(WeightPrecision::F16)))?;
    let (tokenizer, encoder) = files.load(&device)?;
    Ok(Embedder { tokenizer, model: encoder, device, pooling: model.spec().classifier_pooling, batch_size: 8 })
}

/// Features of train reviews outside the page's sample, computed like the cache's (and
/// kept beside it for the next run).
fn train_dev_features(assets: &AssetDir, model: ModelName, reviews: &[Review]) -> Result<Vec<Vec<f32>>> {
    let kept = assets.page_dir().join(format!("train-dev-{}.{}.json", reviews.len(), model.full_name()));
    if let Ok(bytes) = std::fs::read(&kept) {
        return Ok(serde_json::from_slice(&bytes)?);
    }
    eprintln!("computing features of {} train-split reviews for --eval train-dev", reviews.len());
    let texts: Vec<&str> = reviews.iter().map(|r| r.text.as_str()).collect();
    let features: Vec<Vec<f32>> = page_embedder(assets, model)?.embed(&texts)?.into_iter().map(|e| e.vector).collect();
    std::fs::write(&kept, serde_json::to_vec(&features)?)?;
    Ok(features)
}
