//! One movie, as Textflix showed it: plot, "N reviews · K positive (P%)", the sentences
//! your classifier finds most positive and most negative, and every critic's review with
//! its classification beside the critic's verdict; label any of them from here.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::sentiment::{ShareBar, classification, percent, sentence_span};
use super::{sort_by, status_line};
use crate::app::state::{CatalogueState, Comparison, Labels};
use crate::classifier::{Prediction, TextView};

/// Sentences shown on each side of the highlights.
const HIGHLIGHTS_PER_SIDE: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    Positive,
    Negative,
    MostCertain,
    LeastCertain,
    Accurate,
    Inaccurate,
}

impl Order {
    const ALL: [Order; 6] =
        [Order::Positive, Order::Negative, Order::MostCertain, Order::LeastCertain, Order::Accurate, Order::Inaccurate];

    fn key(self) -> &'static str {
        match self {
            Order::Positive => "positive",
            Order::Negative => "negative",
            Order::MostCertain => "certain",
            Order::LeastCertain => "uncertain",
            Order::Accurate => "accurate",
            Order::Inaccurate => "inaccurate",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Order::Positive => "Most positive",
            Order::Negative => "Most negative",
            Order::MostCertain => "Most certain",
            Order::LeastCertain => "Least certain",
            Order::Accurate => "Accurate first",
            Order::Inaccurate => "Inaccurate first",
        }
    }
}

/// A review as the movie page shows it.
#[derive(Debug, Clone, PartialEq)]
struct ShownReview {
    /// Its position in catalogue order.
    index: usize,
    text: String,
    fresh: bool,
    prediction: Option<Prediction>,
    /// Its sentences with their own predictions.
    sentences: Vec<(String, Option<Prediction>)>,
    /// The person's label of it, if any (it is then not scored).
    labelled: Option<u8>,
}

