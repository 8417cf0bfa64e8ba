//! The values that flow between ingest stages: a fetched page, an extracted page and
//! its sections. Sources produce [`RawPage`]s, extraction turns them into
//! [`ExtractedPage`]s, the chunker turns sections into index chunks.

use std::path::PathBuf;

/// What kind of document a body is, decided from the file extension or the HTTP
/// `Content-Type` (never by sniffing the body alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    /// HTML document.
    Html,
    /// Markdown, optionally with YAML front matter.
    Markdown,
    /// Plain text.
    Text,
}

/// A page as a source delivers it: canonical URL and raw bytes, before extraction.
#[derive(Debug, Clone)]
pub struct RawPage {
    /// Canonical URL of the page, fragment stripped. Becomes the document id.
    pub url: String,
    /// Key of the source that produced the page (`dir:/abs/path`, `site:<start url>`,
    /// `url:<url>`), so a re-ingest of that source can tell which pages disappeared.
    pub source: String,
    /// Document kind.
    pub kind: ContentKind,
    /// Raw body bytes (decoding happens in extraction, which knows the charset rules).
    pub body: Vec<u8>,
    /// Charset named by the HTTP `Content-Type`, if any.
    pub charset: Option<String>,
    /// Local file the page came from, for error messages.
    pub path: Option<PathBuf>,
    /// HTTP `ETag`, kept for conditional re-fetch.
    pub etag: Option<String>,
    /// HTTP `Last-Modified`, kept for conditional re-fetch.
    pub last_modified: Option<String>,
}

/// A page after extraction: clean text cut into its heading sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractedPage {
    /// Page title (front matter `title`, HTML `<title>`/first `<h1>`, or the file name).
    pub title: String,
    /// Short description (front matter or `<meta name="description">`), if any.
    pub description: Option<String>,
    /// Tags/collections (front matter `tags`), for filters.
    pub tags: Vec<String>,
    /// `<link rel="canonical">` resolved against the page URL, if present.
    pub canonical: Option<String>,
    /// The sections in document order. Text before the first heading is a section with
    /// an empty heading list and no anchor.
    pub sections: Vec<Section>,
}

/// One heading's worth of text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// Headings from the top-level section down to this one, *without* the page title
    /// (the chunker prepends it): `["Refund window"]`, `["API keys", "Rotating keys"]`.
    pub headings: Vec<String>,
    /// Anchor (HTML `id` / generated slug) of this section's own heading, if it has one.
    pub anchor: Option<String>,
    /// Anchor to link to: this section's anchor, else the nearest ancestor's, else none.
    pub link_anchor: Option<String>,
    /// Readable text of the section body: paragraphs separated by blank lines, list
    /// items as `- item`, code blocks kept verbatim (fenced), tables as
    /// `| a | b |` rows.
    pub text: String,
}

impl ExtractedPage {
    /// True when the page has no text at all worth indexing.
    pub fn is_empty(&self) -> bool {
        self.sections.iter().all(|s| s.text.trim().is_empty())
    }
}
