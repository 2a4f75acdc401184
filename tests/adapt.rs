//! `flicktune adapt` as a user runs it: a few masked-LM steps on `train` texts, written as
//! a model folder that loads like a fetched one and reads text differently.

mod support;

use burn::tensor::Device;
use flicktune::assets::AssetDir;
use flicktune::encoders::{F16_WEIGHTS_FILE, ModelName};
use flicktune::features::{Embedder, Pooling};
use support::{assets, flicktune};

fn embedder(assets: &AssetDir) -> Embedder {
    let device = Device::flex();
    let (tokenizer, model) =
        assets.model_files(ModelName::L3).unwrap().load(&device).expect("the folder loads like a fetched one");
    Embedder { tokenizer, model, device, pooling: Pooling::Chunks, batch_size: 8 }
}

#[test]
fn adapting_writes_a_model_folder_that_loads_and_has_moved() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("models").join(ModelName::L3.full_name());
    let args = ["adapt", "--steps", "4", "--batch", "4", "--texts", "40", "--out", out.to_str().unwrap()];
    let adapted = flicktune(&args, b"");
    assert!(adapted.status.success(), "{}", String::from_utf8_lossy(&adapted.stderr));
    let log = String::from_utf8_lossy(&adapted.stderr);
    assert!(log.contains("masked-LM loss"), "the loss is reported: {log}");
    assert!(out.join(F16_WEIGHTS_FILE).is_file(), "the page's f16 weights are written too");
    assert!(out.join("layers.f16.safetensors").is_file(), "and the changed tensors alone, what `weights/` commits");

    let text = ["A slow start, then a moving, beautifully acted story."];
    let before = embedder(&assets()).embed(&text).unwrap().remove(0).vector;
    let after = embedder(&AssetDir::new(dir.path())).embed(&text).unwrap().remove(0).vector;
    let cosine: f32 = before.iter().zip(&after).map(|(a, b)| a * b).sum();
    assert!(before != after, "four steps move the layers");
    assert!(cosine > 0.9, "four small steps keep the encoder close to the original: cosine {cosine}");
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let args =
            ["adapt", "--steps", "3", "--batch", "4", "--texts", "20", "--seed", seed, "--out", out.to_str().unwrap()];
        let adapted = flicktune(&args, b"");
        assert!(adapted.status.success(), "{}", String::from_utf8_lossy(&adapted.stderr));
        std::fs::read(out.join(F16_WEIGHTS_FILE)).unwrap()
    };
    let first = run("a", "0");
    assert!(first == run("b", "0"), "a second run with the same seed writes the same bytes");
    assert!(first != run("c", "1"), "another seed masks other tokens");
}
