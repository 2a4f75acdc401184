//! What the page asks of the encoder in the engine's Web Worker and what it answers: one
//! typed request, one typed reply, progress in between, on both paths (WebGPU and CPU).
//! Bytes (features, fine-tuned layers) travel beside a message, never inside it; model
//! files never travel: the worker reads them from Cache Storage (or downloads them) itself.

use serde::{Deserialize, Serialize};

use super::ActiveBackend;
use crate::app::error::PageError;
use crate::app::services::loader::{FileProgress, Manifest};
use crate::backend::BackendKind;
use crate::classifier::{Classifier, FeatureScaling};
use crate::encoders::ModelName;
use crate::encoders::tuned::TunedLayers;
use crate::features::{Embedding, Pooling};
use crate::training::FeatureSource;
use crate::ulmfit::UlmfitConfig;

/// Which encoder reads the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoder {
    /// The one in use: the pretrained encoder, or it with fine-tuned layers.
    InUse,
    Pretrained,
    /// The fine-tuned encoder just trained or prepared, not yet in use.
    Candidate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Builds `model` from the files `manifest` lists, read from Cache Storage or
    /// downloaded (progress: each file's), on `backend` or, failing that, the CPU, and
    /// runs it once. Replies `Loaded`.
    Load {
        model: ModelName,
        manifest: Manifest,
        backend: BackendKind,
    },
    Embed {
        texts: Vec<String>,
        pooling: Pooling,
        encoder: Encoder,
    },
    /// Mean-pooled last hidden states of token-id windows, with the encoder in use.
    PooledBatch {
        windows: Vec<Vec<u32>>,
    },
    CountTokens {
        texts: Vec<String>,
    },
    /// The pretrained encoder's word vectors, averaged per text.
    WordVectors {
        texts: Vec<String>,
    },
    /// Fits a classifier on labelled features (beside: the features, `labels.len()` rows
    /// as little-endian f32; progress: steps and loss).
    TrainHead {
        labels: Vec<u8>,
        scaling: FeatureScaling,
        source: FeatureSource,
    },
    /// Fine-tunes the pretrained encoder's top layers with `head` on labelled texts; the
    /// result becomes the candidate (progress: steps and loss).
    FineTune {
        labelled: Vec<(String, u8)>,
        head: Classifier,
    },
    /// Makes the pretrained encoder with `layers` (their bytes beside) the candidate.
    Prepare {
        layers: TunedLayers,
    },
    /// Puts the candidate in use (it must have these layers), or with `None` the
    /// pretrained encoder.
    UseEncoder {
        tuned_sha256: Option<String>,
    },
    /// Builds ULMFiT's pretrained language model beside the encoder, on its device, from
    /// the files `manifest` lists (read from Cache Storage or downloaded; progress: each
    /// file's), unless it holds these already. Replies `Done`.
    LoadLanguageModel {
        manifest: Manifest,
    },
    /// The language model's last-layer outputs of `texts`, concat-pooled as ULMFiT's head
    /// reads them (rows: last, max and mean, side by side).
    LanguageModelFeatures {
        texts: Vec<String>,
    },
    /// ULMFiT on the language model (after `LoadLanguageModel`): tuned to `unlabelled`
    /// texts (once per set of texts), then its classifier trained on `labelled`, gradually
    /// unfrozen, and kept for `UlmfitPositive` (progress: the steps of each part in turn).
    TrainUlmfit {
        labelled: Vec<(String, u8)>,
        unlabelled: Vec<String>,
        config: UlmfitConfig,
    },
    /// The ULMFiT classifier's probability that each text is positive.
    UlmfitPositive {
        texts: Vec<String>,
    },
    /// The wasm memory where the encoder runs, in bytes.
    MemoryBytes,
}

/// A request's answer: the reply and the bytes beside it, or why there is none.
pub type Answer = Result<(Reply, Vec<Vec<u8>>), PageError>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Done,
    /// Where the encoder now runs.
    Loaded(ActiveBackend),
    /// Each text's token count; the vectors travel beside as rows (see [`rows_to_bytes`]).
    Embeddings {
        tokens: Vec<usize>,
    },
    /// `count` rows, travelling beside.
    Rows {
        count: usize,
    },
    Tokens(usize),
    /// `None`: cancelled.
    Head(Option<Classifier>),
    /// `None`: cancelled. The layers' bytes travel beside.
    FineTuned(Option<FineTuned>),
    MemoryBytes(f64),
    /// `None`: cancelled.
    Ulmfit(Option<UlmfitTrained>),
    Probabilities(Vec<f32>),
}

