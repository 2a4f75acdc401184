//! The person's work: their labels, the classifier trained on them and its learning
//! curve (one [`Session`], kept in the browser at every change), the reviews skipped in
//! this visit, and what went wrong with keeping them.
//!
//! Two tabs on one profile share the saved session: each follows the other's saves
//! (the browser's `storage` event) and merges them into its own (three ways, from what
//! it last saved or read), so neither silently overwrites the other's labels.

use std::sync::Arc;

use leptos::prelude::*;

use super::EncoderState;
use crate::app::services::storage;
use crate::classifier::Classifier;
use crate::session::{CurvePoint, Label, LabelSource, Merged, Session};

#[derive(Clone, Copy)]
pub struct Labels {
    session: RwSignal<Session>,
    /// The saved session was read (or there was none): from now on changes are saved.
    restored: RwSignal<bool>,
    skipped: RwSignal<Vec<usize>>,
    /// A problem with restoring or importing, shown to the person.
    notice: RwSignal<Option<String>>,
    /// Why the last save failed (storage full or refused), until one succeeds.
    unsaved: RwSignal<Option<String>>,
    /// What another tab's save changed here, when it last did.
    other_tab: RwSignal<Option<String>>,
    /// The session as last saved or read from storage: the base of a merge with another
    /// tab's save, and what need not be written again.
    synced: StoredValue<(Session, String)>,
    /// The bundled sample's texts, which a session read from storage is checked against.
    sample: StoredValue<Arc<Vec<String>>>,
    /// Notified by every label given or undone (not by a restore, import or reset).
    edited: Trigger,
    /// The session's classifier if it reads the features of the encoder in use (the
    /// loaded model, with the same fine-tuned layers or none): copied once per change and
    /// shared by every reader (it carries NB-SVM's n-gram map).
    usable: Memo<Option<Arc<Classifier>>>,
}

impl Labels {
    /// An empty session (the saved one comes with [`Self::restore`]), saved at every change
    /// once restored.
    pub fn new(encoder: EncoderState) -> Self {
        let session = RwSignal::new(Session::default());
        let usable = Memo::new(move |_| {
            let (model, tuned) = (encoder.model(), encoder.tuned());
            session.with(|s| {
                s.classifier
                    .as_ref()
                    .filter(|c| c.encoder == model && c.tuned_layers.as_ref().map(|t| &t.sha256) == tuned.as_ref())
                    .map(|c| Arc::new(c.clone()))
            })
        });
        let labels = Labels {
            session,
            restored: RwSignal::new(false),
            skipped: RwSignal::new(Vec::new()),
            notice: RwSignal::new(None),
            unsaved: RwSignal::new(None),
            other_tab: RwSignal::new(None),
            synced: StoredValue::new((Session::default(), String::new())),
            sample: StoredValue::new(Arc::default()),
            edited: Trigger::new(),
            usable,
        };
        // Saved at once, but only after the saved one was read: a page that could not
        // restore must not overwrite what it could not read.
        Effect::new(move |_| {
            let json = session.with(Session::to_json);
            if labels.restored.get() {
                labels.save(json);
            }
        });
        labels
    }

    /// Puts the saved session in place (read from storage as `json`, checked against the
    /// bundled `sample`); from now on changes are saved, and other tabs' saves merged in.
    pub fn restore(&self, saved: Option<(Session, String)>, sample: Vec<String>) {
        self.sample.set_value(Arc::new(sample));
        if let Some((session, json)) = saved {
            self.synced.set_value((session.clone(), json));
            self.session.set(session);
        }
        self.restored.set(true);
        let labels = *self;
        let listener = leptos::prelude::window_event_listener(leptos::ev::storage, move |e| {
            if e.key().as_deref() == Some(storage::SESSION_KEY) {
                labels.merge_saved(e.new_value());
            }
        });
        // The page lives as long as the app: the listener does too.
        std::mem::forget(listener);
    }

    /// Writes `json` (the session now) unless storage has it already. Another tab's save
    /// not merged yet is merged first: this write would otherwise hide it.
    fn save(&self, json: String) {
        if self.synced.with_value(|(_, synced)| *synced == json) {
            return;
        }
        let stored = storage::read_session();
        if stored.as_ref().is_some_and(|s| self.synced.with_value(|(_, synced)| s != synced)) {
            return self.merge_saved(stored);
        }
        match storage::write_session(&json) {
            Ok(()) => {
                self.unsaved.set(None);
                self.synced.set_value((self.session.get_untracked(), json));
            }
            Err(e) => self.unsaved.set(Some(e.to_string())),
        }
    }

