//! Docent's on-disk index: what `docent ingest` writes and what retrieval reads.
//!
//! An index is a sequence of immutable *generations* per bot. Each generation holds a
//! tantivy BM25 index of the chunks, a contiguous memory-mappable vector file (one
//! row per chunk ordinal) and a manifest. A generation is written in full by a
//! [`GenerationWriter`] and then published by atomically replacing the bot's
//! `CURRENT` pointer, so a reader ([`IndexSnapshot`]) either sees the previous
//! generation or the new one, never half of one.
//!
//! This crate also owns the embedding model ([`Embedder`]) because the model id and
//! dimension are part of the on-disk format: vectors written by one model are
//! meaningless to another.
//!
//! ```no_run
//! use docent_index::{BotDir, IndexSnapshot};
//! # fn main() -> Result<(), docent_index::IndexError> {
//! let bot = BotDir::new("data", "docs")?;
//! let snapshot = IndexSnapshot::open(&bot)?;
//! println!("{} chunks in generation {}", snapshot.chunk_count(), snapshot.generation());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod chunk;
mod embed;
mod embed_cache;
mod error;
mod layout;
mod manifest;
mod models;
mod records;
mod schema;
mod snapshot;
mod vectors;
mod writer;

pub use chunk::{embed_text, ChunkRecord, ContentHash};
pub use embed::{
    init_onnx_runtime, Embedder, EmbedderOptions, ModelGraph, MAX_LENGTH, MODEL_DIM, MODEL_ID, QUERY_GRAPH_FILE,
};
pub use embed_cache::EmbeddingCache;
pub use error::IndexError;
pub use layout::{BotDir, IngestLock};
pub use manifest::{ChunkingParams, DocumentEntry, Manifest, ManifestCounts, ModelInfo};
pub use models::ModelFiles;
pub use records::{term_hash, word_set, ChunkBuf, ChunkView, RecordFile};
pub use schema::{ChunkSchema, TEXT_TOKENIZER};
pub use snapshot::IndexSnapshot;
pub use vectors::{VectorFile, VectorWriter};
pub use writer::{GenerationWriter, PublishedGeneration};

/// Version of the on-disk layout written by this crate. A reader refuses other versions.
///
/// 2: `chunks.bin` (uncompressed chunk records with word signatures, see [`RecordFile`]).
pub const SCHEMA_VERSION: u32 = 2;
