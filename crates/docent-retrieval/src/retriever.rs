//! The retriever: the live snapshot of a bot behind an atomic pointer, hot reload,
//! and the query pipeline (embed → BM25 ∥ dense → fuse → select).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use docent_index::{BotDir, Embedder, IndexError};
use serde::{Deserialize, Serialize};
use tracing::{debug_span, info, info_span, warn};

use crate::dense::{AnnConfig, ExactConfig};
use crate::fusion::{self, Source};
use crate::query_embedder::DEFAULT_QUERY_CACHE;
use crate::rerank::{self, CancelToken, OfflineReranker, RerankConfig, Reranker, OFFLINE_DEFAULT_ENABLED};
use crate::select::{select_with_ordinals, Selection};
use crate::{
    bm25, Bm25Config, FusionConfig, QueryEmbedder, QueryVector, RetrievalError, Scored, SearchMode, SearchRequest,
    SearchResponse, Snapshot,
};

/// Default candidates taken from each retriever before fusion.
pub const DEFAULT_CANDIDATES: usize = 50;
/// Default word-set Jaccard similarity from which two chunks count as duplicates.
pub const DEFAULT_NEAR_DUPLICATE: f32 = 0.9;
/// How often [`Retriever::reload_if_changed`] retries when the generation named by
/// `CURRENT` disappears while it is being opened (a writer published twice meanwhile).
const OPEN_ATTEMPTS: usize = 4;

/// Retrieval settings of a bot (per-request overrides live in [`SearchRequest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieverConfig {
    /// Fusion used in hybrid mode.
    pub fusion: FusionConfig,
    /// Candidates per retriever before fusion (raised to `4 × k` for large `k`).
    pub candidates: usize,
    /// BM25 boosts and term cap.
    pub bm25: Bm25Config,
    /// Exact dense scan settings.
    pub dense: ExactConfig,
    /// Approximate dense index: when generations get one, and its parameters.
    #[serde(default)]
    pub ann: AnnConfig,
    /// Word-set Jaccard similarity at or above which a chunk is dropped as a near
    /// duplicate of a better hit (above 1.0: only identical chunks).
    pub near_duplicate: f32,
    /// Reranking limits and blend (`rerank` mode).
    #[serde(default)]
    pub rerank: RerankConfig,
    /// Whether hybrid and rerank searches run BM25 on a pool thread while this thread
    /// embeds the query and searches densely ([`Parallelism`]).
    #[serde(default)]
    pub parallel: Parallelism,
}

/// Default [`Parallelism::FromChunks`]: the index size from which BM25 runs beside
/// the dense search (docs/BENCHMARKS.md, "Parallel halves").
pub const DEFAULT_PARALLEL_FROM_CHUNKS: usize = 500_000;

/// When a hybrid search runs its two halves at once: BM25 on a rayon pool thread,
/// the query embedding and the dense search on the caller's thread.
///
/// Below a few hundred thousand chunks each half takes a fraction of a millisecond
/// and waking a pool thread costs about as much as it saves (on the 2-core
/// benchmark machine with other work running, parallel p99 was 6.8 ms against 2.6
/// serial at 100k); at 1M each half takes milliseconds, and running them side by side
/// takes the slower half's time instead of the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parallelism {
    /// Always one after the other on the caller's thread.
    Serial,
    /// Always side by side.
    Parallel,
    /// Side by side when the snapshot has at least this many chunks.
    FromChunks(usize),
}

impl Default for Parallelism {
    fn default() -> Self {
        Parallelism::FromChunks(DEFAULT_PARALLEL_FROM_CHUNKS)
    }
}

impl Parallelism {
    /// True when a hybrid search over `chunks` chunks runs its halves side by side.
    pub fn applies_to(self, chunks: usize) -> bool {
        match self {
            Parallelism::Serial => false,
            Parallelism::Parallel => true,
            Parallelism::FromChunks(n) => chunks >= n,
        }
    }
}

impl Default for RetrieverConfig {
    fn default() -> Self {
        RetrieverConfig {
            fusion: FusionConfig::default(),
            candidates: DEFAULT_CANDIDATES,
            bm25: Bm25Config::default(),
            dense: ExactConfig::default(),
            ann: AnnConfig::default(),
            near_duplicate: DEFAULT_NEAR_DUPLICATE,
            rerank: RerankConfig::default(),
            parallel: Parallelism::default(),
        }
    }
}

