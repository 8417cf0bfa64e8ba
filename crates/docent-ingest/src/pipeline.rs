//! The ingest pipeline: sources → prepare (hash, extract, chunk) → embed + write.
//!
//! Three stages run at once so embedding, the slowest one, never waits:
//! 1. **sources** (async): folder walks and crawls emit [`SourceEvent`]s;
//! 2. **prepare** (a thread): decides per page whether it is unchanged (same content
//!    hash as in the live generation), then extracts and chunks the changed ones;
//! 3. **embed + write** (a thread owning the model): looks every chunk up in the
//!    embedding cache, embeds the misses in batches gathered across pages, appends
//!    new vectors to the cache and writes the documents into a new generation.
//!
//! At the end, documents that their source no longer has are left out, the rest of
//! the live generation is carried over, and the new generation is published with an
//! atomic pointer swap. A run that is killed publishes nothing; the next run reuses
//! the vectors it had already cached.
//!
//! Useful for: `docent ingest` and tests. Not for: fetching (that is `crawl`) or
//! reading the index (that is `docent_index::IndexSnapshot`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use docent_index::{
    BotDir, ChunkRecord, ContentHash, DocumentEntry, Embedder, EmbedderOptions, EmbeddingCache, GenerationWriter,
    IndexError, IndexSnapshot, Manifest, ModelFiles,
};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

use crate::chunk::{Chunker, ChunkerOptions};
use crate::crawl::{self, CrawlEvent, CrawlOptions, PreviousFetch, SkipReason};
use crate::folder::FolderSource;
use crate::summary::{IngestSummary, PageFailure, SourceSummary};
use crate::{extract, IngestError, RawPage};

/// Misses gathered before a model call (the model itself runs in `batch_size` pieces).
const EMBED_GATHER: usize = 64;

/// One source argument of `docent ingest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local folder or file.
    Path(PathBuf),
    /// An http(s) URL: crawled from there (depth 0 = that page only).
    Url(String),
}

impl SourceSpec {
    /// Classify a command-line argument: an existing path, else an http(s) URL, else
    /// a clear error (a typo'd folder and a malformed URL both end up here).
    pub fn parse(input: &str) -> Result<Self, IngestError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IngestError::InvalidSource { input: input.into(), detail: "empty argument".into() });
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return match url::Url::parse(trimmed) {
                Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(SourceSpec::Url(u.to_string())),
                Ok(_) => Err(IngestError::InvalidSource { input: input.into(), detail: "the URL has no host".into() }),
                Err(e) => Err(IngestError::InvalidSource { input: input.into(), detail: format!("invalid URL: {e}") }),
            };
        }
        let path = PathBuf::from(trimmed);
        if path.exists() {
            return Ok(SourceSpec::Path(path));
        }
        let detail = if trimmed.contains("://") {
            "only http:// and https:// URLs can be crawled".to_string()
        } else {
            "no such file or directory".to_string()
        };
        Err(IngestError::InvalidSource { input: input.into(), detail })
    }
}

/// Everything an ingest run needs to know.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Bot id (directory under `<data>/bots/`).
    pub bot: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Models directory (`None`: `DOCENT_MODELS`, then `./models`).
    pub models_dir: Option<PathBuf>,
    /// What to ingest.
    pub sources: Vec<SourceSpec>,
    /// Base URL of folder sources (their pages' public URLs); `None`: `file://` URLs.
    pub base_url: Option<String>,
    /// Crawler settings for URL sources.
    pub crawl: CrawlOptions,
    /// Chunk size and overlap.
    pub chunker: ChunkerOptions,
    /// Model batch size and threads.
    pub embedder: EmbedderOptions,
}

impl IngestOptions {
    /// Options with defaults for everything but the bot, data dir and sources.
    pub fn new(bot: impl Into<String>, data_dir: impl Into<PathBuf>, sources: Vec<SourceSpec>) -> Self {
        IngestOptions {
            bot: bot.into(),
            data_dir: data_dir.into(),
            models_dir: None,
            sources,
            base_url: None,
            crawl: CrawlOptions::default(),
            chunker: ChunkerOptions::default(),
            embedder: EmbedderOptions::default(),
        }
    }
}

