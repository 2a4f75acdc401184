//! How a classifier is trained from a few labels, as one value: a [`Recipe`] says what the
//! encoder's classifier learns from besides the labels (the lexicon's surest picks, one
//! round of self-training) and who votes beside it (NB-SVM, the lexicon). Every number in
//! it was chosen on `train` reviews (`flicktune-bench curve --eval train-dev`), never on
//! `test`; `docs/few-shot.md` has the measurements.
//!
//! [`Recipe::fit_head`] runs the rounds with any way of fitting a head (the page's is
//! async and cancellable, the CLI's and the benchmarks' block), and [`Recipe::votes`] adds
//! the votes, so the page, `flicktune train` and the benchmarks train alike. Each encoder
//! names its recipe in [`crate::encoders::ENCODERS`]; the classifier file records it.

use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, ClassifierError, Lexicon, TextHead, TextView, TextVotes, sigmoid};
use crate::encoders::ModelName;
use crate::nbsvm::NbSvm;
use crate::training::Example;

/// What a classifier trains on besides the labels, and who votes beside it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Unlabelled reviews per class that the lexicon labels for the first round (its surest
    /// negatives and positives); 0: none.
    pub lexicon_seeds: usize,
    /// Up to this many labels the second round keeps every lexicon seed; beyond, it keeps
    /// `lexicon_seeds × this / labels` per class: the lexicon steadies a classifier that
    /// knows little and holds back one that knows more.
    pub seeds_kept_until: usize,
    /// A second round: the labels, the first classifier's surest picks among the unlabelled
    /// reviews (as many as there are labels) and the kept seeds.
    pub self_training: bool,
    pub votes: Option<Votes>,
}

/// Votes from the text beside the encoder's classifier: the decision is the sum of the
/// encoder's logit, NB-SVM's score and the lexicon's, each over its spread on the
/// unlabelled reviews ([`TextVotes`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Votes {
    /// The lexicon's vote against a model's 1 while labels are few; 0: it does not vote.
    pub lexicon: f32,
    /// Up to this many labels the lexicon's vote keeps its weight; beyond, it counts
    /// `this / labels` of it (it knows nothing of this data).
    pub lexicon_fully_until: usize,
    /// NB-SVM's vote counts fully once each class has this many labels, and in proportion
    /// to the class labelled less before: n-gram weights from a handful of reviews are
    /// mostly noise.
    pub nbsvm_fully_from: usize,
}

impl Recipe {
    /// Logistic regression on the labels alone.
    pub const FROZEN: Recipe = Recipe { lexicon_seeds: 0, seeds_kept_until: 0, self_training: false, votes: None };

    /// How the page, `flicktune train` and the bench's page row train a classifier on
    /// `model`'s features: the recipe chosen for it (e5 has its own; the MiniLMs share one).
    pub const fn for_encoder(model: ModelName) -> Recipe {
        match model {
            ModelName::E5 => Recipe::E5,
            ModelName::L3 | ModelName::L3Reviews | ModelName::L6 => Recipe::MINILM,
        }
    }

    /// The MiniLM encoders' (chosen on L3 and its review-adapted form): 100 lexicon seeds
    /// per class (among 25, 50, 100), all kept up to 20 labels (10, 20), self-training,
    /// and the votes: the lexicon at 0.5 (among 0, 0.25, 0.5, 0.75, 1) fading from 100
    /// labels, NB-SVM full from 25 per class (among 1, 5, 10, 25, 50).
    pub const MINILM: Recipe = Recipe {
        lexicon_seeds: 100,
        seeds_kept_until: 20,
        self_training: true,
        votes: Some(Votes { lexicon: 0.5, lexicon_fully_until: 100, nbsvm_fully_from: 25 }),
    };

