//! `flicktune lstm pretrain` as a user runs it: a tiny language model on `train` texts,
//! checkpointed, resumed, and refused when the settings change under the same folder; then
//! ULMFiT's classifier on it (`train --model awd-lstm`) and `predict` with its file.

mod support;

use burn::tensor::Device;
use flicktune::encoders::awd_lstm::AwdLstmConfig;
use support::flicktune;

const TINY: [&str; 18] = [
    "--texts",
    "60",
    "--vocab",
    "500",
    "--embedding",
    "16",
    "--hidden",
    "24",
    "--layers",
    "2",
    "--batch",
    "4",
    "--bptt",
    "20",
    "--negatives",
    "64",
    "--heldout",
    "10",
];

fn pretrain(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    flicktune(&[&["lstm", "pretrain", "--out", out.to_str().unwrap()], &TINY[..], extra].concat(), b"")
}

#[test]
fn pretraining_writes_a_model_that_loads_and_a_second_run_resumes_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lm");
    let first = pretrain(&out, &["--epochs", "0.5"]);
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{log}");
    assert!(log.contains("perplexity"), "the held-out perplexity is reported: {log}");
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("awd-lstm.json")).unwrap()).unwrap();
    let perplexity = card["progress"]["perplexities"][0][1].as_f64().unwrap();
    assert!(perplexity.is_finite() && perplexity > 1.0, "perplexity {perplexity}");

    // The f16 weights load into the model the card describes, and read text.
    let config: AwdLstmConfig = serde_json::from_value(card["progress"]["model"].clone()).unwrap();
    assert_eq!(config.vocab, 500);
    let weights = std::fs::read(out.join("awd-lstm.f16.safetensors")).unwrap();
    let device = Device::flex();
    assert!(config.init(&device).load_safetensors(&weights).is_ok());

    // Run again with the same settings: it finds the finished run's checkpoint and goes on
    // from its last step (nothing left to train), rather than starting over.
    let again = pretrain(&out, &["--epochs", "0.5"]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("resuming at step"), "{log}");

    // Other settings under the same folder are refused, and say how to start again.
    let other = pretrain(&out, &["--epochs", "1"]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("other settings"));
}

#[test]
fn ulmfit_trains_a_classifier_on_the_language_model_that_predict_reads() {
    let dir = tempfile::tempdir().unwrap();
    let lm = dir.path().join("lm");
    let pretrained = pretrain(&lm, &["--epochs", "0.3"]);
    assert!(pretrained.status.success(), "{}", String::from_utf8_lossy(&pretrained.stderr));

    let write = |name: &str, lines: &[serde_json::Value]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        path
    };
    let labelled: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            let (text, label) =
                if i % 2 == 0 { ("A great film, I loved it.", 1) } else { ("A bad film, I hated it.", 0) };
            serde_json::json!({ "text": format!("{text} Seen {i} times."), "label": label })
        })
        .collect();
    let labels = write("labels.jsonl", &labelled);
    let unlabelled = write("unlabelled.jsonl", &[serde_json::json!("The plot was thin but the acting was fine.")]);
    let classifier = dir.path().join("ulmfit.safetensors");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let train = |lm_dir: &std::path::Path| {
        flicktune(
            &[
                "train",
                "--model",
                "awd-lstm",
                "--lm",
                &path(lm_dir),
                "--labels",
                &path(&labels),
                "--unlabelled",
                &path(&unlabelled),
                "--out",
                &path(&classifier),
            ],
            b"",
        )
    };
    let trained = train(&lm);
    let log = String::from_utf8_lossy(&trained.stderr);
    assert!(trained.status.success(), "{log}");
    assert!(log.contains("tuning the language model") && log.contains("accuracy on them"), "{log}");

    let texts = b"\"What a great film.\"\n{\"text\": \"Bad, bad, bad.\"}\n\"\"\n";
    let predicted = flicktune(&["predict", "--classifier", &path(&classifier)], texts);
    assert!(predicted.status.success(), "{}", String::from_utf8_lossy(&predicted.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&predicted.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "one line per text, the empty one included");
    for line in &lines {
        let p = line["positive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p) && line["label"].as_u64() == Some(u64::from(p >= 0.5)), "{line}");
    }

    // A damaged file and a missing language model are refused, saying what to do.
    let bytes = std::fs::read(&classifier).unwrap();
    std::fs::write(&classifier, &bytes[..bytes.len() / 2]).unwrap();
    let damaged = flicktune(&["predict", "--classifier", &path(&classifier)], texts);
    assert!(!damaged.status.success());
    assert!(String::from_utf8_lossy(&damaged.stderr).contains("cannot be used"));
    let missing = train(&dir.path().join("nowhere"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("flicktune fetch"));
}

#[test]
fn the_fetched_language_model_is_the_committed_one_and_reads_reviews_far_better_than_chance() {
    use flicktune::assets::train_parts::TrainParts;
    use flicktune::encoders::awd_lstm::perplexity;
    use flicktune::ulmfit::{LM_CARD_FILE, PretrainedLm};

    let assets = support::assets();
    let dir = assets.awd_lstm_dir();
    let device = Device::flex();
    let lm = PretrainedLm::read_dir(&dir, &device).expect("run `flicktune fetch` first");
    // Held-out `train` reviews the pretraining never read; a model that had learnt
    // nothing would be near the vocabulary's size.
    let TrainParts { train_dev, .. } = TrainParts::read(&assets).unwrap();
    let stream: Vec<u32> = train_dev.iter().take(20).flat_map(|r| lm.vocab.encode(&r.text)).collect();
    let value = perplexity(&lm.model, &stream, 4, 70, &device);
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(LM_CARD_FILE)).unwrap()).unwrap();
    let reported = card["progress"]["perplexities"].as_array().unwrap().last().unwrap()[1].as_f64().unwrap();
    println!("the fetched AWD-LSTM: perplexity {value:.1} on 20 train-dev reviews ({reported:.1} reported on 200)");
    assert!(value < 0.05 * lm.vocab.len() as f64, "perplexity {value} over {} words", lm.vocab.len());
    assert!((value / reported - 1.0).abs() < 0.5, "{value} on 20 reviews, {reported} on 200");
}

