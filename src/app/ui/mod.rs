//! The page's views, one per concern: each reads the state contexts it shows and calls
//! the actions; none holds state beyond its own widgets'.
//!
//! Five views with URLs of their own (a router: back, forward, reload and links keep the
//! view): *Label & train* (`/`: `labelling`, `train_panel`, `heldout`, `classify`,
//! `session`, `encoder`), *Movies* (`/movies`), *Movie* (`/movies/<slug>`), *Compare*
//! (`/compare`) and *Disagreements* (`/disagreements`). `sentiment` and `chart` are
//! what they share.

mod chart;
mod classify;
mod compare;
mod disagreements;
mod encoder;
mod heldout;
mod labelling;
mod movie;
mod movies;
mod sentiment;
mod session;
mod train_panel;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use super::actions::Actions;
use super::services::engine::Engine;
use super::services::index::ReviewIndex;
use super::state::{CatalogueState, CatalogueStatus, CompareStatus, Comparison, Labels};

#[component]
pub fn App(engine: Engine, index: ReviewIndex, webgpu_available: bool) -> impl IntoView {
    Actions::provide(engine, index, webgpu_available);
    view! {
        <Router>
            <header class="masthead">
                <div class="brand">
                    <h1>"Flicktune"</h1>
                    <p class="tagline">"A sentiment model that learns from your labels, in this tab. Nothing leaves the page."</p>
                </div>
                <nav aria-label="Views" data-testid="nav">
                    <A href="/" exact=true>"Label & train"</A>
                    <A href="/movies">"Movies"</A>
                    <A href="/compare">"Compare"</A>
                    <A href="/disagreements">"Disagreements"</A>
                </nav>
            </header>
            <main>
                <session::KeepingNotices/>
                <Routes fallback=|| view! { <p data-testid="no-view">"No such page. " <A href="/">"Start here"</A></p> }>
                    <Route path=path!("/") view=LabelAndTrain/>
                    <Route path=path!("/movies") view=movies::MoviesView/>
                    <Route path=path!("/movies/:slug") view=movie::MovieView/>
                    <Route path=path!("/compare") view=compare::CompareView/>
                    <Route path=path!("/disagreements") view=disagreements::DisagreementsView/>
                </Routes>
            </main>
        </Router>
    }
}

/// Today's loop: label, train, measure, classify, keep; and the settings.
#[component]
fn LabelAndTrain() -> impl IntoView {
    view! {
        <div class="label-view" data-testid="label-view">
            <labelling::LabelPanel/>
            <train_panel::TrainPanel/>
            <heldout::HeldoutPanel/>
            <classify::ClassifyPanel/>
            <session::SessionPanel/>
            <encoder::ModelPanel/>
            <encoder::BackendPanel/>
            <encoder::IndexPanel/>
        </div>
    }
}

/// What the catalogue views are waiting for, or what to do next.
pub fn status_line() -> impl IntoView {
    let (catalogue, comparison, labels) =
        (expect_context::<CatalogueState>(), expect_context::<Comparison>(), expect_context::<Labels>());
    move || {
        let (text, testid) = match (catalogue.status(), comparison.status()) {
            (CatalogueStatus::Loading, _) => ("Loading the movies…".to_string(), "catalogue-loading"),
            (CatalogueStatus::Unavailable(why), _) => (why, "catalogue-unavailable"),
            (_, CompareStatus::Failed(why)) => (format!("Scoring stopped: {why}"), "compare-failed"),
            (_, CompareStatus::Running) => ("Your models are reading the reviews…".into(), "compare-running"),
            _ if labels.classifier().is_none() => {
                return view! {
                    <p class="empty" data-testid="needs-labels">
                        "No classifier yet: " <A href="/">"label a few reviews"</A>
                        " (both positive and negative), and every review here is classified by it."
                    </p>
                }
                .into_any();
            }
            _ => return ().into_any(),
        };
        view! { <p class="status" data-testid=testid aria-live="polite">{text}</p> }.into_any()
    }
}

/// A "Sort by" menu over `orders`, each known by its `key` and shown by its `label`.
pub fn sort_by<T: Copy + Send + Sync + 'static>(
    orders: &'static [T],
    key: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
    chosen: RwSignal<T>,
    testid: &'static str,
) -> impl IntoView {
    let choose = move |ev| {
        let picked = event_target_value(&ev);
        if let Some(&order) = orders.iter().find(|o| key(**o) == picked) {
            chosen.set(order);
        }
    };
    view! {
        <label>"Sort by "
            <select data-testid=testid on:change=choose>
                {orders.iter().map(|&o| view! { <option value=key(o)>{label(o)}</option> }).collect_view()}
            </select>
        </label>
    }
}
