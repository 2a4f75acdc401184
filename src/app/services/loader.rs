//! Downloading the model files from the local server, with progress, into Cache Storage
//! (on the page or in the engine's worker: both share the origin's Cache Storage).
//!
//! Each model folder has a small manifest per weight precision (names, sizes, sha256), always
//! fetched fresh. Files are kept in Cache Storage under their URL plus their sha256, so a
//! reload reads them from the cache, and a changed file is a new entry. The page keeps
//! what it makes itself (fine-tuned layers) in the same cache.

use js_sys::{Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

use crate::app::error::{PageError, js_message};
use crate::app::global::{self, fetch};
use crate::encoders::tuned::sha256_hex;
use crate::encoders::{ModelName, WeightPrecision};

const CACHE_NAME: &str = "flicktune-models-v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// Where one file's download stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileProgress {
    pub name: String,
    pub done: u64,
    pub total: u64,
    pub from_cache: bool,
}

/// A file of the model in `folder` (an encoder's full name, or `awd-lstm`).
pub fn model_url(folder: &str, file: &str) -> String {
    format!("/models/{folder}/{file}")
}

fn cache_key(folder: &str, file: &ManifestFile) -> String {
    format!("{}?sha256={}", model_url(folder, &file.name), file.sha256)
}

pub async fn fetch_manifest(model: ModelName, precision: WeightPrecision) -> Result<Manifest, PageError> {
    fetch_manifest_in(model.full_name(), precision.manifest_file()).await
}

/// The manifest `name` of the model in `folder`.
pub async fn fetch_manifest_in(folder: &str, name: &str) -> Result<Manifest, PageError> {
    let url = model_url(folder, name);
    serde_json::from_str(&fetch_text(&url).await?).map_err(|source| PageError::Json { what: url, source })
}

pub async fn fetch_text(url: &str) -> Result<String, PageError> {
    let response = fetch(url).await?;
    let text = JsFuture::from(response.text()?).await?;
    Ok(text.as_string().unwrap_or_default())
}

async fn open_cache() -> Option<Cache> {
    // Cache Storage exists only in secure contexts (localhost counts); without it we
    // still work, we just download again next time.
    let caches = global::caches()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

/// Reads a file from the cache or downloads it, reporting progress; new downloads are
/// cached. The size is checked against the manifest, so a truncated file never loads.
pub async fn load_file(
    folder: &str,
    file: &ManifestFile,
    on_progress: &dyn Fn(FileProgress),
) -> Result<Vec<u8>, PageError> {
    let key = cache_key(folder, file);
    let cache = open_cache().await;
    let report = |done: u64, from_cache: bool| {
        on_progress(FileProgress { name: file.name.clone(), done, total: file.bytes, from_cache })
    };
    if let Some(cache) = &cache
        && let Some(bytes) = cached(cache, &key).await
    {
        if bytes.len() as u64 == file.bytes {
            report(file.bytes, true);
            return Ok(bytes);
        }
        let _ = JsFuture::from(cache.delete_with_str(&key)).await;
    }
    let response = fetch(&model_url(folder, &file.name)).await?;
    let body = response.body().ok_or_else(|| PageError::NoBody(file.name.clone()))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(file.bytes as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if Reflect::get(&chunk, &"done".into())?.is_truthy() {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())?.unchecked_into();
        bytes.extend_from_slice(&value.to_vec());
        report(bytes.len() as u64, false);
    }
    if bytes.len() as u64 != file.bytes {
        return Err(PageError::Truncated { name: file.name.clone(), got: bytes.len() as u64, expected: file.bytes });
    }
    let sha256 = sha256_hex(&bytes);
    if sha256 != file.sha256 {
        return Err(PageError::Corrupted { name: file.name.clone(), sha256 });
    }
    if let Some(cache) = &cache {
        let _ = put(cache, &key, &bytes).await;
    }
    Ok(bytes)
}

async fn cached(cache: &Cache, key: &str) -> Option<Vec<u8>> {
    let hit = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let response = hit.dyn_into::<Response>().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

async fn put(cache: &Cache, key: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let response = Response::new_with_opt_u8_array(Some(&mut bytes.to_vec()))?;
    JsFuture::from(cache.put_with_str(key, &response)).await?;
    Ok(())
}

/// Keeps bytes the page made itself (fine-tuned layers, their features) in Cache
/// Storage under `key`, a path that is never fetched from the server.
pub async fn keep(key: &str, bytes: &[u8]) -> Result<(), PageError> {
    let cache = open_cache().await.ok_or(PageError::Unsupported("Cache Storage"))?;
    put(&cache, key, bytes).await.map_err(|e| PageError::Refused { what: key.into(), reason: js_message(&e) })
}

/// Bytes kept with [`keep`], if the browser still has them.
pub async fn kept(key: &str) -> Option<Vec<u8>> {
    cached(&open_cache().await?, key).await
}

/// Forgets the cached files of the model in `folder` (after they failed to load, so a
/// reload fetches anew).
pub async fn evict(folder: &str, manifest: &Manifest) {
    if let Some(cache) = open_cache().await {
        for file in &manifest.files {
            let _ = JsFuture::from(cache.delete_with_str(&cache_key(folder, file))).await;
        }
    }
}
