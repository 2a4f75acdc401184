//! `flicktune-bench`: benchmarks, not tests, in their own binary so the product does not
//! carry them. Their numbers depend on the machine and its load, so they are printed as
//! tables for the README and `docs/`, never asserted.

mod bert_onnx;
mod curve;
mod engine;
mod finetune;
mod labels;
mod report;
mod speed;
mod store;

use anyhow::Result;
use clap::{Parser, Subcommand};

use flicktune::assets::AssetDir;

#[derive(Parser)]
#[command(
    name = "flicktune-bench",
    version,
    about = "Flicktune's benchmarks: learning curve, labelling, fine-tuning, speed"
)]
struct Cli {
    /// Folder of fetched models and data (default: $FLICKTUNE_ASSETS, else ./assets).
    #[arg(long, global = true)]
    assets: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The learning curve: accuracy on the test split against the number of labels, for
    /// every method (baselines, frozen encoders, ours), with FF11's points beside ours.
    Curve(curve::CurveArgs),
    /// Tokens/s of each encoder over the first test reviews (the split's texts only, no labels).
    Speed(speed::SpeedArgs),
    /// Flicktune's encoder against onnxruntime on the same token batches, 1 and 2 threads.
    Engine(engine::EngineArgs),
    /// Accuracy after N labels of the page's sample, chosen by the page's suggestion or at random.
    Labels(labels::LabelsArgs),
    /// Frozen features vs fine-tuning the encoder's top layers, on random labelled draws.
    FineTune(finetune::FineTuneArgs),
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let assets = &cli.assets.map_or_else(AssetDir::from_env, AssetDir::new);
    match cli.command {
        BenchCommand::Curve(args) => curve::run(args, assets),
        BenchCommand::Speed(args) => speed::run(args, assets),
        BenchCommand::Engine(args) => engine::run(args, assets),
        BenchCommand::Labels(args) => labels::run(args, assets),
        BenchCommand::FineTune(args) => finetune::run(args, assets),
    }
}

/// mimalloc, unless built with the `system-allocator` feature (to compare the two).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
