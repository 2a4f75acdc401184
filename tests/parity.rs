//! The Burn encoder against reference outputs computed with onnxruntime
//! (`tests/fixtures/reference-embeddings.json`): token ids, and `first`-pooled embeddings
//! on the CPU backend (1e-4) and on native wgpu (1e-3) where an adapter exists.

mod support;

use flicktune::backend::{BackendKind, open_device};
use flicktune::encoders::ModelName;
use flicktune::features::{Embedder, Pooling};
use support::{assets, fixture, max_abs_diff};

fn embedder(model: ModelName, backend: BackendKind) -> Option<Embedder> {
    let device = match open_device(backend) {
        Ok(device) => device,
        Err(reason) => {
            eprintln!("SKIPPED {} on {}: {reason}", model.full_name(), backend.name());
            return None;
        }
    };
    let (tokenizer, model) = assets().model_files(model).unwrap().load(&device).unwrap();
    Some(Embedder { tokenizer, model, device, pooling: Pooling::First, batch_size: 8 })
}

fn check_embeddings(model: ModelName, backend: BackendKind, tolerance: f32) {
    let Some(embedder) = embedder(model, backend) else { return };
    let fixture = fixture();
    let texts: Vec<&str> = fixture.texts.iter().map(|t| t.text.as_str()).collect();
    let embeddings = embedder.embed(&texts).unwrap();
    let mut worst = 0f32;
    for (t, e) in fixture.texts.iter().zip(&embeddings) {
        let diff = max_abs_diff(&e.vector, t.reference(model));
        assert!(
            diff <= tolerance,
            "{} on {}, text `{}`: max |diff| {diff:e} > {tolerance:e}",
            model.full_name(),
            backend.name(),
            t.kind
        );
        assert_eq!(e.tokens, t.input_ids_max256.len(), "token count of `{}`", t.kind);
        worst = worst.max(diff);
    }
    eprintln!("{} on {}: worst max |diff| over 20 texts {worst:e}", model.full_name(), backend.name());
}

#[test]
fn token_ids_match_the_reference_for_both_models() {
    let fixture = fixture();
    for model in [ModelName::L3, ModelName::L6, ModelName::L3Reviews] {
        let embedder = embedder(model, BackendKind::Cpu).unwrap();
        for t in &fixture.texts {
            let content = embedder.tokenizer.content_ids(&t.text).unwrap();
            assert_eq!(
                embedder.tokenizer.windows(&content, Pooling::First)[0],
                t.input_ids_max256,
                "text `{}`",
                t.kind
            );
        }
    }
}

#[test]
fn l3_matches_reference_on_cpu() {
    check_embeddings(ModelName::L3, BackendKind::Cpu, 1e-4);
}

#[test]
fn l6_matches_reference_on_cpu() {
    check_embeddings(ModelName::L6, BackendKind::Cpu, 1e-4);
}

/// One test for both models: wgpu's runtime is set up once per process.
#[test]
fn both_models_match_reference_on_wgpu() {
    for model in ModelName::PUBLISHED {
        check_embeddings(model, BackendKind::Wgpu, 1e-3);
    }
}

#[test]
fn batching_does_not_change_embeddings() {
    let mut embedder = embedder(ModelName::L3, BackendKind::Cpu).unwrap();
    let fixture = fixture();
    let texts: Vec<&str> = fixture.texts.iter().map(|t| t.text.as_str()).collect();
    embedder.batch_size = 1;
    let one_by_one = embedder.embed(&texts).unwrap();
    embedder.batch_size = 20;
    let all_at_once = embedder.embed(&texts).unwrap();
    for (a, b) in one_by_one.iter().zip(&all_at_once) {
        assert!(max_abs_diff(&a.vector, &b.vector) < 1e-5);
    }
}

#[test]
fn long_texts_use_every_window_with_chunks_pooling() {
    let mut embedder = embedder(ModelName::L3, BackendKind::Cpu).unwrap();
    let fixture = fixture();
    let long = &fixture.texts.iter().find(|t| t.kind == "long").unwrap().text;
    let n_content = embedder.tokenizer.content_ids(long).unwrap().len();
    assert!(n_content > 2 * 254, "the fixture's long text spans several windows");
    let mut vectors = Vec::new();
    for pooling in Pooling::ALL {
        embedder.pooling = pooling;
        let e = embedder.embed(&[long.as_str()]).unwrap().remove(0);
        let norm: f32 = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{} is L2-normalised", pooling.name());
        let windows = n_content.div_ceil(254);
        let expected_tokens = match pooling {
            Pooling::Chunks | Pooling::Windows => n_content + 2 * windows,
            _ => 256,
        };
        assert_eq!(e.tokens, expected_tokens, "{}", pooling.name());
        vectors.push(e.vector);
    }
    assert!(max_abs_diff(&vectors[0], &vectors[1]) > 1e-3, "head-tail reads other tokens than first");
    assert!(max_abs_diff(&vectors[0], &vectors[2]) > 1e-3, "chunks reads other tokens than first");
}

#[test]
fn all_poolings_at_once_equal_each_pooling_alone() {
    let mut embedder = embedder(ModelName::L3, BackendKind::Cpu).unwrap();
    let fixture = fixture();
    let texts: Vec<&str> = fixture.texts.iter().map(|t| t.text.as_str()).collect();
    let together = pollster::block_on(embedder.embed_poolings(&texts, &Pooling::ALL)).unwrap();
    for (pooling, shared) in Pooling::ALL.into_iter().zip(&together) {
        embedder.pooling = pooling;
        let alone = embedder.embed(&texts).unwrap();
        for (a, b) in alone.iter().zip(shared) {
            assert_eq!(a.tokens, b.tokens, "{}", pooling.name());
            assert!(max_abs_diff(&a.vector, &b.vector) < 1e-5, "{}", pooling.name());
        }
    }
}

#[test]
fn corrupted_weights_are_a_clear_error() {
    let device = open_device(BackendKind::Cpu).unwrap();
    let mut files = assets().model_files(ModelName::L3).unwrap();
    files.weights.truncate(files.weights.len() / 2);
    let Err(err) = files.load(&device) else { panic!("truncated weights are rejected") };
    let err = err.to_string();
    assert!(err.contains("weights"), "{err}");

    let mut files = assets().model_files(ModelName::L3).unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&files.config_json).unwrap();
    config["num_hidden_layers"] = 4.into();
    files.config_json = serde_json::to_vec(&config).unwrap();
    let Err(err) = files.load(&device) else { panic!("a layer without weights is rejected") };
    let err = err.to_string();
    assert!(err.contains("layers.3"), "{err}");
}
