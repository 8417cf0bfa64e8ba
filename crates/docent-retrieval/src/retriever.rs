//! The retriever: the live snapshot of a bot behind an atomic pointer, hot reload,
//! and the query pipeline (embed → BM25 ∥ dense → fuse → select).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use docent_index::{BotDir, Embedder, IndexError};
use serde::{Deserialize, Serialize};
use tracing::{debug_span, info, info_span, warn};

use crate::dense::ExactConfig;
use crate::fusion::{self, Source};
use crate::query_embedder::DEFAULT_QUERY_CACHE;
use crate::select::{select, Selection};
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
    /// Word-set Jaccard similarity at or above which a chunk is dropped as a near
    /// duplicate of a better hit (above 1.0: only identical chunks).
    pub near_duplicate: f32,
}

impl Default for RetrieverConfig {
    fn default() -> Self {
        RetrieverConfig {
            fusion: FusionConfig::default(),
            candidates: DEFAULT_CANDIDATES,
            bm25: Bm25Config::default(),
            dense: ExactConfig::default(),
            near_duplicate: DEFAULT_NEAR_DUPLICATE,
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
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever")
            .field("bot", &self.bot.bot())
            .field("generation", &self.generation())
            .field("embedder", &self.embedder)
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
        let snapshot = open_live(bot, &embedder, &config)?;
        Ok(Retriever {
            bot: bot.clone(),
            embedder,
            config,
            live: ArcSwap::from_pointee(snapshot),
            reload: Mutex::new(()),
        })
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

    /// Answer a query on a given snapshot (one taken from [`Retriever::snapshot`]).
    pub fn search_in(&self, snapshot: &Snapshot, request: &SearchRequest) -> Result<SearchResponse, RetrievalError> {
        let started = Instant::now();
        request.validate()?;
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

        let mut bm25_hits: Vec<Scored> = Vec::new();
        if mode.uses_bm25() {
            let t = Instant::now();
            bm25_hits = bm25::search(snapshot, &self.config.bm25, &request.query, depth, allowed.as_ref()).map_err(
                |source| RetrievalError::Tantivy {
                    bot: snapshot.bot().to_string(),
                    generation,
                    stage: "bm25 search",
                    source,
                },
            )?;
            response.timings.bm25_ms = ms(t);
        }

        let mut dense_hits: Vec<Scored> = Vec::new();
        if mode.uses_dense() {
            let t = Instant::now();
            let embedded = self.embedder.embed_query(&request.query)?;
            response.timings.embed_ms = ms(t);
            if let Some(QueryVector { vector, cached }) = embedded {
                response.timings.embed_cached = cached;
                let t = Instant::now();
                let _s = debug_span!("dense", kind = snapshot.dense().kind(), depth).entered();
                dense_hits = snapshot.dense().search(&vector, depth, allowed.as_deref());
                response.timings.dense_ms = ms(t);
            }
            response.top_dense_cosine = dense_hits.first().map(|s| s.score);
        }

        let t = Instant::now();
        let fused = match mode {
            SearchMode::Hybrid => {
                fusion::fuse(&bm25_hits, &dense_hits, request.fusion.as_ref().unwrap_or(&self.config.fusion))
            }
            SearchMode::Bm25 => fusion::single(&bm25_hits, Source::Bm25),
            SearchMode::Dense => fusion::single(&dense_hits, Source::Dense),
        };
        response.timings.fuse_ms = ms(t);

        let t = Instant::now();
        let selection = Selection {
            k: request.k,
            max_per_doc: request.effective_max_per_doc(),
            near_duplicate: self.config.near_duplicate,
        };
        response.hits = select(snapshot, &fused, selection)?;
        response.timings.fetch_ms = ms(t);
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
        match Snapshot::open(bot, n, embedder.model_info(), config.dense) {
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
