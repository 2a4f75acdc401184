//! The browser's global scope, on the page or in the engine's Web Worker: timers, fetch,
//! Cache Storage and the navigator, which both have. Nothing here assumes a `window`: a
//! `window.setTimeout` in a worker would never fire and the worker would hang instead of
//! failing.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CacheStorage, Response};

use crate::app::error::{PageError, js_message};

/// A property of the global scope, `undefined` when it has none.
fn property(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Calls the global scope's function `name` with `args`, as a method of the scope.
fn call(name: &str, args: &js_sys::Array) -> Result<JsValue, PageError> {
    let function: Function = property(name).dyn_into().map_err(|_| PageError::Unsupported("a global function"))?;
    Ok(Reflect::apply(&function, &js_sys::global(), args)?)
}

/// Waits `ms` milliseconds without blocking the thread's event loop.
pub async fn wait_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = call("setTimeout", &js_sys::Array::of2(&resolve, &ms.into()));
    });
    let _ = JsFuture::from(promise).await;
}

/// `fetch(url)`, with a failed request or a status other than 2xx as an error.
pub async fn fetch(url: &str) -> Result<Response, PageError> {
    let failed = |e: JsValue| PageError::Fetch { url: url.into(), reason: js_message(&e) };
    let promise: Promise = call("fetch", &js_sys::Array::of1(&url.into()))?.unchecked_into();
    let response: Response = JsFuture::from(promise).await.map_err(failed)?.unchecked_into();
    if !response.ok() {
        return Err(PageError::Server { url: url.into(), status: response.status() });
    }
    Ok(response)
}

/// Cache Storage, where the scope has it (secure contexts only; localhost counts).
pub fn caches() -> Option<CacheStorage> {
    // Reading `caches` in an insecure context throws rather than giving `undefined`.
    property("caches").dyn_into().ok()
}

/// `navigator.gpu`, or `None` where the browser has no WebGPU.
pub fn gpu() -> Option<JsValue> {
    let gpu = Reflect::get(&property("navigator"), &"gpu".into()).ok()?;
    (!gpu.is_undefined() && !gpu.is_null()).then_some(gpu)
}

/// The wasm module's linear memory in bytes, in this thread's instance (it only grows).
pub fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}

/// A parameter of the page's address, such as `f32` in `?precision=f32` (none in a worker).
pub fn url_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| Some(pair.strip_prefix(name)?.strip_prefix('=')?.to_string()))
}
