//! Training as the views see it: where a run stands, its loss curve, cancelling, a
//! retrain asked for meanwhile, and the training settings (kept in the browser).

use leptos::prelude::*;

use crate::app::services::engine::protocol::Progress;
use crate::app::services::storage;

/// Where training stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainStatus {
    Idle,
    Running { phase: TrainPhase, step: usize, total: usize },
    Finished { seconds: f64, labels: usize, fine_tuning: Option<FineTuneTimes> },
    Cancelled,
    Failed(String),
}

/// What a running training is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainPhase {
    /// The classifier on the encoder's features.
    Head,
    /// The encoder's top layers with the classifier.
    FineTune,
    /// Reading every bundled review again with the fine-tuned encoder.
    Reread,
    /// Putting a saved fine-tuned encoder back in use (after a reload or an import).
    Restore,
}

/// How long the parts of a fine-tuning run took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTuneTimes {
    pub layers: usize,
    pub epochs: usize,
    pub tuning_seconds: f64,
    pub reread_seconds: f64,
}

#[derive(Clone, Copy)]
pub struct Training {
    status: RwSignal<TrainStatus>,
    /// `(step, loss)` of the current or last run.
    losses: RwSignal<Vec<(usize, f32)>>,
    /// Asked to stop: checked between steps, not reactive.
    cancel: StoredValue<bool>,
    /// A retrain was asked for while a run was going: start again when it stops.
    pending: StoredValue<bool>,
    /// A run was stopped by a lost GPU device: start it again (`true`: as if Train was
    /// pressed) once the encoder is loaded on the CPU.
    resume: StoredValue<Option<bool>>,
    /// Retrain after every label.
    pub auto_retrain: RwSignal<bool>,
    /// Learn from the unlabelled reviews and the text (the encoder's recipe) or the labels alone.
    pub self_train: RwSignal<bool>,
    /// Fine-tune the encoder's top layers when Train is pressed.
    pub fine_tune: RwSignal<bool>,
}

impl Training {
    /// Idle, with the settings kept in this browser (each saved when changed).
    pub fn new() -> Self {
        let setting = |key: &'static str, default: bool| {
            let value = RwSignal::new(storage::read_flag(key).unwrap_or(default));
            Effect::new(move |_| storage::write_flag(key, value.get()));
            value
        };
        Training {
            status: RwSignal::new(TrainStatus::Idle),
            losses: RwSignal::new(Vec::new()),
            cancel: StoredValue::new(false),
            pending: StoredValue::new(false),
            resume: StoredValue::new(None),
            auto_retrain: setting(storage::AUTO_RETRAIN, true),
            self_train: setting(storage::SELF_TRAIN, true),
            fine_tune: setting(storage::FINE_TUNE, false),
        }
    }

    pub fn status(&self) -> TrainStatus {
        self.status.get()
    }

    pub fn is_running(&self) -> bool {
        self.status.with(|s| matches!(s, TrainStatus::Running { .. }))
    }

    pub fn is_running_untracked(&self) -> bool {
        self.status.with_untracked(|s| matches!(s, TrainStatus::Running { .. }))
    }

    /// A run starts: its curve is empty, nothing cancels it yet, no retrain is pending.
    pub fn start(&self, phase: TrainPhase, total: usize) {
        self.cancel.set_value(false);
        self.pending.set_value(false);
        self.status.set(TrainStatus::Running { phase, step: 0, total });
    }

    pub fn progress(&self, phase: TrainPhase, step: usize, total: usize) {
        self.status.set(TrainStatus::Running { phase, step, total });
    }

    /// Reports a part of the run as `phase`: its steps, and its losses on the run's curve
    /// after step `offset`.
    pub fn reporter(self, phase: TrainPhase, offset: usize) -> impl Fn(Progress) {
        move |p: Progress| {
            if let Progress::Step { step, total, loss } = p {
                self.progress(phase, step, total);
                if let Some(loss) = loss {
                    self.loss(offset + step, loss);
                }
            }
        }
    }

    /// A step's loss, on the run's curve (continuing it across the run's parts).
    pub fn loss(&self, step: usize, loss: f32) {
        self.losses.update(|l| l.push((step, loss)));
    }

    /// The last step on the curve, where the run's next part continues it.
    pub fn last_step(&self) -> usize {
        self.losses.with_untracked(|l| l.last().map_or(0, |(s, _)| *s))
    }

    pub fn losses(&self) -> Vec<(usize, f32)> {
        self.losses.get()
    }

    pub fn has_losses(&self) -> bool {
        self.losses.with(|l| !l.is_empty())
    }

    pub fn clear_losses(&self) {
        self.losses.set(Vec::new());
    }

    pub fn ended(&self, status: TrainStatus) {
        self.status.set(status);
    }

    pub fn cancel(&self) {
        self.cancel.set_value(true);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.get_value()
    }

    /// Asks to start again once the run going now stops.
    pub fn retrain_after(&self) {
        self.cancel.set_value(true);
        self.pending.set_value(true);
    }

    /// Asks for the run stopped by a lost device to start again after the move to the CPU.
    pub fn resume_after_move(&self, pressed: bool) {
        self.resume.set_value(Some(pressed));
    }

    /// Takes the run to start again after a move to the CPU, if there is one.
    pub fn take_resume(&self) -> Option<bool> {
        self.resume.get_value().inspect(|_| self.resume.set_value(None))
    }

    /// Takes the pending retrain, if one was asked for.
    pub fn take_pending(&self) -> bool {
        let pending = self.pending.get_value();
        self.pending.set_value(false);
        pending
    }
}
