//! Reranking: a second, more expensive look at the best fused candidates.
//!
//! A [`Reranker`] scores `(query, passage)` pairs; [`SearchMode::Rerank`] runs the hybrid
//! pipeline, hands the top [`RerankConfig::top_n`] selected hits to the retriever's
//! reranker and reorders them. Two implementations ship:
//!
//! - [`CrossEncoder`]: an ONNX cross-encoder (through fastembed's user-defined
//!   reranker) loaded from a directory the operator configures (`model.onnx` with an
//!   output named `logits`, plus the tokenizer files).
//! - [`OfflineReranker`]: needs no extra model. A linear blend of cheap features (the
//!   fused, BM25 and dense scores, query-term coverage, proximity and order, title and
//!   heading matches) with weights fitted on training queries and shipped in
//!   `offline-weights.json`.
//!
//! Reranking is bounded: only the top N candidates are scored, each passage is cut to
//! [`RerankBudget::max_passage_chars`] characters (and, for a cross-encoder, the pair to
//! [`RerankBudget::max_tokens`] tokens), and an optional deadline
//! ([`RerankConfig::timeout_ms`]) makes the retriever fall back to the fused order. A
//! [`CancelToken`] stops a running rerank between batches with
//! [`RerankError::Cancelled`].
//!
//! The reranked hits carry the reranker's raw score in [`Scores::rerank`]; the final
//! order is by that score, or by a blend with the fused score ([`RerankConfig::weight`]).
//!
//! [`SearchMode::Rerank`]: crate::SearchMode::Rerank

mod cross_encoder;
mod features;
pub mod fit;
mod offline;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use cross_encoder::{CrossEncoder, CrossEncoderOptions, CROSS_ENCODER_FILES};
pub use offline::{OfflineReranker, OfflineWeights, FEATURE_NAMES, OFFLINE_DEFAULT_ENABLED, OFFLINE_WEIGHTS_JSON};

use crate::{Hit, Ranks, Scores};

/// Default number of fused candidates a reranker sees.
pub const DEFAULT_TOP_N: usize = 20;
/// Largest `top_n` accepted.
pub const MAX_TOP_N: usize = 200;
/// Default cap on the characters of one passage given to a reranker.
pub const DEFAULT_MAX_PASSAGE_CHARS: usize = 1500;
/// Default cap on the tokens of one `(query, passage)` pair given to a cross-encoder.
pub const DEFAULT_MAX_TOKENS: usize = 256;
/// Characters of the query given to a reranker (longer pasted text is cut).
pub const MAX_QUERY_CHARS: usize = 1000;

/// Scores `(query, passage)` pairs; higher is more relevant.
///
/// Implementations must be cheap to share (`Send + Sync`, used behind an `Arc`), check
/// `cancel` (and `budget.deadline`) between units of work — [`RerankBudget::check`]
/// does both — and return exactly one finite score per passage, in input order.
pub trait Reranker: Send + Sync {
    /// A short name for logs and reports (`"offline-features-v1"`, `"cross-encoder:…"`).
    fn name(&self) -> &str;

