//! Accuracy the user can trust: the classifier on the bundled held-out reviews (from the
//! `test` split, never trained on), a confusion matrix, and the learning curve so far.

use leptos::prelude::*;

use super::PageState;
use super::chart::LineChart;
use crate::app::index::ReviewIndex;
use crate::classifier::{Classifier, Confusion};

/// The classifier's confusion on the held-out sample, once all its features are known.
pub fn evaluate(index: &ReviewIndex, classifier: &Classifier) -> Option<Confusion> {
    index.with_heldout(|heldout| {
        let mut confusion = Confusion::default();
        for entry in heldout {
            confusion.add(entry.review.label, classifier.predict(entry.features.as_deref()?, &entry.view).ok()?.label);
        }
        (confusion.total() > 0).then_some(confusion)
    })
}

fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

#[component]
pub fn HeldoutPanel(index: ReviewIndex) -> impl IntoView {
    let state = expect_context::<PageState>();
    // The index is not thread-safe; reactive closures want Send + Sync: keep it in local storage.
    let stored = StoredValue::new_local(index);
    let heldout_len = move || {
        state.reviews_ready.track();
        stored.with_value(|index| index.with_heldout(<[_]>::len))
    };
    let confusion = Memo::new(move |_| {
        state.indexed.track();
        let classifier = state.classifier()?;
        stored.with_value(|index| evaluate(index, &classifier))
    });
    let curve = Signal::derive(move || {
        state.session.with(|s| s.curve.iter().map(|p| (p.labels as f64, p.accuracy as f64)).collect())
    });
    let matrix = move || {
        confusion.get().map(|c| {
            let [[tn, fp], [fn_, tp]] = c.counts;
            view! {
                <table class="confusion">
                    <tr><th></th><th>"predicted negative"</th><th>"predicted positive"</th></tr>
                    <tr><th>"negative"</th><td>{tn}</td><td>{fp}</td></tr>
                    <tr><th>"positive"</th><td>{fn_}</td><td>{tp}</td></tr>
                </table>
            }
        })
    };
    view! {
        <section class="panel">
            <h2>"Held-out accuracy"</h2>
            <p class="hint">
                "Measured on " {heldout_len}
                " gold-labelled reviews from the test split, which nothing here ever trains on."
            </p>
            <p class="big">
                <span data-testid="heldout-accuracy">
                    {move || match confusion.get() {
                        Some(c) => format!("{:.1}%", 100.0 * c.accuracy()),
                        None if state.classifier().is_none() => "no classifier yet".into(),
                        None => "waiting for the held-out reviews' features…".into(),
                    }}
                </span>
            </p>
            {matrix}
            <Show when=move || !state.session.with(|s| s.curve.is_empty())>
                <LineChart points=curve x_label="labels" y_label="held-out accuracy after each training"
                    y_range=Some((0.5, 1.0)) format_y=percent testid="learning-curve"/>
            </Show>
        </section>
    }
}
