//! `window.flicktune`: the engine for scripts, and for the page's end-to-end tests.
//!
//! ```js
//! await flicktune.embed(["A fine film.", "Dreadful."])  // → [[384 floats], [384 floats]]
//! flicktune.backend()                                     // → "webgpu" | "cpu" | "none"
//! await flicktune.countTokens(["A fine film."])           // → 6
//! flicktune.ready()                                       // → true once a model is loaded
//! flicktune.model()                                       // → "e5", "l3", … (the one loaded or loading), or "none"
//! await flicktune.pooledBatch([Uint32Array.of(101, 2307, 102)])  // → [[384 floats]]: mean-pooled, not normalised
//! await flicktune.languageModelFeatures(["A fine film."])  // → [[384 floats]]: the AWD-LSTM's concat pooling
//! await flicktune.trainUlmfit([{text, label}], unlabelledTexts, {maxTokens, minStageSteps})  // → {tuningSeconds, trainingSeconds, steps, progress}
//! await flicktune.ulmfitPositive(["A fine film."])  // → Float32Array of probabilities
//! await flicktune.memory()  // → {page: bytes, workers: [bytes…]}: the wasm memory of the page and of each engine worker
//! flicktune.comparison   // → the contenders' latest scores (below), or null
//! ```
//!
//! `comparison` is `{labels, shown, heldout: {key: accuracy}, critics: {key: accuracy},
//! reviews: [{movie, text, fresh, labelled, positive: {key: probability}}], seconds:
//! {train, score, ulmfit: {tuning, training, scoring} or null}}`, contenders
//! by [`crate::compare::Contender::key`], reviews in catalogue order.

use wasm_bindgen::prelude::*;

use super::services::engine::Engine;
use super::services::engine::protocol::Progress;
use crate::ulmfit::UlmfitConfig;

#[wasm_bindgen]
pub struct Flicktune {
    engine: Engine,
}

#[wasm_bindgen]
impl Flicktune {
    /// Pooled, L2-normalised embeddings (`first` pooling, 256 tokens), one array per text.
    pub fn embed(&self, texts: Vec<String>) -> js_sys::Promise {
        let engine = self.engine.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let embeddings =
                engine.embed(&texts).await.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            let out = js_sys::Array::new();
            for e in embeddings {
                out.push(&js_sys::Float32Array::from(e.vector.as_slice()).into());
            }
            Ok(out.into())
        })
    }

    /// `"webgpu"` or `"cpu"` once a model is loaded, `"none"` before.
    pub fn backend(&self) -> String {
        self.engine.backend().map_or("none", |b| b.js_name()).to_string()
    }

    /// How many tokens `embed` would read for these texts.
    #[wasm_bindgen(js_name = countTokens)]
    pub fn count_tokens(&self, texts: Vec<String>) -> js_sys::Promise {
        let engine = self.engine.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let tokens =
                engine.count_tokens(&texts).await.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            Ok(JsValue::from(tokens))
        })
    }

    /// Mean-pooled last hidden states (not normalised) of one batch of token-id windows,
    /// special tokens included: for measuring the encoder against another engine on
    /// exactly the same ids.
    #[wasm_bindgen(js_name = pooledBatch)]
    pub fn pooled_batch(&self, windows: Vec<js_sys::Uint32Array>) -> js_sys::Promise {
        let engine = self.engine.clone();
        let windows: Vec<Vec<u32>> = windows.iter().map(js_sys::Uint32Array::to_vec).collect();
        wasm_bindgen_futures::future_to_promise(async move {
            let vectors =
                engine.pooled_batch(&windows).await.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            Ok(rows_to_js(vectors))
        })
    }

    /// ULMFiT's pretrained AWD-LSTM reading `texts` (their first 400 words): the last
    /// layer's outputs, concat-pooled (last, max, mean), one array per text. Downloads and
    /// caches the language model the first time.
    #[wasm_bindgen(js_name = languageModelFeatures)]
    pub fn language_model_features(&self, texts: Vec<String>) -> js_sys::Promise {
        let engine = self.engine.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let rows = engine
                .language_model_features(&texts, &|_| {})
                .await
                .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            Ok(rows_to_js(rows))
        })
    }

    /// Trains ULMFiT's classifier in the engine's worker: the AWD-LSTM tuned to
    /// `unlabelled` texts (once per set), then its classifier on `labelled`
    /// (`[{text, label}]`, 1 positive). Resolves to `{tuningSeconds, trainingSeconds,
    /// steps, progress}` (`progress`: how many step reports came). `settings`, optional,
    /// shortens the page's: `{maxTokens, minStageSteps}`, either or both (a run short
    /// enough for a software WebGPU adapter).
    #[wasm_bindgen(js_name = trainUlmfit)]
    pub fn train_ulmfit(
        &self,
        labelled: js_sys::Array,
        unlabelled: Vec<String>,
        settings: Option<js_sys::Object>,
    ) -> js_sys::Promise {
        let engine = self.engine.clone();
        let field = |item: &JsValue, key: &str| js_sys::Reflect::get(item, &key.into()).unwrap_or_default();
        let mut config = UlmfitConfig::for_page();
        if let Some(settings) = settings {
            let count = |key| field(&settings, key).as_f64().filter(|n| *n >= 1.0).map(|n| n as usize);
            config.max_tokens = count("maxTokens").unwrap_or(config.max_tokens);
            config.min_stage_steps = count("minStageSteps").unwrap_or(config.min_stage_steps);
        }
        let labelled: Vec<(String, u8)> = labelled
            .iter()
            .map(|item| {
                (field(&item, "text").as_string().unwrap_or_default(), field(&item, "label").as_f64() == Some(1.0))
            })
            .map(|(text, positive)| (text, u8::from(positive)))
            .collect();
        wasm_bindgen_futures::future_to_promise(async move {
            let fail = |e: &dyn std::fmt::Display| JsValue::from(js_sys::Error::new(&e.to_string()));
            let reports = std::cell::Cell::new(0u32);
            let progress = |p: Progress| {
                if matches!(p, Progress::Step { .. }) {
                    reports.set(reports.get() + 1);
                }
            };
            let trained =
                engine.train_ulmfit(labelled, unlabelled, config, &progress, &|| false).await.map_err(|e| fail(&e))?;
            let trained = trained.ok_or_else(|| fail(&"cancelled"))?;
            let out = js_sys::Object::new();
            js_sys::Reflect::set(&out, &"tuningSeconds".into(), &trained.tuning_seconds.into())?;
            js_sys::Reflect::set(&out, &"trainingSeconds".into(), &trained.training_seconds.into())?;
            js_sys::Reflect::set(&out, &"steps".into(), &(trained.steps as f64).into())?;
            js_sys::Reflect::set(&out, &"progress".into(), &reports.get().into())?;
            Ok(out.into())
        })
    }

    /// The last ULMFiT classifier's probability that each text is positive.
    #[wasm_bindgen(js_name = ulmfitPositive)]
    pub fn ulmfit_positive(&self, texts: Vec<String>) -> js_sys::Promise {
        let engine = self.engine.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let p =
                engine.ulmfit_positive(&texts).await.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            Ok(js_sys::Float32Array::from(p.as_slice()).into())
        })
    }

    /// The short name of the encoder loaded (or loading): `"e5"`, `"l3"`, …; `"none"` before.
    pub fn model(&self) -> String {
        self.engine.model().map_or("none", |m| m.short()).to_string()
    }

    /// The wasm memory of the page's instance and of each engine worker's (the primary
    /// first), in bytes: `{page, workers: [...]}`.
    pub fn memory(&self) -> js_sys::Promise {
        let engine = self.engine.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (page, workers) =
                engine.memory_bytes().await.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            let out = js_sys::Object::new();
            js_sys::Reflect::set(&out, &"page".into(), &page.into())?;
            let workers: js_sys::Array = workers.into_iter().map(JsValue::from).collect();
            js_sys::Reflect::set(&out, &"workers".into(), &workers)?;
            Ok(out.into())
        })
    }

    /// Whether a model is loaded and `embed` can be called.
    pub fn ready(&self) -> bool {
        self.engine.is_ready()
    }
}

