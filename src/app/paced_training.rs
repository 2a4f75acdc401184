//! Training in the page: any [`Stepwise`] trainer (the classifier's, fine-tuning's) a few
//! steps at a time, yielding to the browser in between so the page stays responsive, with
//! the loss reported for the live curve and a cancel checked between steps.

use super::error::PageError;
use burn::tensor::Device;

use crate::classifier::{Classifier, FeatureScaling};
use crate::training::{Example, FeatureSource, HeadTrainer, HeadTrainingConfig, Stepwise, read_loss};

/// The classifier's steps between two loss read-backs (each waits for the device) and
/// yields: its steps are short.
const HEAD_STEPS_PER_REPORT: usize = 5;

/// Trains a classifier on `examples` on `device`; `None` when cancelled.
/// `on_progress(steps_done, total, loss)` is called every few steps; `cancelled()` is
/// checked as often.
pub async fn train(
    device: &Device,
    examples: &[Example<'_>],
    scaling: FeatureScaling,
    source: FeatureSource,
    on_progress: &dyn Fn(usize, usize, f32),
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Classifier>, PageError> {
    let mut trainer = HeadTrainer::new(examples, scaling, source, HeadTrainingConfig::new(), device)?;
    if !pace(&mut trainer, HEAD_STEPS_PER_REPORT, on_progress, cancelled).await? {
        return Ok(None);
    }
    Ok(Some(trainer.into_classifier().await?))
}

/// Takes `trainer`'s steps `per_report` at a time, reading the loss back, calling
/// `on_progress(steps_done, total, loss)` and yielding to the browser after each group;
/// `false` when `cancelled()` said so between two groups.
pub async fn pace(
    trainer: &mut impl Stepwise,
    per_report: usize,
    on_progress: &dyn Fn(usize, usize, f32),
    cancelled: &dyn Fn() -> bool,
) -> Result<bool, PageError> {
    while !trainer.is_done() {
        let mut loss = trainer.step();
        for _ in 1..per_report {
            if trainer.is_done() {
                break;
            }
            loss = trainer.step();
        }
        let loss = read_loss(loss).await?;
        on_progress(trainer.steps_done(), trainer.total_steps(), loss);
        super::yield_to_browser().await;
        if cancelled() {
            return Ok(false);
        }
    }
    Ok(true)
}
