//! Structure-first, token-bounded chunking.
//!
//! Each extracted [`Section`] becomes one chunk when it fits the token budget; a long
//! section is cut by `text-splitter` at the highest semantic boundary that fits
//! (paragraphs, then sentences, then words), with a token overlap between the pieces.
//! Sizes are counted with the embedding model's own tokenizer, so a chunk plus its
//! heading prefix never exceeds what the model reads.
//!
//! Useful for: turning an [`ExtractedPage`] into [`ChunkRecord`]s with URL + `#anchor`,
//! title and heading path. Not for: deciding what text a page has (that is
//! `extract`) or embedding (that is the pipeline).

use docent_index::{embed_text, ChunkRecord, ChunkingParams, ContentHash};
use text_splitter::{ChunkConfig, TextSplitter};
use tokenizers::Tokenizer;
use tracing::debug_span;

use crate::{ExtractedPage, IngestError};

/// Version of the chunking algorithm, recorded in manifests. Bump it whenever the
/// chunks produced for the same input change, so re-ingest re-chunks every page.
pub const CHUNKER_VERSION: u32 = 1;
/// Tokens the model reads per input (all-MiniLM-L6-v2 at `max_length` 256).
const MODEL_WINDOW: usize = docent_index::MAX_LENGTH;
/// `[CLS]` and `[SEP]`.
const SPECIAL_TOKENS: usize = 2;
/// A chunk body never gets a budget below this, however long its heading path.
const MIN_BODY_TOKENS: usize = 48;

/// Knobs of the [`Chunker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerOptions {
    /// Upper bound of a chunk body in model tokens.
    pub max_tokens: usize,
    /// Tokens repeated between consecutive pieces of one long section, so a sentence
    /// cut at a boundary is still found whole in one of them.
    pub overlap_tokens: usize,
}

impl Default for ChunkerOptions {
    fn default() -> Self {
        ChunkerOptions { max_tokens: 200, overlap_tokens: 32 }
    }
}

/// Cuts pages into [`ChunkRecord`]s. Cheap to share: it holds only the tokenizer.
#[derive(Debug, Clone)]
pub struct Chunker {
    tokenizer: Tokenizer,
    options: ChunkerOptions,
}

