//! Training in the page: the encoder's recipe on the person's labels (and the unlabelled
//! sample), optionally fine-tuning the encoder's top layers first, then the held-out
//! score; retraining after each label, cancelling, and starting again when asked meanwhile.

use leptos::prelude::*;

use super::Actions;
use crate::app::error::PageError;
use crate::app::services::engine::protocol::Encoder;
use crate::app::services::index::Entry;
use crate::app::services::tuned_store;
use crate::app::state::{FineTuneTimes, TrainPhase, TrainStatus};
use crate::classifier::{Classifier, Confusion, FeatureScaling, TextView, TextVotes};
use crate::recipe::{Recipe, TrainingSet};
use crate::session::{Label, unlabelled_rows};
use crate::training::{Example, FeatureSource};

impl Actions {
    /// The Train button: trains (and fine-tunes, when that setting is on).
    pub fn train(self) {
        if !self.training.is_running_untracked() {
            leptos::task::spawn_local(self.run(true));
        }
    }

    /// Starts a training run now, or, if one is running, stops it and starts again after.
    /// Such a retrain refits the classifier only: fine-tuning waits for the Train button.
    pub fn request_retrain(self) {
        if self.training.is_running_untracked() {
            self.training.retrain_after();
        } else if self.labels.has_both_classes_untracked() && self.encoder.is_ready_untracked() {
            leptos::task::spawn_local(self.run(false));
        }
    }

    /// Trains (fine-tuning too when `pressed` and the setting is on), and stores the
    /// classifier and its held-out accuracy in the session.
    pub(super) async fn run(self, pressed: bool) {
        let training = self.training;
        training.clear_losses();
        training.start(TrainPhase::Head, 1);
        let started = js_sys::Date::now();
        let outcome = self.fit(pressed && training.fine_tune.get_untracked()).await;
        training.ended(match outcome {
            Ok(Some((labels, fine_tuning))) => {
                TrainStatus::Finished { seconds: (js_sys::Date::now() - started) / 1e3, labels, fine_tuning }
            }
            Ok(None) => TrainStatus::Cancelled,
            Err(e) if self.is_device_lost(&e) => {
                training.resume_after_move(pressed);
                self.move_to_cpu(&e);
                TrainStatus::Failed(format!("{e}: the encoder moves to the CPU and training starts again there"))
            }
            Err(e) => TrainStatus::Failed(e.to_string()),
        });
        if training.take_pending() {
            self.request_retrain();
        }
    }

    /// Whether `error` came from a lost GPU device (the engine's worker checked).
    pub(super) fn is_device_lost(self, error: &PageError) -> bool {
        matches!(error, PageError::EngineDeviceLost(_))
    }

    /// The GPU device was lost (`error` says how): the encoder loads again on the CPU,
    /// from the files this browser keeps, and WebGPU is not tried again in this visit.
    pub(super) fn move_to_cpu(self, error: &PageError) {
        self.engine().webgpu_lost(&error.to_string());
        self.encoder.move_to_cpu();
    }

