//! The movie catalogue as the views see it: loading, loaded (for the encoder in use), or
//! why not.

use std::sync::Arc;

use leptos::prelude::*;

use crate::app::services::catalogue::LoadedCatalogue;

#[derive(Debug, Clone, PartialEq)]
pub enum CatalogueStatus {
    /// Waiting for the encoder and the bundled reviews, or downloading.
    Loading,
    Ready,
    /// Why the catalogue cannot be shown.
    Unavailable(String),
}

#[derive(Clone, Copy)]
pub struct CatalogueState {
    loaded: RwSignal<Option<Arc<LoadedCatalogue>>>,
    status: RwSignal<CatalogueStatus>,
}

impl CatalogueState {
    pub fn new() -> Self {
        CatalogueState { loaded: RwSignal::new(None), status: RwSignal::new(CatalogueStatus::Loading) }
    }

    /// The catalogue, following it.
    pub fn get(&self) -> Option<Arc<LoadedCatalogue>> {
        self.loaded.get()
    }

    pub fn get_untracked(&self) -> Option<Arc<LoadedCatalogue>> {
        self.loaded.get_untracked()
    }

    pub fn status(&self) -> CatalogueStatus {
        self.status.get()
    }

    pub fn status_untracked(&self) -> CatalogueStatus {
        self.status.get_untracked()
    }

    /// Another encoder is loading: the catalogue waits for it.
    pub fn loading(&self) {
        self.loaded.set(None);
        self.status.set(CatalogueStatus::Loading);
    }

    pub fn loaded(&self, catalogue: LoadedCatalogue) {
        self.loaded.set(Some(Arc::new(catalogue)));
        self.status.set(CatalogueStatus::Ready);
    }

    pub fn unavailable(&self, why: String) {
        self.loaded.set(None);
        self.status.set(CatalogueStatus::Unavailable(why));
    }
}