    /// e5's, re-chosen on e5 (docs/few-shot.md, "e5"): its own classifier is strong
    /// enough that the lexicon's vote costs 1 to 4 points up to 100 labels and NB-SVM must
    /// wait for more labels before it helps. 50 lexicon seeds per class (among 25, 50, 100,
    /// 200), self-training, no lexicon vote (among 0, 0.25, 0.5, 1), NB-SVM full from 250
    /// labels per class (among 25, 50, 100, 150, 250, 500, 1000).
    pub const E5: Recipe = Recipe {
        lexicon_seeds: 50,
        votes: Some(Votes { lexicon: 0.0, lexicon_fully_until: 100, nbsvm_fully_from: 250 }),
        ..Recipe::MINILM
    };

    /// Whether it reads unlabelled reviews at all.
    pub fn learns_from_unlabelled(&self) -> bool {
        self.lexicon_seeds > 0 || self.self_training || self.votes.is_some()
    }

    /// Whether it reads the reviews' text (the lexicon's scores, n-grams) besides their
    /// features.
    pub fn reads_text(&self) -> bool {
        self.lexicon_seeds > 0 || self.votes.is_some()
    }

    /// What the first classifier trains on: the labels, and the lexicon's surest picks
    /// among the unlabelled reviews when the recipe seeds.
    pub fn first_round<'a>(&self, set: &TrainingSet<'a>) -> Vec<Example<'a>> {
        let mut examples = set.labelled.clone();
        if self.lexicon_seeds > 0 {
            set.add_lexicon_seeds(&mut examples, self.lexicon_seeds);
        }
        examples
    }

    /// What the second classifier trains on, given the `first` one's opinion of the
    /// unlabelled reviews (`scores`, higher: more positive): the labels, its surest picks
    /// of each class (as many in all as there are labels) and the kept lexicon seeds.
    pub fn second_round<'a>(&self, scores: &[f32], set: &TrainingSet<'a>) -> Vec<Example<'a>> {
        let mut examples = set.labelled.clone();
        let labels = examples.len();
        for (i, label) in surest_of_each_class(scores, labels / 2) {
            examples.push(Example { features: set.unlabelled[i], label });
        }
        if self.lexicon_seeds > 0 {
            let kept =
                (self.lexicon_seeds * self.seeds_kept_until) as f32 / labels.max(self.seeds_kept_until).max(1) as f32;
            set.add_lexicon_seeds(&mut examples, kept.round() as usize);
        }
        examples
    }

    /// The encoder's classifier, its rounds fitted by `fit` (`Ok(None)` from it: cancelled,
    /// and so is the whole). The result records the recipe and the real labels' count.
    pub async fn fit_head<'a, E: From<ClassifierError>>(
        &self,
        set: &TrainingSet<'a>,
        mut fit: impl AsyncFnMut(&[Example<'a>]) -> Result<Option<Classifier>, E>,
    ) -> Result<Option<Classifier>, E> {
        let Some(mut classifier) = fit(&self.first_round(set)).await? else { return Ok(None) };
        if self.self_training {
            let scores = set
                .unlabelled
                .iter()
                .map(|f| Ok(sigmoid(classifier.logit(f)?)))
                .collect::<Result<Vec<f32>, ClassifierError>>()?;
            let Some(second) = fit(&self.second_round(&scores, set)).await? else { return Ok(None) };
            classifier = second;
        }
        Ok(Some(Classifier { trained_on: set.labelled.len(), recipe: Some(*self), ..classifier }))
    }

    /// [`Recipe::fit_head`] with a blocking `fit`: native targets only.
    #[cfg(not(target_family = "wasm"))]
    pub fn fit_head_blocking<'a, E: From<ClassifierError>>(
        &self,
        set: &TrainingSet<'a>,
        mut fit: impl FnMut(&[Example<'a>]) -> Result<Classifier, E>,
    ) -> Result<Classifier, E> {
        let fitted = pollster::block_on(self.fit_head(set, async |examples: &[Example<'a>]| fit(examples).map(Some)))?;
        Ok(fitted.expect("a blocking fit is never cancelled"))
    }

    /// The text's votes beside `classifier` when the recipe has them: NB-SVM trained on the
    /// `labelled` reviews' n-grams and the lexicon, each vote divided by its spread over
    /// the `unlabelled` reviews (features and text). `seed` orders NB-SVM's solver.
    pub fn votes(
        &self,
        classifier: &Classifier,
        labelled: &[(&TextView, u8)],
        unlabelled: &[(&[f32], &TextView)],
        seed: u64,
    ) -> Result<Option<TextVotes>, ClassifierError> {
        let Some(votes) = self.votes else { return Ok(None) };
        let docs: Vec<&[String]> = labelled.iter().map(|(view, _)| view.ngrams.as_slice()).collect();
        let labels: Vec<u8> = labelled.iter().map(|&(_, label)| label).collect();
        let nbsvm = NbSvm::train(&docs, &labels, seed);
        let logits =
            unlabelled.iter().map(|(features, _)| classifier.logit(features)).collect::<Result<Vec<f32>, _>>()?;
        let spread_of =
            |head: &dyn TextHead| spread(&unlabelled.iter().map(|(_, view)| head.score(view)).collect::<Vec<_>>());
        let positives = labels.iter().filter(|&&l| l == 1).count();
        let fewer = positives.min(labels.len() - positives);
        let nbsvm_weight = (fewer as f32 / votes.nbsvm_fully_from.max(1) as f32).clamp(f32::EPSILON, 1.0);
        let lexicon_spread = (votes.lexicon > 0.0).then(|| {
            let fading = (votes.lexicon_fully_until as f32 / labelled.len().max(1) as f32).min(1.0);
            spread_of(&Lexicon) / (votes.lexicon * fading)
        });
        Ok(Some(TextVotes {
            encoder_spread: spread(&logits),
            nbsvm_spread: spread_of(&nbsvm) / nbsvm_weight,
            lexicon_spread,
            nbsvm,
        }))
    }
}

/// The labelled examples and the unlabelled reviews a recipe learns from.
pub struct TrainingSet<'a> {
    pub labelled: Vec<Example<'a>>,
    pub unlabelled: Vec<&'a [f32]>,
    /// The lexicon's score of each unlabelled review ([`crate::lexicon::score`]); may be
    /// empty for a recipe without seeds.
    pub lexicon_scores: Vec<f32>,
}

impl<'a> TrainingSet<'a> {
    /// Adds the `per_class` unlabelled reviews the lexicon finds most negative, labelled 0,
    /// and most positive, labelled 1.
    fn add_lexicon_seeds(&self, examples: &mut Vec<Example<'a>>, per_class: usize) {
        debug_assert_eq!(
            self.unlabelled.len(),
            self.lexicon_scores.len(),
            "lexicon seeds need every unlabelled review's score"
        );
        for (i, label) in surest_of_each_class(&self.lexicon_scores, per_class) {
            examples.push(Example { features: self.unlabelled[i], label });
        }
    }
}

/// `(index, label)` of the `per_class` lowest scores, labelled 0, and the `per_class`
/// highest, labelled 1 (at most half the scores each).
fn surest_of_each_class(scores: &[f32], per_class: usize) -> Vec<(usize, u8)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // A stable sort: ties keep their order, so the pick is deterministic.
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let per_class = per_class.min(order.len() / 2);
    let negatives = order[..per_class].iter().map(|&i| (i, 0));
    let positives = order[order.len() - per_class..].iter().map(|&i| (i, 1));
    negatives.chain(positives).collect()
}

/// The standard deviation (at least `f32::EPSILON`), for putting votes on one scale.
pub fn spread(values: &[f32]) -> f32 {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt().max(f32::EPSILON)
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::classifier::{FORMAT, FeatureScaling, VERSION};

    /// Positive as its one feature is above 0, surer as it is further from 0.
    fn one_feature_classifier() -> Classifier {
        Classifier {
            format: FORMAT.into(),
            version: VERSION,
            encoder: crate::encoders::ModelName::L3,
            pooling: crate::features::Pooling::First,
            scaling: FeatureScaling { center: vec![0.0], scale: vec![1.0] },
            weights: vec![1.0],
            bias: 0.0,
            trained_on: 2,
            tuned_layers: None,
            text_votes: None,
            recipe: None,
        }
    }

    fn set<'a>(labelled: Vec<Example<'a>>, unlabelled: &[&'a [f32]], scores: &[f32]) -> TrainingSet<'a> {
        TrainingSet { labelled, unlabelled: unlabelled.to_vec(), lexicon_scores: scores.to_vec() }
    }

    #[test]
    fn lexicon_seeds_are_its_surest_of_each_class_after_the_labels() {
        let (a, b, c, d) = ([0.0f32], [1.0f32], [2.0f32], [3.0f32]);
        let labelled = vec![Example { features: &a, label: 1 }];
        let recipe = Recipe { lexicon_seeds: 1, ..Recipe::MINILM };
        let seeded = recipe.first_round(&set(labelled, &[&b, &c, &d], &[0.9, -0.8, 0.1]));
        let got: Vec<(f32, u8)> = seeded.iter().map(|e| (e.features[0], e.label)).collect();
        assert_eq!(
            got,
            [(0.0, 1), (2.0, 0), (1.0, 1)],
            "the label first, then the most negative and the most positive"
        );
        let many = Recipe { lexicon_seeds: 5, ..Recipe::MINILM };
        assert_eq!(
            many.first_round(&set(Vec::new(), &[&b, &c, &d], &[0.9, -0.8, 0.1])).len(),
            2,
            "at most half the pool per class"
        );
        assert!(
            Recipe::FROZEN.first_round(&set(Vec::new(), &[&b, &c, &d], &[])).is_empty(),
            "no seeds: the labels only"
        );
    }

    #[test]
    fn the_second_round_adds_the_surest_picks_and_fewer_seeds_as_labels_grow() {
        let features: Vec<[f32; 1]> = (0..1000).map(|i| [i as f32]).collect();
        let unlabelled: Vec<&[f32]> = features.iter().map(|f| f.as_slice()).collect();
        let lexicon: Vec<f32> = (0..1000).map(|i| -(i as f32)).collect();
        let opinion: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let label = [0.5f32];
        let second_round = |recipe: Recipe, n: usize| {
            let examples: Vec<Example> = (0..n).map(|i| Example { features: &label, label: (i % 2) as u8 }).collect();
            recipe.second_round(&opinion, &set(examples, &unlabelled, &lexicon))
        };
        // n labels + n pseudo-labels + the kept seeds of both classes.
        assert_eq!(second_round(Recipe::MINILM, 10).len(), 10 + 10 + 200, "all kept up to 20 labels");
        assert_eq!(second_round(Recipe::MINILM, 20).len(), 20 + 20 + 200);
        assert_eq!(second_round(Recipe::MINILM, 100).len(), 100 + 100 + 40, "100 × 20 / 100 per class");
        let plain = second_round(Recipe { lexicon_seeds: 0, ..Recipe::MINILM }, 4);
        let picked: Vec<(f32, u8)> = plain[4..].iter().map(|e| (e.features[0], e.label)).collect();
        assert_eq!(picked, [(0.0, 0), (1.0, 0), (998.0, 1), (999.0, 1)], "the first classifier's surest of each class");
    }

    #[test]
    fn fit_head_runs_the_rounds_and_records_the_recipe() {
        let features: Vec<[f32; 1]> = (0..50).map(|i| [i as f32 - 25.0]).collect();
        let unlabelled: Vec<&[f32]> = features.iter().map(|f| f.as_slice()).collect();
        let lexicon: Vec<f32> = features.iter().map(|f| f[0]).collect();
        let (p, n) = ([3.0f32], [-3.0f32]);
        let training =
            set(vec![Example { features: &p, label: 1 }, Example { features: &n, label: 0 }], &unlabelled, &lexicon);
        let mut rounds = Vec::new();
        let fitted = Recipe::MINILM
            .fit_head_blocking(&training, |examples| {
                rounds.push(examples.len());
                Ok::<_, ClassifierError>(one_feature_classifier())
            })
            .unwrap();
        assert_eq!(
            rounds,
            [2 + 50, 2 + 2 + 50],
            "seeds (at most half the pool per class), then picks and the kept seeds"
        );
        assert_eq!((fitted.trained_on, fitted.recipe), (2, Some(Recipe::MINILM)));
        let mut frozen_rounds = 0;
        Recipe::FROZEN
            .fit_head_blocking(&training, |_| {
                Ok::<_, ClassifierError>((frozen_rounds += 1, one_feature_classifier()).1)
            })
            .unwrap();
        assert_eq!(frozen_rounds, 1);
        let cancelled = pollster::block_on(
            Recipe::MINILM.fit_head(&training, async |_: &[Example]| Ok::<_, ClassifierError>(None)),
        );
        assert!(matches!(cancelled, Ok(None)), "a cancelled fit cancels the whole");
    }

    #[test]
    fn votes_put_each_vote_on_the_unlabelled_reviews_scale() {
        let classifier = one_feature_classifier();
        let view = |text: &str, lexicon: f32| TextView { ngrams: crate::nbsvm::ngrams(text), lexicon };
        let labelled = [view("a great film", 0.6), view("a dull film", -0.4)];
        let labelled: Vec<(&TextView, u8)> = labelled.iter().zip([1, 0]).collect();
        let texts = [view("great", 0.5), view("dull", -0.5), view("great great", 0.3), view("film", -0.3)];
        let features = [[1.0f32], [-1.0], [3.0], [-3.0]];
        let unlabelled: Vec<(&[f32], &TextView)> = features.iter().map(|f| f.as_slice()).zip(&texts).collect();
        let with_lexicon = |lexicon: f32| Recipe {
            votes: Some(Votes { lexicon, lexicon_fully_until: 100, nbsvm_fully_from: 25 }),
            ..Recipe::MINILM
        };
        let votes = with_lexicon(1.0).votes(&classifier, &labelled, &unlabelled, 0).unwrap().unwrap();
        assert!((votes.encoder_spread - 5f32.sqrt()).abs() < 1e-5, "{}", votes.encoder_spread);
        assert!((votes.lexicon_spread.unwrap() - (0.17f32).sqrt()).abs() < 1e-5, "full weight at 2 labels");
        assert!(votes.nbsvm.score(&texts[0].ngrams) > votes.nbsvm.score(&texts[1].ngrams));
        let nbsvm_scores: Vec<f32> = texts.iter().map(|t| votes.nbsvm.score(&t.ngrams)).collect();
        let full_spread = spread(&nbsvm_scores);
        assert!(
            (votes.nbsvm_spread - 25.0 * full_spread).abs() < 1e-4 * full_spread.max(1.0),
            "one label per class: 1/25 of a vote"
        );
        let half = with_lexicon(0.5).votes(&classifier, &labelled, &unlabelled, 0).unwrap().unwrap();
        assert!((half.lexicon_spread.unwrap() - 2.0 * (0.17f32).sqrt()).abs() < 1e-5, "half a vote: twice the spread");
        let without = with_lexicon(0.0).votes(&classifier, &labelled, &unlabelled, 0).unwrap().unwrap();
        assert_eq!((without.lexicon_spread, &without.nbsvm), (None, &votes.nbsvm));
        // With 200 labels the lexicon counts half (its spread doubles) and NB-SVM fully.
        let many: Vec<(&TextView, u8)> = (0..200).map(|i| labelled[i % 2]).collect();
        let faded = with_lexicon(1.0).votes(&classifier, &many, &unlabelled, 0).unwrap().unwrap();
        assert!((faded.lexicon_spread.unwrap() - 2.0 * (0.17f32).sqrt()).abs() < 1e-5);
        let scores: Vec<f32> = texts.iter().map(|t| faded.nbsvm.score(&t.ngrams)).collect();
        assert!((faded.nbsvm_spread - spread(&scores)).abs() < 1e-6);
        assert!(
            Recipe::FROZEN.votes(&classifier, &labelled, &unlabelled, 0).unwrap().is_none(),
            "no votes in the recipe"
        );
    }

    #[test]
    fn the_recipe_round_trips_through_json() {
        let json = serde_json::to_string(&Recipe::E5).unwrap();
        assert_eq!(serde_json::from_str::<Recipe>(&json).unwrap(), Recipe::E5);
    }
}
