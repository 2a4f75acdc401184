//! `flicktune serve`: the page and its model files on a local address. Nothing else is
//! served; the page loads nothing from anywhere else. The page's code and JSON go gzipped
//! to a browser that accepts it (the wasm module shrinks about sixfold); the weights,
//! which hardly compress, go as they are. The page's code is revalidated on each load
//! (an ETag, `304 Not Modified` when unchanged), so a reload reuses what the browser has.
//!
//! Connections are hyper's over tokio: a client waiting costs a task, not a thread. One
//! that sends its request too slowly, or stops reading its answer, is dropped after
//! `--client-timeout`, so stalled clients hold nothing the others need. Which file a URL
//! names, and how it is tagged and coded, is this module's own policy (`resolve`,
//! `choose_body`): the served files come from several folders by a fixed list, and
//! tower-http's `ServeDir` serves one folder without ETags.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use futures_util::TryStreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tokio_util::io::ReaderStream;

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
    /// Seconds a client may take to send a request's head, or to take the next part of
    /// an answer, before its connection is dropped.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    client_timeout: u64,
}

/// Connections held at once; the next client waits in the listen queue until one ends.
/// Each costs a socket and a task, so this bounds file descriptors, not work.
const MAX_CONNECTIONS: usize = 1024;

pub fn run(args: &ServeArgs, assets: &AssetDir) -> Result<()> {
    anyhow::ensure!(
        args.dist.join("index.html").exists(),
        "{} has no index.html: build the page first (`./dev run` does)",
        args.dist.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let site = Site { dist: args.dist.clone(), assets: assets.clone(), gzipped: GzipCache::default() };
    runtime.block_on(serve(args, Arc::new(site)))
}

async fn serve(args: &ServeArgs, site: Arc<Site>) -> Result<()> {
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    // The bound address, so `--port 0` (any free port) says which one it got.
    println!("Flicktune is served on http://{}/", listener.local_addr()?);
    let timeout = Duration::from_secs(args.client_timeout);
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = open.clone().acquire_owned().await.expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, or a connection reset before it was taken: the
            // server goes on; a short pause keeps a persistent error from spinning.
            Err(e) => {
                eprintln!("serve: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(timeout));
        stream.set_write_timeout(Some(timeout));
        let site = site.clone();
        tokio::spawn(async move {
            let answer = service_fn(move |request| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(site.answer(request).await) }
            });
            // A dropped or timed-out client ends only its own connection.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(Box::pin(stream)), answer)
                .await;
            drop(permit);
        });
    }
}

/// What is served: the built page, the assets folder, and the gzip copies made here.
struct Site {
    dist: PathBuf,
    assets: AssetDir,
    gzipped: GzipCache,
}

type Answer = Response<BoxBody<Bytes, std::io::Error>>;

impl Site {
    async fn answer(self: Arc<Self>, request: Request<Incoming>) -> Answer {
        let (method, path, headers) =
            (request.method().clone(), request.uri().path().to_owned(), request.headers().clone());
        // Files are read, and sometimes gzipped, off the connections' threads.
        let reply = tokio::task::spawn_blocking(move || self.reply(&method, &path, &headers)).await;
        reply.unwrap_or_else(|_| Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "the server failed")).into_answer()
    }

    fn reply(&self, method: &Method, path: &str, headers: &HeaderMap) -> Reply {
        // Reading is all this server does.
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served")
                .with(header::ALLOW, "GET, HEAD");
        }
        let Some(file) = resolve(path, &self.dist, &self.assets) else {
            return Reply::not_found();
        };
        let body = choose_body(&file, headers);
        // The page keeps model files in Cache Storage itself: the HTTP cache must not hide
        // from it (or from its tests) what was downloaded. Its code may be reused once the
        // server says it is unchanged.
        let tag = if is_page_code(path) { body.etag().ok() } else { None };
        let cache_control = if tag.is_some() { "no-cache" } else { "no-store" };
        if let Some(tag) = &tag
            && is_unchanged(headers, tag)
        {
            return Reply::new(StatusCode::NOT_MODIFIED, Payload::Bytes(Bytes::new()))
                .with(header::ETAG, tag)
                .with(header::CACHE_CONTROL, cache_control)
                .with(header::VARY, "Accept-Encoding");
        }
        let Ok(payload) = body.open(&self.gzipped) else {
            return Reply::not_found();
        };
        let mut reply = Reply::new(StatusCode::OK, payload)
            .with(header::CONTENT_TYPE, content_type(&file))
            .with(header::VARY, "Accept-Encoding")
            .with(header::CACHE_CONTROL, cache_control);
        if let Some(encoding) = body.encoding() {
            reply = reply.with(header::CONTENT_ENCODING, encoding.token());
        }
        match &tag {
            Some(tag) => reply.with(header::ETAG, tag),
            None => reply,
        }
    }
}