/// What training ULMFiT's classifier took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UlmfitTrained {
    /// Seconds tuning the language model to the unlabelled texts (0: tuned to them before).
    pub tuning_seconds: f64,
    pub training_seconds: f64,
    /// The classifier's steps (its stages together).
    pub steps: usize,
}

/// A fine-tuning run's result: the candidate encoder's layers and the classifier on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FineTuned {
    pub layers: TunedLayers,
    pub classifier: Classifier,
    pub layers_tuned: usize,
    pub epochs: usize,
}

/// Feature rows as the bytes beside a request or reply: little-endian f32, row after row
/// (reading a JSON array of hundreds of rows would cost the page more than the work itself).
pub fn rows_to_bytes<'a>(rows: impl Iterator<Item = &'a [f32]>) -> Vec<u8> {
    rows.flat_map(|row| row.iter().flat_map(|v| v.to_le_bytes())).collect()
}

/// The first of the byte buffers beside a message, or none.
pub fn first(bytes: &[Vec<u8>]) -> &[u8] {
    bytes.first().map_or(&[], Vec::as_slice)
}

/// The rows [`rows_to_bytes`] wrote, `n` of them.
pub fn rows_from_bytes(bytes: &[u8], n: usize) -> Result<Vec<Vec<f32>>, PageError> {
    if n == 0 && bytes.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if n == 0 || !values.len().is_multiple_of(n) || !bytes.len().is_multiple_of(4) {
        return Err(PageError::UnexpectedReply(format!("{} feature bytes for {n} rows", bytes.len())));
    }
    Ok(values.chunks(values.len() / n).map(<[f32]>::to_vec).collect())
}

/// How a long request is getting on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Progress {
    /// A training step reached: `step` of `total`, with the loss when it was read back.
    Step { step: usize, total: usize, loss: Option<f32> },
    /// A model file read from the cache or downloading.
    File(FileProgress),
    /// A request of several parts starts the next one (its steps follow).
    Part(String),
}

impl Reply {
    /// A reply that is not the variant its request calls for: a bug in the engine,
    /// reported as such.
    fn unexpected(self) -> PageError {
        PageError::UnexpectedReply(format!("{self:?}"))
    }

    /// The embeddings of [`Reply::embeddings_of`], with their vectors from `bytes`.
    pub fn embeddings(self, bytes: &[Vec<u8>]) -> Result<Vec<Embedding>, PageError> {
        match self {
            Reply::Embeddings { tokens } => {
                let rows = rows_from_bytes(first(bytes), tokens.len())?;
                Ok(rows.into_iter().zip(tokens).map(|(vector, tokens)| Embedding { vector, tokens }).collect())
            }
            other => Err(other.unexpected()),
        }
    }

    /// The rows of [`Reply::rows_of`], from `bytes`.
    pub fn rows(self, bytes: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, PageError> {
        match self {
            Reply::Rows { count } => rows_from_bytes(first(bytes), count),
            other => Err(other.unexpected()),
        }
    }

    /// `embeddings` as a reply and the bytes beside it.
    pub fn embeddings_of(embeddings: Vec<Embedding>) -> (Reply, Vec<Vec<u8>>) {
        let bytes = rows_to_bytes(embeddings.iter().map(|e| e.vector.as_slice()));
        (Reply::Embeddings { tokens: embeddings.iter().map(|e| e.tokens).collect() }, vec![bytes])
    }

    /// `rows` as a reply and the bytes beside it.
    pub fn rows_of(rows: Vec<Vec<f32>>) -> (Reply, Vec<Vec<u8>>) {
        let bytes = rows_to_bytes(rows.iter().map(Vec::as_slice));
        (Reply::Rows { count: rows.len() }, vec![bytes])
    }

    pub fn tokens(self) -> Result<usize, PageError> {
        match self {
            Reply::Tokens(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn head(self) -> Result<Option<Classifier>, PageError> {
        match self {
            Reply::Head(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn loaded(self) -> Result<ActiveBackend, PageError> {
        match self {
            Reply::Loaded(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn memory_bytes(self) -> Result<f64, PageError> {
        match self {
            Reply::MemoryBytes(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn ulmfit(self) -> Result<Option<UlmfitTrained>, PageError> {
        match self {
            Reply::Ulmfit(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn probabilities(self) -> Result<Vec<f32>, PageError> {
        match self {
            Reply::Probabilities(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn fine_tuned(self) -> Result<Option<FineTuned>, PageError> {
        match self {
            Reply::FineTuned(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }
}
