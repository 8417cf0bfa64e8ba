//! The offline reranker: no extra model, a linear blend of first-stage scores and
//! lexical features, with weights fitted on training queries ([`super::fit`]) and
//! shipped in `offline-weights.json`.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::TextAnalyzer;

use super::features::{self, QueryTerms};
use super::{min_max, CancelToken, RerankBudget, RerankError, RerankInput, Reranker};
use crate::QueryEmbedder;

/// The features, in the order of [`OfflineWeights::weights`].
///
/// - `fused`: the fused score, min-max normalised over the candidates;
/// - `bm25`: the BM25 score, min-max normalised over the candidates that have one (else 0);
/// - `dense`: cosine of the query and chunk embeddings (computed from the stored vector
///   when the chunk was not a dense candidate);
/// - `bm25_rr`, `dense_rr`: `1 / rank` in each first-stage list (0 when absent);
/// - `coverage`, `title_coverage`, `proximity`, `ordered_pairs`, `early`, `length`: the
///   lexical features of the query terms in the passage (all in `[0, 1]`).
pub const FEATURE_NAMES: [&str; 11] = [
    "fused",
    "bm25",
    "dense",
    "bm25_rr",
    "dense_rr",
    "coverage",
    "title_coverage",
    "proximity",
    "ordered_pairs",
    "early",
    "length",
];

/// Number of features.
const N: usize = FEATURE_NAMES.len();

/// The shipped weights (fitted on SciFact training queries and corpus questions; see the
/// file's notes).
pub const OFFLINE_WEIGHTS_JSON: &str = include_str!("offline-weights.json");

/// Whether a [`crate::Retriever`] gets the offline reranker without being asked (so
/// `SearchMode::Rerank` works with no configuration; the default *mode* stays hybrid).
///
/// Decided by measurement, and now **off**: with the BM25 boosts chosen on
/// 2026-12-01 (title 0.5 / headings 0.5 / body 1), hybrid alone reaches what the
/// reranker used to add, and the shipped weights no longer raise nDCG@10 on both data
/// sets: SciFact train all 809 queries 0.7150 → 0.7148, held-out fold 0.7331 → 0.7309;
/// corpus page level held-out 0.9551 → 0.9352, section level held-out 0.8400 →
/// 0.8194. Re-fitting on the new first stage did not help either (held-out corpus
/// −0.04 / −0.08). The rule is "enabled by default only if it raises nDCG@10 on both",
/// so it is opt-in (`docent search --mode rerank`, or [`crate::Retriever::with_reranker`]).
/// Re-measure: `cargo test --release -p docent-retrieval --test rerank -- --ignored --nocapture`.
pub const OFFLINE_DEFAULT_ENABLED: bool = false;

/// Weights of the offline reranker's linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineWeights {
    /// Format version (1).
    pub version: u32,
    /// Feature names, which must equal [`FEATURE_NAMES`].
    pub features: Vec<String>,
    /// One weight per feature.
    pub weights: Vec<f32>,
    /// How they were fitted and what they measured.
    #[serde(default)]
    pub notes: String,
}

impl OfflineWeights {
    /// The weights shipped with this build.
    pub fn shipped() -> Self {
        // A unit test checks that the shipped file parses and validates.
        Self::from_json(OFFLINE_WEIGHTS_JSON).unwrap_or_else(|_| Self::fused_only())
    }

    /// Weights that reproduce the fused order (1 for `fused`, 0 elsewhere).
    pub fn fused_only() -> Self {
        let mut weights = vec![0.0; N];
        weights[0] = 1.0;
        OfflineWeights {
            version: 1,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            weights,
            notes: "fused order".into(),
        }
    }

    /// Parse and [validate](OfflineWeights::validate) a weights file.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let w: OfflineWeights = serde_json::from_str(text).map_err(|e| format!("offline weights: {e}"))?;
        w.validate()?;
        Ok(w)
    }

    /// The feature names match this build's and every weight is finite.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!("offline weights: version {} is not 1", self.version));
        }
        if self.features.iter().map(String::as_str).ne(FEATURE_NAMES.iter().copied()) {
            return Err(format!("offline weights: features {:?} are not {:?}", self.features, FEATURE_NAMES));
        }
        if self.weights.len() != N || self.weights.iter().any(|w| !w.is_finite()) {
            return Err(format!("offline weights: need {N} finite weights, got {:?}", self.weights));
        }
        Ok(())
    }
}

/// The offline default reranker (see the module docs and [`FEATURE_NAMES`]).
pub struct OfflineReranker {
    embedder: Option<Arc<QueryEmbedder>>,
    weights: OfflineWeights,
    analyzer: TextAnalyzer,
    stop: HashSet<String>,
}

impl std::fmt::Debug for OfflineReranker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineReranker").field("weights", &self.weights.weights).finish()
    }
}

impl OfflineReranker {
    /// With the shipped weights. `embedder` (the retriever's query embedder, whose cache
    /// already holds the query's vector) gives exact cosines for chunks that were not
    /// dense candidates; `None` uses the first-stage dense scores only.
    pub fn new(embedder: Option<Arc<QueryEmbedder>>) -> Self {
        Self::with_weights(embedder, OfflineWeights::shipped()).unwrap_or_else(|_| unreachable_weights())
    }

