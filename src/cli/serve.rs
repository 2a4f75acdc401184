//! `flicktune serve`: the page and its model files on a local address. Nothing else is
//! served; the page loads nothing from anywhere else. The page's code and JSON go gzipped
//! to a browser that accepts it (the wasm module shrinks about sixfold); the weights,
//! which hardly compress, go as they are. The page's code is revalidated on each load
//! (an ETag, `304 Not Modified` when unchanged), so a reload reuses what the browser has.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;
use tiny_http::{Header, Method, Request, Response, Server};

use flicktune::assets::{AssetDir, catalogue, page_data};
use flicktune::encoders::{ModelName, WeightPrecision};
use flicktune::ulmfit::{LM_FILES, LM_FOLDER, LM_MANIFEST_FILE};

use super::precompress::{Encoding, compressible, fresh_sibling};

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

/// Requests answered at once: a client that reads slowly (or not at all) holds one
/// of these, and the others go on serving.
const WORKERS: usize = 8;

pub fn run(args: &ServeArgs, assets: &AssetDir) -> Result<()> {
    anyhow::ensure!(
        args.dist.join("index.html").exists(),
        "{} has no index.html: build the page first (`./dev run` does)",
        args.dist.display()
    );
    let server = Server::http((args.host.as_str(), args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    // The bound address, so `--port 0` (any free port) says which one it got.
    let address =
        server.server_addr().to_ip().map_or_else(|| format!("{}:{}", args.host, args.port), |a| a.to_string());
    println!("Flicktune is served on http://{address}/");
    let gzipped = GzipCache::default();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                for request in server.incoming_requests() {
                    answer(request, args, assets, &gzipped);
                }
            });
        }
    });
    Ok(())
}

fn answer(request: Request, args: &ServeArgs, assets: &AssetDir, gzipped: &GzipCache) {
    // Reading is all this server does.
    if !matches!(request.method(), Method::Get | Method::Head) {
        let refused = Response::from_string("only GET and HEAD are served").with_status_code(405);
        let _ = request.respond(secured(refused.with_header(header("Allow", "GET, HEAD"))));
        return;
    }
    let path = request.url().split('?').next().unwrap_or("/").to_string();
    let Some(file) = resolve(&path, &args.dist, assets) else {
        let _ = request.respond(secured(not_found()));
        return;
    };
    let body = choose_body(&file, request.headers());
    // The page keeps model files in Cache Storage itself: the HTTP cache must not hide
    // from it (or from its tests) what was downloaded. Its code may be reused once the
    // server says it is unchanged.
    let tag = if is_page_code(&path) { body.etag().ok() } else { None };
    let cache_control = header("Cache-Control", if tag.is_some() { "no-cache" } else { "no-store" });
    if let Some(tag) = &tag
        && is_unchanged(request.headers(), tag)
    {
        let unchanged = Response::empty(304).with_header(header("ETag", tag)).with_header(cache_control);
        let _ = request.respond(secured(unchanged.with_header(header("Vary", "Accept-Encoding"))));
        return;
    }
    let response = match body.read(gzipped) {
        Ok(bytes) => {
            let mut response = Response::from_data(bytes)
                .with_header(header("Content-Type", content_type(&file)))
                .with_header(header("Vary", "Accept-Encoding"))
                .with_header(cache_control);
            if let Some(encoding) = body.encoding() {
                response = response.with_header(header("Content-Encoding", encoding.token()));
            }
            match &tag {
                Some(tag) => response.with_header(header("ETag", tag)),
                None => response,
            }
        }
        Err(_) => not_found(),
    };
    let _ = request.respond(secured(response));
}

