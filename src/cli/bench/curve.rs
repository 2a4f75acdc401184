//! `flicktune bench curve`: accuracy against the number of labels, FF11-style.
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

use flicktune::assets::committed::L3_REVIEWS_WEIGHTS;
use flicktune::assets::train_parts::{POOL_PER_CLASS, TrainParts};
use flicktune::assets::{AssetDir, Review, read_reviews};
use flicktune::backend::BackendKind;
use flicktune::classifier::{Classifier, FeatureScaling, TextView, TextVotes};
use flicktune::features::{Embedder, Pooling};
use flicktune::models::ModelName;
use flicktune::lexicon;
use flicktune::nbsvm::NbSvm;
use flicktune::training::{Example, LEXICON_SEEDS_PER_CLASS, LEXICON_VOTE, LexiconSeeds, first_round, pseudo_per_class, second_round, second_round_by, text_votes};

use super::labels::fit;
use super::{report, store};
use crate::cli::EncoderArgs;


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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The VADER lexicon and rules: no labels at all.
    Vader,
    NbSvm,
    /// Logistic regression on the mean of L6's input word embeddings over the review.
    WordMean,
    /// Logistic regression on frozen encoder features.
    Frozen(ModelName, Pooling),
    /// [`Method::Frozen`], then one round of self-training on the unlabelled pool.
    SelfTrained(ModelName, Pooling),
    /// The same with only [`PAGE_POOL`] unlabelled reviews, as many as the page has.
    SelfTrainedPageSized(ModelName, Pooling),
    /// [`Method::SelfTrainedPageSized`] whose first classifier also learns from the
    /// unlabelled reviews VADER is surest of, this many per class.
    VaderSeeded(ModelName, Pooling, usize),
    /// NB-SVM and the encoder's logistic regression ([`Method::SelfTrainedPageSized`], or
    /// [`Method::VaderSeeded`] with `seeds` per class) together, and VADER too unless
    /// `vader_vote` (its weight in percent of a model's while labels are few) is 0: the sum
    /// of their decision values, each divided by its spread over the unlabelled reviews
    /// (the library's [`text_votes`]).
    Ensemble { model: ModelName, pooling: Pooling, seeds: usize, vader_vote: u8 },
    /// [`Method::PAGE`] with one change, tried beside it on `train`-dev.
    PageVariant(Variant),
}

/// A change to [`Method::PAGE`] that was tried (`--eval train-dev`; docs/few-shot.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Then NB-SVM trained again on the labels and the ensemble's surest half of each
    /// predicted class among the first `pool` unlabelled pool reviews (self-training
    /// NB-SVM on the ensemble's opinion).
    NbSvmPseudoLabelled { pool: usize },
    /// Then the encoder's logistic regression trained again on the labels and the
    /// ensemble's surest `per_class` of each predicted class among the page-sized
    /// unlabelled set (0: as many as the labels; `usize::MAX`: half of each class), and the
    /// votes again beside it (co-training: the encoder learns from the text's votes).
    CoTrained { per_class: usize },
    /// Self-training takes the picks of the first classifier's ensemble (with the votes
    /// beside it) rather than its own: `per_class` of them (0: as many as the labels).
    EnsemblePicked { per_class: usize },
    /// The first `pool` unlabelled pool reviews for the lexicon seeds and self-training,
    /// rather than the page's [`PAGE_POOL`].
    Pool { pool: usize },
}

impl Variant {
    const TRIED: [Variant; 9] = [
        Variant::NbSvmPseudoLabelled { pool: PAGE_POOL },
        Variant::NbSvmPseudoLabelled { pool: usize::MAX },
        Variant::CoTrained { per_class: 0 },
        Variant::CoTrained { per_class: 50 },
        Variant::CoTrained { per_class: usize::MAX },
        Variant::EnsemblePicked { per_class: 0 },
        Variant::EnsemblePicked { per_class: 50 },
        Variant::Pool { pool: 1000 },
        Variant::Pool { pool: usize::MAX },
    ];

