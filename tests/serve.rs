//! `flicktune serve` over real sockets: its security headers, the requests it refuses,
//! precompressed code, and many clients at once beside ones that never read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server on a free port over a small built page; killed when dropped.
struct Served {
    child: Child,
    address: SocketAddr,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(module_size: usize, precompress: bool) -> Served {
    serve_with(module_size, precompress, &[])
}

/// As [`serve`], with more arguments for `flicktune serve`.
fn serve_with(module_size: usize, precompress: bool, extra: &[&str]) -> Served {
    let dist = tempfile::tempdir().unwrap();
    let assets = tempfile::tempdir().unwrap();
    build_page(dist.path(), module_size);
    let bin = env!("CARGO_BIN_EXE_flicktune");
    if precompress {
        let status = Command::new(bin).args(["precompress"]).arg(dist.path()).stderr(Stdio::null()).status().unwrap();
        assert!(status.success());
    }
    let mut child = Command::new(bin)
        .args(["--assets"])
        .arg(assets.path())
        .args(["serve", "--port", "0", "--dist"])
        .arg(dist.path())
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().rsplit("http://").next().unwrap().trim_end_matches('/').parse().expect(&line);
    Served { child, address, _dirs: (dist, assets) }
}

/// index.html, a wasm module of `module_size` bytes and a stylesheet.
fn build_page(dist: &Path, module_size: usize) {
    std::fs::create_dir_all(dist.join("pkg")).unwrap();
    std::fs::create_dir_all(dist.join("www")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>Flicktune</title>").unwrap();
    let module: Vec<u8> = (0..module_size as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dist.join("pkg/flicktune_bg.wasm"), module).unwrap();
    std::fs::write(dist.join("www/style.css"), "body { margin: 0 }\n".repeat(200)).unwrap();
}

/// Sends `request` as it is and returns the status line, the headers (lower-cased names)
/// and the body.
fn exchange(address: SocketAddr, request: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let body = answer[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v): &(String, String)| n == "transfer-encoding" && v.contains("chunked"));
    (status, headers, if chunked { dechunk(&body) } else { body })
}

/// A chunked body's data (in case an answer of unknown length is chunked).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size_field = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_field.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

fn get(address: SocketAddr, path: &str, extra: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    exchange(address, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n"))
}

fn value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn every_answer_carries_the_security_policy_and_only_get_and_head_are_served() {
    let served = serve(1 << 10, false);
    for path in ["/", "/www/style.css", "/nothing-here", "/pkg/../index.html"] {
        let (status, headers, _) = get(served.address, path, "");
        let policy = value(&headers, "content-security-policy").unwrap_or_else(|| panic!("{path}: {status}"));
        assert!(policy.contains("default-src 'self'") && policy.contains("script-src 'self' 'wasm-unsafe-eval'"));
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(value(&headers, "x-content-type-options"), Some("nosniff"), "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (status, headers, _) = exchange(
            served.address,
            &format!("{method} / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        );
        assert!(status.contains(" 405 "), "{method}: {status}");
        assert_eq!(value(&headers, "allow"), Some("GET, HEAD"));
    }
    let (status, headers, body) =
        exchange(served.address, "HEAD /www/style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(status.contains(" 200 ") && body.is_empty(), "{status}: {} bytes", body.len());
    assert_eq!(value(&headers, "content-type"), Some("text/css"));
}

#[test]
fn no_path_reaches_outside_the_served_files() {
    let served = serve(1 << 10, false);
    for path in [
        "/pkg/../index.html",
        "/pkg/%2e%2e/index.html",
        "/pkg/%2E%2E%2Findex.html",
        "/pkg/..%2f..%2fetc%2fpasswd",
        "/www/..\\..\\Cargo.toml",
        "//etc/passwd",
        "/etc/passwd",
        "/models/../../../etc/passwd",
        "/models/paraphrase-MiniLM-L3-v2/..%2f..%2fimdb%2ftest.jsonl",
        "/data/test.jsonl",
        "/data/train.jsonl",
        "/pkg/.hidden",
        "/pkg/",
    ] {
        let (status, _, body) = get(served.address, path, "");
        assert!(status.contains(" 404 "), "{path}: {status}");
        assert_eq!(body, b"not found", "{path}");
    }
}

#[test]
fn precompressed_code_goes_as_brotli_or_gzip_and_unchanged_code_as_304() {
    let served = serve(1 << 20, true);
    let (status, headers, body) = get(served.address, "/pkg/flicktune_bg.wasm", "Accept-Encoding: gzip, br\r\n");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(value(&headers, "content-encoding"), Some("br"));
    let mut module = Vec::new();
    brotli::Decompressor::new(body.as_slice(), 4096).read_to_end(&mut module).unwrap();
    assert_eq!(module.len(), 1 << 20);
    let tag = value(&headers, "etag").expect("page code has an ETag").to_string();

    let (status, headers, _) = get(served.address, "/pkg/flicktune_bg.wasm", "Accept-Encoding: gzip\r\n");
    assert!(status.contains(" 200 ") && value(&headers, "content-encoding") == Some("gzip"), "{status}");
    let (_, headers, body) = get(served.address, "/pkg/flicktune_bg.wasm", "");
    assert_eq!((value(&headers, "content-encoding"), body.len()), (None, 1 << 20));

    let (status, _, body) = get(
        served.address,
        "/pkg/flicktune_bg.wasm",
        &format!("Accept-Encoding: gzip, br\r\nIf-None-Match: {tag}\r\n"),
    );
    assert!(status.contains(" 304 ") && body.is_empty(), "{status}");
}

/// A request for the (large) module, from a client that will read none of the answer.
const ASKS_FOR_THE_MODULE: &[u8] = b"GET /pkg/flicktune_bg.wasm HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// The start of a request that is never finished.
const HALF_A_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: loc";

/// `n` connections that each send `request`, then neither send nor read more.
fn stalled_clients(address: SocketAddr, n: usize, request: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(request).unwrap();
            stream
        })
        .collect()
}

#[test]
fn two_hundred_clients_at_once_beside_clients_that_never_read_are_all_served() {
    // A module bigger than loopback's socket buffers, so a client that does not read
    // leaves the server's write waiting.
    let served = serve(32 << 20, false);
    let address = served.address;
    // Clients that ask for the module and read none of it (as many as the old server's
    // eight threads, and more).
    let stalled = stalled_clients(address, 16, ASKS_FOR_THE_MODULE);
    // And one that never finishes its request.
    let half = stalled_clients(address, 1, HALF_A_REQUEST);
    std::thread::sleep(Duration::from_millis(200));

    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let path = if i % 2 == 0 { "/" } else { "/www/style.css" };
                get(address, path, "Accept-Encoding: gzip\r\n").0
            })
        })
        .collect();
    let statuses: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let served_ok = statuses.iter().filter(|s| s.contains(" 200 ")).count();
    assert_eq!(served_ok, 200, "{:?}", statuses.iter().find(|s| !s.contains(" 200 ")));
    drop((stalled, half));
}

#[test]
fn clients_that_stall_are_dropped_after_the_client_timeout() {
    let served = serve_with(32 << 20, false, &["--client-timeout", "2"]);
    let address = served.address;
    // Eight that ask for the module and never read, eight that never finish their request.
    let readers = stalled_clients(address, 8, ASKS_FOR_THE_MODULE);
    let senders = stalled_clients(address, 8, HALF_A_REQUEST);
    std::thread::sleep(Duration::from_secs(5));
    // The server has given up on both kinds: the request never sent gets nothing more
    // than a close, and the stalled reader's connection ends before the module does.
    for mut stream in senders {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        // A close or a reset, not this read's own timeout (the connection still open).
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "still open: {e}"),
        }
        assert!(!String::from_utf8_lossy(&rest).contains(" 200 "), "a half request was answered");
    }
    for mut stream in readers {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut received = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        // Read until the server closes (or resets) the connection; a live one would send all.
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "still open: {e}");
                    break;
                }
            }
        }
        assert!(received.len() < 32 << 20, "a stalled reader was kept: {} bytes came", received.len());
    }
}
