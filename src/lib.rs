//! Flicktune: few-shot sentiment classification on a pretrained BERT-style encoder, small enough
//! to fine-tune in a browser tab.
//!
//! The modules follow the data's path:
//!
//! | step | module |
//! |---|---|
//! | text → token ids | [`tokens`] |
//! | token ids → hidden states (BERT in Burn) | [`encoder`] |
//! | the pretrained encoders, described once, and their files | [`models`] |
//! | e5's packed 4-bit file: weights and tokenizer read out | [`packed`] |
//! | adapting an encoder to review text, no labels (masked LM) | [`adapt`] |
//! | text → word ids for the LSTM language model | [`word_vocab`] |
//! | ULMFiT's language model: an AWD-LSTM and its training | [`awd_lstm`] |
//! | ULMFiT's classifier on it: concat pooling, gradual unfreezing | [`ulmfit`] |
//! | hidden states → pooled, normalised features | [`features`] |
//! | features → sentiment: the classifier and its file | [`classifier`] |
//! | a lexicon's opinion, no labels needed (seeds the classifier, votes in it) | [`lexicon`] |
//! | text → word n-grams → NB-SVM (votes beside the encoder) | [`nbsvm`] |
//! | labelled features → a classifier (Burn autodiff) | [`training`] |
//! | the training method as one value: seeds, self-training, votes | [`recipe`] |
//! | fine-tuning the encoder's top layers with it (ULMFiT) | [`finetune`] |
//! | the fine-tuned layers as a file, laid over the pretrained encoder | [`tuned`] |
//! | which review to label next | [`sampling`] |
//! | text → sentences, for highlights | [`sentences`] |
//! | the movie catalogue: critics' reviews with their features, as the page reads it | [`catalogue`] |
//! | the baselines beside transfer learning, trained on the same labels | [`compare`] |
//! | a person's labels and classifier, saved and exported | [`session`] |
//! | which device computes | [`backend`] |
//! | fetching and converting models and data (native only) | `assets` |
//! | the page: loading, device choice, UI, `window.flicktune` (wasm only) | `app` |

pub mod adapt;
pub mod awd_lstm;
pub mod backend;
pub mod catalogue;
pub mod classifier;
pub mod compare;
pub mod encoder;
pub mod features;
pub mod finetune;
pub mod lexicon;
pub mod models;
pub mod nbsvm;
pub mod packed;
pub mod recipe;
pub mod sampling;
pub mod sentences;
pub mod session;
pub mod tokens;
pub mod training;
pub mod tuned;
pub mod ulmfit;
pub mod word_vocab;

#[cfg(not(target_family = "wasm"))]
pub mod assets;

#[cfg(target_family = "wasm")]
pub mod app;
