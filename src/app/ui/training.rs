//! The train button, its progress and live loss curve, and cancel.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::LineChart;
use super::heldout::evaluate;
use super::{PageState, Status, TrainStatus};
use crate::app::engine::Engine;
use crate::app::index::ReviewIndex;
use crate::app::training::{self, Outcome};
use crate::classifier::FeatureScaling;
use crate::features::CLASSIFIER_POOLING;
use crate::session::CurvePoint;
use crate::training::FeatureSource;

#[component]
pub fn TrainPanel(engine: Engine, index: ReviewIndex) -> impl IntoView {
    let state = expect_context::<PageState>();
    let running = move || matches!(state.training.get(), TrainStatus::Running { .. });
    let (auto_engine, auto_index) = (engine.clone(), index.clone());
    let start = move |_| {
        if !running() {
            spawn_local(run(engine.clone(), index.clone(), state));
        }
    };
    // Retrain after each label given or undone, when the setting is on.
    Effect::new(move |previous: Option<u32>| {
        let events = state.label_events.get();
        if previous.is_some_and(|p| p != events) && state.auto_retrain.get_untracked() {
            request_retrain(auto_engine.clone(), auto_index.clone(), state);
        }
        events
    });
    let status = move || match state.training.get() {
        TrainStatus::Running { step, total } => format!("training… step {step} of {total}"),
        TrainStatus::Finished { seconds, labels } => format!("done: trained on {labels} labels in {seconds:.2} s"),
        TrainStatus::Cancelled => "cancelled; the previous classifier (if any) is kept".into(),
        TrainStatus::Failed(e) => format!("error: {e}"),
        TrainStatus::Idle => match state.classifier() {
            Some(c) => format!("done: classifier from your last visit, trained on {} labels", c.trained_on),
            None => "no classifier yet: label some positive and negative reviews, then train".into(),
        },
    };
    let progress = move || match state.training.get() {
        TrainStatus::Running { step, total } => (step, total),
        _ => (0, 1),
    };
    let losses = Signal::derive(move || state.losses.get().into_iter().map(|(s, l)| (s as f64, l as f64)).collect());
    view! {
        <section class="panel">
            <h2>"Train"</h2>
            <p class="hint">
                "Logistic regression on the encoder's features of each review, trained here with Burn on "
                {move || state.backend.get().map_or("…", |b| b.js_name())}
                ". Training after every label keeps the suggestions sharp (see docs/labelling.md)."
            </p>
            <div class="actions">
                <button data-testid="train" on:click=start
                    disabled=move || running() || state.status.get() != Status::Ready>"Train classifier"</button>
                <Show when=running>
                    <button on:click=move |_| state.cancel_training.set(true)>"Cancel"</button>
                </Show>
                <label>
                    <input type="checkbox" data-testid="auto-retrain" prop:checked=move || state.auto_retrain.get()
                        on:change=move |ev| state.auto_retrain.set(event_target_checked(&ev))/>
                    " Retrain after every label"
                </label>
            </div>
            <progress max=move || progress().1 value=move || progress().0></progress>
            <p class:error=move || matches!(state.training.get(), TrainStatus::Failed(_))>
                "Status: " <span data-testid="train-status">{status}</span>
            </p>
            <Show when=move || !state.losses.with(Vec::is_empty)>
                <LineChart points=losses x_label="step" y_label="training loss" y_range=None
                    format_y=|y| format!("{y:.2}") testid="loss-curve"/>
            </Show>
        </section>
    }
}

/// Starts a training run now, or, if one is running, stops it and starts again after.
fn request_retrain(engine: Engine, index: ReviewIndex, state: PageState) {
    let both_classes = state.session.with_untracked(|s| s.count(0) > 0 && s.count(1) > 0);
    if matches!(state.training.get_untracked(), TrainStatus::Running { .. }) {
        state.cancel_training.set(true);
        state.retrain_pending.set(true);
    } else if both_classes && state.status.get_untracked() == Status::Ready {
        spawn_local(run(engine, index, state));
    }
}

/// Gathers the labelled reviews' features (embedding any not yet known), trains, and
/// stores the classifier and its held-out accuracy in the session.
async fn run(engine: Engine, index: ReviewIndex, state: PageState) {
    state.retrain_pending.set(false);
    state.cancel_training.set(false);
    state.losses.set(Vec::new());
    state.training.set(TrainStatus::Running { step: 0, total: 1 });
    let started = js_sys::Date::now();
    let outcome = train(&engine, &index, state).await;
    state.training.set(match outcome {
        Ok(Some(labels)) => TrainStatus::Finished { seconds: (js_sys::Date::now() - started) / 1e3, labels },
        Ok(None) => TrainStatus::Cancelled,
        Err(e) => TrainStatus::Failed(e),
    });
    if state.retrain_pending.get_untracked() {
        request_retrain(engine, index, state);
    }
}

/// `Some(labels used)` when a classifier was trained, `None` when cancelled.
async fn train(engine: &Engine, index: &ReviewIndex, state: PageState) -> Result<Option<usize>, String> {
    let labels = state.session.with_untracked(|s| s.labels.clone());
    // Standardise with every `train`-split review whose features are known, labelled or
    // not, plus any labelled review embedded just now.
    let mut pool: Vec<Vec<f32>> = index.with_sample(|s| s.iter().filter_map(|e| e.features.clone()).collect());
    let mut examples = Vec::with_capacity(labels.len());
    for label in &labels {
        let known = index.with_sample(|s| s.get(label.review).and_then(|e| e.features.clone()));
        let features = match known {
            Some(f) => f,
            None => {
                let fresh = engine.embed_for_classifier(&[label.text.clone()]).await?.remove(0).vector;
                pool.push(fresh.clone());
                fresh
            }
        };
        examples.push((features, label.label));
    }
    let scaling = FeatureScaling::fit(&pool);
    let source = FeatureSource { encoder: state.model.get_untracked().hf_name().into(), pooling: CLASSIFIER_POOLING.name().into() };
    let on_progress = move |step: usize, total: usize, loss: f32| {
        state.training.set(TrainStatus::Running { step, total });
        state.losses.update(|l| l.push((step, loss)));
    };
    let cancelled = move || state.cancel_training.get_untracked();
    match training::train(engine, &examples, scaling, source, &on_progress, &cancelled).await? {
        Outcome::Cancelled => Ok(None),
        Outcome::Trained(classifier) => {
            let accuracy = evaluate(index, &classifier).map(|c| c.accuracy());
            state.session.update(|s| {
                if let Some(accuracy) = accuracy {
                    s.curve.push(CurvePoint { labels: labels.len(), accuracy });
                }
                s.classifier = Some(classifier);
            });
            Ok(Some(labels.len()))
        }
    }
}
