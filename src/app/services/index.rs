//! The page's bundled reviews and their features: the sample to label (from `train`)
//! and the gold-labelled held-out sample (from `test`, only ever used to measure).
//!
//! Features come from the cache `flicktune fetch` wrote, when it was computed with the
//! weights the page loaded and agrees with the page's own encoder on a spot check;
//! otherwise the page computes them in the background, one review per step. After
//! fine-tuning, the features in use are the tuned encoder's; the pretrained encoder's
//! are kept beside them, since fine-tuning always starts again from those.

use std::cell::RefCell;
use std::rc::Rc;

use super::engine::Engine;
use super::engine::protocol::Encoder;
use super::loader;
use crate::app::error::PageError;
use crate::classifier::TextView;
use crate::encoders::ModelName;
use crate::features::FeatureCache;

/// A bundled review with its gold label (1 positive, 0 negative).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SampleReview {
    pub text: String,
    pub label: u8,
}

/// A bundled review, what the classifier reads from its text, and, once known, its features.
#[derive(Debug, Clone)]
pub struct Entry {
    pub review: SampleReview,
    /// Its n-grams and lexicon score, computed once when the texts are read.
    pub view: TextView,
    /// From the encoder in use.
    pub features: Option<Vec<f32>>,
    /// From the pretrained encoder: the same as `features` until a fine-tuned encoder
    /// is in use (fine-tuning starts from these).
    pub pretrained: Option<Vec<f32>>,
}

/// Features of every bundled review from one encoder, in index order.
pub type AllFeatures = FeatureCache;

#[derive(Default)]
struct Reviews {
    sample: Vec<Entry>,
    heldout: Vec<Entry>,
}

#[derive(Clone, Default)]
pub struct ReviewIndex {
    reviews: Rc<RefCell<Reviews>>,
}

/// Where the features came from, for the page to say.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureOrigin {
    Cache,
    /// Why the cache was not used.
    ComputedHere(String),
}

/// How far a cached vector may be from the page's own: f32 rounding across backends,
/// well below anything that changes a prediction.
const SPOT_CHECK_TOLERANCE: f32 = 1e-3;

