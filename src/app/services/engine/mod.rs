//! The page's encoder: which device it runs on, loading it, and the work asked of it.
//!
//! WebGPU is used when the browser gives an adapter: the encoder is built on the page,
//! whose GPU does the work. Otherwise, or when WebGPU fails (no adapter, device lost,
//! shader error at warm-up), the same model runs on Burn's CPU backend in the engine's
//! Web Worker, so the page never blocks on it, and the user is told why. Either way the
//! work is asked for as a [`protocol::Request`] and answered by a [`compute::Compute`].
//! After fine-tuning, the encoder in use is the pretrained one with the tuned top layers
//! laid over it.

mod compute;
pub mod protocol;
pub mod worker;

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use self::compute::Compute;
use self::protocol::{Encoder, FineTuned, Progress, Reply, Request};
use self::worker::EngineWorker;
use super::loader::{self, FileProgress, Manifest};
use crate::app::error::PageError;
use crate::backend::BackendKind;
use crate::classifier::{Classifier, FeatureScaling};
use crate::features::{Embedding, Pooling};
use crate::models::ModelName;
use crate::training::{Example, FeatureSource};
use crate::tuned::TunedLayers;

/// The device the encoder runs on, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
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

/// Shared by the UI and the JavaScript API: the loaded encoder, if any.
#[derive(Clone, Default)]
pub struct Engine {
    state: Rc<RefCell<EngineState>>,
}

#[derive(Default)]
struct EngineState {
    /// Where the encoder's work is done, once it is loaded.
    place: Option<Place>,
    /// The fine-tuned layers in use, if any (without their bytes).
    tuned: Option<TunedLayers>,
    /// Which encoder is loaded.
    model: Option<ModelName>,
    backend: Option<ActiveBackend>,
    /// Burn's wgpu runtime is set up once per page: remember how that went.
    webgpu: Option<Result<(Device, String), Rc<PageError>>>,
    /// The engine's worker, once started: kept for later loads on the CPU.
    worker: Option<Rc<EngineWorker>>,
    /// Foreground `embed` calls in flight; background work waits for them.
    foreground: usize,
    /// Why the next load starts a new worker, for its notice.
    restarted: Option<String>,
    /// Asks for a new load after the worker stopped (set by the page's actions).
    worker_stopped: Option<Rc<dyn Fn(String)>>,
}

/// Where the encoder's work is done.
#[derive(Clone)]
enum Place {
    /// On the page, on the WebGPU device.
    Page(Rc<Compute>),
    /// In the engine's Web Worker, on the CPU.
    Worker(Rc<EngineWorker>),
}

