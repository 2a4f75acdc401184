//! The train button, its progress and live loss curve, and cancel; the option to
//! fine-tune the encoder's top layers too, and putting a saved fine-tuned encoder back in
//! use after a reload or an import.

use std::collections::HashSet;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::LineChart;
use super::heldout::evaluate;
use super::{FineTuneTimes, PageState, Status, TrainPhase, TrainStatus};
use crate::app::engine::Engine;
use crate::app::index::{AllFeatures, Entry, ReviewIndex};
use crate::app::loader;
use crate::app::paced_training::{self, Outcome};
use crate::classifier::{Classifier, FeatureScaling, TextView, TextVotes};
use crate::features::Embedder;
use crate::finetune::{FineTuneConfig, FineTuner, TokenExample};
use crate::recipe::{Recipe, TrainingSet};
use crate::session::{CurvePoint, Label};
use crate::training::{Example, FeatureSource};
use crate::tuned::TunedLayers;

#[component]
pub fn TrainPanel(engine: Engine, index: ReviewIndex) -> impl IntoView {
    let state = expect_context::<PageState>();
    let running = move || matches!(state.training.get(), TrainStatus::Running { .. });
    let (auto_engine, auto_index) = (engine.clone(), index.clone());
    let start = move |_| {
        if !running() {
            spawn_local(run(engine.clone(), index.clone(), state, true));
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
        TrainStatus::Idle => match state.classifier() {
            Some(c) if c.tuned_layers.is_some() => {
                format!(
                    "done: classifier from your last visit, trained on {} labels, with its fine-tuned encoder",
                    c.trained_on
                )
            }
            Some(c) => format!("done: classifier from your last visit, trained on {} labels", c.trained_on),
            None => "no classifier yet: label some positive and negative reviews, then train".into(),
        },
    };
    let progress = move || match state.training.get() {
        TrainStatus::Running { step, total, .. } => (step, total),
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
                <Setting value=state.auto_retrain testid="auto-retrain" label="Retrain after every label"/>
                <Setting value=state.self_train testid="self-train"
                    label="Learn from the unlabelled reviews and the text too (lexicon seeds, self-training, text votes)"/>
                <Setting value=state.fine_tune testid="fine-tune" label="Fine-tune the encoder's top layers too"/>
            </div>
            <Show when=move || state.fine_tune.get()>
                <p class="hint">
                    "Train then also tunes the encoder's top two layers with your labels (ULMFiT: gradual unfreezing, "
                    "smaller learning rates lower down, a slanted triangular schedule) and reads every bundled review "
                    "again with it: minutes, not a second. Retraining after a label refits only the classifier. "
                    "Measured so far, it does not beat the frozen encoder at 20–100 labels (docs/labelling.md)."
                </p>
            </Show>
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

/// Starts a training run now, or, if one is running, stops it and starts again after.
/// Such a retrain refits the classifier only: fine-tuning waits for the Train button.
fn request_retrain(engine: Engine, index: ReviewIndex, state: PageState) {
    let both_classes = state.session.with_untracked(|s| s.count(0) > 0 && s.count(1) > 0);
    if matches!(state.training.get_untracked(), TrainStatus::Running { .. }) {
        state.cancel_training.set(true);
        state.retrain_pending.set(true);
    } else if both_classes && state.status.get_untracked() == Status::Ready {
        spawn_local(run(engine, index, state, false));
    }
}

/// Trains (fine-tuning too when `pressed` and the setting is on), and stores the
/// classifier and its held-out accuracy in the session.
async fn run(engine: Engine, index: ReviewIndex, state: PageState, pressed: bool) {
    state.retrain_pending.set(false);
    state.cancel_training.set(false);
    state.losses.set(Vec::new());
    state.training.set(TrainStatus::Running { phase: TrainPhase::Head, step: 0, total: 1 });
    let started = js_sys::Date::now();
    let outcome = train(&engine, &index, state, pressed && state.fine_tune.get_untracked()).await;
    state.training.set(match outcome {
        Ok(Some((labels, fine_tuning))) => {
            TrainStatus::Finished { seconds: (js_sys::Date::now() - started) / 1e3, labels, fine_tuning }
        }
        Ok(None) => TrainStatus::Cancelled,
        Err(e) => TrainStatus::Failed(e),
    });
    if state.retrain_pending.get_untracked() {
        request_retrain(engine, index, state);
    }
}

/// `Some(labels used, fine-tuning times)` when a classifier was trained, `None` when
/// cancelled. Without fine-tuning, the classifier reads the encoder in use (fine-tuned
/// earlier, or not) unless the setting was turned off, which puts the pretrained one back.
async fn train(
    engine: &Engine,
    index: &ReviewIndex,
    state: PageState,
    fine_tune: bool,
) -> Result<Option<(usize, Option<FineTuneTimes>)>, String> {
    // With the setting off, a fine-tuned encoder in use gives way to the pretrained one
    // (once the run is complete: a cancelled run changes nothing).
    let back_to_pretrained = !state.fine_tune.get_untracked() && engine.tuned().is_some();
    let labels = state.session.with_untracked(|s| s.labels.clone());
    // Fine-tuning starts from the pretrained encoder and a classifier on its features.
    let data = training_data(engine, index, &labels, fine_tune || back_to_pretrained).await?;
    let spec = state.model.get_untracked().spec();
    let source = FeatureSource { encoder: spec.name, pooling: spec.classifier_pooling };
    // The encoder's recipe (docs/few-shot.md), or the labels alone with the setting off:
    // the classifier learns from the lexicon's surest picks and its own among the
    // unlabelled reviews; the votes join last, once the features are final.
    let recipe = if state.self_train.get_untracked() { spec.recipe } else { Recipe::FROZEN };
    let set = TrainingSet {
        labelled: data.labelled.iter().map(|(features, label)| Example { features, label: *label }).collect(),
        unlabelled: data.unlabelled.iter().map(Vec::as_slice).collect(),
        lexicon_scores: data.lexicon_scores,
    };
    let fitted = recipe
        .fit_head(&set, async |examples| {
            train_head(engine, state, examples, &data.scaling, &source)
                .await
                .map_err(Box::<dyn std::error::Error>::from)
        })
        .await;
    let Some(head) = fitted.map_err(|e| e.to_string())? else { return Ok(None) };
    let (classifier, times) = if fine_tune {
        match fine_tune_encoder(engine, index, state, &labels, head).await? {
            Some((classifier, times)) => (classifier, Some(times)),
            None => return Ok(None),
        }
    } else {
        if back_to_pretrained {
            use_encoder(engine, index, state, None)?;
        }
        (Classifier { tuned_layers: engine.tuned(), ..head }, None)
    };
    let classifier = Classifier { text_votes: votes(index, &labels, &classifier, &recipe)?, ..classifier };
    let accuracy = evaluate(index, &classifier).map(|c| c.accuracy());
    state.session.update(|s| {
        if let Some(accuracy) = accuracy {
            s.curve.push(CurvePoint { labels: labels.len(), accuracy });
        }
        s.classifier = Some(classifier);
    });
    Ok(Some((labels.len(), times)))
}

/// The recipe's votes beside `classifier` (trained on `labels`), their spreads measured
/// over the unlabelled sample reviews with the features in use (fine-tuned or not).
fn votes(
    index: &ReviewIndex,
    labels: &[Label],
    classifier: &Classifier,
    recipe: &Recipe,
) -> Result<Option<TextVotes>, String> {
    index.with_sample(|sample| {
        let views: Vec<TextView> = labels
            .iter()
            .map(|l| sample.get(l.review).map_or_else(|| TextView::of(&l.text), |e| e.view.clone()))
            .collect();
        let labelled: Vec<(&TextView, u8)> = views.iter().zip(labels.iter().map(|l| l.label)).collect();
        let unlabelled: Vec<(&[f32], &TextView)> =
            unlabelled_entries(sample, labels).filter_map(|e| Some((e.features.as_deref()?, &e.view))).collect();
        recipe.votes(classifier, &labelled, &unlabelled, 0).map_err(|e| e.to_string())
    })
}

/// The sample reviews no label points at.
fn unlabelled_entries<'a>(sample: &'a [Entry], labels: &[Label]) -> impl Iterator<Item = &'a Entry> {
    let labelled: HashSet<usize> = labels.iter().map(|l| l.review).collect();
    sample.iter().enumerate().filter(move |(i, _)| !labelled.contains(i)).map(|(_, e)| e)
}

/// What the classifier trains on: the labelled reviews' features (embedding any not yet
/// known), the unlabelled sample reviews' features and lexicon scores, and the
/// standardisation fitted on all of them (every `train`-split review at hand). From the
/// pretrained encoder when `pretrained`, else from the one in use.
struct TrainingData {
    labelled: Vec<(Vec<f32>, u8)>,
    unlabelled: Vec<Vec<f32>>,
    lexicon_scores: Vec<f32>,
    scaling: FeatureScaling,
}

async fn training_data(
    engine: &Engine,
    index: &ReviewIndex,
    labels: &[Label],
    pretrained: bool,
) -> Result<TrainingData, String> {
    let pick = move |e: &Entry| if pretrained { e.pretrained.clone() } else { e.features.clone() };
    let (unlabelled, lexicon_scores): (Vec<Vec<f32>>, Vec<f32>) =
        index.with_sample(|s| unlabelled_entries(s, labels).filter_map(|e| Some((pick(e)?, e.view.lexicon))).unzip());
    let mut labelled = Vec::with_capacity(labels.len());
    for label in labels {
        let features = match index.with_sample(|s| s.get(label.review).and_then(pick)) {
            Some(f) => f,
            None => {
                let text = [label.text.clone()];
                let fresh = if pretrained {
                    let embedder = engine.pretrained()?;
                    engine
                        .in_foreground(embedder.embed_pooled(&text, engine.classifier_pooling()?))
                        .await
                        .map_err(|e| e.to_string())?
                } else {
                    engine.embed_for_classifier(&text).await?
                };
                fresh.into_iter().next().ok_or("the encoder returned nothing")?.vector
            }
        };
        labelled.push((features, label.label));
    }
    let scaling = FeatureScaling::fit(&labelled.iter().map(|(f, _)| f).chain(&unlabelled).collect::<Vec<_>>());
    Ok(TrainingData { labelled, unlabelled, lexicon_scores, scaling })
}

/// Trains the classifier on `examples`, its loss curve continuing the run's; `None` when cancelled.
async fn train_head(
    engine: &Engine,
    state: PageState,
    examples: &[Example<'_>],
    scaling: &FeatureScaling,
    source: &FeatureSource,
) -> Result<Option<Classifier>, String> {
    let offset = state.losses.with_untracked(|l| l.last().map_or(0, |(s, _)| *s));
    let on_progress = move |step: usize, total: usize, loss: f32| {
        state.training.set(TrainStatus::Running { phase: TrainPhase::Head, step, total });
        state.losses.update(|l| l.push((offset + step, loss)));
    };
    let cancelled = move || state.cancel_training.get_untracked();
    Ok(match paced_training::train(engine, examples, scaling.clone(), *source, &on_progress, &cancelled).await? {
        Outcome::Cancelled => None,
        Outcome::Trained(classifier) => Some(classifier),
    })
}

/// Fine-tunes the pretrained encoder's top layers with `head`, reads every bundled review
/// again with the result, keeps both in the browser, and puts them in use. `None` when
/// cancelled (nothing changed then).
async fn fine_tune_encoder(
    engine: &Engine,
    index: &ReviewIndex,
    state: PageState,
    labels: &[Label],
    head: Classifier,
) -> Result<Option<(Classifier, FineTuneTimes)>, String> {
    let pretrained = engine.pretrained()?;
    let config = FineTuneConfig::new();
    let examples = labels
        .iter()
        .map(|l| TokenExample::new(&pretrained.tokenizer, &l.text, l.label, config.max_tokens))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let started = js_sys::Date::now();
    // Reading the labelled reviews through the frozen bottom layers comes first.
    state.training.set(TrainStatus::Running { phase: TrainPhase::FineTune, step: 0, total: 1 });
    crate::app::yield_to_browser().await;
    let mut tuner = FineTuner::new(
        &pretrained.model,
        &head,
        &examples,
        pretrained.tokenizer.pad_id(),
        config.clone(),
        &pretrained.device,
    )
    .map_err(|e| e.to_string())?;
    let offset = state.losses.with_untracked(|l| l.last().map_or(0, |(s, _)| *s));
    let on_progress = move |step: usize, total: usize, loss: f32| {
        state.training.set(TrainStatus::Running { phase: TrainPhase::FineTune, step, total });
        state.losses.update(|l| l.push((offset + step, loss)));
    };
    let cancelled = move || state.cancel_training.get_untracked();
    // One step at a time: a step is long, and the loss read-back lets the page breathe.
    if !paced_training::pace(&mut tuner, 1, &on_progress, &cancelled).await? {
        return Ok(None);
    }
    let first_tuned = tuner.first_tuned_layer();
    let (encoder, classifier) = tuner.finish().await.map_err(|e| e.to_string())?;
    let tuning_seconds = (js_sys::Date::now() - started) / 1e3;

    // What is kept is f16: read the reviews with exactly that, as after a reload.
    let (layers, bytes) = TunedLayers::save(&encoder, first_tuned).map_err(|e| e.to_string())?;
    let embedder = engine.tuned_embedder(&layers, &bytes)?;
    let started = js_sys::Date::now();
    let on_progress =
        move |step, total| state.training.set(TrainStatus::Running { phase: TrainPhase::Reread, step, total });
    let keep_going = move || !state.cancel_training.get_untracked();
    let model = state.model.get_untracked();
    let Some(features) = index.read_all(engine, &embedder, (model, &layers.sha256), &on_progress, &keep_going).await?
    else {
        return Ok(None);
    };
    let reread_seconds = (js_sys::Date::now() - started) / 1e3;
    if let Err(e) = keep_tuned(&layers, &bytes, &features).await {
        state.session_notice.set(Some(format!("{e}: the fine-tuned classifier works now but will be lost on reload")));
    }
    use_encoder(engine, index, state, Some((embedder, layers.clone(), &features)))?;
    let layers_tuned = pretrained.model.num_layers() - first_tuned;
    let times = FineTuneTimes { layers: layers_tuned, epochs: config.epochs, tuning_seconds, reread_seconds };
    Ok(Some((Classifier { tuned_layers: Some(layers), ..classifier }, times)))
}

/// Cache Storage keys of fine-tuned layers and of the bundled reviews' features from them.
fn tuned_keys(sha256: &str) -> (String, String) {
    (format!("tuned/{sha256}.safetensors"), format!("tuned/{sha256}.features.json"))
}

async fn keep_tuned(layers: &TunedLayers, bytes: &[u8], features: &AllFeatures) -> Result<(), String> {
    let (layers_key, features_key) = tuned_keys(&layers.sha256);
    loader::keep(&layers_key, bytes).await?;
    let json = serde_json::to_vec(features).map_err(|e| e.to_string())?;
    loader::keep(&features_key, &json).await
}

/// The bytes of fine-tuned layers kept in this browser (checked), for an export.
pub async fn kept_tuned_bytes(layers: &TunedLayers) -> Option<Vec<u8>> {
    let bytes = loader::kept(&tuned_keys(&layers.sha256).0).await?;
    layers.check(&bytes).ok().map(|()| bytes)
}

/// Keeps fine-tuned layers that came in an imported file.
pub async fn keep_imported(layers: &TunedLayers, bytes: &[u8]) -> Result<(), String> {
    layers.check(bytes).map_err(|e| e.to_string())?;
    loader::keep(&tuned_keys(&layers.sha256).0, bytes).await
}

/// Puts an encoder and its features in use: a fine-tuned one, or the pretrained one.
fn use_encoder(
    engine: &Engine,
    index: &ReviewIndex,
    state: PageState,
    tuned: Option<(Rc<Embedder>, TunedLayers, &AllFeatures)>,
) -> Result<(), String> {
    match tuned {
        Some((embedder, layers, features)) => {
            if !index.use_features(Some(features)) {
                return Err("the fine-tuned encoder's features do not fit the bundled reviews".into());
            }
            state.tuned.set(Some(layers.sha256.clone()));
            engine.use_encoder(Some((embedder, layers)));
        }
        None => {
            index.use_features(None);
            state.tuned.set(None);
            engine.use_encoder(None);
        }
    }
    // Everything that reads features reads them again.
    state.indexed.update(|_| {});
    Ok(())
}

/// Puts in use the encoder the saved classifier reads: the pretrained one, or it with the
/// classifier's fine-tuned layers from this browser's Cache Storage (with their features,
/// or reading the reviews again when those are gone). Called once the pretrained
/// features are known, and after an import or a reset.
pub async fn use_classifiers_encoder(engine: &Engine, index: &ReviewIndex, state: PageState) {
    let model = state.model.get_untracked();
    let wanted = state
        .session
        .with_untracked(|s| s.classifier.as_ref().filter(|c| c.encoder == model).and_then(|c| c.tuned_layers.clone()));
    if wanted.as_ref().map(|t| &t.sha256) == engine.tuned().as_ref().map(|t| &t.sha256) {
        return;
    }
    let (done, total) = state.indexed.get_untracked();
    let Some(layers) = wanted.filter(|_| total > 0 && done == total) else {
        let _ = use_encoder(engine, index, state, None);
        return;
    };
    if matches!(state.training.get_untracked(), TrainStatus::Running { .. }) {
        return;
    }
    state.cancel_training.set(false);
    state.training.set(TrainStatus::Running { phase: TrainPhase::Restore, step: 0, total });
    let outcome = restore_tuned(engine, index, state, &layers).await;
    state.training.set(TrainStatus::Idle);
    match outcome {
        Ok(true) => {}
        Ok(false) => state.training.set(TrainStatus::Cancelled),
        Err(e) => state.session_notice.set(Some(format!(
            "your fine-tuned classifier cannot be used ({e}); your labels are kept: press Train to train again"
        ))),
    }
    if state.retrain_pending.get_untracked() {
        request_retrain(engine.clone(), index.clone(), state);
    }
}

/// `Ok(false)` when cancelled.
async fn restore_tuned(
    engine: &Engine,
    index: &ReviewIndex,
    state: PageState,
    layers: &TunedLayers,
) -> Result<bool, String> {
    let (layers_key, features_key) = tuned_keys(&layers.sha256);
    let bytes =
        loader::kept(&layers_key).await.ok_or("its fine-tuned layers are no longer in this browser's storage")?;
    let embedder = engine.tuned_embedder(layers, &bytes)?;
    let kept: Option<AllFeatures> =
        loader::kept(&features_key).await.and_then(|json| serde_json::from_slice(&json).ok());
    let features = match kept.filter(|f| f.weights_sha256 == layers.sha256) {
        Some(features) => features,
        None => {
            let on_progress =
                move |step, total| state.training.set(TrainStatus::Running { phase: TrainPhase::Restore, step, total });
            let keep_going = move || !state.cancel_training.get_untracked();
            let model = state.model.get_untracked();
            let Some(features) =
                index.read_all(engine, &embedder, (model, &layers.sha256), &on_progress, &keep_going).await?
            else {
                return Ok(false);
            };
            let json = serde_json::to_vec(&features).map_err(|e| e.to_string())?;
            let _ = loader::keep(&features_key, &json).await;
            features
        }
    };
    use_encoder(engine, index, state, Some((embedder, layers.clone(), &features)))?;
    Ok(true)
}