impl ReviewIndex {
    pub fn with_sample<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.part(false, read)
    }

    pub fn with_heldout<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        self.part(true, read)
    }

    pub fn sample_len(&self) -> usize {
        self.reviews.borrow().sample.len()
    }

    pub fn sample_texts(&self) -> Vec<String> {
        self.reviews.borrow().sample.iter().map(|e| e.review.text.clone()).collect()
    }

    /// Reads both samples (texts and gold labels). Their features come later, from [`Self::index`].
    pub async fn load_texts(&self) -> Result<(), PageError> {
        let sample = read_jsonl("/data/sample.jsonl").await?;
        let heldout = read_jsonl("/data/heldout.jsonl").await?;
        let entries = |reviews: Vec<SampleReview>| {
            reviews
                .into_iter()
                .map(|review| Entry { view: TextView::of(&review.text), review, features: None, pretrained: None })
                .collect()
        };
        *self.reviews.borrow_mut() = Reviews { sample: entries(sample), heldout: entries(heldout) };
        Ok(())
    }

    /// Fills in the features for the loaded encoder, reporting `(done, total)`; stops
    /// early when `keep_going` turns false (a newer model load supersedes this one).
    pub async fn index(
        &self,
        engine: &Engine,
        model: ModelName,
        weights_sha256: &str,
        on_progress: &dyn Fn(usize, usize),
        keep_going: &dyn Fn() -> bool,
    ) -> Result<FeatureOrigin, PageError> {
        self.clear_features();
        let total = self.sample_len() + self.reviews.borrow().heldout.len();
        on_progress(0, total);
        let why_not = match self.use_cache(engine, model, weights_sha256).await {
            Ok(()) => {
                on_progress(total, total);
                return Ok(FeatureOrigin::Cache);
            }
            Err(why) => why.to_string(),
        };
        let mut done = 0;
        for heldout in [false, true] {
            let count = if heldout { total - self.sample_len() } else { self.sample_len() };
            for i in 0..count {
                crate::app::yield_to_browser().await;
                if !keep_going() {
                    return Ok(FeatureOrigin::ComputedHere(why_not));
                }
                let text = self.part(heldout, |p| p[i].review.text.clone());
                let vector = engine.embed_in_background(&[text], Encoder::InUse).await?.remove(0).vector;
                let mut reviews = self.reviews.borrow_mut();
                let entry = &mut reviews.part_mut(heldout)[i];
                (entry.features, entry.pretrained) = (Some(vector.clone()), Some(vector));
                done += 1;
                on_progress(done, total);
            }
        }
        Ok(FeatureOrigin::ComputedHere(why_not))
    }

    /// Every bundled review's features from the engine's candidate (a fine-tuned encoder
    /// not yet in use), one review per step, reporting `(done, total)`. `None` if `keep_going` turned
    /// false first. `model` and `weights_sha256` label the result.
    pub async fn read_all(
        &self,
        engine: &Engine,
        (model, weights_sha256): (ModelName, &str),
        on_progress: &dyn Fn(usize, usize),
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Option<AllFeatures>, PageError> {
        let (sample, heldout) = (self.sample_len(), self.reviews.borrow().heldout.len());
        let mut vectors = Vec::with_capacity(sample + heldout);
        for i in 0..sample + heldout {
            on_progress(i, sample + heldout);
            crate::app::yield_to_browser().await;
            if !keep_going() {
                return Ok(None);
            }
            let text = if i < sample {
                self.part(false, |p| p[i].review.text.clone())
            } else {
                self.part(true, |p| p[i - sample].review.text.clone())
            };
            vectors.push(engine.embed_in_background(&[text], Encoder::Candidate).await?.remove(0).vector);
        }
        on_progress(sample + heldout, sample + heldout);
        let held = vectors.split_off(sample);
        Ok(Some(FeatureCache {
            model: model.full_name().into(),
            weights_sha256: weights_sha256.into(),
            pooling: model.spec().classifier_pooling.name().into(),
            dim: vectors.first().map_or(0, Vec::len),
            sample: vectors,
            heldout: held,
        }))
    }

    /// Makes `features` (from [`Self::read_all`]) the ones in use, or, with `None`, the
    /// pretrained encoder's again. `false` if they do not fit the bundled reviews.
    pub fn use_features(&self, features: Option<&AllFeatures>) -> bool {
        let mut reviews = self.reviews.borrow_mut();
        let Reviews { sample, heldout } = &mut *reviews;
        match features {
            Some(f) if f.is_consistent(sample.len(), heldout.len()) => {
                for (entry, vector) in sample.iter_mut().zip(&f.sample).chain(heldout.iter_mut().zip(&f.heldout)) {
                    entry.features = Some(vector.clone());
                }
                true
            }
            Some(_) => false,
            None => {
                sample.iter_mut().chain(heldout.iter_mut()).for_each(|e| e.features = e.pretrained.clone());
                true
            }
        }
    }

    fn clear_features(&self) {
        let Reviews { sample, heldout } = &mut *self.reviews.borrow_mut();
        sample.iter_mut().chain(heldout.iter_mut()).for_each(|e| (e.features, e.pretrained) = (None, None));
    }

    fn part<T>(&self, heldout: bool, read: impl FnOnce(&[Entry]) -> T) -> T {
        let reviews = self.reviews.borrow();
        read(if heldout { &reviews.heldout } else { &reviews.sample })
    }

    /// Takes the fetched features if they belong to these weights and agree with the
    /// page's own encoder on the first review; says why not otherwise.
    async fn use_cache(&self, engine: &Engine, model: ModelName, weights_sha256: &str) -> Result<(), PageError> {
        let url = format!("/data/features.{}.json", model.full_name());
        let cache: FeatureCache = serde_json::from_str(&loader::fetch_text(&url).await?)
            .map_err(|source| PageError::Json { what: url, source })?;
        let (sample_len, heldout_len) = (self.sample_len(), self.reviews.borrow().heldout.len());
        if cache.weights_sha256 != weights_sha256 {
            return Err(PageError::CacheUnusable("was computed with other weights"));
        }
        if cache.model != model.full_name()
            || cache.pooling != model.spec().classifier_pooling.name()
            || !cache.is_consistent(sample_len, heldout_len)
            || sample_len == 0
        {
            return Err(PageError::CacheUnusable("does not match the bundled reviews"));
        }
        let first = self.part(false, |p| p[0].review.text.clone());
        let mine = engine.embed_for_classifier(&[first], Encoder::InUse).await?.remove(0).vector;
        let worst = mine.iter().zip(&cache.sample[0]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        if mine.len() != cache.dim || worst > SPOT_CHECK_TOLERANCE {
            return Err(PageError::CacheDisagrees(worst));
        }
        let Reviews { sample, heldout } = &mut *self.reviews.borrow_mut();
        for (entry, vector) in sample.iter_mut().zip(cache.sample).chain(heldout.iter_mut().zip(cache.heldout)) {
            (entry.features, entry.pretrained) = (Some(vector.clone()), Some(vector));
        }
        Ok(())
    }
}

impl Reviews {
    fn part_mut(&mut self, heldout: bool) -> &mut Vec<Entry> {
        if heldout { &mut self.heldout } else { &mut self.sample }
    }
}

async fn read_jsonl(url: &str) -> Result<Vec<SampleReview>, PageError> {
    let text = loader::fetch_text(url).await?;
    let bad_line = |i: usize, problem: String| PageError::Line { file: url.into(), line: i + 1, problem };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let review: SampleReview = serde_json::from_str(l).map_err(|e| bad_line(i, e.to_string()))?;
            if review.label > 1 {
                return Err(bad_line(i, format!("label {} is neither 0 nor 1", review.label)));
            }
            Ok(review)
        })
        .collect()
}
