//! `docent bench search`: query latency per retrieval mode, query-embedding time apart
//! from search time, and the memory of the serving process.
//!
//! The index is either synthetic (`--chunks N`: pages of Zipfian text with clustered
//! unit vectors, written with the real generation writer into a scratch directory
//! and reused by later runs) or a real bot's index (`--data DIR --bot ID`).
//!
//! * **Query embedding** is timed on its own: the real model (one intra-op thread, no
//!   cache) on real query strings (`--query-file`, else `corpus/questions.jsonl`).
//! * **Search** is timed with precomputed query vectors
//!   ([`Retriever::search_with_vector`]), so it excludes embedding: BM25, dense (the
//!   generation's default index — HNSW above the threshold — and the exact scan),
//!   hybrid, hybrid with a 10 % URL-prefix filter, and hybrid + the offline reranker.
//!   Each query runs alone on one thread (QPS = 1 / mean latency); the exact scan
//!   splits itself over the cores above 32k rows.
//! * **RSS**: `VmRSS` after loading the model and after opening the index, `VmHWM`
//!   at the end. A synthetic index that has to be built is built by a child process,
//!   so the measuring process holds only what serving needs.
//! * `--export DIR` writes the corpus, vectors and queries (JSONL + `.npy`) for
//!   `benches/peers/run.sh`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use docent_index::{
    embed_text, BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, Embedder, EmbedderOptions,
    GenerationWriter, ModelFiles, ModelGraph,
};
use docent_retrieval::dense::synthetic::{CorpusParams, SyntheticCorpus};
use docent_retrieval::dense::{AnnConfig, AnnIndex, DenseIndex, ExactIndex};
use docent_retrieval::rerank::OfflineReranker;
use docent_retrieval::{
    Filters, Parallelism, QueryEmbedder, Retriever, RetrieverConfig, SearchMode, SearchRequest, Snapshot,
};
use serde::Serialize;

/// Bot id of the synthetic indexes.
const SYNTHETIC_BOT: &str = "synthetic";
/// Pages of a synthetic index are spread over this many URL sections (`/s0/` … `/s9/`).
const SECTIONS: u64 = 10;
/// Version of the synthetic corpus recipe; a change rebuilds scratch indexes (2: index
/// schema 2, with `chunks.bin`).
const RECIPE: u32 = 2;
/// Queries of the rerank mode at most (it is the slowest).
const RERANK_QUERIES: usize = 300;

/// Arguments of `docent bench search`.
#[derive(Debug, clap::Args)]
pub struct BenchSearchArgs {
    /// Chunks of the synthetic index.
    #[arg(long, default_value_t = 100_000)]
    pub chunks: usize,
    /// Timed queries per mode (after a warm-up of up to 200 others).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Where synthetic indexes are built and kept for later runs.
    #[arg(long, default_value = "target/bench-data/search")]
    pub scratch: PathBuf,
    /// Rebuild the synthetic index even when the scratch directory has one.
    #[arg(long)]
    pub rebuild: bool,
    /// Seed of the synthetic corpus.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Benchmark this data directory's bot instead of a synthetic index.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Bot of `--data`.
    #[arg(long, default_value = "docs")]
    pub bot: String,
    /// Real query strings (JSONL with a `text`, `question` or `query` field, or one
    /// query per line): for timing the embedder, and the queries of a `--data` index.
    #[arg(long)]
    pub query_file: Option<PathBuf>,
    /// Models directory.
    #[arg(long, env = "DOCENT_MODELS")]
    pub models: Option<PathBuf>,
    /// Also write the synthetic corpus, vectors and queries here (for the peers).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Print JSON rows (one per line) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Rows to run: `embed`, `bm25`, `dense`, `hybrid`, `filter` (hybrid with a 10 %
    /// URL filter, synthetic only), `rerank` (hybrid + offline reranker), `other`
    /// (dense and hybrid with the other dense index: exact when the default is HNSW).
    #[arg(long, value_delimiter = ',', default_value = "embed,bm25,dense,hybrid,filter,rerank,other")]
    pub modes: Vec<String>,
    /// HNSW beam width while searching (`ef`; default: the retriever's default).
    #[arg(long)]
    pub ann_ef: Option<usize>,
    /// HNSW connectivity `M` (default: the retriever's default).
    #[arg(long)]
    pub ann_m: Option<usize>,
    /// Storage of the HNSW graph's vectors: f32, f16, i8 or i8s (Docent's scaled int8,
    /// rescored: the retriever's default).
    #[arg(long)]
    pub ann_quantization: Option<String>,
    /// Instead of the modes: for each of these HNSW beam widths (`ef`), the graph's
    /// recall@10 / @50 against the exact scan and its latency (top 10 and top 50).
    #[arg(long, value_delimiter = ',')]
    pub ef_sweep: Vec<usize>,
    /// Candidates taken from each retriever before fusion (default: the retriever's).
    #[arg(long)]
    pub candidates: Option<usize>,
    /// Run BM25 on a pool thread in parallel with the dense search (hybrid modes)
    /// whatever the index size (default: from `DEFAULT_PARALLEL_FROM_CHUNKS` chunks).
    #[arg(long, conflicts_with = "serial")]
    pub parallel: bool,
    /// Run BM25 and the dense search one after the other whatever the index size.
    #[arg(long)]
    pub serial: bool,
    /// BM25 field boosts `TITLE,HEADINGS,BODY` for this run instead of the retriever's
    /// defaults (a boost of 0 leaves the field out of the query).
    #[arg(long, value_name = "T,H,B", value_parser = crate::eval_cmd::parse_boosts)]
    pub bm25_boosts: Option<(f32, f32, f32)>,
    /// ONNX Runtime intra-op threads of the query model (1: what the server uses, so a
    /// query never competes with a second one for both cores)
    #[arg(long, default_value_t = 1)]
    pub embed_threads: usize,
    /// Graph of the query model: `query-int8` (the server's default) or `shipped`.
    #[arg(long, default_value = "query-int8")]
    pub query_graph: ModelGraph,
    /// Build the synthetic index and exit (used by the benchmark's child process).
    #[arg(long, hide = true)]
    pub build_only: bool,
}

