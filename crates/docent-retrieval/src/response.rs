use serde::{Deserialize, Serialize};

use crate::{Confidence, SearchMode};

/// The score breakdown of a hit. A retriever's score is `None` when the chunk was not
/// among that retriever's candidates (or the retriever did not run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// BM25 score (tantivy, with the field boosts).
    pub bm25: Option<f32>,
    /// Cosine similarity of the query and chunk embeddings (vectors are normalised).
    pub dense: Option<f32>,
    /// The score the list is ordered by: the fused score in hybrid mode, else the
    /// single retriever's score.
    pub fused: f32,
    /// The reranker's raw score (`rerank` mode, the top `RerankConfig::top_n` hits);
    /// `None` when the hit was not reranked. The list is ordered by it, or by its blend
    /// with `fused` (`RerankConfig::weight`).
    pub rerank: Option<f32>,
}

/// Where a hit stood in each list (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranks {
    /// Rank among the BM25 candidates (after filters).
    pub bm25: Option<usize>,
    /// Rank among the dense candidates (after filters).
    pub dense: Option<usize>,
    /// Position in the returned list (after diversity and de-duplication).
    pub fused: usize,
}

/// One retrieved chunk, with everything needed to show and cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Link to the chunk: the page URL with the section `#anchor`.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Headings from the page title down to the chunk's section.
    pub heading_path: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// Id of the page (its canonical URL, without anchor).
    pub doc_id: String,
    /// Stable id of the chunk.
    pub chunk_id: String,
    /// Tags of the chunk.
    pub tags: Vec<String>,
    /// Score breakdown.
    pub scores: Scores,
    /// Rank breakdown.
    pub ranks: Ranks,
}

/// Milliseconds spent per stage of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Embedding the query (near zero on a cache hit).
    pub embed_ms: f64,
    /// True when the query vector came from the LRU cache.
    pub embed_cached: bool,
    /// BM25 search.
    pub bm25_ms: f64,
    /// True when BM25 ran on a pool thread beside the dense search
    /// ([`crate::Parallelism`]); its time then overlaps `dense_ms`.
    #[serde(default)]
    pub bm25_parallel: bool,
    /// Dense search.
    pub dense_ms: f64,
    /// Fusion of the candidate lists.
    pub fuse_ms: f64,
    /// Diversity, de-duplication and reading the stored chunks of the hits.
    pub fetch_ms: f64,
    /// Reranking the top hits (`rerank` mode only).
    #[serde(default)]
    pub rerank_ms: f64,
    /// The whole query, from taking the snapshot to the last hit.
    pub total_ms: f64,
}

/// The answer to a [`crate::SearchRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Hits, best first.
    pub hits: Vec<Hit>,
    /// The index generation every hit comes from.
    pub generation: u64,
    /// The mode that ran.
    pub mode: SearchMode,
    /// Time per stage.
    pub timings: Timings,
    /// Cosine similarity of the best dense candidate (after filters), `None` when the
    /// dense retriever did not run or found nothing. A raw, *uncalibrated* signal: it
    /// is the planned input of the "index cannot answer this" confidence, which is not
    /// built yet; do not read it as a probability.
    pub top_dense_cosine: Option<f32>,
    /// Whether the index can answer the query: a calibrated score and verdict
    /// ([`crate::confidence`]), computed for every search.
    #[serde(default)]
    pub confidence: Confidence,
}

impl SearchResponse {
    /// A response with no hits.
    pub(crate) fn empty(generation: u64, mode: SearchMode) -> Self {
        SearchResponse {
            hits: Vec::new(),
            generation,
            mode,
            timings: Timings::default(),
            top_dense_cosine: None,
            confidence: Confidence::none(),
        }
    }
}
