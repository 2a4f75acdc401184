//! The page's side of an engine Web Worker ([`EngineWorker`]) and the messages both
//! sides post. The worker is this same wasm module, started by `www/engine-worker.js`
//! ([`super::host`] is its side); both speak [`super::protocol`]: a message holds a
//! request's id, the request or reply as JSON, and bytes beside it as transferred buffers.
//! The page side sends cancellation between progress messages.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::protocol::{Answer, Progress, Request};
use crate::app::error::{PageError, js_message};

/// The worker's script, beside the page's other code.
const SCRIPT: &str = "/www/engine-worker.js";

/// A request the worker could not answer: its message, and whether the WebGPU device it
/// ran on is lost (then the page moves the encoder to the CPU).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub device_lost: bool,
}

impl From<PageError> for Failure {
    fn from(error: PageError) -> Self {
        Failure { message: error.to_string(), device_lost: false }
    }
}

/// What the worker sends back for a request.
enum Incoming {
    Progress(Progress),
    /// Boxed: a reply is large beside a progress step, and there are many of those.
    Outcome(Box<Answer>),
}

/// The page's side: the worker and the requests waiting for it.
pub struct EngineWorker {
    worker: JsValue,
    next_id: Cell<u32>,
    waiting: Rc<RefCell<Waiting>>,
    _listeners: [Closure<dyn FnMut(JsValue)>; 2],
}

/// The requests waiting for an answer, or why none will come.
struct Waiting {
    requests: HashMap<u32, mpsc::UnboundedSender<Incoming>>,
    stopped: Option<String>,
    /// Told once, when the worker stops.
    on_stop: Rc<dyn Fn(String)>,
}

impl Waiting {
    /// The worker will answer nothing more: every request waiting ends with `reason`.
    fn stop(&mut self, reason: String) {
        if self.stopped.is_some() {
            return;
        }
        let failure = format!("the engine's worker stopped ({reason})");
        for (_, sender) in self.requests.drain() {
            let _ = sender.unbounded_send(Incoming::Outcome(Box::new(Err(PageError::Engine(failure.clone())))));
        }
        self.stopped = Some(failure);
        (self.on_stop)(reason);
    }
}

impl EngineWorker {
    /// Starts the worker (a module worker) and hands it this page's compiled module.
    /// `on_stop` is told why, once, if the worker stops answering (a panic, an uncaught
    /// error, a failed start); the worker is then of no further use.
    /// `name` tells the workers apart in the browser's tools (`self.name` inside).
    pub fn start(name: &str, on_stop: impl Fn(String) + 'static) -> Result<Self, PageError> {
        let constructor: js_sys::Function = Reflect::get(&js_sys::global(), &"Worker".into())?
            .dyn_into()
            .map_err(|_| PageError::Unsupported("Web Worker"))?;
        let options = Object::new();
        Reflect::set(&options, &"type".into(), &"module".into())?;
        Reflect::set(&options, &"name".into(), &name.into())?;
        let worker = Reflect::construct(&constructor, &Array::of2(&SCRIPT.into(), &options))?;

        let waiting =
            Rc::new(RefCell::new(Waiting { requests: HashMap::new(), stopped: None, on_stop: Rc::new(on_stop) }));
        let on_message = Closure::<dyn FnMut(JsValue)>::new({
            let waiting = waiting.clone();
            move |event: JsValue| {
                let data = field(&event, "data");
                if let Some(fatal) = field(&data, "fatal").as_string() {
                    return waiting.borrow_mut().stop(fatal);
                }
                if let Some(refused) = field(&data, "refused").as_string() {
                    // The wording the browser tests look for on the page's console.
                    let message = format!("Content Security Policy: the engine's worker was refused: {refused}");
                    leptos::logging::error!("{message}");
                    return crate::app::show_panic(&message);
                }
                let Some(id) = field(&data, "id").as_f64().map(|id| id as u32) else { return };
                if let Some(sender) = waiting.borrow().requests.get(&id) {
                    let _ = sender.unbounded_send(read_incoming(&data));
                }
            }
        });
        // A worker that panicked answers nothing more.
        let on_error = Closure::<dyn FnMut(JsValue)>::new({
            let waiting = waiting.clone();
            move |event: JsValue| {
                let reason = field(&event, "message").as_string().unwrap_or_else(|| "no reason given".into());
                event.dyn_ref::<web_sys::Event>().inspect(|e| e.prevent_default());
                waiting.borrow_mut().stop(reason);
            }
        });
        let listen = |kind: &str, listener: &Closure<dyn FnMut(JsValue)>| -> Result<(), PageError> {
            let add: js_sys::Function = Reflect::get(&worker, &"addEventListener".into())?.into();
            add.call2(&worker, &kind.into(), listener.as_ref())?;
            Ok(())
        };
        listen("message", &on_message)?;
        listen("error", &on_error)?;
        let handover = Object::new();
        Reflect::set(&handover, &"module".into(), &wasm_bindgen::module())?;
        post(&worker, &(handover.into(), Array::new()))?;
        Ok(EngineWorker { worker, next_id: Cell::new(0), waiting, _listeners: [on_message, on_error] })
    }

