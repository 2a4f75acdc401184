//! A person's work in the page: their labels, the classifier trained on them and its
//! learning curve, as saved in the browser and exported to (or imported from) a file.
//!
//! An import is checked in full before it replaces anything: format and version, file
//! size, every label's review and value, and the classifier; a bad file changes nothing.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;

pub const FORMAT: &str = "flicktune-session";
pub const VERSION: u32 = 1;
/// Larger files are refused before parsing. A session with every sample review labelled
/// and a classifier is about 2 MB (NB-SVM's n-gram weights of 300 reviews: 1.5 MB); a
/// classifier fine-tuned with the encoder's top layers carries them (base64, up to
/// [`crate::encoders::tuned::MAX_BYTES`] before encoding).
pub const MAX_FILE_BYTES: usize = 40_000_000;

/// One label: a review (by position in its source) and 1 positive / 0 negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub review: usize,
    pub label: u8,
    /// The review's text, so a file can be checked against the sample it is imported into.
    pub text: String,
    /// Absent in files from before the catalogue: the bundled sample.
    #[serde(default, skip_serializing_if = "LabelSource::is_sample")]
    pub source: LabelSource,
}

/// Where a labelled review comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    /// The bundled review sample (`train` split): `review` is its line.
    #[default]
    Sample,
    /// A critic's review from the movie catalogue, labelled on its movie's page: `review`
    /// is its position in catalogue order. It then leaves the catalogue's scored reviews.
    Catalogue,
}

impl LabelSource {
    fn is_sample(&self) -> bool {
        *self == LabelSource::Sample
    }
}

impl Label {
    /// A label of the bundled sample's review `review`.
    pub fn of_sample(review: usize, label: u8, text: String) -> Self {
        Label { review, label, text, source: LabelSource::Sample }
    }

    /// The sample review it labels, if it labels one.
    pub fn sample_review(&self) -> Option<usize> {
        (self.source == LabelSource::Sample).then_some(self.review)
    }

    /// The catalogue review it labels, if it labels one.
    pub fn catalogue_review(&self) -> Option<usize> {
        (self.source == LabelSource::Catalogue).then_some(self.review)
    }
}

/// The rows of the bundled sample (one per review, in its order) no label points at.
pub fn unlabelled_rows<'a, T>(rows: &'a [T], labels: &[Label]) -> impl Iterator<Item = &'a T> {
    let labelled: HashSet<usize> = labels.iter().filter_map(Label::sample_review).collect();
    rows.iter().enumerate().filter(move |(i, _)| !labelled.contains(i)).map(|(_, r)| r)
}

/// Held-out accuracy after one training run, for the learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub labels: usize,
    pub accuracy: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub format: String,
    pub version: u32,
    /// In the order they were given (undo removes the last).
    pub labels: Vec<Label>,
    pub classifier: Option<Classifier>,
    pub curve: Vec<CurvePoint>,
}

