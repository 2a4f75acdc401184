//! Which encoder's features are in use: the pretrained one, or it with fine-tuned top
//! layers (just trained, or the saved classifier's, brought back from Cache Storage).

use super::Actions;
use crate::app::error::PageError;
use crate::app::services::index::AllFeatures;
use crate::app::services::tuned_store;
use crate::app::state::{TrainPhase, TrainStatus};
use crate::encoders::tuned::TunedLayers;

impl Actions {
    /// Puts an encoder and its features in use: the engine's candidate (fine-tuned, with
    /// `layers`), or the pretrained one.
    pub(super) async fn use_encoder(self, tuned: Option<(TunedLayers, &AllFeatures)>) -> Result<(), PageError> {
        let (engine, index) = (self.engine(), self.reviews.index());
        match tuned {
            Some((layers, features)) => {
                if !index.use_features(Some(features)) {
                    return Err(PageError::FeaturesMisfit);
                }
                self.encoder.set_tuned(Some(layers.sha256.clone()));
                engine.use_encoder(Some(layers)).await?;
            }
            None => {
                index.use_features(None);
                self.encoder.set_tuned(None);
                engine.use_encoder(None).await?;
            }
        }
        self.reviews.features_swapped();
        Ok(())
    }

    /// Puts in use the encoder the saved classifier reads: the pretrained one, or it with
    /// the classifier's fine-tuned layers from this browser's Cache Storage (with their
    /// features, or reading the reviews again when those are gone). Called once the
    /// pretrained features are known, and after an import or a reset.
    pub(super) async fn use_classifiers_encoder(self) {
        let (engine, training) = (self.engine(), self.training);
        let model = self.encoder.model_untracked();
        let wanted = self.labels.with_untracked(|s| {
            s.classifier.as_ref().filter(|c| c.encoder == model).and_then(|c| c.tuned_layers.clone())
        });
        if wanted.as_ref().map(|t| &t.sha256) == engine.tuned().as_ref().map(|t| &t.sha256) {
            return;
        }
        let Some(layers) = wanted.filter(|_| self.reviews.is_complete_untracked()) else {
            let _ = self.use_encoder(None).await;
            return;
        };
        if training.is_running_untracked() {
            return;
        }
        training.start(TrainPhase::Restore, self.reviews.total_untracked());
        let outcome = self.restore_tuned(&layers).await;
        training.ended(TrainStatus::Idle);
        match outcome {
            Ok(true) => {}
            Ok(false) => training.ended(TrainStatus::Cancelled),
            Err(e) => self.labels.tell(format!(
                "your fine-tuned classifier cannot be used ({e}); your labels are kept: press Train to train again"
            )),
        }
        if training.take_pending() {
            self.request_retrain();
        }
    }

    /// `Ok(false)` when cancelled.
    async fn restore_tuned(self, layers: &TunedLayers) -> Result<bool, PageError> {
        let bytes = tuned_store::layers_bytes(layers).await.ok_or(PageError::TunedLayersGone)?;
        self.engine().prepare_tuned(layers, bytes).await?;
        let features = match tuned_store::features(layers).await {
            Some(features) => features,
            None => {
                let Some(features) = self.read_all(layers, TrainPhase::Restore).await? else {
                    return Ok(false);
                };
                let _ = tuned_store::keep_features(layers, &features).await;
                features
            }
        };
        self.use_encoder(Some((layers.clone(), &features))).await?;
        Ok(true)
    }

    /// Every bundled review's features through the engine's candidate (with `layers`),
    /// reported as `phase`; `None` when cancelled.
    pub(super) async fn read_all(
        self,
        layers: &TunedLayers,
        phase: TrainPhase,
    ) -> Result<Option<AllFeatures>, PageError> {
        let training = self.training;
        let on_progress = move |step, total| training.progress(phase, step, total);
        let keep_going = move || !training.is_cancelled();
        let key = (self.encoder.model_untracked(), layers.sha256.as_str());
        self.reviews.index().read_all(&self.engine(), key, &on_progress, &keep_going).await
    }
}
