//! `flicktune lstm pretrain`: ULMFiT's first step, the AWD-LSTM language model trained on
//! the `train` split's texts (labels unused), as no registry ships Wikitext-103 or a
//! pretrained AWD-LSTM. A run of hours: it checkpoints every few minutes and, started
//! again with the same settings and `--out`, goes on from the last checkpoint.
//!
//! The texts are `train`'s pool and rest, as `flicktune adapt` reads them; the first
//! `--heldout` of the `train`-dev reviews (never trained on) give the perplexity after
//! each pass and at the end. `test` is never read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use flicktune::assets::AssetDir;
use flicktune::assets::train_parts::TrainParts;
use flicktune::backend::{BackendKind, open_device};
use flicktune::encoders::awd_lstm::{AwdLstmConfig, LmTrainer, LmTrainingConfig, perplexity};
use flicktune::encoders::weights::cast_safetensors;
use flicktune::training::{Stepwise, read_loss};
use flicktune::ulmfit::{LM_CARD_FILE, LM_VOCAB_FILE, LM_WEIGHTS_FILE};
use flicktune::word_vocab::WordVocab;

const CHECKPOINT_WEIGHTS: &str = "checkpoint.safetensors";
const CHECKPOINT_FILE: &str = "checkpoint.json";

#[derive(Args)]
pub struct LstmArgs {
    #[command(subcommand)]
    command: LstmCommand,
}

#[derive(Subcommand)]
enum LstmCommand {
    /// Train the language model on the `train` texts, checkpointing; resumes when run again.
    Pretrain(PretrainArgs),
}

#[derive(Args)]
struct PretrainArgs {
    /// The folder for the vocabulary, the checkpoints and the finished model.
    #[arg(long)]
    out: PathBuf,
    /// Vocabulary entries (the most frequent words of the training texts, <unk> and <eos> included).
    #[arg(long, default_value_t = 15_000)]
    vocab: usize,
    #[arg(long, default_value_t = AwdLstmConfig::new(0).embedding)]
    embedding: usize,
    #[arg(long, default_value_t = AwdLstmConfig::new(0).hidden)]
    hidden: usize,
    #[arg(long, default_value_t = AwdLstmConfig::new(0).layers)]
    layers: usize,
    /// Passes over the training texts (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    epochs: f64,
    /// Parallel streams per step.
    #[arg(long, default_value_t = LmTrainingConfig::new(0).batch)]
    batch: usize,
    /// Tokens per window of truncated backpropagation.
    #[arg(long, default_value_t = LmTrainingConfig::new(0).bptt)]
    bptt: usize,
    /// Negatives per step for the sampled softmax (0: the full softmax).
    #[arg(long, default_value_t = 2_048)]
    negatives: usize,
    #[arg(long, default_value_t = LmTrainingConfig::new(0).learning_rate)]
    learning_rate: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `train`-dev reviews for the perplexity.
    #[arg(long, default_value_t = 200)]
    heldout: usize,
    /// Read only the first this many training reviews (quick tries; default: all).
    #[arg(long)]
    texts: Option<usize>,
    /// Minutes between checkpoints.
    #[arg(long, default_value_t = 15.0)]
    checkpoint_minutes: f64,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
}

/// What a checkpoint (and the finished model's card) records.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Progress {
    model: AwdLstmConfig,
    training: LmTrainingConfig,
    step: usize,
    seconds: f64,
    /// `(step, perplexity on the held-out train-dev reviews)`.
    perplexities: Vec<(usize, f64)>,
}

pub fn run(args: LstmArgs, assets: &AssetDir) -> Result<()> {
    match args.command {
        LstmCommand::Pretrain(args) => pretrain(args, assets),
    }
}

