use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Index, ReloadPolicy, Searcher, TantivyDocument, Term};
use tracing::debug_span;

use crate::{BotDir, ChunkBuf, ChunkRecord, ChunkSchema, IndexError, Manifest, RecordFile, VectorFile, SCHEMA_VERSION};

/// An immutable view of one published generation: BM25 searcher, vectors, manifest.
///
/// Opening reads `CURRENT` once; the snapshot keeps using that generation however
/// many newer ones are published, so a query never mixes two generations. To move
/// on, open a new snapshot.
pub struct IndexSnapshot {
    generation: u64,
    dir: PathBuf,
    manifest: Manifest,
    schema: ChunkSchema,
    searcher: Searcher,
    vectors: VectorFile,
    records: RecordFile,
}

impl std::fmt::Debug for IndexSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSnapshot").field("generation", &self.generation).field("dir", &self.dir).finish()
    }
}

impl IndexSnapshot {
    /// Open the bot's live generation.
    pub fn open(bot: &BotDir) -> Result<Self, IndexError> {
        let n = bot.current()?.ok_or_else(|| IndexError::NoIndex { bot: bot.bot().into(), dir: bot.path().into() })?;
        Self::open_dir(&bot.generation_dir(n))
    }

    /// Open a generation directory directly (checks that its parts agree).
    pub fn open_dir(dir: &Path) -> Result<Self, IndexError> {
        let _span = debug_span!("open_snapshot", dir = %dir.display()).entered();
        let manifest = Manifest::read(&dir.join("manifest.json"))?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(IndexError::Corrupt {
                path: dir.into(),
                detail: format!(
                    "schema version {} (this build reads {SCHEMA_VERSION}); re-run ingest",
                    manifest.schema_version
                ),
            });
        }
        let schema = ChunkSchema::new();
        let index = Index::open_in_dir(dir.join("tantivy"))?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let searcher = reader.searcher();
        let vectors = VectorFile::open(&dir.join("vectors.f32"), manifest.model.dim, manifest.counts.chunks)?;
        let records = RecordFile::open(&dir.join("chunks.bin"), manifest.counts.chunks)?;
        if searcher.num_docs() as usize != manifest.counts.chunks {
            return Err(IndexError::Corrupt {
                path: dir.into(),
                detail: format!(
                    "{} BM25 documents but the manifest says {} chunks",
                    searcher.num_docs(),
                    manifest.counts.chunks
                ),
            });
        }
        Ok(IndexSnapshot {
            generation: manifest.generation,
            dir: dir.into(),
            manifest,
            schema,
            searcher,
            vectors,
            records,
        })
    }

    /// Generation number.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Generation directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Number of chunks (BM25 documents and vector rows).
    pub fn chunk_count(&self) -> usize {
        self.manifest.counts.chunks
    }

    /// Field handles of the BM25 index.
    pub fn schema(&self) -> &ChunkSchema {
        &self.schema
    }

    /// The tantivy searcher of this generation.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// The vector rows of this generation.
    pub fn vectors(&self) -> &VectorFile {
        &self.vectors
    }

    /// The chunk records of this generation (`chunks.bin`).
    pub fn records(&self) -> &RecordFile {
        &self.records
    }

    /// The stored chunk of vector row `ordinal` from `chunks.bin` (one positional read,
    /// no decompression): what retrieval reads for every hit.
    pub fn stored_chunk(&self, ordinal: usize) -> Result<ChunkBuf, IndexError> {
        self.records.get(ordinal)
    }

    /// The stored chunk at a BM25 document address, with its vector ordinal (a tantivy
    /// docstore read: a block decompression per call; prefer [`IndexSnapshot::stored_chunk`]).
    pub fn chunk_at(&self, addr: DocAddress) -> Result<(ChunkRecord, u64), IndexError> {
        let d: TantivyDocument = self.searcher.doc(addr)?;
        self.schema.from_document(&d).ok_or_else(|| IndexError::Corrupt {
            path: self.dir.clone(),
            detail: format!("stored document {addr:?} lacks fields"),
        })
    }

    /// Every chunk of one document, in the order they were written.
    pub fn chunks_of(&self, doc_id: &str) -> Result<Vec<(ChunkRecord, u64)>, IndexError> {
        let expected = self.manifest.documents.get(doc_id).map(|d| d.chunk_count).unwrap_or(0);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let q = TermQuery::new(Term::from_field_text(self.schema.doc_id, doc_id), IndexRecordOption::Basic);
        let hits = self.searcher.search(&q, &TopDocs::with_limit(expected).order_by_score())?;
        let mut out = hits.into_iter().map(|(_, addr)| self.chunk_at(addr)).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|(_, ord)| *ord);
        Ok(out)
    }
}