/// The approximate-index settings of the run: the defaults with the `--ann-*` overrides.
fn ann_config(args: &BenchSearchArgs) -> anyhow::Result<AnnConfig> {
    let mut c = AnnConfig::default();
    if let Some(ef) = args.ann_ef {
        c.expansion_search = ef;
    }
    if let Some(m) = args.ann_m {
        c.connectivity = m;
    }
    if let Some(q) = &args.ann_quantization {
        c.quantization = serde_json::from_value(serde_json::Value::String(q.to_lowercase()))
            .with_context(|| format!("--ann-quantization `{q}`: use f32, f16, i8 or i8s"))?;
    }
    Ok(c)
}

/// The retriever settings of the run: the defaults with `--parallel` / `--serial` /
/// `--candidates` / `--bm25-boosts`.
fn retriever_config(args: &BenchSearchArgs, ann: AnnConfig) -> RetrieverConfig {
    let mut c = RetrieverConfig { ann, ..Default::default() };
    if args.parallel {
        c.parallel = Parallelism::Parallel;
    } else if args.serial {
        c.parallel = Parallelism::Serial;
    }
    if let Some(n) = args.candidates {
        c.candidates = n.max(1);
    }
    if let Some(boosts) = args.bm25_boosts {
        crate::eval_cmd::set_boosts(&mut c.bm25, boosts);
    }
    c
}

/// Latency of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeRow {
    /// `search` or `embed`.
    pub kind: &'static str,
    /// Index label (`synthetic-100000`, or the bot id).
    pub index: String,
    /// Chunks in the index.
    pub chunks: usize,
    /// Mode label.
    pub mode: String,
    /// Dense index used (`hnsw`, `exact`, or `-`).
    pub dense_index: String,
    /// Timed queries.
    pub queries: usize,
    /// Hits asked for.
    pub k: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median CPU time of the process per query (all threads), ms: the latency
    /// without the time spent descheduled when other jobs share the cores.
    pub cpu_p50_ms: f64,
    /// 99th percentile of the CPU time per query, ms.
    pub cpu_p99_ms: f64,
    /// Queries per second of one thread running queries back to back.
    pub qps_single_thread: f64,
    /// Mean time per stage (ms): bm25, dense, fuse, fetch, rerank.
    pub stages_ms: Stages,
    /// Mean hits returned.
    pub mean_hits: f64,
    /// True when BM25 ran beside the dense search ([`Parallelism`]): the CPU columns
    /// then add up both threads.
    pub bm25_parallel: bool,
}

/// Mean stage times of a mode (from the responses' timings).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    /// BM25.
    pub bm25: f64,
    /// Dense search (excluding embedding).
    pub dense: f64,
    /// Fusion.
    pub fuse: f64,
    /// Selection and stored-text fetch.
    pub fetch: f64,
    /// Reranking.
    pub rerank: f64,
}

/// Recall of the HNSW index against the exact scan (same generation, same vectors).
#[derive(Debug, Clone, Serialize)]
pub struct RecallRow {
    /// `recall`.
    pub kind: &'static str,
    /// Index label.
    pub index: String,
    /// Chunks.
    pub chunks: usize,
    /// Query vectors compared.
    pub queries: usize,
    /// Mean |HNSW top-10 ∩ exact top-10| / 10.
    pub recall_at_10: f64,
    /// The same at 50 (the hybrid candidate depth).
    pub recall_at_50: f64,
}

/// Mean share of `exact`'s top-`k` rows that `ann` also returns.
fn overlap(ann: &dyn DenseIndex, exact: &dyn DenseIndex, queries: &[Vec<f32>], k: usize) -> f64 {
    let mut found = 0usize;
    let mut wanted = 0usize;
    for q in queries {
        let truth: std::collections::HashSet<u32> = exact.search(q, k, None).iter().map(|s| s.ordinal).collect();
        found += ann.search(q, k, None).iter().filter(|s| truth.contains(&s.ordinal)).count();
        wanted += truth.len();
    }
    found as f64 / wanted.max(1) as f64
}

