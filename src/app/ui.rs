//! The page's components: one per concern, state in signals.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::engine::{ActiveBackend, Engine};
use super::index::ReviewIndex;
use super::loader::{self, FileProgress};
use crate::backend::BackendKind;
use crate::models::{ModelName, WeightPrecision};

/// Where loading the model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Loading,
    Ready,
    Failed(String),
}

/// The page's state, shared with the components through context.
#[derive(Clone, Copy)]
struct PageState {
    precision: WeightPrecision,
    model: RwSignal<ModelName>,
    prefer: RwSignal<BackendKind>,
    status: RwSignal<Status>,
    files: RwSignal<Vec<FileProgress>>,
    download_bytes: RwSignal<Option<u64>>,
    backend: RwSignal<Option<ActiveBackend>>,
    indexed: RwSignal<(usize, usize)>,
    /// Bumped to load again with the same settings (e.g. retry WebGPU after a fallback).
    retry: RwSignal<u32>,
    /// Bumped by every (re)load, so a superseded load's results are dropped.
    generation: RwSignal<u32>,
}

/// `?precision=f32` downloads the original f32 weights (twice the bytes) instead of f16.
fn precision_from_url() -> WeightPrecision {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    if search.contains("precision=f32") { WeightPrecision::F32 } else { WeightPrecision::F16 }
}

#[component]
pub fn App(engine: Engine, index: ReviewIndex, webgpu_available: bool) -> impl IntoView {
    let precision = precision_from_url();
    let state = PageState {
        precision,
        model: RwSignal::new(ModelName::L3),
        prefer: RwSignal::new(if webgpu_available { BackendKind::Wgpu } else { BackendKind::Cpu }),
        status: RwSignal::new(Status::Loading),
        files: RwSignal::new(Vec::new()),
        download_bytes: RwSignal::new(None),
        backend: RwSignal::new(None),
        indexed: RwSignal::new((0, 0)),
        retry: RwSignal::new(0),
        generation: RwSignal::new(0),
    };
    provide_context(state);
    Effect::new(move |_| {
        let (model, prefer) = (state.model.get(), state.prefer.get());
        state.retry.track();
        let generation = state.generation.get_untracked() + 1;
        state.generation.set(generation);
        spawn_local(load(engine.clone(), index.clone(), state, model, precision, prefer, generation));
    });
    view! {
        <header>
            <h1>"Flicktune"</h1>
            <p class="tagline">"A sentiment model that learns from your labels, in this tab. Nothing leaves the page."</p>
        </header>
        <main>
            <ModelPanel/>
            <BackendPanel/>
            <IndexPanel/>
        </main>
    }
}

async fn load(
    engine: Engine,
    index: ReviewIndex,
    state: PageState,
    model: ModelName,
    precision: WeightPrecision,
    prefer: BackendKind,
    generation: u32,
) {
    let current = move || state.generation.get_untracked() == generation;
    state.status.set(Status::Loading);
    state.files.set(Vec::new());
    let manifest = match loader::fetch_manifest(model, precision).await {
        Ok(manifest) => manifest,
        Err(e) => {
            if current() {
                state.status.set(Status::Failed(e));
            }
            return;
        }
    };
    state.download_bytes.set(Some(manifest.total_bytes()));
    let on_progress = move |p: FileProgress| {
        if current() {
            state.files.update(|files| match files.iter_mut().find(|f| f.name == p.name) {
                Some(f) => *f = p.clone(),
                None => files.push(p.clone()),
            });
        }
    };
    let outcome = engine.load(model, &manifest, prefer, &on_progress).await;
    if !current() {
        return;
    }
    match outcome {
        Ok(backend) => {
            state.backend.set(Some(backend));
            state.status.set(Status::Ready);
            let on_indexed = move |done, total| {
                if current() {
                    state.indexed.set((done, total));
                }
            };
            if let Err(e) = index.build(&engine, &on_indexed, &current).await {
                leptos::logging::warn!("indexing the review sample stopped: {e}");
            }
        }
        Err(e) => state.status.set(Status::Failed(e)),
    }
}

fn megabytes(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.0} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

#[component]
fn ModelPanel() -> impl IntoView {
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
                    if let Ok(model) = event_target_value(&ev).parse() {
                        state.model.set(model);
                    }
                }>
                    <option value="l3" selected=move || state.model.get() == ModelName::L3>
                        "paraphrase-MiniLM-L3 (3 layers, fastest; default)"
                    </option>
                    <option value="l6" selected=move || state.model.get() == ModelName::L6>
                        "all-MiniLM-L6 (6 layers)"
                    </option>
                </select>
            </label>
            <p>
                "Download: "
                {move || state.download_bytes.get().map_or("…".to_string(), megabytes)}
                {match state.precision {
                    WeightPrecision::F16 => " (weights as f16, computed in f32;",
                    WeightPrecision::F32 => " (original f32 weights;",
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
fn BackendPanel() -> impl IntoView {
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
fn IndexPanel() -> impl IntoView {
    let state = expect_context::<PageState>();
    view! {
        <section class="panel">
            <h2>"Review sample"</h2>
            <p>
                "Reading the bundled reviews (from the training split) with the encoder: "
                <progress max=move || state.indexed.get().1.max(1) value=move || state.indexed.get().0></progress>
                <span data-testid="indexed">{move || format!(" {} / {}", state.indexed.get().0, state.indexed.get().1)}</span>
            </p>
        </section>
    }
}
