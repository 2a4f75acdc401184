//! Every reader of outside data, fed what an attacker, a broken disk or a careless export
//! could give it: random bytes, mutations of a valid file, absurd declared sizes, deep
//! nesting, and text from every corner of Unicode. Each must answer with its typed error
//! (or a valid value), never a panic, and never allocate by a size a file declares.
//!
//! Property tests with a fixed seed and budget, so a CI run tries the same inputs each
//! time and stays fast; the count of inputs each property tries is in `docs/reliability.md`.

mod support;

use std::sync::OnceLock;

use burn::tensor::Device;
use flicktune::catalogue::{
    self, Catalogue, CatalogueError, CriticReview, Movie as CatalogueMovie, QuantizedRows, Sentence,
};
use flicktune::classifier::{Classifier, FORMAT, FeatureScaling, TextVotes, VERSION};
use flicktune::encoders::{ModelFiles, ModelName};
use flicktune::features::Pooling;
use flicktune::nbsvm::NbSvm;
use flicktune::session::{Label, Session};
use flicktune::tokens::TextTokenizer;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Same inputs every run: `cases` of them, no files written on failure.
fn budget(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(20261201), failure_persistence: None, ..Config::default() }
}

fn valid_classifier() -> Classifier {
    let nbsvm = NbSvm {
        weights: [("great".to_string(), 3.0), ("not great".to_string(), -5.0)].into_iter().collect(),
        bias: -1.0,
    };
    Classifier {
        format: FORMAT.into(),
        version: VERSION,
        encoder: ModelName::L3,
        pooling: Pooling::First,
        scaling: FeatureScaling { center: vec![0.0; 4], scale: vec![1.0; 4] },
        weights: vec![2.0, -1.0, 0.5, 0.0],
        bias: 0.5,
        trained_on: 2,
        tuned_layers: None,
        text_votes: Some(TextVotes { nbsvm, encoder_spread: 2.0, nbsvm_spread: 4.0, lexicon_spread: Some(1.0) }),
        recipe: None,
    }
}

const SAMPLE: [&str; 3] = ["A fine film.", "Dreadful, from start to end.", "Neither here nor there."];

fn valid_session() -> String {
    let labels = vec![Label::of_sample(0, 1, SAMPLE[0].into()), Label::of_sample(1, 0, SAMPLE[1].into())];
    Session { labels, classifier: Some(valid_classifier()), ..Session::default() }.to_json()
}

/// Byte-level damage to a valid file: overwrite, delete or insert at random places, or cut it.
#[derive(Debug, Clone)]
enum Damage {
    Overwrite(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Overwrite(at, b)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Damage::Delete(at, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Damage::Insert(at, b)),
        any::<usize>().prop_map(Damage::Truncate),
    ];
    prop::collection::vec(one, 1..6)
}

fn apply(mut bytes: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for d in damage {
        let len = bytes.len().max(1);
        match d {
            Damage::Overwrite(at, b) => {
                if let Some(x) = bytes.get_mut(at % len) {
                    *x = *b;
                }
            }
            Damage::Delete(at, n) => {
                let start = (at % len).min(bytes.len());
                bytes.drain(start..(start + n).min(bytes.len()));
            }
            Damage::Insert(at, b) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, b.iter().copied());
            }
            Damage::Truncate(at) => bytes.truncate(at % len),
        }
    }
    bytes
}

