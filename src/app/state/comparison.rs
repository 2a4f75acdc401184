//! The contenders' latest scores (the catalogue's reviews and the held-out sample, each
//! contender trained on the same labels) and their learning curve, both kept in the
//! browser: the scores with a key naming what they were computed from, so that after a
//! reload the views show them at once instead of reading every review again.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::app::services::storage;
use crate::classifier::Classifier;
use crate::compare::{ComparePoint, Contender, PerContender, per_contender};

/// Everything the contenders said after one round of training.
#[derive(Debug, Clone)]
pub struct Scores {
    pub labels: usize,
    /// Each contender's positive probability per catalogue review, in catalogue order
    /// (`None`: the catalogue is not loaded, or the contender cannot read it).
    pub catalogue: PerContender<Option<Vec<f32>>>,
    /// Accuracy on the held-out IMDB sample.
    pub heldout: PerContender<Option<f32>>,
    /// Agreement with the critics' fresh/rotten on the catalogue reviews not labelled.
    pub critics: PerContender<Option<f32>>,
    /// Whose predictions the movie views show: the page's classifier, or, while it reads
    /// a fine-tuned encoder (whose features of the catalogue are not known), the encoder
    /// contender trained on the same labels.
    pub shown: Contender,
    /// The shown contender's classifier, for the sentences of a movie's reviews.
    pub shown_classifier: Arc<Classifier>,
    /// The catalogue reviews the person labelled (left out of every score), with their label.
    pub labelled: HashMap<usize, u8>,
    /// How long training the baselines took, and scoring every contender on the held-out
    /// sample and the whole catalogue.
    pub train_seconds: f64,
    pub score_seconds: f64,
    /// ULMFiT's own times, once it has been trained on these labels.
    pub ulmfit_seconds: Option<UlmfitSeconds>,
}

/// What ULMFiT's round took in the engine's worker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UlmfitSeconds {
    /// Tuning the language model to the sample (0 when it was tuned to it before).
    pub tuning: f64,
    pub training: f64,
    /// Scoring the held-out sample and the catalogue.
    pub scoring: f64,
}

impl Scores {
    /// The shown contender's probability for catalogue review `index`.
    pub fn shown(&self, index: usize) -> Option<f32> {
        self.catalogue[self.shown.index()].as_ref()?.get(index).copied()
    }
}

/// [`Scores`] as this browser keeps them (the movies scored by the page's own classifier,
/// whose file the session keeps); the catalogue's probabilities as little-endian f32 in
/// base64, exactly as computed.
#[derive(Serialize, Deserialize)]
struct KeptScores {
    /// What they were computed from: the labels, the classifier and the catalogue.
    key: String,
    labels: usize,
    #[serde(deserialize_with = "per_contender")]
    catalogue: PerContender<Option<String>>,
    #[serde(deserialize_with = "per_contender")]
    heldout: PerContender<Option<f32>>,
    #[serde(deserialize_with = "per_contender")]
    critics: PerContender<Option<f32>>,
    labelled: Vec<(usize, u8)>,
    train_seconds: f64,
    score_seconds: f64,
    #[serde(default)]
    ulmfit_seconds: Option<UlmfitSeconds>,
}

