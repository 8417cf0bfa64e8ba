use serde::{Deserialize, Serialize};

/// A 32-byte content hash (BLAKE3). Used for documents (did the page change?) and for
/// chunks (can we reuse the embedding?).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hash arbitrary bytes.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex form, as stored in the manifest and the BM25 index.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Parse the hex form written by [`ContentHash::to_hex`].
    pub fn from_hex(s: &str) -> Option<Self> {
        blake3::Hash::from_hex(s).ok().map(|h| ContentHash(*h.as_bytes()))
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContentHash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid content hash"))
    }
}

/// One retrievable unit of text, as stored in the index.
///
/// `text` is the chunk body shown to users and cited; `embed_text` is what the model
/// saw (the body prefixed with its heading path, which helps short sections match).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Stable id: the same document and position give the same id across generations.
    pub chunk_id: String,
    /// Id of the document (page) the chunk comes from: its canonical URL.
    pub doc_id: String,
    /// Link to the chunk: the page URL with the section `#anchor` when there is one.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Headings from the page title down to the chunk's section.
    pub heading_path: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// Tags/collections from front matter or configuration, for filters.
    pub tags: Vec<String>,
    /// Hash of the embedded text: the key of the embedding cache.
    pub hash: ContentHash,
}

impl ChunkRecord {
    /// "Page › Section › Subsection", as shown in results.
    pub fn heading_path_display(&self) -> String {
        self.heading_path.join(" › ")
    }

    /// The text given to the embedding model: heading path, blank line, body.
    pub fn embed_text(&self) -> String {
        embed_text(&self.heading_path, &self.text)
    }
}

/// The text given to the embedding model for a chunk with these headings and body.
pub fn embed_text(heading_path: &[String], text: &str) -> String {
    if heading_path.is_empty() {
        text.to_string()
    } else {
        format!("{}\n\n{}", heading_path.join(" › "), text)
    }
}