/// Memory of the measuring process.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    /// `memory`.
    pub kind: &'static str,
    /// Index label.
    pub index: String,
    /// Chunks.
    pub chunks: usize,
    /// Dense index of the default configuration.
    pub dense_index: String,
    /// VmRSS before anything was loaded, MB.
    pub rss_start_mb: f64,
    /// VmRSS after loading the query model, MB.
    pub rss_model_mb: f64,
    /// VmRSS right after opening the index, MB.
    pub rss_open_mb: f64,
    /// VmRSS after the default-configuration runs (bm25, dense, hybrid), MB.
    pub rss_serving_mb: f64,
    /// `rss_serving_mb - rss_model_mb`: what the index costs while serving, MB.
    pub index_rss_mb: f64,
    /// VmHWM at the end (includes the second, exact-scan snapshot), MB.
    pub hwm_mb: f64,
    /// Seconds to open the index (the ANN graph memory-mapped from its cache file).
    pub open_secs: f64,
    /// Bytes of the generation directory on disk, MB.
    pub disk_mb: f64,
    /// Load average (1 min) of the machine at the end of the run: other jobs on the
    /// cores inflate wall-clock latencies, not the CPU times.
    pub load_average: f64,
    /// Resident MB per mapping class at `rss_serving_mb` (from `/proc/self/smaps`):
    /// `vectors.f32`, `chunks.bin`, the ANN graph, tantivy files, ONNX Runtime + model, heap/anonymous.
    pub rss_breakdown_mb: std::collections::BTreeMap<String, f64>,
}