impl Default for Session {
    fn default() -> Self {
        Session { format: FORMAT.into(), version: VERSION, labels: Vec::new(), classifier: None, curve: Vec::new() }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {
    #[error("the file is {0} bytes; a Flicktune labels file is at most {MAX_FILE_BYTES}")]
    TooLarge(usize),
    #[error("the file is empty")]
    Empty,
    #[error("not a Flicktune labels file: {0}")]
    Malformed(String),
    #[error("label {index}: {reason}")]
    BadLabel { index: usize, reason: String },
    #[error("its classifier is unusable: {0}")]
    BadClassifier(String),
}

impl Session {
    /// Parses and checks a saved or exported session against the review sample it is
    /// meant for (`sample[i]` is review `i`'s text).
    pub fn from_json<S: AsRef<str>>(bytes: &[u8], sample: &[S]) -> Result<Self, SessionError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(SessionError::TooLarge(bytes.len()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(SessionError::Empty);
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| SessionError::Malformed(e.to_string()))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(SessionError::Malformed(format!("its format is `{other}`, not `{FORMAT}`"))),
            None => return Err(SessionError::Malformed("it has no `format` field".into())),
        }
        if value.get("version").and_then(|v| v.as_u64()) != Some(u64::from(VERSION)) {
            return Err(SessionError::Malformed(format!("only version {VERSION} is supported")));
        }
        // The classifier is checked by its own rules, with its own messages.
        let classifier = match value.get_mut("classifier").map(serde_json::Value::take) {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => Some(Classifier::from_value(c).map_err(|e| SessionError::BadClassifier(e.to_string()))?),
        };
        let mut session: Session = serde_json::from_value(value).map_err(|e| SessionError::Malformed(e.to_string()))?;
        session.classifier = classifier;
        session.check_labels(sample)?;
        if session.curve.iter().any(|p| !(0.0..=1.0).contains(&p.accuracy)) {
            return Err(SessionError::Malformed("its learning curve has accuracies outside 0..1".into()));
        }
        Ok(session)
    }

    fn check_labels<S: AsRef<str>>(&self, sample: &[S]) -> Result<(), SessionError> {
        let mut seen = HashSet::new();
        for (index, l) in self.labels.iter().enumerate() {
            let bad = |reason: String| Err(SessionError::BadLabel { index: index + 1, reason });
            if l.label > 1 {
                return bad(format!("label {} is neither 0 (negative) nor 1 (positive)", l.label));
            }
            match l.source {
                LabelSource::Sample => {
                    let Some(text) = sample.get(l.review) else {
                        return bad(format!("review {} is not in the sample of {} reviews", l.review, sample.len()));
                    };
                    if text.as_ref() != l.text {
                        return bad(format!(
                            "review {} has a different text here: the file was made for another sample",
                            l.review
                        ));
                    }
                }
                // The catalogue is the page's, not the file's: its label carries its text.
                LabelSource::Catalogue if l.text.trim().is_empty() => {
                    return bad("a catalogue review with no text".into());
                }
                LabelSource::Catalogue => {}
            }
            if !seen.insert((l.source, l.review)) {
                return bad(format!("review {} is labelled twice", l.review));
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a session serialises")
    }

    pub fn count(&self, label: u8) -> usize {
        self.labels.iter().filter(|l| l.label == label).count()
    }

    /// The label of the sample's review `review`, if it has one.
    pub fn label_of(&self, review: usize) -> Option<u8> {
        self.labels.iter().find(|l| l.sample_review() == Some(review)).map(|l| l.label)
    }

    /// The label of the catalogue's review `review`, if it has one.
    pub fn catalogue_label_of(&self, review: usize) -> Option<u8> {
        self.labels.iter().find(|l| l.catalogue_review() == Some(review)).map(|l| l.label)
    }
}

/// What a merge with another tab's saved session brought: the labels it added or changed
/// here and the ones it took away, and whether its classifier is the one kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Merged {
    pub added: usize,
    pub removed: usize,
    /// Reviews both tabs labelled differently since they last agreed: this tab's label kept.
    pub conflicts: usize,
    pub their_classifier: bool,
}

impl Merged {
    pub fn changed_anything(&self) -> bool {
        self.added + self.removed > 0 || self.their_classifier
    }

    /// What another tab's save changed here, in the person's words, the merged session
    /// holding `total` labels.
    pub fn describe(&self, total: usize) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut parts = Vec::new();
        if self.added > 0 {
            parts.push(format!("{} label{} added or changed", self.added, plural(self.added)));
        }
        if self.removed > 0 {
            parts.push(format!("{} removed", self.removed));
        }
        if self.their_classifier {
            parts.push("its classifier taken".into());
        }
        let mut text =
            format!("Flicktune is open in another tab too; its changes were merged here: {}.", parts.join(", "));
        if self.conflicts > 0 {
            let n = self.conflicts;
            text += &format!(" {n} review{} labelled differently there kept this tab's label.", plural(n));
        }
        text + &format!(" Both tabs now hold the same {total} labels.")
    }
}

impl Session {
    /// Merges `theirs` (another tab's save) into `self`, both grown from `base` (what
    /// this tab last saved or read): each side's additions, changes and removals since
    /// `base` are kept, so neither tab's work is lost; a review both relabelled
    /// differently keeps this tab's label. The classifier is this tab's if it trained
    /// since `base`, else theirs.
    pub fn merge(&mut self, base: &Session, theirs: Session) -> Merged {
        type Key = (LabelSource, usize);
        let key = |l: &Label| (l.source, l.review);
        let index = |labels: &[Label]| labels.iter().map(|l| (key(l), l.clone())).collect::<HashMap<Key, Label>>();
        let (was, mine) = (index(&base.labels), index(&self.labels));
        let mut merged = Merged::default();
        // Each review three ways: whoever changed it since base wins; both differently, this tab.
        let mut pick = |k: Key, there: Option<&Label>| -> Option<Label> {
            let (b, o) = (was.get(&k), mine.get(&k));
            if o == b || o == there {
                there.cloned()
            } else {
                if there != b {
                    merged.conflicts += 1;
                }
                o.cloned()
            }
        };
        let theirs_keys: HashSet<Key> = theirs.labels.iter().map(key).collect();
        let mut labels: Vec<Label> = theirs.labels.iter().filter_map(|l| pick(key(l), Some(l))).collect();
        // What only this tab (or only base) has, in this tab's order; base-only is a removal.
        labels.extend(self.labels.iter().filter(|l| !theirs_keys.contains(&key(l))).filter_map(|l| pick(key(l), None)));
        let now = index(&labels);
        merged.added = now.iter().filter(|(k, l)| mine.get(k) != Some(l)).count();
        merged.removed = mine.keys().filter(|k| !now.contains_key(k)).count();
        if self.classifier == base.classifier && theirs.classifier != self.classifier {
            (self.classifier, self.curve) = (theirs.classifier, theirs.curve);
            merged.their_classifier = true;
        }
        self.labels = labels;
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_is_described_with_what_it_changed() {
        let merged = Merged { added: 1, removed: 2, conflicts: 3, their_classifier: true };
        assert_eq!(
            merged.describe(7),
            "Flicktune is open in another tab too; its changes were merged here: 1 label added or changed, \
             2 removed, its classifier taken. 3 reviews labelled differently there kept this tab's label. \
             Both tabs now hold the same 7 labels."
        );
        let merged = Merged { added: 2, removed: 0, conflicts: 0, their_classifier: false };
        assert_eq!(
            merged.describe(2),
            "Flicktune is open in another tab too; its changes were merged here: 2 labels added or changed. \
             Both tabs now hold the same 2 labels."
        );
    }

    const SAMPLE: [&str; 3] = ["good film", "bad film", "odd film"];

    fn session() -> Session {
        Session {
            labels: vec![
                Label::of_sample(0, 1, "good film".into()),
                Label::of_sample(1, 0, "bad film".into()),
                Label { review: 0, label: 0, text: "a critic's snippet".into(), source: LabelSource::Catalogue },
            ],
            curve: vec![CurvePoint { labels: 2, accuracy: 0.5 }],
            ..Session::default()
        }
    }

    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(&session().to_json()).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn round_trips() {
        let s = session();
        assert_eq!(Session::from_json(s.to_json().as_bytes(), &SAMPLE).unwrap(), s);
        assert_eq!((s.count(1), s.count(0), s.label_of(1), s.label_of(2)), (1, 2, Some(0), None));
        assert_eq!((s.label_of(0), s.catalogue_label_of(0), s.catalogue_label_of(1)), (Some(1), Some(0), None));
        // A file from before the catalogue (no `source`) reads as labels of the sample.
        let old = br#"{"format":"flicktune-session","version":1,"labels":[{"review":1,"label":0,"text":"bad film"}],"classifier":null,"curve":[]}"#;
        assert_eq!(Session::from_json(old, &SAMPLE).unwrap().labels, vec![Label::of_sample(1, 0, "bad film".into())]);
    }

    #[test]
    fn refuses_bad_files_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (b"{not json".to_vec(), "not a Flicktune labels file"),
            (b"[]".to_vec(), "no `format`"),
            (edited(|v| v["format"] = "other".into()), "format is `other`"),
            (edited(|v| v["version"] = 9.into()), "version 1"),
            (edited(|v| v["labels"][1]["label"] = 2.into()), "label 2: label 2 is neither"),
            (edited(|v| v["labels"][1]["label"] = "yes".into()), "not a Flicktune labels file"),
            (edited(|v| v["labels"][0]["review"] = 7.into()), "label 1: review 7 is not in the sample"),
            (edited(|v| v["labels"][0]["text"] = "other".into()), "another sample"),
            (edited(|v| v["labels"][1] = v["labels"][0].clone()), "labelled twice"),
            (edited(|v| v["labels"][2]["text"] = " ".into()), "catalogue review with no text"),
            (edited(|v| v["labels"][2]["source"] = "elsewhere".into()), "not a Flicktune labels file"),
            (
                edited(|v| v["classifier"] = serde_json::json!({"format": "flicktune-classifier"})),
                "classifier is unusable",
            ),
            (edited(|v| v["curve"][0]["accuracy"] = 3.into()), "outside 0..1"),
            (vec![b' '; MAX_FILE_BYTES + 1], "at most"),
        ];
        for (bytes, expected) in cases {
            let err = Session::from_json(&bytes, &SAMPLE).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        }
    }

