//! The page's encoder: which device it runs on, loading it, embedding with it.
//!
//! WebGPU is used when the browser gives an adapter; otherwise, or when WebGPU fails
//! (no adapter, device lost, shader error at warm-up), the same model runs on Burn's
//! CPU backend compiled to wasm, and the user is told why. After fine-tuning, the
//! encoder in use is the pretrained one with the tuned top layers laid over it.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::loader::{self, FileProgress, Manifest};
use crate::app::error::PageError;
use crate::backend::BackendKind;
use crate::features::{Embedder, Embedding, Pooling};
use crate::models::{ModelFiles, ModelName};
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
    /// The encoder in use: the pretrained one, or it with fine-tuned top layers.
    embedder: Option<Rc<Embedder>>,
    pretrained: Option<Rc<Embedder>>,
    /// The fine-tuned layers in use, if any (without their bytes).
    tuned: Option<TunedLayers>,
    /// Which encoder is loaded.
    model: Option<ModelName>,
    backend: Option<ActiveBackend>,
    /// Burn's wgpu runtime is set up once per page: remember how that went.
    webgpu: Option<Result<(Device, String), Rc<PageError>>>,
    /// Foreground `embed` calls in flight; background work waits for them.
    foreground: usize,
}

/// How long a failed read-back waits for the browser to report a lost device.
const LOSS_REPORT_MS: i32 = 250;

/// Texts per encoder batch in the page: small, so the page gets control back often.
const PAGE_BATCH: usize = 4;

impl Engine {
    pub fn backend(&self) -> Option<ActiveBackend> {
        self.state.borrow().backend.clone()
    }

    /// The encoder loaded or loading.
    pub fn model(&self) -> Option<ModelName> {
        self.state.borrow().model
    }

    /// The device the encoder runs on: training uses the same one.
    pub fn device(&self) -> Option<Device> {
        self.state.borrow().embedder.as_ref().map(|e| e.device.clone())
    }

    pub fn is_ready(&self) -> bool {
        self.state.borrow().embedder.is_some()
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
            (state.embedder, state.pretrained, state.tuned, state.model) = (None, None, None, Some(model));
        }
        let mut contents = Vec::new();
        for file in &manifest.files {
            contents.push(loader::load_file(model, file, on_progress).await?);
        }
        let [config_json, tokenizer_json, weights]: [Vec<u8>; 3] =
            contents.try_into().map_err(|_| PageError::Manifest)?;
        let files = ModelFiles { model, config_json, weights, tokenizer_json };

