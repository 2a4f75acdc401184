//! The page's components, one per concern, sharing state through signals in context.
//!
//! `encoder`: model, download, device, features; `labelling`: the review feed;
//! `training`: train, progress, loss curve; `heldout`: accuracy on the held-out sample;
//! `classify`: any text, with sentence highlights; `session`: export, import, reset.

mod chart;
mod classify;
mod encoder;
mod heldout;
mod labelling;
mod session;
mod train_panel;

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::engine::{ActiveBackend, Engine};
use super::index::{FeatureOrigin, ReviewIndex};
use super::loader::{self, FileProgress};
use super::storage;
use crate::backend::BackendKind;
use crate::classifier::Classifier;
use crate::models::{ModelName, WeightPrecision};
use crate::session::Session;

/// Where loading the model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Loading,
    Ready,
    Failed(String),
}

/// Where training stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainStatus {
    Idle,
    Running { phase: TrainPhase, step: usize, total: usize },
    Finished { seconds: f64, labels: usize, fine_tuning: Option<FineTuneTimes> },
    Cancelled,
    Failed(String),
}

/// What a running training is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainPhase {
    /// The classifier on the encoder's features.
    Head,
    /// The encoder's top layers with the classifier.
    FineTune,
    /// Reading every bundled review again with the fine-tuned encoder.
    Reread,
    /// Putting a saved fine-tuned encoder back in use (after a reload or an import).
    Restore,
}

/// How long the parts of a fine-tuning run took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTuneTimes {
    pub layers: usize,
    pub epochs: usize,
    pub tuning_seconds: f64,
    pub reread_seconds: f64,
}

/// The page's state, shared with the components through context.
#[derive(Clone, Copy)]
struct PageState {
    precision: WeightPrecision,
    model: RwSignal<ModelName>,
    prefer: RwSignal<BackendKind>,
    status: RwSignal<Status>,
    files: RwSignal<Vec<FileProgress>>,
    download_bytes: RwSignal<Option<u64>>,
    backend: RwSignal<Option<ActiveBackend>>,
    /// Features known for the bundled reviews: `(done, total)`. Components that read
    /// features from the index track this.
    indexed: RwSignal<(usize, usize)>,
    features_origin: RwSignal<Option<FeatureOrigin>>,
    /// Loading the bundled reviews' texts is over (done or failed).
    reviews_ready: RwSignal<bool>,
    /// The saved session was read (or there was none): from now on changes are saved.
    session_restored: RwSignal<bool>,
    session: RwSignal<Session>,
    /// A problem with saving, restoring or importing labels, shown to the user.
    session_notice: RwSignal<Option<String>>,
    /// Reviews skipped in this visit.
    skipped: RwSignal<Vec<usize>>,
    training: RwSignal<TrainStatus>,
    /// Bumped by every label given or undone (not by a restore or an import).
    label_events: RwSignal<u32>,
    /// Retrain after every label (a setting, kept in the browser).
    auto_retrain: RwSignal<bool>,
    /// One round of self-training on the unlabelled sample (a setting, kept; on by default).
    self_train: RwSignal<bool>,
    /// Fine-tune the encoder's top layers when Train is pressed (a setting, kept).
    fine_tune: RwSignal<bool>,
    /// The sha256 of the fine-tuned layers the encoder in use has, if any.
    tuned: RwSignal<Option<String>>,
    /// The session's classifier if it fits the encoder in use: copied once per change,
    /// shared by every reader (it carries NB-SVM's n-gram map).
    usable_classifier: Memo<Option<Arc<Classifier>>>,
    /// A retrain was asked for while one was running: start again when it stops.
    retrain_pending: RwSignal<bool>,
    /// `(step, loss)` of the current or last training run.
    losses: RwSignal<Vec<(usize, f32)>>,
    cancel_training: RwSignal<bool>,
    /// Bumped to load again with the same settings (e.g. retry WebGPU after a fallback).
    retry: RwSignal<u32>,
    /// Bumped by every (re)load, so a superseded load's results are dropped.
    generation: RwSignal<u32>,
}