    /// What its name adds to the page's method's.
    fn suffix(self) -> String {
        match self {
            Variant::NbSvmPseudoLabelled { pool } => format!("nbsvm-pseudo-{}", pool_name(pool)),
            Variant::CoTrained { per_class } => format!("cotrain-{}", per_class_name(per_class)),
            Variant::EnsemblePicked { per_class } => format!("ensemble-picks-{}", per_class_name(per_class)),
            Variant::Pool { pool } => format!("pool-{}", pool_name(pool)),
        }
    }

    fn describe(self) -> String {
        match self {
            Variant::NbSvmPseudoLabelled { pool } => format!("NB-SVM again with its surest half of {} unlabelled", pool_name(pool)),
            Variant::CoTrained { per_class } => format!("the encoder's LR again with the sum's surest {} per class", per_class_name(per_class)),
            Variant::EnsemblePicked { per_class } => format!("self-training on the first sum's surest {} per class", per_class_name(per_class)),
            Variant::Pool { pool } => format!("with {} unlabelled reviews", pool_name(pool)),
        }
    }
}

/// The page's unlabelled pool: its bundled `train` sample.
pub const PAGE_POOL: usize = flicktune::assets::SAMPLE_SIZE;

/// The lexicon's vote in the page's ensemble, in percent of a model's.
const PAGE_LEXICON_VOTE: u8 = (LEXICON_VOTE * 100.0) as u8;

impl Method {
    pub fn all() -> Vec<Method> {
        let mut all = vec![Method::Vader, Method::NbSvm, Method::WordMean];
        for model in ModelName::ALL {
            // Each encoder with its own whole-review pooling (`chunks`, or e5's `windows`).
            let whole = model.spec().classifier_pooling;
            let poolings = [Pooling::First, Pooling::HeadTail, whole];
            all.extend(poolings.map(|p| Method::Frozen(model, p)));
        }
        all.push(Method::SelfTrained(ModelName::L3, Pooling::Chunks));
        all.push(Method::SelfTrainedPageSized(ModelName::L3, Pooling::Chunks));
        // The push's steps, each kept for what it adds (chosen with `--eval train-dev`); the
        // last is the page's.
        all.push(Method::VaderSeeded(ModelName::L3, Pooling::Chunks, LEXICON_SEEDS_PER_CLASS));
        let ensemble = |model: ModelName, seeds, vader_vote| {
            Method::Ensemble { model, pooling: model.spec().classifier_pooling, seeds, vader_vote }
        };
        all.extend([ensemble(ModelName::L3, 0, 0), ensemble(ModelName::L3, LEXICON_SEEDS_PER_CLASS, 100)]);
        // The same on the encoder adapted to reviews (its frozen rows are above).
        all.push(Method::VaderSeeded(ModelName::L3Reviews, Pooling::Chunks, LEXICON_SEEDS_PER_CLASS));
        all.push(ensemble(ModelName::L3Reviews, LEXICON_SEEDS_PER_CLASS, 100));
        // The lexicon's vote halved (chosen on `train`-dev).
        all.push(ensemble(ModelName::L3Reviews, LEXICON_SEEDS_PER_CLASS, PAGE_LEXICON_VOTE));
        // e5 (its frozen rows are above): the same steps on the stronger encoder.
        all.push(Method::SelfTrainedPageSized(ModelName::E5, Pooling::Windows));
        all.push(Method::VaderSeeded(ModelName::E5, Pooling::Windows, LEXICON_SEEDS_PER_CLASS));
        all.push(ensemble(ModelName::E5, 0, 0));
        all.push(ensemble(ModelName::E5, LEXICON_SEEDS_PER_CLASS, PAGE_LEXICON_VOTE));
        debug_assert_eq!(all.last(), Some(&Method::PAGE));
        all
    }