    /// `Some(labels used, fine-tuning times)` when a classifier was trained, `None` when
    /// cancelled. Without fine-tuning, the classifier reads the encoder in use (fine-tuned
    /// earlier, or not) unless the setting was turned off, which puts the pretrained one back.
    async fn fit(self, fine_tune: bool) -> Result<Option<(usize, Option<FineTuneTimes>)>, PageError> {
        let engine = self.engine();
        // With the setting off, a fine-tuned encoder in use gives way to the pretrained one
        // (once the run is complete: a cancelled run changes nothing).
        let back_to_pretrained = !self.training.fine_tune.get_untracked() && engine.tuned().is_some();
        let labels = self.labels.labels_untracked();
        // Fine-tuning starts from the pretrained encoder and a classifier on its features.
        let data = self.training_data(&labels, fine_tune || back_to_pretrained).await?;
        let spec = self.encoder.model_untracked().spec();
        let source = FeatureSource { encoder: spec.name, pooling: spec.classifier_pooling };
        // The encoder's recipe (docs/few-shot.md), or the labels alone with the setting off:
        // the classifier learns from the lexicon's surest picks and its own among the
        // unlabelled reviews; the votes join last, once the features are final.
        let recipe =
            if self.training.self_train.get_untracked() { Recipe::for_encoder(spec.name) } else { Recipe::FROZEN };
        let set = TrainingSet {
            labelled: data.labelled.iter().map(|(features, label)| Example { features, label: *label }).collect(),
            unlabelled: data.unlabelled.iter().map(Vec::as_slice).collect(),
            lexicon_scores: data.lexicon_scores,
        };
        let fitted = recipe.fit_head(&set, async |examples| self.fit_head(examples, &data.scaling, source).await).await;
        let Some(head) = fitted? else { return Ok(None) };
        let (classifier, times) = if fine_tune {
            match self.fine_tune_encoder(&labels, head).await? {
                Some((classifier, times)) => (classifier, Some(times)),
                None => return Ok(None),
            }
        } else {
            if back_to_pretrained {
                self.use_encoder(None).await?;
            }
            (Classifier { tuned_layers: engine.tuned(), ..head }, None)
        };
        // The text's votes, the held-out score and what follows the new classifier (the
        // next suggestion, saving) run on the page: each in a task of its own, so the
        // page answers input between them.
        crate::app::yield_to_browser().await;
        let classifier = Classifier { text_votes: self.votes(&labels, &classifier, &recipe)?, ..classifier };
        crate::app::yield_to_browser().await;
        let accuracy = self.evaluate(&classifier).map(|c| c.accuracy());
        crate::app::yield_to_browser().await;
        self.labels.trained(classifier, labels.len(), accuracy);
        Ok(Some((labels.len(), times)))
    }

    /// The classifier's confusion on the held-out sample, once all its features are known.
    fn evaluate(self, classifier: &Classifier) -> Option<Confusion> {
        self.reviews.with_heldout_untracked(|heldout| confusion(heldout, classifier))
    }

    /// The recipe's votes beside `classifier` (trained on `labels`), their spreads measured
    /// over the unlabelled sample reviews with the features in use (fine-tuned or not).
    fn votes(self, labels: &[Label], classifier: &Classifier, recipe: &Recipe) -> Result<Option<TextVotes>, PageError> {
        self.reviews.with_sample_untracked(|sample| {
            let views: Vec<TextView> = labels
                .iter()
                .map(|l| {
                    l.sample_review()
                        .and_then(|i| sample.get(i))
                        .map_or_else(|| TextView::of(&l.text), |e| e.view.clone())
                })
                .collect();
            let labelled: Vec<(&TextView, u8)> = views.iter().zip(labels.iter().map(|l| l.label)).collect();
            let unlabelled: Vec<(&[f32], &TextView)> =
                unlabelled_rows(sample, labels).filter_map(|e| Some((e.features.as_deref()?, &e.view))).collect();
            Ok(recipe.votes(classifier, &labelled, &unlabelled, 0)?)
        })
    }

    pub(super) async fn training_data(self, labels: &[Label], pretrained: bool) -> Result<TrainingData, PageError> {
        let engine = self.engine();
        let pick = move |e: &Entry| if pretrained { e.pretrained.clone() } else { e.features.clone() };
        let (unlabelled, lexicon_scores): (Vec<Vec<f32>>, Vec<f32>) = self.reviews.with_sample_untracked(|s| {
            unlabelled_rows(s, labels).filter_map(|e| Some((pick(e)?, e.view.lexicon))).unzip()
        });
        // The catalogue's features are the pretrained encoder's (int8, as every contender
        // scores them): a critic's review labelled on its movie's page needs no re-reading.
        let catalogue = self.catalogue.get_untracked().filter(|_| pretrained || engine.tuned().is_none());
        let in_catalogue = |label: &Label| {
            let catalogue = catalogue.as_ref()?;
            let (_, review) = catalogue.review(label.catalogue_review()?)?;
            (review.text == label.text).then(|| catalogue.features(label.review).map(<[f32]>::to_vec))?
        };
        let mut labelled = Vec::with_capacity(labels.len());
        for label in labels {
            let known = label
                .sample_review()
                .and_then(|i| self.reviews.with_sample_untracked(|s| s.get(i).and_then(pick)))
                .or_else(|| in_catalogue(label));
            let features = match known {
                Some(f) => f,
                None => {
                    let encoder = if pretrained { Encoder::Pretrained } else { Encoder::InUse };
                    let fresh = engine.embed_for_classifier(std::slice::from_ref(&label.text), encoder).await?;
                    fresh.into_iter().next().ok_or(PageError::ShortOutput)?.vector
                }
            };
            labelled.push((features, label.label));
        }
        let scaling = FeatureScaling::fit(&labelled.iter().map(|(f, _)| f).chain(&unlabelled).collect::<Vec<_>>());
        Ok(TrainingData { labelled, unlabelled, lexicon_scores, scaling })
    }

