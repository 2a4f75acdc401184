//! Compare: the baselines beside transfer learning, each trained on exactly your labels:
//! their accuracy now (held-out IMDB reviews, and agreement with the critics), their
//! learning curve as your labels grew, and per movie the share each calls positive.

use leptos::prelude::*;
use leptos_router::components::A;

use super::chart::{LineChart, Series};
use super::sentiment::percent;
use super::status_line;
use crate::app::actions::Actions;
use crate::app::state::{CatalogueState, Comparison, UlmfitStatus};
use crate::compare::{Contender, positive_share};

#[component]
pub fn CompareView() -> impl IntoView {
    let (catalogue, comparison) = (expect_context::<CatalogueState>(), expect_context::<Comparison>());
    // ULMFiT trains while this view is open (minutes in the engine's worker), for the
    // labels of the latest round and each one after.
    comparison.want_ulmfit(true);
    expect_context::<Actions>().request_ulmfit();
    on_cleanup(move || comparison.want_ulmfit(false));
    // Where ULMFiT's training stands, read by its row while it has no scores.
    let ulmfit_pending = move || match comparison.ulmfit_status() {
        UlmfitStatus::Idle => "waiting for the others".to_string(),
        UlmfitStatus::Working { what, total: 0, .. } => format!("{what}…"),
        UlmfitStatus::Working { what, done, total } => format!("{what}: {done} / {total}"),
        UlmfitStatus::Failed(why) => format!("failed: {why}"),
    };
    let table = move || {
        let scores = comparison.scores()?;
        let rows = Contender::ALL.into_iter().map(|c| {
            // ULMFiT's cells wait for it: it trains after the others, for minutes.
            let pending = c == Contender::Ulmfit && scores.heldout[c.index()].is_none();
            let missing = if pending { ulmfit_pending() } else { "–".to_string() };
            let shown = |x: Option<f32>| x.map_or_else(|| missing.clone(), |a| format!("{:.1}%", 100.0 * a));
            view! {
                <tr data-testid=format!("compare-row-{}", c.key()) class:transfer=c.transfers()>
                    <th scope="row">{c.name()}<br/><span class="hint">{c.describe()}</span></th>
                    <td data-testid="heldout">{shown(scores.heldout[c.index()])}</td>
                    <td data-testid="critics">{shown(scores.critics[c.index()])}</td>
                    <td>{if c.transfers() { "yes" } else { "no" }}</td>
                </tr>
            }
        });
        Some(view! {
            <p>{format!("Each trained on exactly your {} labels.", scores.labels)}</p>
            <table class="compare" data-testid="compare-table">
                <thead><tr>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Held-out accuracy (IMDB)"</th>
                    <th scope="col">"Agrees with the critics"</th>
                    <th scope="col">"Transfer learning"</th>
                </tr></thead>
                <tbody>{rows.collect_view()}</tbody>
            </table>
        })
    };
    let curve = Signal::derive(move || {
        let history = comparison.history();
        Contender::ALL
            .into_iter()
            .map(|c| Series {
                name: c.name(),
                class: c.key(),
                points: history
                    .iter()
                    .filter_map(|p| Some((p.labels as f64, f64::from(p.heldout[c.index()]?))))
                    .collect(),
            })
            .collect()
    });
    let per_movie = move || {
        let (catalogue, scores) = (catalogue.get()?, comparison.scores()?);
        let rows = catalogue.catalogue.movies.iter().enumerate().map(|(m, movie)| {
            let first = catalogue.first_review(m);
            let range = first..first + movie.reviews.len();
            let share = |c: Contender| {
                let probabilities = scores.catalogue[c.index()].as_ref()?;
                positive_share(range.clone().filter(|i| !scores.labelled.contains_key(i)).map(|i| probabilities[i]))
            };
            let fresh = movie.reviews.iter().filter(|r| r.fresh).count() as f32 / movie.reviews.len().max(1) as f32;
            let (href, title) = (format!("/movies/{}", movie.slug), movie.title.clone());
            view! {
                <tr>
                    <th scope="row"><A href=href>{title}</A></th>
                    <td>{percent(fresh)}</td>
                    {Contender::ALL.into_iter().map(|c| view! { <td>{share(c).map_or_else(|| "–".into(), percent)}</td> }).collect_view()}
                </tr>
            }
        });
        Some(view! {
            <h3>"Per movie: the share each calls positive"</h3>
            <div class="scroll">
                <table class="compare per-movie" data-testid="compare-movies">
                    <thead><tr>
                        <th scope="col">"Movie"</th><th scope="col">"Critics: fresh"</th>
                        {Contender::ALL.into_iter().map(|c| view! { <th scope="col">{c.name()}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>{rows.collect_view()}</tbody>
                </table>
            </div>
        })
    };
    let has_curve = move || comparison.history().len() > 1;
    view! {
        <section class="view" data-testid="compare-view">
            <h2>"Transfer learning against the baselines"</h2>
            <p class="hint">
                "The classic models learn from your labels alone; the transfer models start from an encoder pretrained on a great deal of text. FF11's report measured this on IMDB: at 100 labels the classic models are near chance while transfer learning is already good. Here it is on your own labels, retrained in the background after each one."
            </p>
            {status_line}
            {table}
            <Show when=has_curve>
                <h3>"As your labels grew"</h3>
                <LineChart series=curve x_label="labels" y_label="held-out accuracy after each training"
                    y_range=Some((0.4, 1.0)) format_y=|y| format!("{:.0}%", 100.0 * y) testid="compare-curve"/>
            </Show>
            {per_movie}
        </section>
    }
}
