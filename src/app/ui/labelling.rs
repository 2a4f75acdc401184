//! The review feed: one bundled review at a time (the one worth labelling next), its
//! predicted label once a classifier exists, and labelling by button or keyboard.

use leptos::ev;
use leptos::prelude::*;

use super::sentiment::describe;
use crate::app::state::{Labels, Reviews};
use crate::sampling::{self, Candidate};

/// The review to show: the suggestion among unlabelled, unskipped reviews with known
/// features; before any features are known, the first unlabelled one. Follows the
/// labels, skips and classifier, not the features (see the caller).
fn next_review(labels: Labels, reviews: Reviews) -> Option<usize> {
    let classifier = labels.classifier();
    let skipped = labels.skipped();
    labels.with(|session| {
        reviews.with_sample_untracked(|sample| {
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
                session.labels.iter().filter_map(|l| sample.get(l.sample_review()?)?.features.as_deref()).collect();
            sampling::suggest(&candidates, &labelled).map(|c| with_features[c])
        })
    })
}

#[component]
pub fn LabelPanel() -> impl IntoView {
    let (labels, reviews) = (expect_context::<Labels>(), expect_context::<Reviews>());
    // Recomputed when labels, skips or the classifier change, and once when all features
    // are known: not at each feature computed, so the review being read does not jump.
    let current = Memo::new(move |_| {
        let _all_known = reviews.is_complete();
        if reviews.is_ready() { next_review(labels, reviews) } else { None }
    });
    let prediction = move || {
        let review = current.get()?;
        let classifier = labels.classifier()?;
        reviews.with_sample(|s| {
            let entry = s.get(review)?;
            classifier.predict(entry.features.as_deref()?, &entry.view).ok()
        })
    };
    let give = move |label: u8| {
        if let Some(review) = current.get_untracked() {
            labels.give(review, label, reviews.text(review));
        }
    };
    let undo = move || {
        labels.undo();
    };
    let skip = move || {
        if let Some(review) = current.get_untracked() {
            labels.skip(review);
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

    let counts = move || labels.with(|s| (s.labels.len(), s.count(1), s.count(0)));
    let card = move || {
        let Some(review) = current.get() else {
            let message = if reviews.is_ready() {
                "No reviews left to label: undo a label, or bring back the skipped ones."
            } else {
                "Loading the reviews…"
            };
            return view! { <p class="empty">{message}</p> }.into_any();
        };
        let text = reviews.text(review);
        view! {
            <article class="review" data-testid="review-card">
                <p class="meta">{format!("Review #{} of the sample", review + 1)}</p>
                // Review text is always a text node, never parsed as HTML. A long review
                // scrolls: focusable, so a keyboard can scroll it too.
                <p class="text" tabindex="0" role="region" aria-label="The review's text">{text}</p>
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
                <Show when=move || labels.any_skipped()>
                    <button on:click=move |_| labels.unskip_all()>"Bring back skipped"</button>
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