/// Run `docent bench search`.
pub fn run(args: &BenchSearchArgs) -> anyhow::Result<()> {
    if args.k == 0 || args.queries == 0 {
        bail!("--k and --queries must be at least 1");
    }
    const MODES: [&str; 7] = ["embed", "bm25", "dense", "hybrid", "filter", "rerank", "other"];
    if let Some(bad) = args.modes.iter().find(|m| !MODES.contains(&m.as_str())) {
        bail!("unknown mode `{bad}` in --modes (known: {})", MODES.join(", "));
    }
    let wants = |m: &str| args.modes.iter().any(|x| x == m);
    if args.build_only {
        let (dir, ready) = synthetic_paths(args);
        return build_synthetic(&dir, args.chunks, args.seed, args.rebuild || !ready, &ann_config(args)?);
    }
    let rss_start = rss_mb("VmRSS");
    let (data_dir, bot_id, corpus) = match &args.data {
        Some(d) => (d.clone(), args.bot.clone(), None),
        None => {
            let (dir, ready) = synthetic_paths(args);
            if args.rebuild || !ready || !graph_cached(&dir, args.chunks, &ann_config(args)?) {
                build_in_child(args, &dir)?;
            }
            let corpus = SyntheticCorpus::new(CorpusParams::new(args.chunks, Embedder::model_info().dim, args.seed));
            (dir, SYNTHETIC_BOT.to_string(), Some(corpus))
        }
    };
    let bot = BotDir::new(&data_dir, &bot_id)?;
    let label = match &corpus {
        Some(c) => format!("synthetic-{}", c.len()),
        None => bot_id.clone(),
    };

    // The query model: `--embed-threads` intra-op threads (1 by default), no cache (every
    // query is embedded).
    let files = ModelFiles::locate(args.models.as_deref())?;
    let options =
        EmbedderOptions { threads: Some(args.embed_threads.max(1)), ..EmbedderOptions::queries(args.query_graph) };
    let model = Embedder::load(&files, options)?;
    let embedder = Arc::new(QueryEmbedder::new(model, 0));
    let rss_model = rss_mb("VmRSS");

    let t = Instant::now();
    let ann = ann_config(args)?;
    let retriever = Retriever::open_with(&bot, Arc::clone(&embedder), retriever_config(args, ann))
        .with_context(|| format!("opening {}", bot.path().display()))?;
    let open_secs = t.elapsed().as_secs_f64();
    let rss_open = rss_mb("VmRSS");
    let snapshot = retriever.snapshot();
    let chunks = snapshot.chunk_count();
    let default_dense = snapshot.dense().kind().to_string();

    // Query texts and vectors. Real strings time the embedder; a synthetic index is
    // searched with its own queries (their vectors are near their target chunks).
    let warm = args.queries.min(200);
    let total = args.queries + warm;
    let real_texts = real_query_texts(args, corpus.is_none())?;
    let mut rows: Vec<ModeRow> = Vec::new();
    let (texts, vectors): (Vec<String>, Vec<Vec<f32>>) = match &corpus {
        Some(c) => (0..total as u64).map(|q| c.query(q)).map(|q| (q.text, q.vector)).unzip(),
        None => {
            let texts: Vec<String> = real_texts.iter().cycle().take(total).cloned().collect();
            let mut vectors = Vec::with_capacity(texts.len());
            for t in &texts {
                let v = embedder.embed_query(t)?.context("a query embedded to nothing")?;
                vectors.push(v.vector.to_vec());
            }
            (texts, vectors)
        }
    };
    if wants("embed") {
        rows.push(time_embedding(&embedder, &real_texts, args, &label, chunks)?);
    }

    if !args.ef_sweep.is_empty() {
        return ef_sweep(args, &snapshot, &ann, &vectors[warm..], &label);
    }

    let queries = Queries { texts: &texts, vectors: &vectors, warm, k: args.k };
    let bench = |retriever: &Retriever, mode: &str, search: SearchMode, filters: Option<Filters>, limit: usize| {
        let snap = retriever.snapshot();
        let dense = if search == SearchMode::Bm25 { "-".to_string() } else { snap.dense().kind().to_string() };
        time_mode(retriever, &snap, &queries, search, filters, limit).map(|m| ModeRow {
            kind: "search",
            index: label.clone(),
            chunks,
            mode: mode.to_string(),
            dense_index: dense,
            k: args.k,
            ..m
        })
    };
    for (name, mode) in [("bm25", SearchMode::Bm25), ("dense", SearchMode::Dense), ("hybrid", SearchMode::Hybrid)] {
        if wants(name) {
            rows.push(bench(&retriever, name, mode, None, args.queries)?);
        }
    }
    let rss_serving = rss_mb("VmRSS");
    let rss_breakdown = smaps_breakdown();
    if corpus.is_some() && wants("filter") {
        let filter = Filters { url_prefix: Some("https://bench.example/s3/".into()), tags: Vec::new() };
        rows.push(bench(&retriever, "hybrid, 10% url filter", SearchMode::Hybrid, Some(filter), args.queries)?);
    }
    if wants("rerank") {
        let reranking = retriever.with_reranker(Arc::new(OfflineReranker::new(Some(Arc::clone(&embedder)))));
        let n = args.queries.min(RERANK_QUERIES);
        rows.push(bench(&reranking, "hybrid + offline rerank", SearchMode::Rerank, None, n)?);
    }

    // The other dense index over the same generation, and the HNSW index's recall
    // against the exact scan on the benchmark's own query vectors.
    let mut recall: Option<RecallRow> = None;
    if wants("other") {
        let other = if default_dense == "hnsw" {
            AnnConfig { threshold: usize::MAX, ..ann }
        } else {
            // Force a graph; do not leave a cache file in somebody's index.
            AnnConfig { threshold: 0, cache: corpus.is_some(), ..ann }
        };
        let config = retriever_config(args, other);
        let second = Retriever::open_with(&bot, Arc::clone(&embedder), config)?;
        rows.push(bench(&second, "dense", SearchMode::Dense, None, args.queries)?);
        rows.push(bench(&second, "hybrid", SearchMode::Hybrid, None, args.queries)?);
        let other_snapshot = second.snapshot();
        let (ann, exact) = if default_dense == "hnsw" {
            (snapshot.dense(), other_snapshot.dense())
        } else {
            (other_snapshot.dense(), snapshot.dense())
        };
        let sample = &vectors[warm..vectors.len().min(warm + 200)];
        recall = Some(RecallRow {
            kind: "recall",
            index: label.clone(),
            chunks,
            queries: sample.len(),
            recall_at_10: overlap(ann, exact, sample, 10),
            recall_at_50: overlap(ann, exact, sample, 50),
        });
    }

    let memory = MemoryRow {
        kind: "memory",
        index: label.clone(),
        chunks,
        dense_index: default_dense,
        rss_start_mb: rss_start,
        rss_model_mb: rss_model,
        rss_open_mb: rss_open,
        rss_serving_mb: rss_serving,
        index_rss_mb: rss_serving - rss_model,
        hwm_mb: rss_mb("VmHWM"),
        open_secs,
        disk_mb: dir_bytes(snapshot.index().dir()) as f64 / 1e6,
        rss_breakdown_mb: rss_breakdown,
        load_average: fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0),
    };
    // Last: the export reads every vector row, which would inflate the RSS above.
    if let (Some(dir), Some(corpus)) = (&args.export, &corpus) {
        export(dir, corpus, &snapshot, args)?;
    }
    if args.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        if let Some(r) = &recall {
            println!("{}", serde_json::to_string(r)?);
        }
        println!("{}", serde_json::to_string(&memory)?);
    } else {
        print!("{}", table(&label, &rows, &memory));
        if let Some(r) = &recall {
            println!(
                "  HNSW vs exact on {} query vectors: recall@10 {:.4}, recall@50 {:.4}",
                r.queries, r.recall_at_10, r.recall_at_50
            );
        }
    }
    Ok(())
}

/// One beam width of `--ef-sweep`.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// `ef_sweep`.
    pub kind: &'static str,
    /// Index label.
    pub index: String,
    /// Rows of the graph.
    pub chunks: usize,
    /// HNSW connectivity of the graph.
    pub m: usize,
    /// Storage of the graph's vectors.
    pub quantization: String,
    /// Beam width asked for (usearch uses `max(ef, k)`).
    pub ef: usize,
    /// Mean |graph top-10 ∩ exact top-10| / 10.
    pub recall_at_10: f64,
    /// Mean |graph top-50 ∩ exact top-50| / 50.
    pub recall_at_50: f64,
    /// Share of queries whose top 10 has fewer than half of the exact top 10 (the
    /// walk ended in the wrong region of the graph).
    pub lost_at_10: f64,
    /// Top-10 search latency p50 / p99 and CPU p50 / p99, ms.
    pub k10_ms: [f64; 4],
    /// Top-50 search latency p50 / p99 and CPU p50 / p99, ms.
    pub k50_ms: [f64; 4],
    /// Load average (1 min) when the row was measured.
    pub load_average: f64,
}

fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0.0)
}

/// `--ef-sweep`: the graph of the generation (with the run's build settings) against
/// the exact scan, beam width by beam width. The exact top 50 of the `--queries` timed
/// query vectors is the truth, and the same queries are timed.
fn ef_sweep(
    args: &BenchSearchArgs,
    snapshot: &Snapshot,
    ann: &AnnConfig,
    vectors: &[Vec<f32>],
    label: &str,
) -> anyhow::Result<()> {
    let index = Arc::new(docent_index::IndexSnapshot::open_dir(snapshot.index().dir())?);
    let graph = AnnIndex::for_snapshot(Arc::clone(&index), &AnnConfig { threshold: 0, ..*ann }, Default::default())?;
    let exact = ExactIndex::new(index, Default::default());
    let sample = &vectors[..vectors.len().min(args.queries)];
    let t = Instant::now();
    let truth: Vec<Vec<u32>> =
        sample.iter().map(|q| exact.search(q, 50, None).iter().map(|s| s.ordinal).collect()).collect();
    eprintln!("exact top 50 of {} queries in {:.1}s", sample.len(), t.elapsed().as_secs_f64());
    let timed = &vectors[..vectors.len().min(args.queries)];
    let time = |k: usize, ef: usize| {
        for q in timed.iter().take(50) {
            graph.search_with_ef(q, k, ef);
        }
        let (mut lat, mut cpu) = (Vec::with_capacity(timed.len()), Vec::with_capacity(timed.len()));
        for q in timed {
            let (s, c) = (Instant::now(), cpu_ms());
            std::hint::black_box(graph.search_with_ef(q, k, ef));
            lat.push(s.elapsed().as_secs_f64() * 1e3);
            cpu.push(cpu_ms() - c);
        }
        let r = summarize(lat, cpu);
        [r.p50_ms, r.p99_ms, r.cpu_p50_ms, r.cpu_p99_ms]
    };
    for &ef in &args.ef_sweep {
        let (mut found10, mut found50, mut lost) = (0usize, 0usize, 0usize);
        for (q, t) in sample.iter().zip(&truth) {
            let top10: std::collections::HashSet<u32> = t.iter().take(10).copied().collect();
            let top50: std::collections::HashSet<u32> = t.iter().copied().collect();
            let hit10 = graph.search_with_ef(q, 10, ef).iter().filter(|s| top10.contains(&s.ordinal)).count();
            found10 += hit10;
            lost += usize::from(hit10 * 2 < top10.len());
            found50 += graph.search_with_ef(q, 50, ef).iter().filter(|s| top50.contains(&s.ordinal)).count();
        }
        let n = sample.len().max(1) as f64;
        let row = SweepRow {
            kind: "ef_sweep",
            index: label.to_string(),
            chunks: graph.len(),
            m: ann.connectivity,
            quantization: format!("{:?}", ann.quantization).to_lowercase(),
            ef,
            recall_at_10: found10 as f64 / (10.0 * n),
            recall_at_50: found50 as f64 / (50.0 * n),
            lost_at_10: lost as f64 / n,
            k10_ms: time(10, ef),
            k50_ms: time(50, ef),
            load_average: load_average(),
        };
        if args.json {
            println!("{}", serde_json::to_string(&row)?);
        } else {
            println!(
                "M {:>2} {:<4} ef {:>4}: recall@10 {:.4} @50 {:.4} lost {:.3} | k10 p50/p99 {:.3}/{:.3} cpu {:.3}/{:.3} | k50 p50/p99 {:.3}/{:.3} cpu {:.3}/{:.3} | load {:.2}",
                row.m, row.quantization, ef, row.recall_at_10, row.recall_at_50, row.lost_at_10,
                row.k10_ms[0], row.k10_ms[1], row.k10_ms[2], row.k10_ms[3],
                row.k50_ms[0], row.k50_ms[1], row.k50_ms[2], row.k50_ms[3], row.load_average
            );
        }
    }
    Ok(())
}

/// The precomputed queries of a run: `warm` warm-up queries, then the timed ones.
struct Queries<'a> {
    texts: &'a [String],
    vectors: &'a [Vec<f32>],
    warm: usize,
    k: usize,
}