/// Progress callbacks, so the CLI can draw bars without the library knowing about
/// terminals. Every method has a no-op default.
pub trait IngestObserver: Send + Sync {
    /// A page was read or fetched (or reported unchanged or failed) by a source.
    fn page_seen(&self, _url: &str) {}
    /// `n` more chunks are waiting for the model.
    fn chunks_queued(&self, _n: usize) {}
    /// The model finished `n` chunks.
    fn chunks_embedded(&self, _n: usize) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;
impl IngestObserver for NoProgress {}

/// What a source delivers to the prepare stage.
#[derive(Debug)]
enum SourceEvent {
    Page { page: RawPage, links: Vec<String>, sitemap_lastmod: Option<String> },
    Unchanged { url: String, source: String, sitemap_lastmod: Option<String> },
    Failed { url: String, failure: PageFailure, gone: bool },
}

/// What the prepare stage hands to the writer.
#[derive(Debug)]
enum WorkItem {
    /// New or changed page, chunked, waiting for vectors.
    Index { entry: DocumentEntry, chunks: Vec<ChunkRecord>, is_new: bool },
    /// Same content as the live generation: copy its chunks and vectors.
    Carry { entry: DocumentEntry },
    /// Page failed; keep the live version if there is one (unless the source says it is gone).
    Failed { url: String, failure: PageFailure, gone: bool },
}

/// Run an ingest to completion and publish the result.
pub async fn ingest(options: &IngestOptions, observer: Arc<dyn IngestObserver>) -> Result<IngestSummary, IngestError> {
    let span = info_span!("ingest", bot = %options.bot);
    run(options, observer).instrument(span).await
}

async fn run(options: &IngestOptions, observer: Arc<dyn IngestObserver>) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    if options.sources.is_empty() {
        return Err(IngestError::Config("give at least one folder, file or URL to ingest".into()));
    }
    let bot = BotDir::new(&options.data_dir, &options.bot)?;
    let files = ModelFiles::locate(options.models_dir.as_deref())?;
    let chunker = Chunker::new(files.load_tokenizer()?, options.chunker)?;
    // Folder sources are validated before anything is written.
    let folders = options
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceSpec::Path(p) => Some(FolderSource::new(p, options.base_url.as_deref())),
            SourceSpec::Url(_) => None,
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lock = bot.lock_for_ingest()?;

    let previous = match IndexSnapshot::open(&bot) {
        Ok(s) => Some(s),
        Err(IndexError::NoIndex { .. }) => None,
        Err(e) => {
            warn!(error = %e, "the live generation cannot be opened; rebuilding from scratch");
            None
        }
    };
    let reusable = previous.as_ref().is_some_and(|p| {
        let m = p.manifest();
        m.model == Embedder::model_info() && m.chunking == chunker.params()
    });
    if previous.is_some() && !reusable {
        info!("model or chunking parameters changed: every page is re-chunked");
    }
    // Without reuse (another model or chunker) every page needs its body again, so the
    // crawler must not send conditional requests either.
    let previous_manifest: Option<Arc<Manifest>> =
        previous.as_ref().filter(|_| reusable).map(|p| Arc::new(p.manifest().clone()));

    let source_keys: Vec<String> = source_keys(options, &folders);
    let (event_tx, event_rx) = mpsc::channel::<SourceEvent>(64);
    let sources_task = tokio::spawn(run_sources(
        options.sources.clone(),
        folders,
        options.crawl.clone(),
        previous_manifest.clone(),
        event_tx,
        observer.clone(),
    ));

    let chunking = chunker.params();
    let (work_tx, work_rx) = std_mpsc::sync_channel::<WorkItem>(256);
    let prepare_manifest = previous_manifest.clone();
    let known_manifest: Option<Arc<Manifest>> = previous.as_ref().map(|p| Arc::new(p.manifest().clone()));
    let prepare_observer = observer.clone();
    let prepare = std::thread::Builder::new()
        .name("docent-prepare".into())
        .spawn(move || prepare_stage(event_rx, work_tx, chunker, prepare_manifest, known_manifest, prepare_observer))
        .map_err(|e| IngestError::Pipeline(format!("cannot start the prepare thread: {e}")))?;

    let writer_options =
        WriterStage { bot: bot.clone(), files, embedder_options: options.embedder.clone(), chunking, observer };
    let write = std::thread::Builder::new()
        .name("docent-embed".into())
        .spawn(move || writer_options.run(work_rx, previous, reusable))
        .map_err(|e| IngestError::Pipeline(format!("cannot start the embedding thread: {e}")))?;

