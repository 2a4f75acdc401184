//! `flicktune embed`: JSON Lines texts in, JSON Lines embeddings out; and the stdin-to-
//! stdout loop `flicktune predict` shares.

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use flicktune::features::{Embedder, Embedding};

use super::jsonl::parse_texts;

/// Texts per encoder call; output is written after each group.
const GROUP: usize = 64;

pub fn run(embedder: &Embedder) -> Result<()> {
    let texts = read_stdin_texts()?;
    let done = write_embedded(embedder, &texts, |_, e| Ok(json!({ "embedding": e.vector, "tokens": e.tokens })))?;
    eprintln!("embedded {done}");
    Ok(())
}

/// The texts on stdin, one per line. Every line is checked before any work, so a bad
/// line costs nothing and prints nothing.
pub fn read_stdin_texts() -> Result<Vec<String>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("stdin is not UTF-8 text")?;
    parse_texts(&input)
}

/// Embeds `texts` in groups and writes `line(text, embedding)` for each to stdout, in
/// order, flushing after each group so output streams. Returns how fast it went.
pub fn write_embedded(
    embedder: &Embedder,
    texts: &[String],
    line: impl Fn(&str, Embedding) -> Result<Value>,
) -> Result<Throughput> {
    let started = Instant::now();
    let mut tokens = 0;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for group in texts.chunks(GROUP) {
        for (text, embedding) in group.iter().zip(embedder.embed(group)?) {
            tokens += embedding.tokens;
            serde_json::to_writer(&mut out, &line(text, embedding)?)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(Throughput { texts: texts.len(), tokens: Some(tokens), seconds: started.elapsed().as_secs_f64() })
}

/// What a run over stdin's texts did, for stderr: texts (and the encoder's tokens, special
/// tokens included) per second, tokenisation and output included.
pub struct Throughput {
    pub texts: usize,
    pub tokens: Option<usize>,
    pub seconds: f64,
}

impl std::fmt::Display for Throughput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.seconds.max(1e-9);
        write!(f, "{} texts in {:.1} s: {:.1} texts/s", self.texts, self.seconds, self.texts as f64 / seconds)?;
        if let Some(tokens) = self.tokens {
            write!(f, ", {:.0} tokens/s ({tokens} tokens)", tokens as f64 / seconds)?;
        }
        Ok(())
    }
}
