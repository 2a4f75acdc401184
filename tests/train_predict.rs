//! `flicktune train` and `flicktune predict` as a user runs them: a labels file in, a
//! classifier file out, texts through a pipe, and clear errors for bad input.

mod support;

use std::process::Output;

use flicktune::assets::read_reviews;
use flicktune::classifier::{Classifier, sigmoid};
use flicktune::encoders::ModelName;
use flicktune::features::Pooling;
use flicktune::recipe::Recipe;
use serde_json::Value;
use support::{assets, flicktune};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The first `n / 2` reviews of each class in the `train` split, as a labels file.
fn labels_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let reviews = read_reviews(&assets().imdb_split("train")).unwrap();
    let picked = [0, 1].into_iter().flat_map(|label| reviews.iter().filter(move |r| r.label == label).take(n / 2));
    let lines: String =
        picked.map(|r| format!("{}\n", serde_json::json!({ "text": r.text, "label": r.label }))).collect();
    let path = dir.join("labels.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn train_then_predict_classifies_clear_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let labels = labels_file(dir.path(), 40);
    let out = dir.path().join("classifier.json");
    let trained = flicktune(&["train", "--labels", labels.to_str().unwrap(), "--out", out.to_str().unwrap()], b"");
    assert!(trained.status.success(), "{}", stderr(&trained));
    let classifier = Classifier::from_json(&std::fs::read(&out).unwrap()).expect("the page's classifier format");
    assert_eq!(classifier.trained_on, 40);
    assert_eq!(
        (classifier.encoder, classifier.pooling),
        (ModelName::E5, Pooling::Windows),
        "the page's encoder by default"
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((&written["encoder"], &written["pooling"]), (&"multilingual-e5-small".into(), &"windows".into()));
    // The page's method by default: the bundled sample unlabelled (its features from the
    // page's cache), lexicon seeds, self-training and the votes.
    let said = stderr(&trained);
    for step in ["the page's sample", "from the page's feature cache", "labelled by VADER", "votes: NB-SVM"] {
        assert!(said.contains(step), "`{step}` missing from: {said}");
    }
    assert!(classifier.text_votes.is_some());

    let texts = [
        "An absolute masterpiece. Brilliant acting, a moving story, and I loved every minute of it.",
        "Dreadful. A boring, stupid mess with awful acting; the worst film I have seen in years.",
    ];
    let input: String = texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect();
    let predicted = flicktune(&["predict", "--classifier", out.to_str().unwrap()], input.as_bytes());
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let lines: Vec<Value> =
        String::from_utf8(predicted.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["label"], 1, "{:?}", lines[0]);
    assert_eq!(lines[1]["label"], 0, "{:?}", lines[1]);
    let p = lines[0]["positive"].as_f64().unwrap();
    assert!(p > 0.5 && p <= 1.0, "{p}");

    // The page's export (a session holding the classifier) predicts the same.
    let session = serde_json::json!({ "format": "flicktune-session", "version": 1, "labels": [], "classifier": classifier, "curve": [] });
    let exported = dir.path().join("export.json");
    std::fs::write(&exported, session.to_string()).unwrap();
    let again = flicktune(&["predict", "--classifier", exported.to_str().unwrap()], input.as_bytes());
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Vec<Value> =
        String::from_utf8(again.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(again, lines);
}

#[test]
fn self_training_uses_the_unlabelled_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let labels = labels_file(dir.path(), 10);
    let reviews = read_reviews(&assets().imdb_split("train")).unwrap();
    let pool: String = reviews[100..140].iter().map(|r| format!("{}\n", serde_json::json!(r.text))).collect();
    let unlabelled = dir.path().join("unlabelled.jsonl");
    std::fs::write(&unlabelled, pool).unwrap();
    let mut classifiers = Vec::new();
    // 40 unlabelled reviews: the classifier's surest 5 + 5 in the second round, and with
    // the lexicon, its surest 20 + 20 in both rounds (at most half the reviews per class).
    let seeded = (Some("40 unlabelled reviews labelled by VADER"), "50 unlabelled reviews join");
    let runs = [
        ("self-train", None, "10 unlabelled reviews join"),
        ("lexicon-self-train", seeded.0, seeded.1),
        ("ensemble", seeded.0, seeded.1),
    ];
    for (method, seeds, second_round) in runs {
        let out = dir.path().join(format!("{method}.json"));
        let args = ["train", "--labels", labels.to_str().unwrap(), "--out", out.to_str().unwrap(), "--method", method];
        let trained = flicktune(&[&args[..], &["--unlabelled", unlabelled.to_str().unwrap()]].concat(), b"");
        assert!(trained.status.success(), "{}", stderr(&trained));
        assert!(stderr(&trained).contains(second_round), "{}", stderr(&trained));
        assert_eq!(stderr(&trained).contains("labelled by VADER"), seeds.is_some(), "{method}: {}", stderr(&trained));
        assert!(seeds.is_none_or(|s| stderr(&trained).contains(s)), "{method}: {}", stderr(&trained));
        let classifier = Classifier::from_json(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(classifier.trained_on, 10, "real labels only");
        assert_eq!(classifier.text_votes.is_some(), method == "ensemble", "{method}");
        assert_eq!(stderr(&trained).contains("votes: NB-SVM"), method == "ensemble", "{method}: {}", stderr(&trained));
        classifiers.push((out, classifier));
    }
    assert_ne!(classifiers[0].1.weights, classifiers[1].1.weights, "the lexicon's seeds change the classifier");

    // The ensemble's file: NB-SVM knows the labelled reviews' n-grams (e5's recipe has no
    // lexicon vote), it records its recipe, and `predict` reads the text as well as the features.
    let (ensemble_path, ensemble) = &classifiers[2];
    let votes = ensemble.text_votes.as_ref().unwrap();
    assert!(votes.lexicon_spread.is_none() && votes.nbsvm.weights.len() > 100, "{} n-grams", votes.nbsvm.weights.len());
    assert_eq!(ensemble.recipe, Some(Recipe::for_encoder(ModelName::E5)), "the file says how it was trained");
    assert_eq!(
        classifiers[0].1.recipe.map(|r| (r.lexicon_seeds, r.self_training, r.votes.is_some())),
        Some((0, true, false))
    );
    let texts = [
        "An absolute masterpiece. Brilliant acting, a moving story, and I loved every minute of it.",
        "Dreadful. A boring, stupid mess with awful acting; the worst film I have seen in years.",
    ];
    let input: String = texts
        .iter()
        .map(|t| {
            format!(
                "{}
",
                serde_json::json!(t)
            )
        })
        .collect();
    let with_votes = predict_file(ensemble_path, &input).unwrap();
    assert!(with_votes[0] > 0.5 && with_votes[1] < 0.5, "{with_votes:?}");
    let encoder_only = dir.path().join("encoder-only.json");
    std::fs::write(&encoder_only, Classifier { text_votes: None, ..ensemble.clone() }.to_json()).unwrap();
    assert_ne!(predict_file(&encoder_only, &input).unwrap(), with_votes, "the votes change the prediction");
}

#[test]
fn bad_labels_files_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"text": "great fun", "label": 1}"#;
    for (content, says) in [
        (
            format!("{good}\n{{\"text\": \"meh\", \"label\": 2}}\n"),
            "line 2: `label` must be 0 (negative) or 1 (positive)",
        ),
        (format!("{good}\n{{\"text\": \"meh\", \"label\"\n"), "line 2: not valid JSON"),
        (format!("{good}\n{good}\n"), "one positive and one negative"),
        (String::new(), "empty"),
    ] {
        let labels = dir.path().join("labels.jsonl");
        std::fs::write(&labels, &content).unwrap();
        let out = dir.path().join("classifier.json");
        let result = flicktune(&["train", "--labels", labels.to_str().unwrap(), "--out", out.to_str().unwrap()], b"");
        assert!(!result.status.success(), "{content:?} was accepted");
        assert!(stderr(&result).contains(says), "{content:?}: {}", stderr(&result));
        assert!(!out.exists(), "a failed run wrote a classifier");
    }
    let missing = flicktune(&["train", "--labels", "/no/such/file.jsonl", "--out", "x.json"], b"");
    assert!(stderr(&missing).contains("cannot read /no/such/file.jsonl"), "{}", stderr(&missing));
}

