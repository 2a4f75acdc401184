//! `flicktune demo`: the encoder at work without the page. Fetches what is missing, then
//! embeds a few reviews and shows which are alike.

use std::time::Instant;

use anyhow::Result;

use flicktune::assets::AssetDir;

use super::EncoderArgs;

const SENTENCES: [&str; 4] = [
    "A wonderful film: moving, funny and beautifully acted.",
    "I loved every minute of it, a true delight.",
    "A boring, clumsy mess. I want my two hours back.",
    "The worst movie I have seen in years.",
];

pub fn run(assets: &AssetDir, args: &EncoderArgs) -> Result<()> {
    assets.prepare()?;
    let embedder = args.embedder(assets)?;
    let start = Instant::now();
    let embeddings = embedder.embed(&SENTENCES)?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{} on {}: cosine similarity of sentence embeddings\n", args.model.full_name(), args.backend.name());
    for (i, a) in embeddings.iter().enumerate() {
        let row: Vec<String> = embeddings
            .iter()
            .map(|b| format!("{:5.2}", a.vector.iter().zip(&b.vector).map(|(x, y)| x * y).sum::<f32>()))
            .collect();
        println!("{}  {}", row.join(" "), SENTENCES[i]);
    }
    let tokens: usize = embeddings.iter().map(|e| e.tokens).sum();
    println!("\n{tokens} tokens in {:.0} ms", seconds * 1e3);
    Ok(())
}