impl Chunker {
    /// Build a chunker counting tokens with `tokenizer` (the embedding model's).
    ///
    /// The shipped `tokenizer.json` pads and truncates at 128 tokens; both are turned
    /// off here, otherwise every long text would "fit".
    pub fn new(mut tokenizer: Tokenizer, options: ChunkerOptions) -> Result<Self, IngestError> {
        if options.max_tokens == 0 || options.overlap_tokens >= options.max_tokens {
            return Err(IngestError::Config(format!(
                "chunk overlap ({}) must be smaller than the chunk size ({}), which must be > 0",
                options.overlap_tokens, options.max_tokens
            )));
        }
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| IngestError::Config(format!("cannot disable tokenizer truncation: {e}")))?;
        Ok(Chunker { tokenizer, options })
    }

    /// The parameters recorded in the manifest: equal parameters, equal chunks.
    pub fn params(&self) -> ChunkingParams {
        ChunkingParams {
            version: CHUNKER_VERSION,
            max_tokens: self.options.max_tokens,
            overlap_tokens: self.options.overlap_tokens,
        }
    }

    /// Number of model tokens in `text` (without special tokens).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode_fast(text, false).map(|e| e.len()).unwrap_or_else(|_| text.split_whitespace().count())
    }

    /// Chunk one page whose document id (canonical URL) is `doc_url`.
    pub fn chunk_page(&self, doc_url: &str, page: &ExtractedPage) -> Vec<ChunkRecord> {
        let _span = debug_span!("chunk_page", url = doc_url, sections = page.sections.len()).entered();
        let id_prefix = &ContentHash::of(doc_url.as_bytes()).to_hex()[..16];
        let mut out = Vec::new();
        for section in &page.sections {
            let body = section.text.trim();
            if body.is_empty() {
                continue;
            }
            let mut heading_path = Vec::with_capacity(section.headings.len() + 1);
            heading_path.push(page.title.clone());
            heading_path.extend(section.headings.iter().cloned());
            let url = match &section.link_anchor {
                Some(a) if !a.is_empty() => format!("{doc_url}#{a}"),
                _ => doc_url.to_string(),
            };
            for piece in self.split_section(&heading_path, body) {
                let hash = ContentHash::of(embed_text(&heading_path, &piece).as_bytes());
                out.push(ChunkRecord {
                    chunk_id: format!("{id_prefix}-{:04}", out.len()),
                    doc_id: doc_url.to_string(),
                    url: url.clone(),
                    title: page.title.clone(),
                    heading_path: heading_path.clone(),
                    text: piece,
                    tags: page.tags.clone(),
                    hash,
                });
            }
        }
        out
    }

    /// Pieces of one section body, each fitting the model window with its headings.
    fn split_section(&self, heading_path: &[String], body: &str) -> Vec<String> {
        let prefix_tokens = self.count_tokens(&heading_path.join(" › ")) + 1;
        let budget = MODEL_WINDOW
            .saturating_sub(SPECIAL_TOKENS + prefix_tokens)
            .min(self.options.max_tokens)
            .max(MIN_BODY_TOKENS);
        if self.count_tokens(body) <= budget {
            return vec![body.to_string()];
        }
        let overlap = self.options.overlap_tokens.min(budget / 4);
        let config = match ChunkConfig::new(budget).with_sizer(&self.tokenizer).with_overlap(overlap) {
            Ok(c) => c,
            // Unreachable with overlap < budget, but never panic on a page: fall back to no overlap.
            Err(_) => ChunkConfig::new(budget).with_sizer(&self.tokenizer),
        };
        TextSplitter::new(config).chunks(body).map(str::to_string).filter(|p| !p.trim().is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Section;

    fn chunker(max: usize, overlap: usize) -> Option<Chunker> {
        let files = docent_index::ModelFiles::locate(None).ok()?;
        let tok = files.load_tokenizer().ok()?;
        Chunker::new(tok, ChunkerOptions { max_tokens: max, overlap_tokens: overlap }).ok()
    }

    fn page(sections: Vec<Section>) -> ExtractedPage {
        ExtractedPage { title: "Refunds".into(), sections, ..Default::default() }
    }

    fn section(headings: &[&str], anchor: Option<&str>, text: &str) -> Section {
        Section {
            headings: headings.iter().map(|s| s.to_string()).collect(),
            anchor: anchor.map(str::to_string),
            link_anchor: anchor.map(str::to_string),
            text: text.into(),
        }
    }

    #[test]
    fn rejects_overlap_not_smaller_than_size() {
        let files = docent_index::ModelFiles::locate(None).expect("run `make models` first");
        let tok = files.load_tokenizer().expect("tokenizer");
        let err = Chunker::new(tok, ChunkerOptions { max_tokens: 10, overlap_tokens: 10 }).unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
    }

    #[test]
    fn one_chunk_per_short_section_with_anchor_and_heading_path() {
        let c = chunker(200, 32).expect("run `make models` first");
        let p = page(vec![
            section(&[], None, "Intro text."),
            section(&["Refund window"], Some("refund-window"), "30 days for annual plans."),
            section(&["Refund window", "Exceptions"], None, "Disputes are not refundable."),
        ]);
        let chunks = c.chunk_page("https://x.example/billing/refunds", &p);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].url, "https://x.example/billing/refunds");
        assert_eq!(chunks[1].url, "https://x.example/billing/refunds#refund-window");
        assert_eq!(chunks[1].heading_path_display(), "Refunds › Refund window");
        assert_eq!(chunks[2].heading_path, vec!["Refunds", "Refund window", "Exceptions"]);
        // A section without its own anchor links nowhere deeper than its link_anchor.
        assert_eq!(chunks[2].url, "https://x.example/billing/refunds");
        let ids: std::collections::HashSet<_> = chunks.iter().map(|c| c.chunk_id.clone()).collect();
        assert_eq!(ids.len(), 3, "chunk ids are unique");
    }

    #[test]
    fn long_section_is_split_within_budget_with_overlap() {
        let c = chunker(64, 16).expect("run `make models` first");
        let sentences: Vec<String> =
            (0..60).map(|i| format!("Sentence number {i} talks about invoices and payouts.")).collect();
        let body = sentences.join(" ");
        let p = page(vec![section(&["Long"], Some("long"), &body)]);
        let chunks = c.chunk_page("https://x.example/p", &p);
        assert!(chunks.len() >= 5, "got {} chunks", chunks.len());
        for ch in &chunks {
            assert!(c.count_tokens(&ch.text) <= 64, "chunk over budget: {}", c.count_tokens(&ch.text));
        }
        // Overlap: consecutive pieces share some words.
        let first: std::collections::HashSet<_> = chunks[0].text.split(' ').collect();
        let shared = chunks[1].text.split(' ').filter(|w| first.contains(w) && w.chars().any(|c| c.is_ascii_digit()));
        assert!(shared.count() > 0, "no overlap between {:?} and {:?}", chunks[0].text, chunks[1].text);
        // Every sentence number survives somewhere.
        let all: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
        for i in 0..60 {
            assert!(all.contains(&format!("number {i} ")), "lost sentence {i}");
        }
    }

    #[test]
    fn same_text_same_hash_and_headings_change_the_hash() {
        let c = chunker(200, 32).expect("run `make models` first");
        let a = c.chunk_page("https://x.example/a", &page(vec![section(&["A"], None, "Same body.")]));
        let b = c.chunk_page("https://x.example/b", &page(vec![section(&["A"], None, "Same body.")]));
        let d = c.chunk_page("https://x.example/a", &page(vec![section(&["B"], None, "Same body.")]));
        assert_eq!(a[0].hash, b[0].hash, "the embedding cache key depends only on embedded text");
        assert_ne!(a[0].hash, d[0].hash);
        assert_ne!(a[0].chunk_id, b[0].chunk_id, "ids are per document");
    }
}