/// An answer decided off the connection's thread, sent from it.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    payload: Payload,
}

/// An answer's bytes: in memory, or a file opened while deciding and streamed as read.
enum Payload {
    Bytes(Bytes),
    File(fs::File, u64),
}

impl Reply {
    fn new(status: StatusCode, payload: Payload) -> Reply {
        Reply { status, headers: HeaderMap::new(), payload }
    }

    fn text(status: StatusCode, text: &'static str) -> Reply {
        Reply::new(status, Payload::Bytes(Bytes::from_static(text.as_bytes())))
    }

    fn not_found() -> Reply {
        Reply::text(StatusCode::NOT_FOUND, "not found")
    }

    fn with(mut self, name: HeaderName, value: &str) -> Reply {
        self.headers.insert(name, HeaderValue::from_str(value).expect("the server's header values are ASCII"));
        self
    }

    /// Every answer carries the page's security policy, and its type is to be believed
    /// (`nosniff`: a review file is never run as a script).
    fn into_answer(self) -> Answer {
        let mut headers = self.headers;
        for (name, value) in SECURITY_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let body = match self.payload {
            Payload::Bytes(bytes) => Full::new(bytes).map_err(|never| match never {}).boxed(),
            Payload::File(file, length) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
                let chunks = ReaderStream::new(tokio::fs::File::from_std(file)).map_ok(Frame::data);
                BodyExt::boxed(StreamBody::new(chunks))
            }
        };
        let mut answer = Response::new(body);
        *answer.status_mut() = self.status;
        *answer.headers_mut() = headers;
        answer
    }
}

/// What the page may load and run: its own files only, its wasm module, nothing inline
/// (review text that slipped into markup could not run), no framing, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
];

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
fn choose_body(file: &Path, headers: &HeaderMap) -> Body {
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

    /// The bytes to send: a file opened now (its length taken from the open file, so a
    /// file replaced meanwhile is sent whole, old or new), or the gzip copy.
    fn open(&self, gzipped: &GzipCache) -> std::io::Result<Payload> {
        match self {
            Body::Plain(file) | Body::Precompressed(file, _) => {
                let file = fs::File::open(file)?;
                let length = file.metadata()?.len();
                Ok(Payload::File(file, length))
            }
            Body::GzippedNow(file) => Ok(Payload::Bytes(gzipped.get(file)?)),
        }
    }
}

/// Files gzipped here, by path, made once per version of the file (its modification time).
#[derive(Default)]
struct GzipCache(Mutex<HashMap<PathBuf, Gzipped>>);

/// A file's gzipped bytes and the version (modification time) they were made from.
type Gzipped = (SystemTime, Bytes);

impl GzipCache {
    fn get(&self, file: &Path) -> std::io::Result<Bytes> {
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
        let bytes = Bytes::from(encoder.finish()?);
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
fn is_unchanged(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == tag))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        headers
    }

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
        assert!(is_unchanged(&header("If-None-Match", &format!("\"x\", {plain}")), &plain));
        assert!(!is_unchanged(&header("If-None-Match", &gzipped), &plain) && !is_unchanged(&HeaderMap::new(), &plain));
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
        let accepting = |value: &str| header("Accept-Encoding", value);
        let browser = accepting("gzip, deflate, br, zstd");

        // Nothing precompressed: gzip made here, or the file for a client without gzip.
        assert_eq!(choose_body(&file, &browser), Body::GzippedNow(file.clone()));
        assert_eq!(choose_body(&file, &accepting("br")), Body::Plain(file.clone()));
        assert_eq!(choose_body(&weights, &browser), Body::Plain(weights.clone()));
        let cache = GzipCache::default();
        let Ok(Payload::Bytes(bytes)) = Body::GzippedNow(file.clone()).open(&cache) else {
            panic!("gzipped in memory")
        };
        assert!(bytes.len() < text.len() / 10, "{} bytes gzipped from {}", bytes.len(), text.len());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain).unwrap();
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
        assert_eq!(choose_body(&file, &HeaderMap::new()), Body::Plain(file.clone()));
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
