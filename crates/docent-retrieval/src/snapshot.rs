//! One generation, ready to answer queries: the index snapshot, its chunk table and
//! its dense index. Immutable; a [`crate::Retriever`] swaps whole snapshots.

use std::sync::Arc;

use docent_index::{BotDir, IndexSnapshot, ModelInfo};
use tracing::info_span;

use crate::bm25::StopTerms;
use crate::chunk_table::{ChunkTable, TableError};
use crate::dense::{self, AnnConfig, DenseIndex, ExactConfig};
use crate::RetrievalError;

/// A published generation opened for retrieval.
///
/// Queries hold an `Arc<Snapshot>` from start to end, so everything one query sees —
/// BM25 postings, vectors, stored chunks — belongs to this one generation.
#[derive(Debug)]
pub struct Snapshot {
    bot: String,
    index: Arc<IndexSnapshot>,
    table: ChunkTable,
    stop_terms: StopTerms,
    dense: Box<dyn DenseIndex>,
}

impl Snapshot {
    /// Open generation `generation` of `bot` and check that its vectors come from
    /// `model` (same id and dimension), else [`RetrievalError::ModelMismatch`]. The
    /// dense index follows [`AnnConfig::default`] (see [`Snapshot::open_with`]).
    pub fn open(bot: &BotDir, generation: u64, model: &ModelInfo, dense: ExactConfig) -> Result<Self, RetrievalError> {
        Self::open_with(bot, generation, model, dense, &AnnConfig::default())
    }

    /// [`Snapshot::open`] with explicit dense settings: generations of at least
    /// `ann.threshold` rows get an HNSW index ([`dense::AnnIndex`], built on first open
    /// and cached in the generation directory), smaller ones the exact scan.
    pub fn open_with(
        bot: &BotDir,
        generation: u64,
        model: &ModelInfo,
        dense: ExactConfig,
        ann: &AnnConfig,
    ) -> Result<Self, RetrievalError> {
        let _span = info_span!("open_snapshot", bot = bot.bot(), generation).entered();
        let dir = bot.generation_dir(generation);
        let index = IndexSnapshot::open_dir(&dir).map_err(|source| RetrievalError::Index {
            bot: bot.bot().to_string(),
            action: format!("opening generation {generation}"),
            source,
        })?;
        Self::from_index_with(bot.bot(), index, model, dense, ann)
    }

    /// Wrap an already opened index snapshot (checks the model like [`Snapshot::open`]).
    pub fn from_index(
        bot: &str,
        index: IndexSnapshot,
        model: &ModelInfo,
        dense: ExactConfig,
    ) -> Result<Self, RetrievalError> {
        Self::from_index_with(bot, index, model, dense, &AnnConfig::default())
    }

    /// [`Snapshot::from_index`] with explicit dense settings (as [`Snapshot::open_with`]).
    pub fn from_index_with(
        bot: &str,
        index: IndexSnapshot,
        model: &ModelInfo,
        dense: ExactConfig,
        ann: &AnnConfig,
    ) -> Result<Self, RetrievalError> {
        let generation = index.generation();
        let built = &index.manifest().model;
        if built.id != model.id || built.dim != model.dim {
            return Err(RetrievalError::ModelMismatch {
                bot: bot.to_string(),
                generation,
                index_model: built.id.clone(),
                index_dim: built.dim,
                query_model: model.id.clone(),
                query_dim: model.dim,
            });
        }
        if index.vectors().dim() != model.dim || index.vectors().len() != index.chunk_count() {
            return Err(RetrievalError::Corrupt {
                bot: bot.to_string(),
                generation,
                detail: format!(
                    "{} vectors of {} dims for {} chunks",
                    index.vectors().len(),
                    index.vectors().dim(),
                    index.chunk_count()
                ),
            });
        }
        let table = ChunkTable::build(index.searcher(), index.schema(), index.chunk_count()).map_err(|e| match e {
            TableError::Tantivy(source) => {
                RetrievalError::Tantivy { bot: bot.to_string(), generation, stage: "building the chunk table", source }
            }
            TableError::Corrupt(detail) => RetrievalError::Corrupt { bot: bot.to_string(), generation, detail },
        })?;
        let schema = index.schema();
        let stop_terms = StopTerms::for_fields(index.searcher(), &[schema.title, schema.headings, schema.body])
            .map_err(|source| RetrievalError::Tantivy {
                bot: bot.to_string(),
                generation,
                stage: "loading the text analyzers",
                source,
            })?;
        let index = Arc::new(index);
        let dense: Box<dyn DenseIndex> = dense::for_generation(Arc::clone(&index), dense, ann);
        tracing::info!(
            bot,
            generation,
            chunks = table.rows(),
            pages = table.page_count(),
            dense = dense.kind(),
            "snapshot ready"
        );
        Ok(Snapshot { bot: bot.to_string(), index, table, stop_terms, dense })
    }

    /// Bot id.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Generation number.
    pub fn generation(&self) -> u64 {
        self.index.generation()
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.index.chunk_count()
    }

    /// The underlying index snapshot (manifest, searcher, vectors).
    pub fn index(&self) -> &IndexSnapshot {
        &self.index
    }

    /// The dense index in use.
    pub fn dense(&self) -> &dyn DenseIndex {
        self.dense.as_ref()
    }

    pub(crate) fn table(&self) -> &ChunkTable {
        &self.table
    }

    pub(crate) fn stop_terms(&self) -> &StopTerms {
        &self.stop_terms
    }
}
