//! The IMDB reviews: cleaned, de-duplicated and split once, deterministically.
//!
//! The `test` split (2,000 reviews, 1,000 per class) is the held-out yardstick: it is
//! never used for training, tuning or unsupervised adaptation. Everything else is `train`.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::{AssetError, Result};

/// The seed of the train/test split. Changing it changes every published number.
pub const SPLIT_SEED: u64 = 20_191_001;
/// Reviews per class in the test split.
pub const TEST_PER_CLASS: usize = 1_000;

/// One labelled review: label 1 is positive, 0 negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub text: String,
    pub label: u8,
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    text: String,
    label: String,
    source: String,
}

/// The IMDB rows of the package's CSV, `<br />` turned into spaces, exact duplicates
/// (same cleaned text) kept once, in file order.
pub fn imdb_reviews(csv_bytes: &[u8]) -> Result<Vec<Review>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv_bytes);
    let mut seen = HashSet::new();
    let mut reviews = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| AssetError::CsvRow { row: i + 2, problem: format!("malformed ({e})") })?;
        if row.source != "imdb" {
            continue;
        }
        let label = match row.label.trim() {
            "0" | "0.0" => 0,
            "1" | "1.0" => 1,
            other => {
                return Err(AssetError::CsvRow { row: i + 2, problem: format!("label `{other}` is neither 0 nor 1") });
            }
        };
        let text = row.text.replace("<br />", " ");
        if seen.insert(text.clone()) {
            reviews.push(Review { text, label });
        }
    }
    Ok(reviews)
}

/// Splits reviews into `(train, test)`: a seeded shuffle of each class, the first
/// `TEST_PER_CLASS` of each going to test. Both splits are then shuffled (seeded) so
/// classes are interleaved.
pub fn split(reviews: Vec<Review>) -> Result<(Vec<Review>, Vec<Review>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(SPLIT_SEED);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for label in [0u8, 1] {
        let mut class: Vec<Review> = reviews.iter().filter(|r| r.label == label).cloned().collect();
        if class.len() <= TEST_PER_CLASS {
            return Err(AssetError::TooFewReviews(format!(
                "only {} reviews with label {label}, too few for the test split",
                class.len()
            )));
        }
        class.shuffle(&mut rng);
        train.extend(class.split_off(TEST_PER_CLASS));
        test.extend(class);
    }
    train.shuffle(&mut rng);
    test.shuffle(&mut rng);
    Ok((train, test))
}

/// Reviews as JSON Lines, one `{"text", "label"}` object per line.
pub fn to_jsonl(reviews: &[Review]) -> String {
    let mut out = String::new();
    for r in reviews {
        out.push_str(&serde_json::to_string(r).expect("a review serialises"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["text", "label", "source"]).unwrap();
        for r in rows {
            w.write_record([r.0, r.1, r.2]).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn cleans_dedupes_and_keeps_only_imdb() {
        let bytes = csv(&[
            ("Good.<br /><br />Fun", "1", "imdb"),
            ("Good.  Fun", "1", "imdb"),
            ("short snippet", "0", "rotten_tomatoes"),
            ("Bad, \"quoted\"\nmultiline", "0", "imdb"),
        ]);
        let reviews = imdb_reviews(&bytes).unwrap();
        assert_eq!(
            reviews,
            vec![
                Review { text: "Good.  Fun".into(), label: 1 },
                Review { text: "Bad, \"quoted\"\nmultiline".into(), label: 0 },
            ]
        );
    }

    #[test]
    fn rejects_unknown_labels() {
        let err = imdb_reviews(&csv(&[("x", "maybe", "imdb")])).unwrap_err();
        assert!(err.to_string().contains("row 2"), "{err}");
    }

    #[test]
    fn split_is_balanced_disjoint_and_deterministic() {
        let reviews: Vec<Review> =
            (0..2_600).map(|i| Review { text: format!("review {i}"), label: (i % 2) as u8 }).collect();
        let (train, test) = split(reviews.clone()).unwrap();
        assert_eq!(test.len(), 2 * TEST_PER_CLASS);
        assert_eq!(test.iter().filter(|r| r.label == 1).count(), TEST_PER_CLASS);
        assert_eq!(train.len(), 600);
        let test_texts: HashSet<&str> = test.iter().map(|r| r.text.as_str()).collect();
        assert!(train.iter().all(|r| !test_texts.contains(r.text.as_str())));
        assert_eq!(split(reviews).unwrap(), (train, test));
    }
}
