use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::TantivyDocument;

use crate::{ChunkRecord, ContentHash};

/// Tokenizer of the text fields: simple tokens, lower-cased, English (Porter) stemming.
pub const TEXT_TOKENIZER: &str = "en_stem";

/// The tantivy schema of a generation's BM25 index, with typed field handles.
///
/// One tantivy document per chunk. `title`, `headings` and `body` are full-text fields
/// (searched with different boosts by retrieval); ids, URL, tags and hash are exact
/// terms; `ordinal` is the chunk's row in the vector file.
#[derive(Debug, Clone)]
pub struct ChunkSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// Stable chunk id (exact).
    pub chunk_id: Field,
    /// Document id (exact): used to find or delete a page's chunks.
    pub doc_id: Field,
    /// URL with anchor (exact, stored).
    pub url: Field,
    /// Page title (full text).
    pub title: Field,
    /// Heading path joined with " › " (full text).
    pub headings: Field,
    /// Chunk body (full text).
    pub body: Field,
    /// Tags (exact, multi-valued), for filters.
    pub tags: Field,
    /// Hash of the embedded text (exact, stored).
    pub hash: Field,
    /// Row of the chunk's vector in `vectors.f32` (fast field).
    pub ordinal: Field,
}

impl Default for ChunkSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkSchema {
    /// Build the schema (deterministic: the same fields in the same order every time).
    pub fn new() -> Self {
        let mut b = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TEXT_TOKENIZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let chunk_id = b.add_text_field("chunk_id", STRING | STORED);
        let doc_id = b.add_text_field("doc_id", STRING | STORED);
        let url = b.add_text_field("url", STRING | STORED);
        let title = b.add_text_field("title", text.clone());
        let headings = b.add_text_field("headings", text.clone());
        let body = b.add_text_field("body", text);
        let tags = b.add_text_field("tags", STRING | STORED);
        let hash = b.add_text_field("hash", STRING | STORED);
        let ordinal = b.add_u64_field("ordinal", NumericOptions::default().set_indexed().set_stored().set_fast());
        ChunkSchema { schema: b.build(), chunk_id, doc_id, url, title, headings, body, tags, hash, ordinal }
    }

    /// The tantivy document for a chunk stored at vector row `ordinal`.
    pub fn to_document(&self, chunk: &ChunkRecord, ordinal: u64) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(self.chunk_id, &chunk.chunk_id);
        d.add_text(self.doc_id, &chunk.doc_id);
        d.add_text(self.url, &chunk.url);
        d.add_text(self.title, &chunk.title);
        d.add_text(self.headings, chunk.heading_path.join(" › "));
        d.add_text(self.body, &chunk.text);
        for t in &chunk.tags {
            d.add_text(self.tags, t);
        }
        d.add_text(self.hash, chunk.hash.to_hex());
        d.add_u64(self.ordinal, ordinal);
        d
    }

    /// Rebuild a chunk and its ordinal from a stored tantivy document.
    pub fn from_document(&self, d: &TantivyDocument) -> Option<(ChunkRecord, u64)> {
        let text = |f: Field| d.get_first(f).and_then(|v| v.as_str()).map(str::to_string);
        let headings = text(self.headings).unwrap_or_default();
        let heading_path =
            if headings.is_empty() { Vec::new() } else { headings.split(" › ").map(str::to_string).collect() };
        let chunk = ChunkRecord {
            chunk_id: text(self.chunk_id)?,
            doc_id: text(self.doc_id)?,
            url: text(self.url)?,
            title: text(self.title).unwrap_or_default(),
            heading_path,
            text: text(self.body).unwrap_or_default(),
            tags: d.get_all(self.tags).filter_map(|v| v.as_str().map(str::to_string)).collect(),
            hash: ContentHash::from_hex(&text(self.hash)?)?,
        };
        let ordinal = d.get_first(self.ordinal).and_then(|v| v.as_u64())?;
        Some((chunk, ordinal))
    }
}
