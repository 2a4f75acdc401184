//! `flicktune-bench curve`: accuracy against the number of labels, FF11-style.
//!
//! For each N, ten seeded draws of N labelled reviews (half per class) from a fixed pool
//! of `train` reviews; each method trains on the draw alone and is scored on the whole
//! 2,000-review `test` split. The pool's other reviews may be used without their labels
//! (standardising features, self-training); `test` texts are only ever scored.
//! Hyper-parameters are fixed in advance: none is chosen on `test`.
//!
//! Every finished draw is saved at once, so an interrupted run resumes where it stopped.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use burn::tensor::Device;
use flicktune::assets::committed::L3_REVIEWS_WEIGHTS;
use flicktune::assets::train_parts::{POOL_PER_CLASS, TrainParts};
use flicktune::assets::{AssetDir, Review, read_reviews};
use flicktune::backend::BackendKind;
use flicktune::classifier::{Classifier, FeatureScaling, TextView};
use flicktune::encoders::awd_lstm::AwdLstm;
use flicktune::encoders::{ENCODERS, ModelName};
use flicktune::features::{Embedder, Pooling};
use flicktune::lexicon;
use flicktune::nbsvm::NbSvm;
use flicktune::recipe::{Recipe, TrainingSet, Votes};
use flicktune::training::{Example, FeatureSource, run_to_end};
use flicktune::ulmfit::{PretrainedLm, UlmfitConfig, UlmfitTrainer, language_model_tuning, tune_language_model};

use crate::labels::fit;
use crate::{report, store};

#[derive(Args)]
pub struct CurveArgs {
    /// Label counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,50,100,200,500,1000")]
    sizes: Vec<usize>,
    /// Seeded draws per label count (draw d uses seed d; the draws of one seed are nested).
    #[arg(long, default_value_t = 10)]
    draws: u64,
    /// Methods, comma-separated (default: all; `docs/few-shot.md` says what each is).
    #[arg(long, value_delimiter = ',')]
    methods: Vec<Method>,
    /// The quicker subset: 10-100 labels, 3 draws, only the page's encoder (about 12 minutes the
    /// first time, most of it encoding; seconds once features are stored).
    #[arg(long)]
    quick: bool,
    /// Where the JSON results, the Markdown table and the SVG chart go.
    #[arg(long, default_value = "docs/curve")]
    out: PathBuf,
    /// Forget the results of earlier runs (features stay stored) and start over.
    #[arg(long)]
    fresh: bool,
    /// What the draws are scored on: the `test` split (the curve), or `train` reviews
    /// outside the pool, for choosing between methods and settings without `test`
    /// (results kept apart, in `curve-train-dev-progress.json`).
    #[arg(long, value_enum, default_value = "test")]
    eval: Scored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scored {
    Test,
    TrainDev,
}

impl Scored {
    fn name(self) -> &'static str {
        match self {
            Scored::Test => "test",
            Scored::TrainDev => "train-dev",
        }
    }
}

/// A way of turning N labelled reviews into a sentiment classifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The VADER lexicon and rules: no labels at all.
    Vader,
    NbSvm,
    /// Logistic regression on the mean of L6's input word embeddings over the review.
    WordMean,
    /// Logistic regression on frozen encoder features.
    Frozen(ModelName, Pooling),
    /// [`Method::Frozen`], then one round of self-training on the whole unlabelled pool.
    SelfTrained(ModelName, Pooling),
    /// The library's [`Recipe`] on frozen encoder features, learning from [`PAGE_POOL`]
    /// unlabelled reviews, as many as the page has (the page's row is one of these).
    Trained {
        model: ModelName,
        pooling: Pooling,
        recipe: Recipe,
    },
    /// ULMFiT: the pretrained AWD-LSTM tuned to the [`PAGE_POOL`] unlabelled reviews'
    /// text, then its classifier on the draw, gradually unfrozen (`src/ulmfit.rs`), with
    /// the page's settings. Asked for by name (`--methods ulmfit`), not in the default
    /// run: hours on 2 cores.
    Ulmfit,
}

/// The page's unlabelled pool: its bundled `train` sample.
pub const PAGE_POOL: usize = flicktune::assets::SAMPLE_SIZE;

