//! Text to token ids and encoder windows, identically in the CLI and the browser.
//!
//! Wraps a Hugging Face `tokenizer.json` (bert-base-uncased WordPiece for the MiniLMs, the
//! SentencePiece Unigram built from e5's packed file for e5). The special tokens around a
//! window are the file's own post-processor's (`[CLS] … [SEP]`, `<s> … </s>`): no id is
//! written here. The file's truncation and padding settings are switched off: how a long
//! review is cut into windows is a pooling decision ([`crate::features::Pooling`]); this
//! module turns text into content ids and content into windows of the encoder's length,
//! each starting with the encoder's prefix (e5's `query: `) where it has one.

use std::fmt;

use crate::features::Pooling;

/// How an encoder wants its input: the window length and a text prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceFormat {
    /// Tokens per window, the special tokens included.
    pub window: usize,
    /// Text put before every text (and repeated before every later window of a long one).
    pub prefix: &'static str,
}

/// A tokenizer loaded from `tokenizer.json` bytes, with the encoder's sequence format.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    start: Vec<u32>,
    end: Vec<u32>,
    pad_id: u32,
    format: SequenceFormat,
    /// The prefix's own ids (tokenised without its trailing space), put again before
    /// windows after the first.
    prefix_ids: Vec<u32>,
    /// Unigram models: the unknown token's id. The library fuses a run of unknown
    /// characters into one `<unk>`; the encoder's engine (and so its reference outputs)
    /// reads one per character, so runs are expanded again.
    unigram_unk: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("the tokenizer file could not be read: {0}")]
    Load(String),
    #[error("the tokenizer has no post-processor adding the special tokens around a text")]
    MissingSpecialTokens,
    #[error("the text could not be tokenised: {0}")]
    Encode(String),
    #[error("a window of {window} tokens has no room for content after the prefix `{prefix}`")]
    WindowTooShort { window: usize, prefix: &'static str },
}

impl TextTokenizer {
    /// Reads `tokenizer.json` bytes; `pad_id` is the model config's.
    pub fn from_bytes(bytes: &[u8], pad_id: u32, format: SequenceFormat) -> Result<Self, TokenizeError> {
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner.with_truncation(None).map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner.with_padding(None);
        // What the post-processor puts around an empty text is what goes around a window.
        let empty = inner
            .post_process(tokenizers::Encoding::default(), None, true)
            .map_err(|e| TokenizeError::Load(e.to_string()))?;
        let specials = empty.get_ids();
        let [first, .., last] = specials else { return Err(TokenizeError::MissingSpecialTokens) };
        let unigram_unk = unigram_unk_id(bytes);
        let mut tokenizer =
            Self { start: vec![*first], end: vec![*last], pad_id, format, prefix_ids: Vec::new(), unigram_unk, inner };
        tokenizer.prefix_ids = tokenizer.encode(format.prefix.trim_end())?;
        if format.window <= 2 + tokenizer.prefix_ids.len() {
            return Err(TokenizeError::WindowTooShort { window: format.window, prefix: format.prefix });
        }
        Ok(tokenizer)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let encode_error = |e: tokenizers::Error| TokenizeError::Encode(e.to_string());
        let ids = self.inner.encode_fast(text, false).map_err(encode_error)?.get_ids().to_vec();
        let Some(unk) = self.unigram_unk.filter(|unk| ids.contains(unk)) else { return Ok(ids) };
        // Offsets are only computed on this slower path, for texts with unknown characters.
        let encoding = self.inner.encode(text, false).map_err(encode_error)?;
        let mut expanded = Vec::with_capacity(ids.len());
        for (&id, &(start, end)) in encoding.get_ids().iter().zip(encoding.get_offsets()) {
            let characters =
                if id == unk { self.normalised_chars(text.get(start..end).unwrap_or_default()) } else { 1 };
            expanded.extend(std::iter::repeat_n(id, characters.max(1)));
        }
        Ok(expanded)
    }

    /// How many characters `text` has after the tokenizer's normaliser.
    fn normalised_chars(&self, text: &str) -> usize {
        use tokenizers::{NormalizedString, Normalizer};
        let mut normalised = NormalizedString::from(text);
        if let Some(normaliser) = self.inner.get_normalizer()
            && normaliser.normalize(&mut normalised).is_err()
        {
            return text.chars().count();
        }
        normalised.get().chars().count()
    }

    /// The ids of a text's tokens, the encoder's prefix first, without special tokens and
    /// without any length limit. Prefix and text are tokenised together, as the encoder's
    /// own engine does.
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        if self.format.prefix.is_empty() {
            return self.encode(text);
        }
        self.encode(&format!("{}{text}", self.format.prefix))
    }

    /// The ids of the text's own tokens: no prefix, no special tokens, no length limit.
    pub fn text_ids(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        self.encode(text)
    }

    /// The text's content ids cut into encoder windows by `pooling`, each wrapped in the
    /// special tokens; windows after the first start with the prefix again.
    pub fn windows(&self, content: &[u32], pooling: Pooling) -> Vec<Vec<u32>> {
        let prefix = if content.starts_with(&self.prefix_ids) { self.prefix_ids.len() } else { 0 };
        let body = &content[prefix..];
        let room = self.format.window - self.special_tokens() - prefix;
        pooling
            .windows(body.len(), room)
            .into_iter()
            .map(|spans| {
                let ids: Vec<u32> = content[..prefix]
                    .iter()
                    .copied()
                    .chain(spans.into_iter().flat_map(|r| body[r].iter().copied()))
                    .collect();
                self.wrap(&ids)
            })
            .collect()
    }

    /// `[CLS] content [SEP]` (or the encoder's own special tokens): one sequence.
    pub fn wrap(&self, content: &[u32]) -> Vec<u32> {
        [self.start.as_slice(), content, self.end.as_slice()].concat()
    }

    /// How many special tokens wrap a window.
    pub fn special_tokens(&self) -> usize {
        self.start.len() + self.end.len()
    }

    pub fn format(&self) -> SequenceFormat {
        self.format
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The id of a token of the vocabulary, such as `[MASK]`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

/// The unknown token's id when the file's model is a Unigram one (the library keeps it private).
fn unigram_unk_id(tokenizer_json: &[u8]) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct File {
        model: Model,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        #[serde(rename = "type")]
        kind: Option<String>,
        unk_id: Option<u32>,
    }
    let file: File = serde_json::from_slice(tokenizer_json).ok()?;
    file.model.unk_id.filter(|_| file.model.kind.as_deref() == Some("Unigram"))
}

impl fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .field("format", &self.format)
            .finish()
    }
}
