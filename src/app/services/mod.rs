//! What the page works with, apart from its views and state: `loader` downloads model
//! files into Cache Storage, `engine` builds the encoder on WebGPU or the CPU and embeds
//! with it, `index` holds the bundled reviews and their features, `storage` keeps the
//! person's work and settings in `localStorage`, `tuned_store` keeps fine-tuned layers,
//! `catalogue` holds the movies and what the contenders read of their reviews.

pub mod catalogue;
pub mod engine;
pub mod index;
pub mod loader;
pub mod storage;
pub mod tuned_store;
