//! Movies: every movie of the catalogue with the share of its reviews your classifier
//! calls positive beside the critics' fresh share; searchable and sortable.

use leptos::prelude::*;
use leptos_router::components::A;

use super::sentiment::{ShareBar, percent};
use super::{sort_by, status_line};
use crate::app::services::catalogue::LoadedCatalogue;
use crate::app::state::{CatalogueState, Comparison, Scores};
use crate::compare::{divisiveness, positive_share};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    MostPositive,
    MostDivisive,
    MostReviews,
    CriticsDisagree,
    Title,
}

impl Sort {
    const ALL: [Sort; 5] =
        [Sort::MostPositive, Sort::MostDivisive, Sort::MostReviews, Sort::CriticsDisagree, Sort::Title];

    fn key(self) -> &'static str {
        match self {
            Sort::MostPositive => "positive",
            Sort::MostDivisive => "divisive",
            Sort::MostReviews => "reviews",
            Sort::CriticsDisagree => "disagree",
            Sort::Title => "title",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::MostPositive => "Most positive",
            Sort::MostDivisive => "Most divisive",
            Sort::MostReviews => "Most reviews",
            Sort::CriticsDisagree => "Your classifier and the critics disagree most",
            Sort::Title => "Title",
        }
    }
}

/// A movie as its row shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MovieSummary {
    pub slug: String,
    pub title: String,
    pub reviews: usize,
    /// Share of its scored reviews the shown classifier calls positive.
    pub yours: Option<f32>,
    /// Share of its reviews the critics marked fresh.
    pub fresh: f32,
}

/// Every movie's summary under `scores` (none yet: shares unknown).
pub fn summaries(catalogue: &LoadedCatalogue, scores: Option<&Scores>) -> Vec<MovieSummary> {
    catalogue
        .catalogue
        .movies
        .iter()
        .enumerate()
        .map(|(m, movie)| {
            let first = catalogue.first_review(m);
            let indices = first..first + movie.reviews.len();
            let yours = scores.and_then(|s| {
                positive_share(indices.filter(|i| !s.labelled.contains_key(i)).filter_map(|i| s.shown(i)))
            });
            let fresh = movie.reviews.iter().filter(|r| r.fresh).count() as f32 / movie.reviews.len().max(1) as f32;
            MovieSummary {
                slug: movie.slug.clone(),
                title: movie.title.clone(),
                reviews: movie.reviews.len(),
                yours,
                fresh,
            }
        })
        .collect()
}

#[component]
pub fn MoviesView() -> impl IntoView {
    let (catalogue, comparison) = (expect_context::<CatalogueState>(), expect_context::<Comparison>());
    let query = RwSignal::new(String::new());
    let sort = RwSignal::new(Sort::MostPositive);
    let all = Memo::new(move |_| {
        let catalogue = catalogue.get()?;
        Some(summaries(&catalogue, comparison.scores().as_deref()))
    });
    let shown = move || {
        let mut rows = all.get().unwrap_or_default();
        let needle = query.get().to_lowercase();
        rows.retain(|r| needle.is_empty() || r.title.to_lowercase().contains(needle.trim()));
        let yours = |r: &MovieSummary| r.yours.unwrap_or(r.fresh);
        match sort.get() {
            Sort::MostPositive => rows.sort_by(|a, b| yours(b).total_cmp(&yours(a))),
            Sort::MostDivisive => rows.sort_by(|a, b| divisiveness(yours(b)).total_cmp(&divisiveness(yours(a)))),
            Sort::MostReviews => rows.sort_by_key(|r| std::cmp::Reverse(r.reviews)),
            Sort::CriticsDisagree => {
                rows.sort_by(|a, b| (yours(b) - b.fresh).abs().total_cmp(&(yours(a) - a.fresh).abs()))
            }
            Sort::Title => rows.sort_by(|a, b| a.title.cmp(&b.title)),
        }
        rows
    };
    view! {
        <section class="view" data-testid="movies-view">
            <h2>"Movies"</h2>
            <p class="hint">
                "Critics' reviews of " {move || all.get().map_or(0, |a| a.len())}
                " movies (Rotten Tomatoes snippets), read by your classifier. They are never trained on: the critics' fresh or rotten is only shown and scored against."
            </p>
            {status_line}
            <div class="toolbar">
                <label>"Search "
                    <input type="search" data-testid="movie-search" placeholder="Title"
                        prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev))/>
                </label>
                {sort_by(&Sort::ALL, Sort::key, Sort::label, sort, "movie-sort")}
            </div>
            <ul class="movie-list" data-testid="movie-list">
                <For each=shown key=|r| (r.slug.clone(), r.yours.map(f32::to_bits)) let:row>
                    <MovieRow row/>
                </For>
            </ul>
        </section>
    }
}

#[component]
fn MovieRow(row: MovieSummary) -> impl IntoView {
    let yours = match row.yours {
        Some(share) => view! {
            <ShareBar share label=format!("your classifier: {} positive", percent(share)) testid="share-yours"/>
        }
        .into_any(),
        None => view! { <p class="hint" data-testid="share-yours">"your classifier: train it to see"</p> }.into_any(),
    };
    view! {
        <li class="movie-row" data-testid="movie-row">
            <A href=format!("/movies/{}", row.slug)>{row.title.clone()}</A>
            <span class="count">{format!("{} reviews", row.reviews)}</span>
            {yours}
            <ShareBar share=row.fresh label=format!("critics: {} fresh", percent(row.fresh)) testid="share-critics"/>
        </li>
    }
}
