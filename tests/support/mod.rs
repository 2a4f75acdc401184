//! Shared by the integration tests: the reference fixture and the fetched assets.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

use flicktune::assets::AssetDir;
use flicktune::encoders::ModelName;

#[derive(Deserialize)]
pub struct Fixture {
    pub texts: Vec<FixtureText>,
}

#[derive(Deserialize)]
pub struct FixtureText {
    pub kind: String,
    pub text: String,
    pub input_ids_max256: Vec<u32>,
    #[serde(rename = "paraphrase-MiniLM-L3-v2")]
    pub l3: Reference,
    #[serde(rename = "all-MiniLM-L6-v2")]
    pub l6: Reference,
}

#[derive(Deserialize)]
pub struct Reference {
    pub mean_pooled_l2: Vec<f32>,
}

impl FixtureText {
    pub fn reference(&self, model: ModelName) -> &[f32] {
        match model {
            ModelName::L3 => &self.l3.mean_pooled_l2,
            ModelName::L6 => &self.l6.mean_pooled_l2,
            ModelName::L3Reviews => {
                panic!("no reference embeddings for the adapted L3: it is this project's own model")
            }
            ModelName::E5 => {
                panic!("e5's reference embeddings are in e5-reference-embeddings.json (tests/e5_parity.rs)")
            }
        }
    }
}

pub fn fixture() -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference-embeddings.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture present")).expect("fixture parses")
}

/// `$FLICKTUNE_ASSETS`, else `assets/` at the crate root. Tests need `flicktune fetch` first
/// (the README's test command runs it).
pub fn assets() -> AssetDir {
    match std::env::var_os("FLICKTUNE_ASSETS") {
        Some(dir) => AssetDir::new(dir),
        None => AssetDir::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")),
    }
}

/// The largest absolute difference between two vectors of equal length.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Runs the `flicktune` binary on the test assets with `args`, feeding it `stdin`.
pub fn flicktune(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flicktune"))
        .arg("--assets")
        .arg(&assets().root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let output = child.wait_with_output().unwrap();
    // A command that fails before reading stdin breaks the pipe; that is fine.
    if let Err(e) = writer.join().unwrap() {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    output
}