impl Scores {
    /// Keeps these scores under `key`, when the movies are scored by the page's classifier.
    pub fn keep(&self, key: &str) {
        if self.shown != Contender::Recipe {
            return;
        }
        let bytes = |p: &Vec<f32>| BASE64.encode(p.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        let kept = KeptScores {
            key: key.to_string(),
            labels: self.labels,
            catalogue: self.catalogue.each_ref().map(|c| c.as_ref().map(bytes)),
            heldout: self.heldout,
            critics: self.critics,
            labelled: self.labelled.iter().map(|(&i, &l)| (i, l)).collect(),
            train_seconds: self.train_seconds,
            score_seconds: self.score_seconds,
            ulmfit_seconds: self.ulmfit_seconds,
        };
        if let Ok(json) = serde_json::to_string(&kept) {
            storage::write_scores(&json);
        }
    }

    /// The scores kept under `key` (computed with `classifier`, the page's), if any.
    pub fn kept(key: &str, classifier: Arc<Classifier>) -> Option<Scores> {
        let kept: KeptScores = serde_json::from_str(&storage::read_scores()?).ok()?;
        if kept.key != key {
            return None;
        }
        let floats = |text: &String| -> Option<Vec<f32>> {
            let bytes = BASE64.decode(text).ok()?;
            (bytes.len() % 4 == 0)
                .then(|| bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let mut catalogue: PerContender<Option<Vec<f32>>> = Default::default();
        for (slot, text) in catalogue.iter_mut().zip(&kept.catalogue) {
            if let Some(text) = text {
                *slot = Some(floats(text)?);
            }
        }
        Some(Scores {
            labels: kept.labels,
            catalogue,
            heldout: kept.heldout,
            critics: kept.critics,
            shown: Contender::Recipe,
            shown_classifier: classifier,
            labelled: kept.labelled.into_iter().collect(),
            train_seconds: kept.train_seconds,
            score_seconds: kept.score_seconds,
            ulmfit_seconds: kept.ulmfit_seconds,
        })
    }
}

/// What ULMFiT's part of a round found.
pub struct UlmfitScores {
    pub heldout: Option<f32>,
    pub critics: Option<f32>,
    pub catalogue: Option<Vec<f32>>,
    pub seconds: UlmfitSeconds,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompareStatus {
    Idle,
    Running,
    Failed(String),
}

/// Where ULMFiT's part of a round stands: it is trained after the others (minutes).
#[derive(Debug, Clone, PartialEq)]
pub enum UlmfitStatus {
    Idle,
    /// What it is doing, and its steps so far (none yet: `total` 0).
    Working {
        what: String,
        done: usize,
        total: usize,
    },
    Failed(String),
}

#[derive(Clone, Copy)]
pub struct Comparison {
    scores: RwSignal<Option<Arc<Scores>>>,
    history: RwSignal<Vec<ComparePoint>>,
    status: RwSignal<CompareStatus>,
    ulmfit: RwSignal<UlmfitStatus>,
    /// Whether ULMFiT's results are wanted: it trains only while Compare is open, so that
    /// its minutes of work never slow the labelling loop.
    ulmfit_wanted: StoredValue<bool>,
    /// The round whose result `scores` are.
    scored_round: StoredValue<u64>,
    /// The round ULMFiT is training for, if it is.
    ulmfit_round: StoredValue<Option<u64>>,
    /// The round whose result is wanted: an older round's is dropped.
    round: StoredValue<u64>,
}

impl Comparison {
    /// With the learning curve kept in this browser (saved at every change).
    pub fn new() -> Self {
        let history = RwSignal::new(storage::read_comparison().unwrap_or_default());
        Effect::new(move |_| history.with(|h| storage::write_comparison(h)));
        Comparison {
            scores: RwSignal::new(None),
            history,
            status: RwSignal::new(CompareStatus::Idle),
            ulmfit: RwSignal::new(UlmfitStatus::Idle),
            ulmfit_wanted: StoredValue::new(false),
            ulmfit_round: StoredValue::new(None),
            scored_round: StoredValue::new(0),
            round: StoredValue::new(0),
        }
    }

    pub fn scores(&self) -> Option<Arc<Scores>> {
        self.scores.get()
    }

    /// The scores `round` found, once it has, while it is the current round.
    pub fn scores_of(&self, round: u64) -> Option<Arc<Scores>> {
        let finished = self.is_current(round) && self.scored_round.get_value() == round;
        self.scores.get_untracked().filter(|_| finished)
    }

    pub fn ulmfit_status(&self) -> UlmfitStatus {
        self.ulmfit.get()
    }

    /// Compare opened (`true`) or closed: ULMFiT trains only while it is open.
    pub fn want_ulmfit(&self, wanted: bool) {
        self.ulmfit_wanted.set_value(wanted);
        if !wanted {
            self.ulmfit.set(UlmfitStatus::Idle);
        }
    }

    /// Whether ULMFiT should go on for `round`: it is the current one and Compare is open.
    pub fn is_ulmfit_wanted(&self, round: u64) -> bool {
        self.is_current(round) && self.ulmfit_wanted.get_value()
    }

    pub fn current_round(&self) -> u64 {
        self.round.get_value()
    }

    /// ULMFiT starts training for `round`; `false` if it is training for it already.
    pub fn ulmfit_starts(&self, round: u64) -> bool {
        if self.ulmfit_round.get_value() == Some(round) {
            return false;
        }
        self.ulmfit_round.set_value(Some(round));
        true
    }

    /// ULMFiT stopped training for `round` (done, failed or cancelled).
    pub fn ulmfit_stops(&self, round: u64) {
        if self.ulmfit_round.get_value() == Some(round) {
            self.ulmfit_round.set_value(None);
        }
    }

    /// ULMFiT's part of `round` is at `what` (`done` of `total` steps).
    pub fn ulmfit_working(&self, round: u64, what: &str, done: usize, total: usize) {
        if self.is_current(round) {
            self.ulmfit.set(UlmfitStatus::Working { what: what.to_string(), done, total });
        }
    }

    pub fn ulmfit_failed(&self, round: u64, why: String) {
        if self.is_current(round) {
            self.ulmfit.set(UlmfitStatus::Failed(why));
        }
    }

    /// ULMFiT's scores for `round`'s labels join the others' (and the curve's point at
    /// as many labels); kept under `key` with them.
    pub fn ulmfit_scored(&self, round: u64, scored: UlmfitScores, key: Option<&str>) {
        let Some(current) = self.scores_of(round) else { return };
        let at = Contender::Ulmfit.index();
        let mut scores = (*current).clone();
        (scores.heldout[at], scores.critics[at], scores.catalogue[at]) =
            (scored.heldout, scored.critics, scored.catalogue);
        scores.ulmfit_seconds = Some(scored.seconds);
        self.history.update(|h| {
            if let Some(point) = h.iter_mut().find(|p| p.labels == scores.labels) {
                point.heldout[at] = scored.heldout;
            }
        });
        if let Some(key) = key {
            scores.keep(key);
        }
        self.scores.set(Some(Arc::new(scores)));
        self.ulmfit.set(UlmfitStatus::Idle);
    }

    pub fn has_scores_untracked(&self) -> bool {
        self.scores.with_untracked(Option::is_some)
    }

    pub fn history(&self) -> Vec<ComparePoint> {
        self.history.get()
    }

    pub fn status(&self) -> CompareStatus {
        self.status.get()
    }

    /// A new round starts; returns its number.
    pub fn begin(&self) -> u64 {
        let round = self.round.get_value() + 1;
        self.round.set_value(round);
        self.status.set(CompareStatus::Running);
        self.ulmfit.set(UlmfitStatus::Idle);
        round
    }

    pub fn is_current(&self, round: u64) -> bool {
        self.round.get_value() == round
    }

    /// A round's result, kept if no newer round started; its held-out accuracies join the
    /// curve (replacing any point at as many labels or more: labels were taken back).
    pub fn finished(&self, round: u64, scores: Scores) {
        if !self.is_current(round) {
            return;
        }
        let point = ComparePoint { labels: scores.labels, heldout: scores.heldout };
        self.history.update(|h| {
            h.retain(|p| p.labels < point.labels);
            h.push(point);
        });
        self.scores.set(Some(Arc::new(scores)));
        self.scored_round.set_value(round);
        self.status.set(CompareStatus::Idle);
    }

    pub fn failed(&self, round: u64, why: String) {
        if self.is_current(round) {
            self.status.set(CompareStatus::Failed(why));
        }
    }

    /// No classifier (fewer than two classes labelled, or a reset): nothing to show.
    pub fn clear(&self, round: u64) {
        if self.is_current(round) {
            self.scores.set(None);
            self.status.set(CompareStatus::Idle);
        }
    }

    /// The person started again: the curve and the kept scores go too.
    pub fn forget_history(&self) {
        self.history.set(Vec::new());
        storage::forget_scores();
    }
}
