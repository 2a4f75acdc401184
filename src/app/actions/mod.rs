//! What the page does, as methods on [`Actions`]: load the encoder and the reviews'
//! features (`load`), restore, import, export and reset the person's work (`session`),
//! train and fine-tune (`train`), put a fine-tuned encoder in use (`tuned`), classify a
//! text (`classify`), load the movie catalogue and set the baselines against transfer
//! learning (`compare`). Each reads and changes the state contexts through their methods;
//! the views call these and show the state.

mod classify;
mod compare;
mod load;
mod session;
mod train;
mod tuned;

use leptos::prelude::*;

use super::services::engine::Engine;
use super::services::index::ReviewIndex;
use super::state::{CatalogueState, Comparison, EncoderState, Labels, Reviews, Training};

pub use classify::Highlight;
pub use session::{EXPORT_NAME, Imported};
pub use train::confusion;

/// The services and the state contexts, for the actions that span them.
#[derive(Clone, Copy)]
pub struct Actions {
    engine: StoredValue<Engine, LocalStorage>,
    encoder: EncoderState,
    reviews: Reviews,
    labels: Labels,
    training: Training,
    catalogue: CatalogueState,
    comparison: Comparison,
    review_words: StoredValue<Option<std::rc::Rc<compare::ReviewWords>>, LocalStorage>,
}

impl Actions {
    /// Makes the state contexts, provides them and these actions to the views, and starts:
    /// the saved work is restored and the encoder loads (again whenever it is changed).
    pub fn provide(engine: Engine, index: ReviewIndex, webgpu_available: bool) -> Self {
        let encoder = EncoderState::new(webgpu_available);
        let actions = Actions {
            engine: StoredValue::new_local(engine),
            encoder,
            reviews: Reviews::new(index),
            labels: Labels::new(encoder),
            training: Training::new(),
            catalogue: CatalogueState::new(),
            comparison: Comparison::new(),
            review_words: StoredValue::new_local(None),
        };
        provide_context(actions.encoder);
        provide_context(actions.reviews);
        provide_context(actions.labels);
        provide_context(actions.training);
        provide_context(actions.catalogue);
        provide_context(actions.comparison);
        provide_context(actions);
        leptos::task::spawn_local(actions.restore_session());
        // A stopped worker (a panic inside it) is replaced: the encoder loads again in a new one.
        actions.engine().on_worker_stopped(move |_| encoder.reload());
        Effect::new(move |_| {
            let (model, prefer) = encoder.load_request();
            leptos::task::spawn_local(actions.load(model, prefer));
        });
        // Retrain after each label given or undone, when the setting is on.
        Effect::new(move |first: Option<()>| {
            actions.labels.track_edits();
            if first.is_some() && actions.training.auto_retrain.get_untracked() {
                actions.request_retrain();
            }
        });
        // The contenders are trained and scored again whenever the classifier changes
        // (trained, restored, imported, reset), the catalogue arrives (or cannot), or the
        // bundled reviews' features are all known.
        let reviews_complete = Memo::new(move |_| actions.reviews.is_complete());
        Effect::new(move |_| {
            let _ = (actions.labels.classifier(), actions.catalogue.get(), actions.catalogue.status());
            let _ = reviews_complete.get();
            actions.request_comparison();
        });
        Effect::new(move |_| {
            let (scores, catalogue) = (actions.comparison.scores(), actions.catalogue.get());
            super::js_api::publish_comparison(scores.as_deref(), catalogue.as_deref());
        });
        actions
    }

    fn engine(&self) -> Engine {
        self.engine.get_value()
    }
}
