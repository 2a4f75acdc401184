//! Sentence features: texts in, one L2-normalised vector per text out.
//!
//! A review is often longer than the encoder's window, so a [`Pooling`] strategy decides
//! which token windows of it the encoder sees. Each window is encoded, mean-pooled over
//! its real (non-padding) tokens, and the windows of one text are averaged; the result
//! is L2-normalised. Windows from many texts are batched together, shortest first, so
//! little compute goes to padding.

use std::ops::Range;
use std::str::FromStr;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::backend::{DeviceFailure, read_values};
use crate::encoders::bert::{BertModel, EncoderInput};
use crate::tokens::{TextTokenizer, TokenizeError};

/// Which part of a long text the encoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// The first window's worth of tokens.
    #[default]
    First,
    /// The first half-window and the last content tokens, as one window (128 + 126 in a
    /// 256-token window).
    HeadTail,
    /// The whole text in consecutive windows, their embeddings averaged.
    Chunks,
    /// The whole text in consecutive windows, every token counting once: the windows'
    /// embeddings weighted by their content tokens, as e5's engine reads a long text.
    Windows,
}

impl Pooling {
    pub const ALL: [Pooling; 4] = [Pooling::First, Pooling::HeadTail, Pooling::Chunks, Pooling::Windows];

    pub const fn name(self) -> &'static str {
        match self {
            Pooling::First => "first",
            Pooling::HeadTail => "head-tail",
            Pooling::Chunks => "chunks",
            Pooling::Windows => "windows",
        }
    }

    /// The content-token spans (without the special tokens) that become encoder windows
    /// holding `room` content tokens each. Every text yields at least one window, so an
    /// empty text still gets an embedding.
    // A window is a list of spans (head-tail has two), so one span is a one-element list.
    #[allow(clippy::single_range_in_vec_init)]
    pub fn windows(self, n_content: usize, room: usize) -> Vec<Vec<Range<usize>>> {
        match self {
            Pooling::First => vec![vec![0..n_content.min(room)]],
            Pooling::HeadTail if n_content > room => {
                let head = room.div_ceil(2) + 1;
                let tail = room - head;
                vec![vec![0..head, n_content - tail..n_content]]
            }
            Pooling::HeadTail => vec![vec![0..n_content]],
            Pooling::Chunks | Pooling::Windows if n_content == 0 => vec![vec![0..0]],
            Pooling::Chunks | Pooling::Windows => {
                (0..n_content).step_by(room).map(|start| vec![start..(start + room).min(n_content)]).collect()
            }
        }
    }
}

impl FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pooling::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown pooling `{s}`: use first, head-tail, chunks or windows"))
    }
}

/// Written and read by its name (`windows`), as classifier files record it.
impl serde::Serialize for Pooling {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Pooling {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One text's embedding and how many tokens the encoder read for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Embedding {
    pub vector: Vec<f32>,
    pub tokens: usize,
}

/// Tokenizer + encoder + pooling: the whole text-to-features path.
#[derive(Debug)]
pub struct Embedder {
    pub tokenizer: TextTokenizer,
    pub model: BertModel,
    pub device: Device,
    pub pooling: Pooling,
    pub batch_size: usize,
}

/// The encoder windows of a set of texts, ready to batch.
#[derive(Debug, Default)]
pub struct WindowPlan {
    /// Token ids of each window, special tokens included.
    pub sequences: Vec<Vec<u32>>,
    /// Which text each window belongs to.
    pub owner: Vec<usize>,
    /// How much each window counts in its text's average.
    pub weight: Vec<f32>,
    pub n_texts: usize,
}

impl WindowPlan {
    pub fn tokens(&self) -> usize {
        self.sequences.iter().map(Vec::len).sum()
    }

