//! Classifying any text: the whole text, then each sentence on its own (the highlights).

use super::Actions;
use crate::app::error::PageError;
use crate::app::services::engine::protocol::Encoder;
use crate::classifier::{Prediction, TextView};
use crate::sentences::{MAX_SENTENCES, has_words, sentence_ranges};

/// Longer texts are refused with a message (the encoder would read every chunk).
const MAX_TEXT_BYTES: usize = 100_000;

/// One sentence and, if it has words, its own prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    pub text: String,
    pub prediction: Option<Prediction>,
}

impl Actions {
    /// The classifier's prediction for `text`, and its sentences', in order.
    pub async fn classify(self, text: String) -> Result<(Prediction, Vec<Highlight>), PageError> {
        if text.trim().is_empty() {
            return Err(PageError::NothingToClassify);
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(PageError::TextTooLong { size_kb: text.len() / 1000, limit_kb: MAX_TEXT_BYTES / 1000 });
        }
        let engine = self.engine();
        let classifier = self.labels.classifier_untracked().ok_or(PageError::NoClassifier)?;
        let overall = engine.embed_for_classifier(std::slice::from_ref(&text), Encoder::InUse).await?.remove(0);
        let overall = classifier.predict(&overall.vector, &TextView::of(&text))?;
        let pieces: Vec<String> =
            sentence_ranges(&text, MAX_SENTENCES).into_iter().map(|r| text[r].to_string()).collect();
        let scored: Vec<String> = pieces.iter().filter(|p| has_words(p)).cloned().collect();
        let mut predictions = engine.embed_for_classifier(&scored, Encoder::InUse).await?.into_iter();
        let mut sentences = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let prediction = if has_words(&piece) {
                let features = predictions.next().ok_or(PageError::ShortOutput)?;
                Some(classifier.predict(&features.vector, &TextView::of(&piece))?)
            } else {
                None
            };
            sentences.push(Highlight { text: piece, prediction });
        }
        Ok((overall, sentences))
    }
}