/// JSON values of any shape, a few levels deep, with the strings a classifier or session
/// file uses as keys turning up often.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("format".to_string()),
        Just("version".to_string()),
        Just("weights".to_string()),
        Just("labels".to_string()),
        Just("classifier".to_string()),
        Just("scaling".to_string()),
        Just("review".to_string()),
        Just("label".to_string()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![Just(FORMAT.to_string()), Just(flicktune::session::FORMAT.to_string()), ".{0,12}"]
            .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn classifier_files_refuse_damage_with_an_error_never_a_panic() {
    let valid = valid_classifier().to_json().into_bytes();
    assert!(Classifier::from_json(&valid).is_ok(), "the undamaged file reads");
    proptest!(budget(400), |(damage in damage())| {
        let damaged = apply(valid.clone(), &damage);
        // Ok is allowed (a digit changed inside a weight); what passes must be usable.
        if let Ok(classifier) = Classifier::from_json(&damaged) {
            let features = vec![0.5; classifier.weights.len()];
            let view = flicktune::classifier::TextView::of("a fine film");
            prop_assert!(classifier.predict(&features, &view).is_ok_and(|p| p.positive.is_finite()));
        }
    });
    proptest!(budget(300), |(value in json_value())| {
        let _ = Classifier::from_json(value.to_string().as_bytes());
    });
    proptest!(budget(300), |(bytes in prop::collection::vec(any::<u8>(), 0..512))| {
        prop_assert!(Classifier::from_json(&bytes).is_err());
    });
}

#[test]
fn session_files_refuse_damage_with_an_error_never_a_panic() {
    let valid = valid_session().into_bytes();
    assert!(Session::from_json(&valid, &SAMPLE).is_ok(), "the undamaged file reads");
    proptest!(budget(400), |(damage in damage())| {
        if let Ok(session) = Session::from_json(&apply(valid.clone(), &damage), &SAMPLE) {
            // What is accepted points at the sample and is labelled 0 or 1.
            for label in &session.labels {
                prop_assert!(label.sample_review().is_none_or(|r| r < SAMPLE.len()) && label.label <= 1);
            }
        }
    });
    proptest!(budget(300), |(value in json_value())| {
        let _ = Session::from_json(value.to_string().as_bytes(), &SAMPLE);
    });
}

fn valid_catalogue() -> Catalogue {
    let text = "Sharp and funny. It drags late.".to_string();
    let review = |fresh: bool, row: usize| CriticReview {
        text: text.clone(),
        fresh,
        row,
        sentences: vec![
            Sentence { start: 0, end: 17, row: row + 1 },
            Sentence { start: 17, end: text.len(), row: row + 2 },
        ],
    };
    let rows: Vec<Vec<f32>> = (0..6).map(|i| vec![0.1 * i as f32, -0.2, 0.3, 0.05]).collect();
    Catalogue {
        format: catalogue::FORMAT.into(),
        version: catalogue::VERSION,
        source: "a test".into(),
        encoder: "multilingual-e5-small".into(),
        weights_sha256: "00".into(),
        pooling: "windows".into(),
        movies: vec![CatalogueMovie {
            slug: "a_film".into(),
            title: "A Film".into(),
            plot: "Things happen.".into(),
            reviews: vec![review(true, 0), review(false, 3)],
        }],
        features: QuantizedRows::quantize(&rows, 4),
    }
}

#[test]
fn catalogue_files_refuse_damage_with_an_error_never_a_panic() {
    let valid = serde_json::to_vec(&valid_catalogue()).unwrap();
    assert!(Catalogue::from_json(&valid).is_ok(), "the undamaged file reads");
    proptest!(budget(400), |(damage in damage())| {
        if let Ok((catalogue, rows)) = Catalogue::from_json(&apply(valid.clone(), &damage)) {
            // What is accepted can be read without going out of bounds.
            for (_, review) in catalogue.reviews() {
                prop_assert!(review.row < rows.len());
                for range in review.sentence_ranges() {
                    prop_assert!(review.text.get(range).is_some());
                }
            }
            prop_assert!(rows.iter().all(|r| r.len() == catalogue.features.dim && r.iter().all(|x| x.is_finite())));
        }
    });
    proptest!(budget(300), |(value in json_value())| {
        let _ = Catalogue::from_json(value.to_string().as_bytes());
    });
    proptest!(budget(200), |(bytes in prop::collection::vec(any::<u8>(), 0..512))| {
        prop_assert!(Catalogue::from_json(&bytes).is_err());
    });
    // A declared shape far beyond the values is refused before decoding anything.
    let mut huge = valid_catalogue();
    huge.features.dim = 4096;
    huge.features.scales = vec![1.0; 1_000_000];
    assert!(matches!(Catalogue::from_json(&serde_json::to_vec(&huge).unwrap()), Err(CatalogueError::BadFeatures(_))));
}

#[test]
fn deeply_nested_or_huge_files_are_refused_without_exhausting_the_stack() {
    for depth in [1_000, 100_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(Classifier::from_json(nested.as_bytes()).is_err());
        assert!(Session::from_json(nested.as_bytes(), &SAMPLE).is_err());
        assert!(Catalogue::from_json(nested.as_bytes()).is_err());
        let objects = format!("{}1{}", "{\"labels\":".repeat(depth), "}".repeat(depth));
        assert!(Session::from_json(objects.as_bytes(), &SAMPLE).is_err());
    }
    let huge = vec![b' '; flicktune::session::MAX_FILE_BYTES + 1];
    assert_eq!(Session::from_json(&huge, &SAMPLE).unwrap_err(), flicktune::session::SessionError::TooLarge(huge.len()));
}

fn model_files(model: ModelName) -> &'static ModelFiles {
    static L3: OnceLock<ModelFiles> = OnceLock::new();
    static E5: OnceLock<ModelFiles> = OnceLock::new();
    let cell = if model == ModelName::E5 { &E5 } else { &L3 };
    cell.get_or_init(|| support::assets().model_files(model).expect("run `flicktune fetch` first"))
}

