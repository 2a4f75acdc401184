//! Keeping the work: export labels and classifier to a JSON file, import one back, and
//! reset after confirmation; what went wrong with keeping them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::app::actions::{Actions, EXPORT_NAME, Imported};
use crate::app::error::PageError;
use crate::app::state::{Labels, Training};

#[component]
pub fn SessionPanel() -> impl IntoView {
    let (actions, labels, training) =
        (expect_context::<Actions>(), expect_context::<Labels>(), expect_context::<Training>());
    let message = RwSignal::new(None::<String>);
    let export = move |_| {
        spawn_local(async move {
            message.set(Some(match actions.export().await {
                Ok(done) => {
                    let note = if done.without_tuned_layers {
                        " (without the fine-tuned layers, which this browser no longer has)"
                    } else {
                        ""
                    };
                    format!("Exported {} labels to {EXPORT_NAME}{note}.", done.labels)
                }
                Err(e) => format!("Export failed: {e}"),
            }));
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
        input.set_value("");
        spawn_local(async move {
            let name = file.name();
            message.set(Some(match actions.import(file).await {
                Ok(Imported { labels, switched_to: None }) => format!("Imported {labels} labels from {name}."),
                Ok(Imported { labels, switched_to: Some(model) }) => format!(
                    "Imported {labels} labels from {name}. Its classifier reads {}'s features, so the page now runs {} (see Model).",
                    model.describe(),
                    model.describe()
                ),
                Err(e @ PageError::Busy(_)) => e.to_string(),
                Err(e) => format!("Import of {name} failed, nothing was changed: {e}"),
            }));
        });
    };
    let reset = move |_| {
        let n = labels.with_untracked(|s| s.labels.len());
        let question =
            format!("Delete all {n} labels, the classifier and its learning curve? Export them first to keep a copy.");
        let confirmed = || web_sys::window().and_then(|w| w.confirm_with_message(&question).ok()).unwrap_or(false);
        // While a training runs, reset only says it waits: no need to ask first.
        if !training.is_running_untracked() && !confirmed() {
            return;
        }
        message.set(Some(match actions.reset() {
            Ok(()) => "Everything was reset.".into(),
            Err(e) => e.to_string(),
        }));
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
            <Show when=move || labels.notice().is_some()>
                <p class="notice">{move || labels.notice()}</p>
            </Show>
        </section>
    }
}

/// On every view: the labels are not saved (they stay in this tab), or another tab's
/// changes were merged in.
#[component]
pub fn KeepingNotices() -> impl IntoView {
    let labels = expect_context::<Labels>();
    let count = move || labels.with(|s| s.labels.len());
    view! {
        <Show when=move || labels.unsaved().is_some()>
            <div class="banner warning" role="alert" data-testid="unsaved">
                <p>
                    "Not saved in this browser: " {move || labels.unsaved()} ". Your " {count}
                    " labels are safe in this tab while it stays open: export them, or free some of the browser's storage for this site."
                </p>
                <button data-testid="save-again" on:click=move |_| labels.save_again()>"Save again"</button>
            </div>
        </Show>
        <Show when=move || labels.other_tab().is_some()>
            <div class="banner" role="status" data-testid="other-tab">
                <p>{move || labels.other_tab()}</p>
            </div>
        </Show>
    }
}
