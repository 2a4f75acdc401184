//! The `train` split in the three parts the learning curve and `flicktune adapt` share:
//! the pool labels are drawn from, the `train`-dev reviews settings are chosen on, and
//! the rest.

use super::error::{AssetError, Result};

use super::{AssetDir, Review, read_reviews};

/// Pool reviews per class that the curve's draws come from (the `train` split's first, in
/// its seeded order).
pub const POOL_PER_CLASS: usize = 1_500;
/// `train` reviews per class after the pool that `bench curve --eval train-dev` scores on.
pub const TRAIN_DEV_PER_CLASS: usize = 500;

/// The `train` split's parts, each in the split's seeded order.
pub struct TrainParts {
    /// The first [`POOL_PER_CLASS`] reviews of each class: labels are drawn from here.
    pub pool: Vec<Review>,
    /// The next [`TRAIN_DEV_PER_CLASS`] of each class: `--eval train-dev` scores on them.
    pub train_dev: Vec<Review>,
    /// The rest.
    pub rest: Vec<Review>,
}

impl TrainParts {
    pub fn read(assets: &AssetDir) -> Result<TrainParts> {
        let mut counts = [0usize; 2];
        let (mut pool, mut train_dev, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for review in read_reviews(&assets.imdb_split("train"))? {
            let seen = &mut counts[usize::from(review.label)];
            *seen += 1;
            match *seen {
                n if n <= POOL_PER_CLASS => pool.push(review),
                n if n <= POOL_PER_CLASS + TRAIN_DEV_PER_CLASS => train_dev.push(review),
                _ => rest.push(review),
            }
        }
        if pool.len() != 2 * POOL_PER_CLASS {
            return Err(AssetError::TooFewReviews(format!(
                "the train split has {} for a pool of {}",
                pool.len(),
                2 * POOL_PER_CLASS
            )));
        }
        Ok(TrainParts { pool, train_dev, rest })
    }
}
