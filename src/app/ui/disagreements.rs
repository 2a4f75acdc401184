//! Disagreements: the critics' reviews on which the baseline (NB-SVM) and the transfer
//! model say different things, with both predictions and the critic's verdict, so a
//! person sees what transfer learning gets right (and wrong).

use leptos::prelude::*;
use leptos_router::components::A;

use super::sentiment::classification;
use super::status_line;
use crate::app::state::{CatalogueState, Comparison};
use crate::classifier::Prediction;
use crate::compare::{Contender, disagreements};

/// At most this many are listed (the most certain disagreements first).
const LISTED: usize = 100;

#[component]
pub fn DisagreementsView() -> impl IntoView {
    let (catalogue, comparison) = (expect_context::<CatalogueState>(), expect_context::<Comparison>());
    let list = move || {
        let (catalogue, scores) = (catalogue.get()?, comparison.scores()?);
        let transfer = scores.shown;
        let baseline = scores.catalogue[Contender::BASELINE.index()].as_ref()?;
        let transferred = scores.catalogue[transfer.index()].as_ref()?;
        let at: Vec<usize> =
            disagreements(baseline, transferred).into_iter().filter(|i| !scores.labelled.contains_key(i)).collect();
        let transfer_right = at
            .iter()
            .filter(|&&i| catalogue.review(i).is_some_and(|(_, r)| (transferred[i] >= 0.5) == r.fresh))
            .count();
        let items: Vec<_> = at.iter().take(LISTED).filter_map(|&i| {
            let (movie, review) = catalogue.review(i)?;
            let (b, t) = (Prediction::from_probability(baseline[i]), Prediction::from_probability(transferred[i]));
            let right = if (t.label == 1) == review.fresh { transfer.name() } else { Contender::BASELINE.name() };
            let (href, title) = (format!("/movies/{}", movie.slug), movie.title.clone());
            Some(view! {
                <li class="review" data-testid="disagreement" data-index=i.to_string()>
                    <p class="meta"><A href=href>{title}</A></p>
                    <p class="text">{review.text.clone()}</p>
                    <p class="meta" data-testid="disagreement-baseline">{format!("{}: {}", Contender::BASELINE.name(), classification(b))}</p>
                    <p class="meta" data-testid="disagreement-transfer">{format!("{}: {}", transfer.name(), classification(t))}</p>
                    <p class="meta">{format!("critics: {} · {right} is right", if review.fresh { "fresh" } else { "rotten" })}</p>
                </li>
            })
        }).collect();
        Some(view! {
            <p data-testid="disagreement-summary">
                {format!(
                    "{} and {} disagree on {} of the {} critics' reviews; the critics side with {} on {} of them.",
                    Contender::BASELINE.name(), transfer.name(), at.len(), catalogue.len(), transfer.name(), transfer_right
                )}
            </p>
            <ul class="disagreements">{items}</ul>
        })
    };
    view! {
        <section class="view" data-testid="disagreements-view">
            <h2>"Where the baseline and transfer learning disagree"</h2>
            {status_line}
            {list}
        </section>
    }
}