#[component]
pub fn MovieView() -> impl IntoView {
    let (catalogue, comparison) = (expect_context::<CatalogueState>(), expect_context::<Comparison>());
    let params = use_params_map();
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let order = RwSignal::new(Order::Positive);
    // The movie and its reviews, each sentence scored by the shown classifier.
    let movie = Memo::new(move |_| {
        let catalogue = catalogue.get()?;
        let (m, movie) = catalogue.movie(&slug())?;
        let scores = comparison.scores();
        let first = catalogue.first_review(m);
        let reviews: Vec<ShownReview> = movie
            .reviews
            .iter()
            .enumerate()
            .map(|(r, review)| {
                let index = first + r;
                let labelled = scores.as_ref().and_then(|s| s.labelled.get(&index).copied());
                let prediction = scores.as_ref().and_then(|s| s.shown(index)).map(Prediction::from_probability);
                let sentences = review
                    .sentences
                    .iter()
                    .map(|s| {
                        let text = review.text[s.start..s.end].to_string();
                        let predicted = scores.as_ref().and_then(|scores| {
                            scores.shown_classifier.predict(&catalogue.rows[s.row], &TextView::of(&text)).ok()
                        });
                        (text, predicted.filter(|_| crate::sentences::has_words(&review.text[s.start..s.end])))
                    })
                    .collect();
                ShownReview { index, text: review.text.clone(), fresh: review.fresh, prediction, sentences, labelled }
            })
            .collect();
        Some((movie.title.clone(), movie.plot.clone(), reviews))
    });
    let body = move || {
        let Some((title, plot, reviews)) = movie.get() else {
            return view! {
                <h2>"Movie"</h2>
                {status_line}
                <p data-testid="movie-missing" class="hint">
                    {move || if catalogue.get().is_some() { "No movie by that name in the catalogue. " } else { "" }}
                    <A href="/movies">"All movies"</A>
                </p>
            }
            .into_any();
        };
        let scored: Vec<&ShownReview> = reviews.iter().filter(|r| r.labelled.is_none()).collect();
        let positive = scored.iter().filter(|r| r.prediction.is_some_and(|p| p.label == 1)).count();
        let known = scored.iter().any(|r| r.prediction.is_some());
        let summary = if known {
            let share = positive as f32 / scored.len().max(1) as f32;
            let label = format!("{} reviews · {positive} positive ({})", scored.len(), percent(share));
            view! { <ShareBar share label testid="movie-summary"/> }.into_any()
        } else {
            view! { <p class="hint" data-testid="movie-summary">{format!("{} reviews", reviews.len())}</p> }.into_any()
        };
        let labelled = reviews.len() - scored.len();
        view! {
            <p class="crumbs"><A href="/movies">"Movies"</A> " ›"</p>
            <h2 data-testid="movie-title">{title}</h2>
            <p class="plot" data-testid="movie-plot">{plot}</p>
            {summary}
            {(labelled > 0).then(|| view! {
                <p class="notice" data-testid="movie-labelled-note">
                    {format!("You labelled {labelled} of these reviews: they now train your classifier and are left out of its score here.")}
                </p>
            })}
            {status_line}
            <Highlights reviews=reviews.clone()/>
            <h3>"Reviews"</h3>
            {sort_by(&Order::ALL, Order::key, Order::label, order, "review-sort")}
            <ul class="critic-reviews" data-testid="critic-reviews">
                {move || sorted(reviews.clone(), order.get()).into_iter().map(review_card).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! { <section class="view" data-testid="movie-view">{body}</section> }
}

fn sorted(mut reviews: Vec<ShownReview>, order: Order) -> Vec<ShownReview> {
    let positive = |r: &ShownReview| r.prediction.map_or(0.5, |p| p.positive);
    let certainty = |r: &ShownReview| r.prediction.map_or(0.5, |p| p.certainty());
    let accurate = |r: &ShownReview| r.prediction.is_some_and(|p| (p.label == 1) == r.fresh);
    match order {
        Order::Positive => reviews.sort_by(|a, b| positive(b).total_cmp(&positive(a))),
        Order::Negative => reviews.sort_by(|a, b| positive(a).total_cmp(&positive(b))),
        Order::MostCertain => reviews.sort_by(|a, b| certainty(b).total_cmp(&certainty(a))),
        Order::LeastCertain => reviews.sort_by(|a, b| certainty(a).total_cmp(&certainty(b))),
        Order::Accurate => reviews.sort_by_key(|r| !accurate(r)),
        Order::Inaccurate => reviews.sort_by_key(accurate),
    }
    reviews
}

/// The sentences the classifier is surest are positive, and negative, side by side.
#[component]
fn Highlights(reviews: Vec<ShownReview>) -> impl IntoView {
    let mut sentences: Vec<(String, Prediction)> = reviews
        .iter()
        .filter(|r| r.labelled.is_none())
        .flat_map(|r| r.sentences.iter().filter_map(|(t, p)| Some((t.trim().to_string(), (*p)?))))
        .collect();
    if sentences.is_empty() {
        return ().into_any();
    }
    sentences.sort_by(|a, b| b.1.positive.total_cmp(&a.1.positive));
    let side = |picked: Vec<(String, Prediction)>| {
        picked.into_iter().map(|(t, p)| view! { <li>{sentence_span(t, Some(p))}</li> }).collect_view()
    };
    let positive: Vec<_> = sentences.iter().filter(|(_, p)| p.label == 1).take(HIGHLIGHTS_PER_SIDE).cloned().collect();
    let negative: Vec<_> =
        sentences.iter().rev().filter(|(_, p)| p.label == 0).take(HIGHLIGHTS_PER_SIDE).cloned().collect();
    view! {
        <div class="highlight-columns" data-testid="movie-highlights">
            <div>
                <h3>"Positive highlights"</h3>
                <ul class="highlight-list" data-testid="highlights-positive">{side(positive)}</ul>
            </div>
            <div>
                <h3>"Negative highlights"</h3>
                <ul class="highlight-list" data-testid="highlights-negative">{side(negative)}</ul>
            </div>
        </div>
    }
    .into_any()
}

fn review_card(review: ShownReview) -> impl IntoView {
    let labels = expect_context::<Labels>();
    let verdict = if review.fresh { "fresh" } else { "rotten" };
    let line = match (review.labelled, review.prediction) {
        (Some(label), _) => format!(
            "you labelled it {}: it trains your classifier and is not scored · critics: {verdict}",
            if label == 1 { "positive" } else { "negative" }
        ),
        (None, Some(p)) => {
            let accurate = if (p.label == 1) == review.fresh { "accurate" } else { "inaccurate" };
            format!("classification: {} · critics: {verdict} · {accurate} classification", classification(p))
        }
        (None, None) => format!("critics: {verdict} · not classified yet"),
    };
    let (index, text) = (review.index, review.text.clone());
    let give = move |label: u8| {
        let text = text.clone();
        move |_| labels.give_catalogue(index, label, text.clone())
    };
    view! {
        <li class="review critic-review" data-testid="critic-review">
            <p class="text">{review.sentences.into_iter().map(|(t, p)| sentence_span(t, p)).collect_view()}</p>
            <p class="meta" data-testid="critic-review-line">{line}</p>
            <div class="actions">
                <button class="positive" data-testid="critic-label-positive" on:click=give(1)>"Label positive"</button>
                <button class="negative" data-testid="critic-label-negative" on:click=give(0)>"Label negative"</button>
            </div>
        </li>
    }
}
