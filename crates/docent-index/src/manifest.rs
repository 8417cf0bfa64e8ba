use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ContentHash, IndexError};

/// The embedding model a generation's vectors come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id; vectors of two ids are not comparable.
    pub id: String,
    /// Vector dimension.
    pub dim: usize,
    /// Token window the model was run with.
    pub max_length: usize,
}

/// The chunker settings a generation was built with. A change means every document
/// must be re-chunked (its chunks would differ), so it is part of "unchanged".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingParams {
    /// Version of the chunking algorithm; bump when its output changes.
    pub version: u32,
    /// Upper bound of a chunk in model tokens (body, before the heading prefix).
    pub max_tokens: usize,
    /// Tokens shared between consecutive chunks of one long section.
    pub overlap_tokens: usize,
}

/// What the index knows about one source document (page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentEntry {
    /// Canonical URL of the page (without fragment).
    pub url: String,
    /// Page title.
    pub title: String,
    /// Key of the source the page came from (`dir:/abs/path`, `site:https://…`, `url:…`),
    /// so that a re-ingest of that source can tell which pages disappeared.
    pub source: String,
    /// Hash of the raw content: equal hash, same chunks.
    pub content_hash: ContentHash,
    /// Number of chunks of this page in the generation.
    pub chunk_count: usize,
    /// HTTP `ETag` seen when the page was fetched, for conditional re-fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// HTTP `Last-Modified` seen when the page was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// `<lastmod>` the sitemap gave for the page when it was fetched; an equal value
    /// on the next crawl means the page need not be fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitemap_lastmod: Option<String>,
    /// Tags from front matter, for filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// In-scope links found on the page (crawled pages only), so a crawl can still
    /// follow them when the page answers `304 Not Modified`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// Totals of a generation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestCounts {
    /// Documents (pages).
    pub documents: usize,
    /// Chunks (= BM25 documents = vector rows).
    pub chunks: usize,
}

/// `manifest.json` of a generation: everything needed to trust and reuse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// On-disk layout version ([`crate::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Generation number.
    pub generation: u64,
    /// Bot id.
    pub bot: String,
    /// Seconds since the Unix epoch when the generation was published.
    pub created_at: u64,
    /// Model of the vectors.
    pub model: ModelInfo,
    /// Chunker settings.
    pub chunking: ChunkingParams,
    /// Totals.
    pub counts: ManifestCounts,
    /// Documents by id (canonical URL).
    pub documents: BTreeMap<String, DocumentEntry>,
}

impl Manifest {
    /// Read and parse a manifest file.
    pub fn read(path: &Path) -> Result<Self, IndexError> {
        let bytes = std::fs::read(path).map_err(IndexError::io("reading", path))?;
        serde_json::from_slice(&bytes).map_err(|source| IndexError::Manifest { path: path.to_path_buf(), source })
    }
}
