//! "Can the index answer this?": a calibrated confidence for every search.
//!
//! A few cheap features of a query's candidate lists and hits (no extra retrieval,
//! no extra model call) go through a small logistic model per search mode:
//!
//! | feature     | meaning                                                                          |
//! |-------------|----------------------------------------------------------------------------------|
//! | `dense_top` | cosine similarity of the best dense candidate                                    |
//! | `dense_gap` | that cosine minus the mean cosine of dense candidates 2–10 (does one stand out?) |
//! | `bm25_norm` | best BM25 score over the IDF mass of the query's content terms (query-length free) |
//! | `coverage`  | IDF-weighted share of the query's content terms in the best of the top 3 hits     |
//! | `known`     | IDF-weighted share of the query's content terms that occur anywhere in the index  |
//!
//! Content terms are the body analyzer's tokens (stemmed, lower-cased) without the
//! BM25 stop words; IDF is BM25's `ln(1 + (N − df + 0.5) / (df + 0.5))` over chunks,
//! so a word the index has never seen weighs the most. The model gives
//! [`Confidence::score`], the estimated probability that the index holds the answer;
//! [`Confidence::answerable`] is `score ≥ threshold`.
//!
//! The shipped weights and thresholds live in `confidence.json` next to this file.
//! **How they were fitted:** `docent eval --questions corpus/questions.jsonl
//! --fit-confidence` runs every question of the Lumen Ledger sample corpus (141
//! answerable, follow-ups with their earlier turns through [`crate::followup`], and 23
//! unanswerable: off-topic, undocumented features, vocabulary-sharing near misses)
//! in each mode, standardises the features, fits an L2-regularised logistic
//! regression (Newton's method, λ = 1) on all of them and picks the threshold that
//! maximises the F1 of "no answer" on the fitted scores. The same procedure under
//! leave-one-out cross-validation gives the honest precision/recall reported in
//! `docs/BENCHMARKS.md` ("Retrieval quality"); the in-sample numbers are optimistic.
//! With 23 negative examples from one site, treat the threshold as a starting point:
//! it is not calibrated for other corpora.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::TokenStream;
use tantivy::{Searcher, Term};

use crate::followup::QueryPlan;
use crate::{Hit, Scored, SearchMode, Snapshot, STOP_WORDS};

/// The shipped model file (see the module documentation for how it was fitted).
pub const SHIPPED_MODELS_JSON: &str = include_str!("confidence.json");
/// Hits considered for [`ConfidenceFeatures::coverage`] (the best one counts).
pub const COVERAGE_HITS: usize = 3;
/// Dense candidates (after the first) averaged for [`ConfidenceFeatures::dense_gap`].
pub const GAP_CANDIDATES: usize = 9;
/// Every feature name a model may use.
pub const FEATURE_NAMES: &[&str] = &["dense_top", "dense_gap", "bm25_norm", "coverage", "known"];
/// Content terms of a query considered (a pasted wall of text is bounded).
const MAX_TERMS: usize = 64;

/// The confidence of one search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// Estimated probability that the index can answer the query, in `[0, 1]`.
    pub score: f32,
    /// `score` is at or above the mode's threshold. `false` means "the index cannot
    /// answer this": a generator should say so rather than answer from these hits.
    pub answerable: bool,
    /// The inputs of the model, for logs and for re-fitting.
    pub features: ConfidenceFeatures,
}

impl Confidence {
    /// The confidence of a search that found nothing (or had nothing to search).
    pub fn none() -> Self {
        Confidence { score: 0.0, answerable: false, features: ConfidenceFeatures::default() }
    }
}

impl Default for Confidence {
    fn default() -> Self {
        Self::none()
    }
}

