//! The movie catalogue in the page: downloaded once, checked in full, its features used
//! only if they are the loaded encoder's (same encoder, weights and pooling), and the
//! text views and word vectors the contenders read, computed a slice at a time when the
//! first comparison needs them (a visit without a classifier never does).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::engine::Engine;
use super::loader;
use crate::app::error::PageError;
use crate::catalogue::{Catalogue, CriticReview, Movie};
use crate::classifier::TextView;
use crate::encoders::ModelName;

pub const CATALOGUE_URL: &str = "/data/catalogue.json";
/// Texts read per step between yields to the browser (tokenising is the slow part).
const TEXTS_PER_STEP: usize = 100;

/// The catalogue, with what every contender reads of each review (in catalogue order).
pub struct LoadedCatalogue {
    pub catalogue: Catalogue,
    /// The features' rows (reviews' and sentences').
    pub rows: Vec<Vec<f32>>,
    /// `(movie, review)` of each review in catalogue order.
    pub order: Vec<(usize, usize)>,
    /// What the contenders read of each review, once read.
    read: OnceLock<ReadReviews>,
    by_slug: HashMap<String, usize>,
}

/// Each review (in catalogue order) as the contenders read it.
pub struct ReadReviews {
    pub views: Vec<TextView>,
    /// The reviews' word vectors ([`crate::features::Embedder::word_vectors`], by the pretrained encoder).
    pub word_vectors: Vec<Vec<f32>>,
}

impl LoadedCatalogue {
    /// Downloads and checks the catalogue for `model` with the weights `weights_sha256`.
    pub async fn load(model: ModelName, weights_sha256: &str) -> Result<Self, PageError> {
        let text = loader::fetch_text(CATALOGUE_URL).await?;
        crate::app::yield_to_browser().await;
        let (catalogue, rows) = Catalogue::from_json(text.as_bytes())?;
        if catalogue.encoder != model.full_name() {
            return Err(PageError::CatalogueForAnotherEncoder {
                made_by: catalogue.encoder,
                running: model.full_name().into(),
            });
        }
        if catalogue.weights_sha256 != weights_sha256 || catalogue.pooling != model.spec().classifier_pooling.name() {
            return Err(PageError::CatalogueStale);
        }
        let order: Vec<(usize, usize)> = catalogue
            .movies
            .iter()
            .enumerate()
            .flat_map(|(m, movie)| (0..movie.reviews.len()).map(move |r| (m, r)))
            .collect();
        let by_slug = catalogue.movies.iter().enumerate().map(|(i, m)| (m.slug.clone(), i)).collect();
        Ok(LoadedCatalogue { catalogue, rows, order, read: OnceLock::new(), by_slug })
    }

    /// Every review's text view and word vectors (by the pretrained encoder), read the
    /// first time they are asked for.
    pub async fn read_reviews(&self, engine: &Engine) -> Result<&ReadReviews, PageError> {
        if let Some(read) = self.read.get() {
            return Ok(read);
        }
        let texts: Vec<&str> = (0..self.len()).filter_map(|i| Some(self.review(i)?.1.text.as_str())).collect();
        let (mut views, mut word_vectors) = (Vec::with_capacity(texts.len()), Vec::with_capacity(texts.len()));
        for chunk in texts.chunks(TEXTS_PER_STEP) {
            views.extend(chunk.iter().map(|t| TextView::of(t)));
            word_vectors.extend(engine.word_vectors(chunk).await?);
            crate::app::yield_to_browser().await;
        }
        // A round that started meanwhile may have read them first: the same values.
        Ok(self.read.get_or_init(|| ReadReviews { views, word_vectors }))
    }

    pub fn movie(&self, slug: &str) -> Option<(usize, &Movie)> {
        let i = *self.by_slug.get(slug)?;
        Some((i, &self.catalogue.movies[i]))
    }

    /// The position in catalogue order of a movie's first review.
    pub fn first_review(&self, movie: usize) -> usize {
        self.catalogue.movies[..movie].iter().map(|m| m.reviews.len()).sum()
    }

    pub fn review(&self, index: usize) -> Option<(&Movie, &CriticReview)> {
        let &(m, r) = self.order.get(index)?;
        let movie = &self.catalogue.movies[m];
        Some((movie, &movie.reviews[r]))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// A review's features.
    pub fn features(&self, index: usize) -> Option<&[f32]> {
        Some(&self.rows[self.review(index)?.1.row])
    }
}

/// Word vectors of the bundled sample and held-out reviews, for the word-vector contender.
pub async fn word_vectors_of(engine: &Engine, texts: &[String]) -> Result<Vec<Vec<f32>>, PageError> {
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(TEXTS_PER_STEP / 4) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(engine.word_vectors(&chunk).await?);
        crate::app::yield_to_browser().await;
    }
    Ok(vectors)
}
