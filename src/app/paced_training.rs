//! Training the classifier in the page: the shared [`HeadTrainer`], a few steps at a time,
//! yielding to the browser in between so the page stays responsive, with the loss
//! reported for the live curve and a cancel checked between steps.

use crate::classifier::{Classifier, FeatureScaling};
use crate::training::{Example, FeatureSource, HeadTrainer, HeadTrainingConfig, read_loss};

use super::engine::Engine;

/// Steps between two loss read-backs (each waits for the device) and yields.
const STEPS_PER_REPORT: usize = 5;

/// How a training run ended.
pub enum Outcome {
    Trained(Classifier),
    Cancelled,
}

/// Trains on `examples` on the engine's device. `on_progress(steps_done, total, loss)`
/// is called every few steps; `cancelled()` is checked as often.
pub async fn train(
    engine: &Engine,
    examples: &[Example<'_>],
    scaling: FeatureScaling,
    source: FeatureSource,
    on_progress: &dyn Fn(usize, usize, f32),
    cancelled: &dyn Fn() -> bool,
) -> Result<Outcome, String> {
    let device = engine.device().ok_or("the model is not loaded yet")?;
    let mut trainer =
        HeadTrainer::new(examples, scaling, source, HeadTrainingConfig::new(), &device).map_err(|e| e.to_string())?;
    while !trainer.is_done() {
        let mut loss = trainer.step();
        for _ in 1..STEPS_PER_REPORT {
            if trainer.is_done() {
                break;
            }
            loss = trainer.step();
        }
        let loss = read_loss(loss).await.map_err(|e| e.to_string())?;
        on_progress(trainer.steps_done(), trainer.total_steps(), loss);
        super::yield_to_browser().await;
        if cancelled() {
            return Ok(Outcome::Cancelled);
        }
    }
    trainer.into_classifier().await.map(Outcome::Trained).map_err(|e| e.to_string())
}
