//! Text → sentences, for the per-sentence sentiment highlights.
//!
//! Sentence boundaries are Unicode's (UAX #29, via `unicode-segmentation`); the pieces
//! cover the whole text, so highlighted sentences put back together give the original.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Highlights are computed for at most this many sentences (each is one encoder pass).
pub const MAX_SENTENCES: usize = 60;

/// Byte ranges of the text's sentences, in order, covering it entirely (trailing
/// whitespace stays with its sentence). At most `limit` ranges; the last one then
/// holds the rest of the text.
pub fn sentence_ranges(text: &str, limit: usize) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (start, piece) in text.split_sentence_bound_indices() {
        let end = start + piece.len();
        let full = ranges.len() >= limit.max(1);
        match ranges.last_mut() {
            // Whitespace-only pieces, and anything past the limit, join the previous sentence.
            Some(last) if piece.trim().is_empty() || full => last.end = end,
            _ => ranges.push(start..end),
        }
    }
    ranges
}

/// Whether a sentence has something to score (not only whitespace and punctuation).
pub fn has_words(sentence: &str) -> bool {
    sentence.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_sentences_that_cover_the_text() {
        let text = "Loved it!  The cast was great. But the ending? Awful...\n\nStill, 8/10.";
        let ranges = sentence_ranges(text, MAX_SENTENCES);
        let pieces: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(pieces, ["Loved it!  ", "The cast was great. ", "But the ending? ", "Awful...\n\n", "Still, 8/10."]);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn caps_the_number_of_sentences_without_losing_text() {
        let text = "One. Two. Three. Four.";
        let ranges = sentence_ranges(text, 2);
        assert_eq!(ranges.len(), 2);
        assert_eq!(&text[ranges[1].clone()], "Two. Three. Four.");
        assert!(sentence_ranges("", 5).is_empty());
        assert_eq!(sentence_ranges("   ", 5), vec![0..3]);
    }

    #[test]
    fn knows_what_is_worth_scoring() {
        assert!(has_words("Fine."));
        assert!(!has_words(" ... !"));
    }
}