/// What [`Retriever::reload_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// `CURRENT` still names the live generation (or names nothing).
    Unchanged {
        /// The live generation.
        generation: u64,
    },
    /// A new generation is live; queries already running finish on the old one.
    Swapped {
        /// The generation replaced.
        from: u64,
        /// The generation now live.
        to: u64,
    },
}

/// Answers queries for one bot over its live index generation.
///
/// The live [`Snapshot`] sits behind an atomic pointer: every query takes one `Arc` of
/// it at its start and uses only that, so it never mixes two generations, and
/// [`Retriever::reload_if_changed`] swaps in a newly published one without blocking
/// queries. `Retriever` is `Send + Sync`; share it in an `Arc`.
pub struct Retriever {
    bot: BotDir,
    embedder: Arc<QueryEmbedder>,
    config: RetrieverConfig,
    live: ArcSwap<Snapshot>,
    reload: Mutex<()>,
    reranker: Option<Arc<dyn Reranker>>,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever")
            .field("bot", &self.bot.bot())
            .field("generation", &self.generation())
            .field("embedder", &self.embedder)
            .field("reranker", &self.reranker.as_ref().map(|r| r.name()))
            .finish()
    }
}

impl Retriever {
    /// Open the bot's live generation with one query model and the default settings.
    ///
    /// Fails with [`RetrievalError::ModelMismatch`] when the generation was built by
    /// another model than `embedder`, and with [`RetrievalError::Index`] when the bot
    /// has no index yet. For query latency, load the embedder with one intra-op thread
    /// (`EmbedderOptions { threads: Some(1), .. }`): a single short query is ~3× faster
    /// that way than with two threads on a 2-core machine.
    pub fn open(bot: &BotDir, embedder: Embedder) -> Result<Self, RetrievalError> {
        Self::open_with(bot, Arc::new(QueryEmbedder::new(embedder, DEFAULT_QUERY_CACHE)), RetrieverConfig::default())
    }

    /// Open with a shared query embedder and explicit settings.
    pub fn open_with(
        bot: &BotDir,
        embedder: Arc<QueryEmbedder>,
        config: RetrieverConfig,
    ) -> Result<Self, RetrievalError> {
        config.fusion.validate()?;
        if config.candidates == 0 {
            return Err(RetrievalError::InvalidRequest("candidates must be at least 1".into()));
        }
        config.rerank.validate().map_err(RetrievalError::InvalidRequest)?;
        let snapshot = open_live(bot, &embedder, &config)?;
        let reranker: Option<Arc<dyn Reranker>> = if OFFLINE_DEFAULT_ENABLED {
            Some(Arc::new(OfflineReranker::new(Some(Arc::clone(&embedder)))))
        } else {
            None
        };
        Ok(Retriever {
            bot: bot.clone(),
            embedder,
            config,
            live: ArcSwap::from_pointee(snapshot),
            reload: Mutex::new(()),
            reranker,
        })
    }

    /// Use `reranker` for [`SearchMode::Rerank`] (a [`rerank::CrossEncoder`], the
    /// [`rerank::OfflineReranker`], or your own [`Reranker`]).
    pub fn with_reranker(mut self, reranker: Arc<dyn Reranker>) -> Self {
        self.reranker = Some(reranker);
        self
    }

    /// No reranker: `rerank` mode fails with [`RetrievalError::NoReranker`].
    pub fn without_reranker(mut self) -> Self {
        self.reranker = None;
        self
    }

    /// The reranker of `rerank` mode, if any (by default the offline reranker when
    /// [`OFFLINE_DEFAULT_ENABLED`]).
    pub fn reranker(&self) -> Option<&Arc<dyn Reranker>> {
        self.reranker.as_ref()
    }

    /// The live generation number.
    pub fn generation(&self) -> u64 {
        self.live.load().generation()
    }

    /// The live snapshot (hold it to run several queries on one generation).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    /// The settings.
    pub fn config(&self) -> &RetrieverConfig {
        &self.config
    }