fn tokenizer(model: ModelName) -> TextTokenizer {
    let files = model_files(model);
    let config = flicktune::encoders::bert::BertConfig::from_json(&files.config_json).unwrap();
    TextTokenizer::from_bytes(&files.tokenizer_json, config.pad_token_id as u32, model.spec().sequence).unwrap()
}

/// Text from all over Unicode, weighted towards what breaks tokenisers: controls,
/// bidirectional marks, zero-width characters, combining marks, the replacement
/// character (what a lone surrogate from JavaScript becomes), and plain words.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        prop::sample::select(vec![
            "\u{0}",
            "\u{7}",
            "\u{1b}[31m",
            "\r\n",
            "\t",
            "\u{85}",
            "\u{202e}",
            "\u{200f}",
            "\u{2066}",
            "\u{200b}",
            "\u{200d}",
            "\u{feff}",
            "\u{fffd}",
            "\u{301}\u{301}\u{301}",
            "ﷺ",
            "𒐫",
            "👩‍👩‍👧‍👦",
            "İ",
            "ß",
            "ﬃ",
            "movie",
            "great",
            "<script>",
            "[CLS]",
            "[SEP]",
            "<s>",
            "</s>",
            "passage: ",
            "  ",
        ])
        .prop_map(String::from),
        "[a-zA-Z ]{1,12}",
    ];
    prop::collection::vec(piece, 0..64).prop_map(|p| p.concat())
}