#[test]
fn predict_refuses_a_damaged_classifier_and_names_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.json");
    std::fs::write(&damaged, br#"{"format": "flicktune-classifier", "version": 1, "weights": [1.0]"#).unwrap();
    let result = flicktune(&["predict", "--classifier", damaged.to_str().unwrap()], b"\"text\"\n");
    assert!(!result.status.success());
    assert!(stderr(&result).contains("not a usable classifier"), "{}", stderr(&result));

    let labels = labels_file(dir.path(), 6);
    let out = dir.path().join("classifier.json");
    assert!(
        flicktune(&["train", "--labels", labels.to_str().unwrap(), "--out", out.to_str().unwrap()], b"")
            .status
            .success()
    );
    let result = flicktune(&["predict", "--classifier", out.to_str().unwrap()], b"\"fine\"\n{oops\n");
    assert!(!result.status.success());
    assert!(stderr(&result).contains("line 2: not valid JSON"), "{}", stderr(&result));
    assert!(result.stdout.is_empty(), "nothing is printed before every line is checked");
}

/// Predictions of `texts` (JSON Lines) by `flicktune predict` with a classifier file.
fn predict_file(path: &std::path::Path, input: &str) -> Result<Vec<f64>, String> {
    let out = flicktune(&["predict", "--classifier", path.to_str().unwrap()], input.as_bytes());
    if !out.status.success() {
        return Err(stderr(&out));
    }
    let lines = String::from_utf8(out.stdout).unwrap();
    Ok(lines.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["positive"].as_f64().unwrap()).collect())
}

