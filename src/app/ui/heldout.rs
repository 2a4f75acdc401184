//! Accuracy the person can trust: the classifier on the bundled held-out reviews (from
//! the `test` split, never trained on), what the person's labels alone give on the same
//! reviews, a confusion matrix, and the learning curve so far.

use leptos::prelude::*;

use super::chart::{LineChart, Series};
use crate::app::actions::confusion;
use crate::app::state::{Comparison, Labels, Reviews};
use crate::compare::Contender;

fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

#[component]
pub fn HeldoutPanel() -> impl IntoView {
    let (labels, reviews) = (expect_context::<Labels>(), expect_context::<Reviews>());
    let comparison = expect_context::<Comparison>();
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
                    <tr><td></td><th>"predicted negative"</th><th>"predicted positive"</th></tr>
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
            {move || labels_alone(labels, comparison, confusion.get().map(|c| c.accuracy()))}
            {matrix}
            <Show when=move || labels.with(|s| !s.curve.is_empty())>
                <LineChart series=curve x_label="labels" y_label="held-out accuracy after each training"
                    y_range=Some((0.5, 1.0)) format_y=percent testid="learning-curve"/>
            </Show>
        </section>
    }
}

/// What the person's labels alone bought: the encoder-features contender (a logistic
/// regression on exactly these labels, no lexicon seeds, self-training or votes) on the
/// same held-out reviews, once Compare has scored it on the current labels.
fn labels_alone(labels: Labels, comparison: Comparison, recipe: Option<f32>) -> Option<impl IntoView> {
    let recipe = recipe?;
    let scores = comparison.scores()?;
    let count = labels.with(|s| s.labels.len());
    if scores.labels != count {
        return None;
    }
    let alone = scores.heldout[Contender::Encoder.index()]?;
    let gap = 100.0 * (recipe - alone);
    let added = if gap.abs() < 0.5 {
        "the recipe adds nothing on top".to_string()
    } else if gap > 0.0 {
        format!("the recipe (the lexicon's surest picks, self-training and the votes) adds {gap:.1} points on top")
    } else {
        format!("here the recipe costs {:.1} points", -gap)
    };
    Some(view! {
        <p class="hint" data-testid="labels-alone">
            "Your " {count} " labels alone, on the encoder's features: "
            <strong data-testid="labels-alone-accuracy">{format!("{:.1}%", 100.0 * alone)}</strong>
            "; " {added} "."
        </p>
    })
}
