//! The bundled reviews as the views see them: the index service behind a reactive handle.
//! The index itself is plain data (not thread-safe, outside the reactive graph); every
//! change to its features goes through here and notifies, so each view that reads
//! features reads them again, and nothing is bumped by hand.

use leptos::prelude::*;

use crate::app::services::index::{Entry, FeatureOrigin, ReviewIndex};

#[derive(Clone, Copy)]
pub struct Reviews {
    index: StoredValue<ReviewIndex, LocalStorage>,
    /// Features known for the bundled reviews: `(done, total)`.
    progress: RwSignal<(usize, usize)>,
    origin: RwSignal<Option<FeatureOrigin>>,
    /// Loading the texts is over (done or failed).
    ready: RwSignal<bool>,
    /// Notified whenever the features in use change.
    features_changed: Trigger,
}

impl Reviews {
    pub fn new(index: ReviewIndex) -> Self {
        Reviews {
            index: StoredValue::new_local(index),
            progress: RwSignal::new((0, 0)),
            origin: RwSignal::new(None),
            ready: RwSignal::new(false),
            features_changed: Trigger::new(),
        }
    }

    /// The index service itself, for actions that fill it in.
    pub fn index(&self) -> ReviewIndex {
        self.index.get_value()
    }

    /// Reads the sample to label; a view reading it this way follows its features.
    pub fn with_sample<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.features_changed.track();
        self.with_sample_untracked(read)
    }

    /// Reads the sample without following it: for actions, and views that pick their moment.
    pub fn with_sample_untracked<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.index.with_value(|index| index.with_sample(read))
    }

    /// Reads the gold-labelled held-out sample, following its features.
    pub fn with_heldout<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.features_changed.track();
        self.with_heldout_untracked(read)
    }

    pub fn with_heldout_untracked<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.index.with_value(|index| index.with_heldout(read))
    }

    /// The review's text ("" if there is no such review).
    pub fn text(&self, review: usize) -> String {
        self.with_sample_untracked(|s| s.get(review).map(|e| e.review.text.clone()).unwrap_or_default())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.get()
    }

    pub fn is_ready_untracked(&self) -> bool {
        self.ready.get_untracked()
    }

    /// The texts are loaded (or could not be): views may show them.
    pub fn texts_loaded(&self) {
        self.ready.set(true);
    }

    pub fn progress(&self) -> (usize, usize) {
        self.progress.get()
    }

    /// How many reviews there are to know features of (0 before the texts are loaded).
    pub fn total_untracked(&self) -> usize {
        self.progress.with_untracked(|&(_, total)| total)
    }

    /// Every review's features are known.
    pub fn is_complete(&self) -> bool {
        self.progress.with(|&(done, total)| total > 0 && done == total)
    }

    pub fn is_complete_untracked(&self) -> bool {
        self.progress.with_untracked(|&(done, total)| total > 0 && done == total)
    }

    /// More features are known.
    pub fn indexed(&self, done: usize, total: usize) {
        self.progress.set((done, total));
        self.features_changed.notify();
    }

    pub fn origin(&self) -> Option<FeatureOrigin> {
        self.origin.get()
    }

    pub fn set_origin(&self, origin: FeatureOrigin) {
        self.origin.set(Some(origin));
    }

    /// The features in use were swapped (a fine-tuned encoder's, or the pretrained one's again).
    pub fn features_swapped(&self) {
        self.features_changed.notify();
    }
}