    /// The query embedder.
    pub fn embedder(&self) -> &Arc<QueryEmbedder> {
        &self.embedder
    }

    /// Read the bot's `CURRENT`; when it names another generation than the live one,
    /// open that generation and atomically make it live. Queries in flight keep the
    /// snapshot they started with. On error (for instance a generation built by
    /// another model) the live snapshot stays as it is.
    pub fn reload_if_changed(&self) -> Result<ReloadOutcome, RetrievalError> {
        let _guard = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.generation();
        let named = self.bot.current().map_err(|source| index_error(&self.bot, "reading CURRENT", source))?;
        match named {
            None => {
                warn!(bot = self.bot.bot(), live, "CURRENT is gone; keeping the live generation");
                Ok(ReloadOutcome::Unchanged { generation: live })
            }
            Some(n) if n == live => Ok(ReloadOutcome::Unchanged { generation: live }),
            Some(_) => {
                let snapshot = open_live(&self.bot, &self.embedder, &self.config)?;
                let to = snapshot.generation();
                if to == live {
                    return Ok(ReloadOutcome::Unchanged { generation: live });
                }
                self.live.store(Arc::new(snapshot));
                info!(bot = self.bot.bot(), from = live, to, "generation swapped");
                Ok(ReloadOutcome::Swapped { from: live, to })
            }
        }
    }

