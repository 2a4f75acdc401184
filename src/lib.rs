//! Flicktune: few-shot sentiment classification on a pretrained BERT encoder, small enough
//! to fine-tune in a browser tab.
//!
//! The modules follow the data's path:
//!
//! | step | module |
//! |---|---|
//! | text → token ids | [`tokens`] |
//! | token ids → hidden states (BERT in Burn) | [`encoder`] |
//! | the pretrained encoders and their files | [`models`] |
//! | hidden states → pooled, normalised features | [`features`] |
//! | which device computes | [`backend`] |
//! | fetching and converting models and data (native only) | `assets` |
//! | the page: loading, device choice, UI, `window.flicktune` (wasm only) | `app` |

pub mod backend;
pub mod encoder;
pub mod features;
pub mod models;
pub mod tokens;

#[cfg(not(target_family = "wasm"))]
pub mod assets;

#[cfg(target_family = "wasm")]
pub mod app;
