//! What an ingest run did, for people (the CLI prints it) and scripts (`--json`).

use serde::Serialize;

/// Outcome of an ingest run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Bot id.
    pub bot: String,
    /// Generation now live (the new one, or the previous one if nothing changed).
    pub generation: u64,
    /// False when nothing changed and the previous generation stays live as is.
    pub published: bool,
    /// Per-source counts.
    pub sources: Vec<SourceSummary>,
    /// Document counts.
    pub documents: DocumentCounts,
    /// Chunk counts.
    pub chunks: ChunkCounts,
    /// Pages that could not be indexed, with the reason. The run went on without them.
    pub failures: Vec<PageFailure>,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
    /// Seconds spent inside the embedding model.
    pub embed_secs: f64,
    /// Pages processed (fetched or read, unchanged included) per second of the run.
    pub pages_per_sec: f64,
    /// Chunks embedded by the model per second of the run.
    pub chunks_per_sec: f64,
}

/// Counts of documents (pages) by what happened to them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DocumentCounts {
    /// Documents in the live generation after the run.
    pub total: usize,
    /// New documents.
    pub added: usize,
    /// Documents whose content changed (re-chunked).
    pub changed: usize,
    /// Documents carried over untouched (same content, `304`, or same sitemap lastmod).
    pub unchanged: usize,
    /// Documents removed because their source no longer has them.
    pub deleted: usize,
    /// Pages that failed; a previously indexed version is kept (`kept_previous`).
    pub failed: usize,
    /// Failed pages whose previous version stays in the index.
    pub kept_previous: usize,
}

/// Counts of chunks by where their vector came from.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ChunkCounts {
    /// Chunks in the live generation after the run.
    pub total: usize,
    /// Chunks whose vector the model computed in this run.
    pub embedded: usize,
    /// Chunks of new or changed pages whose vector came from the embedding cache.
    pub cached: usize,
    /// Chunks of unchanged pages copied with their vectors from the previous generation.
    pub reused: usize,
}

/// Counts for one source argument.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceSummary {
    /// The source key (`dir:…`, `site:…`).
    pub source: String,
    /// Pages delivered (read or fetched with a body).
    pub pages: usize,
    /// Pages the source reported unchanged without a body (HTTP 304, sitemap lastmod).
    pub unchanged: usize,
    /// Pages that failed at the source (HTTP errors, unreadable files…).
    pub failed: usize,
    /// Files skipped because of their type (folders only).
    pub ignored_files: usize,
    /// Links not followed because they leave the crawl scope (crawls only).
    pub out_of_scope_links: usize,
    /// Pages disallowed by robots.txt (crawls only).
    pub robots_disallowed: usize,
    /// URLs found in sitemaps (crawls only).
    pub sitemap_urls: usize,
    /// Bytes read or downloaded.
    pub bytes: u64,
    /// True when the source stopped early (max pages reached): then pages it did not
    /// reach are kept, not deleted.
    pub truncated: bool,
}

/// A page that could not be indexed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PageFailure {
    /// URL (or file path) of the page.
    pub url: String,
    /// Stage that failed: `fetch`, `read`, `extract`, `index`.
    pub stage: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

impl IngestSummary {
    /// A short multi-line report for terminals.
    pub fn to_text(&self) -> String {
        let d = &self.documents;
        let c = &self.chunks;
        let mut s = String::new();
        let state = if self.published { "published" } else { "unchanged, kept" };
        s.push_str(&format!("bot `{}`: generation {} {}\n", self.bot, self.generation, state));
        s.push_str(&format!(
            "documents: {} total ({} added, {} changed, {} unchanged, {} deleted, {} failed)\n",
            d.total, d.added, d.changed, d.unchanged, d.deleted, d.failed
        ));
        s.push_str(&format!(
            "chunks:    {} total ({} embedded, {} from cache, {} reused)\n",
            c.total, c.embedded, c.cached, c.reused
        ));
        s.push_str(&format!(
            "time:      {:.2}s ({:.1} pages/s, {:.1} chunks/s embedded, {:.2}s in the model)\n",
            self.elapsed_secs, self.pages_per_sec, self.chunks_per_sec, self.embed_secs
        ));
        for src in &self.sources {
            s.push_str(&format!(
                "source {}: {} pages, {} unchanged, {} failed",
                src.source, src.pages, src.unchanged, src.failed
            ));
            if src.sitemap_urls + src.out_of_scope_links + src.robots_disallowed > 0 {
                s.push_str(&format!(
                    ", {} from sitemaps, {} robots-disallowed, {} off-scope links",
                    src.sitemap_urls, src.robots_disallowed, src.out_of_scope_links
                ));
            }
            if src.truncated {
                s.push_str(" (stopped at max pages)");
            }
            s.push('\n');
        }
        for f in &self.failures {
            s.push_str(&format!("skipped {} ({}): {}\n", f.url, f.stage, f.reason));
        }
        s
    }
}
