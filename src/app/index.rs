//! The bundled review sample and its features, computed in the background once the
//! encoder is ready, so labelling and training (later) start from cached features.

use std::cell::RefCell;
use std::rc::Rc;

use super::engine::Engine;
use super::loader;
use crate::features::Embedding;

/// A review from the `train` split, as bundled with the page. Its gold label is kept
/// for the labelling and training to come; nothing reads it yet.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SampleReview {
    pub text: String,
    #[allow(dead_code)]
    pub label: u8,
}

#[derive(Clone, Default)]
pub struct ReviewIndex {
    entries: Rc<RefCell<Vec<(SampleReview, Embedding)>>>,
}

/// Reviews per step: one, so on the CPU path (~350 tokens/s in wasm) the page gets
/// control back within a second.
const STEP: usize = 1;

impl ReviewIndex {
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Embeds the sample, reporting `(done, total)`; stops early when `keep_going` turns false
    /// (a newer model load supersedes this one).
    pub async fn build(
        &self,
        engine: &Engine,
        on_progress: &dyn Fn(usize, usize),
        keep_going: &dyn Fn() -> bool,
    ) -> Result<(), String> {
        let sample = loader::fetch_text("data/sample.jsonl").await?;
        let reviews: Vec<SampleReview> = sample
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the review sample is malformed: {e}"))?;
        self.entries.borrow_mut().clear();
        on_progress(0, reviews.len());
        for step in reviews.chunks(STEP) {
            super::yield_to_browser().await;
            if !keep_going() {
                return Ok(());
            }
            let texts: Vec<String> = step.iter().map(|r| r.text.clone()).collect();
            let embeddings = engine.embed_in_background(&texts).await?;
            self.entries.borrow_mut().extend(step.iter().cloned().zip(embeddings));
            on_progress(self.len(), reviews.len());
        }
        Ok(())
    }
}