    let source_summaries = sources_task.await.map_err(|e| IngestError::Pipeline(format!("source task: {e}")))??;
    prepare.join().map_err(|_| IngestError::Pipeline("the prepare stage panicked".into()))?;
    let outcome = tokio::task::spawn_blocking(move || write.join())
        .await
        .map_err(|e| IngestError::Pipeline(format!("embedding stage: {e}")))?
        .map_err(|_| IngestError::Pipeline("the embedding stage panicked".into()))??;

    let summary = outcome.finish(&bot, source_summaries, &source_keys, started)?;
    drop(lock);
    Ok(summary)
}

fn source_keys(options: &IngestOptions, folders: &[FolderSource]) -> Vec<String> {
    let mut keys: Vec<String> = folders.iter().map(|f| f.key().to_string()).collect();
    for s in &options.sources {
        if let SourceSpec::Url(u) = s {
            keys.push(site_key(u));
        }
    }
    keys
}

fn site_key(start: &str) -> String {
    match url::Url::parse(start) {
        Ok(u) => format!("site:{}", crawl::canonicalize(&u)),
        Err(_) => format!("site:{start}"),
    }
}

/// Stage 1: every source in turn, as events.
async fn run_sources(
    specs: Vec<SourceSpec>,
    folders: Vec<FolderSource>,
    crawl_options: CrawlOptions,
    previous: Option<Arc<Manifest>>,
    tx: mpsc::Sender<SourceEvent>,
    observer: Arc<dyn IngestObserver>,
) -> Result<Vec<SourceSummary>, IngestError> {
    let mut summaries = Vec::new();
    let mut folders = folders.into_iter();
    for spec in specs {
        match spec {
            SourceSpec::Path(_) => {
                let Some(folder) = folders.next() else { continue };
                let span = info_span!("read_folder", root = %folder.root().display());
                summaries.push(read_folder(folder, &tx, observer.as_ref()).instrument(span).await?);
            }
            SourceSpec::Url(start) => {
                let span = info_span!("crawl_source", start = %start);
                let crawl = run_crawl(&start, &crawl_options, previous.as_deref(), &tx, observer.clone());
                summaries.push(crawl.instrument(span).await?);
            }
        }
    }
    Ok(summaries)
}

async fn read_folder(
    folder: FolderSource,
    tx: &mpsc::Sender<SourceEvent>,
    observer: &dyn IngestObserver,
) -> Result<SourceSummary, IngestError> {
    let folder = Arc::new(folder);
    let scan_folder = folder.clone();
    let scan = tokio::task::spawn_blocking(move || scan_folder.scan())
        .await
        .map_err(|e| IngestError::Pipeline(format!("folder scan: {e}")))?;
    let mut summary =
        SourceSummary { source: folder.key().to_string(), ignored_files: scan.ignored, ..Default::default() };
    for failure in scan.failures {
        summary.failed += 1;
        let event = SourceEvent::Failed { url: failure.url.clone(), failure, gone: false };
        if tx.send(event).await.is_err() {
            return Ok(summary);
        }
    }
    for file in scan.files {
        let reader = folder.clone();
        let read = tokio::task::spawn_blocking(move || reader.read(&file))
            .await
            .map_err(|e| IngestError::Pipeline(format!("file read: {e}")))?;
        let event = match read {
            Ok(page) => {
                observer.page_seen(&page.url);
                summary.pages += 1;
                summary.bytes += page.body.len() as u64;
                SourceEvent::Page { page, links: Vec::new(), sitemap_lastmod: None }
            }
            Err(failure) => {
                observer.page_seen(&failure.url);
                summary.failed += 1;
                SourceEvent::Failed { url: failure.url.clone(), failure, gone: false }
            }
        };
        if tx.send(event).await.is_err() {
            break; // the prepare stage stopped; its error is reported from there
        }
    }
    Ok(summary)
}