    /// Score every passage for `query`. The passages are already cut to the budget's
    /// character limit; a model with a token window also applies `budget.max_tokens`.
    fn rerank(
        &self,
        query: &str,
        passages: &[RerankInput<'_>],
        budget: &RerankBudget,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>, RerankError>;
}

/// One candidate passage, with what the first stage knew about it.
#[derive(Debug, Clone, Copy)]
pub struct RerankInput<'a> {
    /// The chunk text (already cut to [`RerankBudget::max_passage_chars`]).
    pub text: &'a str,
    /// Page title.
    pub title: &'a str,
    /// Headings from the page title down to the chunk's section.
    pub heading_path: &'a [String],
    /// First-stage scores (`rerank` is `None`).
    pub scores: Scores,
    /// First-stage ranks (`fused` is the position in the candidate list).
    pub ranks: Ranks,
    /// The chunk's stored embedding (same model as the query embedder), when known.
    pub embedding: Option<&'a [f32]>,
}

impl<'a> RerankInput<'a> {
    /// A passage with only text (scores zero, no ranks, no embedding): for calling a
    /// reranker directly.
    pub fn text_only(text: &'a str) -> Self {
        RerankInput {
            text,
            title: "",
            heading_path: &[],
            scores: Scores { bm25: None, dense: None, fused: 0.0, rerank: None },
            ranks: Ranks { bm25: None, dense: None, fused: 0 },
            embedding: None,
        }
    }
}

/// Limits of one rerank call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RerankBudget {
    /// Tokens of one `(query, passage)` pair at most (a cross-encoder truncates to this;
    /// the model's own limit still applies when smaller).
    pub max_tokens: usize,
    /// Characters of one passage at most (the caller cuts the text; see [`truncate_chars`]).
    pub max_passage_chars: usize,
    /// Stop with [`RerankError::DeadlineExceeded`] when this instant passes.
    pub deadline: Option<Instant>,
}

impl Default for RerankBudget {
    fn default() -> Self {
        RerankBudget { max_tokens: DEFAULT_MAX_TOKENS, max_passage_chars: DEFAULT_MAX_PASSAGE_CHARS, deadline: None }
    }
}

impl RerankBudget {
    /// The budget of a [`RerankConfig`], with the deadline counted from `start`.
    pub fn from_config(config: &RerankConfig, start: Instant) -> Self {
        RerankBudget {
            max_tokens: config.max_tokens,
            max_passage_chars: config.max_passage_chars,
            deadline: config.timeout_ms.map(|ms| start + std::time::Duration::from_millis(ms)),
        }
    }

    /// Between two units of work: `Cancelled` when `cancel` is set, `DeadlineExceeded`
    /// when the deadline has passed (`scored` of `total` passages done so far).
    pub fn check(&self, cancel: &CancelToken, scored: usize, total: usize) -> Result<(), RerankError> {
        if cancel.is_cancelled() {
            return Err(RerankError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(RerankError::DeadlineExceeded { scored, total });
        }
        Ok(())
    }
}

/// A cancellation flag shared between the caller and a running rerank (clones share it).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every holder of this token (and its clones) to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// True once [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Reranking settings of a retriever.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RerankConfig {
    /// Fused candidates (after diversity and de-duplication) given to the reranker.
    pub top_n: usize,
    /// Characters of one passage at most.
    pub max_passage_chars: usize,
    /// Tokens of one `(query, passage)` pair at most (cross-encoders).
    pub max_tokens: usize,
    /// Time allowed for the rerank call; when it runs out the hits keep their fused order
    /// (no `rerank` score) and a warning is logged. `None`: no deadline.
    pub timeout_ms: Option<u64>,
    /// Weight of the rerank score in the final order, in `[0, 1]`. `1.0`: order by the
    /// reranker's score alone; below, by `weight × r + (1 − weight) × f` where `r` and
    /// `f` are the rerank and fused scores min-max normalised over the reranked hits.
    pub weight: f32,
}

impl Default for RerankConfig {
    fn default() -> Self {
        RerankConfig {
            top_n: DEFAULT_TOP_N,
            max_passage_chars: DEFAULT_MAX_PASSAGE_CHARS,
            max_tokens: DEFAULT_MAX_TOKENS,
            timeout_ms: None,
            weight: 1.0,
        }
    }
}

impl RerankConfig {
    /// Check the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.top_n == 0 || self.top_n > MAX_TOP_N {
            return Err(format!("rerank top_n = {} must be between 1 and {MAX_TOP_N}", self.top_n));
        }
        if self.max_passage_chars == 0 || self.max_tokens < 8 {
            return Err(format!(
                "rerank limits too small: max_passage_chars = {}, max_tokens = {} (at least 8)",
                self.max_passage_chars, self.max_tokens
            ));
        }
        if !(self.weight.is_finite() && (0.0..=1.0).contains(&self.weight)) {
            return Err(format!("rerank weight = {} must be in [0, 1]", self.weight));
        }
        Ok(())
    }
}