/// The steps towards an encoder's recipe: seeds (`lexicon_seeds` per class) and
/// self-training, and the votes with the lexicon at `lexicon` and NB-SVM full from
/// `nbsvm_fully_from` labels per class.
fn recipe(lexicon_seeds: usize, votes: Option<(f32, usize)>) -> Recipe {
    let votes = votes.map(|(lexicon, nbsvm_fully_from)| Votes { lexicon, nbsvm_fully_from, ..VOTES });
    Recipe { lexicon_seeds, votes, ..Recipe::MINILM }
}

/// The MiniLMs' votes, that the bench's rows vary.
const VOTES: Votes = match Recipe::MINILM.votes {
    Some(votes) => votes,
    None => panic!("the MiniLMs' recipe has votes"),
};

/// Lexicon seeds per class in the recipes.
const SEEDS: usize = Recipe::MINILM.lexicon_seeds;

impl Method {
    /// `model`'s classifier pooling with `recipe`.
    fn trained(model: ModelName, recipe: Recipe) -> Method {
        Method::Trained { model, pooling: model.spec().classifier_pooling, recipe }
    }

    pub fn all() -> Vec<Method> {
        let mut all = vec![Method::Vader, Method::NbSvm, Method::WordMean];
        for model in ModelName::ALL {
            // Each encoder with its own whole-review pooling (`chunks`, or e5's `windows`).
            let whole = model.spec().classifier_pooling;
            let poolings = [Pooling::First, Pooling::HeadTail, whole];
            all.extend(poolings.map(|p| Method::Frozen(model, p)));
        }
        let l3 = ModelName::L3;
        all.push(Method::SelfTrained(l3, Pooling::Chunks));
        // The recipe's steps, each kept for what it adds (chosen with `--eval train-dev`).
        all.push(Method::trained(l3, recipe(0, None)));
        all.push(Method::trained(l3, recipe(SEEDS, None)));
        all.extend([
            Method::trained(l3, recipe(0, Some((0.0, 25)))),
            Method::trained(l3, recipe(SEEDS, Some((1.0, 25)))),
        ]);
        // The same on the encoder adapted to reviews (its frozen rows are above), and its
        // recipe, the lexicon's vote halved.
        let adapted = ModelName::L3Reviews;
        all.extend(
            [recipe(SEEDS, None), recipe(SEEDS, Some((1.0, 25))), Recipe::MINILM].map(|r| Method::trained(adapted, r)),
        );
        // e5 (its frozen rows are above): the same steps on the stronger encoder, its recipe last.
        let e5 = ModelName::E5;
        let e5_seeds = Recipe::E5.lexicon_seeds;
        let steps =
            [recipe(0, None), recipe(SEEDS, None), recipe(e5_seeds, None), recipe(0, Some((0.0, 25))), Recipe::MINILM];
        all.extend(steps.map(|r| Method::trained(e5, r)));
        if Method::trained(e5, Recipe::E5) != Method::trained(e5, Recipe::MINILM) {
            all.push(Method::trained(e5, Recipe::E5));
        }
        debug_assert_eq!(all.last(), Some(&Method::PAGE));
        all
    }

    /// [`Method::all`] and the settings tried beside it (`--eval train-dev`).
    pub fn candidates() -> Vec<Method> {
        let mut all = Method::all();
        let l3 = ModelName::L3;
        let seeds = [25, 50, 100].map(|k| Method::trained(l3, recipe(k, None)));
        let ensembles = [(0, 0.0), (SEEDS, 0.0), (0, 1.0), (SEEDS, 1.0)]
            .map(|(k, w)| Method::trained(l3, recipe(k, Some((w, 25)))));
        // The lexicon's weight in the adapted L3's recipe.
        let lexicon_weights =
            [0.0, 0.25, 0.5, 0.75, 1.0].map(|w| Method::trained(ModelName::L3Reviews, recipe(SEEDS, Some((w, 25)))));
        // Which of the recipe's steps still help on e5, and when NB-SVM should join.
        let e5 = ModelName::E5;
        let e5_steps =
            [(0, 0.5), (SEEDS, 0.0), (SEEDS, 1.0)].map(|(k, w)| Method::trained(e5, recipe(k, Some((w, 25)))));
        let e5_votes = [
            (0.0, 50),
            (0.0, 100),
            (0.0, 150),
            (0.0, 250),
            (0.0, 500),
            (0.0, 1000),
            (0.25, 250),
            (0.5, 50),
            (0.5, 100),
            (0.5, 250),
        ]
        .map(|(w, from)| Method::trained(e5, recipe(SEEDS, Some((w, from)))));
        let e5_seeds = [(25, 250), (50, 250), (200, 250), (50, 100), (50, 500)]
            .map(|(k, from)| Method::trained(e5, recipe(k, Some((0.0, from)))));
        for method in seeds
            .into_iter()
            .chain(ensembles)
            .chain(lexicon_weights)
            .chain(e5_steps)
            .chain(e5_votes)
            .chain(e5_seeds)
            .chain([Method::Ulmfit])
        {
            if !all.contains(&method) {
                all.push(method);
            }
        }
        all
    }

