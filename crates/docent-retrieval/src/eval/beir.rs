//! BEIR-format data sets: loading, and indexing them as a Docent bot.
//!
//! The standard layout: `corpus.jsonl` (`{"_id", "title", "text"}` per line),
//! `queries.jsonl` (`{"_id", "text"}`) and `qrels/<split>.tsv` (tab-separated, header
//! `query-id corpus-id score`). Only queries with judgments in the split are
//! evaluated, in `queries.jsonl` order.
//!
//! [`BeirDataset::build_index`] writes the corpus as the bot `beir-<name>`: one
//! document per corpus entry whose document id is the BEIR `_id`, cut by the ingest
//! [`Chunker`] (an abstract that fits the model window with its title stays one chunk;
//! longer ones are split with overlap), embedded through the bot's embedding cache, so
//! an interrupted or repeated build never embeds a text twice. A published generation
//! of the same corpus (same document hashes), model and chunker is reused as is.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use docent_index::{
    BotDir, ChunkRecord, ContentHash, DocumentEntry, Embedder, EmbeddingCache, GenerationWriter, Manifest, ModelFiles,
};
use docent_ingest::{Chunker, ChunkerOptions, ExtractedPage, Section};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::eval::{EvalError, Qrels};

/// Chunk size used for BEIR corpora: the whole model window (the chunker still leaves
/// room for the title prefix and the special tokens), so most abstracts stay whole.
pub const BEIR_CHUNK_TOKENS: usize = docent_index::MAX_LENGTH;
/// Overlap between the pieces of an abstract that does not fit.
pub const BEIR_OVERLAP_TOKENS: usize = 32;
/// Documents chunked and embedded per batch (and per progress report).
const DOCS_PER_BATCH: usize = 32;

/// One corpus entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeirDoc {
    /// Document id (`_id`).
    #[serde(rename = "_id")]
    pub id: String,
    /// Title (may be empty).
    #[serde(default)]
    pub title: String,
    /// Body text.
    #[serde(default)]
    pub text: String,
}

impl BeirDoc {
    /// Hash of title and text: equal hash, same chunks.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of(format!("{}\u{0}{}", self.title, self.text).as_bytes())
    }
}

/// One query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeirQuery {
    /// Query id (`_id`).
    #[serde(rename = "_id")]
    pub id: String,
    /// Query text.
    pub text: String,
}

/// A loaded BEIR data set (one split of judgments).
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// Name (the directory name), used for the bot id `beir-<name>`.
    pub name: String,
    /// The split whose judgments were loaded.
    pub split: String,
    /// Corpus entries in file order.
    pub corpus: Vec<BeirDoc>,
    /// Queries that have judgments in the split, in `queries.jsonl` order.
    pub queries: Vec<BeirQuery>,
    /// Judgments: query id → document id → grade.
    pub qrels: HashMap<String, Qrels>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EvalError {
    let path = path.to_path_buf();
    move |source| EvalError::Io { action, path, source }
}

fn parse_err(path: &Path, line: usize, detail: impl Into<String>) -> EvalError {
    EvalError::Parse { path: path.to_path_buf(), line, detail: detail.into() }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| parse_err(path, i + 1, e.to_string())))
        .collect()
}

/// Parse a qrels TSV (`query-id corpus-id score`, header line optional).
pub fn parse_qrels(path: &Path, text: &str) -> Result<HashMap<String, Qrels>, EvalError> {
    let mut out: HashMap<String, Qrels> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if i == 0 && cols.first().is_some_and(|c| c.eq_ignore_ascii_case("query-id")) {
            continue;
        }
        let [q, d, score] = cols[..] else {
            return Err(parse_err(path, i + 1, format!("expected 3 tab-separated columns, got {}", cols.len())));
        };
        let grade: i32 =
            score.parse().map_err(|_| parse_err(path, i + 1, format!("score `{score}` is not an integer")))?;
        out.entry(q.to_string()).or_default().insert(d.to_string(), grade);
    }
    Ok(out)
}

/// A bot id from a data set name: lower-case ASCII letters, digits, `-` and `_`.
fn bot_id(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let mut id = format!("beir-{slug}");
    id.truncate(64);
    id
}