/// The AWD-LSTM's concat-pooled outputs for a few texts, as the native engine computes
/// them from the fetched weights: the page must match them (`tests/e2e/lstm.test.mjs`).
/// `FLICKTUNE_WRITE_FIXTURES=1` writes them anew (after the committed weights change).
#[test]
fn the_language_models_reference_features_are_the_native_engines() {
    use flicktune::encoders::tuned::sha256_hex;
    use flicktune::ulmfit::{LM_WEIGHTS_FILE, PretrainedLm, UlmfitConfig};

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/awd-lstm-reference-features.json");
    let dir = support::assets().awd_lstm_dir();
    let lm = PretrainedLm::read_dir(&dir, &Device::flex()).expect("run `flicktune fetch` first");
    let long = "The plot drifts, but the two leads hold every scene they share. ".repeat(40);
    let texts = [
        "A warm, funny and beautifully acted film; I loved every minute of it.",
        "Dreadful. The worst two hours I have spent in a cinema: wooden acting, no story.",
        "",
        "Zxqv blorft: ünïcödé and 1234 — words the vocabulary never saw!",
        long.as_str(),
    ];
    let max_tokens = UlmfitConfig::new().max_tokens;
    let rows: Vec<Vec<f32>> = {
        let values = lm.pooled(&texts, max_tokens).into_data().try_to_vec::<f32>().unwrap();
        values.chunks(values.len() / texts.len()).map(<[f32]>::to_vec).collect()
    };
    // One text at a time (no padding) reads the same as in a batch.
    let alone = lm.pooled(&texts[..1], max_tokens).into_data().try_to_vec::<f32>().unwrap();
    let worst = alone.iter().zip(&rows[0]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-5, "padding changed the first text's features by {worst}");
    let weights_sha256 = sha256_hex(&std::fs::read(dir.join(LM_WEIGHTS_FILE)).unwrap());
    if std::env::var_os("FLICKTUNE_WRITE_FIXTURES").is_some() {
        let fixture = serde_json::json!({
            "about": "Concat-pooled outputs (last, max, mean of the last LSTM layer) of the AWD-LSTM that `flicktune fetch` installs, computed by the native engine (Burn, CPU, f32) from its f16 weights, each text's first `max_tokens` words. Written by `FLICKTUNE_WRITE_FIXTURES=1 cargo test --test lstm reference_features`.",
            "weights_sha256": weights_sha256,
            "max_tokens": max_tokens,
            "texts": texts,
            "features": rows,
        });
        std::fs::write(&path, serde_json::to_string(&fixture).unwrap()).unwrap();
    }
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the fixture is committed")).unwrap();
    assert_eq!(fixture["weights_sha256"], weights_sha256, "the fixture is of other weights: write it anew");
    assert_eq!(fixture["texts"], serde_json::json!(texts));
    let expected: Vec<Vec<f32>> = serde_json::from_value(fixture["features"].clone()).unwrap();
    assert_eq!(expected.len(), rows.len());
    for (text, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row.len(), 3 * 128, "text {text}");
        let worst = row.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "text {text}: {worst} from the fixture");
    }
}
