//! `flicktune embed`: JSON Lines texts in, JSON Lines embeddings out.

use std::io::{BufWriter, Read, Write};

use anyhow::{Context, Result};

use flicktune::features::Embedder;

use super::jsonl::parse_texts;

/// Texts per encoder call; output is written after each group.
const GROUP: usize = 64;

pub fn run(embedder: &Embedder) -> Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("stdin is not UTF-8 text")?;
    // Every line is checked before any work, so a bad line costs nothing and prints nothing.
    let texts = parse_texts(&input)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for group in texts.chunks(GROUP) {
        for e in embedder.embed(group)? {
            serde_json::to_writer(&mut out, &serde_json::json!({ "embedding": e.vector, "tokens": e.tokens }))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(())
}
