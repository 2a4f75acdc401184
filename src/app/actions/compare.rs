//! The movie catalogue and the contenders: loading the catalogue for the encoder in use,
//! and, after every change of classifier, training the baselines on exactly the same
//! labels and scoring every contender on the held-out sample and the catalogue, a slice
//! at a time (the page keeps responding; a newer round drops an older one).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::Device;
use leptos::prelude::*;

use super::Actions;
use crate::app::error::PageError;
use crate::app::paced_training;
use crate::app::services::catalogue::{LoadedCatalogue, ReadReviews, word_vectors_of};
use crate::app::services::engine::protocol::Progress;
use crate::app::state::{CatalogueStatus, Scores, UlmfitScores, UlmfitSeconds};
use crate::classifier::{Classifier, FeatureScaling, TextView};
use crate::compare::{Contender, PerContender, ScaledNbSvm, accuracy};
use crate::encoders::ModelName;
use crate::features::Pooling;
use crate::nbsvm::NbSvm;
use crate::session::{Label, LabelSource, unlabelled_rows};
use crate::training::{Example, FeatureSource};
use crate::ulmfit::UlmfitConfig;

/// Reviews scored per step between yields to the browser.
const SCORED_PER_STEP: usize = 400;

/// Word vectors of the bundled reviews, for the encoder they were read with.
pub struct ReviewWords {
    model: ModelName,
    sample: Vec<Vec<f32>>,
    heldout: Vec<Vec<f32>>,
}

/// The contenders trained on one set of labels.
struct Contenders {
    nbsvm: ScaledNbSvm,
    word_vectors: Classifier,
    encoder: Classifier,
    /// The page's classifier, if it reads the pretrained encoder's features (the ones the
    /// catalogue has); `None` while it reads a fine-tuned encoder.
    recipe_on_pretrained: Option<Arc<Classifier>>,
    /// The page's classifier as it is, for the held-out sample (whose features in use
    /// are always its encoder's).
    recipe: Option<Arc<Classifier>>,
}

impl Actions {
    /// Loads the movie catalogue for `model`, whose weights have this sha256.
    pub(super) async fn load_catalogue(self, model: ModelName, weights_sha256: &str) {
        self.catalogue.loading();
        match LoadedCatalogue::load(model, weights_sha256).await {
            Ok(catalogue) if self.encoder.model_untracked() == model => self.catalogue.loaded(catalogue),
            Ok(_) => {}
            Err(e) => self.catalogue.unavailable(e.to_string()),
        }
    }

    /// Trains the baselines on the labels and scores every contender; the views follow.
    /// ULMFiT follows while Compare is open, once the others are shown: it takes minutes.
    pub fn request_comparison(self) {
        leptos::task::spawn_local(async move {
            let round = self.comparison.begin();
            if let Err(e) = self.compare(round).await {
                return self.comparison.failed(round, e.to_string());
            }
            self.run_ulmfit(round).await;
        });
    }

    /// Trains ULMFiT for the current round's labels unless it has or is (Compare opened).
    pub fn request_ulmfit(self) {
        leptos::task::spawn_local(self.run_ulmfit(self.comparison.current_round()));
    }

    async fn run_ulmfit(self, round: u64) {
        let comparison = self.comparison;
        if !comparison.is_ulmfit_wanted(round) || !comparison.ulmfit_starts(round) {
            return;
        }
        let outcome = self.compare_ulmfit(round).await;
        comparison.ulmfit_stops(round);
        if let Err(e) = outcome {
            comparison.ulmfit_failed(round, e.to_string());
        }
    }