#[test]
fn tokenisers_take_any_text_and_keep_ids_and_windows_in_bounds() {
    for model in [ModelName::L3, ModelName::E5] {
        let tokenizer = tokenizer(model);
        let vocab =
            flicktune::encoders::bert::BertConfig::from_json(&model_files(model).config_json).unwrap().vocab_size;
        let window = tokenizer.format().window;
        proptest!(budget(300), |(text in hostile_text())| {
            let content = tokenizer.content_ids(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(content.iter().all(|&id| (id as usize) < vocab));
            for pooling in [Pooling::First, Pooling::HeadTail, Pooling::Windows] {
                for w in tokenizer.windows(&content, pooling) {
                    prop_assert!(w.len() <= window && w.len() >= tokenizer.special_tokens());
                }
            }
        });
        // A megabyte of text, and one of a single repeated combining mark.
        for text in ["a movie of some length. ".repeat(44_000), "e\u{301}".repeat(350_000)] {
            let content = tokenizer.content_ids(&text).unwrap();
            assert!(!content.is_empty());
            assert!(tokenizer.windows(&content, Pooling::Windows).iter().all(|w| w.len() <= window));
        }
    }
}

#[test]
fn damaged_weight_files_are_refused_with_an_error_never_a_panic() {
    let device = Device::flex();
    for (model, cases) in [(ModelName::L3, 48), (ModelName::E5, 12)] {
        let files = model_files(model);
        let header_end = 4096.min(files.weights.len());
        // Damage near the start hits the header, the declared sizes and shapes; elsewhere
        // it hits the values, which may load: a file's sha256, checked when it is fetched
        // and in the page, is what catches that.
        let near_header = prop_oneof![
            (0..header_end, any::<u8>()).prop_map(|(at, b)| vec![Damage::Overwrite(at, b)]),
            (0..header_end, any::<u32>()).prop_map(|(at, n)| {
                n.to_le_bytes().iter().enumerate().map(|(i, b)| Damage::Overwrite(at + i, *b)).collect()
            }),
            (0..files.weights.len()).prop_map(|at| vec![Damage::Truncate(at)]),
            damage(),
        ];
        proptest!(budget(cases), |(damage in near_header)| {
            let weights = apply(files.weights.clone(), &damage);
            let damaged = ModelFiles { weights, ..files.clone() };
            let _ = damaged.load(&device);
        });
    }
}

#[test]
fn damaged_configs_are_refused_or_load_nothing_larger_than_their_weights() {
    let device = Device::flex();
    let files = model_files(ModelName::L3);
    let config: serde_json::Value = serde_json::from_slice(&files.config_json).unwrap();
    let fields: Vec<String> = config.as_object().unwrap().keys().cloned().collect();
    let odd_value = prop::sample::select(vec![
        serde_json::json!(0),
        serde_json::json!(1),
        serde_json::json!(3),
        serde_json::json!(7),
        serde_json::json!(-1),
        serde_json::json!(1u64 << 31),
        serde_json::json!(u64::MAX),
        serde_json::json!(1e308),
        serde_json::json!(0.5),
        serde_json::json!("384"),
        serde_json::Value::Null,
    ]);
    let changes = prop::collection::vec((prop::sample::select(fields), odd_value), 1..4);
    proptest!(budget(120), |(changes in changes)| {
        let mut damaged = config.clone();
        for (field, value) in changes {
            damaged[field.as_str()] = value;
        }
        let config_json = serde_json::to_vec(&damaged).unwrap();
        let _ = ModelFiles { config_json, ..files.clone() }.load(&device);
    });
    // Sizes a BERT cannot have are refused by name.
    for (field, value) in [("num_attention_heads", 0), ("hidden_size", 1 << 20), ("vocab_size", 5 << 22)] {
        let mut damaged = config.clone();
        damaged[field] = value.into();
        let error =
            flicktune::encoders::bert::BertConfig::from_json(&serde_json::to_vec(&damaged).unwrap()).unwrap_err();
        assert!(error.to_string().contains(field), "{error}");
    }
    // A config much larger than its weights is refused before anything is allocated.
    let mut large = config.clone();
    large["vocab_size"] = (4_000_000).into();
    large["hidden_size"] = 4096.into();
    large["num_attention_heads"] = 64.into();
    let big = ModelFiles { config_json: serde_json::to_vec(&large).unwrap(), ..files.clone() }.load(&device);
    assert!(matches!(big, Err(flicktune::encoders::ModelError::TooLargeForWeights { .. })), "{:?}", big.err());
}

#[test]
fn declared_sizes_far_beyond_the_file_are_refused_before_allocating() {
    let device = Device::flex();
    // safetensors: an 8-byte header length of 2^62.
    let files = model_files(ModelName::L3);
    let mut weights = files.weights.clone();
    weights[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(ModelFiles { weights, ..files.clone() }.load(&device).is_err());
    // The packed 4-bit file: every header count at u32::MAX in turn.
    let files = model_files(ModelName::E5);
    for field in 0..9 {
        let mut weights = files.weights.clone();
        let at = 8 + 4 * field;
        weights[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ModelFiles { weights, ..files.clone() }.load(&device).is_err(), "header word {field}");
    }
}

#[test]
fn review_files_with_bad_lines_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reviews.jsonl");
    proptest!(budget(200), |(lines in prop::collection::vec(prop_oneof![
        Just(r#"{"text": "A fine film.", "label": 1}"#.to_string()),
        json_value().prop_map(|v| v.to_string()),
        ".{0,40}",
    ], 0..12))| {
        std::fs::write(&path, lines.join("\n")).unwrap();
        if let Err(error) = flicktune::assets::read_reviews(&path) {
            prop_assert!(
                matches!(error, flicktune::assets::AssetError::ReviewLine { line, .. } if line <= lines.len()),
                "{error}"
            );
        }
    });
}
