//! `flicktune-bench speed`: Flicktune's own throughput in tokens per second, for each
//! encoder, pooling and backend, tokenisation included. Every model in one run reads the
//! same texts, so their ratios compare; against a peer engine, see `engine`.

use std::time::Instant;

use anyhow::{Result, ensure};
use clap::Args;

use flicktune::assets::{AssetDir, read_reviews};
use flicktune::backend::BackendKind;
use flicktune::encoders::ModelName;
use flicktune::features::Pooling;

#[derive(Args)]
pub struct SpeedArgs {
    /// Encoders to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "l3,l6")]
    models: Vec<ModelName>,
    /// How many reviews (the first of the test split).
    #[arg(long, default_value_t = 200)]
    texts: usize,
    /// CPU threads for the CPU backend.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// How long texts are read (default: each encoder's own, as its engine reads them).
    #[arg(long)]
    pooling: Option<Pooling>,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Windows per encoder batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

pub fn run(args: SpeedArgs, assets: &AssetDir) -> Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global()?;
    let reviews = read_reviews(&assets.imdb_split("test"))?;
    let texts: Vec<&str> = reviews.iter().take(args.texts).map(|r| r.text.as_str()).collect();
    ensure!(!texts.is_empty(), "no texts to measure");
    println!(
        "{} reviews, pooling {}, batch {}, backend {}, {} thread(s); includes tokenisation\n",
        texts.len(),
        args.pooling.map_or("each encoder's own", Pooling::name),
        args.batch,
        args.backend.name(),
        args.threads
    );
    println!("{}", super::engine::machine_line());
    println!("| model | tokens | seconds | tokens/s |");
    println!("|---|---|---|---|");
    for model in args.models {
        let embedder = assets.embedder(model, args.pooling, args.backend, args.batch)?;
        embedder.embed(&texts[..texts.len().min(embedder.batch_size)])?; // warm-up
        let start = Instant::now();
        let embeddings = embedder.embed(&texts)?;
        let seconds = start.elapsed().as_secs_f64();
        let tokens: usize = embeddings.iter().map(|e| e.tokens).sum();
        let rate = tokens as f64 / seconds;
        println!("| {} | {tokens} | {seconds:.2} | {rate:.0} |", model.full_name());
    }
    Ok(())
}