/// What the page may load and run: its own files only, its wasm module, nothing inline
/// (review text that slipped into markup could not run), no framing, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every answer carries the page's security policy, and its type is to be believed
/// (`nosniff`: a review file is never run as a script).
fn secured<R: std::io::Read>(response: Response<R>) -> Response<R> {
    response
        .with_header(header("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header("Cross-Origin-Resource-Policy", "same-origin"))
}

/// What goes out for a file: as it is, a copy `flicktune precompress` made, or gzipped now
/// (data files, and page code nobody precompressed).
#[derive(Debug, PartialEq)]
enum Body {
    Plain(PathBuf),
    Precompressed(PathBuf, Encoding),
    GzippedNow(PathBuf),
}

/// The smallest body this client takes: a fresh precompressed copy (brotli first), else
/// gzip made here, else the file itself.
fn choose_body(file: &Path, headers: &[Header]) -> Body {
    if !compressible(file) {
        return Body::Plain(file.to_path_buf());
    }
    for encoding in Encoding::PRECOMPRESSED {
        if encoding.accepted_by(headers)
            && let Some(copy) = fresh_sibling(file, encoding)
        {
            return Body::Precompressed(copy, encoding);
        }
    }
    if Encoding::Gzip.accepted_by(headers) {
        Body::GzippedNow(file.to_path_buf())
    } else {
        Body::Plain(file.to_path_buf())
    }
}

impl Body {
    fn encoding(&self) -> Option<Encoding> {
        match self {
            Body::Plain(_) => None,
            Body::Precompressed(_, encoding) => Some(*encoding),
            Body::GzippedNow(_) => Some(Encoding::Gzip),
        }
    }

    /// A tag for this version of the body as sent: the file read's modification time and
    /// length, and the coding.
    fn etag(&self) -> std::io::Result<String> {
        let file = match self {
            Body::Plain(file) | Body::Precompressed(file, _) | Body::GzippedNow(file) => file,
        };
        let meta = fs::metadata(file)?;
        let modified = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let coding = self.encoding().map_or("identity", Encoding::token);
        Ok(format!("\"{modified:x}-{:x}-{coding}\"", meta.len()))
    }

    fn read(&self, gzipped: &GzipCache) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(file) | Body::Precompressed(file, _) => fs::read(file),
            Body::GzippedNow(file) => Ok(gzipped.get(file)?.as_ref().clone()),
        }
    }
}

/// Files gzipped here, by path, made once per version of the file (its modification time).
#[derive(Default)]
struct GzipCache(Mutex<HashMap<PathBuf, Gzipped>>);

/// A file's gzipped bytes and the version (modification time) they were made from.
type Gzipped = (SystemTime, Arc<Vec<u8>>);

impl GzipCache {
    fn get(&self, file: &Path) -> std::io::Result<Arc<Vec<u8>>> {
        let modified = fs::metadata(file)?.modified()?;
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(file).cloned();
        if let Some((when, bytes)) = known
            && when == modified
        {
            return Ok(bytes);
        }
        // Fast rather than small: this runs while a browser waits.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&fs::read(file)?)?;
        let bytes = Arc::new(encoder.finish()?);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(file.to_path_buf(), (modified, bytes.clone()));
        Ok(bytes)
    }
}

/// The page's own code: `index.html` (also at each view's URL), `pkg/` (the wasm module
/// and its glue) and `www/`.
fn is_page_code(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(path, "/" | "/index.html") || is_view(&segments) || path.starts_with("/pkg/") || path.starts_with("/www/")
}

/// A view's URL: `/movies`, `/movies/<slug>`, `/compare`, `/disagreements`.
fn is_view(segments: &[&str]) -> bool {
    match segments {
        ["movies" | "compare" | "disagreements"] => true,
        ["movies", slug] => is_plain_name(slug),
        _ => false,
    }
}

/// The browser's copy is `tag`'s version (`If-None-Match`).
fn is_unchanged(headers: &[Header], tag: &str) -> bool {
    headers.iter().any(|h| h.field.equiv("If-None-Match") && h.value.as_str().split(',').any(|t| t.trim() == tag))
}