    fn labelled(labels: &[(usize, u8)]) -> Session {
        let labels = labels.iter().map(|&(r, l)| Label::of_sample(r, l, format!("review {r}"))).collect();
        Session { labels, ..Session::default() }
    }

    fn pairs(s: &Session) -> Vec<(usize, u8)> {
        s.labels.iter().map(|l| (l.review, l.label)).collect()
    }

    #[test]
    fn a_merge_keeps_both_tabs_additions_changes_and_removals() {
        let base = labelled(&[(0, 1), (1, 0), (2, 1)]);
        // Here: 1 removed, 3 added. There: 2 relabelled, 4 added, 0 removed.
        let mut here = labelled(&[(0, 1), (2, 1), (3, 0)]);
        let there = labelled(&[(1, 0), (2, 0), (4, 1)]);
        let merged = here.merge(&base, there.clone());
        assert_eq!(pairs(&here), vec![(2, 0), (4, 1), (3, 0)]);
        assert_eq!(merged, Merged { added: 2, removed: 1, conflicts: 0, their_classifier: false });
        // The other tab, merging this result into its own, arrives at the same labels.
        let mut there_now = there;
        let merged = there_now.merge(&labelled(&[(1, 0), (2, 0), (4, 1)]), here.clone());
        assert_eq!(pairs(&there_now), pairs(&here));
        assert_eq!((merged.added, merged.removed), (1, 1));
        // Merging what one already has changes nothing: the tabs stop echoing each other.
        let mut again = here.clone();
        assert!(!again.merge(&here, here.clone()).changed_anything());
        assert_eq!(again, here);
    }

