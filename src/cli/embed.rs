//! `flicktune embed`: JSON Lines texts in, JSON Lines embeddings out.

use std::io::{BufWriter, Read, Write};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use flicktune::features::Embedder;

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

/// One text per non-blank line: a JSON string, or an object with a string `text`.
pub fn parse_texts(input: &str) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("line {n}: not valid JSON (expected a string or {{\"text\": ...}})"))?;
        match value {
            Value::String(text) => texts.push(text),
            Value::Object(mut map) => match map.remove("text") {
                Some(Value::String(text)) => texts.push(text),
                Some(_) => bail!("line {n}: `text` must be a string"),
                None => bail!("line {n}: the object has no `text` field"),
            },
            _ => bail!("line {n}: expected a JSON string or an object with a `text` field"),
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_strings_and_objects_and_skips_blank_lines() {
        let texts = parse_texts("\"a\"\n\n{\"text\": \"b\", \"label\": 1}\n").unwrap();
        assert_eq!(texts, ["a", "b"]);
    }

    #[test]
    fn names_the_bad_line() {
        for bad in ["\"ok\"\n{broken", "\"ok\"\n42", "\"ok\"\n{\"txt\": \"x\"}", "\"ok\"\n{\"text\": 3}"] {
            let err = parse_texts(bad).unwrap_err().to_string();
            assert!(err.starts_with("line 2:"), "{bad:?} gave {err}");
        }
    }
}
