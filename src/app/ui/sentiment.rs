//! How every view shows sentiment: a prediction in words, a sentence tinted by its own
//! prediction, and a positive-share bar. Positive is blue and negative orange (told apart
//! with the common colour-vision deficiencies too), and each is also said in words.

use leptos::prelude::*;

use crate::classifier::Prediction;

/// "Predicted positive, 98% sure".
pub fn describe(p: Prediction) -> String {
    format!("Predicted {}, {:.0}% sure", p.label_name(), 100.0 * p.certainty())
}

/// "positive · 98% certainty", as Textflix said it.
pub fn classification(p: Prediction) -> String {
    format!("{} · {:.0}% certainty", p.label_name(), 100.0 * p.certainty())
}

/// The background of a sentence predicted `p`: stronger as it is surer.
pub fn tint(p: Prediction) -> String {
    let strength = (2.0 * (p.certainty() - 0.5)).clamp(0.0, 1.0) * 0.55;
    let colour = if p.label == 1 { "49, 110, 200" } else { "230, 120, 20" };
    format!("rgba({colour}, {strength:.2})")
}

/// A sentence as a text node in a span tinted by its prediction: never parsed as HTML.
pub fn sentence_span(text: String, prediction: Option<Prediction>) -> impl IntoView {
    let (background, title) = prediction.map(|p| (tint(p), describe(p))).unwrap_or_default();
    // A style property, not a style attribute: the server's Content-Security-Policy
    // allows no inline style attributes.
    view! { <span class="sentence" style:background-color=background title=title>{text}</span> }
}

pub fn percent(x: f32) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// A bar split at `share` (positive on the left), labelled in words.
#[component]
pub fn ShareBar(share: f32, label: String, #[prop(optional)] testid: &'static str) -> impl IntoView {
    view! {
        <div class="share" data-testid=testid>
            <div class="share-bar" role="img" aria-label=label.clone()>
                <span class="share-positive" style:width=format!("{:.1}%", 100.0 * share)></span>
            </div>
            <span class="share-label">{label}</span>
        </div>
    }
}