async fn run_crawl(
    start: &str,
    options: &CrawlOptions,
    previous: Option<&Manifest>,
    tx: &mpsc::Sender<SourceEvent>,
    observer: Arc<dyn IngestObserver>,
) -> Result<SourceSummary, IngestError> {
    let key = site_key(start);
    let known: HashMap<String, PreviousFetch> = previous
        .map(|m| {
            m.documents
                .values()
                .filter(|d| d.source == key)
                .map(|d| {
                    let prev = PreviousFetch {
                        etag: d.etag.clone(),
                        last_modified: d.last_modified.clone(),
                        sitemap_lastmod: d.sitemap_lastmod.clone(),
                        links: d.links.clone(),
                    };
                    (d.url.clone(), prev)
                })
                .collect()
        })
        .unwrap_or_default();
    let (crawl_tx, mut crawl_rx) = mpsc::channel::<CrawlEvent>(32);
    let mut summary = SourceSummary { source: key.clone(), ..Default::default() };
    let forward = {
        let tx = tx.clone();
        let key = key.clone();
        async move {
            let mut counts = SourceSummary::default();
            while let Some(event) = crawl_rx.recv().await {
                let event = match event {
                    CrawlEvent::Fetched { mut page, links, sitemap_lastmod } => {
                        observer.page_seen(&page.url);
                        counts.pages += 1;
                        page.source = key.clone();
                        SourceEvent::Page { page, links, sitemap_lastmod }
                    }
                    CrawlEvent::Unchanged { url, sitemap_lastmod } => {
                        observer.page_seen(&url);
                        counts.unchanged += 1;
                        SourceEvent::Unchanged { url, source: key.clone(), sitemap_lastmod }
                    }
                    CrawlEvent::Skipped { url, reason } => {
                        observer.page_seen(&url);
                        counts.failed += 1;
                        let gone = matches!(reason, SkipReason::HttpStatus(404 | 410));
                        let failure = PageFailure { url: url.clone(), stage: "fetch", reason: reason.to_string() };
                        SourceEvent::Failed { url, failure, gone }
                    }
                };
                if tx.send(event).await.is_err() {
                    break;
                }
            }
            counts
        }
    };
    let (stats, counts) = tokio::join!(crawl::crawl(start, options, &known, crawl_tx), forward);
    let stats = stats?;
    summary.pages = counts.pages;
    summary.unchanged = counts.unchanged;
    summary.failed = counts.failed;
    summary.out_of_scope_links = stats.out_of_scope_links;
    summary.robots_disallowed = stats.robots_disallowed;
    summary.sitemap_urls = stats.sitemap_urls;
    summary.bytes = stats.bytes;
    summary.truncated = stats.fetched + stats.unchanged + stats.skipped >= options.max_pages;
    Ok(summary)
}

/// Stage 2: hash, compare with the live generation, extract and chunk.
fn prepare_stage(
    mut rx: mpsc::Receiver<SourceEvent>,
    tx: std_mpsc::SyncSender<WorkItem>,
    chunker: Chunker,
    previous: Option<Arc<Manifest>>,
    known: Option<Arc<Manifest>>,
    observer: Arc<dyn IngestObserver>,
) {
    let _span = info_span!("prepare").entered();
    // `previous`: the live manifest when its chunks can be reused; `known`: the live
    // manifest in any case (to tell new pages from changed ones).
    let is_known = |url: &str| known.as_ref().is_some_and(|m| m.documents.contains_key(url));
    let prev_doc = |url: &str| previous.as_ref().and_then(|m| m.documents.get(url));
    while let Some(event) = rx.blocking_recv() {
        let item = match event {
            SourceEvent::Page { page, links, sitemap_lastmod } => {
                let hash = page_hash(&page);
                match prev_doc(&page.url) {
                    Some(prev) if prev.content_hash == hash => {
                        let mut entry = prev.clone();
                        entry.source = page.source.clone();
                        entry.etag = page.etag.clone().or(entry.etag);
                        entry.last_modified = page.last_modified.clone().or(entry.last_modified);
                        entry.sitemap_lastmod = sitemap_lastmod.or(entry.sitemap_lastmod);
                        if !links.is_empty() {
                            entry.links = links;
                        }
                        WorkItem::Carry { entry }
                    }
                    _ => {
                        let is_new = !is_known(&page.url);
                        prepare_page(&chunker, page, hash, links, sitemap_lastmod, is_new, &*observer)
                    }
                }
            }
            SourceEvent::Unchanged { url, source, sitemap_lastmod } => match prev_doc(&url) {
                Some(prev) => {
                    let mut entry = prev.clone();
                    entry.source = source;
                    entry.sitemap_lastmod = sitemap_lastmod.or(entry.sitemap_lastmod);
                    WorkItem::Carry { entry }
                }
                None => WorkItem::Failed {
                    failure: PageFailure {
                        url: url.clone(),
                        stage: "fetch",
                        reason: "reported unchanged but not in the index".into(),
                    },
                    url,
                    gone: false,
                },
            },
            SourceEvent::Failed { url, failure, gone } => WorkItem::Failed { url, failure, gone },
        };
        if tx.send(item).is_err() {
            return; // the writer stopped; it reports why
        }
    }
}