fn time_mode(
    retriever: &Retriever,
    snapshot: &Snapshot,
    q: &Queries<'_>,
    mode: SearchMode,
    filters: Option<Filters>,
    limit: usize,
) -> anyhow::Result<ModeRow> {
    let request = |i: usize| {
        let mut r = SearchRequest::new(q.texts[i].clone()).with_k(q.k).with_mode(mode);
        if let Some(f) = &filters {
            r = r.with_filters(f.clone());
        }
        r
    };
    let run = |i: usize| retriever.search_with_vector(snapshot, &request(i), &q.vectors[i]);
    for i in 0..q.warm {
        run(i)?;
    }
    let timed: Vec<usize> = (q.warm..q.texts.len()).take(limit).collect();
    let requests: Vec<SearchRequest> = timed.iter().map(|&i| request(i)).collect();
    let mut lat = Vec::with_capacity(timed.len());
    let mut cpu = Vec::with_capacity(timed.len());
    let mut stages = Stages::default();
    let mut hits = 0usize;
    let mut parallel = false;
    let wall = Instant::now();
    for (&i, req) in timed.iter().zip(&requests) {
        let (t, c) = (Instant::now(), cpu_ms());
        let r = retriever.search_with_vector(snapshot, req, &q.vectors[i])?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - c);
        stages.bm25 += r.timings.bm25_ms;
        stages.dense += r.timings.dense_ms;
        stages.fuse += r.timings.fuse_ms;
        stages.fetch += r.timings.fetch_ms;
        stages.rerank += r.timings.rerank_ms;
        hits += r.hits.len();
        parallel |= r.timings.bm25_parallel;
    }
    let wall = wall.elapsed().as_secs_f64();
    let n = lat.len().max(1) as f64;
    for s in [&mut stages.bm25, &mut stages.dense, &mut stages.fuse, &mut stages.fetch, &mut stages.rerank] {
        *s /= n;
    }
    let mut row = summarize(lat, cpu);
    row.qps_single_thread = n / wall.max(1e-9);
    row.stages_ms = stages;
    row.mean_hits = hits as f64 / n;
    row.bm25_parallel = parallel;
    Ok(row)
}

fn time_embedding(
    embedder: &QueryEmbedder,
    texts: &[String],
    args: &BenchSearchArgs,
    label: &str,
    chunks: usize,
) -> anyhow::Result<ModeRow> {
    let n = args.queries.min(1000);
    for t in texts.iter().take(10) {
        embedder.embed_query(t)?;
    }
    let mut lat = Vec::with_capacity(n);
    let mut cpu = Vec::with_capacity(n);
    let wall = Instant::now();
    for t in texts.iter().cycle().take(n) {
        let (s, c) = (Instant::now(), cpu_ms());
        let v = embedder.embed_query(t)?;
        lat.push(s.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - c);
        debug_assert!(v.is_some_and(|v| !v.cached));
    }
    let wall = wall.elapsed().as_secs_f64();
    let mut row = summarize(lat, cpu);
    row.kind = "embed";
    row.index = label.to_string();
    row.chunks = chunks;
    row.mode = "query embedding".into();
    row.qps_single_thread = n as f64 / wall.max(1e-9);
    Ok(row)
}

/// CPU time of the whole process so far, ms.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// The `p` quantile (nearest rank) of sorted values.
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summarize(mut lat: Vec<f64>, mut cpu: Vec<f64>) -> ModeRow {
    lat.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    ModeRow {
        kind: "search",
        index: String::new(),
        chunks: 0,
        mode: String::new(),
        dense_index: "-".into(),
        queries: lat.len(),
        k: 0,
        p50_ms: pct(&lat, 0.50),
        p95_ms: pct(&lat, 0.95),
        p99_ms: pct(&lat, 0.99),
        mean_ms: lat.iter().sum::<f64>() / lat.len().max(1) as f64,
        cpu_p50_ms: pct(&cpu, 0.50),
        cpu_p99_ms: pct(&cpu, 0.99),
        qps_single_thread: 0.0,
        stages_ms: Stages::default(),
        mean_hits: 0.0,
        bm25_parallel: false,
    }
}

fn table(label: &str, rows: &[ModeRow], m: &MemoryRow) -> String {
    let mut s = format!("{label}: {} chunks\n", m.chunks);
    s.push_str(&format!(
        "  {:<26} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}   stages ms (bm25/dense/fuse/fetch/rerank)\n",
        "mode", "dense", "p50 ms", "p95 ms", "p99 ms", "mean ms", "cpu p50", "cpu p99", "QPS"
    ));
    for r in rows {
        let st = &r.stages_ms;
        s.push_str(&format!(
            "  {:<26} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7.0}   {:.3}/{:.3}/{:.3}/{:.3}/{:.3}\n",
            if r.bm25_parallel { format!("{} (bm25 ∥ dense)", r.mode) } else { r.mode.clone() },
            r.dense_index,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.mean_ms,
            r.cpu_p50_ms,
            r.cpu_p99_ms,
            r.qps_single_thread,
            st.bm25,
            st.dense,
            st.fuse,
            st.fetch,
            st.rerank
        ));
    }
    s.push_str(&format!(
        "  RSS: start {:.0} MB, +model {:.0} MB, +index open {:.0} MB, serving {:.0} MB (index {:.0} MB); peak {:.0} MB; open {:.2}s; on disk {:.0} MB\n",
        m.rss_start_mb, m.rss_model_mb, m.rss_open_mb, m.rss_serving_mb, m.index_rss_mb, m.hwm_mb, m.open_secs, m.disk_mb
    ));
    let parts: Vec<String> = m.rss_breakdown_mb.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
    s.push_str(&format!("  RSS while serving, MB: {}\n", parts.join(", ")));
    s.push_str(&format!(
        "  load average at the end: {:.2} (wall-clock latencies include time other jobs took)\n",
        m.load_average
    ));
    s
}