    /// Answer a query on the live generation.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, RetrievalError> {
        let snapshot = self.live.load_full();
        self.search_in(&snapshot, request)
    }

    /// Answer a query on the live generation; `cancel` stops the rerank stage between
    /// batches with [`rerank::RerankError::Cancelled`] (the other stages take
    /// milliseconds and are not interrupted).
    pub fn search_with_cancel(
        &self,
        request: &SearchRequest,
        cancel: &CancelToken,
    ) -> Result<SearchResponse, RetrievalError> {
        let snapshot = self.live.load_full();
        self.search_in_with_cancel(&snapshot, request, cancel)
    }

    /// Answer a query on a given snapshot (one taken from [`Retriever::snapshot`]).
    pub fn search_in(&self, snapshot: &Snapshot, request: &SearchRequest) -> Result<SearchResponse, RetrievalError> {
        self.search_in_with_cancel(snapshot, request, &CancelToken::new())
    }

    /// [`Retriever::search_in`] with a cancellation token ([`Retriever::search_with_cancel`]).
    pub fn search_in_with_cancel(
        &self,
        snapshot: &Snapshot,
        request: &SearchRequest,
        cancel: &CancelToken,
    ) -> Result<SearchResponse, RetrievalError> {
        self.search_impl(snapshot, request, cancel, None, None)
    }

    /// A search whose BM25 query and query vector come from `plan` (a follow-up query
    /// built by [`crate::followup`]) instead of `request.query`.
    pub(crate) fn search_planned(
        &self,
        snapshot: &Snapshot,
        request: &SearchRequest,
        plan: &crate::followup::QueryPlan,
    ) -> Result<SearchResponse, RetrievalError> {
        self.search_impl(snapshot, request, &CancelToken::new(), None, Some(plan))
    }

    /// [`Retriever::search_in`] with the query's embedding already computed: the query
    /// embedder is not called (`timings.embed_ms` is 0), everything else is the same.
    /// For benchmarks that time search apart from embedding, and for callers that
    /// embed elsewhere. `vector` must have the generation's dimension.
    pub fn search_with_vector(
        &self,
        snapshot: &Snapshot,
        request: &SearchRequest,
        vector: &[f32],
    ) -> Result<SearchResponse, RetrievalError> {
        let dim = snapshot.index().vectors().dim();
        if vector.len() != dim {
            return Err(RetrievalError::InvalidRequest(format!(
                "the query vector has {} dimensions, the index {dim}",
                vector.len()
            )));
        }
        self.search_impl(snapshot, request, &CancelToken::new(), Some(vector), None)
    }

    fn search_impl(
        &self,
        snapshot: &Snapshot,
        request: &SearchRequest,
        cancel: &CancelToken,
        query_vector: Option<&[f32]>,
        plan: Option<&crate::followup::QueryPlan>,
    ) -> Result<SearchResponse, RetrievalError> {
        let started = Instant::now();
        request.validate()?;
        let reranker = match (request.mode, &self.reranker) {
            (SearchMode::Rerank, Some(r)) => Some(r),
            (SearchMode::Rerank, None) => return Err(RetrievalError::NoReranker),
            _ => None,
        };
        let generation = snapshot.generation();
        let mode = request.mode;
        let _span =
            info_span!("search", bot = snapshot.bot(), generation, mode = mode.as_str(), k = request.k).entered();
        let mut response = SearchResponse::empty(generation, mode);
        let finish = |mut r: SearchResponse| {
            r.timings.total_ms = ms(started);
            Ok(r)
        };
        if request.k == 0 || snapshot.chunk_count() == 0 || request.query.trim().is_empty() {
            return finish(response);
        }
        let allowed = snapshot.table().allowed_rows(&request.filters).map(Arc::new);
        if allowed.as_ref().is_some_and(|a| a.is_empty()) {
            return finish(response);
        }
        let depth = match request.candidates {
            Some(c) => c.max(request.k),
            None => self.config.candidates.max(request.k.saturating_mul(4)),
        }
        .min(snapshot.chunk_count());

        // BM25 and dense search are independent: when `config.parallel` applies to
        // this snapshot, hybrid modes run BM25 on a pool thread while this thread
        // embeds and searches densely.
        let side_by_side = self.config.parallel.applies_to(snapshot.chunk_count());
        let bm25_run = || -> Result<(Vec<Scored>, f64), RetrievalError> {
            let t = Instant::now();
            let found = match plan {
                Some(p) => p.bm25_search(snapshot, &self.config.bm25, depth, allowed.as_ref()),
                None => bm25::search(snapshot, &self.config.bm25, &request.query, depth, allowed.as_ref()),
            };
            let hits = found.map_err(|source| RetrievalError::Tantivy {
                bot: snapshot.bot().to_string(),
                generation,
                stage: "bm25 search",
                source,
            })?;
            Ok((hits, ms(t)))
        };
        let dense_run = |response: &mut SearchResponse| -> Result<Vec<Scored>, RetrievalError> {
            let mut dense_hits = Vec::new();
            let t = Instant::now();
            let embedded = match (query_vector, plan) {
                (Some(v), _) => Some(QueryVector { vector: v.into(), cached: false }),
                (None, Some(p)) => p.query_vector(&self.embedder)?,
                (None, None) => self.embedder.embed_query(&request.query)?,
            };
            response.timings.embed_ms = ms(t);
            if let Some(QueryVector { vector, cached }) = embedded {
                response.timings.embed_cached = cached;
                let t = Instant::now();
                let _s = debug_span!("dense", kind = snapshot.dense().kind(), depth).entered();
                dense_hits = snapshot.dense().search(&vector, depth, allowed.as_deref());
                response.timings.dense_ms = ms(t);
            }
            response.top_dense_cosine = dense_hits.first().map(|s| s.score);
            Ok(dense_hits)
        };
        let (bm25_result, dense_result) = match (mode.uses_bm25(), mode.uses_dense()) {
            (true, true) if !side_by_side => (bm25_run(), dense_run(&mut response)),
            (true, true) => {
                response.timings.bm25_parallel = true;
                let parent = tracing::Span::current();
                let mut bm25_out = None;
                let dense_out = rayon::in_place_scope(|scope| {
                    scope.spawn(|_| bm25_out = Some(parent.in_scope(bm25_run)));
                    dense_run(&mut response)
                });
                (bm25_out.unwrap_or_else(|| Ok((Vec::new(), 0.0))), dense_out)
            }
            (true, false) => (bm25_run(), Ok(Vec::new())),
            (false, _) => (Ok((Vec::new(), 0.0)), dense_run(&mut response)),
        };
        let (bm25_hits, bm25_ms) = bm25_result?;
        response.timings.bm25_ms = bm25_ms;
        let dense_hits = dense_result?;

        let t = Instant::now();
        let fused = match mode {
            SearchMode::Hybrid | SearchMode::Rerank => {
                fusion::fuse(&bm25_hits, &dense_hits, request.fusion.as_ref().unwrap_or(&self.config.fusion))
            }
            SearchMode::Bm25 => fusion::single(&bm25_hits, Source::Bm25),
            SearchMode::Dense => fusion::single(&dense_hits, Source::Dense),
        };
        response.timings.fuse_ms = ms(t);

        let t = Instant::now();
        let selection = Selection {
            k: if reranker.is_some() { request.k.max(self.config.rerank.top_n) } else { request.k },
            max_per_doc: request.effective_max_per_doc(),
            near_duplicate: self.config.near_duplicate,
        };
        let (hits, ordinals) = select_with_ordinals(snapshot, &fused, selection)?;
        response.hits = hits;
        response.timings.fetch_ms = ms(t);
        // The analyzed terms of the first hits, for the confidence's coverage (stored
        // per chunk; a reranked list is matched back to its ordinals by chunk id).
        let mut top_ordinals: Vec<u32> = ordinals.iter().take(crate::confidence::COVERAGE_HITS).copied().collect();
        if let Some(reranker) = reranker {
            let t = Instant::now();
            let vectors = snapshot.index().vectors();
            let embeddings: Vec<Option<&[f32]>> = ordinals.iter().map(|&o| vectors.row(o as usize)).collect();
            let hits = std::mem::take(&mut response.hits);
            let before: Vec<(String, u32)> =
                hits.iter().map(|h| h.chunk_id.clone()).zip(ordinals.iter().copied()).collect();
            response.hits = rerank::rerank_hits(
                reranker.as_ref(),
                &request.query,
                hits,
                &embeddings,
                &self.config.rerank,
                cancel,
                request.k,
            )?;
            response.timings.rerank_ms = ms(t);
            top_ordinals = response
                .hits
                .iter()
                .take(crate::confidence::COVERAGE_HITS)
                .filter_map(|h| before.iter().find(|(id, _)| *id == h.chunk_id).map(|&(_, o)| o))
                .collect();
        }
        let top_chunks: Vec<docent_index::ChunkBuf> =
            top_ordinals.iter().filter_map(|&o| snapshot.index().stored_chunk(o as usize).ok()).collect();
        let top_terms: Vec<&[u32]> = top_chunks.iter().map(|c| c.terms()).collect();
        let hit_terms = (top_terms.len() == top_ordinals.len()
            && top_terms.len() == response.hits.len().min(crate::confidence::COVERAGE_HITS))
        .then_some(top_terms.as_slice());
        response.confidence = crate::confidence::for_search(
            snapshot,
            mode,
            &request.query,
            plan,
            crate::confidence::SearchLists {
                bm25: mode.uses_bm25().then_some(bm25_hits.as_slice()),
                dense: mode.uses_dense().then_some(dense_hits.as_slice()),
                hits: &response.hits,
                hit_terms,
            },
        );
        finish(response)
    }
}

