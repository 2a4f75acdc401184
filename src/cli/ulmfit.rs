//! `flicktune train --model awd-lstm` and `predict` with its file: ULMFiT's second and
//! third steps on the pretrained AWD-LSTM (`flicktune lstm pretrain`, or the fetched one).
//! The language model is tuned to the labelled and unlabelled texts (labels unused), then
//! the classifier is trained on the labels with gradual unfreezing (`src/ulmfit.rs`).

use std::io::Write;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use flicktune::assets::AssetDir;
use flicktune::backend::{BackendKind, open_device};
use flicktune::classifier::Confusion;
use flicktune::training::{Stepwise, read_loss};
use flicktune::ulmfit::{
    PretrainedLm, UlmfitConfig, UlmfitFile, UlmfitTrainer, language_model_tuning, tune_language_model,
};

use super::train::TrainArgs;

pub fn train(
    args: &TrainArgs,
    texts: &[String],
    labels: &[u8],
    unlabelled: &[String],
    assets: &AssetDir,
) -> Result<()> {
    let device = open_device(args.backend)?;
    let dir = args.lm.clone().unwrap_or_else(|| assets.awd_lstm_dir());
    let PretrainedLm { vocab, config: lm_config, model } = PretrainedLm::read_dir(&dir, &device)?;

    // ULMFiT's second step: the language model tuned to these reviews' text.
    let domain: Vec<Vec<u32>> = texts.iter().chain(unlabelled).map(|t| vocab.encode(t)).collect();
    let tokens = domain.iter().map(Vec::len).sum();
    let tuning = language_model_tuning(tokens, args.lm_epochs, 0);
    eprintln!("tuning the language model to {} reviews ({tokens} words): {} steps", domain.len(), tuning.steps);
    let mut tuner = tune_language_model(model, &domain, tuning, &device);
    run_with_bar(&mut tuner, "language model")?;

    // The third: the classifier, gradually unfrozen.
    let config = UlmfitConfig::new();
    let reviews: Vec<(Vec<u32>, u8)> = texts.iter().map(|t| vocab.encode(t)).zip(labels.iter().copied()).collect();
    let mut trainer = UlmfitTrainer::new(tuner.finish(), &reviews, config.clone(), &device)?;
    eprintln!("training the classifier on {} reviews: {} steps", reviews.len(), trainer.total_steps());
    run_with_bar(&mut trainer, "classifier")?;
    let file = UlmfitFile { classifier: trainer.finish(), vocab, lm_config, config };

    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut confusion = Confusion::default();
    for (p, &label) in file.positive(&refs).iter().zip(labels) {
        confusion.add(label, u8::from(*p >= 0.5));
    }
    std::fs::write(&args.out, file.to_bytes()?).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "trained on {} reviews; accuracy on them {:.1}%; wrote {}",
        labels.len(),
        100.0 * confusion.accuracy(),
        args.out.display()
    );
    Ok(())
}

/// Runs `trainer` to its end with a progress bar showing the loss.
fn run_with_bar(trainer: &mut impl Stepwise, what: &str) -> Result<()> {
    let bar = ProgressBar::new(trainer.total_steps() as u64).with_style(
        ProgressStyle::with_template(&format!("{what} [{{bar:30}}] {{pos}}/{{len}} steps, loss {{msg}} ({{elapsed}})"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    while !trainer.is_done() {
        let loss = pollster::block_on(read_loss(trainer.step()))?;
        bar.set_message(format!("{loss:.3}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Writes `{"label", "positive"}` for each text with a ULMFiT classifier file's `bytes`.
pub fn predict(bytes: &[u8], texts: &[String], backend: BackendKind) -> Result<()> {
    let started = std::time::Instant::now();
    let device = open_device(backend)?;
    let file = UlmfitFile::from_bytes(bytes, &device)?;
    let mut out = std::io::stdout().lock();
    for part in texts.chunks(32) {
        let refs: Vec<&str> = part.iter().map(String::as_str).collect();
        for p in file.positive(&refs) {
            let line = serde_json::json!({ "label": u8::from(p >= 0.5), "positive": p });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    let done = super::embed::Throughput { texts: texts.len(), tokens: None, seconds: started.elapsed().as_secs_f64() };
    eprintln!("classified {done}");
    Ok(())
}
