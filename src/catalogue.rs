//! The movie catalogue the page browses: movies with a plot and critics' review snippets
//! (Rotten Tomatoes, fresh or rotten), with the default encoder's features of every
//! review and of every sentence of the longer ones, as `flicktune fetch` writes it.
//!
//! The critics' fresh/rotten verdicts are only shown and scored against: the catalogue is
//! never trained on, nor used to choose a setting. Features travel as int8 rows with one
//! scale each (a quarter of f32's bytes; cosine to the f32 vector above 0.999), and the
//! whole file is checked before the page uses any of it.

use std::ops::Range;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "flicktune-catalogue";
pub const VERSION: u32 = 1;
/// Larger files are refused before parsing (the one `fetch` writes is about 3.5 MB).
pub const MAX_FILE_BYTES: usize = 32_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    pub format: String,
    pub version: u32,
    /// Where the reviews came from (package, version, member) and how they were cleaned.
    pub source: String,
    /// The encoder (Hugging Face name), the sha256 of the weights file, and the pooling
    /// the features were computed with: the page uses them only if all three are its own.
    pub encoder: String,
    pub weights_sha256: String,
    pub pooling: String,
    pub movies: Vec<Movie>,
    pub features: QuantizedRows,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// The dataset's name for it, used in the page's URL (`/movies/<slug>`).
    pub slug: String,
    pub title: String,
    pub plot: String,
    pub reviews: Vec<CriticReview>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticReview {
    pub text: String,
    /// The critic's verdict: fresh (positive) or rotten (negative).
    pub fresh: bool,
    /// Its features' row.
    pub row: usize,
    /// Its sentences: byte ranges covering the text, each with its features' row (a
    /// one-sentence review's is its own row).
    pub sentences: Vec<Sentence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    pub start: usize,
    pub end: usize,
    pub row: usize,
}

/// Vectors as int8 with one scale per row (`value = q × scale`), base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedRows {
    pub dim: usize,
    pub scales: Vec<f32>,
    pub values: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogueError {
    #[error("the catalogue is {0} bytes; at most {MAX_FILE_BYTES} are read")]
    TooLarge(usize),
    #[error("not a Flicktune catalogue: {0}")]
    Malformed(String),
    #[error("the catalogue's features are unusable: {0}")]
    BadFeatures(String),
    #[error("movie {movie}, review {review}: {reason}")]
    BadReview { movie: String, review: usize, reason: String },
}