/// How long a failed read-back waits for the browser to report a lost device.
const LOSS_REPORT_MS: i32 = 250;

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
        self.state.borrow().place.is_some()
    }

    /// Downloads (or reads from the cache) a model and builds it on the preferred backend,
    /// falling back to the CPU when WebGPU is missing or fails.
    pub async fn load(
        &self,
        model: ModelName,
        manifest: &Manifest,
        prefer: BackendKind,
        on_progress: &dyn Fn(FileProgress),
    ) -> Result<ActiveBackend, PageError> {
        {
            let mut state = self.state.borrow_mut();
            (state.place, state.tuned, state.model) = (None, None, Some(model));
        }
        let request = Request::Load { model, manifest: manifest.clone() };
        let files = |p: Progress| {
            if let Progress::File(file) = p {
                on_progress(file);
            }
        };

        // After a stopped worker the next load says so, and after a lost device why it is on the CPU.
        let restarted = self.state.borrow_mut().restarted.take();
        let mut notice = None;
        if let Some(Err(lost)) = &self.state.borrow().webgpu
            && matches!(**lost, PageError::WebGpuLost(_))
        {
            notice = Some(format!("{lost}; running on the CPU"));
        }
        if prefer == BackendKind::Wgpu {
            match self.webgpu_device().await {
                Ok((device, adapter)) => {
                    let compute = Rc::new(Compute::new(device));
                    match compute.handle(request.clone(), Vec::new(), &files, &never).await {
                        Ok(_) => {
                            let (place, notice) = (Place::Page(compute), restarted);
                            return Ok(self.install(model, place, BackendKind::Wgpu, adapter, notice));
                        }
                        Err(e) => notice = Some(format!("WebGPU failed ({e}); running on the CPU instead")),
                    }
                }
                Err(e) => notice = Some(format!("{e}; running on the CPU instead")),
            }
        }
        // The worker reads the files from Cache Storage (or downloads them) itself: the
        // weights never pass through the page.
        let worker = self.worker()?;
        match worker.ask(&request, Vec::new(), &files, &never).await {
            Ok(_) => {
                let adapter = "Burn CPU backend (wasm, in a Web Worker)".to_string();
                let notice = joined([restarted, notice]);
                Ok(self.install(model, Place::Worker(worker), BackendKind::Cpu, adapter, notice))
            }
            Err(e) => {
                loader::evict(model, manifest).await;
                Err(e)
            }
        }
    }

    /// Tells `handler` when the engine's worker stopped (a panic, an uncaught error) while
    /// the encoder ran there: a new worker starts at the next load, which `handler` asks for.
    pub fn on_worker_stopped(&self, handler: impl Fn(String) + 'static) {
        self.state.borrow_mut().worker_stopped = Some(Rc::new(handler));
    }

    /// The wasm memory of the page's instance and of the worker's (when it runs the encoder), in bytes.
    pub async fn memory_bytes(&self) -> Result<(f64, Option<f64>), PageError> {
        let page = crate::app::global::wasm_memory_bytes();
        let worker = self.state.borrow().worker.clone();
        let engine = match worker {
            Some(worker) => {
                Some(worker.ask(&Request::MemoryBytes, Vec::new(), &no_progress, &never).await?.0.memory_bytes()?)
            }
            None => None,
        };
        Ok((page, engine))
    }

    /// The engine's worker, started the first time it is needed (and again after it stopped).
    fn worker(&self) -> Result<Rc<EngineWorker>, PageError> {
        if let Some(worker) = self.state.borrow().worker.clone() {
            return Ok(worker);
        }
        let state = Rc::downgrade(&self.state);
        let worker = Rc::new(EngineWorker::start(move |reason| {
            leptos::logging::error!("Flicktune: the engine's worker stopped: {reason}");
            let Some(state) = state.upgrade() else { return };
            // Later, not here: this runs inside the worker's own listener, which dropping
            // the worker would free while it runs.
            wasm_bindgen_futures::spawn_local(async move {
                let handler = {
                    let mut state = state.borrow_mut();
                    let was_in_use = matches!(state.place, Some(Place::Worker(_)));
                    state.worker = None;
                    if !was_in_use {
                        return;
                    }
                    state.place = None;
                    state.restarted = Some(format!("the engine's worker stopped ({reason}) and was started again"));
                    state.worker_stopped.clone()
                };
                if let Some(handler) = handler {
                    handler(reason);
                }
            });
        })?);
        self.state.borrow_mut().worker = Some(worker.clone());
        Ok(worker)
    }

    /// Puts a loaded encoder in use, unless a newer load began meanwhile.
    fn install(
        &self,
        model: ModelName,
        place: Place,
        kind: BackendKind,
        adapter: String,
        notice: Option<String>,
    ) -> ActiveBackend {
        let backend = ActiveBackend { kind, adapter, notice };
        let mut state = self.state.borrow_mut();
        if state.model == Some(model) {
            state.place = Some(place);
            state.tuned = None;
            state.backend = Some(backend.clone());
        }
        backend
    }

    /// Asks for `request` where the encoder runs.
    async fn ask(
        &self,
        request: Request,
        bytes: Vec<Vec<u8>>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Reply, Vec<Vec<u8>>), PageError> {
        let place = self.state.borrow().place.clone().ok_or(PageError::NotLoaded)?;
        match place {
            Place::Page(compute) => compute.handle(request, bytes, progress, cancelled).await,
            Place::Worker(worker) => worker.ask(&request, bytes, progress, cancelled).await,
        }
    }

    /// Asks for `request`, with no bytes beside it and no progress to show.
    async fn ask_plainly(&self, request: Request) -> Result<(Reply, Vec<Vec<u8>>), PageError> {
        self.ask(request, Vec::new(), &no_progress, &never).await
    }

    async fn reply(&self, request: Request) -> Result<Reply, PageError> {
        Ok(self.ask_plainly(request).await?.0)
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

    /// Fits a classifier on labelled features where the encoder runs; `None` when cancelled.
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

    /// Whether the WebGPU device the encoder runs on is lost, after `failure`. Chromium
    /// rejects the read-back before it reports the loss, so a failure that does not say
    /// "lost" is checked with a one-value read a moment later: a device that cannot read
    /// back one value is of no further use, whatever it reports.
    pub async fn is_lost_after(&self, failure: &crate::backend::DeviceFailure) -> bool {
        let Some(Place::Page(compute)) = self.state.borrow().place.clone() else { return false };
        if failure.is_lost() {
            return true;
        }
        crate::app::wait_ms(LOSS_REPORT_MS).await;
        crate::backend::read_values(burn::tensor::Tensor::<1>::zeros([1], compute.device())).await.is_err()
    }

    /// The WebGPU device was lost (`reason`): it is not used again in this visit.
    pub fn webgpu_lost(&self, reason: &str) {
        self.state.borrow_mut().webgpu = Some(Err(Rc::new(PageError::WebGpuLost(reason.into()))));
    }

    async fn webgpu_device(&self) -> Result<(Device, String), Rc<PageError>> {
        if let Some(known) = self.state.borrow().webgpu.clone() {
            return known;
        }
        let outcome = open_webgpu().await.map_err(Rc::new);
        self.state.borrow_mut().webgpu = Some(outcome.clone());
        outcome
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
        let (reply, bytes) = self.ask_plainly(Request::PooledBatch { windows: windows.to_vec() }).await?;
        reply.rows(&bytes)
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
        let request = Request::Embed { texts: texts.to_vec(), pooling, encoder };
        let (reply, bytes) = self.ask_plainly(request).await?;
        reply.embeddings(&bytes)
    }
}

/// Asks the browser for a WebGPU adapter (for its name and a clear "no adapter"), then
/// sets up Burn's wgpu runtime on it.
async fn open_webgpu() -> Result<(Device, String), PageError> {
    let gpu = crate::app::global::gpu().ok_or(PageError::NoWebGpu)?;
    let request = Reflect::get(&gpu, &"requestAdapter".into())?;
    let promise: js_sys::Promise = js_sys::Function::from(request).call0(&gpu)?.into();
    let adapter = JsFuture::from(promise).await?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(PageError::NoAdapter);
    }
    let info = Reflect::get(&adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let field =
        |name: &str| Reflect::get(&info, &name.into()).ok().and_then(|v| v.as_string()).filter(|s| !s.is_empty());
    let name = [field("vendor"), field("architecture"), field("description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let device = Device::wgpu_options().init_async().await.map_err(|e| PageError::WebGpuInit(e.to_string()))?;
    Ok((device, if name.is_empty() { "unnamed WebGPU adapter".into() } else { name }))
}
