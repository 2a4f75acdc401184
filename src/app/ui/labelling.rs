//! The review feed: one bundled review at a time (the one worth labelling next), its
//! predicted label once a classifier exists, and labelling by button or keyboard.

use leptos::ev;
use leptos::prelude::*;

use super::PageState;
use crate::app::index::ReviewIndex;
use crate::classifier::Prediction;
use crate::sampling::{self, Candidate};
use crate::session::Label;

/// The review to show: the suggestion among unlabelled, unskipped reviews with known
/// features; before any features are known, the first unlabelled one.
fn next_review(state: PageState, index: &ReviewIndex) -> Option<usize> {
    let classifier = state.classifier();
    let skipped = state.skipped.get();
    state.session.with(|session| {
        index.with_sample(|sample| {
            let open: Vec<usize> =
                (0..sample.len()).filter(|i| session.label_of(*i).is_none() && !skipped.contains(i)).collect();
            let with_features: Vec<usize> = open.iter().copied().filter(|&i| sample[i].features.is_some()).collect();
            if with_features.is_empty() {
                return open.first().copied();
            }
            let candidates: Vec<Candidate> = with_features
                .iter()
                .map(|&i| {
                    let features = sample[i].features.as_deref().unwrap_or_default();
                    let positive =
                        classifier.as_ref().and_then(|c| c.predict(features, &sample[i].view).ok()).map(|p| p.positive);
                    Candidate { features, positive }
                })
                .collect();
            let labelled: Vec<&[f32]> =
                session.labels.iter().filter_map(|l| sample.get(l.review)?.features.as_deref()).collect();
            sampling::suggest(&candidates, &labelled).map(|c| with_features[c])
        })
    })
}

#[component]
pub fn LabelPanel(index: ReviewIndex) -> impl IntoView {
    let state = expect_context::<PageState>();
    // The index is not thread-safe; memos want Send + Sync values: keep it in local storage.
    let stored = StoredValue::new_local(index);
    let features_complete = Memo::new(move |_| {
        let (done, total) = state.indexed.get();
        total > 0 && done == total
    });
    // Recomputed when labels, skips or the classifier change, and once when all features
    // are known: not at each feature computed, so the review being read does not jump.
    let current = Memo::new(move |_| {
        // Read, not just tracked: a memo brings itself up to date when read.
        let _all_known = features_complete.get();
        if state.reviews_ready.get() { stored.with_value(|index| next_review(state, index)) } else { None }
    });
    let text_of = move |review: usize| {
        stored
            .with_value(|index| index.with_sample(|s| s.get(review).map(|e| e.review.text.clone()).unwrap_or_default()))
    };
    let prediction = move || {
        state.indexed.track();
        let review = current.get()?;
        let classifier = state.classifier()?;
        stored.with_value(|index| {
            index.with_sample(|s| {
                let entry = s.get(review)?;
                classifier.predict(entry.features.as_deref()?, &entry.view).ok()
            })
        })
    };
    let give = move |label: u8| {
        if let Some(review) = current.get_untracked() {
            let text = text_of(review);
            state.session.update(|s| s.labels.push(Label { review, label, text }));
            state.label_events.update(|n| *n += 1);
        }
    };
    let undo = move || {
        if state.session.with_untracked(|s| !s.labels.is_empty()) {
            state.session.update(|s| {
                s.labels.pop();
            });
            state.label_events.update(|n| *n += 1);
        }
    };
    let skip = move || {
        if let Some(review) = current.get_untracked() {
            state.skipped.update(|s| s.push(review));
        }
    };
    let keys = {
        window_event_listener(ev::keydown, move |event| {
            // Keys typed into a text field are the user's text, not labels.
            let typing = event
                .target()
                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                .is_some_and(|e| match e.tag_name().as_str() {
                    "TEXTAREA" | "SELECT" => true,
                    "INPUT" => {
                        !matches!(e.get_attribute("type").as_deref(), Some("checkbox" | "radio" | "button" | "file"))
                    }
                    _ => false,
                });
            if typing || event.ctrl_key() || event.meta_key() || event.alt_key() {
                return;
            }
            match event.key().as_str() {
                "ArrowRight" | "2" | "p" => give(1),
                "ArrowLeft" | "1" | "n" => give(0),
                "u" | "Backspace" => undo(),
                "s" => skip(),
                _ => return,
            }
            event.prevent_default();
        })
    };
    on_cleanup(move || keys.remove());

    let counts = move || state.session.with(|s| (s.labels.len(), s.count(1), s.count(0)));
    let card = move || {
        let Some(review) = current.get() else {
            let message = if state.reviews_ready.get() {
                "No reviews left to label: undo a label, or bring back the skipped ones."
            } else {
                "Loading the reviews…"
            };
            return view! { <p class="empty">{message}</p> }.into_any();
        };
        let text = text_of(review);
        view! {
            <article class="review" data-testid="review-card">
                <p class="meta">{format!("Review #{} of the sample", review + 1)}</p>
                // Review text is always a text node, never parsed as HTML.
                <p class="text">{text}</p>
                <p class="prediction-line">{move || prediction().map(describe)}</p>
            </article>
        }
        .into_any()
    };
    view! {
        <section class="panel wide">
            <h2>"Label reviews"</h2>
            <p class="hint">
                "The review shown is the one whose label should teach the classifier most: one it is unsure "
                "about, typical of the reviews, unlike those already labelled. "
                "Keys: → or 2 positive, ← or 1 negative, u undo, s skip."
            </p>
            {card}
            <div class="actions">
                <button class="negative" data-testid="label-negative" on:click=move |_| give(0)
                    disabled=move || current.get().is_none()>"← Negative"</button>
                <button class="positive" data-testid="label-positive" on:click=move |_| give(1)
                    disabled=move || current.get().is_none()>"Positive →"</button>
                <button on:click=move |_| skip() disabled=move || current.get().is_none()>"Skip"</button>
                <button on:click=move |_| undo() disabled=move || counts().0 == 0>"Undo last label"</button>
                <Show when=move || !state.skipped.with(Vec::is_empty)>
                    <button on:click=move |_| state.skipped.set(Vec::new())>"Bring back skipped"</button>
                </Show>
            </div>
            <p data-testid="labelled-count">
                {move || {
                    let (all, positive, negative) = counts();
                    format!("{all} labelled: {positive} positive, {negative} negative")
                }}
            </p>
        </section>
    }
}

/// "Predicted positive, 83% sure".
pub fn describe(p: Prediction) -> String {
    format!("Predicted {}, {:.0}% sure", p.label_name(), 100.0 * p.certainty())
}
