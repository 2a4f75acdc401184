//! The contenders' latest scores (the catalogue's reviews and the held-out sample, each
//! contender trained on the same labels) and their learning curve, kept in the browser.

use std::collections::HashMap;
use std::sync::Arc;

use leptos::prelude::*;

use crate::app::services::storage;
use crate::classifier::Classifier;
use crate::compare::{ComparePoint, Contender};

/// Everything the contenders said after one round of training.
#[derive(Debug, Clone)]
pub struct Scores {
    pub labels: usize,
    /// Each contender's positive probability per catalogue review, in catalogue order
    /// (`None`: the catalogue is not loaded, or the contender cannot read it).
    pub catalogue: [Option<Vec<f32>>; 4],
    /// Accuracy on the held-out IMDB sample.
    pub heldout: [Option<f32>; 4],
    /// Agreement with the critics' fresh/rotten on the catalogue reviews not labelled.
    pub critics: [Option<f32>; 4],
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
}

impl Scores {
    /// The shown contender's probability for catalogue review `index`.
    pub fn shown(&self, index: usize) -> Option<f32> {
        self.catalogue[self.shown.index()].as_ref()?.get(index).copied()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompareStatus {
    Idle,
    Running,
    Failed(String),
}

#[derive(Clone, Copy)]
pub struct Comparison {
    scores: RwSignal<Option<Arc<Scores>>>,
    history: RwSignal<Vec<ComparePoint>>,
    status: RwSignal<CompareStatus>,
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
            round: StoredValue::new(0),
        }
    }

    pub fn scores(&self) -> Option<Arc<Scores>> {
        self.scores.get()
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

    /// The person started again: the curve goes too.
    pub fn forget_history(&self) {
        self.history.set(Vec::new());
    }
}