/// Open whatever `CURRENT` names, retrying when that generation vanishes while being
/// opened (a writer may publish twice and remove it in between).
fn open_live(bot: &BotDir, embedder: &QueryEmbedder, config: &RetrieverConfig) -> Result<Snapshot, RetrievalError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let n = bot.current().map_err(|source| index_error(bot, "reading CURRENT", source))?.ok_or_else(|| {
            index_error(
                bot,
                "opening the live generation",
                IndexError::NoIndex { bot: bot.bot().to_string(), dir: bot.path().to_path_buf() },
            )
        })?;
        match Snapshot::open_with(bot, n, embedder.model_info(), config.dense, &config.ann) {
            Ok(s) => return Ok(s),
            Err(e @ RetrievalError::Index { .. }) if attempt < OPEN_ATTEMPTS => {
                let moved_on = bot.current().ok().flatten().is_some_and(|now| now != n);
                if !moved_on {
                    return Err(e);
                }
                warn!(bot = bot.bot(), generation = n, error = %e, "generation replaced while opening; retrying");
            }
            Err(e) => return Err(e),
        }
    }
}

fn index_error(bot: &BotDir, action: &str, source: IndexError) -> RetrievalError {
    RetrievalError::Index { bot: bot.bot().to_string(), action: action.to_string(), source }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