/// The features of [`Confidence`] (see the module documentation). A retriever's
/// features are `None` when it did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceFeatures {
    /// Cosine similarity of the best dense candidate.
    pub dense_top: Option<f32>,
    /// `dense_top` minus the mean cosine of the next [`GAP_CANDIDATES`] candidates.
    pub dense_gap: Option<f32>,
    /// Best BM25 score over the IDF mass of the query's content terms.
    pub bm25_norm: Option<f32>,
    /// IDF-weighted share of the content terms found in one hit: the best of the top
    /// [`COVERAGE_HITS`] (title, headings and text of the chunk).
    pub coverage: f32,
    /// IDF-weighted share of the content terms that occur in the index at all.
    pub known: f32,
}

impl ConfidenceFeatures {
    /// A feature by its name in the model file.
    pub fn get(&self, name: &str) -> Option<f32> {
        match name {
            "dense_top" => self.dense_top,
            "dense_gap" => self.dense_gap,
            "bm25_norm" => self.bm25_norm,
            "coverage" => Some(self.coverage),
            "known" => Some(self.known),
            _ => None,
        }
    }

    /// Names of the features a mode produces.
    pub fn names_for(mode: SearchMode) -> &'static [&'static str] {
        match (mode.uses_bm25(), mode.uses_dense()) {
            (true, false) => &["bm25_norm", "coverage", "known"],
            (false, true) => &["dense_top", "dense_gap", "coverage", "known"],
            _ => FEATURE_NAMES,
        }
    }
}

/// A standardised logistic model: `score = σ(bias + Σ weight_i · (x_i − mean_i) / scale_i)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// Feature names ([`ConfidenceFeatures::get`]).
    pub features: Vec<String>,
    /// Mean of each feature on the fitting data.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature on the fitting data (never 0).
    pub scale: Vec<f32>,
    /// Weight of each standardised feature.
    pub weights: Vec<f32>,
    /// Intercept.
    pub bias: f32,
    /// `answerable` when the score is at or above this.
    pub threshold: f32,
}

impl LogisticModel {
    /// Check that the vectors agree and the numbers are finite.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.features.len();
        if self.mean.len() != n || self.scale.len() != n || self.weights.len() != n {
            return Err(format!(
                "{n} features but {}/{}/{} means/scales/weights",
                self.mean.len(),
                self.scale.len(),
                self.weights.len()
            ));
        }
        if let Some(f) = self.features.iter().find(|f| !FEATURE_NAMES.contains(&f.as_str())) {
            return Err(format!("unknown feature `{f}`"));
        }
        let finite = self.mean.iter().chain(&self.scale).chain(&self.weights).chain([&self.bias, &self.threshold]);
        if finite.clone().any(|x| !x.is_finite()) || self.scale.iter().any(|&s| s <= 0.0) {
            return Err("non-finite number or non-positive scale".into());
        }
        Ok(())
    }

    /// The model's score for a feature vector given in the model's feature order;
    /// a missing feature is taken at its mean (it adds nothing).
    pub fn score_values(&self, values: &[Option<f32>]) -> f32 {
        let z: f32 = self
            .weights
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(values)
            .map(|(((w, m), s), x)| x.map_or(0.0, |x| w * (x - m) / s))
            .sum();
        sigmoid(self.bias + z)
    }

    /// The model's score for a search's features.
    pub fn score(&self, f: &ConfidenceFeatures) -> f32 {
        let values: Vec<Option<f32>> = self.features.iter().map(|n| f.get(n)).collect();
        self.score_values(&values)
    }
}

/// One model per search mode, as stored in `confidence.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceModels {
    /// How and on what the models were fitted.
    pub fitted_on: String,
    /// Model of BM25-only searches.
    pub bm25: LogisticModel,
    /// Model of dense-only searches.
    pub dense: LogisticModel,
    /// Model of hybrid searches.
    pub hybrid: LogisticModel,
}