impl PageState {
    /// The saved classifier, if it reads the features of the encoder in use (the loaded
    /// model, with the same fine-tuned layers or none).
    fn classifier(&self) -> Option<Arc<Classifier>> {
        self.usable_classifier.get()
    }
}

/// A parameter of the page's address, such as `f32` in `?precision=f32`.
fn url_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| Some(pair.strip_prefix(name)?.strip_prefix('=')?.to_string()))
}

/// `?precision=f32` downloads the original f32 weights (twice the bytes) instead of f16.
fn precision_from_url() -> WeightPrecision {
    if url_param("precision").as_deref() == Some("f32") { WeightPrecision::F32 } else { WeightPrecision::F16 }
}

/// The encoder to start with: `?model=l3` (for this visit), else the one last chosen in
/// the menu, else the default.
fn initial_model() -> ModelName {
    [url_param("model"), storage::read_model()].into_iter().flatten().find_map(|m| m.parse().ok()).unwrap_or_default()
}

#[component]
pub fn App(engine: Engine, index: ReviewIndex, webgpu_available: bool) -> impl IntoView {
    let precision = precision_from_url();
    let (model, session, tuned) =
        (RwSignal::new(initial_model()), RwSignal::new(Session::default()), RwSignal::new(None::<String>));
    let usable_classifier = Memo::new(move |_| {
        let (model, tuned) = (model.get(), tuned.get());
        session.with(|s| {
            s.classifier
                .as_ref()
                .filter(|c| c.encoder == model && c.tuned_layers.as_ref().map(|t| &t.sha256) == tuned.as_ref())
                .map(|c| Arc::new(c.clone()))
        })
    });
    let state = PageState {
        precision,
        model,
        prefer: RwSignal::new(if webgpu_available { BackendKind::Wgpu } else { BackendKind::Cpu }),
        status: RwSignal::new(Status::Loading),
        files: RwSignal::new(Vec::new()),
        download_bytes: RwSignal::new(None),
        backend: RwSignal::new(None),
        indexed: RwSignal::new((0, 0)),
        features_origin: RwSignal::new(None),
        reviews_ready: RwSignal::new(false),
        session_restored: RwSignal::new(false),
        session,
        session_notice: RwSignal::new(None),
        skipped: RwSignal::new(Vec::new()),
        training: RwSignal::new(TrainStatus::Idle),
        label_events: RwSignal::new(0),
        auto_retrain: RwSignal::new(storage::read_flag(storage::AUTO_RETRAIN).unwrap_or(true)),
        self_train: RwSignal::new(storage::read_flag(storage::SELF_TRAIN).unwrap_or(true)),
        fine_tune: RwSignal::new(storage::read_flag(storage::FINE_TUNE).unwrap_or(false)),
        tuned,
        usable_classifier,
        retrain_pending: RwSignal::new(false),
        losses: RwSignal::new(Vec::new()),
        cancel_training: RwSignal::new(false),
        retry: RwSignal::new(0),
        generation: RwSignal::new(0),
    };
    provide_context(state);
    spawn_local(restore(index.clone(), state));
    // Every change to the session is saved at once, but only after the saved one was
    // read: a page that could not restore must not overwrite what it could not read.
    Effect::new(move |_| {
        let json = state.session.with(Session::to_json);
        if state.session_restored.get()
            && let Err(e) = storage::write_session(&json)
        {
            state.session_notice.set(Some(e));
        }
    });
    Effect::new(move |_| storage::write_flag(storage::AUTO_RETRAIN, state.auto_retrain.get()));
    Effect::new(move |_| storage::write_flag(storage::SELF_TRAIN, state.self_train.get()));
    Effect::new(move |_| storage::write_flag(storage::FINE_TUNE, state.fine_tune.get()));
    let (load_engine, load_index) = (engine.clone(), index.clone());
    Effect::new(move |_| {
        let (model, prefer) = (state.model.get(), state.prefer.get());
        state.retry.track();
        let generation = state.generation.get_untracked() + 1;
        state.generation.set(generation);
        spawn_local(load(load_engine.clone(), load_index.clone(), state, model, precision, prefer, generation));
    });
    view! {
        <header>
            <h1>"Flicktune"</h1>
            <p class="tagline">"A sentiment model that learns from your labels, in this tab. Nothing leaves the page."</p>
        </header>
        <main>
            <labelling::LabelPanel index=index.clone()/>
            <train_panel::TrainPanel engine=engine.clone() index=index.clone()/>
            <heldout::HeldoutPanel index=index.clone()/>
            <classify::ClassifyPanel engine=engine.clone()/>
            <session::SessionPanel engine=engine.clone() index=index.clone()/>
            <encoder::ModelPanel/>
            <encoder::BackendPanel/>
            <encoder::IndexPanel/>
        </main>
    }
}

