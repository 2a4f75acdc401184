//! The page's views, one per concern: each reads the state contexts it shows and calls
//! the actions; none holds state beyond its own widgets'.
//!
//! `labelling`: the review feed; `train_panel`: train, progress, loss curve; `heldout`:
//! accuracy on the held-out sample; `classify`: any text, with sentence highlights;
//! `session`: export, import, reset; `encoder`: model, download, device, features.

mod chart;
mod classify;
mod encoder;
mod heldout;
mod labelling;
mod session;
mod train_panel;

use leptos::prelude::*;

use super::actions::Actions;
use super::services::engine::Engine;
use super::services::index::ReviewIndex;

#[component]
pub fn App(engine: Engine, index: ReviewIndex, webgpu_available: bool) -> impl IntoView {
    Actions::provide(engine, index, webgpu_available);
    view! {
        <header>
            <h1>"Flicktune"</h1>
            <p class="tagline">"A sentiment model that learns from your labels, in this tab. Nothing leaves the page."</p>
        </header>
        <main>
            <labelling::LabelPanel/>
            <train_panel::TrainPanel/>
            <heldout::HeldoutPanel/>
            <classify::ClassifyPanel/>
            <session::SessionPanel/>
            <encoder::ModelPanel/>
            <encoder::BackendPanel/>
            <encoder::IndexPanel/>
        </main>
    }
}
