//! What the page keeps in the browser's `localStorage`: the session (labels, classifier,
//! learning curve) and the settings. Nothing is sent anywhere.

use crate::app::error::{PageError, js_message};

pub const SESSION_KEY: &str = "flicktune.session.v1";
/// A saved session that could not be read is moved here rather than overwritten.
const UNREADABLE_KEY: &str = "flicktune.session.unreadable";
const MODEL_KEY: &str = "flicktune.model";
/// The contenders' learning curve (the Compare view).
const COMPARISON_KEY: &str = "flicktune.comparison.v1";
/// The contenders' latest scores, for the views after a reload.
const SCORES_KEY: &str = "flicktune.scores.v1";
/// Settings: retrain after every label; self-training; fine-tune the encoder's top layers on Train.
pub const AUTO_RETRAIN: &str = "flicktune.auto-retrain";
pub const SELF_TRAIN: &str = "flicktune.self-train";
pub const FINE_TUNE: &str = "flicktune.fine-tune";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn read_session() -> Option<String> {
    storage()?.get_item(SESSION_KEY).ok().flatten()
}

/// Saves the session; says why when the browser refuses (storage full or disabled).
pub fn write_session(json: &str) -> Result<(), PageError> {
    let storage = storage().ok_or(PageError::Unsupported("local storage"))?;
    storage
        .set_item(SESSION_KEY, json)
        .map_err(|e| PageError::Refused { what: "the labels".into(), reason: js_message(&e) })
}

/// Keeps an unreadable saved session aside, so a fresh start does not destroy it.
pub fn set_aside_unreadable(json: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(UNREADABLE_KEY, json);
        let _ = storage.remove_item(SESSION_KEY);
    }
}

pub fn read_model() -> Option<String> {
    storage()?.get_item(MODEL_KEY).ok().flatten()
}

pub fn write_model(model: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(MODEL_KEY, model);
    }
}

/// An on/off setting, by its key.
pub fn read_flag(key: &str) -> Option<bool> {
    storage()?.get_item(key).ok().flatten().map(|v| v == "true")
}

pub fn write_flag(key: &str, on: bool) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(key, if on { "true" } else { "false" });
    }
}

pub fn read_comparison() -> Option<Vec<crate::compare::ComparePoint>> {
    serde_json::from_str(&storage()?.get_item(COMPARISON_KEY).ok().flatten()?).ok()
}

/// Best effort: the curve is a view of past rounds, not the person's work.
pub fn write_comparison(points: &[crate::compare::ComparePoint]) {
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(points)) {
        let _ = storage.set_item(COMPARISON_KEY, &json);
    }
}

pub fn read_scores() -> Option<String> {
    storage()?.get_item(SCORES_KEY).ok().flatten()
}

/// Best effort: the scores can always be computed again from the labels. A refusal
/// (storage full) removes the older copy, which no longer matches the labels.
pub fn write_scores(json: &str) {
    if let Some(storage) = storage()
        && storage.set_item(SCORES_KEY, json).is_err()
    {
        let _ = storage.remove_item(SCORES_KEY);
    }
}

pub fn forget_scores() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(SCORES_KEY);
    }
}