    async fn compare(self, round: u64) -> Result<(), PageError> {
        let comparison = self.comparison;
        let labels = self.labels.labels_untracked();
        let Some(recipe) = self.labels.classifier_untracked() else {
            comparison.clear(round);
            return Ok(());
        };
        if !self.labels.has_both_classes_untracked() {
            comparison.clear(round);
            return Ok(());
        }
        let catalogue = self.catalogue.get_untracked();
        if catalogue.is_none() && self.catalogue.status_untracked() == CatalogueStatus::Loading {
            // Scores without the movies would be computed again the moment they arrive.
            comparison.clear(round);
            return Ok(());
        }
        // After a reload the scores kept for exactly these labels, this classifier and
        // this catalogue are shown as they are: the contenders would be trained again the
        // same. Only the first round looks (later rounds follow a new classifier).
        let key = catalogue.as_deref().map(|c| scores_key(&labels, &recipe, c));
        let kept = key.as_deref().filter(|_| !comparison.has_scores_untracked());
        if let Some(kept) = kept.and_then(|key| Scores::kept(key, recipe.clone())) {
            comparison.finished(round, kept);
            return Ok(());
        }
        if !self.reviews.is_complete_untracked() {
            comparison.clear(round);
            return Ok(());
        }
        let read = match &catalogue {
            Some(c) => Some(c.read_reviews(&self.engine()).await?),
            None => None,
        };
        let catalogue = catalogue.as_deref().zip(read);
        let words = self.review_words().await?;
        let started = js_sys::Date::now();
        let Some(contenders) = self.train_contenders(round, &labels, recipe, &words, catalogue).await? else {
            return Ok(());
        };
        let trained = js_sys::Date::now();
        let heldout = self.score_heldout(&contenders, &words);
        let labelled: HashMap<usize, u8> =
            labels.iter().filter_map(|l| Some((l.catalogue_review()?, l.label))).collect();
        let mut scores: PerContender<Option<Vec<f32>>> = Default::default();
        let mut critics = [None; Contender::COUNT];
        if let Some((catalogue, read)) = catalogue {
            scores = score_catalogue(&contenders, catalogue, read).await;
            for contender in Contender::ALL {
                let Some(probabilities) = &scores[contender.index()] else { continue };
                critics[contender.index()] = critics_agreement(probabilities, catalogue, &labelled);
            }
        }
        let (shown, shown_classifier) = match &contenders.recipe_on_pretrained {
            Some(recipe) => (Contender::Recipe, recipe.clone()),
            None => (Contender::Encoder, Arc::new(contenders.encoder.clone())),
        };
        let (train_seconds, score_seconds) = ((trained - started) / 1e3, (js_sys::Date::now() - trained) / 1e3);
        let scores = Scores {
            labels: labels.len(),
            catalogue: scores,
            heldout,
            critics,
            shown,
            shown_classifier,
            labelled,
            train_seconds,
            score_seconds,
            ulmfit_seconds: None,
        };
        if let Some(key) = &key {
            scores.keep(key);
        }
        comparison.finished(round, scores);
        Ok(())
    }

    /// ULMFiT trained on the round's labels in the engine's worker (its language model
    /// tuned to the sample first, once), then scored on the held-out sample and the
    /// catalogue; its scores join the round's. Nothing to do when the round's scores
    /// have ULMFiT's already (kept from before a reload), or a newer round started.
    async fn compare_ulmfit(self, round: u64) -> Result<(), PageError> {
        let comparison = self.comparison;
        let Some(scores) = comparison.scores_of(round) else { return Ok(()) };
        if scores.heldout[Contender::Ulmfit.index()].is_some() {
            return Ok(());
        }
        let labels = self.labels.labels_untracked();
        let labelled: Vec<(String, u8)> = labels.iter().map(|l| (l.text.clone(), l.label)).collect();
        let sample: Vec<String> =
            self.reviews.with_sample_untracked(|s| s.iter().map(|e| e.review.text.clone()).collect());
        const DOWNLOADING: &str = "downloading its language model";
        let part = std::cell::RefCell::new(String::from(DOWNLOADING));
        let progress = |p: Progress| match p {
            Progress::Part(what) => {
                comparison.ulmfit_working(round, &what, 0, 0);
                *part.borrow_mut() = what;
            }
            Progress::Step { step, total, .. } => comparison.ulmfit_working(round, &part.borrow(), step, total),
            Progress::File(file) => {
                comparison.ulmfit_working(round, &part.borrow(), file.done as usize, file.total as usize)
            }
        };
        comparison.ulmfit_working(round, DOWNLOADING, 0, 0);
        let cancelled = move || !comparison.is_ulmfit_wanted(round);
        let engine = self.engine();
        let Some(trained) =
            engine.train_ulmfit(labelled, sample, UlmfitConfig::for_page(), &progress, &cancelled).await?
        else {
            return Ok(());
        };
        let started = js_sys::Date::now();
        progress(Progress::Part("scoring the held-out reviews and the catalogue".into()));
        let (texts, gold): (Vec<String>, Vec<u8>) =
            self.reviews.with_heldout_untracked(|h| h.iter().map(|e| (e.review.text.clone(), e.review.label)).unzip());
        let heldout = accuracy(engine.ulmfit_positive(&texts).await?.into_iter().zip(gold));
        let catalogue = self.catalogue.get_untracked();
        let mut on_catalogue = None;
        if let Some(catalogue) = &catalogue {
            let texts: Vec<String> =
                (0..catalogue.len()).filter_map(|i| Some(catalogue.review(i)?.1.text.clone())).collect();
            let mut probabilities = Vec::with_capacity(texts.len());
            for part in texts.chunks(SCORED_PER_STEP) {
                if cancelled() {
                    return Ok(());
                }
                probabilities.extend(engine.ulmfit_positive(part).await?);
                comparison.ulmfit_working(round, "scoring the catalogue", probabilities.len(), texts.len());
            }
            on_catalogue = Some(probabilities);
        }
        let critics = catalogue
            .as_deref()
            .zip(on_catalogue.as_deref())
            .and_then(|(catalogue, p)| critics_agreement(p, catalogue, &scores.labelled));
        let seconds = UlmfitSeconds {
            tuning: trained.tuning_seconds,
            training: trained.training_seconds,
            scoring: (js_sys::Date::now() - started) / 1e3,
        };
        let key = match (self.labels.classifier_untracked(), catalogue.as_deref()) {
            (Some(recipe), Some(catalogue)) => Some(scores_key(&labels, &recipe, catalogue)),
            _ => None,
        };
        comparison.ulmfit_scored(
            round,
            UlmfitScores { heldout, critics, catalogue: on_catalogue, seconds },
            key.as_deref(),
        );
        Ok(())
    }

