//! `flicktune predict`: texts in (JSON Lines on stdin), one `{"label", "positive"}` line
//! out per text, with a classifier file from `flicktune train` or the page's export.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use flicktune::assets::AssetDir;
use flicktune::backend::BackendKind;
use flicktune::classifier::{Classifier, TextView};
use flicktune::encoders::tuned::TunedError;
use flicktune::session;

use super::EncoderArgs;
use super::embed::{read_stdin_texts, write_embedded};

#[derive(Args)]
pub struct PredictArgs {
    /// A classifier file (`flicktune train --out`, or exported from the page; or ULMFiT's
    /// from `flicktune train --model awd-lstm`).
    #[arg(long)]
    classifier: PathBuf,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
}

pub fn run(args: PredictArgs, assets: &AssetDir) -> Result<()> {
    let path = args.classifier.display();
    let bytes = std::fs::read(&args.classifier).with_context(|| format!("cannot read {path}"))?;
    if !bytes.trim_ascii_start().starts_with(b"{") {
        // Not JSON: ULMFiT's classifier, a safetensors file.
        let texts = read_stdin_texts()?;
        return super::ulmfit::predict(&bytes, &texts, args.backend).with_context(|| format!("{path} cannot be used"));
    }
    let classifier = read_classifier(&bytes).with_context(|| format!("{path} is not a usable classifier"))?;
    let (model, pooling) = (classifier.encoder, Some(classifier.pooling));

    let texts = read_stdin_texts()?;
    let mut embedder = EncoderArgs { model, pooling, backend: args.backend, batch: 8 }.embedder(assets)?;
    if let Some(tuned) = &classifier.tuned_layers {
        // Checked against the sha256 when the file was read.
        let bytes =
            tuned.inline_bytes()?.ok_or(TunedError::Missing).with_context(|| format!("{path} cannot be used"))?;
        embedder.model = tuned.apply(embedder.model, &bytes).with_context(|| format!("{path} cannot be used"))?;
    }
    let done = write_embedded(&embedder, &texts, |text, embedding| {
        let prediction = classifier.predict(&embedding.vector, &TextView::of(text))?;
        Ok(serde_json::json!({ "label": prediction.label, "positive": prediction.positive }))
    })?;
    eprintln!("classified {done}");
    Ok(())
}

/// A classifier file, or the page's export (a session holding the classifier).
fn read_classifier(bytes: &[u8]) -> Result<Classifier> {
    let value: serde_json::Value = serde_json::from_slice(bytes).context("it is not JSON")?;
    if value.get("format").and_then(|f| f.as_str()) == Some(session::FORMAT) {
        return match value.get("classifier") {
            Some(c) if !c.is_null() => Ok(Classifier::from_value(c.clone())?),
            _ => Err(anyhow!(
                "it is the page's export of labels without a trained classifier: train in the page first, or use `flicktune train`"
            )),
        };
    }
    Ok(Classifier::from_value(value)?)
}
