//! Shared set-up: the real model, and generations written from hand-made pages.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use docent_index::{
    BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, Embedder, EmbedderOptions, GenerationWriter,
    ModelFiles, ModelGraph, ModelInfo,
};
use docent_retrieval::{QueryEmbedder, Retriever, RetrieverConfig};

/// A page of the test corpus.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub title: String,
    pub tags: Vec<String>,
    /// (heading, text) per chunk.
    pub sections: Vec<(String, String)>,
}

impl Page {
    pub fn new(url: &str, title: &str, sections: &[(&str, &str)]) -> Self {
        Page {
            url: url.into(),
            title: title.into(),
            tags: Vec::new(),
            sections: sections.iter().map(|(h, t)| (h.to_string(), t.to_string())).collect(),
        }
    }

    pub fn tagged(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| t.to_string()).collect();
        self
    }

    pub fn chunks(&self) -> Vec<ChunkRecord> {
        self.sections
            .iter()
            .enumerate()
            .map(|(i, (heading, text))| {
                let heading_path = vec![self.title.clone(), heading.clone()];
                let embed = docent_index::embed_text(&heading_path, text);
                ChunkRecord {
                    chunk_id: format!("{}-{i:04}", self.url),
                    doc_id: self.url.clone(),
                    url: format!("{}#{}", self.url, slug(heading)),
                    title: self.title.clone(),
                    heading_path,
                    text: text.clone(),
                    tags: self.tags.clone(),
                    hash: ContentHash::of(embed.as_bytes()),
                }
            })
            .collect()
    }
}

fn slug(s: &str) -> String {
    s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

pub fn model_files() -> ModelFiles {
    ModelFiles::locate(None).expect("models missing: run `make models`")
}

/// The model that embeds documents in tests (one per test binary).
pub fn doc_embedder() -> &'static Mutex<Embedder> {
    static E: OnceLock<Mutex<Embedder>> = OnceLock::new();
    E.get_or_init(|| Mutex::new(Embedder::load(&model_files(), EmbedderOptions::default()).expect("load model")))
}

/// The query embedder shared by every retriever of a test binary.
pub fn query_embedder() -> Arc<QueryEmbedder> {
    static Q: OnceLock<Arc<QueryEmbedder>> = OnceLock::new();
    Q.get_or_init(|| {
        // One intra-op thread: single short queries are fastest that way on 2 cores.
        let e = Embedder::load(&model_files(), EmbedderOptions::queries(ModelGraph::QueryInt8)).expect("load model");
        Arc::new(QueryEmbedder::new(e, 1024))
    })
    .clone()
}

pub fn chunking() -> ChunkingParams {
    ChunkingParams { version: 1, max_tokens: 200, overlap_tokens: 32 }
}

fn entry(page: &Page, chunks: usize) -> DocumentEntry {
    DocumentEntry {
        url: page.url.clone(),
        title: page.title.clone(),
        source: "dir:/test".into(),
        content_hash: ContentHash::of(format!("{page:?}").as_bytes()),
        chunk_count: chunks,
        etag: None,
        last_modified: None,
        sitemap_lastmod: None,
        tags: page.tags.clone(),
        links: vec![],
    }
}

/// Write and publish a generation of `pages` with real embeddings; returns its number.
pub fn publish(bot: &BotDir, pages: &[Page]) -> u64 {
    publish_with_model(bot, pages, Embedder::model_info(), None)
}

/// Write a generation whose manifest names `model`; vectors are real embeddings, or
/// `fake_dim`-wide constants when given (for a dimension mismatch).
pub fn publish_with_model(bot: &BotDir, pages: &[Page], model: ModelInfo, fake_dim: Option<usize>) -> u64 {
    let _lock = bot.lock_for_ingest().expect("ingest lock");
    let mut w = GenerationWriter::create(bot, model, chunking()).expect("create generation");
    for page in pages {
        let chunks = page.chunks();
        let vectors: Vec<Vec<f32>> = match fake_dim {
            Some(d) => chunks.iter().map(|_| vec![1.0 / (d as f32).sqrt(); d]).collect(),
            None => {
                let texts: Vec<String> = chunks.iter().map(ChunkRecord::embed_text).collect();
                doc_embedder().lock().unwrap_or_else(|p| p.into_inner()).embed(&texts).expect("embed")
            }
        };
        let rows: Vec<(ChunkRecord, &[f32])> = chunks.into_iter().zip(vectors.iter().map(Vec::as_slice)).collect();
        w.add_document(entry(page, rows.len()), &rows).expect("add document");
    }
    w.publish().expect("publish").generation
}

pub fn retriever(bot: &BotDir) -> Retriever {
    Retriever::open_with(bot, query_embedder(), RetrieverConfig::default()).expect("open retriever")
}

/// A small help-centre corpus: billing, API keys, a page with many near-identical
/// chunks, two pages sharing an identical section.
pub fn sample_pages() -> Vec<Page> {
    vec![
        Page::new(
            "https://help.test/billing/refunds",
            "Refunds",
            &[
                (
                    "Refund window",
                    "You can request a full refund within 30 days of the charge date for annual plans and 14 days for monthly plans.",
                ),
                ("When the money arrives", "Refunds reach your card in 5 to 10 business days, depending on your bank."),
                ("Partial refunds", "Seat reductions in the middle of a term are credited to your balance, not refunded."),
            ],
        )
        .tagged(&["billing"]),
        Page::new(
            "https://help.test/billing/invoices",
            "Invoices",
            &[
                ("Downloading invoices", "Open Settings, then Billing, and click Download next to any invoice to get a PDF."),
                ("Changing the billing address", "The billing address printed on invoices can be edited by workspace owners."),
                (
                    "Shared footer",
                    "Need more help? Contact our support team by email at any time, we answer within one business day.",
                ),
            ],
        )
        .tagged(&["billing", "Invoicing"]),
        Page::new(
            "https://help.test/api/keys",
            "API keys",
            &[
                ("Creating a key", "Go to Settings, Developers, API keys and click Create key. The key is shown once."),
                ("Rotating keys", "Rotate secret keys every ninety days; the old key keeps working for 24 hours."),
                ("Key limits", "A workspace can have up to 25 active API keys, live and test keys together."),
            ],
        )
        .tagged(&["api"]),
        Page::new(
            "https://help.test/api/webhooks",
            "Webhooks",
            &[
                ("Signing secret", "Every webhook request is signed with HMAC SHA-256 using the endpoint's signing secret."),
                ("Retries", "Failed webhook deliveries are retried with exponential backoff for up to three days."),
                (
                    "Shared footer",
                    "Need more help? Contact our support team by email at any time, we answer within one business day.",
                ),
            ],
        )
        .tagged(&["api"]),
        Page::new(
            "https://help.test/getting-started/",
            "Getting started",
            &[
                ("Create a workspace", "Sign up with your email address, pick a workspace name and invite your team."),
                ("Import contacts", "Upload a CSV file of customers; columns are matched to contact fields automatically."),
            ],
        ),
        Page::new(
            "https://help.test/security/passwords",
            "Passwords and sign-in",
            &[
                ("Reset your password", "Click Forgot password on the sign-in page and follow the link we email you."),
                ("Password reset link expired", "Password reset links expire after one hour; request a new password reset link."),
                ("Password reset for teams", "Workspace owners can send a password reset email to any team member."),
                ("Password reset on mobile", "In the mobile app, tap Forgot password to receive a password reset email."),
                ("Two-factor authentication", "Turn on two-factor authentication under Settings, Security, Sign-in."),
            ],
        ),
    ]
}