    /// What needs no encoder or only the page's (encoding is the slow part).
    fn quick() -> Vec<Method> {
        Method::all().into_iter().filter(|m| m.encoder().is_none_or(|e| Some(e) == Method::PAGE.encoder())).collect()
    }

    /// The encoder whose features it reads, if any.
    fn encoder(self) -> Option<ModelName> {
        match self {
            Method::Frozen(m, _) | Method::SelfTrained(m, _) | Method::Trained { model: m, .. } => Some(m),
            Method::Vader | Method::NbSvm | Method::WordMean | Method::Ulmfit => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Method::Vader => "vader".into(),
            Method::NbSvm => "nbsvm".into(),
            Method::WordMean => "word-mean".into(),
            Method::Ulmfit => "ulmfit".into(),
            Method::Frozen(m, p) => format!("{}-{}", m.short(), p.name()),
            Method::SelfTrained(m, p) => format!("{}-{}-self-train", m.short(), p.name()),
            Method::Trained { model, pooling, recipe } => {
                let seeds =
                    if recipe.lexicon_seeds > 0 { format!("vader-{}-", recipe.lexicon_seeds) } else { String::new() };
                let member = format!("{}-{}-{seeds}self-train-{PAGE_POOL}", model.short(), pooling.name());
                match recipe.votes {
                    None => member,
                    Some(votes) => {
                        let vader = lexicon_weight(votes.lexicon).map_or(String::new(), |w| format!("vader{w}+"));
                        format!("{vader}nbsvm{}+{member}", nbsvm_from(votes))
                    }
                }
            }
        }
    }

    /// What the page trains by default: the default encoder's recipe.
    pub const PAGE: Method = Method::Trained {
        model: ENCODERS[0].name,
        pooling: ENCODERS[0].classifier_pooling,
        recipe: Recipe::for_encoder(ENCODERS[0].name),
    };

    /// What the method is, for tables and charts.
    pub fn describe(self) -> String {
        let page = if self == Method::PAGE { " (page)" } else { "" };
        self.describe_plainly() + page
    }

    fn describe_plainly(self) -> String {
        match self {
            Method::Vader => "VADER lexicon, no labels".into(),
            Method::NbSvm => "NB-SVM, uni+bigrams".into(),
            Method::WordMean => "mean of L6 word embeddings + LR".into(),
            Method::Ulmfit => {
                "ULMFiT: AWD-LSTM pretrained on train, tuned to the page's pool, gradual unfreezing (page settings)"
                    .into()
            }
            Method::Frozen(m, p) => format!("{} {} + LR (frozen)", m.describe(), p.name()),
            Method::SelfTrained(m, p) => format!("{} {} + LR + self-training", m.describe(), p.name()),
            Method::Trained { model, pooling, recipe } => {
                let k = recipe.lexicon_seeds;
                let seeds = if k > 0 { format!(" + VADER's surest {k}+{k}") } else { String::new() };
                let member =
                    format!("{} {} + LR{seeds} + self-training on {PAGE_POOL}", model.describe(), pooling.name());
                let Some(votes) = recipe.votes else { return member };
                let vader = match lexicon_weight(votes.lexicon) {
                    Some(w) if w.is_empty() => "VADER + ".into(),
                    Some(w) => format!("VADER ×{w} + "),
                    None => String::new(),
                };
                let from = match nbsvm_from(votes) {
                    from if from.is_empty() => String::new(),
                    from => format!(" (full from {from} per class)"),
                };
                format!("{vader}NB-SVM{from} + {member}, summed")
            }
        }
    }
}

/// The lexicon's weight in a method's name: none for 0 (no vote), empty for 1 (a
/// model's), else the fraction.
fn lexicon_weight(weight: f32) -> Option<String> {
    match weight {
        0.0 => None,
        1.0 => Some(String::new()),
        weight => Some(weight.to_string()),
    }
}