    /// The bundled reviews' word vectors, read once per encoder.
    async fn review_words(self) -> Result<Rc<ReviewWords>, PageError> {
        let model = self.encoder.model_untracked();
        if let Some(words) = self.review_words.get_value().filter(|w| w.model == model) {
            return Ok(words);
        }
        let engine = self.engine();
        let texts = |heldout: bool| {
            let read = |part: &[crate::app::services::index::Entry]| -> Vec<String> {
                part.iter().map(|e| e.review.text.clone()).collect()
            };
            if heldout { self.reviews.with_heldout_untracked(read) } else { self.reviews.with_sample_untracked(read) }
        };
        let sample = word_vectors_of(&engine, &texts(false)).await?;
        let heldout = word_vectors_of(&engine, &texts(true)).await?;
        let words = Rc::new(ReviewWords { model, sample, heldout });
        self.review_words.set_value(Some(words.clone()));
        Ok(words)
    }

    /// NB-SVM, word vectors and encoder features, each on exactly `labels`; `None` if a
    /// newer round started meanwhile.
    async fn train_contenders(
        self,
        round: u64,
        labels: &[Label],
        recipe: Arc<Classifier>,
        words: &ReviewWords,
        catalogue: Option<(&LoadedCatalogue, &ReadReviews)>,
    ) -> Result<Option<Contenders>, PageError> {
        // Two small logistic regressions: the CPU trains them faster than a GPU's dispatch
        // would, and leaves the GPU to the page's own training.
        let cpu = Device::flex();
        let gold: Vec<u8> = labels.iter().map(|l| l.label).collect();
        // What each contender reads of a labelled review: the bundled copy where there is one.
        let (views, labelled_words) = self.labelled_text(labels, words, catalogue).await?;
        let ngrams: Vec<&[String]> = views.iter().map(|v| v.ngrams.as_slice()).collect();
        let unlabelled_ngrams: Vec<Vec<String>> = self
            .reviews
            .with_sample_untracked(|sample| unlabelled_rows(sample, labels).map(|e| e.view.ngrams.clone()).collect());
        let nbsvm = ScaledNbSvm::new(NbSvm::train(&ngrams, &gold, 0), &unlabelled_ngrams);

        let comparison = self.comparison;
        let cancelled = move || !comparison.is_current(round);
        let quiet = |_: usize, _: usize, _: f32| {};
        let spec = self.encoder.model_untracked().spec();
        // Not the encoder's output but its input table, averaged: the source only labels it.
        let words_source = FeatureSource { encoder: spec.name, pooling: Pooling::Chunks };
        let unlabelled_words = unlabelled_rows(&words.sample, labels);
        let scaling = FeatureScaling::fit(&labelled_words.iter().chain(unlabelled_words).collect::<Vec<_>>());
        let examples: Vec<Example> =
            labelled_words.iter().zip(&gold).map(|(features, &label)| Example { features, label }).collect();
        let Some(word_vectors) =
            paced_training::train(&cpu, &examples, scaling, words_source, &quiet, &cancelled).await?
        else {
            return Ok(None);
        };

        let data = self.training_data(labels, true).await?;
        let source = FeatureSource { encoder: spec.name, pooling: spec.classifier_pooling };
        let examples: Vec<Example> =
            data.labelled.iter().map(|(features, label)| Example { features, label: *label }).collect();
        let Some(encoder) =
            paced_training::train(&cpu, &examples, data.scaling.clone(), source, &quiet, &cancelled).await?
        else {
            return Ok(None);
        };
        let recipe_on_pretrained = recipe.tuned_layers.is_none().then(|| recipe.clone());
        Ok(Some(Contenders { nbsvm, word_vectors, encoder, recipe_on_pretrained, recipe: Some(recipe) }))
    }

