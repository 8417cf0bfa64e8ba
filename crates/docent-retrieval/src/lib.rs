//! Docent's retrieval: a query in, ranked chunks with their score breakdown out.
//!
//! A [`Retriever`] serves one bot. It holds the bot's live index generation as an
//! immutable [`Snapshot`] behind an atomic pointer and answers a [`SearchRequest`]:
//!
//! 1. **BM25** over title, headings and body with per-field boosts. The user's text is
//!    tokenized by each field's own analyzer and turned into term queries; it is never
//!    parsed as query syntax, so no string can make a query fail.
//! 2. **Dense**: the query is embedded (LRU-cached) and compared with every chunk
//!    vector by an exact, SIMD-friendly scan ([`dense::DenseIndex`] is the seam for an
//!    approximate index).
//! 3. **Fusion** of the two candidate lists: reciprocal rank fusion or a weighted blend
//!    of normalised scores ([`FusionConfig`]).
//! 4. **Selection**: at most N chunks per page, near-duplicates removed; filters (URL
//!    prefix, tags) apply inside both retrievers, before their top-k cut.
//! 5. **Rerank** ([`SearchMode::Rerank`]): the top selected hits are rescored by the
//!    retriever's [`Reranker`] (a cross-encoder or the offline default, see [`rerank`]).
//!
//! Every [`Hit`] carries text, title, URL with anchor, heading path, and [`Scores`] and
//! [`Ranks`] per retriever. [`Retriever::reload_if_changed`] picks up a newly published
//! generation; queries in flight finish on the one they started with.
//!
//! ```no_run
//! use docent_index::{BotDir, Embedder, EmbedderOptions, ModelFiles};
//! use docent_retrieval::{Retriever, SearchMode, SearchRequest};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bot = BotDir::new("data", "docs")?;
//! let embedder = Embedder::load(&ModelFiles::locate(None)?, EmbedderOptions::default())?;
//! let retriever = Retriever::open(&bot, embedder)?;
//! let response = retriever.search(&SearchRequest::new("how do refunds work?").with_k(5))?;
//! for hit in &response.hits {
//!     println!("{:.4} {} {}", hit.scores.fused, hit.title, hit.url);
//! }
//! // Later, e.g. on a timer: swap in a newly published generation.
//! retriever.reload_if_changed()?;
//! # let _ = SearchMode::Bm25;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bm25;
mod chunk_table;
pub mod confidence;
pub mod dense;
mod error;
pub mod eval;
pub mod followup;
pub mod fusion;
mod query_embedder;
mod request;
pub mod rerank;
mod response;
mod retriever;
mod rowset;
mod scored;
mod select;
mod snapshot;

pub use bm25::{Bm25Config, DEFAULT_MAX_TERMS, STOP_WORDS};
pub use confidence::{Confidence, ConfidenceFeatures, ConfidenceModels, LogisticModel};
pub use error::RetrievalError;
pub use followup::{build_followup_query, build_followup_query_with, ContextTurn, FollowupConfig, QueryPlan};
pub use fusion::{FusionConfig, DEFAULT_RRF_K};
pub use query_embedder::{QueryEmbedder, QueryVector, DEFAULT_QUERY_CACHE, MAX_EMBED_CHARS};
pub use request::{Filters, SearchMode, SearchRequest, MAX_CANDIDATES, MAX_K};
pub use rerank::{CancelToken, RerankConfig, RerankError, Reranker};
pub use response::{Hit, Ranks, Scores, SearchResponse, Timings};
pub use retriever::{
    Parallelism, ReloadOutcome, Retriever, RetrieverConfig, DEFAULT_CANDIDATES, DEFAULT_NEAR_DUPLICATE,
    DEFAULT_PARALLEL_FROM_CHUNKS,
};
pub use rowset::RowSet;
pub use scored::Scored;
pub use snapshot::Snapshot;
