//! The encoder's panels: which model, its download, the device it runs on, and the
//! bundled reviews' features.

use leptos::prelude::*;

use crate::app::services::index::FeatureOrigin;
use crate::app::state::{EncoderState, Reviews, Status};
use crate::encoders::{ENCODERS, ModelName, WeightPrecision, WeightsFormat};

fn megabytes(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.0} kB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let encoder = expect_context::<EncoderState>();
    let status_text = move || match encoder.status() {
        Status::Loading => "loading…".to_string(),
        Status::Ready => "ready".to_string(),
        Status::Failed(e) => format!("error: {e}"),
    };
    let files = move || {
        encoder
            .files()
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
                        encoder.choose(model);
                    }
                }>
                    {ENCODERS.iter().map(|spec| {
                        let model = spec.name;
                        view! {
                            <option value=spec.short selected=move || encoder.model() == model>
                                {spec.menu}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </label>
            <p>
                "Download: "
                {move || encoder.download_bytes().map_or("…".to_string(), megabytes)}
                {move || match (encoder.model().spec().weights, encoder.precision) {
                    (WeightsFormat::PackedQ4, _) => " (4-bit weights, computed in f32;",
                    (_, WeightPrecision::F16) => " (weights as f16, computed in f32;",
                    (_, WeightPrecision::F32) => " (original f32 weights;",
                }}
                " kept in your browser after the first visit)"
            </p>
            <ul class="files">{files}</ul>
            <p class="status" class:error=move || matches!(encoder.status(), Status::Failed(_))>
                "Status: " <span data-testid="model-status">{status_text}</span>
            </p>
        </section>
    }
}

#[component]
pub fn BackendPanel() -> impl IntoView {
    let encoder = expect_context::<EncoderState>();
    let name = move || encoder.backend().map_or("…", |b| b.js_name());
    let adapter = move || encoder.backend().map(|b| b.adapter).unwrap_or_default();
    let notice = move || encoder.backend().and_then(|b| b.notice);
    // The button offers the other backend than the one running (after a fallback,
    // "Try WebGPU" asks again).
    let running_on_gpu = move || encoder.running_on_gpu();
    view! {
        <section class="panel">
            <h2>"Device"</h2>
            <p>
                "Running on " <strong data-testid="backend">{name}</strong> " — " {adapter}
            </p>
            <Show when=move || notice().is_some()>
                <p class="notice">{notice}</p>
            </Show>
            <button on:click=move |_| encoder.switch_backend() disabled=move || encoder.status() == Status::Loading>
                {move || if running_on_gpu() { "Use the CPU instead" } else { "Try WebGPU" }}
            </button>
        </section>
    }
}

#[component]
pub fn IndexPanel() -> impl IntoView {
    let reviews = expect_context::<Reviews>();
    let origin = move || match reviews.origin() {
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
                <progress max=move || reviews.progress().1.max(1) value=move || reviews.progress().0></progress>
                <span data-testid="indexed">{move || format!(" {} / {}", reviews.progress().0, reviews.progress().1)}</span>
            </p>
            <p class="hint">{origin}</p>
        </section>
    }
}