/// Content hash of a page as delivered: same bytes of the same kind, same chunks.
fn page_hash(page: &RawPage) -> ContentHash {
    let mut h = blake3::Hasher::new();
    h.update(&[page.kind as u8]);
    h.update(page.charset.as_deref().unwrap_or("").as_bytes());
    h.update(&[0]);
    h.update(&page.body);
    ContentHash(*h.finalize().as_bytes())
}

fn prepare_page(
    chunker: &Chunker,
    page: RawPage,
    hash: ContentHash,
    links: Vec<String>,
    sitemap_lastmod: Option<String>,
    is_new: bool,
    observer: &dyn IngestObserver,
) -> WorkItem {
    let where_ = page.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| page.url.clone());
    let extracted = match extract::extract(&page) {
        Ok(x) => x,
        Err(e) => {
            return WorkItem::Failed {
                url: page.url.clone(),
                failure: PageFailure { url: where_, stage: "extract", reason: e.to_string() },
                gone: false,
            }
        }
    };
    if extracted.is_empty() {
        return WorkItem::Failed {
            url: page.url.clone(),
            failure: PageFailure { url: where_, stage: "extract", reason: "no text content".into() },
            gone: false,
        };
    }
    let chunks = chunker.chunk_page(&page.url, &extracted);
    observer.chunks_queued(chunks.len());
    let entry = DocumentEntry {
        url: page.url.clone(),
        title: extracted.title.clone(),
        source: page.source.clone(),
        content_hash: hash,
        chunk_count: chunks.len(),
        etag: page.etag,
        last_modified: page.last_modified,
        sitemap_lastmod,
        tags: extracted.tags,
        links,
    };
    WorkItem::Index { entry, chunks, is_new }
}

/// Stage 3: vectors (cache or model) and the generation writer.
struct WriterStage {
    bot: BotDir,
    files: ModelFiles,
    embedder_options: EmbedderOptions,
    chunking: docent_index::ChunkingParams,
    observer: Arc<dyn IngestObserver>,
}

/// A document waiting for its chunk vectors.
struct Pending {
    entry: DocumentEntry,
    chunks: Vec<ChunkRecord>,
    is_new: bool,
}

/// What the writer stage leaves for the final accounting.
struct WriterOutcome {
    writer: GenerationWriter,
    cache: EmbeddingCache,
    previous: Option<IndexSnapshot>,
    /// The previous generation's chunks and vectors may be copied (same model and chunker).
    reusable: bool,
    seen: HashSet<String>,
    failures: Vec<PageFailure>,
    /// Failed pages whose live version must not be carried over (404/410).
    gone: HashSet<String>,
    /// Failed pages whose live version should be kept.
    keep: HashSet<String>,
    added: usize,
    changed: usize,
    unchanged: usize,
    embedded: usize,
    cached: usize,
    reused: usize,
    embed_time: Duration,
    /// Hashes whose vectors the model computed in this run.
    fresh: HashSet<ContentHash>,
}