    /// Averages each text's window vectors and L2-normalises the result.
    pub fn combine(&self, window_vectors: &[Vec<f32>]) -> Vec<Embedding> {
        let dim = window_vectors.first().map_or(0, Vec::len);
        let mut sums = vec![vec![0f32; dim]; self.n_texts];
        let mut tokens = vec![0usize; self.n_texts];
        for (w, vector) in window_vectors.iter().enumerate() {
            let text = self.owner[w];
            tokens[text] += self.sequences[w].len();
            for (s, v) in sums[text].iter_mut().zip(vector) {
                *s += self.weight[w] * v;
            }
        }
        sums.into_iter()
            .zip(tokens)
            .map(|(mut vector, tokens)| {
                l2_normalise(&mut vector);
                Embedding { vector, tokens }
            })
            .collect()
    }
}

/// Token sequences as one padded batch with its padding mask.
pub fn padded_batch(sequences: &[&[u32]], pad_id: u32, device: &Device) -> EncoderInput {
    let batch = sequences.len();
    let seq = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(batch * seq);
    let mut padding = Vec::with_capacity(batch * seq);
    for s in sequences {
        ids.extend(s.iter().map(|&id| id as i64).chain(std::iter::repeat_n(pad_id as i64, seq - s.len())));
        padding.extend(std::iter::repeat_n(false, s.len()).chain(std::iter::repeat_n(true, seq - s.len())));
    }
    EncoderInput {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), device),
        padding_mask: Tensor::<2, Bool>::from_data(TensorData::new(padding, [batch, seq]), device),
    }
}

fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

impl Embedder {
    /// Tokenises texts and cuts them into encoder windows.
    pub fn plan<S: AsRef<str>>(&self, texts: &[S]) -> Result<WindowPlan, TokenizeError> {
        self.plan_pooled(texts, self.pooling)
    }

    /// [`Self::plan`] with another pooling than the embedder's own.
    pub fn plan_pooled<S: AsRef<str>>(&self, texts: &[S], pooling: Pooling) -> Result<WindowPlan, TokenizeError> {
        let mut plan = WindowPlan { n_texts: texts.len(), ..WindowPlan::default() };
        for (i, text) in texts.iter().enumerate() {
            let content = self.tokenizer.content_ids(text.as_ref())?;
            for window in self.tokenizer.windows(&content, pooling) {
                let content_tokens = window.len().saturating_sub(self.tokenizer.special_tokens()).max(1);
                plan.weight.push(if pooling == Pooling::Windows { content_tokens as f32 } else { 1.0 });
                plan.sequences.push(window);
                plan.owner.push(i);
            }
        }
        Ok(plan)
    }

    /// Mean-pooled last hidden states of a batch of windows, `[batch, hidden]`, on the device.
    /// Not normalised: windows of one text are averaged first (see [`WindowPlan::combine`]).
    pub fn pooled_windows(&self, sequences: &[&[u32]]) -> Tensor<2> {
        let input = padded_batch(sequences, self.tokenizer.pad_id(), &self.device);
        let real = input.padding_mask.clone().bool_not().float().unsqueeze_dim::<3>(2);
        let hidden = self.model.forward(input);
        let counts = real.clone().sum_dim(1);
        (hidden * real).sum_dim(1).div(counts).squeeze_dim::<2>(1)
    }

