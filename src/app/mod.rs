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
mod global;
mod js_api;
mod paced_training;
mod services;
mod state;
mod ui;

use wasm_bindgen::prelude::*;

// Static constructors (the `inventory` registrations of `pliron`, which cubecl uses) must
// run once per instance. A module that never calls them itself gets every export wrapped
// by wasm-ld to run them again on each call from JS, which cost the page seconds of
// main-thread time per minute of labelling; calling them here turns that off.
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs the instance's static constructors, once: the first thing each entry point does.
pub(crate) fn construct_once() {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !DONE.swap(true, std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the linker's constructor runner, called once per instance before
        // anything relies on a constructor, as wasm-ld expects of a module that calls it.
        unsafe { __wasm_call_ctors() };
    }
}

/// The page's entry point (`www/boot.js`): installs `window.flicktune` and mounts the app.
/// The engine's worker has its own, [`services::engine::worker::start_worker`].
#[wasm_bindgen(js_name = startPage)]
pub fn start_page() -> Result<(), JsValue> {
    construct_once();
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_panic(&info.to_string());
    }));
    let engine = services::engine::Engine::default();
    js_api::install(engine.clone())?;
    let webgpu_available = global::gpu().is_some();
    let index = services::index::ReviewIndex::default();
    leptos::mount::mount_to_body(move || leptos::view! { <ui::App engine index webgpu_available/> });
    Ok(())
}

/// Writes a panic (or another bug's report) into the page's static `#panic` box: the app
/// may be dead, the DOM is not.
pub(crate) fn show_panic(message: &str) {
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
    global::wait_ms(0).await;
}

pub(crate) use global::wait_ms;