    #[test]
    fn a_review_both_tabs_relabelled_keeps_this_tabs_label_and_is_counted() {
        let base = labelled(&[(0, 1)]);
        let mut here = labelled(&[(0, 0), (5, 1)]);
        let merged = here.merge(&base, labelled(&[(5, 0)]));
        // 0: removed there, changed here (kept); 5: added on both sides differently.
        assert_eq!(pairs(&here), vec![(5, 1), (0, 0)]);
        assert_eq!(merged.conflicts, 2);
        assert_eq!((merged.added, merged.removed), (0, 0));
    }

    #[test]
    fn a_merge_takes_their_classifier_unless_this_tab_trained() {
        let classifier = |trained_on| Some(Classifier { trained_on, ..crate::classifier::tests::classifier() });
        let base = Session { classifier: classifier(2), ..labelled(&[(0, 1), (1, 0)]) };
        let theirs = Session {
            classifier: classifier(3),
            curve: vec![CurvePoint { labels: 3, accuracy: 0.7 }],
            ..labelled(&[(0, 1), (1, 0), (2, 1)])
        };
        let mut untrained = base.clone();
        assert!(untrained.merge(&base, theirs.clone()).their_classifier);
        assert_eq!((untrained.classifier.as_ref().unwrap().trained_on, untrained.curve.len()), (3, 1));
        let mut trained = Session { classifier: classifier(4), ..base.clone() };
        assert!(!trained.merge(&base, theirs).their_classifier);
        assert_eq!(trained.classifier.unwrap().trained_on, 4);
    }

    /// Each tab's labels as a map review -> label (reviews 0..8, so tabs often meet).
    fn tab_labels() -> impl proptest::strategy::Strategy<Value = Vec<(usize, u8)>> {
        use proptest::prelude::*;
        prop::collection::btree_map(0usize..8, 0u8..2, 0..8).prop_map(|m| m.into_iter().collect())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 500,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20261201),
            failure_persistence: None,
            ..Default::default()
        })]
        /// No label either tab gave, changed or removed since they last agreed is lost
        /// (but where both changed one review differently: this tab's), and the other tab,
        /// merging the result, arrives at the same labels.
        #[test]
        fn merges_lose_no_tabs_work_and_converge(base in tab_labels(), here in tab_labels(), there in tab_labels()) {
            use std::collections::BTreeMap;
            let map = |v: &[(usize, u8)]| v.iter().copied().collect::<BTreeMap<_, _>>();
            let (b, h, t) = (map(&base), map(&here), map(&there));
            let mut merged = labelled(&here);
            let report = merged.merge(&labelled(&base), labelled(&there));
            let m = map(&pairs(&merged));
            for review in 0..8 {
                let (was, mine, theirs, now) = (b.get(&review), h.get(&review), t.get(&review), m.get(&review));
                let expected = if mine == was { theirs } else { mine };
                proptest::prop_assert_eq!(now, expected, "review {}: base {:?}, here {:?}, there {:?}", review, was, mine, theirs);
            }
            let conflicts = (0..8).filter(|r| h.get(r) != b.get(r) && t.get(r) != b.get(r) && h.get(r) != t.get(r)).count();
            proptest::prop_assert_eq!(report.conflicts, conflicts);
            // Labels come once each.
            proptest::prop_assert_eq!(m.len(), merged.labels.len());
            let mut other = labelled(&there);
            other.merge(&labelled(&there), merged.clone());
            proptest::prop_assert_eq!(map(&pairs(&other)), m);
        }
    }
}