/// One `Float32Array` per row.
fn rows_to_js(rows: Vec<Vec<f32>>) -> JsValue {
    let out = js_sys::Array::new();
    for row in rows {
        out.push(&js_sys::Float32Array::from(row.as_slice()).into());
    }
    out.into()
}

/// Makes the engine reachable as `window.flicktune`.
pub fn install(engine: Engine) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    js_sys::Reflect::set(&window, &"flicktune".into(), &Flicktune { engine }.into())?;
    Ok(())
}

/// Puts the contenders' latest scores at `window.flicktune.comparison` (`null` for none).
pub fn publish_comparison(
    scores: Option<&crate::app::state::Scores>,
    catalogue: Option<&crate::app::services::catalogue::LoadedCatalogue>,
) {
    use crate::compare::Contender;
    let value = scores.map(|s| {
        let by_key =
            |values: &crate::compare::PerContender<Option<f32>>| -> serde_json::Map<String, serde_json::Value> {
                Contender::ALL.iter().map(|c| (c.key().to_string(), serde_json::json!(values[c.index()]))).collect()
            };
        let reviews: Vec<serde_json::Value> = catalogue
            .map(|c| {
                (0..c.len())
                    .filter_map(|i| {
                        let (movie, review) = c.review(i)?;
                        let positive: serde_json::Map<String, serde_json::Value> = Contender::ALL
                            .iter()
                            .map(|k| {
                                let p = s.catalogue[k.index()].as_ref().and_then(|v| v.get(i).copied());
                                (k.key().to_string(), serde_json::json!(p))
                            })
                            .collect();
                        Some(serde_json::json!({
                            "movie": movie.slug, "text": review.text, "fresh": review.fresh,
                            "labelled": s.labelled.contains_key(&i), "positive": positive,
                        }))
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({
            "labels": s.labels, "shown": s.shown.key(), "heldout": by_key(&s.heldout),
            "critics": by_key(&s.critics), "reviews": reviews,
            "seconds": { "train": s.train_seconds, "score": s.score_seconds, "ulmfit": s.ulmfit_seconds },
        })
    });
    let json = value.map_or_else(|| "null".to_string(), |v| v.to_string());
    let Some(window) = web_sys::window() else { return };
    if let (Ok(api), Ok(parsed)) = (js_sys::Reflect::get(&window, &"flicktune".into()), js_sys::JSON::parse(&json)) {
        let _ = js_sys::Reflect::set(&api, &"comparison".into(), &parsed);
    }
}
