//! The page's encoder: a facade over the engine's Web Workers, so the page's main thread
//! never runs it. The same methods as when the encoder ran on the page (`embed`,
//! `train_head`, `fine_tune`, …) send a [`protocol::Request`] to a worker and wait for its
//! reply without blocking.
//!
//! One worker (the primary) holds the encoder and does everything: loading it on its own
//! WebGPU adapter or, when there is none or it fails, on Burn's CPU backend (the page is
//! told why), training the head and fine-tuning. On the CPU path, with two cores or more,
//! a second worker loads the same pretrained encoder and embedding is spread over both
//! (see [`workers_wanted`]). After fine-tuning, the encoder in use is the pretrained one
//! with the tuned top layers laid over it, in the primary only.

mod compute;
pub mod host;
pub mod protocol;
pub mod worker;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::Reflect;
use serde::{Deserialize, Serialize};

use self::protocol::{Answer, Encoder, FineTuned, Progress, Reply, Request, UlmfitTrained};
use self::worker::EngineWorker;
use super::loader::{self, FileProgress, Manifest};
use crate::app::error::PageError;
use crate::app::global;
use crate::backend::BackendKind;
use crate::classifier::{Classifier, FeatureScaling};
use crate::encoders::ModelName;
use crate::encoders::tuned::TunedLayers;
use crate::features::{Embedding, Pooling};
use crate::training::{Example, FeatureSource};
use crate::ulmfit::{LM_FOLDER, LM_MANIFEST_FILE, UlmfitConfig};

/// The device the encoder runs on, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveBackend {
    pub kind: BackendKind,
    /// The adapter's name (WebGPU), or a description of the CPU path.
    pub adapter: String,
    /// Why the page is not on the backend the user asked for, if it is not.
    pub notice: Option<String>,
}