impl ConfidenceModels {
    /// Parse and check a model file.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let m: ConfidenceModels = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for (name, model) in [("bm25", &m.bm25), ("dense", &m.dense), ("hybrid", &m.hybrid)] {
            model.validate().map_err(|e| format!("model `{name}`: {e}"))?;
        }
        Ok(m)
    }

    /// The models shipped with this build (`confidence.json`).
    pub fn shipped() -> &'static ConfidenceModels {
        static M: OnceLock<ConfidenceModels> = OnceLock::new();
        M.get_or_init(|| {
            // A unit test parses the file, so this cannot fail in a tested build.
            ConfidenceModels::from_json(SHIPPED_MODELS_JSON).expect("confidence.json is valid")
        })
    }

    /// The model of a mode: BM25-only and dense-only searches have their own; every
    /// mode that runs both retrievers (hybrid, and hybrid with reranking) uses `hybrid`.
    pub fn for_mode(&self, mode: SearchMode) -> &LogisticModel {
        match (mode.uses_bm25(), mode.uses_dense()) {
            (true, false) => &self.bm25,
            (false, true) => &self.dense,
            _ => &self.hybrid,
        }
    }

    /// The confidence of a search in `mode` with these features.
    pub fn assess(&self, mode: SearchMode, features: ConfidenceFeatures) -> Confidence {
        let model = self.for_mode(mode);
        let score = model.score(&features);
        Confidence { score, answerable: score >= model.threshold, features }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A content term of the query with its weight (1 for the current turn, less for
/// earlier turns of a conversation).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeightedTerm {
    pub text: String,
    pub weight: f32,
}

/// Stop words as the body analyzer indexes them (all text fields share `en_stem`).
fn stop_set(searcher: &Searcher, body: tantivy::schema::Field) -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| {
        let mut set = HashSet::new();
        if let Ok(mut analyzer) = searcher.index().tokenizer_for_field(body) {
            for w in STOP_WORDS {
                let mut stream = analyzer.token_stream(w);
                while stream.advance() {
                    set.insert(stream.token().text.clone());
                }
            }
        }
        set
    })
}

