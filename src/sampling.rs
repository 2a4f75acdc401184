//! Which review to label next, so each label buys as much accuracy as it can.
//!
//! With a classifier: uncertainty sampling with a dash of diversity. Of the
//! [`SHORTLIST`] unlabelled reviews the classifier is least sure about, take the one
//! least similar to anything already labelled. Without one (fewer than two classes
//! labelled): farthest-first, the review least similar to the labelled ones, so the first
//! labels spread over the pool rather than cluster.

/// How many of the most uncertain reviews compete on diversity.
pub const SHORTLIST: usize = 8;

/// A candidate for labelling: its features (L2-normalised) and, once a classifier
/// exists, its probability of being positive.
pub struct Candidate<'a> {
    pub features: &'a [f32],
    pub positive: Option<f32>,
}

/// Index (into `candidates`) of the review to label next, or `None` if there are none.
pub fn suggest(candidates: &[Candidate], labelled: &[&[f32]]) -> Option<usize> {
    let nearest_labelled = |features: &[f32]| {
        labelled.iter().map(|l| dot(features, l)).fold(f32::NEG_INFINITY, f32::max)
    };
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    if candidates.iter().all(|c| c.positive.is_some()) {
        let margin = |i: usize| (candidates[i].positive.unwrap_or(0.5) - 0.5).abs();
        order.sort_by(|&a, &b| margin(a).total_cmp(&margin(b)).then(a.cmp(&b)));
        order.truncate(SHORTLIST);
    }
    // Least similar to the labelled set; ties (e.g. nothing labelled yet) go to the earliest.
    order
        .into_iter()
        .min_by(|&a, &b| {
            nearest_labelled(candidates[a].features)
                .total_cmp(&nearest_labelled(candidates[b].features))
                .then(a.cmp(&b))
        })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_classifier_it_picks_the_review_farthest_from_the_labelled_ones() {
        let pool = [[1.0, 0.0], [0.9, 0.436], [0.0, 1.0]];
        let candidates: Vec<Candidate> = pool.iter().map(|f| Candidate { features: f, positive: None }).collect();
        assert_eq!(suggest(&candidates, &[]), Some(0), "nothing labelled: the first");
        assert_eq!(suggest(&candidates, &[&[1.0, 0.0]]), Some(2));
        assert_eq!(suggest(&[], &[]), None);
    }

    #[test]
    fn with_a_classifier_it_picks_among_the_least_certain() {
        let features = [0.0f32, 1.0];
        let probabilities = [0.99, 0.02, 0.55, 0.97, 0.1, 0.9, 0.8, 0.85, 0.95, 0.05, 0.3];
        let candidates: Vec<Candidate> =
            probabilities.iter().map(|&p| Candidate { features: &features, positive: Some(p) }).collect();
        // All equally similar to the labelled set: the most uncertain wins.
        assert_eq!(suggest(&candidates, &[&[1.0, 0.0]]), Some(2));
    }

    #[test]
    fn diversity_breaks_ties_within_the_shortlist() {
        let near = [1.0f32, 0.0];
        let far = [0.0f32, 1.0];
        let candidates = [
            Candidate { features: &near, positive: Some(0.5) },
            Candidate { features: &far, positive: Some(0.6) },
            Candidate { features: &far, positive: Some(0.999) },
        ];
        assert_eq!(suggest(&candidates, &[&near]), Some(1));
    }
}
