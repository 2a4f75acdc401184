//! Classify any text: paste a review, get positive or negative with its certainty, and
//! each sentence coloured by its own predicted sentiment (Textflix-style highlights).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::sentiment::{describe, sentence_span};
use crate::app::actions::{Actions, Highlight};
use crate::classifier::Prediction;

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    None,
    Working,
    Done { overall: Prediction, sentences: Vec<Highlight> },
    Failed(String),
}

#[component]
pub fn ClassifyPanel() -> impl IntoView {
    let actions = expect_context::<Actions>();
    let text = RwSignal::new(String::new());
    let verdict = RwSignal::new(Verdict::None);
    let classify = move |_| {
        spawn_local(async move {
            verdict.set(Verdict::Working);
            let submitted = text.get_untracked();
            let outcome = match actions.classify(submitted.clone()).await {
                Ok((overall, sentences)) => Verdict::Done { overall, sentences },
                Err(e) => Verdict::Failed(e.to_string()),
            };
            // Edited meanwhile: the result belongs to a text no longer in the box.
            if text.get_untracked() == submitted {
                verdict.set(outcome);
            }
        });
    };
    let result = move || match verdict.get() {
        Verdict::None => ().into_any(),
        Verdict::Working => view! { <p data-testid="prediction">"reading…"</p> }.into_any(),
        Verdict::Failed(e) => view! { <p class="error" data-testid="prediction">{e}</p> }.into_any(),
        Verdict::Done { overall, sentences } => view! {
            <p class="big" data-testid="prediction">{describe(overall)}</p>
            <p class="highlights" data-testid="highlights">
                {sentences.into_iter().map(highlight).collect_view()}
            </p>
        }
        .into_any(),
    };
    view! {
        <section class="panel wide">
            <h2>"Classify any review"</h2>
            <textarea data-testid="classify-input" rows="5" placeholder="Paste a movie review here"
                prop:value=move || text.get()
                on:input=move |ev| {
                    // A result is only ever shown for the text in the box.
                    text.set(event_target_value(&ev));
                    verdict.set(Verdict::None);
                }></textarea>
            <div class="actions">
                <button data-testid="classify" on:click=classify
                    disabled=move || matches!(verdict.get(), Verdict::Working)>"Classify"</button>
            </div>
            {result}
        </section>
    }
}

fn highlight(h: Highlight) -> impl IntoView {
    sentence_span(h.text, h.prediction)
}
