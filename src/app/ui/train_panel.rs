//! The train button, its progress and live loss curve, cancel, and the training settings.

use leptos::prelude::*;

use super::chart::{LineChart, Series};
use crate::app::actions::Actions;
use crate::app::state::{EncoderState, Labels, TrainPhase, TrainStatus, Training};

#[component]
pub fn TrainPanel() -> impl IntoView {
    let (actions, training) = (expect_context::<Actions>(), expect_context::<Training>());
    let (encoder, labels) = (expect_context::<EncoderState>(), expect_context::<Labels>());
    let running = move || training.is_running();
    let status = move || match training.status() {
        TrainStatus::Running { phase, step, total } => match phase {
            TrainPhase::Head => format!("training… step {step} of {total}"),
            TrainPhase::FineTune => format!("fine-tuning the encoder's top layers… step {step} of {total}"),
            TrainPhase::Reread => format!("reading the reviews again with the fine-tuned encoder… {step} of {total}"),
            TrainPhase::Restore => format!("putting your fine-tuned encoder back in use… {step} of {total} reviews"),
        },
        TrainStatus::Finished { seconds, labels, fine_tuning: None } => {
            format!("done: trained on {labels} labels in {seconds:.2} s")
        }
        TrainStatus::Finished { seconds, labels, fine_tuning: Some(t) } => format!(
            "done: trained on {labels} labels in {seconds:.1} s, with the top {} layers fine-tuned ({} epochs in {:.1} s; reading the reviews again {:.1} s)",
            t.layers, t.epochs, t.tuning_seconds, t.reread_seconds
        ),
        TrainStatus::Cancelled => "cancelled; the previous classifier (if any) is kept".into(),
        TrainStatus::Failed(e) => format!("error: {e}"),
        TrainStatus::Idle => match labels.classifier() {
            Some(c) if c.tuned_layers.is_some() => {
                format!(
                    "done: classifier from your last visit, trained on {} labels, with its fine-tuned encoder",
                    c.trained_on
                )
            }
            Some(c) => format!("done: classifier from your last visit, trained on {} labels", c.trained_on),
            None => match labels.with(|s| s.classifier.as_ref().map(|c| c.encoder)) {
                Some(other) if other != encoder.model() => format!(
                    "your classifier reads {}'s features, not {}'s: choose {} under Model to use it, or train one here",
                    other.describe(),
                    encoder.model().describe(),
                    other.describe()
                ),
                _ => "no classifier yet: label some positive and negative reviews, then train".into(),
            },
        },
    };
    let progress = move || match training.status() {
        TrainStatus::Running { step, total, .. } => (step, total),
        _ => (0, 1),
    };
    let losses = Signal::derive(move || {
        Series::single(training.losses().into_iter().map(|(s, l)| (s as f64, l as f64)).collect())
    });
    view! {
        <section class="panel">
            <h2>"Train"</h2>
            <p class="hint">
                "Logistic regression on the encoder's features of each review, trained here with Burn on "
                {move || encoder.backend().map_or("…", |b| b.js_name())}
                ". Training after every label keeps the suggestions sharp (see docs/labelling.md)."
            </p>
            <div class="actions">
                <button data-testid="train" on:click=move |_| actions.train()
                    disabled=move || running() || !encoder.is_ready()>"Train classifier"</button>
                <Show when=running>
                    <button on:click=move |_| training.cancel()>"Cancel"</button>
                </Show>
                <Setting value=training.auto_retrain testid="auto-retrain" label="Retrain after every label"/>
                <Setting value=training.self_train testid="self-train"
                    label="Learn from the unlabelled reviews and the text too (lexicon seeds, self-training, text votes)"/>
                <Setting value=training.fine_tune testid="fine-tune" label="Fine-tune the encoder's top layers too"/>
            </div>
            <Show when=move || training.fine_tune.get()>
                <p class="hint">
                    "Train then also tunes the encoder's top two layers with your labels (ULMFiT: gradual unfreezing, "
                    "smaller learning rates lower down, a slanted triangular schedule) and reads every bundled review "
                    "again with it: minutes, not a second. Retraining after a label refits only the classifier. "
                    "Measured so far, it does not beat the frozen encoder at 20–100 labels (docs/labelling.md)."
                </p>
            </Show>
            <progress max=move || progress().1 value=move || progress().0></progress>
            <p class:error=move || matches!(training.status(), TrainStatus::Failed(_))>
                "Status: " <span data-testid="train-status">{status}</span>
            </p>
            <Show when=move || training.has_losses()>
                <LineChart series=losses x_label="step" y_label="training loss" y_range=None
                    format_y=|y| format!("{y:.2}") testid="loss-curve"/>
            </Show>
        </section>
    }
}

/// A checkbox for an on/off setting.
#[component]
fn Setting(value: RwSignal<bool>, testid: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <label>
            <input type="checkbox" data-testid=testid prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev))/>
            " " {label}
        </label>
    }
}