/// When NB-SVM's vote is full, in a method's name: empty for the MiniLMs' 25 per class.
fn nbsvm_from(votes: Votes) -> String {
    if votes.nbsvm_fully_from == VOTES.nbsvm_fully_from { String::new() } else { votes.nbsvm_fully_from.to_string() }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::candidates().into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<String> = Method::candidates().into_iter().map(Method::name).collect();
            format!("unknown method `{s}`: use one of {}", names.join(", "))
        })
    }
}

/// The measurement's fixed set-up; results from another set-up are not mixed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub pool_per_class: usize,
    pub test_reviews: usize,
    /// `test`, or `train-dev` (see [`Scored`]).
    #[serde(default = "test_split")]
    pub scored_on: String,
}

fn test_split() -> String {
    Scored::Test.name().into()
}

/// One draw's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub method: String,
    pub n: usize,
    pub draw: u64,
    pub accuracy: f32,
    /// Training and scoring this draw, features already computed.
    pub seconds: f64,
}

/// Everything measured so far: the resumable state, and what the report is made from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub setup: Setup,
    pub records: Vec<Record>,
    /// One-off preparation per method (encoding the reviews, scoring VADER), in seconds.
    pub preparation: BTreeMap<String, f64>,
}

impl Progress {
    fn load_or_new(path: &Path, setup: Setup, fresh: bool) -> Result<Progress> {
        let fresh_progress = Progress { setup: setup.clone(), records: Vec::new(), preparation: BTreeMap::new() };
        if fresh {
            return Ok(fresh_progress);
        }
        let Ok(bytes) = std::fs::read(path) else { return Ok(fresh_progress) };
        let progress: Progress = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged: run with --fresh to start over", path.display()))?;
        if progress.setup != setup {
            bail!("{} holds results of another set-up: run with --fresh to start over", path.display());
        }
        Ok(progress)
    }

    fn save(&self, path: &Path) -> Result<()> {
        // Write then rename, so an interruption never leaves half a file.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, serde_json::to_vec(self)?)?;
        std::fs::rename(&partial, path)?;
        Ok(())
    }

    fn has(&self, method: &str, n: usize, draw: u64) -> bool {
        self.records.iter().any(|r| r.method == method && r.n == n && r.draw == draw)
    }
}

/// The pool to draw labels from and the reviews to score on (`test`: the test split).
struct Reviews {
    pool: Vec<Review>,
    test: Vec<Review>,
    scored: Scored,
}

impl Reviews {
    fn load(assets: &AssetDir, scored: Scored) -> Result<Reviews> {
        let TrainParts { pool, train_dev, .. } = TrainParts::read(assets)?;
        let test = match scored {
            Scored::Test => read_reviews(&assets.imdb_split("test"))?,
            Scored::TrainDev => train_dev,
        };
        Ok(Reviews { pool, test, scored })
    }

    fn pool_labels(&self) -> Vec<u8> {
        self.pool.iter().map(|r| r.label).collect()
    }
}

/// Draw `seed`'s `n` labelled pool reviews: `n / 2` negative, the rest positive. Draws of
/// one seed are nested (the first 10 of the 20, and so on).
pub fn draw(pool_labels: &[u8], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = Vec::with_capacity(n);
    for (label, count) in [(0u8, n / 2), (1, n - n / 2)] {
        let mut members: Vec<usize> = (0..pool_labels.len()).filter(|&i| pool_labels[i] == label).collect();
        members.shuffle(&mut rng);
        picked.extend(members.into_iter().take(count));
    }
    picked
}

/// What a method needs before its draws, computed once.
enum Prepared {
    /// Test accuracy: the same for every draw, since no labels are used.
    Vader(f32),
    NbSvm(Box<TextViews>),
    Features(Box<Features>),
    Ulmfit(Box<UlmfitPrepared>),
}

/// ULMFiT's language model tuned to the domain, and every review as its word ids.
struct UlmfitPrepared {
    lm: AwdLstm,
    pool: Vec<Vec<u32>>,
    test: Vec<Vec<u32>>,
}

/// Encoder features and how the method trains on them.
struct Features {
    pool: Vec<Vec<f32>>,
    test: Vec<Vec<f32>>,
    scaling: FeatureScaling,
    /// What the classifiers record they read (in memory only: the bench writes none).
    source: FeatureSource,
    recipe: Recipe,
    /// The recipe learns from the first this many pool reviews (not drawn).
    unlabelled: usize,
    /// The n-grams and lexicon scores of the pool and the scored reviews, when the recipe
    /// reads them.
    views: Option<TextViews>,
}

