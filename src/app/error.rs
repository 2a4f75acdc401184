//! What can go wrong in the page, as values. Each message says what happened and, where
//! the person can do something about it, what to do; the views show them as they are.

use wasm_bindgen::{JsCast, JsValue};

use crate::backend::DeviceFailure;
use crate::classifier::ClassifierError;
use crate::encoders::ModelError;
use crate::encoders::tuned::TunedError;
use crate::features::EmbedError;
use crate::session::SessionError;
use crate::tokens::TokenizeError;
use crate::training::TrainError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("the model is not loaded yet")]
    NotLoaded,
    #[error("this browser gives the page no {0}")]
    Unsupported(&'static str),
    /// A browser API threw: its own message.
    #[error("{0}")]
    Browser(String),
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the server answered {status} for {url}")]
    Server { url: String, status: u16 },
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    Json { what: String, source: serde_json::Error },
    #[error("{file} line {line}: {problem}")]
    Line { file: String, line: usize, problem: String },
    /// A model's manifest lacks a file it needs (their names).
    #[error("the model manifest must list {0}")]
    Manifest(&'static str),
    #[error(
        "{name} is {got} bytes but the manifest says {expected}: the download is truncated or the file was replaced"
    )]
    Truncated { name: String, got: u64, expected: u64 },
    #[error("{name} does not match its manifest (sha256 {sha256}): the file on the server is corrupted")]
    Corrupted { name: String, sha256: String },
    #[error("{0} has no body")]
    NoBody(String),
    /// (The browser's reason ends in a full stop; the message's sentence goes on after it.)
    #[error("the browser would not store {what} ({})", .reason.trim_end_matches('.'))]
    Refused { what: String, reason: String },
    #[error("this browser does not offer WebGPU")]
    NoWebGpu,
    #[error("WebGPU is present but offers no adapter")]
    NoAdapter,
    #[error("WebGPU could not be initialised: {0}")]
    WebGpuInit(String),
    /// Once lost, Burn's wgpu runtime cannot be set up again in the same page.
    #[error("the WebGPU device was lost earlier in this visit ({0}); reload the page to use WebGPU again")]
    WebGpuLost(String),
    /// The features `flicktune fetch` computed do not belong to the page's encoder.
    #[error("the feature cache {0}")]
    CacheUnusable(&'static str),
    #[error("the feature cache disagrees with this encoder (by {0:.1e})")]
    CacheDisagrees(f32),
    #[error("{name} is {size_kb:.0} kB; a labels file is at most {limit_kb} kB")]
    ImportTooLarge { name: String, size_kb: f64, limit_kb: usize },
    #[error(
        "its classifier was fine-tuned, but the file lacks the tuned layers: export it again from the page that trained it"
    )]
    MissingTunedLayers,
    #[error("its fine-tuned layers are no longer in this browser's storage")]
    TunedLayersGone,
    #[error("the fine-tuned encoder's features do not fit the bundled reviews")]
    FeaturesMisfit,
    /// The engine's worker failed at the request: its own message.
    #[error("{0}")]
    Engine(String),
    /// The engine's WebGPU device is lost (its message): the encoder must move to the CPU.
    #[error("{0}")]
    EngineDeviceLost(String),
    #[error("the engine answered a request with the wrong kind of reply ({0}): please report this")]
    UnexpectedReply(String),
    #[error("the encoder returned fewer results than texts")]
    ShortOutput,
    /// Import and reset wait while a training runs, since its end would write into the
    /// session they replace.
    #[error("{0} waits until training stops: cancel it or let it finish.")]
    Busy(&'static str),
    #[error("Paste a review first.")]
    NothingToClassify,
    #[error("This text is {size_kb} kB; Flicktune classifies texts up to {limit_kb} kB. Paste a shorter part.")]
    TextTooLong { size_kb: usize, limit_kb: usize },
    #[error("Train a classifier first (label a few reviews, then Train).")]
    NoClassifier,
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueError),
    #[error(
        "the movie catalogue was read by {made_by}; the page now runs {running}: choose {made_by} under Model to browse movies"
    )]
    CatalogueForAnotherEncoder { made_by: String, running: String },
    #[error(
        "the movie catalogue was computed with other weights than the ones this page loaded: run `flicktune fetch` again"
    )]
    CatalogueStale,
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Classifier(#[from] ClassifierError),
    #[error(transparent)]
    LanguageModel(#[from] crate::ulmfit::LmFilesError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Tuned(#[from] TunedError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl PageError {
    /// A result could not be read back from the device: the device may be lost.
    pub fn device_failure(&self) -> Option<&DeviceFailure> {
        match self {
            PageError::Train(TrainError::Device(d)) | PageError::Embed(EmbedError::Device(d)) => Some(d),
            _ => None,
        }
    }
}

impl From<JsValue> for PageError {
    fn from(value: JsValue) -> Self {
        PageError::Browser(js_message(&value))
    }
}

/// A JavaScript exception's message (or the value as written, if it is no `Error`).
pub fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
