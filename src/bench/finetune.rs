//! `flicktune-bench fine-tune`: does fine-tuning the encoder's top layers (ULMFiT's
//! recipe, `src/finetune.rs`) beat the frozen features the page trains on? Random
//! labelled draws from the page's sample; for each, the page's classifier on frozen
//! features, then the same classifier fine-tuned with the top layers, both scored on the
//! same reviews (the fine-tuned encoder re-reads them).

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Args;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use flicktune::classifier::FeatureScaling;
use flicktune::encoders::ModelName;
use flicktune::features::Embedder;
use flicktune::finetune::{FineTuneConfig, FineTuner, TokenExample};
use flicktune::training::{FeatureSource, read_loss, run_to_end};

use crate::labels::{EvalSet, Labelled, accuracy, mean_sd, page_embedder, pool_and_eval, train};
use flicktune::assets::AssetDir;

#[derive(Args)]
pub struct FineTuneArgs {
    /// Encoder to fine-tune (l3: the one `docs/labelling.md` measured with).
    #[arg(long, default_value = "l3")]
    model: ModelName,
    #[arg(long, value_enum, default_value = "train-dev")]
    eval: EvalSet,
    #[arg(long, default_value_t = 200)]
    dev_size: usize,
    #[arg(long, value_delimiter = ',', default_value = "20,100")]
    sizes: Vec<usize>,
    #[arg(long, default_value_t = 3)]
    draws: u64,
    /// Layers unfrozen from the top (one more per epoch).
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f64,
    #[arg(long, default_value_t = 1e-3)]
    head_learning_rate: f64,
    /// After tuning, re-read the whole sample with the tuned encoder and train the head
    /// again on those features (the view it is scored on), as the page would.
    #[arg(long)]
    refit_head: bool,
}

pub fn run(args: FineTuneArgs, assets: &AssetDir) -> Result<()> {
    let (pool, eval) = pool_and_eval(assets, args.model, args.eval, args.dev_size)?;
    ensure!(args.sizes.iter().all(|&n| n <= pool.labels.len()), "the sample has only {} reviews", pool.labels.len());
    let embedder = page_embedder(assets, args.model)?;
    let scaling = FeatureScaling::fit(&pool.features);
    let source = FeatureSource { encoder: args.model, pooling: embedder.pooling };
    let config = FineTuneConfig::new()
        .with_layers(args.layers)
        .with_epochs(args.epochs)
        .with_learning_rate(args.learning_rate)
        .with_head_learning_rate(args.head_learning_rate);
    println!("{}: accuracy (%) on {} reviews; {config:?}\n", args.model.full_name(), eval.labels.len());
    println!("| labels | draw | frozen features | fine-tuned | fine-tuning s | last loss |");
    println!("|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for &n in &args.sizes {
        let (mut frozen, mut tuned) = (Vec::new(), Vec::new());
        for seed in 0..args.draws {
            let mut order: Vec<usize> = (0..pool.labels.len()).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let Some(classifier) = train(&order[..n], &pool, &scaling, source)? else { continue };
            let before = accuracy(&classifier, &eval);
            let started = Instant::now();
            let (after, loss) = fine_tune_and_score(
                &embedder,
                &pool,
                &eval,
                &order[..n],
                &classifier,
                config.clone(),
                args.refit_head,
            )?;
            let seconds = started.elapsed().as_secs_f64();
            println!("| {n} | {seed} | {:.1} | {:.1} | {seconds:.0} | {loss:.3} |", 100.0 * before, 100.0 * after);
            frozen.push(before);
            tuned.push(after);
        }
        summary.push((n, mean_sd(&frozen), mean_sd(&tuned)));
    }
    println!("\n| labels | frozen (mean ± sd) | fine-tuned (mean ± sd) |");
    println!("|---|---|---|");
    for (n, (fm, fs), (tm, ts)) in summary {
        println!("| {n} | {:.1} ± {:.1} | {:.1} ± {:.1} |", 100.0 * fm, 100.0 * fs, 100.0 * tm, 100.0 * ts);
    }
    Ok(())
}

/// Fine-tunes on the labelled reviews, re-embeds `eval` with the tuned encoder, scores it.
fn fine_tune_and_score(
    embedder: &Embedder,
    pool: &Labelled,
    eval: &Labelled,
    labelled: &[usize],
    classifier: &flicktune::classifier::Classifier,
    config: FineTuneConfig,
    refit_head: bool,
) -> Result<(f32, f32)> {
    let examples = labelled
        .iter()
        .map(|&i| TokenExample::new(&embedder.tokenizer, &pool.texts[i], pool.labels[i], config.max_tokens))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tuner =
        FineTuner::new(&embedder.model, classifier, &examples, embedder.tokenizer.pad_id(), config, &embedder.device)?;
    let loss = run_to_end(&mut tuner).context("fine-tuning has no steps: no labelled reviews")?;
    let loss = pollster::block_on(read_loss(loss))?;
    let (encoder, classifier) = pollster::block_on(tuner.finish())?;
    let tuned = Embedder {
        model: encoder,
        tokenizer: embedder.tokenizer.clone(),
        device: embedder.device.clone(),
        ..*embedder
    };
    let reread = |set: &Labelled| -> Result<Labelled> {
        let features = tuned.embed(&set.texts)?.into_iter().map(|e| e.vector).collect();
        Ok(Labelled { texts: Vec::new(), views: set.views.clone(), features, labels: set.labels.clone() })
    };
    let classifier = if refit_head {
        let pool = reread(pool)?;
        let source = FeatureSource { encoder: classifier.encoder, pooling: classifier.pooling };
        train(labelled, &pool, &FeatureScaling::fit(&pool.features), source)?.unwrap_or(classifier)
    } else {
        classifier
    };
    Ok((accuracy(&classifier, &reread(eval)?), loss))
}