/// Loads the bundled reviews, then the saved session (checked against them). Without
/// the reviews the saved session cannot be checked, so it is left as it is, unsaved over.
async fn restore(index: ReviewIndex, state: PageState) {
    if let Err(e) = index.load_texts().await {
        state.session_notice.set(Some(format!(
            "the bundled reviews could not be loaded ({e}); your saved labels are kept for when they can"
        )));
        state.reviews_ready.set(true);
        return;
    }
    if let Some(saved) = storage::read_session() {
        match Session::from_json(saved.as_bytes(), &index.sample_texts()) {
            Ok(session) => state.session.set(session),
            Err(e) => {
                storage::set_aside_unreadable(&saved);
                state.session_notice.set(Some(format!(
                    "your saved labels could not be read ({e}); they were set aside in this browser and a new session started"
                )));
            }
        }
    }
    state.session_restored.set(true);
    state.reviews_ready.set(true);
}

async fn load(
    engine: Engine,
    index: ReviewIndex,
    state: PageState,
    model: ModelName,
    precision: WeightPrecision,
    prefer: BackendKind,
    generation: u32,
) {
    let current = move || state.generation.get_untracked() == generation;
    state.status.set(Status::Loading);
    state.tuned.set(None);
    state.files.set(Vec::new());
    let manifest = match loader::fetch_manifest(model, precision).await {
        Ok(manifest) => manifest,
        Err(e) => {
            if current() {
                state.status.set(Status::Failed(e));
            }
            return;
        }
    };
    state.download_bytes.set(Some(manifest.total_bytes()));
    let on_progress = move |p: FileProgress| {
        if current() {
            state.files.update(|files| match files.iter_mut().find(|f| f.name == p.name) {
                Some(f) => *f = p.clone(),
                None => files.push(p.clone()),
            });
        }
    };
    let outcome = engine.load(model, &manifest, prefer, &on_progress).await;
    if !current() {
        return;
    }
    let backend = match outcome {
        Ok(backend) => backend,
        Err(e) => return state.status.set(Status::Failed(e)),
    };
    state.backend.set(Some(backend));
    state.status.set(Status::Ready);
    while !state.reviews_ready.get_untracked() {
        if !current() {
            return;
        }
        super::yield_to_browser().await;
    }
    let weights_sha256 = manifest
        .files
        .iter()
        .find(|f| f.name == model.spec().weights_file(precision))
        .map(|f| f.sha256.clone())
        .unwrap_or_default();
    let on_indexed = move |done, total| {
        if current() {
            state.indexed.set((done, total));
        }
    };
    match index.index(&engine, model, &weights_sha256, &on_indexed, &current).await {
        Ok(origin) if current() => {
            state.features_origin.set(Some(origin));
            train_panel::use_classifiers_encoder(&engine, &index, state).await;
        }
        Ok(_) => {}
        Err(e) => leptos::logging::warn!("computing the bundled reviews' features stopped: {e}"),
    }
}