    /// Fits the classifier on `examples`, its loss curve continuing the run's; `None` when cancelled.
    async fn fit_head(
        self,
        examples: &[Example<'_>],
        scaling: &FeatureScaling,
        source: FeatureSource,
    ) -> Result<Option<Classifier>, PageError> {
        let training = self.training;
        let report = training.reporter(TrainPhase::Head, training.last_step());
        let cancelled = move || training.is_cancelled();
        self.engine().train_head(examples, scaling, source, &report, &cancelled).await
    }

    /// Fine-tunes the pretrained encoder's top layers with `head`, reads every bundled review
    /// again with the result, keeps both in the browser, and puts them in use. `None` when
    /// cancelled (nothing changed then).
    async fn fine_tune_encoder(
        self,
        labels: &[Label],
        head: Classifier,
    ) -> Result<Option<(Classifier, FineTuneTimes)>, PageError> {
        let (engine, training) = (self.engine(), self.training);
        let started = js_sys::Date::now();
        // Reading the labelled reviews through the frozen bottom layers comes first.
        training.progress(TrainPhase::FineTune, 0, 1);
        let labelled = labels.iter().map(|l| (l.text.clone(), l.label)).collect();
        let cancelled = move || training.is_cancelled();
        let report = training.reporter(TrainPhase::FineTune, training.last_step());
        let Some((tuned, bytes)) = engine.fine_tune(labelled, &head, &report, &cancelled).await? else {
            return Ok(None);
        };
        let tuning_seconds = (js_sys::Date::now() - started) / 1e3;

        // What is kept is f16: the reviews are read with exactly that, as after a reload.
        let layers = tuned.layers;
        let started = js_sys::Date::now();
        let Some(features) = self.read_all(&layers, TrainPhase::Reread).await? else {
            return Ok(None);
        };
        let reread_seconds = (js_sys::Date::now() - started) / 1e3;
        if let Err(e) = tuned_store::keep(&layers, &bytes, Some(&features)).await {
            self.labels.tell(format!("{e}: the fine-tuned classifier works now but will be lost on reload"));
        }
        self.use_encoder(Some((layers.clone(), &features))).await?;
        let times = FineTuneTimes { layers: tuned.layers_tuned, epochs: tuned.epochs, tuning_seconds, reread_seconds };
        Ok(Some((Classifier { tuned_layers: Some(layers), ..tuned.classifier }, times)))
    }
}

/// The classifier's confusion on `heldout`, once all its features are known.
pub fn confusion(heldout: &[Entry], classifier: &Classifier) -> Option<Confusion> {
    let mut confusion = Confusion::default();
    for entry in heldout {
        confusion.add(entry.review.label, classifier.predict(entry.features.as_deref()?, &entry.view).ok()?.label);
    }
    (confusion.total() > 0).then_some(confusion)
}

/// What the classifier trains on: the labelled reviews' features (embedding any not yet
/// known), the unlabelled sample reviews' features and lexicon scores, and the
/// standardisation fitted on all of them (every `train`-split review at hand). From the
/// pretrained encoder when `pretrained`, else from the one in use.
pub(super) struct TrainingData {
    pub labelled: Vec<(Vec<f32>, u8)>,
    pub unlabelled: Vec<Vec<f32>>,
    pub lexicon_scores: Vec<f32>,
    pub scaling: FeatureScaling,
}