    /// [`Method::all`] and the settings tried beside it (`--eval train-dev`).
    pub fn candidates() -> Vec<Method> {
        let mut all = Method::all();
        let tried = [25, 50, 100].map(|k| Method::VaderSeeded(ModelName::L3, Pooling::Chunks, k));
        let ensembles = [(0, 0), (100, 0), (0, 100), (100, 100)]
            .map(|(seeds, vader_vote)| Method::Ensemble { model: ModelName::L3, pooling: Pooling::Chunks, seeds, vader_vote });
        // The lexicon's weight in the page's ensemble.
        let lexicon_weights = [0, 25, 50, 75, 100].map(|vader_vote| Method::Ensemble {
            model: ModelName::L3Reviews,
            pooling: Pooling::Chunks,
            seeds: LEXICON_SEEDS_PER_CLASS,
            vader_vote,
        });
        // Which of the page's steps still help on e5.
        let e5 = [(0, 50), (LEXICON_SEEDS_PER_CLASS, 0), (LEXICON_SEEDS_PER_CLASS, 100)]
            .map(|(seeds, vader_vote)| Method::Ensemble { model: ModelName::E5, pooling: Pooling::Windows, seeds, vader_vote });
        let variants = Variant::TRIED.map(Method::PageVariant);
        for method in tried.into_iter().chain(ensembles).chain(lexicon_weights).chain(e5).chain(variants) {
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
            Method::Frozen(m, _)
            | Method::SelfTrained(m, _)
            | Method::SelfTrainedPageSized(m, _)
            | Method::VaderSeeded(m, _, _)
            | Method::Ensemble { model: m, .. } => Some(m),
            Method::PageVariant(_) => Method::PAGE.encoder(),
            Method::Vader | Method::NbSvm | Method::WordMean => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Method::Vader => "vader".into(),
            Method::NbSvm => "nbsvm".into(),
            Method::WordMean => "word-mean".into(),
            Method::Frozen(m, p) => format!("{}-{}", m.short(), p.name()),
            Method::SelfTrained(m, p) => format!("{}-{}-self-train", m.short(), p.name()),
            Method::SelfTrainedPageSized(m, p) => format!("{}-{}-self-train-{PAGE_POOL}", m.short(), p.name()),
            Method::VaderSeeded(m, p, k) => format!("{}-{}-vader-{k}-self-train-{PAGE_POOL}", m.short(), p.name()),
            Method::Ensemble { model, pooling, seeds, vader_vote } => {
                let vader = lexicon_weight(vader_vote).map_or(String::new(), |w| format!("vader{w}+"));
                format!("{vader}nbsvm+{}", Method::ensemble_member(model, pooling, seeds).name())
            }
            Method::PageVariant(variant) => format!("{}+{}", Method::PAGE.name(), variant.suffix()),
        }
    }

    /// The encoder classifier inside [`Method::Ensemble`].
    fn ensemble_member(model: ModelName, pooling: Pooling, seeds: usize) -> Method {
        if seeds == 0 { Method::SelfTrainedPageSized(model, pooling) } else { Method::VaderSeeded(model, pooling, seeds) }
    }

    /// What the page trains by default.
    pub const PAGE: Method =
        Method::Ensemble { model: ModelName::E5, pooling: Pooling::Windows, seeds: LEXICON_SEEDS_PER_CLASS, vader_vote: PAGE_LEXICON_VOTE };

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
            Method::Frozen(m, p) => format!("{} {} + LR (frozen)", m.describe(), p.name()),
            Method::SelfTrained(m, p) => format!("{} {} + LR + self-training", m.describe(), p.name()),
            Method::SelfTrainedPageSized(m, p) => format!("{} {} + LR + self-training on {PAGE_POOL}", m.describe(), p.name()),
            Method::VaderSeeded(m, p, k) => {
                format!("{} {} + LR + VADER's surest {k}+{k} + self-training on {PAGE_POOL}", m.describe(), p.name())
            }
            Method::Ensemble { model, pooling, seeds, vader_vote } => {
                let member = Method::ensemble_member(model, pooling, seeds).describe_plainly();
                let vader = match lexicon_weight(vader_vote) {
                    Some(w) if w.is_empty() => "VADER + ".into(),
                    Some(w) => format!("VADER ×{w} + "),
                    None => String::new(),
                };
                format!("{vader}NB-SVM + {member}, summed")
            }
            Method::PageVariant(variant) => format!("{}, {}", Method::PAGE.describe_plainly(), variant.describe()),
        }
    }
}

/// The lexicon's weight in a method's name, from percent: none for 0 (no vote), empty for
/// 100 (a model's), else the fraction.
fn lexicon_weight(percent: u8) -> Option<String> {
    match percent {
        0 => None,
        100 => Some(String::new()),
        percent => Some((f32::from(percent) / 100.0).to_string()),
    }
}

