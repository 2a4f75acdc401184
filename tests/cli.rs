//! The `flicktune embed` command as a user runs it: JSON Lines through a pipe.

mod support;

use std::process::Output;

use flicktune::encoders::ModelName;
use serde_json::Value;
use support::{fixture, flicktune, max_abs_diff};

fn embed(args: &[&str], stdin: &[u8]) -> Output {
    flicktune(&[&["embed"], args].concat(), stdin)
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn embed_reproduces_the_reference_for_both_models() {
    let fixture = fixture();
    let input: String = fixture
        .texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // Alternate both accepted line forms.
            let line = if i % 2 == 0 { serde_json::json!(t.text) } else { serde_json::json!({ "text": t.text }) };
            format!("{line}\n")
        })
        .collect();
    for model in ModelName::PUBLISHED {
        let out = lines(&embed(&["--model", model.short()], input.as_bytes()));
        assert_eq!(out.len(), fixture.texts.len());
        for (line, t) in out.iter().zip(&fixture.texts) {
            let vector: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
            assert_eq!(vector.len(), 384);
            let diff = max_abs_diff(&vector, t.reference(model));
            assert!(diff <= 1e-4, "{} `{}`: {diff:e}", model.full_name(), t.kind);
            assert_eq!(line["tokens"].as_u64().unwrap() as usize, t.input_ids_max256.len());
        }
    }
}

#[test]
fn a_malformed_line_is_named_and_nothing_is_written() {
    let out = embed(&[], b"\"fine\"\n{\"text\": \"also fine\"}\n{\"text\": oops}\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn empty_and_huge_texts_are_embedded() {
    let huge = "This film is great. ".repeat(50_000); // 1 MB
    let input = format!("\"\"\n{}\n", serde_json::json!(huge));
    // On L3: reading 250,000 tokens with the default e5 would take minutes here.
    for pooling in ["first", "chunks"] {
        let out = lines(&embed(&["--model", "l3", "--pooling", pooling], input.as_bytes()));
        assert_eq!(out.len(), 2, "{pooling}");
        assert_eq!(out[0]["tokens"], 2, "an empty text is [CLS] [SEP]");
        let tokens = out[1]["tokens"].as_u64().unwrap();
        if pooling == "first" {
            assert_eq!(tokens, 256);
        } else {
            assert!(tokens > 250_000, "chunks reads the whole text, got {tokens}");
        }
    }
    // e5, the default: an empty text is `<s>`, the prefix `query: ` (`▁que` `ry` `:` `▁`) and `</s>`.
    let out = lines(&embed(&[], b"\"\"\n"));
    assert_eq!(out[0]["tokens"], 6);
    assert_eq!(out[0]["embedding"].as_array().unwrap().len(), 384);
}

#[test]
fn unknown_model_is_a_clear_error() {
    let out = embed(&["--model", "l12"], b"\"x\"\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("use e5, l3-reviews, l3, l6"));
}
