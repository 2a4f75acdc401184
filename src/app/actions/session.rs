//! The person's work in and out of the page: restored at start (checked against the
//! bundled reviews), exported to a JSON file with the fine-tuned layers, imported back
//! (checked in full first: a bad file changes nothing) and reset.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::Actions;
use crate::app::error::PageError;
use crate::app::services::{storage, tuned_store};
use crate::app::state::TrainStatus;
use crate::session::{MAX_FILE_BYTES, Session};

pub const EXPORT_NAME: &str = "flicktune-labels.json";

/// What an import brought.
pub struct Imported {
    pub labels: usize,
    /// Its classifier reads this encoder's features, which the page now loads.
    pub switched_to: Option<crate::encoders::ModelName>,
}

/// What an export wrote.
pub struct Exported {
    pub labels: usize,
    /// The classifier was fine-tuned but this browser no longer has its layers.
    pub without_tuned_layers: bool,
}

impl Actions {
    /// Loads the bundled reviews, then the saved session (checked against them). Without
    /// the reviews the saved session cannot be checked, so it is left as it is, unsaved over.
    pub(super) async fn restore_session(self) {
        let (reviews, labels) = (self.reviews, self.labels);
        let index = reviews.index();
        if let Err(e) = index.load_texts().await {
            labels.tell(format!(
                "the bundled reviews could not be loaded ({e}); your saved labels are kept for when they can"
            ));
            reviews.texts_loaded();
            return;
        }
        let sample = index.sample_texts();
        let saved = storage::read_session().and_then(|saved| {
            Session::from_json(saved.as_bytes(), &sample)
                .inspect_err(|e| {
                    storage::set_aside_unreadable(&saved);
                    labels.tell(format!(
                        "your saved labels could not be read ({e}); they were set aside in this browser and a new session started"
                    ));
                })
                .ok()
                .map(|session| (session, saved))
        });
        labels.restore(saved, sample);
        reviews.texts_loaded();
    }

    /// Offers the labels and classifier as a file; a fine-tuned classifier travels with its
    /// tuned layers, so it works wherever it is imported.
    pub async fn export(self) -> Result<Exported, PageError> {
        let mut session = self.labels.session_untracked();
        let mut without_tuned_layers = false;
        if let Some(layers) = session.classifier.as_mut().and_then(|c| c.tuned_layers.as_mut()) {
            match tuned_store::layers_bytes(layers).await {
                Some(bytes) => *layers = layers.clone().with_bytes(&bytes),
                None => without_tuned_layers = true,
            }
        }
        download(EXPORT_NAME, &session.to_json())?;
        Ok(Exported { labels: session.labels.len(), without_tuned_layers })
    }

    /// Replaces the session with an exported file's. A classifier that reads another
    /// encoder's features than the one loaded brings its encoder with it.
    pub async fn import(self, file: web_sys::File) -> Result<Imported, PageError> {
        if self.training.is_running_untracked() {
            return Err(PageError::Busy("Import"));
        }
        let session = read_import(&file, &self.reviews.index().sample_texts()).await?;
        let labels = session.labels.len();
        let wanted = session.classifier.as_ref().map(|c| c.encoder);
        let switched_to = wanted.filter(|&m| m != self.encoder.model_untracked());
        self.labels.replace(session);
        self.training.ended(TrainStatus::Idle);
        match switched_to {
            // The load puts the classifier's fine-tuned layers in use, if any, once ready.
            Some(model) => self.encoder.choose(model),
            None => self.use_classifiers_encoder().await,
        }
        Ok(Imported { labels, switched_to })
    }

    /// Deletes the labels, the classifier and its curve.
    pub fn reset(self) -> Result<(), PageError> {
        // A running training would put its classifier into the emptied session when it ends.
        if self.training.is_running_untracked() {
            return Err(PageError::Busy("Reset"));
        }
        self.labels.replace(Session::default());
        self.training.ended(TrainStatus::Idle);
        self.training.clear_losses();
        self.comparison.forget_history();
        leptos::task::spawn_local(self.use_classifiers_encoder());
        Ok(())
    }
}

async fn read_import(file: &web_sys::File, sample: &[String]) -> Result<Session, PageError> {
    if file.size() > MAX_FILE_BYTES as f64 {
        return Err(PageError::ImportTooLarge {
            name: file.name(),
            size_kb: file.size() / 1e3,
            limit_kb: MAX_FILE_BYTES / 1000,
        });
    }
    let text = JsFuture::from(file.text()).await?.as_string().unwrap_or_default();
    let mut session = Session::from_json(text.as_bytes(), sample)?;
    // Fine-tuned layers (checked against their sha256 by now) go to Cache Storage; the
    // saved session names them.
    if let Some(layers) = session.classifier.as_mut().and_then(|c| c.tuned_layers.as_mut()) {
        let bytes = layers.inline_bytes()?.ok_or(PageError::MissingTunedLayers)?;
        tuned_store::keep(layers, &bytes, None).await?;
        *layers = layers.clone().without_bytes();
    }
    Ok(session)
}

/// Offers `contents` as a file download, without any server.
fn download(name: &str, contents: &str) -> Result<(), PageError> {
    let parts = js_sys::Array::of1(&contents.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or(PageError::Unsupported("document"))?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    Ok(web_sys::Url::revoke_object_url(&url)?)
}
