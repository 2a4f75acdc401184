//! The encoder on one device, in the engine's Web Worker, answering [`Request`]s:
//! embedding, training the classifier on features, fine-tuning the top layers. The device
//! is the worker's WebGPU adapter or Burn's CPU backend; [`super::worker`] picks it and
//! makes a `Compute` per load.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;

use super::protocol::{Answer, Encoder, FineTuned, Progress, Reply, Request, UlmfitTrained, first, rows_from_bytes};
use crate::app::error::PageError;
use crate::app::paced_training;
use crate::app::services::loader::{self, Manifest};
use crate::backend::{BackendKind, DeviceFailure, read_values};
use crate::encoders::awd_lstm::AwdLstm;
use crate::encoders::tuned::TunedLayers;
use crate::encoders::tuned::sha256_hex;
use crate::encoders::{ModelFiles, ModelName};
use crate::features::{EmbedError, Embedder};
use crate::finetune::{FineTuneConfig, FineTuner, TokenExample};
use crate::training::Example;
use crate::training::Stepwise;
use crate::ulmfit::{
    LM_FILES, LM_FOLDER, LM_WEIGHTS_FILE, PretrainedLm, UlmfitClassifier, UlmfitConfig, UlmfitTrainer,
    language_model_tuning, tune_language_model,
};

/// Texts per encoder batch in the page: small, so the work gives control back often.
const PAGE_BATCH: usize = 4;

/// The encoders built on `device`.
pub struct Compute {
    device: Device,
    kind: BackendKind,
    state: RefCell<Encoders>,
    /// ULMFiT's language model, once asked for, and what was made of it.
    language_model: RefCell<Option<LanguageModel>>,
}

/// ULMFiT's pretrained language model and what was made of it.
struct LanguageModel {
    pretrained: Rc<PretrainedLm>,
    /// Its manifest's sha256 of the weights.
    weights_sha256: String,
    /// It tuned to a set of texts (their sha256).
    tuned: Option<(String, AwdLstm)>,
    /// The last classifier trained, and how many words of a review it reads.
    classifier: Option<(Rc<UlmfitClassifier>, usize)>,
}

struct Encoders {
    pretrained: Option<Rc<Embedder>>,
    /// The encoder in use: the pretrained one, or it with fine-tuned top layers.
    in_use: Option<Rc<Embedder>>,
    /// A fine-tuned encoder, not yet in use, and its layers' sha256.
    candidate: Option<(Rc<Embedder>, String)>,
}

/// How long a failed read-back waits for the browser to report a lost device.
const LOSS_REPORT_MS: i32 = 250;