impl WriterStage {
    fn run(
        self,
        rx: std_mpsc::Receiver<WorkItem>,
        previous: Option<IndexSnapshot>,
        reusable: bool,
    ) -> Result<WriterOutcome, IngestError> {
        let _span = info_span!("embed_and_write").entered();
        let info = Embedder::model_info();
        let cache = EmbeddingCache::open(&self.bot.embedding_cache_path(), &info.id, info.dim)?;
        let writer = GenerationWriter::create(&self.bot, info, self.chunking.clone())?;
        let mut out = WriterOutcome {
            writer,
            cache,
            previous,
            reusable,
            seen: HashSet::new(),
            failures: Vec::new(),
            gone: HashSet::new(),
            keep: HashSet::new(),
            added: 0,
            changed: 0,
            unchanged: 0,
            embedded: 0,
            cached: 0,
            reused: 0,
            embed_time: Duration::ZERO,
            fresh: HashSet::new(),
        };
        let mut embedder: Option<Embedder> = None;
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut misses = 0usize;
        // Block for the next item, then take whatever else is already waiting.
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let mut idle = true;
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
                if batch.len() >= 256 {
                    idle = false;
                    break;
                }
            }
            for item in batch {
                match item {
                    WorkItem::Index { entry, chunks, is_new } => {
                        if !out.seen.insert(entry.url.clone()) {
                            continue; // the same page from two sources: first one wins
                        }
                        misses += chunks.iter().filter(|c| out.cache.get(&c.hash).is_none()).count();
                        pending.push_back(Pending { entry, chunks, is_new });
                    }
                    WorkItem::Carry { entry } => {
                        if out.seen.insert(entry.url.clone()) {
                            out.carry(entry)?;
                        }
                    }
                    WorkItem::Failed { url, failure, gone } => {
                        out.failures.push(failure);
                        if gone {
                            out.gone.insert(url);
                        } else {
                            out.keep.insert(url);
                        }
                    }
                }
            }
            // Keep the model busy: embed once enough misses are gathered or no more input is waiting.
            if misses >= EMBED_GATHER || (misses > 0 && idle) {
                self.embed_pending(&mut out, &mut embedder, &pending)?;
                misses = 0;
            }
            if misses == 0 {
                while let Some(p) = pending.pop_front() {
                    out.write_pending(p)?;
                }
            }
        }
        if misses > 0 {
            self.embed_pending(&mut out, &mut embedder, &pending)?;
        }
        while let Some(p) = pending.pop_front() {
            out.write_pending(p)?;
        }
        Ok(out)
    }

    fn embed_pending(
        &self,
        out: &mut WriterOutcome,
        embedder: &mut Option<Embedder>,
        pending: &VecDeque<Pending>,
    ) -> Result<(), IngestError> {
        let mut seen = HashSet::new();
        let mut hashes = Vec::new();
        let mut texts = Vec::new();
        for p in pending {
            for c in &p.chunks {
                if out.cache.get(&c.hash).is_none() && seen.insert(c.hash) {
                    hashes.push(c.hash);
                    texts.push(c.embed_text());
                }
            }
        }
        if texts.is_empty() {
            return Ok(());
        }
        // Similar lengths in one model batch: a batch is padded to its longest text.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let hashes: Vec<ContentHash> = order.iter().map(|&i| hashes[i]).collect();
        let texts: Vec<String> = order.iter().map(|&i| std::mem::take(&mut texts[i])).collect();
        if embedder.is_none() {
            *embedder = Some(Embedder::load(&self.files, self.embedder_options.clone())?);
        }
        let Some(model) = embedder.as_mut() else {
            return Err(IngestError::Pipeline("embedding model not loaded".into()));
        };
        let t = Instant::now();
        for (hs, ts) in hashes.chunks(EMBED_GATHER).zip(texts.chunks(EMBED_GATHER)) {
            let vectors = model.embed(ts)?;
            out.cache.insert_batch(hs.iter().copied().zip(vectors.iter().map(|v| v.as_slice())))?;
            out.fresh.extend(hs.iter().copied());
            out.embedded += ts.len();
            self.observer.chunks_embedded(ts.len());
        }
        out.embed_time += t.elapsed();
        Ok(())
    }
}

impl WriterOutcome {
    fn write_pending(&mut self, p: Pending) -> Result<(), IngestError> {
        let mut rows: Vec<(ChunkRecord, &[f32])> = Vec::with_capacity(p.chunks.len());
        for c in p.chunks {
            if !self.fresh.contains(&c.hash) {
                self.cached += 1;
            }
            let Some(v) = self.cache.get(&c.hash) else {
                return Err(IngestError::Pipeline(format!("no vector for a chunk of {}", p.entry.url)));
            };
            rows.push((c, v));
        }
        if p.is_new {
            self.added += 1;
        } else {
            self.changed += 1;
        }
        self.writer.add_document(p.entry, &rows)?;
        Ok(())
    }