    /// Each label's text view and word vector.
    async fn labelled_text(
        self,
        labels: &[Label],
        words: &ReviewWords,
        catalogue: Option<(&LoadedCatalogue, &ReadReviews)>,
    ) -> Result<(Vec<TextView>, Vec<Vec<f32>>), PageError> {
        let mut views = Vec::with_capacity(labels.len());
        let mut vectors = Vec::with_capacity(labels.len());
        for label in labels {
            let bundled = match label.source {
                LabelSource::Sample => self
                    .reviews
                    .with_sample_untracked(|s| s.get(label.review).map(|e| e.view.clone()))
                    .zip(words.sample.get(label.review).cloned()),
                LabelSource::Catalogue => catalogue.and_then(|(_, read)| {
                    Some((read.views.get(label.review)?.clone(), read.word_vectors.get(label.review)?.clone()))
                }),
            };
            let (view, vector) = match bundled {
                Some(known) => known,
                None => {
                    let vector = word_vectors_of(&self.engine(), std::slice::from_ref(&label.text)).await?;
                    (TextView::of(&label.text), vector.into_iter().next().ok_or(PageError::ShortOutput)?)
                }
            };
            views.push(view);
            vectors.push(vector);
        }
        Ok((views, vectors))
    }

    /// Each contender's accuracy on the held-out sample.
    fn score_heldout(self, contenders: &Contenders, words: &ReviewWords) -> PerContender<Option<f32>> {
        self.reviews.with_heldout_untracked(|heldout| {
            let gold = |i: usize| heldout[i].review.label;
            let over = |probability: &dyn Fn(usize) -> Option<f32>| {
                accuracy((0..heldout.len()).filter_map(|i| Some((probability(i)?, gold(i)))))
            };
            let nbsvm = over(&|i| Some(contenders.nbsvm.positive(&heldout[i].view.ngrams)));
            let word_vectors = over(&|i| positive(&contenders.word_vectors, words.heldout.get(i)?, &heldout[i].view));
            let encoder = over(&|i| positive(&contenders.encoder, heldout[i].pretrained.as_deref()?, &heldout[i].view));
            let recipe = contenders
                .recipe
                .as_ref()
                .and_then(|recipe| over(&|i| positive(recipe, heldout[i].features.as_deref()?, &heldout[i].view)));
            [nbsvm, word_vectors, encoder, recipe, None]
        })
    }
}

/// Every contender's positive probability for each catalogue review (the recipe's only
/// while it reads the pretrained encoder).
async fn score_catalogue(
    contenders: &Contenders,
    catalogue: &LoadedCatalogue,
    read: &ReadReviews,
) -> PerContender<Option<Vec<f32>>> {
    let mut out: [Vec<f32>; 4] = Default::default();
    let mut recipe_ok = contenders.recipe_on_pretrained.is_some();
    for start in (0..catalogue.len()).step_by(SCORED_PER_STEP) {
        for i in start..(start + SCORED_PER_STEP).min(catalogue.len()) {
            let (view, features) = (&read.views[i], catalogue.features(i).unwrap_or_default());
            out[0].push(contenders.nbsvm.positive(&view.ngrams));
            out[1].push(positive(&contenders.word_vectors, &read.word_vectors[i], view).unwrap_or(0.5));
            out[2].push(positive(&contenders.encoder, features, view).unwrap_or(0.5));
            if let Some(recipe) = &contenders.recipe_on_pretrained {
                match positive(recipe, features, view) {
                    Some(p) => out[3].push(p),
                    None => recipe_ok = false,
                }
            }
        }
        crate::app::yield_to_browser().await;
    }
    let [nbsvm, word_vectors, encoder, recipe] = out;
    [Some(nbsvm), Some(word_vectors), Some(encoder), recipe_ok.then_some(recipe), None]
}

/// The share of the catalogue's reviews, bar the labelled ones, whose critic's fresh or
/// rotten `probabilities` (in catalogue order) call right.
fn critics_agreement(probabilities: &[f32], catalogue: &LoadedCatalogue, labelled: &HashMap<usize, u8>) -> Option<f32> {
    accuracy(
        probabilities
            .iter()
            .enumerate()
            .filter(|(i, _)| !labelled.contains_key(i))
            .filter_map(|(i, &p)| Some((p, u8::from(catalogue.review(i)?.1.fresh)))),
    )
}

/// What a round's scores are computed from, as a sha256: the labels (each with its text
/// and source), the page's classifier and the catalogue read (its encoder's weights and size).
fn scores_key(labels: &[Label], classifier: &Classifier, catalogue: &LoadedCatalogue) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(serde_json::to_vec(labels).unwrap_or_default());
    hash.update(classifier.to_json());
    hash.update(&catalogue.catalogue.weights_sha256);
    hash.update(catalogue.len().to_le_bytes());
    format!("{:x}", hash.finalize())
}

fn positive(classifier: &Classifier, features: &[f32], view: &TextView) -> Option<f32> {
    classifier.predict(features, view).ok().map(|p| p.positive)
}