/// A count of pseudo-labels per class: 0 as many as the labels, `usize::MAX` half.
fn per_class_name(per_class: usize) -> String {
    match per_class {
        0 => "as-labels".into(),
        usize::MAX => "half".into(),
        n => n.to_string(),
    }
}

/// A count of unlabelled pool reviews, `all` for the whole pool.
fn pool_name(pool: usize) -> String {
    if pool == usize::MAX { "all".into() } else { pool.to_string() }
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
}

/// Encoder features and what the method adds to the logistic regression on them.
struct Features {
    pool: Vec<Vec<f32>>,
    test: Vec<Vec<f32>>,
    scaling: FeatureScaling,
    /// Self-training on the first this many pool reviews (not drawn).
    self_train: Option<usize>,
    /// The n-grams and lexicon scores of the pool and the scored reviews, when the method
    /// reads them.
    views: Option<TextViews>,
    /// How many of the unlabelled reviews VADER is surest of, per class, join the labelled ones.
    vader_seeds: usize,
    /// Who votes beside the encoder.
    votes: Votes,
    /// The change to the page's method, for [`Method::PageVariant`].
    variant: Option<Variant>,
}

/// The text's votes beside the encoder's logistic regression ([`Method::Ensemble`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Votes {
    None,
    /// NB-SVM, and the lexicon at this weight (percent of a model's; 0: not at all).
    Text { lexicon_percent: u8 },
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

/// The labelled reviews' text, the unlabelled reviews the votes' spreads are measured
/// on, and the lexicon's weight: what [`text_votes`] needs beside a classifier.
struct Voters<'f> {
    labelled: Vec<(&'f TextView, u8)>,
    beside: Vec<(&'f [f32], &'f TextView)>,
    lexicon_weight: f32,
}

impl Voters<'_> {
    fn votes(&self, classifier: &Classifier, seed: u64) -> Result<TextVotes> {
        Ok(text_votes(classifier, &self.labelled, &self.beside, self.lexicon_weight, seed)?)
    }

    /// `classifier` with the votes beside it.
    fn beside(&self, classifier: Classifier, seed: u64) -> Result<Classifier> {
        let votes = self.votes(&classifier, seed)?;
        Ok(Classifier { text_votes: Some(votes), ..classifier })
    }
}

