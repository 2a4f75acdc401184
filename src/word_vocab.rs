//! Text → word ids for the LSTM language model ([`crate::encoders::awd_lstm`]): lower-cased words
//! and punctuation marks, the most frequent ones in the training texts each an id of its
//! own and every other `<unk>`; a review ends with `<eos>`, so the model reads reviews as
//! one stream and learns where one ends. A word vocabulary rather than an encoder's word
//! pieces: the AWD-LSTM and ULMFiT were built on words, and 15k words cover review text
//! with a smaller decoder (most of a small model's work) than a 30k-piece vocabulary.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Unknown words.
pub const UNK: u32 = 0;
/// The end of a text.
pub const EOS: u32 = 1;
const SPECIAL: [&str; 2] = ["<unk>", "<eos>"];

/// A text's words in order: lower-cased runs of letters, digits and apostrophes, and each
/// other visible character (punctuation) on its own.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() && !c.is_control() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The words the model knows, by id (`<unk>` and `<eos>` first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct WordVocab {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VocabError {
    #[error("a vocabulary file must start with <unk> and <eos>")]
    NoSpecialTokens,
    #[error("the vocabulary lists {0:?} twice")]
    Repeated(String),
}

impl WordVocab {
    /// The `size` entries (the two special ones included) for the most frequent words of
    /// `texts`; words as frequent as each other are taken in alphabetical order, so the
    /// same texts always give the same vocabulary.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, size: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for word in words(text) {
                *counts.entry(word).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> =
            counts.into_iter().filter(|(w, _)| !SPECIAL.contains(&w.as_str())).collect();
        ranked.sort_by(|(a, m), (b, n)| n.cmp(m).then_with(|| a.cmp(b)));
        let words = SPECIAL.iter().map(|s| s.to_string()).chain(ranked.into_iter().map(|(w, _)| w));
        Self::try_from(words.take(size.max(SPECIAL.len())).collect::<Vec<_>>()).expect("built without repeats")
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// A text's ids, then `<eos>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        words(text).iter().map(|w| self.ids.get(w).copied().unwrap_or(UNK)).chain([EOS]).collect()
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }
}

impl TryFrom<Vec<String>> for WordVocab {
    type Error = VocabError;

    fn try_from(words: Vec<String>) -> Result<Self, VocabError> {
        if words.len() < SPECIAL.len() || words[..SPECIAL.len()] != SPECIAL {
            return Err(VocabError::NoSpecialTokens);
        }
        let mut ids = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if ids.insert(w.clone(), i as u32).is_some() {
                return Err(VocabError::Repeated(w.clone()));
            }
        }
        Ok(WordVocab { words, ids })
    }
}

impl From<WordVocab> for Vec<String> {
    fn from(vocab: WordVocab) -> Self {
        vocab.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_and_punctuation_stands_alone() {
        assert_eq!(
            words("It's GREAT, isn't it?!  A 10/10."),
            ["it's", "great", ",", "isn't", "it", "?", "!", "a", "10", "/", "10", "."]
        );
        assert!(words(" \n\t").is_empty());
    }

    #[test]
    fn the_vocabulary_keeps_the_most_frequent_words_and_knows_where_a_text_ends() {
        let texts = ["the film, the film", "a film", "zebra"];
        let vocab = WordVocab::build(texts, 4);
        assert_eq!(vocab.len(), 4);
        assert_eq!((vocab.word(2), vocab.word(3)), (Some("film"), Some("the")), "3 films, then 2 the's");
        assert_eq!(vocab.encode("The film, a zebra"), [3, 2, UNK, UNK, UNK, EOS]);
        assert_eq!(WordVocab::build(texts, 4), vocab, "the same texts, the same vocabulary");
    }

    #[test]
    fn a_vocabulary_file_round_trips_and_bad_ones_are_refused() {
        let vocab = WordVocab::build(["good bad good"], 10);
        let json = serde_json::to_string(&vocab).unwrap();
        assert_eq!(json, r#"["<unk>","<eos>","good","bad"]"#);
        assert_eq!(serde_json::from_str::<WordVocab>(&json).unwrap(), vocab);
        assert!(serde_json::from_str::<WordVocab>(r#"["good","<unk>","<eos>"]"#).is_err());
        assert!(serde_json::from_str::<WordVocab>(r#"["<unk>","<eos>","a","a"]"#).is_err());
    }
}
