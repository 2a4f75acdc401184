//! The page: a Leptos (client-side rendered) app around the same encoder as the CLI.
//!
//! Four layers, each using only those before it: `services` (download, engine, the
//! bundled reviews' index, browser storage), `state` (narrow reactive contexts: encoder,
//! reviews, labels, training), `actions` (load, train, fine-tune, restore, import,
//! classify: methods that span the state), and `ui` (one view per concern, reading the
//! state and calling the actions). `paced_training` runs a trainer between frames,
//! `error` names what can go wrong, and `js_api` exposes the engine as `window.flicktune`.

mod actions;
mod error;
mod js_api;
mod paced_training;
mod services;
mod state;
mod ui;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_panic(&info.to_string());
    }));
    let engine = services::engine::Engine::default();
    js_api::install(engine.clone())?;
    let webgpu_available = web_sys::window()
        .map(|w| js_sys::Reflect::get(&w.navigator(), &"gpu".into()).is_ok_and(|gpu| !gpu.is_undefined()))
        .unwrap_or(false);
    let index = services::index::ReviewIndex::default();
    leptos::mount::mount_to_body(move || leptos::view! { <ui::App engine index webgpu_available/> });
    Ok(())
}

/// Writes a panic into the page's static `#panic` box: the app may be dead, the DOM is not.
fn show_panic(message: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    if let Some(element) = document.get_element_by_id("panic") {
        element.set_text_content(Some(&format!(
            "Something went wrong inside Flicktune: {message}. Reload the page to start again."
        )));
        let _ = element.remove_attribute("hidden");
    }
}

/// Lets the browser render and handle input before the next chunk of work.
pub(crate) async fn yield_to_browser() {
    wait_ms(0).await;
}

/// Waits `ms` milliseconds without blocking the page.
pub(crate) async fn wait_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
