//! The CLI's JSON Lines inputs: texts to embed or classify, and labelled reviews to
//! train on. Every line is checked before any work starts, and a bad line is named.

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// One text per non-blank line: a JSON string, or an object with a string `text`.
pub fn parse_texts(input: &str) -> Result<Vec<String>> {
    parse_lines(input, |n, value| match value {
        Value::String(text) => Ok(text),
        Value::Object(mut map) => text_field(n, &mut map),
        _ => bail!("line {n}: expected a JSON string or an object with a `text` field"),
    })
}

/// One labelled review per non-blank line: `{"text": "...", "label": 0 | 1}`, where
/// 1 is positive and 0 negative.
pub fn parse_labelled(input: &str) -> Result<Vec<(String, u8)>> {
    let reviews = parse_lines(input, |n, value| {
        let Value::Object(mut map) = value else {
            bail!("line {n}: expected an object {{\"text\": ..., \"label\": 0 or 1}}");
        };
        let label = match map.get("label") {
            Some(Value::Number(x)) if x.as_u64() == Some(0) => 0,
            Some(Value::Number(x)) if x.as_u64() == Some(1) => 1,
            Some(other) => bail!("line {n}: `label` must be 0 (negative) or 1 (positive), not {other}"),
            None => bail!("line {n}: the object has no `label` field (0 negative, 1 positive)"),
        };
        Ok((text_field(n, &mut map)?, label))
    })?;
    if reviews.is_empty() {
        bail!("no labelled reviews: the input is empty");
    }
    Ok(reviews)
}

fn text_field(n: usize, map: &mut Map<String, Value>) -> Result<String> {
    match map.remove("text") {
        Some(Value::String(text)) => Ok(text),
        Some(_) => bail!("line {n}: `text` must be a string"),
        None => bail!("line {n}: the object has no `text` field"),
    }
}

/// Parses each non-blank line as JSON and hands it, with its 1-based number, to `read`.
fn parse_lines<T>(input: &str, mut read: impl FnMut(usize, Value) -> Result<T>) -> Result<Vec<T>> {
    let mut items = Vec::new();
    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("line {}: not valid JSON ({e})", i + 1))?;
        items.push(read(i + 1, value)?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_accept_strings_and_objects_and_skip_blank_lines() {
        let texts = parse_texts("\"a\"\n\n{\"text\": \"b\", \"label\": 1}\n").unwrap();
        assert_eq!(texts, ["a", "b"]);
    }

    #[test]
    fn texts_name_the_bad_line() {
        for bad in ["\"ok\"\n{broken", "\"ok\"\n42", "\"ok\"\n{\"txt\": \"x\"}", "\"ok\"\n{\"text\": 3}"] {
            let err = parse_texts(bad).unwrap_err().to_string();
            assert!(err.starts_with("line 2:"), "{bad:?} gave {err}");
        }
    }

    #[test]
    fn labelled_reviews_parse_and_bad_ones_name_the_line() {
        let ok = parse_labelled("{\"text\": \"great\", \"label\": 1}\n\n{\"label\": 0, \"text\": \"dull\"}\n").unwrap();
        assert_eq!(ok, [("great".to_string(), 1), ("dull".to_string(), 0)]);
        let good = "{\"text\": \"fine\", \"label\": 1}\n";
        for (bad, says) in [
            ("{\"text\": \"x\", \"label\": 2}", "must be 0 (negative) or 1 (positive)"),
            ("{\"text\": \"x\", \"label\": \"pos\"}", "must be 0"),
            ("{\"text\": \"x\", \"label\": 0.5}", "must be 0"),
            ("{\"text\": \"x\"}", "no `label`"),
            ("{\"label\": 1}", "no `text`"),
            ("\"just text\"", "expected an object"),
            ("{\"text\": \"x\", \"label\": 1", "not valid JSON"),
        ] {
            let err = parse_labelled(&format!("{good}{bad}\n")).unwrap_err().to_string();
            assert!(err.starts_with("line 2:") && err.contains(says), "{bad:?} gave {err}");
        }
        assert!(parse_labelled("\n  \n").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn any_input_parses_or_names_a_line_that_exists() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngSeed};
        let line = prop_oneof![
            Just(r#"{"text": "A fine film.", "label": 1}"#.to_string()),
            Just(r#""just a text""#.to_string()),
            Just(r#"{"text": 3, "label": 1}"#.to_string()),
            Just(r#"{"text": "x", "label": 1.0}"#.to_string()),
            Just("[[[[[[[[[[".to_string()),
            Just(String::new()),
            ".{0,30}",
        ];
        let config =
            Config { cases: 300, rng_seed: RngSeed::Fixed(20261201), failure_persistence: None, ..Config::default() };
        proptest!(config, |(lines in prop::collection::vec(line, 0..10))| {
            let input = lines.join("\n");
            for result in [parse_texts(&input).map(|t| t.len()), parse_labelled(&input).map(|r| r.len())] {
                match result {
                    Ok(n) => prop_assert!(n <= lines.len()),
                    Err(e) => {
                        let message = e.to_string();
                        let named = message.strip_prefix("line ").and_then(|m| m.split(':').next()?.parse::<usize>().ok());
                        prop_assert!(
                            named.is_some_and(|n| n >= 1 && n <= lines.len()) || message.starts_with("no labelled reviews"),
                            "{message}"
                        );
                    }
                }
            }
        });
    }
}
