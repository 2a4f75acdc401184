//! Flicktune: few-shot sentiment classification on a pretrained BERT-style encoder, small enough
//! to fine-tune in a browser tab.
//!
//! The modules follow the data's path:
//!
//! | step | module |
//! |---|---|
//! | text → token ids (WordPiece), text → word ids (the LSTM's vocabulary) | [`tokens`], [`word_vocab`] |
//! | token ids → hidden states: the encoders, two kinds, and their list and files | [`encoders`] |
//! | adapting an encoder to review text, no labels (masked LM) | [`adapt`] |
//! | ULMFiT's classifier on the AWD-LSTM: concat pooling, gradual unfreezing | [`ulmfit`] |
//! | hidden states → pooled, normalised features | [`features`] |
//! | features → sentiment: the classifier and its file | [`classifier`] |
//! | a lexicon's opinion, no labels needed (seeds the classifier, votes in it) | [`lexicon`] |
//! | text → word n-grams → NB-SVM (votes beside the encoder) | [`nbsvm`] |
//! | labelled features → a classifier (Burn autodiff) | [`training`] |
//! | the training method as one value: seeds, self-training, votes | [`recipe`] |
//! | fine-tuning the encoder's top layers with it (ULMFiT) | [`finetune`] |
//! | which review to label next | [`sampling`] |
//! | text → sentences, for highlights | [`sentences`] |
//! | the movie catalogue: critics' reviews with their features, as the page reads it | [`catalogue`] |
//! | the baselines beside transfer learning, trained on the same labels | [`compare`] |
//! | a person's labels and classifier, saved and exported | [`session`] |
//! | which device computes | [`backend`] |
//! | fetching and converting models and data (native only) | `assets` |
//! | the page: loading, device choice, UI, `window.flicktune` (wasm only) | `app` |

pub mod adapt;
pub mod backend;
pub mod catalogue;
pub mod classifier;
pub mod compare;
pub mod encoders;
pub mod features;
pub mod finetune;
pub mod lexicon;
pub mod nbsvm;
pub mod recipe;
pub mod sampling;
pub mod sentences;
pub mod session;
pub mod tokens;
pub mod training;
pub mod ulmfit;
pub mod word_vocab;

#[cfg(not(target_family = "wasm"))]
pub mod assets;

#[cfg(target_family = "wasm")]
pub mod app;
