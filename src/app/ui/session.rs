//! Keeping the work: export labels and classifier (with its fine-tuned layers, if any) to
//! a JSON file, import one back (checked in full first: a bad file changes nothing), and
//! reset after confirmation. Import and reset wait while a training runs, since its end
//! would write into the session they replace.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::train_panel::{keep_imported, kept_tuned_bytes, use_classifiers_encoder};
use super::{PageState, TrainStatus};
use crate::app::engine::Engine;
use crate::app::index::ReviewIndex;
use crate::app::loader::js_error;
use crate::session::{MAX_FILE_BYTES, Session};

const EXPORT_NAME: &str = "flicktune-labels.json";

#[component]
pub fn SessionPanel(engine: Engine, index: ReviewIndex) -> impl IntoView {
    let state = expect_context::<PageState>();
    let (import_engine, reset_engine, reset_index) = (engine.clone(), engine, index.clone());
    let message = RwSignal::new(None::<String>);
    let export = move |_| {
        spawn_local(async move {
            let mut session = state.session.get_untracked();
            // A fine-tuned classifier travels with its tuned layers, so it works wherever it is imported.
            let mut note = "";
            if let Some(layers) = session.classifier.as_mut().and_then(|c| c.tuned_layers.as_mut()) {
                match kept_tuned_bytes(layers).await {
                    Some(bytes) => *layers = layers.clone().with_bytes(&bytes),
                    None => note = " (without the fine-tuned layers, which this browser no longer has)",
                }
            }
            message.set(Some(match download(EXPORT_NAME, &session.to_json()) {
                Ok(()) => format!("Exported {} labels to {EXPORT_NAME}{note}.", session.labels.len()),
                Err(e) => format!("Export failed: {e}"),
            }));
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
        input.set_value("");
        let (engine, index) = (import_engine.clone(), index.clone());
        spawn_local(async move {
            if training_runs(state) {
                return message.set(Some("Import waits until training stops: cancel it or let it finish.".into()));
            }
            message.set(Some(match read_import(&file, &index).await {
                Ok(session) => {
                    let n = session.labels.len();
                    state.session.set(session);
                    state.skipped.set(Vec::new());
                    state.training.set(TrainStatus::Idle);
                    use_classifiers_encoder(&engine, &index, state).await;
                    format!("Imported {n} labels from {}.", file.name())
                }
                Err(e) => format!("Import failed, nothing was changed: {e}"),
            }));
        });
    };
    let reset = move |_| {
        // A running training would put its classifier into the emptied session when it ends.
        if training_runs(state) {
            return message.set(Some("Reset waits until training stops: cancel it or let it finish.".into()));
        }
        let n = state.session.with_untracked(|s| s.labels.len());
        let question =
            format!("Delete all {n} labels, the classifier and its learning curve? Export them first to keep a copy.");
        let confirmed = web_sys::window().and_then(|w| w.confirm_with_message(&question).ok()).unwrap_or(false);
        if confirmed {
            state.session.set(Session::default());
            state.skipped.set(Vec::new());
            state.training.set(TrainStatus::Idle);
            state.losses.set(Vec::new());
            let (engine, index) = (reset_engine.clone(), reset_index.clone());
            spawn_local(async move { use_classifiers_encoder(&engine, &index, state).await });
            message.set(Some("Everything was reset.".into()));
        }
    };
    view! {
        <section class="panel">
            <h2>"Your labels"</h2>
            <p class="hint">"Kept in this browser across reloads. Export them (with the classifier) to keep a copy or move them elsewhere."</p>
            <div class="actions">
                <button data-testid="export" on:click=export>"Export…"</button>
                <label class="button">
                    "Import…"
                    <input type="file" accept=".json,application/json" data-testid="import-file" on:change=import/>
                </label>
                <button data-testid="reset" on:click=reset>"Reset"</button>
            </div>
            <p data-testid="import-status">{move || message.get()}</p>
            <Show when=move || state.session_notice.with(Option::is_some)>
                <p class="notice">{move || state.session_notice.get()}</p>
            </Show>
        </section>
    }
}

fn training_runs(state: PageState) -> bool {
    matches!(state.training.get_untracked(), TrainStatus::Running { .. })
}

async fn read_import(file: &web_sys::File, index: &ReviewIndex) -> Result<Session, String> {
    if file.size() > MAX_FILE_BYTES as f64 {
        return Err(format!(
            "{} is {:.0} kB; a labels file is at most {} kB",
            file.name(),
            file.size() / 1e3,
            MAX_FILE_BYTES / 1000
        ));
    }
    let text = JsFuture::from(file.text()).await.map_err(js_error)?.as_string().unwrap_or_default();
    let mut session = Session::from_json(text.as_bytes(), &index.sample_texts()).map_err(|e| e.to_string())?;
    // Fine-tuned layers (checked against their sha256 by now) go to Cache Storage; the
    // saved session names them.
    if let Some(layers) = session.classifier.as_mut().and_then(|c| c.tuned_layers.as_mut()) {
        let bytes = layers.inline_bytes().map_err(|e| e.to_string())?.ok_or_else(|| {
            "its classifier was fine-tuned, but the file lacks the tuned layers: export it again from the page that trained it".to_string()
        })?;
        keep_imported(layers, &bytes).await?;
        *layers = layers.clone().without_bytes();
    }
    Ok(session)
}

/// Offers `contents` as a file download, without any server.
fn download(name: &str, contents: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&contents.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js_error)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a").map_err(js_error)?.unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    web_sys::Url::revoke_object_url(&url).map_err(js_error)
}
