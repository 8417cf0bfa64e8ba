//! Running evaluation queries through a [`Retriever`] and averaging the metrics.
//!
//! Every number goes through the public search API, so it measures what a caller
//! gets. Per query and [`Variant`]:
//!
//! - the @10 metrics read a `k = 10` request with one chunk per document (documents
//!   ranked by their best chunk), at the retriever's normal candidate depth — the
//!   depth a user's 10-hit query runs with, which matters for the weighted fusion
//!   (min-max normalisation is over the candidates);
//! - Recall@100 reads a `k = 100` request (candidate depth raised to `4 × k`);
//! - with [`RunOptions::chunk_level`], a default `k = 5` request (the default
//!   diversity, as a generator would see it) gives the section hit rate
//!   (`hit.url == expected_url#anchor`), the page hit@5 and the confidence.

use std::time::Instant;

use serde::Serialize;

use crate::eval::metrics::{dedup_ranked, hit_at_k, MetricsMean, Qrels, QueryMetrics};
use crate::{
    build_followup_query_with, Confidence, FollowupConfig, FusionConfig, RetrievalError, Retriever, SearchMode,
    SearchRequest, SearchResponse,
};

/// How one row of the table searches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// Row label ("bm25", "hybrid rrf k=60", …).
    pub name: String,
    /// Search mode.
    pub mode: SearchMode,
    /// Fusion override (`None`: the retriever's configuration).
    pub fusion: Option<FusionConfig>,
    /// Candidate depth override per retriever (`None`: the retriever's).
    pub candidates: Option<usize>,
    /// False for a row that cannot run in this build (printed as "n/a").
    pub available: bool,
}

impl Variant {
    /// A mode with the retriever's own settings.
    pub fn mode(name: impl Into<String>, mode: SearchMode) -> Self {
        Variant { name: name.into(), mode, fusion: None, candidates: None, available: true }
    }

    /// Hybrid with an explicit fusion.
    pub fn fused(name: impl Into<String>, fusion: FusionConfig) -> Self {
        Variant { fusion: Some(fusion), ..Self::mode(name, SearchMode::Hybrid) }
    }

    /// A row that is reported as not available.
    pub fn unavailable(name: impl Into<String>) -> Self {
        Variant { available: false, ..Self::mode(name, SearchMode::Hybrid) }
    }

    /// With an explicit candidate depth.
    pub fn with_candidates(mut self, n: usize) -> Self {
        self.candidates = Some(n);
        self
    }

    /// The request of this variant for `query` with `k` hits, one chunk per document.
    pub fn doc_request(&self, query: &str, k: usize) -> SearchRequest {
        let mut r = SearchRequest::new(query).with_k(k).with_mode(self.mode).with_max_per_doc(1);
        r.fusion = self.fusion;
        r.candidates = self.candidates;
        r
    }

    /// The request of this variant for `query` with `k` hits and the default diversity.
    pub fn chunk_request(&self, query: &str, k: usize) -> SearchRequest {
        let mut r = SearchRequest::new(query).with_k(k).with_mode(self.mode);
        r.fusion = self.fusion;
        r.candidates = self.candidates;
        r
    }
}

/// One query to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalQuery {
    /// Query id.
    pub id: String,
    /// The text (the current turn for a follow-up).
    pub text: String,
    /// Earlier user turns, oldest first (used when [`RunOptions::history`] is set).
    pub history: Vec<String>,
    /// Judgments (document id → grade). Empty for an unanswerable question.
    pub qrels: Qrels,
    /// `url#anchor` of the answering section, when known.
    pub section_url: Option<String>,
    /// Label for the confidence model: the index holds the answer.
    pub answerable: bool,
}

/// Options of [`run_variant`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunOptions {
    /// Search with each query's history (a follow-up plan, like
    /// [`Retriever::search_with_history`]).
    pub history: bool,
    /// Weights of the follow-up plan when `history` is set.
    pub followup: FollowupConfig,
    /// Also run the `k = 5` chunk-level request (section hits, hit@5, confidence).
    pub chunk_level: bool,
}

/// What one query gave under one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryOutcome {
    /// Query id.
    pub id: String,
    /// Metrics (all 0 for a query without judgments).
    pub metrics: QueryMetrics,
    /// Top 10 document ids.
    pub top10: Vec<String>,
    /// Page hit within the 5 chunk-level hits (chunk-level runs only).
    pub page_hit_at_5: Option<bool>,
    /// Section hit within the 5 chunk-level hits (chunk-level runs, known anchors only).
    pub section_hit_at_5: Option<bool>,
    /// Confidence of the chunk-level search (chunk-level runs only).
    pub confidence: Option<Confidence>,
    /// Milliseconds of the `k = 10` search, excluding the query embedding.
    pub search_ms: f64,
}