impl QuantizedRows {
    /// Each row as int8 against its largest magnitude.
    pub fn quantize<V: AsRef<[f32]>>(rows: &[V], dim: usize) -> Self {
        let mut scales = Vec::with_capacity(rows.len());
        let mut bytes = Vec::with_capacity(rows.len() * dim);
        for row in rows {
            let row = row.as_ref();
            let largest = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
            scales.push(scale);
            bytes.extend(row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8));
        }
        QuantizedRows { dim, scales, values: base64::engine::general_purpose::STANDARD.encode(bytes) }
    }

    /// Every row back as f32, after checking the shape and that every scale is finite.
    pub fn dequantize(&self) -> Result<Vec<Vec<f32>>, CatalogueError> {
        let bad = |reason: String| CatalogueError::BadFeatures(reason);
        if self.dim == 0 || self.dim > 4096 {
            return Err(bad(format!("a width of {} values", self.dim)));
        }
        // The decoded length is known before decoding: refuse a mismatch without allocating it.
        let expected = self.scales.len().checked_mul(self.dim).ok_or_else(|| bad("too many rows".into()))?;
        // Padded base64 of `expected` bytes has exactly this length: a mismatch is refused
        // before anything is decoded.
        if self.values.len() != expected.div_ceil(3) * 4 {
            return Err(bad(format!(
                "{} rows of {} values do not fit {} base64 characters",
                self.scales.len(),
                self.dim,
                self.values.len()
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.values).map_err(|e| bad(e.to_string()))?;
        if bytes.len() != expected {
            return Err(bad(format!(
                "{} values where {} rows of {} need {expected}",
                bytes.len(),
                self.scales.len(),
                self.dim
            )));
        }
        if let Some(i) = self.scales.iter().position(|s| !s.is_finite() || *s <= 0.0) {
            return Err(bad(format!("row {i} has the scale {}", self.scales[i])));
        }
        Ok(bytes
            .chunks(self.dim)
            .zip(&self.scales)
            .map(|(row, scale)| row.iter().map(|&q| f32::from(q as i8) * scale).collect())
            .collect())
    }
}

impl CriticReview {
    /// The byte ranges of its sentences.
    pub fn sentence_ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.sentences.iter().map(|s| s.start..s.end)
    }
}

impl Catalogue {
    /// Parses and checks a catalogue: format, version, every review's rows and sentence
    /// ranges, and the features' shape. Returns it with its features as f32 rows.
    pub fn from_json(bytes: &[u8]) -> Result<(Self, Vec<Vec<f32>>), CatalogueError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(CatalogueError::TooLarge(bytes.len()));
        }
        let catalogue: Catalogue =
            serde_json::from_slice(bytes).map_err(|e| CatalogueError::Malformed(e.to_string()))?;
        if catalogue.format != FORMAT || catalogue.version != VERSION {
            return Err(CatalogueError::Malformed(format!(
                "it says {} version {}; this page reads {FORMAT} version {VERSION}",
                catalogue.format, catalogue.version
            )));
        }
        let rows = catalogue.features.dequantize()?;
        catalogue.check(rows.len())?;
        Ok((catalogue, rows))
    }

    fn check(&self, rows: usize) -> Result<(), CatalogueError> {
        for movie in &self.movies {
            for (i, review) in movie.reviews.iter().enumerate() {
                let bad = |reason: String| CatalogueError::BadReview { movie: movie.slug.clone(), review: i, reason };
                if review.row >= rows {
                    return Err(bad(format!("row {} of {rows}", review.row)));
                }
                if review.sentences.is_empty() {
                    return Err(bad("no sentences".into()));
                }
                let mut at = 0;
                for s in &review.sentences {
                    let fits = s.start == at && s.end > s.start && s.end <= review.text.len();
                    if !fits || !review.text.is_char_boundary(s.end) {
                        return Err(bad(format!("sentence {}..{} does not continue at byte {at}", s.start, s.end)));
                    }
                    if s.row >= rows {
                        return Err(bad(format!("sentence row {} of {rows}", s.row)));
                    }
                    at = s.end;
                }
                if at != review.text.len() {
                    return Err(bad(format!("sentences end at byte {at} of {}", review.text.len())));
                }
            }
        }
        Ok(())
    }

    /// Every review with its movie, in catalogue order (the index the page scores by).
    pub fn reviews(&self) -> impl Iterator<Item = (&Movie, &CriticReview)> {
        self.movies.iter().flat_map(|m| m.reviews.iter().map(move |r| (m, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(rows: &[Vec<f32>]) -> Catalogue {
        let text = "Great fun. Too long.".to_string();
        Catalogue {
            format: FORMAT.into(),
            version: VERSION,
            source: "test".into(),
            encoder: "e".into(),
            weights_sha256: "0".into(),
            pooling: "first".into(),
            movies: vec![Movie {
                slug: "a_film".into(),
                title: "A Film".into(),
                plot: "Things happen.".into(),
                reviews: vec![CriticReview {
                    text,
                    fresh: true,
                    row: 0,
                    sentences: vec![Sentence { start: 0, end: 11, row: 1 }, Sentence { start: 11, end: 20, row: 2 }],
                }],
            }],
            features: QuantizedRows::quantize(rows, 3),
        }
    }

    fn rows() -> Vec<Vec<f32>> {
        vec![vec![0.5, -0.25, 0.1], vec![0.0, 0.0, 0.0], vec![-1e-3, 2e-3, 4e-3]]
    }

    #[test]
    fn quantised_rows_come_back_close() {
        let back = QuantizedRows::quantize(&rows(), 3).dequantize().unwrap();
        for (a, b) in rows().iter().zip(&back) {
            let largest = a.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= largest / 254.0 + 1e-9, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn a_written_catalogue_reads_back() {
        let json = serde_json::to_vec(&tiny(&rows())).unwrap();
        let (catalogue, features) = Catalogue::from_json(&json).unwrap();
        assert_eq!(features.len(), 3);
        assert_eq!(catalogue.reviews().count(), 1);
    }

    #[test]
    fn bad_catalogues_are_refused_with_a_reason() {
        let mut c = tiny(&rows());
        c.movies[0].reviews[0].row = 3;
        assert!(matches!(
            Catalogue::from_json(&serde_json::to_vec(&c).unwrap()),
            Err(CatalogueError::BadReview { .. })
        ));

        let mut c = tiny(&rows());
        c.movies[0].reviews[0].sentences[1].start = 12;
        assert!(matches!(
            Catalogue::from_json(&serde_json::to_vec(&c).unwrap()),
            Err(CatalogueError::BadReview { .. })
        ));

        let mut c = tiny(&rows());
        c.movies[0].reviews[0].sentences[1].end = 19;
        assert!(matches!(
            Catalogue::from_json(&serde_json::to_vec(&c).unwrap()),
            Err(CatalogueError::BadReview { .. })
        ));

        let mut c = tiny(&rows());
        c.features.scales.push(1.0);
        assert!(matches!(Catalogue::from_json(&serde_json::to_vec(&c).unwrap()), Err(CatalogueError::BadFeatures(_))));

        let mut c = tiny(&rows());
        c.features.scales[0] = f32::NAN;
        let json = serde_json::to_vec(&c).unwrap();
        assert!(Catalogue::from_json(&json).is_err());

        let mut c = tiny(&rows());
        c.version = 2;
        assert!(matches!(Catalogue::from_json(&serde_json::to_vec(&c).unwrap()), Err(CatalogueError::Malformed(_))));

        assert!(matches!(Catalogue::from_json(b"{"), Err(CatalogueError::Malformed(_))));
    }
}
