use docent_index::IndexError;

/// Everything that can go wrong opening an index for retrieval or answering a query.
///
/// Each variant says which bot, generation or stage it is about. User text never
/// causes an error: hostile queries search fine.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// Reading the bot's index failed (no index yet, I/O, a corrupt generation).
    #[error("bot `{bot}`: {action}: {source}")]
    Index {
        /// Bot id.
        bot: String,
        /// What we were doing ("opening generation 4", "reading CURRENT").
        action: String,
        /// The underlying index error.
        #[source]
        source: IndexError,
    },
    /// The generation's vectors come from another embedding model than the one that
    /// embeds queries: their similarities would be meaningless, so it is refused.
    #[error(
        "bot `{bot}` generation {generation} was built with embedding model `{index_model}` ({index_dim} dims) \
         but queries are embedded with `{query_model}` ({query_dim} dims); re-run `docent ingest` with this build"
    )]
    ModelMismatch {
        /// Bot id.
        bot: String,
        /// Generation refused.
        generation: u64,
        /// Model id written in the generation's manifest.
        index_model: String,
        /// Vector dimension of the generation.
        index_dim: usize,
        /// Model id of the query embedder.
        query_model: String,
        /// Vector dimension of the query embedder.
        query_dim: usize,
    },
    /// The generation's parts do not agree with each other (found while building the
    /// chunk table: missing ordinals, duplicate rows, a field that is not stored).
    #[error("bot `{bot}` generation {generation} is inconsistent: {detail}")]
    Corrupt {
        /// Bot id.
        bot: String,
        /// Generation concerned.
        generation: u64,
        /// What is wrong.
        detail: String,
    },
    /// Tantivy failed while reading a generation (not because of the query text).
    #[error("bot `{bot}` generation {generation}: {stage}: {source}")]
    Tantivy {
        /// Bot id.
        bot: String,
        /// Generation concerned.
        generation: u64,
        /// Stage that failed ("bm25 search", "building the chunk table").
        stage: &'static str,
        /// Tantivy's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The embedding model failed on the query.
    #[error("embedding the query failed: {source}")]
    Embed {
        /// The model's error.
        #[source]
        source: IndexError,
    },
    /// A stored chunk could not be read back for a hit.
    #[error("bot `{bot}` generation {generation}: reading chunk at row {ordinal}: {source}")]
    Fetch {
        /// Bot id.
        bot: String,
        /// Generation concerned.
        generation: u64,
        /// Vector row (chunk ordinal) of the hit.
        ordinal: u32,
        /// The index error.
        #[source]
        source: IndexError,
    },
    /// A request parameter outside its range (the query text itself is never invalid).
    #[error("invalid search request: {0}")]
    InvalidRequest(String),
    /// A search mode that this build cannot serve.
    #[error("search mode `{0}` is not available; use bm25, dense, hybrid or rerank")]
    ModeNotAvailable(String),
    /// A search mode name nobody knows.
    #[error("unknown search mode `{0}`: use bm25, dense, hybrid or rerank")]
    UnknownMode(String),
    /// `rerank` mode on a retriever without a reranker.
    #[error(
        "search mode `rerank` needs a reranker and none is configured: give a cross-encoder model directory \
         (`--reranker-model DIR` / DOCENT_RERANKER_MODEL) or attach one with `Retriever::with_reranker`"
    )]
    NoReranker,
    /// The reranking stage failed or was cancelled.
    #[error("reranking: {0}")]
    Rerank(#[from] crate::rerank::RerankError),
}