/// The mean metrics of a variant over the judged queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    /// The variant.
    pub variant: Variant,
    /// Judged queries averaged.
    pub queries: usize,
    /// Means over judged queries (`None` when the variant is not available).
    pub mean: Option<QueryMetrics>,
    /// Page hit@5 over judged queries (chunk-level runs).
    pub page_hit_at_5: Option<f64>,
    /// Section hit@5 over judged queries with a known anchor (chunk-level runs).
    pub section_hit_at_5: Option<f64>,
    /// Queries with a known anchor.
    pub section_queries: usize,
    /// Median search time (excluding embedding) of the `k = 10` requests, ms.
    pub search_p50_ms: f64,
    /// Per query, in input order.
    #[serde(skip)]
    pub per_query: Vec<QueryOutcome>,
}

impl VariantResult {
    /// The outcome of a query by id.
    pub fn outcome(&self, id: &str) -> Option<&QueryOutcome> {
        self.per_query.iter().find(|o| o.id == id)
    }
}

fn search(
    retriever: &Retriever,
    q: &EvalQuery,
    request: &SearchRequest,
    options: &RunOptions,
) -> Result<SearchResponse, RetrievalError> {
    if options.history && !q.history.is_empty() {
        let turns: Vec<&str> = q.history.iter().map(String::as_str).collect();
        retriever.search_plan(request, &build_followup_query_with(&turns, &q.text, &options.followup))
    } else {
        retriever.search(request)
    }
}

/// Evaluate one variant over `queries`. `progress(done, total)` is called after each query.
pub fn run_variant(
    retriever: &Retriever,
    variant: &Variant,
    queries: &[EvalQuery],
    options: RunOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VariantResult, RetrievalError> {
    let mut result = VariantResult {
        variant: variant.clone(),
        queries: 0,
        mean: None,
        page_hit_at_5: None,
        section_hit_at_5: None,
        section_queries: 0,
        search_p50_ms: 0.0,
        per_query: Vec::with_capacity(queries.len()),
    };
    if !variant.available {
        return Ok(result);
    }
    let mut mean = MetricsMean::default();
    let (mut page_hits, mut section_hits, mut judged, mut sections) = (0usize, 0usize, 0usize, 0usize);
    let mut times = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let r10 = search(retriever, q, &variant.doc_request(&q.text, 10), &options)?;
        times.push((t.elapsed().as_secs_f64() * 1000.0 - r10.timings.embed_ms).max(0.0));
        let r100 = search(retriever, q, &variant.doc_request(&q.text, 100), &options)?;
        let top10 = dedup_ranked(r10.hits.iter().map(|h| h.doc_id.as_str()));
        let top100 = dedup_ranked(r100.hits.iter().map(|h| h.doc_id.as_str()));
        let metrics = QueryMetrics::of(&top10, &top100, &q.qrels);
        let has_judgments = q.qrels.values().any(|&g| g > 0);
        if has_judgments {
            mean.add(metrics);
            judged += 1;
        }
        let mut outcome = QueryOutcome {
            id: q.id.clone(),
            metrics,
            top10,
            page_hit_at_5: None,
            section_hit_at_5: None,
            confidence: None,
            search_ms: *times.last().unwrap_or(&0.0),
        };
        if options.chunk_level {
            let r5 = search(retriever, q, &variant.chunk_request(&q.text, 5), &options)?;
            let pages: Vec<&str> = r5.hits.iter().map(|h| h.doc_id.as_str()).collect();
            let page_hit = hit_at_k(&pages, &q.qrels, 5) > 0.0;
            outcome.page_hit_at_5 = Some(page_hit);
            if has_judgments && page_hit {
                page_hits += 1;
            }
            if let Some(want) = &q.section_url {
                let hit = r5.hits.iter().any(|h| &h.url == want);
                outcome.section_hit_at_5 = Some(hit);
                sections += 1;
                section_hits += usize::from(hit);
            }
            outcome.confidence = Some(r5.confidence);
        }
        result.per_query.push(outcome);
        progress(i + 1, queries.len());
    }
    result.queries = judged;
    result.mean = Some(mean.mean());
    if options.chunk_level && judged > 0 {
        result.page_hit_at_5 = Some(page_hits as f64 / judged as f64);
    }
    if sections > 0 {
        result.section_hit_at_5 = Some(section_hits as f64 / sections as f64);
    }
    result.section_queries = sections;
    times.sort_by(f64::total_cmp);
    result.search_p50_ms = times.get(times.len() / 2).copied().unwrap_or(0.0);
    Ok(result)
}
