//! The page's state, in narrow contexts the views read: [`EncoderState`] (which encoder,
//! on which device, how loading goes), [`Reviews`] (the bundled reviews and their
//! features), [`Labels`] (the person's labels, classifier and learning curve) and
//! [`Training`] (a run's progress and the training settings), [`CatalogueState`] (the
//! movies) and [`Comparison`] (the contenders' scores and curve). Each changes through its
//! own methods; the actions (`super::actions`) do the work that spans them.

mod catalogue;
mod comparison;
mod encoder;
mod labels;
mod reviews;
mod training;

pub use catalogue::{CatalogueState, CatalogueStatus};
pub use comparison::{CompareStatus, Comparison, Scores, UlmfitScores, UlmfitSeconds, UlmfitStatus};
pub use encoder::{EncoderState, Status};
pub use labels::Labels;
pub use reviews::Reviews;
pub use training::{FineTuneTimes, TrainPhase, TrainStatus, Training};
