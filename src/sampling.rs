//! Which review to label next, so each label buys as much accuracy as it can.
//!
//! Information density (Settles & Craven, 2008): a candidate's score is how unsure the
//! classifier is about it, times how typical it is of the unlabelled pool and how little
//! the labelled reviews already cover it:
//!
//! `score = uncertainty × (1 + density − coverage)`
//!
//! with `uncertainty = 1 − 2·|P(positive) − ½|` (1 before any classifier exists),
//! `density` the mean cosine similarity to the other candidates and `coverage` the
//! highest similarity to a labelled review. Plain uncertainty sampling picks outliers
//! first and lost to random choice at 10–50 labels on `train`-split reviews; this won
//! (`flicktune-bench labels --eval train-dev`, numbers in `docs/labelling.md`).

/// A candidate for labelling: its features (L2-normalised) and, once a classifier
/// exists, its probability of being positive.
pub struct Candidate<'a> {
    pub features: &'a [f32],
    pub positive: Option<f32>,
}

/// Index (into `candidates`) of the review to label next, or `None` if there are none.
/// Ties go to the earliest candidate.
pub fn suggest(candidates: &[Candidate], labelled: &[&[f32]]) -> Option<usize> {
    let n = candidates.len() as f32;
    // A review's density, its mean similarity to every candidate, is its dot product with
    // the candidates' mean: one pass over them, not one per pair (the page runs this after
    // every label, on the main thread).
    let width = candidates.first().map_or(0, |c| c.features.len());
    let mut mean = vec![0f32; width];
    for c in candidates {
        mean.iter_mut().zip(c.features).for_each(|(m, x)| *m += x / n);
    }
    let score = |c: &Candidate| {
        let uncertainty = c.positive.map_or(1.0, |p| 1.0 - 2.0 * (p - 0.5).abs());
        let density = dot(c.features, &mean);
        let coverage = labelled.iter().map(|l| dot(c.features, l)).fold(0f32, f32::max);
        uncertainty * (1.0 + density - coverage)
    };
    let scores: Vec<f32> = candidates.iter().map(score).collect();
    (0..candidates.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> [f32; 3] {
        [angle.cos(), angle.sin(), 0.0]
    }

    #[test]
    fn without_a_classifier_it_picks_the_most_typical_review_not_yet_covered() {
        // Three reviews close together and an outlier unlike all of them.
        let pool = [unit(-0.1), unit(0.0), unit(0.1), [0.0, 0.0, 1.0]];
        let candidates: Vec<Candidate> = pool.iter().map(|f| Candidate { features: f, positive: None }).collect();
        assert_eq!(suggest(&candidates, &[]), Some(1), "the centre of the cluster, not the outlier");
        assert_eq!(suggest(&[], &[]), None);
    }

    #[test]
    fn with_a_classifier_uncertainty_dominates() {
        let f = unit(0.3);
        let probabilities = [0.99, 0.02, 0.55, 0.97, 0.1];
        let candidates: Vec<Candidate> =
            probabilities.iter().map(|&p| Candidate { features: &f, positive: Some(p) }).collect();
        assert_eq!(suggest(&candidates, &[&unit(0.0)]), Some(2));
    }

    #[test]
    fn among_equally_uncertain_reviews_the_uncovered_one_wins() {
        let near = unit(0.0);
        let far = unit(1.2);
        let candidates =
            [Candidate { features: &near, positive: Some(0.5) }, Candidate { features: &far, positive: Some(0.5) }];
        assert_eq!(suggest(&candidates, &[&near]), Some(1));
    }
}