/// What [`BeirDataset::build_index`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeirIndexReport {
    /// Bot id written.
    pub bot: String,
    /// Live generation.
    pub generation: u64,
    /// True when a matching generation already existed and nothing was written.
    pub reused: bool,
    /// Documents in the generation.
    pub documents: usize,
    /// Chunks in the generation.
    pub chunks: usize,
    /// Chunk texts embedded by the model in this run.
    pub embedded: usize,
    /// Chunk vectors taken from the embedding cache in this run.
    pub cached: usize,
    /// Wall time of the build (0 when reused).
    pub seconds: f64,
}

impl BeirDataset {
    /// Load `dir` with the judgments of `split` (`qrels/<split>.tsv`).
    pub fn load(dir: &Path, split: &str) -> Result<Self, EvalError> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "dataset".to_string());
        let corpus: Vec<BeirDoc> = read_jsonl(&dir.join("corpus.jsonl"))?;
        let all_queries: Vec<BeirQuery> = read_jsonl(&dir.join("queries.jsonl"))?;
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let qrels_text = std::fs::read_to_string(&qrels_path).map_err(io("reading", &qrels_path))?;
        let mut qrels = parse_qrels(&qrels_path, &qrels_text)?;
        let mut seen = HashSet::new();
        for (i, d) in corpus.iter().enumerate() {
            if !seen.insert(d.id.as_str()) {
                return Err(parse_err(&dir.join("corpus.jsonl"), i + 1, format!("document id {} appears twice", d.id)));
            }
        }
        let queries: Vec<BeirQuery> = all_queries.into_iter().filter(|q| qrels.contains_key(&q.id)).collect();
        let kept: HashSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        qrels.retain(|q, _| kept.contains(q.as_str()));
        if queries.is_empty() {
            return Err(EvalError::Dataset(format!(
                "{}: no query of queries.jsonl has judgments in {}",
                dir.display(),
                qrels_path.display()
            )));
        }
        Ok(BeirDataset { name, split: split.to_string(), corpus, queries, qrels })
    }

    /// Keep only the first `n` queries (and their judgments).
    pub fn limit_queries(&mut self, n: usize) {
        self.queries.truncate(n);
        let kept: HashSet<&str> = self.queries.iter().map(|q| q.id.as_str()).collect();
        self.qrels.retain(|q, _| kept.contains(q.as_str()));
    }

    /// Number of judgments in the loaded split.
    pub fn judgment_count(&self) -> usize {
        self.qrels.values().map(HashMap::len).sum()
    }

    /// The bot id the corpus is indexed as: `beir-<name>`.
    pub fn bot_id(&self) -> String {
        bot_id(&self.name)
    }

    /// The chunker settings used for BEIR corpora.
    pub fn chunker_options() -> ChunkerOptions {
        ChunkerOptions { max_tokens: BEIR_CHUNK_TOKENS, overlap_tokens: BEIR_OVERLAP_TOKENS }
    }

    /// The bot directory under `data_dir`.
    pub fn bot_dir(&self, data_dir: &Path) -> Result<BotDir, EvalError> {
        Ok(BotDir::new(data_dir, &self.bot_id())?)
    }

    /// The pages the chunker sees: the title as page title, the text as its only section.
    fn page(doc: &BeirDoc) -> ExtractedPage {
        let title = if doc.title.trim().is_empty() { doc.id.clone() } else { doc.title.trim().to_string() };
        ExtractedPage {
            title,
            sections: vec![Section { text: doc.text.clone(), ..Section::default() }],
            ..ExtractedPage::default()
        }
    }

    /// True when the bot's live generation already holds exactly this corpus, built by
    /// the same model and chunker settings.
    fn live_matches(&self, bot: &BotDir, chunker: &Chunker) -> Result<Option<Manifest>, EvalError> {
        let Some(n) = bot.current()? else { return Ok(None) };
        let path = bot.generation_dir(n).join("manifest.json");
        let Ok(manifest) = Manifest::read(&path) else { return Ok(None) };
        let same = manifest.schema_version == docent_index::SCHEMA_VERSION
            && manifest.model == Embedder::model_info()
            && manifest.chunking == chunker.params()
            && manifest.documents.len() == self.corpus.len()
            && self
                .corpus
                .iter()
                .all(|d| manifest.documents.get(&d.id).is_some_and(|e| e.content_hash == d.content_hash()));
        Ok(same.then_some(manifest))
    }

    /// Index the corpus as bot [`BeirDataset::bot_id`] under `data_dir` (or reuse the
    /// live generation when it matches). `progress(done, total)` is called after every
    /// batch of documents.
    pub fn build_index(
        &self,
        data_dir: &Path,
        files: &ModelFiles,
        embedder: &mut Embedder,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BeirIndexReport, EvalError> {
        let started = Instant::now();
        let bot = self.bot_dir(data_dir)?;
        let chunker = Chunker::new(files.load_tokenizer()?, Self::chunker_options())?;
        if let Some(m) = self.live_matches(&bot, &chunker)? {
            info!(bot = bot.bot(), generation = m.generation, "BEIR index is up to date; reusing it");
            return Ok(BeirIndexReport {
                bot: bot.bot().to_string(),
                generation: m.generation,
                reused: true,
                documents: m.counts.documents,
                chunks: m.counts.chunks,
                embedded: 0,
                cached: 0,
                seconds: 0.0,
            });
        }
        std::fs::create_dir_all(bot.path()).map_err(io("creating", bot.path()))?;
        let _lock = bot.lock_for_ingest()?;
        let model = embedder.info();
        let mut cache = EmbeddingCache::open(&bot.embedding_cache_path(), &model.id, model.dim)?;
        let mut writer = GenerationWriter::create(&bot, model, chunker.params())?;
        let source = format!("beir:{}", self.name);
        let (mut embedded, mut cached) = (0, 0);
        let total = self.corpus.len();
        for (b, batch) in self.corpus.chunks(DOCS_PER_BATCH).enumerate() {
            let chunked: Vec<Vec<ChunkRecord>> =
                batch.iter().map(|d| chunker.chunk_page(&d.id, &Self::page(d))).collect();
            // Embed the texts the cache does not know, once each.
            let mut missing: BTreeMap<ContentHash, String> = BTreeMap::new();
            for c in chunked.iter().flatten() {
                if cache.get(&c.hash).is_none() {
                    missing.entry(c.hash).or_insert_with(|| c.embed_text());
                } else {
                    cached += 1;
                }
            }
            if !missing.is_empty() {
                let (hashes, texts): (Vec<ContentHash>, Vec<String>) = missing.into_iter().unzip();
                let vectors = embedder.embed(&texts)?;
                embedded += texts.len();
                cache.insert_batch(hashes.iter().copied().zip(vectors.iter().map(Vec::as_slice)))?;
            }
            for (doc, chunks) in batch.iter().zip(&chunked) {
                let mut rows: Vec<(ChunkRecord, &[f32])> = Vec::with_capacity(chunks.len());
                for c in chunks {
                    let v = cache.get(&c.hash).ok_or_else(|| {
                        EvalError::Dataset(format!("no vector for a chunk of document {} after embedding", doc.id))
                    })?;
                    rows.push((c.clone(), v));
                }
                let entry = DocumentEntry {
                    url: doc.id.clone(),
                    title: doc.title.clone(),
                    source: source.clone(),
                    content_hash: doc.content_hash(),
                    chunk_count: rows.len(),
                    etag: None,
                    last_modified: None,
                    sitemap_lastmod: None,
                    tags: Vec::new(),
                    links: Vec::new(),
                };
                writer.add_document(entry, &rows)?;
            }
            progress(((b + 1) * DOCS_PER_BATCH).min(total), total);
        }
        let published = writer.publish()?;
        cache.compact(|h| published.chunk_hashes.contains(h))?;
        let report = BeirIndexReport {
            bot: bot.bot().to_string(),
            generation: published.generation,
            reused: false,
            documents: published.counts.documents,
            chunks: published.counts.chunks,
            embedded,
            cached,
            seconds: started.elapsed().as_secs_f64(),
        };
        info!(?report, "BEIR index published");
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qrels_parse_with_and_without_header() {
        let p = Path::new("q.tsv");
        let q = parse_qrels(p, "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t2\n2\td3\t0\n").expect("parse");
        assert_eq!(q["1"]["d2"], 2);
        assert_eq!(q["2"]["d3"], 0);
        assert_eq!(parse_qrels(p, "7\tx\t1\r\n").expect("parse")["7"]["x"], 1);
        assert!(matches!(parse_qrels(p, "1\td1\n"), Err(EvalError::Parse { line: 1, .. })));
        assert!(matches!(parse_qrels(p, "h\th\th\n1\td\tx\n"), Err(EvalError::Parse { line: 1, .. })));
    }

    #[test]
    fn bot_ids_are_valid() {
        assert_eq!(bot_id("scifact"), "beir-scifact");
        assert_eq!(bot_id("Sci Fact.v2"), "beir-sci-fact-v2");
        assert!(BotDir::new("/tmp", &bot_id(&"x".repeat(200))).is_ok());
    }
}