    /// Embeds texts, in order. The read-back from the device is asynchronous, as the
    /// browser requires.
    pub async fn embed_async<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed_pooled(texts, self.pooling).await
    }

    /// [`Self::embed_async`] with another pooling than the embedder's own.
    pub async fn embed_pooled<S: AsRef<str>>(
        &self,
        texts: &[S],
        pooling: Pooling,
    ) -> Result<Vec<Embedding>, EmbedError> {
        let plan = self.plan_pooled(texts, pooling)?;
        Ok(plan.combine(&self.encode_windows(&plan.sequences).await?))
    }

    /// The texts' embeddings under each of several poolings, encoding each distinct window
    /// once: the poolings share most windows (`first`'s is the first of `chunks`, and a
    /// short text's `head-tail` window is its `first`).
    pub async fn embed_poolings<S: AsRef<str>>(
        &self,
        texts: &[S],
        poolings: &[Pooling],
    ) -> Result<Vec<Vec<Embedding>>, EmbedError> {
        let plans = poolings.iter().map(|&p| self.plan_pooled(texts, p)).collect::<Result<Vec<_>, _>>()?;
        let mut distinct: Vec<Vec<u32>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let positions: Vec<Vec<usize>> = plans
            .iter()
            .map(|plan| {
                plan.sequences
                    .iter()
                    .map(|sequence| {
                        *index.entry(sequence.clone()).or_insert_with(|| {
                            distinct.push(sequence.clone());
                            distinct.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        let vectors = self.encode_windows(&distinct).await?;
        Ok(plans
            .iter()
            .zip(positions)
            .map(|(plan, at)| plan.combine(&at.iter().map(|&i| vectors[i].clone()).collect::<Vec<_>>()))
            .collect())
    }

    /// [`Self::pooled_windows`] of one batch, read back from the device: one vector per window.
    pub async fn pooled_rows(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let pooled = self.pooled_windows(sequences);
        let [_, hidden] = pooled.dims();
        let values = read_values(pooled).await?;
        Ok(values.chunks(hidden).map(<[f32]>::to_vec).collect())
    }

    /// Mean-pooled vectors of token windows, in order, encoded in batches of similar length.
    async fn encode_windows(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut vectors = vec![Vec::new(); sequences.len()];
        for batch in order.chunks(self.batch_size.max(1)) {
            let windows: Vec<&[u32]> = batch.iter().map(|&i| sequences[i].as_slice()).collect();
            for (row, &w) in self.pooled_rows(&windows).await?.into_iter().zip(batch) {
                vectors[w] = row;
            }
        }
        Ok(vectors)
    }

    /// Each text as a bag of word pieces: the mean of the encoder's input embeddings over
    /// its tokens, before any layer and without context (no prefix, no special tokens).
    /// The classic word-vector baseline, which the encoder's features are measured against.
    pub async fn word_vectors<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Tokens gathered per read-back: a few MB of rows at a time.
        const TOKENS_PER_GATHER: usize = 8_192;
        let table = self.model.word_embeddings();
        let [_, hidden] = table.dims();
        let ids = texts.iter().map(|t| self.tokenizer.text_ids(t.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let mut vectors = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < ids.len() {
            let mut end = start + 1;
            let mut tokens = ids[start].len();
            while end < ids.len() && tokens + ids[end].len() <= TOKENS_PER_GATHER {
                tokens += ids[end].len();
                end += 1;
            }
            let flat: Vec<i64> = ids[start..end].iter().flatten().map(|&id| i64::from(id)).collect();
            let rows = if flat.is_empty() {
                Vec::new()
            } else {
                let index = Tensor::<1, Int>::from_data(TensorData::new(flat, [tokens]), &self.device);
                read_values(table.clone().select(0, index)).await?
            };
            let mut at = 0;
            for text_ids in &ids[start..end] {
                let mut mean = vec![0f32; hidden];
                for row in rows[at * hidden..(at + text_ids.len()) * hidden].chunks(hidden) {
                    mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
                }
                let n = text_ids.len().max(1) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                vectors.push(mean);
                at += text_ids.len();
            }
            start = end;
        }
        Ok(vectors)
    }

    /// [`Self::embed_async`], blocking: native targets only.
    #[cfg(not(target_family = "wasm"))]
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedding>, EmbedError> {
        pollster::block_on(self.embed_async(texts))
    }

    /// [`Self::word_vectors`], blocking: native targets only.
    #[cfg(not(target_family = "wasm"))]
    pub fn word_vectors_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        pollster::block_on(self.word_vectors(texts))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Device(#[from] DeviceFailure),
}

/// Features of the page's bundled reviews, computed once by `flicktune fetch` with the
/// very weights file the page downloads, so the page need not spend minutes re-reading
/// the same static texts. The page checks it (weights hash, shape, and one review it
/// embeds itself) before trusting it, and computes everything itself otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureCache {
    /// The encoder's Hugging Face name.
    pub model: String,
    /// sha256 of the weights file the features were computed with.
    pub weights_sha256: String,
    pub pooling: String,
    pub dim: usize,
    /// One vector per line of the review sample (`train` split), in order.
    pub sample: Vec<Vec<f32>>,
    /// One vector per line of the held-out sample (`test` split), in order.
    pub heldout: Vec<Vec<f32>>,
}

impl FeatureCache {
    /// Whether every vector has `dim` finite values and the counts are as expected.
    pub fn is_consistent(&self, sample: usize, heldout: usize) -> bool {
        self.sample.len() == sample
            && self.heldout.len() == heldout
            && self.sample.iter().chain(&self.heldout).all(|v| v.len() == self.dim && v.iter().all(|x| x.is_finite()))
    }
}