/// [`TextView`]s of the pool's reviews and of the scored ones.
struct TextViews {
    pool: Vec<TextView>,
    test: Vec<TextView>,
}

impl TextViews {
    fn of(reviews: &Reviews) -> Self {
        let views = |set: &[Review]| set.iter().map(|r| TextView::of(&r.text)).collect();
        TextViews { pool: views(&reviews.pool), test: views(&reviews.test) }
    }
}

pub fn run(args: CurveArgs, assets: &AssetDir) -> Result<()> {
    let (sizes, draws, methods) = if args.quick {
        (vec![10, 20, 50, 100], 3, Method::quick())
    } else if args.methods.is_empty() {
        (args.sizes, args.draws, Method::all())
    } else {
        (args.sizes, args.draws, args.methods)
    };
    ensure!(sizes.iter().all(|&n| (2..=POOL_PER_CLASS).contains(&n)), "label counts must lie in 2..={POOL_PER_CLASS}");
    let reviews = Reviews::load(assets, args.eval)?;
    let bench_dir = assets.bench_dir();
    let progress_path = match args.eval {
        Scored::Test => bench_dir.join("curve-progress.json"),
        Scored::TrainDev => bench_dir.join("curve-train-dev-progress.json"),
    };
    std::fs::create_dir_all(&bench_dir)?;
    let setup =
        Setup { pool_per_class: POOL_PER_CLASS, test_reviews: reviews.test.len(), scored_on: args.eval.name().into() };
    let mut progress = Progress::load_or_new(&progress_path, setup, args.fresh)?;

    let pool_labels = reviews.pool_labels();
    let test_labels: Vec<u8> = reviews.test.iter().map(|r| r.label).collect();
    for method in &methods {
        let name = method.name();
        let todo: Vec<(usize, u64)> = sizes
            .iter()
            .flat_map(|&n| (0..draws).map(move |d| (n, d)))
            .filter(|&(n, d)| !progress.has(&name, n, d))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let started = Instant::now();
        let (prepared, stored_seconds) = prepare(*method, &reviews, assets, &bench_dir)?;
        progress.preparation.insert(name.clone(), stored_seconds.unwrap_or_else(|| started.elapsed().as_secs_f64()));
        let bar = ProgressBar::new(todo.len() as u64).with_style(
            ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} draws {msg} ({elapsed}, eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        for (n, d) in todo {
            bar.set_message(format!("N={n}"));
            let started = Instant::now();
            let labelled = draw(&pool_labels, n, d);
            let accuracy = evaluate(&prepared, &labelled, &pool_labels, &test_labels, d)?;
            progress.records.push(Record {
                method: name.clone(),
                n,
                draw: d,
                accuracy,
                seconds: started.elapsed().as_secs_f64(),
            });
            progress.save(&progress_path)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        eprintln!("{name}: done in {:.0} s", started.elapsed().as_secs_f64());
    }
    report::write(&args.out, &progress)?;
    eprintln!("wrote {0}/curve.json, {0}/curve.md and {0}/curve.svg", args.out.display());
    Ok(())
}

/// The method's one-off work, and for encoder features the time their encoding took
/// (stored with them, so a resumed run still states it).
fn prepare(method: Method, reviews: &Reviews, assets: &AssetDir, bench_dir: &Path) -> Result<(Prepared, Option<f64>)> {
    Ok(match method {
        Method::Vader => {
            let right = reviews.test.iter().filter(|r| u8::from(lexicon::score(&r.text) >= 0.0) == r.label).count();
            (Prepared::Vader(right as f32 / reviews.test.len() as f32), None)
        }
        Method::NbSvm => (Prepared::NbSvm(Box::new(TextViews::of(reviews))), None),
        Method::Ulmfit => (Prepared::Ulmfit(Box::new(ulmfit_prepared(reviews, assets)?)), None),
        Method::WordMean => {
            let embedder = frozen_embedder(assets, ModelName::L6)?;
            let mean = |set: &[Review]| -> Result<Vec<Vec<f32>>> { Ok(embedder.word_vectors_blocking(&texts(set))?) };
            // Not a pooling of the encoder's output, but L6's input embeddings over the
            // whole review: the nearest true record for a classifier never written.
            let source = FeatureSource { encoder: ModelName::L6, pooling: Pooling::Chunks };
            (Prepared::Features(Box::new(features_prepared(mean(&reviews.pool)?, mean(&reviews.test)?, source))), None)
        }
        Method::Frozen(model, pooling)
        | Method::SelfTrained(model, pooling)
        | Method::Trained { model, pooling, .. } => {
            let embedder = frozen_embedder(assets, model)?;
            let dir = bench_dir.join("features");
            let stored = stored_name(model);
            let mut pool = store::pooled_features(&embedder, &texts(&reviews.pool), &dir, &format!("{stored}-pool"))?;
            let scored_name = format!("{stored}-{}", reviews.scored.name());
            let mut test = store::pooled_features(&embedder, &texts(&reviews.test), &dir, &scored_name)?;
            let take = |f: &mut store::PooledFeatures| {
                f.by_pooling.remove(pooling.name()).context("a stored pooling is missing")
            };
            let seconds = pool.seconds + test.seconds;
            let source = FeatureSource { encoder: model, pooling };
            let mut features = features_prepared(take(&mut pool)?, take(&mut test)?, source);
            (features.recipe, features.unlabelled) = match method {
                Method::SelfTrained(..) => (Recipe { self_training: true, ..Recipe::FROZEN }, usize::MAX),
                Method::Trained { recipe, .. } => (recipe, PAGE_POOL),
                _ => (Recipe::FROZEN, 0),
            };
            if features.recipe.reads_text() {
                features.views = Some(TextViews::of(reviews));
            }
            (Prepared::Features(Box::new(features)), Some(seconds))
        }
    })
}

/// The name an encoder's stored features go by: the adapted L3's also names its weights,
/// which a new `flicktune adapt` run would change.
fn stored_name(model: ModelName) -> String {
    match model {
        ModelName::L3Reviews => format!("{}-{}", model.short(), &L3_REVIEWS_WEIGHTS.sha256[..12]),
        ModelName::L3 | ModelName::L6 | ModelName::E5 => model.short().into(),
    }
}

fn texts(set: &[Review]) -> Vec<&str> {
    set.iter().map(|r| r.text.as_str()).collect()
}

/// Plain logistic regression on the features, standardised with the whole unlabelled
/// pool (`train` texts only).
fn features_prepared(pool: Vec<Vec<f32>>, test: Vec<Vec<f32>>, source: FeatureSource) -> Features {
    let scaling = FeatureScaling::fit(&pool);
    Features { pool, test, scaling, source, recipe: Recipe::FROZEN, unlabelled: 0, views: None }
}

/// The encoder with its original (f32) weights on the CPU backend.
fn frozen_embedder(assets: &AssetDir, model: ModelName) -> Result<Embedder> {
    Ok(assets.embedder(model, Some(Pooling::Chunks), BackendKind::Cpu, 8)?)
}

fn evaluate(prepared: &Prepared, labelled: &[usize], pool_labels: &[u8], test_labels: &[u8], seed: u64) -> Result<f32> {
    let labels: Vec<u8> = labelled.iter().map(|&i| pool_labels[i]).collect();
    let right = match prepared {
        Prepared::Vader(accuracy) => return Ok(*accuracy),
        Prepared::NbSvm(views) => {
            let docs: Vec<&[String]> = labelled.iter().map(|&i| views.pool[i].ngrams.as_slice()).collect();
            let model = NbSvm::train(&docs, &labels, seed);
            views.test.iter().zip(test_labels).filter(|(view, label)| model.predict(&view.ngrams) == **label).count()
        }
        Prepared::Features(features) => {
            let classifier = features.classifier(labelled, pool_labels, seed)?;
            let mut right = 0;
            for (i, (x, &label)) in features.test.iter().zip(test_labels).enumerate() {
                let decision = match &features.views {
                    Some(views) => classifier.decision(x, &views.test[i])?,
                    None => classifier.logit(x)?,
                };
                right += usize::from(u8::from(decision > 0.0) == label);
            }
            right
        }
        Prepared::Ulmfit(prepared) => {
            let reviews: Vec<(Vec<u32>, u8)> =
                labelled.iter().map(|&i| (prepared.pool[i].clone(), pool_labels[i])).collect();
            let config = UlmfitConfig::for_page().with_seed(seed);
            let mut trainer = UlmfitTrainer::new(prepared.lm.clone(), &reviews, config.clone(), &Device::flex())?;
            run_to_end(&mut trainer);
            let positive = trainer.finish().positive(&prepared.test, config.max_tokens, config.batch_size);
            positive.iter().zip(test_labels).filter(|(p, label)| u8::from(**p >= 0.5) == **label).count()
        }
    };
    Ok(right as f32 / test_labels.len() as f32)
}

/// The fetched AWD-LSTM tuned (one pass) to the first [`PAGE_POOL`] pool reviews: the
/// unlabelled text the page has. Labels unused; the scored reviews are not read here.
fn ulmfit_prepared(reviews: &Reviews, assets: &AssetDir) -> Result<UlmfitPrepared> {
    let device = Device::flex();
    let PretrainedLm { vocab, model, .. } = PretrainedLm::read_dir(&assets.awd_lstm_dir(), &device)?;
    let encode = |set: &[Review]| -> Vec<Vec<u32>> { set.iter().map(|r| vocab.encode(&r.text)).collect() };
    let (pool, test) = (encode(&reviews.pool), encode(&reviews.test));
    let domain = &pool[..PAGE_POOL.min(pool.len())];
    let tokens = domain.iter().map(Vec::len).sum();
    let mut tuner = tune_language_model(model, domain, language_model_tuning(tokens, 1.0, 0), &device);
    run_to_end(&mut tuner);
    Ok(UlmfitPrepared { lm: tuner.finish(), pool, test })
}

impl Features {
    /// The pool's first `limit` reviews that are not in the draw: the unlabelled set.
    fn open(&self, labelled: &[usize], limit: usize) -> Vec<usize> {
        let taken: HashSet<usize> = labelled.iter().copied().collect();
        (0..self.pool.len().min(limit)).filter(|i| !taken.contains(i)).collect()
    }

    /// The method's classifier on the draw: its recipe, with the votes' spreads measured on
    /// the page-sized unlabelled set (`seed` orders NB-SVM's solver).
    fn classifier(&self, labelled: &[usize], pool_labels: &[u8], seed: u64) -> Result<Classifier> {
        let open = self.open(labelled, self.unlabelled);
        let set = TrainingSet {
            labelled: labelled.iter().map(|&i| Example { features: &self.pool[i], label: pool_labels[i] }).collect(),
            unlabelled: open.iter().map(|&i| self.pool[i].as_slice()).collect(),
            lexicon_scores: self
                .views
                .as_ref()
                .map_or_else(Vec::new, |views| open.iter().map(|&i| views.pool[i].lexicon).collect()),
        };
        let mut classifier =
            self.recipe.fit_head_blocking(&set, |examples| fit(examples, &self.scaling, self.source))?;
        if let Some(views) = &self.views {
            let labelled_views: Vec<(&TextView, u8)> =
                labelled.iter().map(|&i| (&views.pool[i], pool_labels[i])).collect();
            let beside: Vec<(&[f32], &TextView)> =
                self.open(labelled, PAGE_POOL).into_iter().map(|i| (self.pool[i].as_slice(), &views.pool[i])).collect();
            classifier.text_votes = self.recipe.votes(&classifier, &labelled_views, &beside, seed)?;
        }
        Ok(classifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_balanced_nested_seeded_and_differ_by_seed() {
        let labels: Vec<u8> = (0..100).map(|i| (i % 2) as u8).collect();
        let d20 = draw(&labels, 20, 3);
        assert_eq!(d20.iter().filter(|&&i| labels[i] == 1).count(), 10);
        assert_eq!(d20.iter().collect::<HashSet<_>>().len(), 20);
        let d10 = draw(&labels, 10, 3);
        assert!(d10.iter().all(|i| d20.contains(i)), "draws of one seed nest");
        assert_eq!(draw(&labels, 20, 3), d20);
        assert_ne!(draw(&labels, 20, 4), d20);
    }

    #[test]
    fn method_names_round_trip() {
        let candidates = Method::candidates();
        for method in &candidates {
            assert_eq!(method.name().parse::<Method>(), Ok(*method));
        }
        let names: HashSet<String> = candidates.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), candidates.len(), "each method once: the report has one row per method");
        assert_eq!(Method::all().last(), Some(&Method::PAGE));
        assert!("l9-first".parse::<Method>().unwrap_err().contains("nbsvm"));
    }
}