fn pretrain(args: PretrainArgs, assets: &AssetDir) -> Result<()> {
    let device = open_device(args.backend)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let TrainParts { pool, train_dev, rest } = TrainParts::read(assets)?;
    let texts: Vec<&str> =
        pool.iter().chain(&rest).map(|r| r.text.as_str()).take(args.texts.unwrap_or(usize::MAX)).collect();
    let heldout: Vec<&str> = train_dev.iter().map(|r| r.text.as_str()).take(args.heldout).collect();

    let vocab = read_or_build_vocab(&args.out.join(LM_VOCAB_FILE), &texts, args.vocab)?;
    let stream: Vec<u32> = texts.iter().flat_map(|t| vocab.encode(t)).collect();
    let heldout_stream: Vec<u32> = heldout.iter().flat_map(|t| vocab.encode(t)).collect();
    let model_config = AwdLstmConfig::new(vocab.len())
        .with_embedding(args.embedding)
        .with_hidden(args.hidden)
        .with_layers(args.layers);
    let steps = ((args.epochs * stream.len() as f64) / (args.batch * args.bptt) as f64).ceil().max(1.0) as usize;
    let training = LmTrainingConfig::new(steps)
        .with_batch(args.batch)
        .with_bptt(args.bptt)
        .with_learning_rate(args.learning_rate)
        .with_negatives(args.negatives)
        .with_seed(args.seed);
    eprintln!(
        "{} training reviews, {} tokens ({} words in the vocabulary, {:.1}% of tokens <unk>); {} held-out reviews, {} tokens; {steps} steps",
        texts.len(),
        stream.len(),
        vocab.len(),
        100.0 * stream.iter().filter(|&&t| t == flicktune::word_vocab::UNK).count() as f64 / stream.len().max(1) as f64,
        heldout.len(),
        heldout_stream.len(),
    );

    device.seed(args.seed);
    let mut model = model_config.init(&device);
    let mut progress = Progress {
        model: model_config.clone(),
        training: training.clone(),
        step: 0,
        seconds: 0.0,
        perplexities: Vec::new(),
    };
    if let Some(saved) = read_checkpoint(&args.out)? {
        if saved.model != progress.model || saved.training != progress.training {
            bail!(
                "{} holds a run with other settings; use another --out, or delete its {CHECKPOINT_FILE} to start again",
                args.out.display()
            );
        }
        let weights = std::fs::read(args.out.join(CHECKPOINT_WEIGHTS))
            .with_context(|| format!("the checkpoint in {} has no weights file", args.out.display()))?;
        model = model.load_safetensors(&weights)?;
        eprintln!("resuming at step {} of {steps} ({:.0} s trained so far)", saved.step, saved.seconds);
        progress = saved;
    }
    let mut trainer = LmTrainer::new(model, &stream, training, &device).resume_at(progress.step);
    let steps_per_pass = trainer.steps_per_pass();

    let bar = ProgressBar::new(steps as u64).with_position(progress.step as u64).with_style(
        ProgressStyle::with_template("pretrain [{bar:30}] {pos}/{len} steps, loss {msg} ({elapsed}, eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let (seconds_before, first_step) = (progress.seconds, progress.step);
    let mut last_checkpoint = Instant::now();
    let every = Duration::from_secs_f64(args.checkpoint_minutes.max(0.1) * 60.0);
    let mut recent = Vec::new();
    while !trainer.is_done() {
        recent.push(pollster::block_on(read_loss(trainer.step()))?);
        bar.inc(1);
        let step = trainer.steps_done();
        if recent.len() == 100 || trainer.is_done() {
            let mean = recent.iter().sum::<f32>() / recent.len() as f32;
            let rate = (step - first_step) as f64 * trainer.tokens_per_step() as f64
                / started.elapsed().as_secs_f64().max(1e-9);
            bar.suspend(|| eprintln!("step {step:>7}: loss {mean:.3} ({rate:.0} tokens/s)"));
            bar.set_message(format!("{mean:.3}"));
            recent.clear();
        }
        let pass_done = step.is_multiple_of(steps_per_pass) || trainer.is_done();
        if pass_done && !heldout_stream.is_empty() {
            let value = perplexity(&trainer.model(), &heldout_stream, 8, args.bptt, &device);
            bar.suspend(|| eprintln!("step {step:>7}: perplexity {value:.1} on {} held-out reviews", heldout.len()));
            progress.perplexities.push((step, value));
        }
        if pass_done || last_checkpoint.elapsed() >= every {
            progress.step = step;
            progress.seconds = seconds_before + started.elapsed().as_secs_f64();
            write_checkpoint(&args.out, &trainer, &progress)?;
            last_checkpoint = Instant::now();
        }
    }
    bar.finish_and_clear();

    let weights = cast_safetensors(&trainer.finish().to_safetensors()?, safetensors::Dtype::F16)?;
    write_atomically(&args.out.join(LM_WEIGHTS_FILE), &weights)?;
    let card = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "weights": LM_WEIGHTS_FILE,
        "sha256": format!("{:x}", sha2::Sha256::digest(&weights)),
        "vocabulary": LM_VOCAB_FILE,
        "training_texts": texts.len(),
        "training_tokens": stream.len(),
        "progress": progress,
    });
    write_atomically(&args.out.join(LM_CARD_FILE), serde_json::to_string_pretty(&card)?.as_bytes())?;
    eprintln!(
        "pretrained in {:.0} s; perplexity {}; wrote {}",
        progress.seconds,
        progress.perplexities.last().map_or("not measured".into(), |(_, p)| format!("{p:.1}")),
        args.out.join(LM_WEIGHTS_FILE).display()
    );
    Ok(())
}

/// The vocabulary kept in `path`, or one built from `texts` and kept there (so a resumed
/// run reads the same ids).
fn read_or_build_vocab(path: &Path, texts: &[&str], size: usize) -> Result<WordVocab> {
    if path.exists() {
        let vocab: WordVocab = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("{} is not a vocabulary file; delete it to build it again", path.display()))?;
        if vocab.len() != size {
            bail!("{} holds {} words, not --vocab {size}; use another --out", path.display(), vocab.len());
        }
        return Ok(vocab);
    }
    let vocab = WordVocab::build(texts.iter().copied(), size);
    write_atomically(path, &serde_json::to_vec(&vocab)?)?;
    Ok(vocab)
}

fn read_checkpoint(out: &Path) -> Result<Option<Progress>> {
    let path = out.join(CHECKPOINT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let progress = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("{} is not a checkpoint; delete it to start again", path.display()))?;
    Ok(Some(progress))
}

/// The weights first, then the record naming their step: a run stopped between the two
/// resumes from the older record with newer weights, never from a half-written file.
fn write_checkpoint(out: &Path, trainer: &LmTrainer, progress: &Progress) -> Result<()> {
    write_atomically(&out.join(CHECKPOINT_WEIGHTS), &trainer.model().to_safetensors()?)?;
    write_atomically(&out.join(CHECKPOINT_FILE), serde_json::to_string_pretty(progress)?.as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