/// Why a rerank failed.
#[derive(Debug, thiserror::Error)]
pub enum RerankError {
    /// The caller cancelled the search.
    #[error("reranking was cancelled")]
    Cancelled,
    /// The deadline passed before every passage was scored.
    #[error("reranking ran out of time after {scored} of {total} passages")]
    DeadlineExceeded {
        /// Passages scored before the deadline.
        scored: usize,
        /// Passages asked for.
        total: usize,
    },
    /// A reranker model directory is missing a file or holds an unusable model.
    #[error("reranker model {}: {detail}", dir.display())]
    InvalidModel {
        /// The directory configured.
        dir: PathBuf,
        /// What is wrong, and what was expected.
        detail: String,
    },
    /// The reranker failed while scoring.
    #[error("reranker `{reranker}` failed: {detail}")]
    Failed {
        /// [`Reranker::name`].
        reranker: String,
        /// The underlying error.
        detail: String,
    },
}

/// Cut `text` to at most `max_chars` characters, at the last whitespace of the kept part
/// when there is one in its second half (so a word is not split), and never inside a
/// UTF-8 sequence.
pub fn truncate_chars(text: &str, max_chars: usize) -> &str {
    let Some((cut, _)) = text.char_indices().nth(max_chars) else { return text };
    let head = &text[..cut];
    match head.rfind(char::is_whitespace) {
        Some(ws) if ws >= cut / 2 => head[..ws].trim_end(),
        _ => head,
    }
}

/// The reranking stage of a search: score the first `config.top_n` hits, reorder them,
/// keep the rest (if any) after them in fused order, cut to `k` and renumber
/// `ranks.fused`. `embeddings[i]` is the stored vector of `hits[i]`, when known.
///
/// A passed deadline leaves the fused order (no rerank scores); cancellation and
/// reranker failures are errors.
pub(crate) fn rerank_hits(
    reranker: &dyn Reranker,
    query: &str,
    mut hits: Vec<Hit>,
    embeddings: &[Option<&[f32]>],
    config: &RerankConfig,
    cancel: &CancelToken,
    k: usize,
) -> Result<Vec<Hit>, RerankError> {
    let start = Instant::now();
    let budget = RerankBudget::from_config(config, start);
    let n = hits.len().min(config.top_n);
    let _span = tracing::debug_span!("rerank", reranker = reranker.name(), n).entered();
    if n > 0 {
        let query = truncate_chars(query, MAX_QUERY_CHARS);
        let inputs: Vec<RerankInput<'_>> = hits[..n]
            .iter()
            .enumerate()
            .map(|(i, h)| RerankInput {
                text: truncate_chars(&h.text, config.max_passage_chars),
                title: &h.title,
                heading_path: &h.heading_path,
                scores: h.scores,
                ranks: h.ranks,
                embedding: embeddings.get(i).copied().flatten(),
            })
            .collect();
        match budget.check(cancel, 0, n).and_then(|()| reranker.rerank(query, &inputs, &budget, cancel)) {
            Ok(scores) => {
                if scores.len() != n || scores.iter().any(|s| !s.is_finite()) {
                    return Err(RerankError::Failed {
                        reranker: reranker.name().to_string(),
                        detail: format!(
                            "returned {} scores for {n} passages (or a score that is not finite)",
                            scores.len()
                        ),
                    });
                }
                let order = blended_order(&scores, &hits[..n], config.weight);
                let mut head: Vec<Option<Hit>> = hits.drain(..n).map(Some).collect();
                let mut reordered: Vec<Hit> = Vec::with_capacity(hits.len() + n);
                for i in order {
                    if let Some(mut h) = head[i].take() {
                        h.scores.rerank = Some(scores[i]);
                        reordered.push(h);
                    }
                }
                reordered.append(&mut hits);
                hits = reordered;
            }
            Err(RerankError::DeadlineExceeded { scored, total }) => {
                tracing::warn!(
                    reranker = reranker.name(),
                    scored,
                    total,
                    "rerank deadline passed; keeping the fused order"
                );
            }
            Err(e) => return Err(e),
        }
    }
    hits.truncate(k);
    for (i, h) in hits.iter_mut().enumerate() {
        h.ranks.fused = i + 1;
    }
    Ok(hits)
}