/// Distinct body-analyzer tokens of `text` without stop words (all tokens when only
/// stop words are left), at most [`MAX_TERMS`].
pub(crate) fn content_terms(snapshot: &Snapshot, text: &str) -> Vec<String> {
    let searcher = snapshot.index().searcher();
    let body = snapshot.index().schema().body;
    let Ok(mut analyzer) = searcher.index().tokenizer_for_field(body) else { return Vec::new() };
    let stop = stop_set(searcher, body);
    let mut stream = analyzer.token_stream(text);
    let (mut kept, mut stopped, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    while kept.len() < MAX_TERMS && stream.advance() {
        let t = &stream.token().text;
        if t.is_empty() || !seen.insert(t.clone()) {
            continue;
        }
        if stop.contains(t) {
            if stopped.len() < MAX_TERMS {
                stopped.push(t.clone());
            }
        } else {
            kept.push(t.clone());
        }
    }
    if kept.is_empty() {
        stopped
    } else {
        kept
    }
}

/// Sum of the BM25 IDFs (body field, over chunks) of `terms`: how much a document
/// matching all of them can score, up to the term-frequency factor.
pub(crate) fn idf_mass(snapshot: &Snapshot, terms: &[String]) -> f32 {
    let searcher = snapshot.index().searcher();
    let body = snapshot.index().schema().body;
    let n = searcher.num_docs() as f32;
    terms
        .iter()
        .map(|t| {
            let df = searcher.doc_freq(&Term::from_field_text(body, t)).unwrap_or(0) as f32;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .sum()
}

/// Weighted terms of a plain query: its content terms, weight 1.
pub(crate) fn plain_terms(snapshot: &Snapshot, query: &str) -> Vec<WeightedTerm> {
    content_terms(snapshot, query).into_iter().map(|text| WeightedTerm { text, weight: 1.0 }).collect()
}

/// The candidate lists and hits of a finished search, as the features need them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchEvidence<'a> {
    /// Query terms with weights.
    pub terms: &'a [WeightedTerm],
    /// BM25 candidates, best first (`None` when BM25 did not run).
    pub bm25: Option<&'a [Scored]>,
    /// Dense candidates, best first (`None` when dense did not run).
    pub dense: Option<&'a [Scored]>,
    /// The returned hits.
    pub hits: &'a [Hit],
    /// The analyzed-term hashes ([`docent_index::term_hash`], from `chunks.bin`) of the
    /// first hits, in hit order; when given, coverage is read from them instead of
    /// re-tokenizing the hits' text (same result, without stemming every word).
    pub hit_terms: Option<&'a [&'a [u32]]>,
}

/// Compute the features of a finished search.
pub(crate) fn features(snapshot: &Snapshot, ev: &SearchEvidence<'_>) -> ConfidenceFeatures {
    let searcher = snapshot.index().searcher();
    let body = snapshot.index().schema().body;
    let n = searcher.num_docs() as f32;
    let idf = |df: f32| (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
    // The query terms each of the top hits contains (title, headings, body).
    let wanted: HashSet<&str> = ev.terms.iter().map(|t| t.text.as_str()).collect();
    let mut per_hit: Vec<HashSet<String>> = Vec::new();
    match ev.hit_terms {
        Some(hit_terms) => {
            let hashed: Vec<(&str, u32)> = wanted.iter().map(|&t| (t, docent_index::term_hash(t))).collect();
            for terms in hit_terms.iter().take(COVERAGE_HITS.min(ev.hits.len())) {
                let found = hashed.iter().filter(|(_, h)| terms.binary_search(h).is_ok()).map(|(t, _)| t.to_string());
                per_hit.push(found.collect());
            }
        }
        None => {
            if let Ok(mut analyzer) = searcher.index().tokenizer_for_field(body) {
                for hit in ev.hits.iter().take(COVERAGE_HITS) {
                    let mut found: HashSet<String> = HashSet::new();
                    for text in std::iter::once(hit.title.as_str())
                        .chain(hit.heading_path.iter().map(String::as_str))
                        .chain(std::iter::once(hit.text.as_str()))
                    {
                        let mut stream = analyzer.token_stream(text);
                        while stream.advance() {
                            let t = stream.token().text.as_str();
                            if wanted.contains(t) && !found.contains(t) {
                                found.insert(t.to_string());
                            }
                        }
                    }
                    per_hit.push(found);
                }
            }
        }
    }
    // IDF mass of the query, of its terms known to the index, and of those in each hit.
    let (mut mass, mut known) = (0.0f32, 0.0f32);
    let mut covered = vec![0.0f32; per_hit.len()];
    for t in ev.terms {
        let df = searcher.doc_freq(&Term::from_field_text(body, &t.text)).unwrap_or(0) as f32;
        let w = t.weight * idf(df);
        mass += w;
        if df > 0.0 {
            known += w;
        }
        for (c, found) in covered.iter_mut().zip(&per_hit) {
            if found.contains(&t.text) {
                *c += w;
            }
        }
    }
    let covered = covered.into_iter().fold(0.0f32, f32::max);
    let share = |x: f32| if mass > 0.0 { x / mass } else { 0.0 };
    let bm25_norm = ev.bm25.map(|list| match list.first() {
        Some(top) if mass > 0.0 => top.score / mass,
        _ => 0.0,
    });
    let dense_top = ev.dense.and_then(|l| l.first().map(|s| s.score));
    let dense_gap = ev.dense.and_then(|l| {
        let top = l.first()?.score;
        let rest: Vec<f32> = l.iter().skip(1).take(GAP_CANDIDATES).map(|s| s.score).collect();
        Some(if rest.is_empty() { 0.0 } else { top - rest.iter().sum::<f32>() / rest.len() as f32 })
    });
    ConfidenceFeatures { dense_top, dense_gap, bm25_norm, coverage: share(covered), known: share(known) }
}

/// Features and the shipped model's verdict for a finished search.
pub(crate) fn assess(snapshot: &Snapshot, mode: SearchMode, ev: &SearchEvidence<'_>) -> Confidence {
    if ev.hits.is_empty() {
        return Confidence { features: features(snapshot, ev), ..Confidence::none() };
    }
    ConfidenceModels::shipped().assess(mode, features(snapshot, ev))
}

/// The candidate lists and hits of a finished search ([`SearchEvidence`] without the
/// query terms, which [`for_search`] computes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchLists<'a> {
    /// BM25 candidates, best first (`None` when BM25 did not run).
    pub bm25: Option<&'a [Scored]>,
    /// Dense candidates, best first (`None` when dense did not run).
    pub dense: Option<&'a [Scored]>,
    /// The returned hits.
    pub hits: &'a [Hit],
    /// Analyzed-term hashes of the first hits ([`SearchEvidence::hit_terms`]).
    pub hit_terms: Option<&'a [&'a [u32]]>,
}

