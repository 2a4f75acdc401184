//! Weights this project made itself and committed, rather than fetched: the run that
//! produces them is too long for setup (`weights/README.md` has the command, its time and
//! the sha256).

use std::path::PathBuf;

use super::error::{AssetError, Result, read_or};
use super::pip::sha256_bytes;
use crate::encoders::weights::FloatTensor;

/// A committed file, pinned by its sha256 like a fetched wheel.
#[derive(Debug, Clone, Copy)]
pub struct CommittedFile {
    /// Relative to the checkout's root.
    pub path: &'static str,
    pub sha256: &'static str,
}

/// The layers of L3 after `flicktune adapt --model l3 --steps 800 --seed 0`, in f16 (the
/// embeddings it kept fixed are L3's).
pub const L3_REVIEWS_WEIGHTS: CommittedFile = CommittedFile {
    path: "weights/paraphrase-MiniLM-L3-v2-reviews.layers.f16.safetensors",
    sha256: "aa755f0e7740ad7672eb250be7db7ffe672094611c179a6d2373e0479eb66f7a",
};

/// ULMFiT's AWD-LSTM, pretrained here on the `train` texts (`weights/README.md` has the
/// command): its f16 weights, its vocabulary and its card, installed as they are.
pub const AWD_LSTM_FILES: [CommittedFile; 3] = [
    CommittedFile {
        path: "weights/awd-lstm/awd-lstm.f16.safetensors",
        sha256: "984244d1af4e8b48087ac0943266c55c698970b1ba416c4a7610984ee66394b9",
    },
    CommittedFile {
        path: "weights/awd-lstm/vocab.json",
        sha256: "31e5862ff3c93f4b2bee4745f555def28d2e864e38de5890da79ea68a189356a",
    },
    CommittedFile {
        path: "weights/awd-lstm/awd-lstm.json",
        sha256: "72fec47feb2e1612b15cd9d324ff4ef00710243075eacf4aba8cb3ea4c25a6a7",
    },
];

impl CommittedFile {
    /// The file's name, without its folder.
    pub fn file_name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// Where the checkout this binary was built from keeps it.
    pub fn location(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(self.path)
    }

    /// The line a product's stamp records for it.
    pub fn stamp_line(&self) -> String {
        format!("{} {}", self.path, self.sha256)
    }

    /// The file's bytes, if its sha256 is the pinned one.
    pub fn read(&self) -> Result<Vec<u8>> {
        let path = self.location();
        let bytes =
            read_or(&path, format!("; it is part of the checkout (`git checkout -- {}` restores it)", self.path))?;
        self.verify(&bytes)?;
        Ok(bytes)
    }

    fn verify(&self, bytes: &[u8]) -> Result<()> {
        let actual = sha256_bytes(bytes);
        if actual != self.sha256 {
            return Err(AssetError::Checksum {
                what: self.path.into(),
                actual,
                pinned: self.sha256,
                remedy: format!(
                    "the file is damaged or was replaced; `git checkout -- {}` restores it, or the command in weights/README.md makes it again",
                    self.path
                ),
            });
        }
        Ok(())
    }
}

/// Why committed tensors do not fit a model.
#[derive(Debug, thiserror::Error)]
pub enum OverlayMismatch {
    #[error("it has a tensor `{0}` the model has not")]
    Unknown(String),
    #[error("its `{name}` has shape {got:?}, the model's {expected:?}")]
    Shape { name: String, got: Vec<usize>, expected: Vec<usize> },
}

/// `base` with each tensor that `changed` holds replaced by that one; every tensor of
/// `changed` must be in `base`, with the same shape.
pub fn overlay(
    mut base: Vec<FloatTensor>,
    changed: Vec<FloatTensor>,
) -> std::result::Result<Vec<FloatTensor>, OverlayMismatch> {
    for (name, shape, values) in changed {
        let Some(slot) = base.iter_mut().find(|(n, _, _)| *n == name) else {
            return Err(OverlayMismatch::Unknown(name));
        };
        if slot.1 != shape {
            return Err(OverlayMismatch::Shape { name, got: shape, expected: slot.1.clone() });
        }
        slot.2 = values;
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_replaces_only_matching_tensors() {
        let base = vec![("a".to_string(), vec![2], vec![1.0, 2.0]), ("b".to_string(), vec![1], vec![3.0])];
        let merged = overlay(base.clone(), vec![("b".into(), vec![1], vec![9.0])]).unwrap();
        assert_eq!(merged, vec![base[0].clone(), ("b".into(), vec![1], vec![9.0])]);
        assert!(overlay(base.clone(), vec![("c".into(), vec![1], vec![0.0])]).unwrap_err().to_string().contains("`c`"));
        assert!(overlay(base, vec![("b".into(), vec![2], vec![0.0, 0.0])]).unwrap_err().to_string().contains("shape"));
    }

    #[test]
    fn a_changed_file_is_refused() {
        // sha256 of the three bytes "abc"
        let file =
            CommittedFile { path: "x", sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" };
        file.verify(b"abc").unwrap();
        let err = file.verify(b"abd").unwrap_err().to_string();
        assert!(err.contains("damaged") && err.contains("git checkout -- x"), "{err}");
    }
}