/// Maps a URL path to a file, from a fixed set of places only (no `..` can escape them).
fn resolve(path: &str, dist: &Path, assets: &AssetDir) -> Option<PathBuf> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] | ["index.html"] => Some(dist.join("index.html")),
        // The page's views have URLs of their own; the page shows the one asked for.
        _ if is_view(&segments) => Some(dist.join("index.html")),
        ["pkg", file] | ["www", file] if is_plain_name(file) => Some(dist.join(segments[0]).join(file)),
        ["models", LM_FOLDER, file] if *file == LM_MANIFEST_FILE || LM_FILES.contains(file) => {
            Some(assets.awd_lstm_dir().join(file))
        }
        ["models", model, file] => {
            let model = ModelName::ALL.into_iter().find(|m| m.full_name() == *model)?;
            let served = WeightPrecision::ALL
                .into_iter()
                .any(|p| p.manifest_file() == *file || model.spec().files(p).contains(file));
            served.then(|| assets.model_dir(model).join(file))
        }
        ["data", "sample.jsonl"] => Some(assets.imdb_dir().join("sample.jsonl")),
        ["data", catalogue::CATALOGUE_FILE] => Some(assets.catalogue_dir().join(catalogue::CATALOGUE_FILE)),
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
        let plain = Body::Plain(file.clone()).etag().unwrap();
        let gzipped = Body::GzippedNow(file.clone()).etag().unwrap();
        assert_ne!(plain, gzipped, "each encoding has its own tag");
        assert!(is_unchanged(&[header("If-None-Match", &format!("\"x\", {plain}"))], &plain));
        assert!(!is_unchanged(&[header("If-None-Match", &gzipped)], &plain) && !is_unchanged(&[], &plain));
        fs::write(&file, "other, longer").unwrap();
        assert_ne!(Body::Plain(file).etag().unwrap(), plain, "a changed file has a new tag");
    }

    #[test]
    fn code_goes_in_the_smallest_coding_the_client_takes_and_weights_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flicktune.js");
        let text = "export const x = 1;\n".repeat(1000);
        fs::write(&file, &text).unwrap();
        let weights = dir.path().join("model.q4.bin");
        fs::write(&weights, [1u8; 32]).unwrap();
        let accepting = |value: &str| [header("Accept-Encoding", value)];
        let browser = accepting("gzip, deflate, br, zstd");

        // Nothing precompressed: gzip made here, or the file for a client without gzip.
        assert_eq!(choose_body(&file, &browser), Body::GzippedNow(file.clone()));
        assert_eq!(choose_body(&file, &accepting("br")), Body::Plain(file.clone()));
        assert_eq!(choose_body(&weights, &browser), Body::Plain(weights.clone()));
        let cache = GzipCache::default();
        let bytes = Body::GzippedNow(file.clone()).read(&cache).unwrap();
        assert!(bytes.len() < text.len() / 10, "{} bytes gzipped from {}", bytes.len(), text.len());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut plain).unwrap();
        assert_eq!(plain, text);

        // Precompressed copies: brotli to a browser that takes it, else the gzip copy.
        for encoding in Encoding::PRECOMPRESSED {
            fs::write(encoding.sibling(&file), encoding.compress(text.as_bytes()).unwrap()).unwrap();
        }
        let brotli = Body::Precompressed(Encoding::Brotli.sibling(&file), Encoding::Brotli);
        assert_eq!(choose_body(&file, &browser), brotli);
        assert_eq!(
            choose_body(&file, &accepting("gzip, br;q=0")),
            Body::Precompressed(Encoding::Gzip.sibling(&file), Encoding::Gzip)
        );
        assert_eq!(choose_body(&file, &[]), Body::Plain(file.clone()));
        assert_ne!(brotli.etag().unwrap(), Body::Plain(file.clone()).etag().unwrap());
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
        assert_eq!(
            resolve("/models/awd-lstm/awd-lstm.f16.safetensors", dist, &assets),
            Some(PathBuf::from("/a/models/awd-lstm/awd-lstm.f16.safetensors"))
        );
        assert_eq!(resolve("/data/catalogue.json", dist, &assets), Some(PathBuf::from("/a/catalogue/catalogue.json")));
        for view in ["/movies", "/movies/about_a_boy", "/compare", "/disagreements"] {
            assert_eq!(resolve(view, dist, &assets), Some(PathBuf::from("/d/index.html")), "{view}");
            assert!(is_page_code(view), "{view}");
        }
        for bad in [
            "/movies/../etc",
            "/movies/a/b",
            "/compare/x",
            "/pkg/../../etc/passwd",
            "/pkg/..",
            "/models/x/config.json",
            "/models/all-MiniLM-L6-v2/.complete",
            "/models/awd-lstm/.complete",
            "/models/awd-lstm/checkpoint.json",
            "/data/train.jsonl",
            "/data/test.jsonl",
            "/data/features.x.json",
        ] {
            assert_eq!(resolve(bad, dist, &assets), None, "{bad}");
        }
    }
}
