//! Accuracy the person can trust: the classifier on the bundled held-out reviews (from
//! the `test` split, never trained on), a confusion matrix, and the learning curve so far.

use leptos::prelude::*;

use super::chart::{LineChart, Series};
use crate::app::actions::confusion;
use crate::app::state::{Labels, Reviews};

fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

#[component]
pub fn HeldoutPanel() -> impl IntoView {
    let (labels, reviews) = (expect_context::<Labels>(), expect_context::<Reviews>());
    let heldout_len = move || {
        let _loaded = reviews.is_ready();
        reviews.with_heldout_untracked(<[_]>::len)
    };
    let confusion = Memo::new(move |_| {
        let classifier = labels.classifier()?;
        reviews.with_heldout(|heldout| confusion(heldout, &classifier))
    });
    let curve = Signal::derive(move || {
        Series::single(labels.with(|s| s.curve.iter().map(|p| (p.labels as f64, p.accuracy as f64)).collect()))
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
                        None if labels.classifier().is_none() => "no classifier yet".into(),
                        None => "waiting for the held-out reviews' features…".into(),
                    }}
                </span>
            </p>
            {matrix}
            <Show when=move || labels.with(|s| !s.curve.is_empty())>
                <LineChart series=curve x_label="labels" y_label="held-out accuracy after each training"
                    y_range=Some((0.5, 1.0)) format_y=percent testid="learning-curve"/>
            </Show>
        </section>
    }
}
