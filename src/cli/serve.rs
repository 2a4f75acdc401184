//! `flicktune serve`: the page and its model files on a local address. Nothing else is
//! served; the page loads nothing from anywhere else. The page's code and JSON go gzipped
//! to a browser that accepts it (the wasm module shrinks about sixfold); the weights,
//! which hardly compress, go as they are. The page's code is revalidated on each load
//! (an ETag, `304 Not Modified` when unchanged), so a reload reuses what the browser has.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;
use tiny_http::{Header, Response, Server};

use flicktune::assets::{AssetDir, page_data};
use flicktune::models::{ModelName, WeightPrecision};

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The built page: index.html, www/ and pkg/ (as `./dev run` builds it).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
}

pub fn run(args: &ServeArgs, assets: &AssetDir) -> Result<()> {
    anyhow::ensure!(
        args.dist.join("index.html").exists(),
        "{} has no index.html: build the page first (`./dev run` does)",
        args.dist.display()
    );
    let server = Server::http((args.host.as_str(), args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    println!("Flicktune is served on http://{}:{}/", args.host, args.port);
    let mut gzipped = GzipCache::default();
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("/").to_string();
        let gzip = accepts_gzip(request.headers());
        let Some(file) = resolve(&path, &args.dist, assets) else {
            let _ = request.respond(not_found());
            continue;
        };
        // The page keeps model files in Cache Storage itself: the HTTP cache must not hide
        // from it (or from its tests) what was downloaded. Its code may be reused once
        // the server says it is unchanged.
        let tag = if is_page_code(&path) { etag(&file, gzip && compressible(&file)).ok() } else { None };
        let cache_control = header("Cache-Control", if tag.is_some() { "no-cache" } else { "no-store" });
        if let Some(tag) = &tag
            && is_unchanged(request.headers(), tag)
        {
            let unchanged = Response::empty(304).with_header(header("ETag", tag)).with_header(cache_control);
            let _ = request.respond(unchanged.with_header(header("Vary", "Accept-Encoding")));
            continue;
        }
        let response = match read(&file, gzip, &mut gzipped) {
            Ok((bytes, encoded)) => {
                let mut response = Response::from_data(bytes)
                    .with_header(header("Content-Type", content_type(&file)))
                    .with_header(header("Vary", "Accept-Encoding"))
                    .with_header(cache_control);
                if encoded {
                    response = response.with_header(header("Content-Encoding", "gzip"));
                }
                match &tag {
                    Some(tag) => response.with_header(header("ETag", tag)),
                    None => response,
                }
            }
            Err(_) => not_found(),
        };
        let _ = request.respond(response);
    }
    Ok(())
}

/// Gzipped files by path, made once per version of the file (its modification time).
#[derive(Default)]
struct GzipCache(HashMap<PathBuf, (SystemTime, Vec<u8>)>);

/// The file's bytes, gzipped (and `true`) when the client takes gzip and the file is worth it.
fn read(file: &Path, gzip: bool, cache: &mut GzipCache) -> std::io::Result<(Vec<u8>, bool)> {
    if !(gzip && compressible(file)) {
        return Ok((fs::read(file)?, false));
    }
    let modified = fs::metadata(file)?.modified()?;
    if let Some((when, bytes)) = cache.0.get(file)
        && *when == modified
    {
        return Ok((bytes.clone(), true));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&fs::read(file)?)?;
    let bytes = encoder.finish()?;
    cache.0.insert(file.to_path_buf(), (modified, bytes.clone()));
    Ok((bytes, true))
}

/// The page's own code: `index.html`, `pkg/` (the wasm module and its glue) and `www/`.
fn is_page_code(path: &str) -> bool {
    matches!(path, "/" | "/index.html") || path.starts_with("/pkg/") || path.starts_with("/www/")
}

/// A tag for this version of the file as sent (gzipped or not): its modification time and length.
fn etag(file: &Path, gzipped: bool) -> std::io::Result<String> {
    let meta = fs::metadata(file)?;
    let modified = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok(format!("\"{modified:x}-{:x}{}\"", meta.len(), if gzipped { "-gzip" } else { "" }))
}

/// The browser's copy is `tag`'s version (`If-None-Match`).
fn is_unchanged(headers: &[Header], tag: &str) -> bool {
    headers.iter().any(|h| h.field.equiv("If-None-Match") && h.value.as_str().split(',').any(|t| t.trim() == tag))
}

fn accepts_gzip(headers: &[Header]) -> bool {
    headers.iter().any(|h| {
        h.field.equiv("Accept-Encoding")
            && h.value.as_str().split(',').any(|coding| coding.split(';').next().is_some_and(|c| c.trim() == "gzip"))
    })
}

/// The page's code and JSON; not the weights (`.safetensors`, `.bin`), which hardly compress.
fn compressible(file: &Path) -> bool {
    matches!(file.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "html" | "css" | "json" | "jsonl" | "svg"))
}