    /// Copy a document's chunks and vectors from the live generation.
    fn carry(&mut self, entry: DocumentEntry) -> Result<(), IngestError> {
        let Some(prev) = self.previous.as_ref().filter(|_| self.reusable) else {
            return Err(IngestError::Pipeline(format!(
                "cannot carry {} over: no reusable previous generation",
                entry.url
            )));
        };
        let chunks = prev.chunks_of(&entry.url)?;
        let vectors = prev.vectors();
        let mut rows: Vec<(ChunkRecord, &[f32])> = Vec::with_capacity(chunks.len());
        for (chunk, ordinal) in chunks {
            let v = vectors.row(ordinal as usize).ok_or_else(|| {
                IngestError::Index(IndexError::Corrupt {
                    path: prev.dir().to_path_buf(),
                    detail: format!("chunk {} points at missing vector row {ordinal}", chunk.chunk_id),
                })
            })?;
            rows.push((chunk, v));
        }
        self.reused += rows.len();
        self.unchanged += 1;
        self.writer.add_document(entry, &rows)?;
        Ok(())
    }

    /// Carry over what the run did not touch, publish (or keep the live generation when
    /// nothing changed), compact the cache and build the summary.
    fn finish(
        mut self,
        bot: &BotDir,
        sources: Vec<SourceSummary>,
        source_keys: &[String],
        started: Instant,
    ) -> Result<IngestSummary, IngestError> {
        let truncated: HashSet<String> = sources.iter().filter(|s| s.truncated).map(|s| s.source.clone()).collect();
        let mut deleted = 0usize;
        let mut kept_previous = 0usize;
        let leftovers: Vec<DocumentEntry> = self
            .previous
            .as_ref()
            .map(|p| p.manifest().documents.values().filter(|d| !self.seen.contains(&d.url)).cloned().collect())
            .unwrap_or_default();
        for entry in leftovers {
            let in_run = source_keys.contains(&entry.source);
            let keep = if self.gone.contains(&entry.url) {
                false
            } else if self.keep.contains(&entry.url) {
                kept_previous += 1;
                true
            } else {
                // A source of this run that no longer has the page deletes it, unless the
                // source stopped early and simply did not get to it.
                !in_run || truncated.contains(&entry.source)
            };
            if keep && self.reusable {
                self.seen.insert(entry.url.clone());
                self.carry(entry)?;
            } else {
                deleted += 1;
            }
        }
        let previous_generation = self.previous.as_ref().map(|p| p.generation());
        let total_docs = self.writer.document_count();
        let failed = self.failures.len();
        let mut summary = IngestSummary {
            bot: bot.bot().to_string(),
            sources,
            failures: std::mem::take(&mut self.failures),
            embed_secs: self.embed_time.as_secs_f64(),
            ..Default::default()
        };
        summary.documents.added = self.added;
        summary.documents.changed = self.changed;
        summary.documents.unchanged = self.unchanged;
        summary.documents.deleted = deleted;
        summary.documents.failed = failed;
        summary.documents.kept_previous = kept_previous;
        summary.chunks.embedded = self.embedded;
        summary.chunks.cached = self.cached;
        summary.chunks.reused = self.reused;

        let nothing_changed = self.added == 0 && self.changed == 0 && deleted == 0;
        if total_docs == 0 {
            self.writer.abandon()?;
            let why = if summary.failures.is_empty() {
                "the sources contain no Markdown, HTML or text pages".to_string()
            } else {
                format!("all {} pages failed (see the list above)", summary.failures.len())
            };
            if previous_generation.is_some() {
                return Err(IngestError::NothingToIndex(format!("{why}; the live generation is kept")));
            }
            return Err(IngestError::NothingToIndex(why));
        }
        match previous_generation {
            Some(live) if nothing_changed => {
                self.writer.abandon()?;
                summary.generation = live;
                summary.published = false;
                summary.documents.total = total_docs;
                summary.chunks.total = self.previous.as_ref().map(|p| p.chunk_count()).unwrap_or(0);
            }
            _ => {
                // The live snapshot's files may be removed by the publish below.
                drop(self.previous.take());
                let published = self.writer.publish()?;
                let live = published.chunk_hashes;
                let kept = self.cache.compact(|h| live.contains(h))?;
                info!(entries = kept, "embedding cache compacted");
                summary.generation = published.generation;
                summary.published = true;
                summary.documents.total = published.counts.documents;
                summary.chunks.total = published.counts.chunks;
            }
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let pages: usize = summary.sources.iter().map(|s| s.pages + s.unchanged + s.failed).sum();
        summary.elapsed_secs = elapsed;
        summary.pages_per_sec = pages as f64 / elapsed;
        summary.chunks_per_sec = summary.chunks.embedded as f64 / elapsed;
        Ok(summary)
    }
}
