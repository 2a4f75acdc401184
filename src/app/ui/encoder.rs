//! The encoder's panels: which model, its download, the device it runs on, and the
//! bundled reviews' features.

use leptos::prelude::*;

use super::{PageState, Status};
use crate::app::index::FeatureOrigin;
use crate::app::storage;
use crate::backend::BackendKind;
use crate::models::{ENCODERS, ModelName, WeightPrecision, WeightsFormat};

fn megabytes(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.0} kB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<PageState>();
    let status_text = move || match state.status.get() {
        Status::Loading => "loading…".to_string(),
        Status::Ready => "ready".to_string(),
        Status::Failed(e) => format!("error: {e}"),
    };
    let files = move || {
        state
            .files
            .get()
            .into_iter()
            .map(|f| {
                let source = if f.from_cache { " (from cache)" } else { "" };
                view! {
                    <li>
                        <span class="file">{f.name.clone()}</span>
                        <progress max=f.total.max(1) value=f.done></progress>
                        <span>{format!("{} / {}{source}", megabytes(f.done), megabytes(f.total))}</span>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <section class="panel">
            <h2>"Encoder"</h2>
            <label>
                "Model "
                <select on:change=move |ev| {
                    if let Ok(model) = event_target_value(&ev).parse::<ModelName>() {
                        // Remembered for the next visit: the choice, not the default.
                        storage::write_model(model.short());
                        state.model.set(model);
                    }
                }>
                    {ENCODERS.iter().map(|spec| {
                        let model = spec.name;
                        view! {
                            <option value=spec.short selected=move || state.model.get() == model>
                                {spec.menu}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </label>
            <p>
                "Download: "
                {move || state.download_bytes.get().map_or("…".to_string(), megabytes)}
                {move || match (state.model.get().spec().weights, state.precision) {
                    (WeightsFormat::PackedQ4, _) => " (4-bit weights, computed in f32;",
                    (_, WeightPrecision::F16) => " (weights as f16, computed in f32;",
                    (_, WeightPrecision::F32) => " (original f32 weights;",
                }}
                " kept in your browser after the first visit)"
            </p>
            <ul class="files">{files}</ul>
            <p class="status" class:error=move || matches!(state.status.get(), Status::Failed(_))>
                "Status: " <span data-testid="model-status">{status_text}</span>
            </p>
        </section>
    }
}

#[component]
pub fn BackendPanel() -> impl IntoView {
    let state = expect_context::<PageState>();
    let name = move || state.backend.get().map_or("…", |b| b.js_name());
    let adapter = move || state.backend.get().map(|b| b.adapter).unwrap_or_default();
    let notice = move || state.backend.get().and_then(|b| b.notice);
    // The button offers the other backend than the one running (not the one asked for:
    // after a fallback, "Try WebGPU" asks again).
    let running_on_gpu = move || state.backend.get().is_some_and(|b| b.kind == BackendKind::Wgpu);
    let switch = move |_| {
        state.prefer.set(if running_on_gpu() { BackendKind::Cpu } else { BackendKind::Wgpu });
        state.retry.update(|n| *n += 1);
    };
    view! {
        <section class="panel">
            <h2>"Device"</h2>
            <p>
                "Running on " <strong data-testid="backend">{name}</strong> " — " {adapter}
            </p>
            <Show when=move || notice().is_some()>
                <p class="notice">{notice}</p>
            </Show>
            <button on:click=switch disabled=move || state.status.get() == Status::Loading>
                {move || if running_on_gpu() { "Use the CPU instead" } else { "Try WebGPU" }}
            </button>
        </section>
    }
}

#[component]
pub fn IndexPanel() -> impl IntoView {
    let state = expect_context::<PageState>();
    let origin = move || match state.features_origin.get() {
        Some(FeatureOrigin::Cache) => "Taken from the features `flicktune fetch` computed with these very weights \
            (checked against this encoder on one review)."
            .to_string(),
        Some(FeatureOrigin::ComputedHere(why)) => format!("Computed in this page ({why})."),
        None => String::new(),
    };
    view! {
        <section class="panel">
            <h2>"Bundled reviews"</h2>
            <p>
                "Features of the reviews to label (train split) and of the held-out reviews (test split): "
                <progress max=move || state.indexed.get().1.max(1) value=move || state.indexed.get().0></progress>
                <span data-testid="indexed">{move || format!(" {} / {}", state.indexed.get().0, state.indexed.get().1)}</span>
            </p>
            <p class="hint">{origin}</p>
        </section>
    }
}