impl Compute {
    /// Builds `model` on `device` from the files `manifest` lists (from Cache Storage, or
    /// downloaded; progress: each file's) and runs it once: shader compilation errors and
    /// lost devices show up here rather than at the user's first click.
    pub async fn load(
        device: Device,
        kind: BackendKind,
        model: ModelName,
        manifest: &Manifest,
        progress: &dyn Fn(Progress),
    ) -> Result<Self, PageError> {
        let mut files = Vec::with_capacity(manifest.files.len());
        for file in &manifest.files {
            files.push(loader::load_file(model.full_name(), file, &|p| progress(Progress::File(p))).await?);
        }
        let [config_json, tokenizer_json, weights]: [Vec<u8>; 3] =
            files.try_into().map_err(|_| PageError::Manifest("config, tokenizer and weights"))?;
        let files = ModelFiles { model, config_json, weights, tokenizer_json };
        let (tokenizer, bert) = files.load(&device)?;
        let embedder = Embedder {
            tokenizer,
            model: bert,
            device: device.clone(),
            pooling: model.spec().pooling,
            batch_size: PAGE_BATCH,
        };
        embedder.embed_async(&["warm-up"]).await?;
        let embedder = Rc::new(embedder);
        let state = Encoders { pretrained: Some(embedder.clone()), in_use: Some(embedder), candidate: None };
        Ok(Compute { device, kind, state: RefCell::new(state), language_model: RefCell::new(None) })
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Whether the WebGPU device is lost, after `failure`. Chromium rejects the read-back
    /// before it reports the loss, so a failure that does not say "lost" is checked with a
    /// one-value read a moment later: a device that cannot read back one value is of no
    /// further use, whatever it reports.
    pub async fn is_lost_after(&self, failure: &DeviceFailure) -> bool {
        if self.kind != BackendKind::Wgpu {
            return false;
        }
        if failure.is_lost() {
            return true;
        }
        crate::app::wait_ms(LOSS_REPORT_MS).await;
        read_values(burn::tensor::Tensor::<1>::zeros([1], &self.device)).await.is_err()
    }

    /// Answers `request` (with `bytes` beside it), reporting training steps to `progress`
    /// and stopping between two steps once `cancelled()` says so.
    pub async fn handle(
        &self,
        request: Request,
        bytes: Vec<Vec<u8>>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Answer {
        let reply = match request {
            Request::Embed { texts, pooling, encoder } => {
                return Ok(Reply::embeddings_of(self.encoder(encoder)?.embed_pooled(&texts, pooling).await?));
            }
            Request::PooledBatch { windows } => {
                let windows: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
                return Ok(Reply::rows_of(self.encoder(Encoder::InUse)?.pooled_rows(&windows).await?));
            }
            Request::CountTokens { texts } => Reply::Tokens(self.encoder(Encoder::InUse)?.plan(&texts)?.tokens()),
            Request::WordVectors { texts } => {
                return Ok(Reply::rows_of(self.encoder(Encoder::Pretrained)?.word_vectors(&texts).await?));
            }
            Request::TrainHead { labels, scaling, source } => {
                let rows = rows_from_bytes(first(&bytes), labels.len())?;
                let examples: Vec<Example> =
                    rows.iter().zip(labels).map(|(features, label)| Example { features, label }).collect();
                let on_step = |step, total, loss| progress(Progress::Step { step, total, loss: Some(loss) });
                Reply::Head(paced_training::train(&self.device, &examples, scaling, source, &on_step, cancelled).await?)
            }
            Request::FineTune { labelled, head } => {
                match self.fine_tune(&labelled, &head, progress, cancelled).await? {
                    Some((tuned, bytes)) => return Ok((Reply::FineTuned(Some(tuned)), vec![bytes])),
                    None => Reply::FineTuned(None),
                }
            }
            Request::Prepare { layers } => {
                let bytes = bytes.first().ok_or(PageError::TunedLayersGone)?;
                self.prepare(&layers, bytes)?;
                Reply::Done
            }
            Request::UseEncoder { tuned_sha256 } => {
                let mut state = self.state.borrow_mut();
                state.in_use = match tuned_sha256 {
                    None => state.pretrained.clone(),
                    Some(sha) => match &state.candidate {
                        Some((embedder, candidate)) if *candidate == sha => Some(embedder.clone()),
                        _ => return Err(PageError::TunedLayersGone),
                    },
                };
                Reply::Done
            }
            Request::LoadLanguageModel { manifest } => {
                self.load_language_model(&manifest, progress).await?;
                Reply::Done
            }
            Request::LanguageModelFeatures { texts } => {
                return Ok(Reply::rows_of(self.language_model_features(&texts).await?));
            }
            Request::TrainUlmfit { labelled, unlabelled, config } => {
                Reply::Ulmfit(self.train_ulmfit(&labelled, &unlabelled, config, progress, cancelled).await?)
            }
            Request::UlmfitPositive { texts } => Reply::Probabilities(self.ulmfit_positive(&texts).await?),
            // The worker answers these itself.
            other @ (Request::Load { .. } | Request::MemoryBytes) => {
                return Err(PageError::UnexpectedReply(format!("{other:?} reached the encoder")));
            }
        };
        Ok((reply, Vec::new()))
    }

    /// Builds ULMFiT's language model on this device from `manifest`'s files, unless the
    /// one it lists is here already.
    async fn load_language_model(&self, manifest: &Manifest, progress: &dyn Fn(Progress)) -> Result<(), PageError> {
        let listed = |name: &str| manifest.files.iter().find(|f| f.name == name);
        let missing = || PageError::Manifest("the language model's vocabulary, card and weights");
        let weights_sha256 = &listed(LM_WEIGHTS_FILE).ok_or_else(missing)?.sha256;
        if self.language_model.borrow().as_ref().is_some_and(|lm| lm.weights_sha256 == *weights_sha256) {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(LM_FILES.len());
        for name in LM_FILES {
            let file = listed(name).ok_or_else(missing)?;
            bytes.push(loader::load_file(LM_FOLDER, file, &|p| progress(Progress::File(p))).await?);
        }
        let lm = PretrainedLm::from_files(&bytes[0], &bytes[1], &bytes[2], &self.device)?;
        let (pretrained, weights_sha256) = (Rc::new(lm), weights_sha256.clone());
        *self.language_model.borrow_mut() =
            Some(LanguageModel { pretrained, weights_sha256, tuned: None, classifier: None });
        Ok(())
    }

    fn pretrained_lm(&self) -> Result<Rc<PretrainedLm>, PageError> {
        self.language_model.borrow().as_ref().map(|lm| lm.pretrained.clone()).ok_or(PageError::NotLoaded)
    }

    /// The language model's concat-pooled outputs of `texts`, a few at a time.
    async fn language_model_features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PageError> {
        let lm = self.pretrained_lm()?;
        let max_tokens = UlmfitConfig::new().max_tokens;
        let mut rows = Vec::with_capacity(texts.len());
        for part in texts.chunks(PAGE_BATCH) {
            let part: Vec<&str> = part.iter().map(String::as_str).collect();
            let values = read_values(lm.pooled(&part, max_tokens)).await.map_err(EmbedError::Device)?;
            rows.extend(values.chunks(values.len() / part.len()).map(<[f32]>::to_vec));
        }
        Ok(rows)
    }

    /// ULMFiT's second and third steps: the language model tuned to `unlabelled` (unless
    /// it was to these texts already), then the classifier on `labelled` with `config`,
    /// both a step at a time; the classifier is kept for [`Compute::ulmfit_positive`].
    /// `None` when cancelled.
    async fn train_ulmfit(
        &self,
        labelled: &[(String, u8)],
        unlabelled: &[String],
        config: UlmfitConfig,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<UlmfitTrained>, PageError> {
        let pretrained = self.pretrained_lm()?;
        let on_step = |step, total, loss| progress(Progress::Step { step, total, loss: Some(loss) });
        let texts_sha256 = sha256_hex(unlabelled.join("\u{0}").as_bytes());
        let known = self.language_model.borrow().as_ref().and_then(|lm| lm.tuned.clone());
        let started = js_sys::Date::now();
        let tuned = match known.filter(|(sha, _)| *sha == texts_sha256) {
            Some((_, tuned)) => tuned,
            None => {
                progress(Progress::Part("tuning its language model to the sample".into()));
                let domain: Vec<Vec<u32>> = unlabelled.iter().map(|t| pretrained.vocab.encode(t)).collect();
                let tokens = domain.iter().map(Vec::len).sum();
                let mut tuner = tune_language_model(
                    pretrained.model.clone(),
                    &domain,
                    language_model_tuning(tokens, 1.0, 0),
                    &self.device,
                );
                if !paced_training::pace(&mut tuner, 1, &on_step, cancelled).await? {
                    return Ok(None);
                }
                let tuned = tuner.finish();
                if let Some(lm) = self.language_model.borrow_mut().as_mut() {
                    lm.tuned = Some((texts_sha256, tuned.clone()));
                }
                tuned
            }
        };
        let tuning_seconds = (js_sys::Date::now() - started) / 1e3;
        let max_tokens = config.max_tokens;
        let reviews: Vec<(Vec<u32>, u8)> =
            labelled.iter().map(|(text, label)| (pretrained.vocab.encode(text), *label)).collect();
        progress(Progress::Part("training its classifier, a layer more at each stage".into()));
        let mut trainer = UlmfitTrainer::new(tuned, &reviews, config, &self.device)?;
        if !paced_training::pace(&mut trainer, 1, &on_step, cancelled).await? {
            return Ok(None);
        }
        let steps = trainer.total_steps();
        let classifier = Rc::new(trainer.finish());
        if let Some(lm) = self.language_model.borrow_mut().as_mut() {
            lm.classifier = Some((classifier, max_tokens));
        }
        let training_seconds = (js_sys::Date::now() - started) / 1e3 - tuning_seconds;
        Ok(Some(UlmfitTrained { tuning_seconds, training_seconds, steps }))
    }

    /// The ULMFiT classifier's probability that each text is positive, a few at a time.
    async fn ulmfit_positive(&self, texts: &[String]) -> Result<Vec<f32>, PageError> {
        let (pretrained, (classifier, max_tokens)) = {
            let lm = self.language_model.borrow();
            let lm = lm.as_ref().ok_or(PageError::NotLoaded)?;
            (lm.pretrained.clone(), lm.classifier.clone().ok_or(PageError::NoClassifier)?)
        };
        let mut out = Vec::with_capacity(texts.len());
        for part in texts.chunks(PAGE_BATCH) {
            let reviews: Vec<Vec<u32>> = part.iter().map(|t| pretrained.vocab.encode(t)).collect();
            let rows: Vec<&[u32]> = reviews.iter().map(Vec::as_slice).collect();
            out.extend(read_values(classifier.positive_batch(&rows, max_tokens)).await.map_err(EmbedError::Device)?);
        }
        Ok(out)
    }

    fn encoder(&self, which: Encoder) -> Result<Rc<Embedder>, PageError> {
        let state = self.state.borrow();
        match which {
            Encoder::InUse => state.in_use.clone(),
            Encoder::Pretrained => state.pretrained.clone(),
            Encoder::Candidate => state.candidate.as_ref().map(|(embedder, _)| embedder.clone()),
        }
        .ok_or(PageError::NotLoaded)
    }

    /// The pretrained encoder with `layers` laid over it becomes the candidate.
    fn prepare(&self, layers: &TunedLayers, bytes: &[u8]) -> Result<(), PageError> {
        let pretrained = self.encoder(Encoder::Pretrained)?;
        let model = layers.apply(pretrained.model.clone(), bytes)?;
        let embedder = Embedder {
            model,
            tokenizer: pretrained.tokenizer.clone(),
            device: pretrained.device.clone(),
            ..*pretrained
        };
        self.state.borrow_mut().candidate = Some((Rc::new(embedder), layers.sha256.clone()));
        Ok(())
    }

    /// Fine-tunes the pretrained encoder's top layers with `head`, one step at a time;
    /// the result (kept as f16, as after a reload) becomes the candidate. `None` when cancelled.
    async fn fine_tune(
        &self,
        labelled: &[(String, u8)],
        head: &crate::classifier::Classifier,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<(FineTuned, Vec<u8>)>, PageError> {
        let pretrained = self.encoder(Encoder::Pretrained)?;
        let config = FineTuneConfig::new();
        let examples = labelled
            .iter()
            .map(|(text, label)| TokenExample::new(&pretrained.tokenizer, text, *label, config.max_tokens))
            .collect::<Result<Vec<_>, _>>()?;
        let pad = pretrained.tokenizer.pad_id();
        let mut tuner = FineTuner::new(&pretrained.model, head, &examples, pad, config.clone(), &self.device)?;
        let on_step = |step, total, loss| progress(Progress::Step { step, total, loss: Some(loss) });
        // One step at a time: a step is long, and the loss read-back lets the page breathe.
        if !paced_training::pace(&mut tuner, 1, &on_step, cancelled).await? {
            return Ok(None);
        }
        let first_tuned = tuner.first_tuned_layer();
        let (encoder, classifier) = tuner.finish().await?;
        let (layers, bytes) = TunedLayers::save(&encoder, first_tuned)?;
        self.prepare(&layers, &bytes)?;
        let layers_tuned = pretrained.model.num_layers() - first_tuned;
        Ok(Some((FineTuned { layers, classifier, layers_tuned, epochs: config.epochs }, bytes)))
    }
}