/// A field of `/proc/self/status` in MB (0 where unavailable).
fn rss_mb(field: &str) -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resident memory per kind of mapping, MB.
fn smaps_breakdown() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let smaps = fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut class = String::from("anonymous");
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = parts.nth(4).unwrap_or("");
            class = if path.ends_with("vectors.f32") {
                "vectors.f32".into()
            } else if path.ends_with("chunks.bin") {
                "chunks.bin".into()
            } else if path.ends_with(".usearch") {
                "ann graph".into()
            } else if path.contains("/tantivy/") {
                "tantivy".into()
            } else if path.contains("onnxruntime") || path.ends_with(".onnx") {
                "onnxruntime + model".into()
            } else if path.starts_with('/') {
                "other files (binary, libs)".into()
            } else {
                "heap + anonymous".into()
            };
        } else if first == "Rss:" {
            let kb: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *out.entry(class.clone()).or_insert(0.0) += kb / 1024.0;
        }
    }
    out.retain(|_, mb| *mb >= 0.5);
    out.values_mut().for_each(|mb| *mb = (*mb * 10.0).round() / 10.0);
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// The scratch data directory of a synthetic index, and whether a finished one is there.
fn synthetic_paths(args: &BenchSearchArgs) -> (PathBuf, bool) {
    let dir = args.scratch.join(format!("chunks-{}-seed-{}", args.chunks, args.seed));
    let ready = fs::read_to_string(dir.join("recipe.json")).is_ok_and(|s| s.trim() == recipe(args.chunks, args.seed));
    (dir, ready)
}

fn recipe(chunks: usize, seed: u64) -> String {
    serde_json::json!({ "recipe": RECIPE, "chunks": chunks, "seed": seed }).to_string()
}

/// True when the live generation under `dir` needs no ANN graph or has its cache file.
fn graph_cached(dir: &Path, chunks: usize, ann: &AnnConfig) -> bool {
    if !ann.applies_to(chunks) {
        return true;
    }
    let Ok(bot) = BotDir::new(dir, SYNTHETIC_BOT) else { return false };
    bot.current().ok().flatten().is_some_and(|g| bot.generation_dir(g).join(ann.file_name()).exists())
}

/// Build the synthetic index (and its ANN graph) in a child process: the measuring
/// process should not carry the build's heap.
fn build_in_child(args: &BenchSearchArgs, dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the docent binary")?;
    eprintln!("building the synthetic index of {} chunks in {} (kept for later runs)", args.chunks, dir.display());
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["bench", "search", "--build-only", "--chunks", &args.chunks.to_string()]);
    if let Some(m) = args.ann_m {
        cmd.args(["--ann-m", &m.to_string()]);
    }
    if let Some(q) = &args.ann_quantization {
        cmd.args(["--ann-quantization", q]);
    }
    if args.rebuild {
        cmd.arg("--rebuild");
    }
    let status = cmd
        .args(["--seed", &args.seed.to_string(), "--scratch"])
        .arg(&args.scratch)
        .status()
        .context("running the index build")?;
    if !status.success() {
        bail!("building the synthetic index failed ({status})");
    }
    Ok(())
}

/// Write the synthetic corpus as a generation of bot `synthetic` under `dir` (unless
/// `write` is false and it is there already), then open it once so its ANN graph is
/// built and cached next to it.
fn build_synthetic(dir: &Path, chunks: usize, seed: u64, write: bool, ann: &AnnConfig) -> anyhow::Result<()> {
    let model = Embedder::model_info();
    let bot = BotDir::new(dir, SYNTHETIC_BOT)?;
    if !write {
        let generation = bot.current()?.context("the synthetic index has no live generation")?;
        let t = Instant::now();
        let snap = Snapshot::open_with(&bot, generation, &model, Default::default(), ann)?;
        eprintln!("  dense index `{}` ready in {:.0}s", snap.dense().kind(), t.elapsed().as_secs_f64());
        return Ok(());
    }
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let corpus = SyntheticCorpus::new(CorpusParams::new(chunks, model.dim, seed));
    let _lock = bot.lock_for_ingest()?;
    let chunking = ChunkingParams { version: 0, max_tokens: 256, overlap_tokens: 0 };
    let mut writer = GenerationWriter::create(&bot, model.clone(), chunking)?;
    let started = Instant::now();
    let per_doc = corpus.params().chunks_per_doc.max(1);
    let docs = chunks.div_ceil(per_doc);
    let mut next_report = 0;
    for d in 0..docs as u64 {
        let url = format!("https://bench.example/s{}/d{d}", d % SECTIONS);
        let start = d * per_doc as u64;
        let end = (start + per_doc as u64).min(chunks as u64);
        let mut records = Vec::with_capacity(per_doc);
        let mut vectors = Vec::with_capacity(per_doc);
        let mut title = String::new();
        for i in start..end {
            let c = corpus.chunk(i);
            title = c.title.clone();
            let heading_path = vec![c.title.clone(), c.heading.clone()];
            let hash = ContentHash::of(embed_text(&heading_path, &c.text).as_bytes());
            let record = ChunkRecord {
                chunk_id: format!("{url}-{:04}", c.position),
                doc_id: url.clone(),
                url: format!("{url}#{}", c.heading.replace(' ', "-")),
                title: c.title,
                heading_path,
                text: c.text,
                tags: vec![format!("s{}", d % SECTIONS)],
                hash,
            };
            records.push(record);
            vectors.push(c.vector);
        }
        let entry = DocumentEntry {
            url: url.clone(),
            title,
            source: "synthetic".into(),
            content_hash: ContentHash::of(url.as_bytes()),
            chunk_count: vectors.len(),
            etag: None,
            last_modified: None,
            sitemap_lastmod: None,
            tags: vec![format!("s{}", d % SECTIONS)],
            links: Vec::new(),
        };
        let refs: Vec<(ChunkRecord, &[f32])> = records.into_iter().zip(vectors.iter().map(Vec::as_slice)).collect();
        writer.add_document(entry, &refs)?;
        if end as usize >= next_report {
            eprintln!("  {end} / {chunks} chunks written ({:.0}s)", started.elapsed().as_secs_f64());
            next_report += (chunks / 10).max(1);
        }
    }
    let published = writer.publish()?;
    eprintln!("  published generation {} in {:.0}s", published.generation, started.elapsed().as_secs_f64());
    let t = Instant::now();
    let snap = Snapshot::open_with(&bot, published.generation, &model, Default::default(), ann)?;
    eprintln!("  dense index `{}` ready in {:.0}s", snap.dense().kind(), t.elapsed().as_secs_f64());
    drop(snap);
    fs::write(dir.join("recipe.json"), recipe(chunks, seed))?;
    Ok(())
}