    /// Merges another tab's save (`json`, as stored now) into this tab's session.
    fn merge_saved(&self, json: Option<String>) {
        let Some(json) = json else { return };
        let theirs = match self.sample.with_value(|sample| Session::from_json(json.as_bytes(), sample)) {
            Ok(theirs) => theirs,
            Err(e) => {
                self.other_tab
                    .set(Some(format!("Another tab saved labels this one cannot read ({e}); yours are kept.")));
                return;
            }
        };
        let base = self.synced.with_value(|(base, _)| base.clone());
        let mut merged = Merged::default();
        self.session.update(|s| merged = s.merge(&base, theirs.clone()));
        self.synced.set_value((theirs, json));
        if merged.changed_anything() || merged.conflicts > 0 {
            let total = self.session.with_untracked(|s| s.labels.len());
            self.other_tab.set(Some(merged.describe(total)));
        }
    }

    /// Replaces everything with an imported session (or, with the default, nothing).
    pub fn replace(&self, session: Session) {
        self.session.set(session);
        self.skipped.set(Vec::new());
    }

    /// Labels the sample's review `review`.
    pub fn give(&self, review: usize, label: u8, text: String) {
        self.push(Label::of_sample(review, label, text));
    }

    /// Labels the catalogue's review `review` (from its movie's page); a second label of
    /// the same review replaces the first.
    pub fn give_catalogue(&self, review: usize, label: u8, text: String) {
        self.session.update(|s| s.labels.retain(|l| l.catalogue_review() != Some(review)));
        self.push(Label { review, label, text, source: LabelSource::Catalogue });
    }

    fn push(&self, label: Label) {
        self.session.update(|s| s.labels.push(label));
        self.edited.notify();
    }

    /// Takes back the last label; `false` if there was none.
    pub fn undo(&self) -> bool {
        if self.session.with_untracked(|s| s.labels.is_empty()) {
            return false;
        }
        self.session.update(|s| {
            s.labels.pop();
        });
        self.edited.notify();
        true
    }

    pub fn skip(&self, review: usize) {
        self.skipped.update(|s| s.push(review));
    }

    pub fn unskip_all(&self) {
        self.skipped.set(Vec::new());
    }

    pub fn skipped(&self) -> Vec<usize> {
        self.skipped.get()
    }

    pub fn any_skipped(&self) -> bool {
        self.skipped.with(|s| !s.is_empty())
    }

    /// Follows every label given or undone.
    pub fn track_edits(&self) {
        self.edited.track();
    }

    /// Reads the session, following it.
    pub fn with<T>(&self, read: impl FnOnce(&Session) -> T) -> T {
        self.session.with(read)
    }

    pub fn with_untracked<T>(&self, read: impl FnOnce(&Session) -> T) -> T {
        self.session.with_untracked(read)
    }

    pub fn session_untracked(&self) -> Session {
        self.session.get_untracked()
    }

    pub fn labels_untracked(&self) -> Vec<Label> {
        self.session.with_untracked(|s| s.labels.clone())
    }

    /// Both classes have a label: a classifier can be trained.
    pub fn has_both_classes_untracked(&self) -> bool {
        self.session.with_untracked(|s| s.count(0) > 0 && s.count(1) > 0)
    }

    /// The classifier for the encoder in use, following it.
    pub fn classifier(&self) -> Option<Arc<Classifier>> {
        self.usable.get()
    }

    pub fn classifier_untracked(&self) -> Option<Arc<Classifier>> {
        self.usable.get_untracked()
    }

    /// A new classifier, trained on `labels` labels; its held-out accuracy joins the curve.
    pub fn trained(&self, classifier: Classifier, labels: usize, accuracy: Option<f32>) {
        self.session.update(|s| {
            if let Some(accuracy) = accuracy {
                s.curve.push(CurvePoint { labels, accuracy });
            }
            s.classifier = Some(classifier);
        });
    }

    pub fn notice(&self) -> Option<String> {
        self.notice.get()
    }

    /// Tries the save again (after the person freed some storage, say).
    pub fn save_again(&self) {
        self.save(self.session.with_untracked(Session::to_json));
    }

    /// Why the labels are not saved in this browser now, if they are not.
    pub fn unsaved(&self) -> Option<String> {
        self.unsaved.get()
    }

    /// What another tab's save changed here, if one did.
    pub fn other_tab(&self) -> Option<String> {
        self.other_tab.get()
    }

    pub fn tell(&self, notice: String) {
        self.notice.set(Some(notice));
    }
}