/// A count of pseudo-labels per class as [`Variant`]s give it: 0 is self-training's own
/// (as many in all as the labels).
fn pseudo_count(per_class: usize, labels: usize) -> usize {
    if per_class == 0 { pseudo_per_class(labels) } else { per_class }
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
    let bench_dir = assets.root.join("bench");
    let progress_path = match args.eval {
        Scored::Test => bench_dir.join("curve-progress.json"),
        Scored::TrainDev => bench_dir.join("curve-train-dev-progress.json"),
    };
    std::fs::create_dir_all(&bench_dir)?;
    let setup = Setup { pool_per_class: POOL_PER_CLASS, test_reviews: reviews.test.len(), scored_on: args.eval.name().into() };
    let mut progress = Progress::load_or_new(&progress_path, setup, args.fresh)?;

    let pool_labels = reviews.pool_labels();
    let test_labels: Vec<u8> = reviews.test.iter().map(|r| r.label).collect();
    for method in &methods {
        let name = method.name();
        let todo: Vec<(usize, u64)> =
            sizes.iter().flat_map(|&n| (0..draws).map(move |d| (n, d))).filter(|&(n, d)| !progress.has(&name, n, d)).collect();
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
            progress.records.push(Record { method: name.clone(), n, draw: d, accuracy, seconds: started.elapsed().as_secs_f64() });
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
        Method::WordMean => {
            let embedder = frozen_embedder(assets, ModelName::L6)?;
            let table = embedder.model.word_embeddings();
            let [_, dim] = table.dims();
            let table = table.into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let mean = |set: &[Review]| -> Result<Vec<Vec<f32>>> {
                set.iter().map(|r| Ok(mean_word_embedding(&embedder.tokenizer.content_ids(&r.text)?, &table, dim))).collect()
            };
            (Prepared::Features(Box::new(features_prepared(mean(&reviews.pool)?, mean(&reviews.test)?))), None)
        }
        Method::Frozen(model, pooling)
        | Method::SelfTrained(model, pooling)
        | Method::SelfTrainedPageSized(model, pooling)
        | Method::VaderSeeded(model, pooling, _)
        | Method::Ensemble { model, pooling, .. } => {
            let embedder = frozen_embedder(assets, model)?;
            let dir = bench_dir.join("features");
            let stored = stored_name(model);
            let mut pool = store::pooled_features(&embedder, &texts(&reviews.pool), &dir, &format!("{stored}-pool"))?;
            let scored_name = format!("{stored}-{}", reviews.scored.name());
            let mut test = store::pooled_features(&embedder, &texts(&reviews.test), &dir, &scored_name)?;
            let take = |f: &mut store::PooledFeatures| f.by_pooling.remove(pooling.name()).context("a stored pooling is missing");
            let seconds = pool.seconds + test.seconds;
            let mut features = features_prepared(take(&mut pool)?, take(&mut test)?);
            features.self_train = match method {
                Method::Frozen(..) => None,
                Method::SelfTrained(..) => Some(usize::MAX),
                _ => Some(PAGE_POOL),
            };
            (features.vader_seeds, features.votes) = match method {
                Method::VaderSeeded(_, _, seeds) => (seeds, Votes::None),
                Method::Ensemble { seeds, vader_vote, .. } => (seeds, Votes::Text { lexicon_percent: vader_vote }),
                _ => (0, Votes::None),
            };
            if features.vader_seeds > 0 || features.votes != Votes::None {
                features.views = Some(TextViews::of(reviews));
            }
            (Prepared::Features(Box::new(features)), Some(seconds))
        }
        Method::PageVariant(variant) => {
            let (mut prepared, seconds) = prepare(Method::PAGE, reviews, assets, bench_dir)?;
            if let Prepared::Features(features) = &mut prepared {
                features.variant = Some(variant);
                if let Variant::Pool { pool } = variant {
                    features.self_train = Some(pool);
                }
            }
            (prepared, seconds)
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
fn features_prepared(pool: Vec<Vec<f32>>, test: Vec<Vec<f32>>) -> Features {
    let scaling = FeatureScaling::fit(&pool);
    Features { pool, test, scaling, self_train: None, views: None, vader_seeds: 0, votes: Votes::None, variant: None }
}

/// The encoder with its original (f32) weights on the CPU backend.
fn frozen_embedder(assets: &AssetDir, model: ModelName) -> Result<Embedder> {
    EncoderArgs { model, pooling: Some(Pooling::Chunks), backend: BackendKind::Cpu, batch: 8 }.embedder(assets)
}

fn mean_word_embedding(ids: &[u32], table: &[f32], dim: usize) -> Vec<f32> {
    let mut mean = vec![0f32; dim];
    for &id in ids {
        let row = &table[id as usize * dim..][..dim];
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x / ids.len() as f32);
    }
    mean
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
    };
    Ok(right as f32 / test_labels.len() as f32)
}

impl Features {
    /// The pool's first `limit` reviews that are not in the draw: the unlabelled set.
    fn open(&self, labelled: &[usize], limit: usize) -> Vec<usize> {
        let taken: HashSet<usize> = labelled.iter().copied().collect();
        (0..self.pool.len().min(limit)).filter(|i| !taken.contains(i)).collect()
    }

    /// The logistic regression on the draw, seeded with VADER's surest and self-trained
    /// as the method says, with the votes beside it if it has them (`seed` orders NB-SVM's
    /// solver).
    fn classifier(&self, labelled: &[usize], pool_labels: &[u8], seed: u64) -> Result<Classifier> {
        let examples: Vec<Example> = labelled.iter().map(|&i| Example { features: &self.pool[i], label: pool_labels[i] }).collect();
        let Some(limit) = self.self_train else { return fit(&examples, &self.scaling) };
        let open = self.open(labelled, limit);
        let unlabelled: Vec<&[f32]> = open.iter().map(|&i| self.pool[i].as_slice()).collect();
        let scores: Vec<f32> = match &self.views {
            Some(views) => open.iter().map(|&i| views.pool[i].lexicon).collect(),
            None => Vec::new(),
        };
        let seeds = (self.vader_seeds > 0).then_some(LexiconSeeds { scores: &scores, per_class: self.vader_seeds });
        let voters = self.voters(labelled, pool_labels);
        // One round of self-training (seeded by the lexicon, if the method says so): the
        // unlabelled reviews the classifier is surest of join the labelled ones with the
        // predicted label, and it is trained again.
        let first = fit(&first_round(&examples, &unlabelled, seeds), &self.scaling)?;
        let second = match (self.variant, &voters) {
            (Some(Variant::EnsemblePicked { per_class }), Some(voters)) => {
                let ensemble = voters.beside(first, seed)?;
                let views = self.views.as_ref().context("votes need the reviews' text")?;
                let mut decisions = Vec::with_capacity(open.len());
                for &i in &open {
                    decisions.push(ensemble.decision(&self.pool[i], &views.pool[i])?);
                }
                second_round_by(&decisions, pseudo_count(per_class, labelled.len()), examples.clone(), &unlabelled, seeds)
            }
            _ => second_round(&first, examples.clone(), &unlabelled, seeds)?,
        };
        let classifier = fit(&second, &self.scaling)?;
        let Some(mut voters) = voters else { return Ok(classifier) };
        let mut classifier = voters.beside(classifier, seed)?;
        match self.variant {
            Some(Variant::CoTrained { per_class }) => {
                let mut third = examples;
                for (i, label) in self.pseudo_labels(&classifier, labelled, PAGE_POOL, pseudo_count(per_class, labelled.len()))? {
                    third.push(Example { features: &self.pool[i], label });
                }
                classifier = voters.beside(fit(&third, &self.scaling)?, seed)?;
            }
            Some(Variant::NbSvmPseudoLabelled { pool }) => {
                let views = self.views.as_ref().context("votes need the reviews' text")?;
                let picked = self.pseudo_labels(&classifier, labelled, pool, usize::MAX)?;
                let first = classifier.text_votes.take().context("votes were added above")?;
                voters.labelled.extend(picked.into_iter().map(|(i, label)| (&views.pool[i], label)));
                let again = voters.votes(&classifier, seed)?;
                // The lexicon's weight stays the one the real labels gave it.
                classifier.text_votes = Some(TextVotes { lexicon_spread: first.lexicon_spread, ..again });
            }
            _ => {}
        }
        Ok(classifier)
    }

    /// What the text's votes are made from for this draw, if the method has them.
    fn voters(&self, labelled: &[usize], pool_labels: &[u8]) -> Option<Voters<'_>> {
        let (Some(views), Votes::Text { lexicon_percent }) = (&self.views, self.votes) else { return None };
        Some(Voters {
            labelled: labelled.iter().map(|&i| (&views.pool[i], pool_labels[i])).collect(),
            // The votes' spreads are measured on the page-sized unlabelled set.
            beside: self.open(labelled, PAGE_POOL).into_iter().map(|i| (self.pool[i].as_slice(), &views.pool[i])).collect(),
            lexicon_weight: f32::from(lexicon_percent) / 100.0,
        })
    }

    /// The ensemble's surest `per_class` (at most half) of each class it predicts, among
    /// the first `limit` unlabelled pool reviews: `(pool index, predicted label)`.
    fn pseudo_labels(&self, ensemble: &Classifier, labelled: &[usize], limit: usize, per_class: usize) -> Result<Vec<(usize, u8)>> {
        let views = self.views.as_ref().context("pseudo-labels need the reviews' text")?;
        let mut decided = Vec::new();
        for i in self.open(labelled, limit) {
            decided.push((ensemble.decision(&self.pool[i], &views.pool[i])?, i));
        }
        let mut picked = Vec::new();
        for label in [0u8, 1] {
            let mut side: Vec<(f32, usize)> = decided.iter().copied().filter(|(d, _)| u8::from(*d > 0.0) == label).collect();
            side.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
            picked.extend(side.iter().take(per_class.min(side.len() / 2)).map(|&(_, i)| (i, label)));
        }
        Ok(picked)
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
