//! The page's bundled data as `flicktune fetch` writes it: the held-out sample really is
//! from `test` and disjoint from `train`, the feature cache is what the encoder gives, and
//! the adapted encoder is the committed weights.

mod support;

use std::collections::HashSet;
use std::process::Command;

use flicktune::adapt::is_adapted;
use flicktune::assets::committed::L3_REVIEWS_WEIGHTS;
use flicktune::assets::{page_data, read_reviews};
use flicktune::backend::{BackendKind, open_device};
use flicktune::encoders::weights::cast_safetensors;
use flicktune::encoders::{ModelName, WEIGHTS_FILE, WeightPrecision};
use flicktune::features::{Embedder, FeatureCache};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use support::{assets, max_abs_diff};

#[test]
fn the_heldout_sample_is_balanced_from_test_and_never_in_train() {
    let assets = assets();
    let heldout = read_reviews(&assets.page_dir().join(page_data::HELDOUT_FILE)).unwrap();
    assert_eq!(heldout.len(), 2 * page_data::HELDOUT_PER_CLASS);
    assert_eq!(heldout.iter().filter(|r| r.label == 1).count(), page_data::HELDOUT_PER_CLASS);
    let test: HashSet<String> = read_reviews(&assets.imdb_split("test")).unwrap().into_iter().map(|r| r.text).collect();
    let train: HashSet<String> =
        read_reviews(&assets.imdb_split("train")).unwrap().into_iter().map(|r| r.text).collect();
    assert!(heldout.iter().all(|r| test.contains(&r.text) && !train.contains(&r.text)));
    let sample = read_reviews(&assets.imdb_dir().join("sample.jsonl")).unwrap();
    assert!(sample.iter().all(|r| train.contains(&r.text)), "the page's sample comes from train");
}

#[test]
fn the_feature_cache_matches_the_encoder_on_the_weights_the_page_downloads() {
    let assets = assets();
    let model = ModelName::default();
    let cache: FeatureCache =
        serde_json::from_slice(&std::fs::read(assets.page_dir().join(page_data::features_file(model))).unwrap())
            .unwrap();
    let mut files = assets.model_files(model).unwrap();
    files.weights =
        std::fs::read(assets.model_dir(model).join(model.spec().weights_file(WeightPrecision::F16))).unwrap();
    assert_eq!(cache.weights_sha256, format!("{:x}", Sha256::digest(&files.weights)));
    assert_eq!(cache.pooling, model.spec().classifier_pooling.name());
    let sample = read_reviews(&assets.imdb_dir().join("sample.jsonl")).unwrap();
    let heldout = read_reviews(&assets.page_dir().join(page_data::HELDOUT_FILE)).unwrap();
    assert!(cache.is_consistent(sample.len(), heldout.len()));

    let device = open_device(BackendKind::Cpu).unwrap();
    let (tokenizer, encoder) = files.load(&device).unwrap();
    let embedder =
        Embedder { tokenizer, model: encoder, device, pooling: model.spec().classifier_pooling, batch_size: 4 };
    let texts = [&sample[7].text, &heldout[3].text];
    let mine = embedder.embed(&texts).unwrap();
    for (vector, cached) in mine.iter().zip([&cache.sample[7], &cache.heldout[3]]) {
        let diff = max_abs_diff(&vector.vector, cached);
        assert!(diff < 1e-5, "cached features differ by {diff}");
    }
}

#[test]
fn the_adapted_encoder_is_the_committed_layers_over_l3s_embeddings() {
    let committed = L3_REVIEWS_WEIGHTS.read().expect("the committed layers match their pinned sha256");
    let read = |model: ModelName| std::fs::read(assets().model_dir(model).join(WEIGHTS_FILE)).unwrap();
    let (fetched, l3) = (read(ModelName::L3Reviews), read(ModelName::L3));
    let f16 = |bytes: &[u8]| cast_safetensors(bytes, Dtype::F16).unwrap();
    let (fetched_f16, l3_f16) = (f16(&fetched), f16(&l3));
    let [committed, fetched, fetched_f16, l3, l3_f16] =
        [&committed, &fetched, &fetched_f16, &l3, &l3_f16].map(|bytes| SafeTensors::deserialize(bytes).unwrap());
    assert!(committed.names().iter().all(|name| is_adapted(name)), "only what adaptation changes is committed");
    for (name, view) in committed.tensors() {
        let values = fetched_f16.tensor(&name).unwrap();
        assert_eq!(values.shape(), view.shape(), "{name}");
        assert!(values.data() == view.data(), "{name} differs from the committed file");
    }
    // The word embeddings (the bulk of the model) are L3's, in f16 as the layers are.
    let words = "embeddings.word_embeddings.weight";
    assert!(fetched_f16.tensor(words).unwrap().data() == l3_f16.tensor(words).unwrap().data());
    assert!(fetched.tensor(words).unwrap().data() != l3.tensor(words).unwrap().data(), "rounded to f16, as adapted");
}

#[test]
fn bench_labels_prints_suggested_and_random_accuracy() {
    let out = Command::new(env!("CARGO_BIN_EXE_flicktune-bench"))
        .args(["--assets"])
        .arg(&assets().root)
        .args(["labels", "--sizes", "10,20", "--draws", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| 10 |") || l.starts_with("| 20 |")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for row in rows {
        let cells: Vec<f32> = row.split('|').filter_map(|c| c.trim().split(' ').next()?.parse().ok()).collect();
        // labels, suggested accuracy, random mean: accuracies are percentages.
        assert!(cells.len() >= 3 && cells[1..].iter().all(|a| (0.0..=100.0).contains(a)), "{row}");
    }
}