/// The confidence of a finished search of `query` (or of `plan`, a follow-up query):
/// what the retriever attaches to every response.
pub(crate) fn for_search(
    snapshot: &Snapshot,
    mode: SearchMode,
    query: &str,
    plan: Option<&QueryPlan>,
    lists: SearchLists<'_>,
) -> Confidence {
    let terms = match plan {
        Some(p) => p.weighted_terms(snapshot),
        None => plain_terms(snapshot, query),
    };
    let SearchLists { bm25, dense, hits, hit_terms } = lists;
    assess(snapshot, mode, &SearchEvidence { terms: &terms, bm25, dense, hits, hit_terms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_models_parse_and_cover_every_mode() {
        let m = ConfidenceModels::from_json(SHIPPED_MODELS_JSON).expect("valid confidence.json");
        for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
            let model = m.for_mode(mode);
            for f in &model.features {
                assert!(ConfidenceFeatures::names_for(mode).contains(&f.as_str()), "{mode}: {f}");
            }
            assert!((0.0..=1.0).contains(&model.threshold));
        }
    }

    #[test]
    fn logistic_score_matches_hand_computation() {
        // z = 0.5 + 2·(0.8 − 0.6)/0.1 + (−1)·(0.5 − 0.5)/0.2 = 0.5 + 4 + 0 = 4.5;
        // σ(4.5) = 1 / (1 + e^−4.5) = 1 / 1.011109 = 0.989013.
        let m = LogisticModel {
            features: vec!["dense_top".into(), "coverage".into()],
            mean: vec![0.6, 0.5],
            scale: vec![0.1, 0.2],
            weights: vec![2.0, -1.0],
            bias: 0.5,
            threshold: 0.5,
        };
        assert!(m.validate().is_ok());
        let f = ConfidenceFeatures { dense_top: Some(0.8), coverage: 0.5, ..Default::default() };
        assert!((m.score(&f) - 0.989013).abs() < 1e-5);
        // A missing feature adds nothing: z = 0.5 + 0 → σ(0.5) = 0.622459.
        let f = ConfidenceFeatures { dense_top: None, coverage: 0.5, ..Default::default() };
        assert!((m.score(&f) - 0.622459).abs() < 1e-5);
    }

    #[test]
    fn invalid_models_are_rejected() {
        let ok = LogisticModel {
            features: vec!["known".into()],
            mean: vec![0.0],
            scale: vec![1.0],
            weights: vec![1.0],
            bias: 0.0,
            threshold: 0.5,
        };
        assert!(LogisticModel { scale: vec![0.0], ..ok.clone() }.validate().is_err());
        assert!(LogisticModel { weights: vec![], ..ok.clone() }.validate().is_err());
        assert!(LogisticModel { features: vec!["bogus".into()], ..ok.clone() }.validate().is_err());
        assert!(LogisticModel { bias: f32::NAN, ..ok }.validate().is_err());
    }
}