        // After a lost device, every load says why it is on the CPU.
        let mut notice = match &self.state.borrow().webgpu {
            Some(Err(lost)) if matches!(**lost, PageError::WebGpuLost(_)) => {
                Some(format!("{lost}; running on the CPU"))
            }
            _ => None,
        };
        if prefer == BackendKind::Wgpu {
            match self.webgpu_device().await {
                Ok((device, adapter)) => match build(&files, device).await {
                    Ok(embedder) => return Ok(self.install(embedder, BackendKind::Wgpu, adapter, None)),
                    Err(e) => notice = Some(format!("WebGPU failed ({e}); running on the CPU instead")),
                },
                Err(e) => notice = Some(format!("{e}; running on the CPU instead")),
            }
        }
        match build(&files, Device::flex()).await {
            Ok(embedder) => Ok(self.install(embedder, BackendKind::Cpu, "Burn CPU backend (wasm)".into(), notice)),
            Err(e) => {
                loader::evict(model, manifest).await;
                Err(e)
            }
        }
    }

    fn install(&self, embedder: Embedder, kind: BackendKind, adapter: String, notice: Option<String>) -> ActiveBackend {
        let backend = ActiveBackend { kind, adapter, notice };
        let mut state = self.state.borrow_mut();
        let embedder = Rc::new(embedder);
        state.embedder = Some(embedder.clone());
        state.pretrained = Some(embedder);
        state.tuned = None;
        state.backend = Some(backend.clone());
        backend
    }

    /// The pretrained encoder (fine-tuning always starts from it).
    pub fn pretrained(&self) -> Result<Rc<Embedder>, PageError> {
        self.state.borrow().pretrained.clone().ok_or(PageError::NotLoaded)
    }

    /// The fine-tuned layers in use, or `None` on the pretrained encoder.
    pub fn tuned(&self) -> Option<TunedLayers> {
        self.state.borrow().tuned.clone()
    }

    /// The pretrained encoder with `layers` (their `bytes`) laid over it, not yet in use.
    pub fn tuned_embedder(&self, layers: &TunedLayers, bytes: &[u8]) -> Result<Rc<Embedder>, PageError> {
        let pretrained = self.pretrained()?;
        let model = layers.apply(pretrained.model.clone(), bytes)?;
        Ok(Rc::new(Embedder {
            model,
            tokenizer: pretrained.tokenizer.clone(),
            device: pretrained.device.clone(),
            ..*pretrained
        }))
    }

    /// Puts a fine-tuned encoder (from [`Self::tuned_embedder`]) in use, or, with `None`,
    /// the pretrained one again.
    pub fn use_encoder(&self, tuned: Option<(Rc<Embedder>, TunedLayers)>) {
        let mut state = self.state.borrow_mut();
        match tuned {
            Some((embedder, layers)) => {
                state.embedder = Some(embedder);
                state.tuned = Some(layers.without_bytes());
            }
            None => {
                state.embedder = state.pretrained.clone();
                state.tuned = None;
            }
        }
    }

    /// Whether the WebGPU device the encoder runs on is lost, after `failure`. Chromium
    /// rejects the read-back before it reports the loss, so a failure that does not say
    /// "lost" is checked with a one-value read a moment later: a device that cannot read
    /// back one value is of no further use, whatever it reports.
    pub async fn is_lost_after(&self, failure: &crate::backend::DeviceFailure) -> bool {
        let on_gpu = self.backend().is_some_and(|b| b.kind == BackendKind::Wgpu);
        let Some(device) = self.device().filter(|_| on_gpu) else { return false };
        if failure.is_lost() {
            return true;
        }
        crate::app::wait_ms(LOSS_REPORT_MS).await;
        crate::backend::read_values(burn::tensor::Tensor::<1>::zeros([1], &device)).await.is_err()
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
    pub fn count_tokens(&self, texts: &[String]) -> Result<usize, PageError> {
        let embedder = self.state.borrow().embedder.clone().ok_or(PageError::NotLoaded)?;
        Ok(embedder.plan(texts)?.tokens())
    }

    /// Pooled, L2-normalised embeddings as the encoder's published engine makes them (its
    /// spec's pooling), as the JavaScript API gives them. Takes priority over background work.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, PageError> {
        let pooling = self.state.borrow().embedder.as_ref().map_or(Pooling::First, |e| e.pooling);
        self.in_foreground(self.embed_now(texts, pooling)).await
    }

    /// How the classifier reads a review with the loaded encoder (its spec's pooling).
    pub fn classifier_pooling(&self) -> Result<Pooling, PageError> {
        Ok(self.state.borrow().model.ok_or(PageError::NotLoaded)?.spec().classifier_pooling)
    }

    /// The classifier's features, before background work.
    pub async fn embed_for_classifier(&self, texts: &[String]) -> Result<Vec<Embedding>, PageError> {
        self.in_foreground(self.embed_now(texts, self.classifier_pooling()?)).await
    }

    /// Runs a piece of foreground work: background work waits while any is running.
    pub async fn in_foreground<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.state.borrow_mut().foreground += 1;
        let result = work.await;
        self.state.borrow_mut().foreground -= 1;
        result
    }

    /// The classifier's features, once no foreground work is running; with `embedder`
    /// rather than the one in use, if given.
    pub async fn embed_in_background(
        &self,
        texts: &[String],
        embedder: Option<&Embedder>,
    ) -> Result<Vec<Embedding>, PageError> {
        while self.state.borrow().foreground > 0 {
            crate::app::yield_to_browser().await;
        }
        match embedder {
            Some(embedder) => Ok(embedder.embed_pooled(texts, self.classifier_pooling()?).await?),
            None => self.embed_now(texts, self.classifier_pooling()?).await,
        }
    }

    /// Mean-pooled last hidden states of one batch of token-id windows (special tokens
    /// included; not normalised), with the encoder in use: the same work another engine
    /// is given in `src/bench/peers/web/measure-engines.mjs`.
    pub async fn pooled_batch(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, PageError> {
        let embedder = self.state.borrow().embedder.clone().ok_or(PageError::NotLoaded)?;
        let windows: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
        Ok(embedder.pooled_rows(&windows).await?)
    }

    async fn embed_now(&self, texts: &[String], pooling: Pooling) -> Result<Vec<Embedding>, PageError> {
        let embedder = self.state.borrow().embedder.clone().ok_or(PageError::NotLoaded)?;
        Ok(embedder.embed_pooled(texts, pooling).await?)
    }
}

/// Builds the encoder on a device and runs it once: shader compilation errors and lost
/// devices show up here rather than at the user's first click.
async fn build(files: &ModelFiles, device: Device) -> Result<Embedder, PageError> {
    let (tokenizer, model) = files.clone().load(&device)?;
    let embedder = Embedder { tokenizer, model, device, pooling: files.model.spec().pooling, batch_size: PAGE_BATCH };
    embedder.embed_async(&["warm-up"]).await?;
    Ok(embedder)
}

/// Asks the browser for a WebGPU adapter (for its name and a clear "no adapter"), then
/// sets up Burn's wgpu runtime on it.
async fn open_webgpu() -> Result<(Device, String), PageError> {
    let navigator = web_sys::window().ok_or(PageError::Unsupported("window"))?.navigator();
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() {
        return Err(PageError::NoWebGpu);
    }
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