/// Indices of `hits` best first by the blended score (ties: earlier fused position).
fn blended_order(scores: &[f32], hits: &[Hit], weight: f32) -> Vec<usize> {
    let key: Vec<f32> = if weight >= 1.0 {
        scores.to_vec()
    } else {
        let r = min_max(scores);
        let fused: Vec<f32> = hits.iter().map(|h| h.scores.fused).collect();
        let f = min_max(&fused);
        r.iter().zip(&f).map(|(r, f)| weight * r + (1.0 - weight) * f).collect()
    };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
    order
}

/// Min-max normalisation to `[0, 1]` (all-equal values map to 1).
pub(crate) fn min_max(v: &[f32]) -> Vec<f32> {
    let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let span = hi - lo;
    v.iter().map(|&x| if span > f32::EPSILON * hi.abs().max(1.0) { (x - lo) / span } else { 1.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries_and_words() {
        assert_eq!(truncate_chars("short", 10), "short");
        assert_eq!(truncate_chars("alpha beta gamma", 12), "alpha beta");
        assert_eq!(truncate_chars("ééééé", 3), "ééé");
        assert_eq!(truncate_chars("abcdefghij klm", 8), "abcdefgh");
        let long = "word ".repeat(1000);
        assert!(truncate_chars(&long, 100).chars().count() <= 100);
    }

    #[test]
    fn budget_check_reports_cancel_then_deadline() {
        let cancel = CancelToken::new();
        let mut budget = RerankBudget::default();
        assert!(budget.check(&cancel, 0, 3).is_ok());
        budget.deadline = Some(Instant::now());
        assert!(matches!(budget.check(&cancel, 1, 3), Err(RerankError::DeadlineExceeded { scored: 1, total: 3 })));
        let clone = cancel.clone();
        clone.cancel();
        assert!(cancel.is_cancelled());
        assert!(matches!(budget.check(&cancel, 0, 3), Err(RerankError::Cancelled)));
    }

    #[test]
    fn blend_weight_mixes_rerank_and_fused() {
        let hit = |fused: f32| Hit {
            url: String::new(),
            title: String::new(),
            heading_path: vec![],
            text: String::new(),
            doc_id: String::new(),
            chunk_id: String::new(),
            tags: vec![],
            scores: Scores { bm25: None, dense: None, fused, rerank: None },
            ranks: Ranks { bm25: None, dense: None, fused: 0 },
        };
        let hits = vec![hit(1.0), hit(0.5), hit(0.0)];
        // Rerank prefers the last; fused the first.
        let scores = [0.0, 0.4, 1.0];
        assert_eq!(blended_order(&scores, &hits, 1.0), vec![2, 1, 0]);
        assert_eq!(blended_order(&scores, &hits, 0.0), vec![0, 1, 2]);
        // 0.5 × r + 0.5 × f = 0.5, 0.45, 0.5: ties keep the fused position.
        assert_eq!(blended_order(&scores, &hits, 0.5), vec![0, 2, 1]);
        assert!(RerankConfig { weight: 1.5, ..RerankConfig::default() }.validate().is_err());
        assert!(RerankConfig { top_n: 0, ..RerankConfig::default() }.validate().is_err());
        assert!(RerankConfig::default().validate().is_ok());
    }
}