#[test]
fn a_fine_tuned_classifier_file_carries_its_layers_and_predict_uses_them() {
    use burn::tensor::Device;
    use flicktune::encoders::tuned::TunedLayers;
    use flicktune::features::Embedder;
    use flicktune::finetune::{FineTuneConfig, FineTuner, TokenExample};
    use flicktune::training::run_to_end;

    let dir = tempfile::tempdir().unwrap();
    let labels = labels_file(dir.path(), 10);
    let frozen_path = dir.path().join("frozen.json");
    // The encoder's classifier alone (no votes), so the logit below is the whole prediction.
    let args =
        ["train", "--labels", labels.to_str().unwrap(), "--out", frozen_path.to_str().unwrap(), "--method", "frozen"];
    assert!(flicktune(&args, b"").status.success());
    let frozen = Classifier::from_json(&std::fs::read(&frozen_path).unwrap()).unwrap();

    // Fine-tune the top layers of the encoder `train` used (the default) on the same ten
    // reviews, as the page does.
    let device = Device::flex();
    let (tokenizer, pretrained) = assets().model_files(ModelName::default()).unwrap().load(&device).unwrap();
    let config = FineTuneConfig::new().with_epochs(2).with_learning_rate(1e-3);
    let examples: Vec<TokenExample> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            TokenExample::new(
                &tokenizer,
                v["text"].as_str().unwrap(),
                v["label"].as_u64().unwrap() as u8,
                config.max_tokens,
            )
            .unwrap()
        })
        .collect();
    let mut tuner = FineTuner::new(&pretrained, &frozen, &examples, tokenizer.pad_id(), config, &device).unwrap();
    run_to_end(&mut tuner);
    let first = tuner.first_tuned_layer();
    let (tuned_model, head) = pollster::block_on(tuner.finish()).unwrap();
    let (layers, bytes) = TunedLayers::save(&tuned_model, first).unwrap();
    let tuned = Classifier { tuned_layers: Some(layers.clone().with_bytes(&bytes)), ..head.clone() };
    let tuned_path = dir.path().join("tuned.json");
    std::fs::write(&tuned_path, tuned.to_json()).unwrap();

    let texts =
        ["Loved it: funny, warm and beautifully shot.", "Tedious, ugly and far too long.", "It was fine, I guess."];
    let input: String = texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t }))).collect();
    let from_cli = predict_file(&tuned_path, &input).unwrap();
    // The same classifier in process, on the pretrained encoder with the saved layers over it.
    let model = layers.apply(pretrained.clone(), &bytes).unwrap();
    let embedder =
        Embedder { tokenizer, model, device, pooling: ModelName::default().spec().classifier_pooling, batch_size: 8 };
    let in_process: Vec<f64> =
        embedder.embed(&texts).unwrap().iter().map(|e| f64::from(sigmoid(head.logit(&e.vector).unwrap()))).collect();
    for (cli, own) in from_cli.iter().zip(&in_process) {
        assert!((cli - own).abs() < 1e-4, "predict {from_cli:?} vs in process {in_process:?}");
    }
    // The tuned layers matter: the same head on the pretrained encoder says otherwise.
    let without = Classifier { tuned_layers: None, ..head };
    let without_path = dir.path().join("without.json");
    std::fs::write(&without_path, without.to_json()).unwrap();
    let untuned = predict_file(&without_path, &input).unwrap();
    assert!(untuned.iter().zip(&from_cli).any(|(a, b)| (a - b).abs() > 1e-3), "{untuned:?} vs {from_cli:?}");

    // Damaged or missing layers are refused with a reason.
    let mut damaged: Value = serde_json::from_str(&tuned.to_json()).unwrap();
    let text = damaged["tuned_layers"]["safetensors_base64"].as_str().unwrap().to_string();
    let flipped = if text.starts_with('A') { "B" } else { "A" };
    damaged["tuned_layers"]["safetensors_base64"] = format!("{flipped}{}", &text[1..]).into();
    std::fs::write(&tuned_path, damaged.to_string()).unwrap();
    assert!(predict_file(&tuned_path, &input).unwrap_err().contains("do not match their sha256"));
    damaged["tuned_layers"].as_object_mut().unwrap().remove("safetensors_base64");
    std::fs::write(&tuned_path, damaged.to_string()).unwrap();
    assert!(predict_file(&tuned_path, &input).unwrap_err().contains("the fine-tuned layers are missing"));
}
