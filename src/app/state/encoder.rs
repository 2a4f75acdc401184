//! Which encoder the page uses and where loading it stands: the model chosen, the device
//! asked for and the one running, the download, and the fine-tuned layers in use.

use leptos::prelude::*;

use crate::app::global;
use crate::app::services::engine::ActiveBackend;
use crate::app::services::loader::FileProgress;
use crate::app::services::storage;
use crate::backend::BackendKind;
use crate::encoders::{ModelName, WeightPrecision};

/// Where loading the model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Loading,
    Ready,
    Failed(String),
}

/// Names one load: a load whose ticket is no longer the latest drops its results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadTicket(u32);

#[derive(Clone, Copy)]
pub struct EncoderState {
    /// `?precision=f32` downloads the original f32 weights (twice the bytes) instead of f16.
    pub precision: WeightPrecision,
    model: RwSignal<ModelName>,
    prefer: RwSignal<BackendKind>,
    status: RwSignal<Status>,
    files: RwSignal<Vec<FileProgress>>,
    download_bytes: RwSignal<Option<u64>>,
    backend: RwSignal<Option<ActiveBackend>>,
    /// The sha256 of the fine-tuned layers the encoder in use has, if any.
    tuned: RwSignal<Option<String>>,
    /// Asks for a load again with the same settings (e.g. WebGPU again after a fallback).
    reload: Trigger,
    /// The latest load's ticket: not reactive, only compared.
    latest: StoredValue<u32>,
}

impl EncoderState {
    pub fn new(webgpu_available: bool) -> Self {
        EncoderState {
            precision: precision_from_url(),
            model: RwSignal::new(initial_model()),
            prefer: RwSignal::new(if webgpu_available { BackendKind::Wgpu } else { BackendKind::Cpu }),
            status: RwSignal::new(Status::Loading),
            files: RwSignal::new(Vec::new()),
            download_bytes: RwSignal::new(None),
            backend: RwSignal::new(None),
            tuned: RwSignal::new(None),
            reload: Trigger::new(),
            latest: StoredValue::new(0),
        }
    }

    pub fn model(&self) -> ModelName {
        self.model.get()
    }

    pub fn model_untracked(&self) -> ModelName {
        self.model.get_untracked()
    }

    /// Switches to `model`, remembered for the next visit (the choice, not the default).
    pub fn choose(&self, model: ModelName) {
        storage::write_model(model.short());
        self.model.set(model);
    }

    /// What a load needs, tracked: a change to any of it (or [`Self::switch_backend`])
    /// asks for a new load.
    pub fn load_request(&self) -> (ModelName, BackendKind) {
        self.reload.track();
        (self.model.get(), self.prefer.get())
    }

    /// Asks for the other backend than the one running (not the one asked for: after a
    /// fallback to the CPU, WebGPU is asked for again).
    pub fn switch_backend(&self) {
        self.prefer.set(if self.running_on_gpu() { BackendKind::Cpu } else { BackendKind::Wgpu });
        self.reload.notify();
    }

    /// Loads the encoder again with the same settings (after the engine's worker stopped).
    pub fn reload(&self) {
        self.reload.notify();
    }

    /// The GPU device was lost: loads the encoder again on the CPU.
    pub fn move_to_cpu(&self) {
        self.prefer.set(BackendKind::Cpu);
        self.reload.notify();
    }

    /// A new load starts: earlier ones are superseded.
    pub fn begin_load(&self) -> LoadTicket {
        self.latest.update_value(|n| *n += 1);
        self.status.set(Status::Loading);
        self.tuned.set(None);
        self.files.set(Vec::new());
        LoadTicket(self.latest.get_value())
    }

    pub fn is_current(&self, ticket: LoadTicket) -> bool {
        self.latest.get_value() == ticket.0
    }

    pub fn status(&self) -> Status {
        self.status.get()
    }

    pub fn is_ready(&self) -> bool {
        self.status.with(|s| *s == Status::Ready)
    }

    pub fn is_ready_untracked(&self) -> bool {
        self.status.with_untracked(|s| *s == Status::Ready)
    }

    pub fn failed(&self, message: String) {
        self.status.set(Status::Failed(message));
    }

    pub fn loaded(&self, backend: ActiveBackend) {
        self.backend.set(Some(backend));
        self.status.set(Status::Ready);
    }

    pub fn files(&self) -> Vec<FileProgress> {
        self.files.get()
    }

    /// One file's download progressed.
    pub fn file_progress(&self, progress: FileProgress) {
        self.files.update(|files| match files.iter_mut().find(|f| f.name == progress.name) {
            Some(f) => *f = progress,
            None => files.push(progress),
        });
    }

    pub fn download_bytes(&self) -> Option<u64> {
        self.download_bytes.get()
    }

    pub fn set_download_bytes(&self, bytes: u64) {
        self.download_bytes.set(Some(bytes));
    }

    pub fn backend(&self) -> Option<ActiveBackend> {
        self.backend.get()
    }

    pub fn running_on_gpu(&self) -> bool {
        self.backend.with(|b| b.as_ref().is_some_and(|b| b.kind == BackendKind::Wgpu))
    }

    /// The sha256 of the fine-tuned layers in use, if any.
    pub fn tuned(&self) -> Option<String> {
        self.tuned.get()
    }

    pub fn set_tuned(&self, sha256: Option<String>) {
        self.tuned.set(sha256);
    }
}

fn precision_from_url() -> WeightPrecision {
    if global::url_param("precision").as_deref() == Some("f32") { WeightPrecision::F32 } else { WeightPrecision::F16 }
}

/// The encoder to start with: `?model=l3` (for this visit), else the one last chosen in
/// the menu, else the default.
fn initial_model() -> ModelName {
    [global::url_param("model"), storage::read_model()]
        .into_iter()
        .flatten()
        .find_map(|m| m.parse().ok())
        .unwrap_or_default()
}
