//! `flicktune precompress`: brotli and gzip copies of the built page's code, written once
//! beside each file (`flicktune_bg.wasm.br`, `.gz`), so `flicktune serve` sends the
//! smallest one a browser takes without compressing on every start. Brotli at its
//! highest setting makes the release module about a seventh of its size; that costs
//! tens of seconds, which is why it happens at build time and not per request.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

#[derive(Args)]
pub struct PrecompressArgs {
    /// The built page (index.html, www/ and pkg/), as `./dev` builds it.
    #[arg(default_value = "dist")]
    dist: PathBuf,
}

/// A content coding the server can send, best first in [`Encoding::PRECOMPRESSED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// What `precompress` writes and `serve` looks for, smallest first.
    pub const PRECOMPRESSED: [Encoding; 2] = [Encoding::Brotli, Encoding::Gzip];

    /// The `Content-Encoding` / `Accept-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The precompressed copy of `file` in this coding: `file` plus `.br` or `.gz`.
    pub fn sibling(self, file: &Path) -> PathBuf {
        let suffix = match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gz",
        };
        let mut name = file.as_os_str().to_owned();
        name.push(".");
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Whether the client's `Accept-Encoding` takes this coding (a `q=0` refuses it).
    pub fn accepted_by(self, headers: &HeaderMap) -> bool {
        headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|value| {
            value.split(',').any(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse() == Ok(0.0)));
                coding.eq_ignore_ascii_case(self.token()) && !refused
            })
        })
    }

    pub fn compress(self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Encoding::Brotli => {
                // Quality 11, 16 MiB window: slowest and smallest, paid once per build.
                let mut writer = brotli::CompressorWriter::new(Vec::new(), 1 << 16, 11, 24);
                writer.write_all(bytes)?;
                writer.flush()?;
                Ok(writer.into_inner())
            }
            Encoding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                encoder.write_all(bytes)?;
                encoder.finish()
            }
        }
    }
}

/// The page's code worth compressing: text and the wasm module, not weights.
pub fn compressible(file: &Path) -> bool {
    matches!(file.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "html" | "css" | "json" | "jsonl" | "svg"))
}

/// `file`'s copy in `encoding` if one was made from this version of it (not older).
pub fn fresh_sibling(file: &Path, encoding: Encoding) -> Option<PathBuf> {
    let sibling = encoding.sibling(file);
    let made = fs::metadata(&sibling).and_then(|m| m.modified()).ok()?;
    let source = fs::metadata(file).and_then(|m| m.modified()).ok()?;
    (made >= source).then_some(sibling)
}

pub fn run(args: &PrecompressArgs) -> Result<()> {
    anyhow::ensure!(
        args.dist.join("index.html").exists(),
        "{} has no index.html: build the page first (`./dev run` does)",
        args.dist.display()
    );
    let mut files = vec![args.dist.join("index.html")];
    for folder in ["pkg", "www"] {
        let dir = args.dist.join(folder);
        let entries = fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_file() && compressible(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in &files {
        let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        for encoding in Encoding::PRECOMPRESSED {
            if fresh_sibling(file, encoding).is_some() {
                continue;
            }
            let started = Instant::now();
            let compressed = encoding.compress(&bytes)?;
            let sibling = encoding.sibling(file);
            // Written whole under a temporary name, then renamed: `serve` never sees half a file.
            let mut partial = sibling.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            fs::write(&partial, &compressed).with_context(|| format!("cannot write {}", partial.display()))?;
            fs::rename(&partial, &sibling).with_context(|| format!("cannot write {}", sibling.display()))?;
            eprintln!(
                "{}: {} -> {} bytes {} ({:.1} s)",
                file.display(),
                bytes.len(),
                compressed.len(),
                encoding.token(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept_encoding(value: &str) -> HeaderMap {
        HeaderMap::from_iter([(ACCEPT_ENCODING, value.parse().unwrap())])
    }

    #[test]
    fn accept_encoding_is_read_with_its_refusals() {
        let takes = |e: Encoding, value: &str| e.accepted_by(&accept_encoding(value));
        assert!(takes(Encoding::Brotli, "gzip, deflate, br, zstd") && takes(Encoding::Gzip, "gzip, deflate, br, zstd"));
        assert!(takes(Encoding::Gzip, "br;q=1.0, gzip;q=0.8") && takes(Encoding::Brotli, "BR"));
        assert!(!takes(Encoding::Brotli, "gzip, br;q=0") && !takes(Encoding::Gzip, "gzip;q=0.0, br"));
        assert!(!takes(Encoding::Gzip, "x-gzip2") && !takes(Encoding::Brotli, "brotli"));
        assert!(!Encoding::Gzip.accepted_by(&HeaderMap::new()));
    }

    #[test]
    fn precompressed_copies_decode_to_the_file_and_go_stale_with_it() {
        let dist = tempfile::tempdir().unwrap();
        fs::create_dir_all(dist.path().join("pkg")).unwrap();
        fs::create_dir_all(dist.path().join("www")).unwrap();
        let module = dist.path().join("pkg/flicktune.js");
        let text = "export const answer = 42;\n".repeat(2000);
        fs::write(&module, &text).unwrap();
        fs::write(dist.path().join("index.html"), "<!doctype html><title>x</title>").unwrap();
        fs::write(dist.path().join("www/model.q4.bin"), [0u8; 64]).unwrap();
        run(&PrecompressArgs { dist: dist.path().to_path_buf() }).unwrap();

        let brotli = fs::read(fresh_sibling(&module, Encoding::Brotli).expect("a fresh .br")).unwrap();
        let gzip = fs::read(fresh_sibling(&module, Encoding::Gzip).expect("a fresh .gz")).unwrap();
        assert!(brotli.len() < text.len() / 20 && gzip.len() < text.len() / 10);
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut brotli::Decompressor::new(brotli.as_slice(), 4096), &mut decoded).unwrap();
        assert_eq!(decoded, text);
        decoded.clear();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gzip.as_slice()), &mut decoded).unwrap();
        assert_eq!(decoded, text);
        assert!(!Encoding::Gzip.sibling(&dist.path().join("www/model.q4.bin")).exists(), "weights are left alone");

        // A copy older than its file (the file was rebuilt) is stale until the next run.
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        fs::File::options().write(true).open(Encoding::Brotli.sibling(&module)).unwrap().set_modified(earlier).unwrap();
        assert_eq!(fresh_sibling(&module, Encoding::Brotli), None);
        run(&PrecompressArgs { dist: dist.path().to_path_buf() }).unwrap();
        assert!(fresh_sibling(&module, Encoding::Brotli).is_some());
    }
}
