//! `flicktune bench`: benchmarks, not tests. Their numbers depend on the machine and its
//! load, so they are printed as tables for the README, never asserted.

mod curve;
mod finetune;
mod labels;
mod report;
mod speed;
mod store;

use anyhow::Result;
use clap::Subcommand;

use flicktune::assets::AssetDir;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// The learning curve: accuracy on the test split against the number of labels, for
    /// every method (baselines, frozen encoders, ours), with FF11's points beside ours.
    Curve(curve::CurveArgs),
    /// Tokens/s of each encoder over the first test reviews (the split's texts only, no labels).
    Speed(speed::SpeedArgs),
    /// Accuracy after N labels of the page's sample, chosen by the page's suggestion or at random.
    Labels(labels::LabelsArgs),
    /// Frozen features vs fine-tuning the encoder's top layers, on random labelled draws.
    FineTune(finetune::FineTuneArgs),
}

pub fn run(command: BenchCommand, assets: &AssetDir) -> Result<()> {
    match command {
        BenchCommand::Curve(args) => curve::run(args, assets),
        BenchCommand::Speed(args) => speed::run(args, assets),
        BenchCommand::Labels(args) => labels::run(args, assets),
        BenchCommand::FineTune(args) => finetune::run(args, assets),
    }
}