impl ActiveBackend {
    /// `webgpu` or `cpu`: the JavaScript API's and the tests' name for it.
    pub fn js_name(&self) -> &'static str {
        match self.kind {
            BackendKind::Wgpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// The most workers `?workers=N` may ask for.
const MAX_WORKERS: usize = 4;

/// Shared by the UI and the JavaScript API: the engine's workers and what they hold.
#[derive(Clone, Default)]
pub struct Engine {
    state: Rc<RefCell<EngineState>>,
}

#[derive(Default)]
struct EngineState {
    /// The worker that loads the encoder and does all its work; started the first time it is needed.
    primary: Option<Rc<EngineWorker>>,
    /// Further workers holding the same pretrained encoder (CPU path), sharing embedding.
    helpers: Vec<(u64, Rc<EngineWorker>)>,
    /// Numbers the workers, so a stopped helper can be told apart.
    workers_started: u64,
    /// Whether the primary holds a loaded encoder.
    ready: bool,
    /// The fine-tuned layers in use, if any (without their bytes).
    tuned: Option<TunedLayers>,
    /// Which encoder is loaded or loading.
    model: Option<ModelName>,
    backend: Option<ActiveBackend>,
    /// Loads started: a load installs its result only if no newer one began meanwhile.
    loads: u64,
    /// The WebGPU device was lost (why): it is not used again in this visit.
    webgpu_lost: Option<String>,
    /// Foreground `embed` calls in flight; background work waits for them.
    foreground: usize,
    /// Why the next load runs in a new worker, for its notice.
    restarted: Option<String>,
    /// Asks for a new load after the primary stopped (set by the page's actions).
    worker_stopped: Option<Rc<dyn Fn(String)>>,
}

/// The notices that apply, in one.
fn joined(notices: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let notices: Vec<String> = notices.into_iter().flatten().collect();
    (!notices.is_empty()).then(|| notices.join("; "))
}

/// Progress for requests that report none.
fn no_progress(_: Progress) {}

fn never() -> bool {
    false
}

impl Engine {
    pub fn backend(&self) -> Option<ActiveBackend> {
        self.state.borrow().backend.clone()
    }

    /// The encoder loaded or loading.
    pub fn model(&self) -> Option<ModelName> {
        self.state.borrow().model
    }

    pub fn is_ready(&self) -> bool {
        self.state.borrow().ready
    }

    /// Loads a model in the engine's worker (which reads its files from Cache Storage or
    /// downloads them, reporting each file's progress) on the preferred backend, falling
    /// back to the CPU when WebGPU is missing or fails there.
    pub async fn load(
        &self,
        model: ModelName,
        manifest: &Manifest,
        prefer: BackendKind,
        on_progress: &dyn Fn(FileProgress),
    ) -> Result<ActiveBackend, PageError> {
        let (ticket, lost) = {
            let mut state = self.state.borrow_mut();
            state.loads += 1;
            (state.ready, state.tuned, state.model) = (false, None, Some(model));
            // Their encoder is the previous one: dropping them ends them.
            state.helpers.clear();
            (state.loads, state.webgpu_lost.clone())
        };
        let backend = if lost.is_some() { BackendKind::Cpu } else { prefer };
        let request = Request::Load { model, manifest: manifest.clone(), backend };
        let files = |p: Progress| {
            if let Progress::File(file) = p {
                on_progress(file);
            }
        };
        let primary = self.primary()?;
        let outcome = primary.ask(&request, Vec::new(), &files, &never).await.and_then(|(reply, _)| reply.loaded());
        let mut loaded = match outcome {
            Ok(loaded) => loaded,
            Err(e) => {
                loader::evict(model.full_name(), manifest).await;
                return Err(e);
            }
        };
        // After a lost device or a stopped worker, the load says why it is where it is.
        let lost = lost.map(|reason| format!("{}; running on the CPU", PageError::WebGpuLost(reason)));
        let restarted = self.state.borrow_mut().restarted.take();
        loaded.notice = joined([restarted, lost, loaded.notice]);
        let helpers = if loaded.kind == BackendKind::Cpu { workers_wanted() - 1 } else { 0 };
        if helpers > 0 {
            loaded.adapter = format!("Burn CPU backend (wasm, embedding spread over {} Web Workers)", helpers + 1);
        }
        let mut state = self.state.borrow_mut();
        if state.loads == ticket {
            state.ready = true;
            state.backend = Some(loaded.clone());
            drop(state);
            if helpers > 0 {
                wasm_bindgen_futures::spawn_local(self.clone().start_helpers(helpers, request, ticket));
            }
        }
        Ok(loaded)
    }

    /// Starts `count` helpers with the pretrained encoder of load `ticket`, one after the
    /// other (each reads the files from Cache Storage); they share embedding once loaded.
    async fn start_helpers(self, count: usize, request: Request, ticket: u64) {
        for _ in 0..count {
            let serial = self.next_serial();
            let state = Rc::downgrade(&self.state);
            let started = EngineWorker::start(&format!("flicktune-engine-helper-{serial}"), move |reason| {
                leptos::logging::error!(
                    "Flicktune: the engine's worker stopped (a helper; embedding goes on without it): {reason}"
                );
                forget_helper(&state, serial);
            });
            let helper = match started {
                Ok(helper) => Rc::new(helper),
                Err(e) => return leptos::logging::warn!("Flicktune: no helper worker ({e})"),
            };
            if let Err(e) = helper.ask(&request, Vec::new(), &no_progress, &never).await {
                return leptos::logging::warn!("Flicktune: a helper worker could not load the encoder ({e})");
            }
            let mut state = self.state.borrow_mut();
            if state.loads != ticket {
                return;
            }
            state.helpers.push((serial, helper));
        }
    }

    fn next_serial(&self) -> u64 {
        let mut state = self.state.borrow_mut();
        state.workers_started += 1;
        state.workers_started
    }

    /// The primary worker, started the first time it is needed (and again after it stopped).
    fn primary(&self) -> Result<Rc<EngineWorker>, PageError> {
        if let Some(worker) = self.state.borrow().primary.clone() {
            return Ok(worker);
        }
        let _ = self.next_serial();
        let state = Rc::downgrade(&self.state);
        let worker = Rc::new(EngineWorker::start("flicktune-engine", move |reason| {
            leptos::logging::error!("Flicktune: the engine's worker stopped: {reason}");
            primary_stopped(&state, reason);
        })?);
        self.state.borrow_mut().primary = Some(worker.clone());
        Ok(worker)
    }

    /// Tells `handler` when the engine's worker stopped (a panic, an uncaught error): a new
    /// worker starts at the next load, which `handler` asks for.
    pub fn on_worker_stopped(&self, handler: impl Fn(String) + 'static) {
        self.state.borrow_mut().worker_stopped = Some(Rc::new(handler));
    }

    /// The wasm memory of the page's instance and of each worker's, in bytes (the primary
    /// first). A helper that stops while asked is left out: it holds nothing any more.
    pub async fn memory_bytes(&self) -> Result<(f64, Vec<f64>), PageError> {
        let (primary, helpers): (Option<Rc<EngineWorker>>, Vec<Rc<EngineWorker>>) = {
            let state = self.state.borrow();
            (state.primary.clone(), state.helpers.iter().map(|(_, w)| w.clone()).collect())
        };
        let ask = |worker: Rc<EngineWorker>| async move {
            worker.ask(&Request::MemoryBytes, Vec::new(), &no_progress, &never).await?.0.memory_bytes()
        };
        let mut bytes = Vec::with_capacity(1 + helpers.len());
        if let Some(primary) = primary {
            bytes.push(ask(primary).await?);
        }
        for helper in helpers {
            match ask(helper.clone()).await {
                Ok(held) => bytes.push(held),
                Err(_) if helper.is_stopped() => {}
                Err(e) => return Err(e),
            }
        }
        Ok((global::wasm_memory_bytes(), bytes))
    }

    /// Asks the primary worker for `request`, once the encoder is loaded.
    async fn ask(
        &self,
        request: Request,
        bytes: Vec<Vec<u8>>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Answer {
        let primary = {
            let state = self.state.borrow();
            state.primary.clone().filter(|_| state.ready).ok_or(PageError::NotLoaded)?
        };
        primary.ask(&request, bytes, progress, cancelled).await
    }

    /// Asks for `request`, with no bytes beside it and no progress to show.
    async fn ask_plainly(&self, request: Request) -> Answer {
        self.ask(request, Vec::new(), &no_progress, &never).await
    }

    async fn reply(&self, request: Request) -> Result<Reply, PageError> {
        Ok(self.ask_plainly(request).await?.0)
    }

    /// Spreads `items` over the workers that hold `encoder` in contiguous parts, asks each
    /// for `make(part)` at once, and joins their answers (`read`) in order; a helper that
    /// stops meanwhile leaves its part to the primary.
    async fn spread<T: Clone, R>(
        &self,
        items: &[T],
        encoder: Encoder,
        make: impl Fn(Vec<T>) -> Request,
        read: impl Fn(Reply, &[Vec<u8>]) -> Result<Vec<R>, PageError>,
    ) -> Result<Vec<R>, PageError> {
        let workers = self.workers_holding(encoder)?;
        let parts = workers.len().min(items.len()).max(1);
        let size = items.len().div_ceil(parts).max(1);
        let primary = &workers[0];
        let asks = items.chunks(size).zip(&workers).map(|(part, worker)| {
            let request = make(part.to_vec());
            let read = &read;
            async move {
                let (reply, bytes) = match worker.ask(&request, Vec::new(), &no_progress, &never).await {
                    // A helper that stopped meanwhile: the primary reads its part.
                    Err(_) if worker.is_stopped() && !Rc::ptr_eq(worker, primary) => {
                        primary.ask(&request, Vec::new(), &no_progress, &never).await?
                    }
                    answer => answer?,
                };
                read(reply, &bytes)
            }
        });
        let mut joined = Vec::with_capacity(items.len());
        for answer in futures::future::join_all(asks).await {
            joined.extend(answer?);
        }
        Ok(joined)
    }

    /// The workers that can read with `encoder`: the helpers hold only the pretrained one.
    fn workers_holding(&self, encoder: Encoder) -> Result<Vec<Rc<EngineWorker>>, PageError> {
        let state = self.state.borrow();
        let primary = state.primary.clone().filter(|_| state.ready).ok_or(PageError::NotLoaded)?;
        let helpers_can = match encoder {
            Encoder::Pretrained => true,
            Encoder::InUse => state.tuned.is_none(),
            Encoder::Candidate => false,
        };
        let helpers = state.helpers.iter().filter(|_| helpers_can).map(|(_, w)| w.clone());
        Ok(std::iter::once(primary).chain(helpers).collect())
    }

    /// The fine-tuned layers in use, or `None` on the pretrained encoder.
    pub fn tuned(&self) -> Option<TunedLayers> {
        self.state.borrow().tuned.clone()
    }

    /// Makes the pretrained encoder with `layers` (their `bytes`) laid over it the
    /// candidate: not yet in use, read with [`Encoder::Candidate`].
    pub async fn prepare_tuned(&self, layers: &TunedLayers, bytes: Vec<u8>) -> Result<(), PageError> {
        self.ask(Request::Prepare { layers: layers.clone().without_bytes() }, vec![bytes], &no_progress, &never)
            .await?;
        Ok(())
    }

    /// Puts the candidate encoder (with `layers`) in use, or, with `None`, the pretrained one again.
    /// Before any encoder is loaded, the pretrained one is in use already.
    pub async fn use_encoder(&self, tuned: Option<TunedLayers>) -> Result<(), PageError> {
        let tuned_sha256 = tuned.as_ref().map(|t| t.sha256.clone());
        if tuned_sha256.is_some() || self.is_ready() {
            self.reply(Request::UseEncoder { tuned_sha256 }).await?;
        }
        self.state.borrow_mut().tuned = tuned.map(TunedLayers::without_bytes);
        Ok(())
    }

    /// Fits a classifier on labelled features in the engine's worker; `None` when cancelled.
    pub async fn train_head(
        &self,
        examples: &[Example<'_>],
        scaling: &FeatureScaling,
        source: FeatureSource,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<Classifier>, PageError> {
        let features = protocol::rows_to_bytes(examples.iter().map(|e| e.features));
        let labels = examples.iter().map(|e| e.label).collect();
        let request = Request::TrainHead { labels, scaling: scaling.clone(), source };
        self.ask(request, vec![features], progress, cancelled).await?.0.head()
    }

    /// Fine-tunes the pretrained encoder's top layers with `head` on `labelled` texts: the
    /// result becomes the candidate. Its layers' bytes come with it; `None` when cancelled.
    pub async fn fine_tune(
        &self,
        labelled: Vec<(String, u8)>,
        head: &Classifier,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<(FineTuned, Vec<u8>)>, PageError> {
        let request = Request::FineTune { labelled, head: head.clone() };
        let (reply, bytes) = self.ask(request, Vec::new(), progress, cancelled).await?;
        Ok(reply.fine_tuned()?.zip(bytes.into_iter().next()))
    }

    /// ULMFiT's pretrained language model reading `texts`: its last layer's outputs,
    /// concat-pooled. The primary worker builds it beside the encoder the first time
    /// (its files from Cache Storage, or downloaded: `on_progress` hears each file's).
    pub async fn language_model_features(
        &self,
        texts: &[String],
        on_progress: &dyn Fn(FileProgress),
    ) -> Result<Vec<Vec<f32>>, PageError> {
        self.load_language_model(on_progress).await?;
        let (reply, bytes) = self.ask_plainly(Request::LanguageModelFeatures { texts: texts.to_vec() }).await?;
        reply.rows(&bytes)
    }

    /// Has the primary worker build ULMFiT's language model unless it holds it already
    /// (its files from Cache Storage, or downloaded: `on_progress` hears each file's).
    async fn load_language_model(&self, on_progress: &dyn Fn(FileProgress)) -> Result<(), PageError> {
        let manifest = loader::fetch_manifest_in(LM_FOLDER, LM_MANIFEST_FILE).await?;
        let files = |p: Progress| {
            if let Progress::File(file) = p {
                on_progress(file);
            }
        };
        let request = Request::LoadLanguageModel { manifest: manifest.clone() };
        if let Err(e) = self.ask(request, Vec::new(), &files, &never).await {
            loader::evict(LM_FOLDER, &manifest).await;
            return Err(e);
        }
        Ok(())
    }

    /// ULMFiT in the primary worker: its language model tuned to `unlabelled` (once per
    /// set of texts), then its classifier on `labelled` with `config`; `None` when
    /// cancelled. Progress: the language model's files, then each part's steps.
    pub async fn train_ulmfit(
        &self,
        labelled: Vec<(String, u8)>,
        unlabelled: Vec<String>,
        config: UlmfitConfig,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<UlmfitTrained>, PageError> {
        self.load_language_model(&|file| progress(Progress::File(file))).await?;
        let request = Request::TrainUlmfit { labelled, unlabelled, config };
        self.ask(request, Vec::new(), progress, cancelled).await?.0.ulmfit()
    }

    /// The last ULMFiT classifier's probability that each text is positive.
    pub async fn ulmfit_positive(&self, texts: &[String]) -> Result<Vec<f32>, PageError> {
        self.reply(Request::UlmfitPositive { texts: texts.to_vec() }).await?.probabilities()
    }

    /// The WebGPU device was lost (`reason`): it is not used again in this visit.
    pub fn webgpu_lost(&self, reason: &str) {
        self.state.borrow_mut().webgpu_lost = Some(reason.into());
    }

    /// How many tokens the encoder reads for these texts (for throughput figures).
    pub async fn count_tokens(&self, texts: &[String]) -> Result<usize, PageError> {
        self.reply(Request::CountTokens { texts: texts.to_vec() }).await?.tokens()
    }

    /// Pooled, L2-normalised embeddings as the encoder's published engine makes them (its
    /// spec's pooling), as the JavaScript API gives them. Takes priority over background work.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, PageError> {
        let pooling = self.state.borrow().model.map_or(Pooling::First, |m| m.spec().pooling);
        self.in_foreground(self.embed_now(texts, pooling, Encoder::InUse)).await
    }

    /// How the classifier reads a review with the loaded encoder (its spec's pooling).
    pub fn classifier_pooling(&self) -> Result<Pooling, PageError> {
        Ok(self.state.borrow().model.ok_or(PageError::NotLoaded)?.spec().classifier_pooling)
    }

    /// The classifier's features by `encoder`, before background work.
    pub async fn embed_for_classifier(&self, texts: &[String], encoder: Encoder) -> Result<Vec<Embedding>, PageError> {
        self.in_foreground(self.embed_now(texts, self.classifier_pooling()?, encoder)).await
    }

    /// Runs a piece of foreground work: background work waits while any is running.
    pub async fn in_foreground<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.state.borrow_mut().foreground += 1;
        let result = work.await;
        self.state.borrow_mut().foreground -= 1;
        result
    }

    /// The classifier's features by `encoder`, once no foreground work is running.
    pub async fn embed_in_background(&self, texts: &[String], encoder: Encoder) -> Result<Vec<Embedding>, PageError> {
        while self.state.borrow().foreground > 0 {
            crate::app::yield_to_browser().await;
        }
        self.embed_now(texts, self.classifier_pooling()?, encoder).await
    }

    /// Mean-pooled last hidden states of one batch of token-id windows (special tokens
    /// included; not normalised), with the encoder in use: the same work another engine
    /// is given in `src/bench/peers/web/measure-engines.mjs`.
    pub async fn pooled_batch(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, PageError> {
        let make = |windows| Request::PooledBatch { windows };
        self.spread(windows, Encoder::InUse, make, |reply, bytes| reply.rows(bytes)).await
    }

    /// The pretrained encoder's word vectors of `texts`, averaged per text.
    pub async fn word_vectors(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, PageError> {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        let (reply, bytes) = self.ask_plainly(Request::WordVectors { texts }).await?;
        reply.rows(&bytes)
    }

    async fn embed_now(
        &self,
        texts: &[String],
        pooling: Pooling,
        encoder: Encoder,
    ) -> Result<Vec<Embedding>, PageError> {
        let make = |texts| Request::Embed { texts, pooling, encoder };
        self.spread(texts, encoder, make, |reply, bytes| reply.embeddings(bytes)).await
    }
}

/// The primary worker stopped (`reason`): it is forgotten, with the encoder it held and
/// its helpers, and the actions are asked for a new load (in a new worker).
fn primary_stopped(state: &Weak<RefCell<EngineState>>, reason: String) {
    let Some(state) = state.upgrade() else { return };
    // Later, not here: this runs inside the worker's own listener, which dropping the
    // worker would free while it runs.
    wasm_bindgen_futures::spawn_local(async move {
        let handler = {
            let mut state = state.borrow_mut();
            state.primary = None;
            state.helpers.clear();
            state.ready = false;
            state.restarted = Some(format!("the engine's worker stopped ({reason}) and was started again"));
            state.worker_stopped.clone()
        };
        if let Some(handler) = handler {
            handler(reason);
        }
    });
}

/// A helper stopped: embedding goes on without it.
fn forget_helper(state: &Weak<RefCell<EngineState>>, serial: u64) {
    let Some(state) = state.upgrade() else { return };
    wasm_bindgen_futures::spawn_local(async move {
        state.borrow_mut().helpers.retain(|(s, _)| *s != serial);
    });
}

/// How many workers hold the encoder on the CPU path: `?workers=N` in the page's address
/// (1 to 4), else two where the browser reports two cores or more and, where it reports
/// its memory, at least 4 GB (each worker holds its own copy of the encoder: e5 in f32 is
/// about 470 MB), else one. Burn's CPU backend in wasm has no threads of its own, so a
/// second worker is what puts a second core to work.
fn workers_wanted() -> usize {
    if let Some(asked) = global::url_param("workers").and_then(|n| n.parse::<usize>().ok()) {
        return asked.clamp(1, MAX_WORKERS);
    }
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    let number = |name: &str| Reflect::get(&navigator, &name.into()).ok().and_then(|v| v.as_f64());
    let cores = number("hardwareConcurrency").unwrap_or(1.0);
    let memory_gb = number("deviceMemory");
    if cores >= 2.0 && memory_gb.is_none_or(|gb| gb >= 4.0) { 2 } else { 1 }
}
