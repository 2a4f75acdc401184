//! Inside the engine's Web Worker: its entry point, and the host that answers the page's
//! requests with the encoder on the worker's own device (its WebGPU adapter when the
//! page asks for it and the worker gets one, else Burn's CPU backend). GPU objects cannot
//! leave the thread that made them, so the device, the weights and every tensor live here.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::ActiveBackend;
use super::compute::Compute;
use super::protocol::{Answer, Progress, Reply, Request};
use super::worker::{Failure, error_message, field, message, post, read_bytes};
use crate::app::error::PageError;
use crate::app::global;
use crate::app::services::loader::Manifest;
use crate::backend::BackendKind;
use crate::encoders::ModelName;

/// How the CPU path is described on the page.
pub const CPU_ADAPTER: &str = "Burn CPU backend (wasm, in a Web Worker)";

/// The worker's entry point, called once by `www/engine-worker.js` after the module is
/// initialised: it neither mounts the page nor installs `window.flicktune`.
#[wasm_bindgen(js_name = startWorker)]
pub fn start_worker() -> Result<(), JsValue> {
    crate::app::construct_once();
    // A panic leaves this instance unusable: the page is told, shows why and starts another.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let fatal = Object::new();
        let _ = Reflect::set(&fatal, &"fatal".into(), &format!("it panicked: {info}").into());
        let _ = post(&js_sys::global(), &(fatal.into(), Array::new()));
    }));
    let host = Rc::new(Host::default());
    let cancelled: Rc<RefCell<HashSet<u32>>> = Rc::default();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let data = field(&event, "data");
        let Some(id) = field(&data, "id").as_f64().map(|id| id as u32) else { return };
        if field(&data, "cancel").is_truthy() {
            cancelled.borrow_mut().insert(id);
            return;
        }
        let (host, cancelled) = (host.clone(), cancelled.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let outcome = host.answer(&data, id, &|| cancelled.borrow().contains(&id)).await;
            cancelled.borrow_mut().remove(&id);
            let sent = match outcome {
                Ok((reply, bytes)) => serde_json::to_string(&reply)
                    .map_err(|e| PageError::Browser(e.to_string()))
                    .and_then(|body| message(id, "reply", &body, bytes)),
                Err(failure) => error_message(id, &failure),
            };
            if let Err(e) = sent.and_then(|m| post(&js_sys::global(), &m)) {
                leptos::logging::error!("the engine's worker could not answer request {id}: {e}");
            }
        });
    });
    Reflect::set(&js_sys::global(), &"onmessage".into(), on_message.as_ref())?;
    on_message.forget();
    Ok(())
}

/// The encoder this worker runs, and its WebGPU device once set up.
#[derive(Default)]
struct Host {
    compute: RefCell<Option<Rc<Compute>>>,
    /// Burn's wgpu runtime is set up once per worker: how that went (the adapter's name, or why not).
    webgpu: RefCell<Option<Result<(Device, String), String>>>,
    /// Loads started: a load puts its encoder in use only if no newer one began meanwhile.
    loads: Cell<u64>,
}

impl Host {
    /// Answers the request in `data`; a failure says whether the WebGPU device was lost.
    async fn answer(
        &self,
        data: &JsValue,
        id: u32,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Reply, Vec<Vec<u8>>), Failure> {
        let body = field(data, "request").as_string().unwrap_or_default();
        let request: Request = serde_json::from_str(&body)
            .map_err(|source| Failure::from(PageError::Json { what: "the engine's request".into(), source }))?;
        let progress = |step: Progress| {
            let posted = serde_json::to_string(&step)
                .map_err(|e| PageError::Browser(e.to_string()))
                .and_then(|body| message(id, "progress", &body, Vec::new()))
                .and_then(|m| post(&js_sys::global(), &m));
            if let Err(e) = posted {
                leptos::logging::error!("the engine's worker could not report progress: {e}");
            }
        };
        let compute = self.compute.borrow().clone();
        match self.handle(request, read_bytes(data), &progress, cancelled).await {
            Ok(answer) => Ok(answer),
            Err(error) => {
                let device_lost = match (error.device_failure(), compute) {
                    (Some(failure), Some(compute)) => compute.is_lost_after(failure).await,
                    _ => false,
                };
                Err(Failure { message: error.to_string(), device_lost })
            }
        }
    }

    async fn handle(
        &self,
        request: Request,
        bytes: Vec<Vec<u8>>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Answer {
        match request {
            Request::Load { model, manifest, backend } => {
                Ok((Reply::Loaded(self.load(model, &manifest, backend, progress).await?), Vec::new()))
            }
            Request::MemoryBytes => Ok((Reply::MemoryBytes(global::wasm_memory_bytes()), Vec::new())),
            other => {
                let compute = self.compute.borrow().clone().ok_or(PageError::NotLoaded)?;
                compute.handle(other, bytes, progress, cancelled).await
            }
        }
    }

    /// Builds `model` on `backend`, falling back to the CPU (with a notice saying why) when
    /// WebGPU is missing or fails here.
    async fn load(
        &self,
        model: ModelName,
        manifest: &Manifest,
        backend: BackendKind,
        progress: &dyn Fn(Progress),
    ) -> Result<ActiveBackend, PageError> {
        let ticket = self.loads.get() + 1;
        self.loads.set(ticket);
        // The encoder in use goes first: two in memory at once could exhaust it.
        *self.compute.borrow_mut() = None;
        let mut notice = None;
        if backend == BackendKind::Wgpu {
            match self.webgpu_device().await {
                Ok((device, adapter)) => {
                    match Compute::load(device, BackendKind::Wgpu, model, manifest, progress).await {
                        Ok(compute) => return Ok(self.install(ticket, compute, adapter, None)),
                        Err(e) => notice = Some(format!("WebGPU failed ({e}); running on the CPU instead")),
                    }
                }
                Err(e) => notice = Some(format!("{e}; running on the CPU instead")),
            }
        }
        let compute = Compute::load(Device::flex(), BackendKind::Cpu, model, manifest, progress).await?;
        Ok(self.install(ticket, compute, CPU_ADAPTER.into(), notice))
    }

    fn install(&self, ticket: u64, compute: Compute, adapter: String, notice: Option<String>) -> ActiveBackend {
        let backend = ActiveBackend { kind: compute.kind(), adapter, notice };
        if self.loads.get() == ticket {
            *self.compute.borrow_mut() = Some(Rc::new(compute));
        }
        backend
    }

    async fn webgpu_device(&self) -> Result<(Device, String), String> {
        if let Some(known) = self.webgpu.borrow().clone() {
            return known;
        }
        let outcome = open_webgpu().await.map_err(|e| e.to_string());
        *self.webgpu.borrow_mut() = Some(outcome.clone());
        outcome
    }
}

/// Asks the browser for a WebGPU adapter in this worker (for its name and a clear "no
/// adapter"), then sets up Burn's wgpu runtime on it.
async fn open_webgpu() -> Result<(Device, String), PageError> {
    let gpu = global::gpu().ok_or(PageError::NoWebGpu)?;
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