    /// Whether the worker stopped: it answers nothing more.
    pub fn is_stopped(&self) -> bool {
        self.waiting.borrow().stopped.is_some()
    }

    /// Sends `request` (with `bytes` beside it) and waits for its reply, passing progress on
    /// and asking the worker to stop once `cancelled()` says so at a progress message.
    pub async fn ask(
        &self,
        request: &Request,
        bytes: Vec<Vec<u8>>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Answer {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (sender, mut receiver) = mpsc::unbounded();
        {
            let mut waiting = self.waiting.borrow_mut();
            if let Some(reason) = &waiting.stopped {
                return Err(PageError::Engine(reason.clone()));
            }
            waiting.requests.insert(id, sender);
        }
        let outcome = self.exchange(id, request, bytes, &mut receiver, progress, cancelled).await;
        self.waiting.borrow_mut().requests.remove(&id);
        outcome
    }

    async fn exchange(
        &self,
        id: u32,
        request: &Request,
        bytes: Vec<Vec<u8>>,
        receiver: &mut mpsc::UnboundedReceiver<Incoming>,
        progress: &dyn Fn(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Answer {
        let body = serde_json::to_string(request).map_err(|e| PageError::Browser(e.to_string()))?;
        post(&self.worker, &message(id, "request", &body, bytes)?)?;
        let mut cancel_sent = false;
        while let Some(incoming) = receiver.next().await {
            match incoming {
                Incoming::Progress(step) => {
                    progress(step);
                    if !cancel_sent && cancelled() {
                        let cancel = Object::new();
                        Reflect::set(&cancel, &"id".into(), &id.into())?;
                        Reflect::set(&cancel, &"cancel".into(), &true.into())?;
                        post(&self.worker, &(cancel.into(), Array::new()))?;
                        cancel_sent = true;
                    }
                }
                Incoming::Outcome(outcome) => return *outcome,
            }
        }
        Err(PageError::Engine("the engine's worker stopped".into()))
    }
}

impl Drop for EngineWorker {
    fn drop(&mut self) {
        if let Ok(terminate) = Reflect::get(&self.worker, &"terminate".into()) {
            let _ = js_sys::Function::from(terminate).call0(&self.worker);
        }
    }
}

/// What a message from the worker says about its request.
fn read_incoming(data: &JsValue) -> Incoming {
    if let Some(error) = field(data, "error").as_string() {
        let lost = field(data, "deviceLost").is_truthy();
        return Incoming::Outcome(Box::new(Err(if lost {
            PageError::EngineDeviceLost(error)
        } else {
            PageError::Engine(error)
        })));
    }
    let parse = |key: &str| field(data, key).as_string().unwrap_or_default();
    if let Some(step) = field(data, "progress").as_string()
        && let Ok(step) = serde_json::from_str(&step)
    {
        return Incoming::Progress(step);
    }
    match serde_json::from_str(&parse("reply")) {
        Ok(reply) => Incoming::Outcome(Box::new(Ok((reply, read_bytes(data))))),
        Err(e) => Incoming::Outcome(Box::new(Err(PageError::UnexpectedReply(format!("unreadable: {e}"))))),
    }
}

/// `{id, <key>: body, bytes: [Uint8Array…]}` and the buffers to transfer with it.
pub(super) fn message(id: u32, key: &str, body: &str, bytes: Vec<Vec<u8>>) -> Result<(JsValue, Array), PageError> {
    let object = Object::new();
    Reflect::set(&object, &"id".into(), &id.into())?;
    Reflect::set(&object, &key.into(), &body.into())?;
    let (arrays, transfer) = (Array::new(), Array::new());
    for b in bytes {
        let array = Uint8Array::from(b.as_slice());
        transfer.push(&array.buffer());
        arrays.push(&array);
    }
    Reflect::set(&object, &"bytes".into(), &arrays)?;
    Ok((object.into(), transfer))
}

pub(super) fn error_message(id: u32, failure: &Failure) -> Result<(JsValue, Array), PageError> {
    let object = Object::new();
    Reflect::set(&object, &"id".into(), &id.into())?;
    Reflect::set(&object, &"error".into(), &failure.message.as_str().into())?;
    Reflect::set(&object, &"deviceLost".into(), &failure.device_lost.into())?;
    Ok((object.into(), Array::new()))
}

pub(super) fn read_bytes(data: &JsValue) -> Vec<Vec<u8>> {
    let arrays = field(data, "bytes");
    if !Array::is_array(&arrays) {
        return Vec::new();
    }
    Array::from(&arrays).iter().map(|a| Uint8Array::new(&a).to_vec()).collect()
}

/// `target.postMessage(message, transfer)`: `target` is the worker, or the worker's own
/// global scope.
pub(super) fn post(target: &JsValue, (message, transfer): &(JsValue, Array)) -> Result<(), PageError> {
    let post: js_sys::Function = Reflect::get(target, &"postMessage".into())?.into();
    post.call2(target, message, transfer).map_err(|e| PageError::Browser(js_message(&e)))?;
    Ok(())
}

pub(super) fn field(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}
