//! Text to WordPiece token ids, identically in the CLI and the browser.
//!
//! Wraps a Hugging Face `tokenizer.json` (bert-base-uncased WordPiece). The file's own
//! truncation and padding settings are switched off: how a long review is cut into
//! model-sized windows is a pooling decision (see [`crate::features::Pooling`]), so this
//! module only turns text into content ids and wraps a window in `[CLS] … [SEP]`.

use std::fmt;

/// A BERT WordPiece tokenizer loaded from `tokenizer.json` bytes.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("the tokenizer file could not be read: {0}")]
    Load(String),
    #[error("the tokenizer has no {0} token; is it a BERT tokenizer.json?")]
    MissingSpecialToken(&'static str),
    #[error("the text could not be tokenised: {0}")]
    Encode(String),
}

impl TextTokenizer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenizeError> {
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner.with_padding(None);
        let id = |token: &'static str| {
            inner
                .token_to_id(token)
                .ok_or(TokenizeError::MissingSpecialToken(token))
        };
        Ok(Self {
            cls_id: id("[CLS]")?,
            sep_id: id("[SEP]")?,
            pad_id: id("[PAD]")?,
            inner,
        })
    }

    /// The ids of a text's word pieces, without special tokens and without any length limit.
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `[CLS] content [SEP]`: one sequence as the encoder expects it.
    pub fn wrap(&self, content: &[u32]) -> Vec<u32> {
        let mut ids = Vec::with_capacity(content.len() + 2);
        ids.push(self.cls_id);
        ids.extend_from_slice(content);
        ids.push(self.sep_id);
        ids
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The id of a token of the vocabulary, such as `[MASK]`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

impl fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .finish()
    }
}
