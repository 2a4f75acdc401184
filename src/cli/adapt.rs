//! `flicktune adapt`: masked-LM adaptation of an encoder to review text, on the `train`
//! split's texts without their labels, written as a model folder every other command can
//! load (`--assets` pointing at a folder whose `models/` holds it).
//!
//! The 1,000 `train` reviews that `bench curve --eval train-dev` scores on are left out,
//! so settings chosen there stay honest; `test` is never read.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use flicktune::adapt::{AdaptConfig, Adapter, is_adapted, windows};
use flicktune::assets::AssetDir;
use flicktune::assets::train_parts::TrainParts;
use flicktune::backend::{BackendKind, open_device};
use flicktune::encoders::weights::{cast_safetensors, float_safetensors, float_tensors};
use flicktune::encoders::{CONFIG_FILE, F16_WEIGHTS_FILE, ModelName, TOKENIZER_FILE, WEIGHTS_FILE};
use flicktune::training::{Stepwise, read_loss};

/// The tensors adaptation changed, in f16: what `weights/` commits.
pub const ADAPTED_LAYERS_FILE: &str = "layers.f16.safetensors";

#[derive(Args)]
pub struct AdaptArgs {
    /// Encoder to adapt: l3 or l6 (the shipped l3-reviews is this command's l3).
    #[arg(long, default_value = "l3")]
    model: ModelName,
    /// Optimiser steps (800: the measured run, 58 min on 2 cores; docs/few-shot.md).
    #[arg(long, default_value_t = AdaptConfig::new().steps)]
    steps: usize,
    /// Windows per step.
    #[arg(long, default_value_t = AdaptConfig::new().batch_size)]
    batch: usize,
    /// Tokens per window, [CLS] and [SEP] included.
    #[arg(long, default_value_t = AdaptConfig::new().max_tokens)]
    max_tokens: usize,
    /// Peak learning rate of the encoder's layers (slanted triangular schedule).
    #[arg(long, default_value_t = AdaptConfig::new().learning_rate)]
    learning_rate: f64,
    /// Peak learning rate of the new masked-LM head.
    #[arg(long, default_value_t = AdaptConfig::new().head_learning_rate)]
    head_learning_rate: f64,
    /// Orders the windows and picks the masked tokens.
    #[arg(long, default_value_t = AdaptConfig::new().seed)]
    seed: u64,
    /// Read only the first this many reviews (quick tries; default: all).
    #[arg(long)]
    texts: Option<usize>,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// The model folder to write (config.json, tokenizer.json, the weights in f32 and f16,
    /// and the changed tensors alone in f16: `layers.f16.safetensors`).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: AdaptArgs, assets: &AssetDir) -> Result<()> {
    let device = open_device(args.backend)?;
    let files = assets.model_files(args.model)?;
    let (tokenizer, encoder) =
        files.clone().load(&device).with_context(|| format!("cannot load the {} encoder", args.model.full_name()))?;
    let TrainParts { pool, rest, .. } = TrainParts::read(assets)?;
    let texts: Vec<&str> =
        pool.iter().chain(&rest).map(|r| r.text.as_str()).take(args.texts.unwrap_or(usize::MAX)).collect();
    let windows = windows(&tokenizer, &texts, args.max_tokens)?;
    eprintln!(
        "{} windows of up to {} tokens from {} train reviews (labels unused)",
        windows.len(),
        args.max_tokens,
        texts.len()
    );
    let config = AdaptConfig::new()
        .with_steps(args.steps)
        .with_batch_size(args.batch)
        .with_max_tokens(args.max_tokens)
        .with_learning_rate(args.learning_rate)
        .with_head_learning_rate(args.head_learning_rate)
        .with_seed(args.seed);
    let mut adapter = Adapter::new(&encoder, &tokenizer, windows, config, &device)?;
    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template("adapt [{bar:30}] {pos}/{len} steps, loss {msg} ({elapsed}, eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut recent = Vec::new();
    while !adapter.is_done() {
        recent.push(pollster::block_on(read_loss(adapter.step()))?);
        if recent.len() == 50 || adapter.is_done() {
            let mean = recent.iter().sum::<f32>() / recent.len() as f32;
            // The loss curve goes to stderr even without a terminal (the bar hides then).
            bar.suspend(|| eprintln!("steps {:>6}: masked-LM loss {mean:.3}", adapter.steps_done()));
            bar.set_message(format!("{mean:.3}"));
            recent.clear();
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let adapted = adapter.finish();
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let weights = adapted.to_safetensors()?;
    let write = |name: &str, bytes: &[u8]| {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write(CONFIG_FILE, &files.config_json)?;
    write(TOKENIZER_FILE, &files.tokenizer_json)?;
    write(F16_WEIGHTS_FILE, &cast_safetensors(&weights, safetensors::Dtype::F16)?)?;
    write(WEIGHTS_FILE, &weights)?;
    // What `weights/` commits: the tensors adaptation changed, in f16.
    let mut changed = float_tensors(&weights)?;
    changed.retain(|(name, _, _)| is_adapted(name));
    write(ADAPTED_LAYERS_FILE, &float_safetensors(&changed, safetensors::Dtype::F16)?)?;
    eprintln!(
        "adapted {} in {:.0} s; wrote {}",
        args.model.full_name(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