/// Query strings from `--query-file`, else `corpus/questions.jsonl` (when present),
/// else an error for a real index and synthetic texts for a synthetic one.
fn real_query_texts(args: &BenchSearchArgs, required: bool) -> anyhow::Result<Vec<String>> {
    let default = PathBuf::from("corpus/questions.jsonl");
    let path = match &args.query_file {
        Some(p) => p.clone(),
        None if default.exists() => default,
        None if required => bail!("--query-file is required with --data (and corpus/questions.jsonl is absent)"),
        None => {
            let c = SyntheticCorpus::new(CorpusParams::new(args.chunks.max(1), 384, args.seed));
            return Ok((0..200).map(|q| c.query(q).text).collect());
        }
    };
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let text = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => {
                ["text", "question", "query"].iter().find_map(|f| v[*f].as_str().map(String::from))
            }
            _ => Some(line.to_string()),
        };
        if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
            out.push(t);
        }
    }
    if out.is_empty() {
        bail!("no queries in {}", path.display());
    }
    Ok(out)
}

/// `corpus.jsonl`, `vectors.npy` (rows = chunk ordinals), `queries.jsonl`,
/// `query_vectors.npy` and `params.json` for the peer benchmarks.
fn export(dir: &Path, corpus: &SyntheticCorpus, snapshot: &Snapshot, args: &BenchSearchArgs) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    let t = Instant::now();
    let vectors = snapshot.index().vectors();
    let dim = vectors.dim();
    {
        let mut w = BufWriter::new(File::create(dir.join("corpus.jsonl"))?);
        for i in 0..corpus.len() as u64 {
            let c = corpus.chunk(i);
            if vectors.row(i as usize) != Some(c.vector.as_slice()) {
                bail!("chunk {i} of the index is not chunk {i} of the generator; rebuild with --rebuild");
            }
            let url = format!("https://bench.example/s{}/d{}", c.doc % SECTIONS, c.doc);
            let row = serde_json::json!({ "id": i, "doc": url, "title": c.title, "headings": format!("{} › {}", c.title, c.heading), "body": c.text });
            writeln!(w, "{row}")?;
        }
        w.flush()?;
    }
    write_npy(&dir.join("vectors.npy"), vectors.as_flat(), vectors.len(), dim)?;
    let total = args.queries + args.queries.min(200);
    let queries: Vec<_> = (0..total as u64).map(|q| corpus.query(q)).collect();
    {
        let mut w = BufWriter::new(File::create(dir.join("queries.jsonl"))?);
        for (i, q) in queries.iter().enumerate() {
            writeln!(w, "{}", serde_json::json!({ "id": i, "text": q.text, "target": q.target }))?;
        }
        w.flush()?;
    }
    let flat: Vec<f32> = queries.iter().flat_map(|q| q.vector.iter().copied()).collect();
    write_npy(&dir.join("query_vectors.npy"), &flat, queries.len(), dim)?;
    let cfg = RetrieverConfig { ann: ann_config(args)?, ..Default::default() };
    let params = serde_json::json!({
        "chunks": corpus.len(), "dim": dim, "k": args.k, "candidates": cfg.candidates,
        "warmup": args.queries.min(200), "queries": args.queries,
        "bm25_boosts": { "title": cfg.bm25.title_boost, "headings": cfg.bm25.headings_boost, "body": cfg.bm25.body_boost },
        "hnsw": { "m": cfg.ann.connectivity, "ef_construction": cfg.ann.expansion_add, "ef_search": cfg.ann.expansion_search },
    });
    fs::write(dir.join("params.json"), serde_json::to_string_pretty(&params)?)?;
    eprintln!("exported corpus, vectors and queries to {} in {:.0}s", dir.display(), t.elapsed().as_secs_f64());
    Ok(())
}

/// A little-endian f32 `.npy` (format 1.0) of `rows × dim`.
fn write_npy(path: &Path, data: &[f32], rows: usize, dim: usize) -> anyhow::Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n', padded to 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut w = BufWriter::new(File::create(path)?);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for x in &data[..rows * dim] {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}
