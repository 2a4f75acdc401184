//! `flicktune lstm pretrain` as a user runs it: a tiny language model on `train` texts,
//! checkpointed, resumed, and refused when the settings change under the same folder.

mod support;

use burn::tensor::Device;
use flicktune::awd_lstm::AwdLstmConfig;
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