/// Maps a URL path to a file, from a fixed set of places only (no `..` can escape them).
fn resolve(path: &str, dist: &Path, assets: &AssetDir) -> Option<PathBuf> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] | ["index.html"] => Some(dist.join("index.html")),
        ["pkg", file] | ["www", file] if is_plain_name(file) => Some(dist.join(segments[0]).join(file)),
        ["models", model, file] => {
            let model = ModelName::ALL.into_iter().find(|m| m.full_name() == *model)?;
            let served = WeightPrecision::ALL
                .into_iter()
                .any(|p| p.manifest_file() == *file || model.spec().files(p).contains(file));
            served.then(|| assets.model_dir(model).join(file))
        }
        ["data", "sample.jsonl"] => Some(assets.imdb_dir().join("sample.jsonl")),
        ["data", page_data::HELDOUT_FILE] => Some(assets.page_dir().join(page_data::HELDOUT_FILE)),
        ["data", file] if ModelName::ALL.iter().any(|m| page_data::features_file(*m) == *file) => {
            Some(assets.page_dir().join(file))
        }
        _ => None,
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("jsonl") => "application/jsonl; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn not_found() -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string("not found").with_status_code(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_code_is_revalidated_and_the_rest_never_cached() {
        assert!(is_page_code("/") && is_page_code("/pkg/flicktune_bg.wasm") && is_page_code("/www/style.css"));
        assert!(!is_page_code("/models/x/model.q4.bin") && !is_page_code("/data/sample.jsonl"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flicktune.js");
        fs::write(&file, "one").unwrap();
        let (plain, gzipped) = (etag(&file, false).unwrap(), etag(&file, true).unwrap());
        assert_ne!(plain, gzipped, "each encoding has its own tag");
        assert!(is_unchanged(&[header("If-None-Match", &format!("\"x\", {plain}"))], &plain));
        assert!(!is_unchanged(&[header("If-None-Match", &gzipped)], &plain) && !is_unchanged(&[], &plain));
        fs::write(&file, "other, longer").unwrap();
        assert_ne!(etag(&file, false).unwrap(), plain, "a changed file has a new tag");
    }

    #[test]
    fn code_is_gzipped_for_clients_that_take_it_and_weights_never() {
        let gzip = |value: &str| accepts_gzip(&[header("Accept-Encoding", value)]);
        assert!(gzip("gzip, deflate, br, zstd") && gzip("br;q=1.0, gzip;q=0.8"));
        assert!(!gzip("br, zstd") && !gzip("x-gzip2") && !accepts_gzip(&[]));
        assert!(
            compressible(Path::new("/d/pkg/flicktune_bg.wasm")) && compressible(Path::new("/a/page/heldout.jsonl"))
        );
        assert!(!compressible(Path::new("/a/models/x/model.f16.safetensors")));
        assert!(!compressible(Path::new("/a/models/x/model.q4.bin")));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flicktune.js");
        let text = "export const x = 1;\n".repeat(1000);
        fs::write(&file, &text).unwrap();
        let mut cache = GzipCache::default();
        let (bytes, encoded) = read(&file, true, &mut cache).unwrap();
        assert!(encoded && bytes.len() < text.len() / 10, "{} bytes gzipped from {}", bytes.len(), text.len());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut plain).unwrap();
        assert_eq!(plain, text);
        assert_eq!(read(&file, false, &mut cache).unwrap(), (text.into_bytes(), false));
    }

    #[test]
    fn only_known_files_are_served() {
        let assets = AssetDir::new("/a");
        let dist = Path::new("/d");
        assert_eq!(resolve("/", dist, &assets), Some(PathBuf::from("/d/index.html")));
        assert_eq!(resolve("/pkg/flicktune_bg.wasm", dist, &assets), Some(PathBuf::from("/d/pkg/flicktune_bg.wasm")));
        assert_eq!(resolve("/data/heldout.jsonl", dist, &assets), Some(PathBuf::from("/a/page/heldout.jsonl")));
        assert_eq!(
            resolve("/data/features.all-MiniLM-L6-v2.json", dist, &assets),
            Some(PathBuf::from("/a/page/features.all-MiniLM-L6-v2.json"))
        );
        assert_eq!(
            resolve("/models/paraphrase-MiniLM-L3-v2/model.f16.safetensors", dist, &assets),
            Some(PathBuf::from("/a/models/paraphrase-MiniLM-L3-v2/model.f16.safetensors"))
        );
        for bad in [
            "/pkg/../../etc/passwd",
            "/pkg/..",
            "/models/x/config.json",
            "/models/all-MiniLM-L6-v2/.complete",
            "/data/train.jsonl",
            "/data/test.jsonl",
            "/data/features.x.json",
        ] {
            assert_eq!(resolve(bad, dist, &assets), None, "{bad}");
        }
    }
}
