//! Loading the encoder (download, device, warm-up) and then the bundled reviews'
//! features for it; a newer load (another model, another device) supersedes a running one.

use super::Actions;
use crate::app::services::loader::{self, FileProgress};
use crate::backend::BackendKind;
use crate::encoders::ModelName;

impl Actions {
    pub(super) async fn load(self, model: ModelName, prefer: BackendKind) {
        let (encoder, reviews) = (self.encoder, self.reviews);
        let ticket = encoder.begin_load();
        let current = move || encoder.is_current(ticket);
        let manifest = match loader::fetch_manifest(model, encoder.precision).await {
            Ok(manifest) => manifest,
            Err(e) => {
                if current() {
                    encoder.failed(e.to_string());
                }
                return;
            }
        };
        encoder.set_download_bytes(manifest.total_bytes());
        let weights_sha256 = manifest
            .files
            .iter()
            .find(|f| f.name == model.spec().weights_file(encoder.precision))
            .map(|f| f.sha256.clone())
            .unwrap_or_default();
        // The movies load beside the encoder (it loads in a worker): after a reload the
        // views show their kept scores as soon as both are there.
        let sha256 = weights_sha256.clone();
        leptos::task::spawn_local(async move {
            if current() {
                self.load_catalogue(model, &sha256).await;
            }
        });
        let on_progress = move |p: FileProgress| {
            if current() {
                encoder.file_progress(p);
            }
        };
        let engine = self.engine();
        let outcome = engine.load(model, &manifest, prefer, &on_progress).await;
        if !current() {
            return;
        }
        match outcome {
            Ok(backend) => encoder.loaded(backend),
            Err(e) => return encoder.failed(e.to_string()),
        }
        while !reviews.is_ready_untracked() {
            if !current() {
                return;
            }
            crate::app::yield_to_browser().await;
        }
        let on_indexed = move |done, total| {
            if current() {
                reviews.indexed(done, total);
            }
        };
        let origin = reviews.index().index(&engine, model, &weights_sha256, &on_indexed, &current).await;
        match origin {
            Ok(origin) if current() => {
                reviews.set_origin(origin);
                self.use_classifiers_encoder().await;
                if let Some(pressed) = self.training.take_resume() {
                    leptos::task::spawn_local(self.run(pressed));
                }
            }
            Ok(_) => {}
            Err(e) if current() && self.is_device_lost(&e) => self.move_to_cpu(&e),
            Err(e) => leptos::logging::warn!("computing the bundled reviews' features stopped: {e}"),
        }
    }
}