    /// With explicit weights (validated).
    pub fn with_weights(embedder: Option<Arc<QueryEmbedder>>, weights: OfflineWeights) -> Result<Self, RerankError> {
        weights.validate().map_err(|detail| RerankError::Failed { reranker: "offline".into(), detail })?;
        let mut analyzer = features::analyzer();
        let stop = features::stop_terms(&mut analyzer);
        Ok(OfflineReranker { embedder, weights, analyzer, stop })
    }

    /// The weights in use.
    pub fn weights(&self) -> &OfflineWeights {
        &self.weights
    }

    /// The feature vector of every passage (in [`FEATURE_NAMES`] order): what the
    /// score is a weighted sum of, and what [`super::fit`] fits weights on.
    pub fn features(
        &self,
        query: &str,
        passages: &[RerankInput<'_>],
        cancel: &CancelToken,
    ) -> Result<Vec<[f32; N]>, RerankError> {
        if cancel.is_cancelled() {
            return Err(RerankError::Cancelled);
        }
        let query_vector = match &self.embedder {
            Some(e) if passages.iter().any(|p| p.embedding.is_some()) => e
                .embed_query(query)
                .map_err(|err| RerankError::Failed { reranker: self.name().into(), detail: err.to_string() })?
                .map(|v| v.vector),
            _ => None,
        };
        let fused = min_max(&passages.iter().map(|p| p.scores.fused).collect::<Vec<_>>());
        let bm25_present: Vec<f32> = passages.iter().filter_map(|p| p.scores.bm25).collect();
        let (b_lo, b_hi) =
            bm25_present.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
        let dense_floor = passages.iter().filter_map(|p| p.scores.dense).fold(f32::INFINITY, f32::min);
        let mut analyzer = self.analyzer.clone();
        let q = QueryTerms::new(&mut analyzer, &self.stop, query);
        let mut out = Vec::with_capacity(passages.len());
        for (i, p) in passages.iter().enumerate() {
            if i % 8 == 7 && cancel.is_cancelled() {
                return Err(RerankError::Cancelled);
            }
            let bm25 =
                p.scores
                    .bm25
                    .map_or(0.0, |b| if b_hi - b_lo > f32::EPSILON { (b - b_lo) / (b_hi - b_lo) } else { 1.0 });
            let dense = match (&query_vector, p.embedding) {
                (Some(qv), Some(e)) if e.len() == qv.len() => qv.iter().zip(e).map(|(a, b)| a * b).sum(),
                _ => p.scores.dense.unwrap_or(if dense_floor.is_finite() { dense_floor } else { 0.0 }),
            };
            let rr = |r: Option<usize>| r.map_or(0.0, |r| 1.0 / r.max(1) as f32);
            let lex = features::lexical(&mut analyzer, &q, p.title, p.heading_path, p.text);
            out.push([
                fused[i],
                bm25,
                dense,
                rr(p.ranks.bm25),
                rr(p.ranks.dense),
                lex.coverage,
                lex.title_coverage,
                lex.proximity,
                lex.ordered_pairs,
                lex.early,
                lex.length,
            ]);
        }
        Ok(out)
    }
}

fn unreachable_weights() -> OfflineReranker {
    // `fused_only` always validates.
    let mut analyzer = features::analyzer();
    let stop = features::stop_terms(&mut analyzer);
    OfflineReranker { embedder: None, weights: OfflineWeights::fused_only(), analyzer, stop }
}

impl Reranker for OfflineReranker {
    fn name(&self) -> &str {
        "offline-features-v1"
    }

    fn rerank(
        &self,
        query: &str,
        passages: &[RerankInput<'_>],
        budget: &RerankBudget,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>, RerankError> {
        budget.check(cancel, 0, passages.len())?;
        let feats = self.features(query, passages, cancel)?;
        Ok(feats.iter().map(|f| f.iter().zip(&self.weights.weights).map(|(x, w)| x * w).sum()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_weights_parse() {
        let w = OfflineWeights::from_json(OFFLINE_WEIGHTS_JSON).expect("shipped weights");
        assert_eq!(w.weights.len(), N);
        assert!(OfflineWeights::from_json("{\"version\":1,\"features\":[\"x\"],\"weights\":[1]}").is_err());
    }

    #[test]
    fn fused_only_weights_keep_the_fused_order() {
        let r = OfflineReranker::with_weights(None, OfflineWeights::fused_only()).expect("reranker");
        let mut a = RerankInput::text_only("refund window is thirty days");
        a.scores.fused = 0.2;
        let mut b = RerankInput::text_only("unrelated text");
        b.scores.fused = 0.9;
        let s = r.rerank("refund window", &[a, b], &RerankBudget::default(), &CancelToken::new()).expect("rerank");
        assert!(s[1] > s[0]);
        let cancel = CancelToken::new();
        cancel.cancel();
        assert!(matches!(r.rerank("q", &[a], &RerankBudget::default(), &cancel), Err(RerankError::Cancelled)));
    }
}
