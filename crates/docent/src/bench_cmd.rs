//! `docent bench ingest`: pipeline throughput against the model alone on the same chunks.
//!
//! Embedding is the ceiling of ingest speed; everything else (reading, fetching,
//! extraction, chunking, writing) must hide behind it. The benchmark ingests the
//! sources into a fresh data directory (no cache), then embeds exactly the same
//! chunk texts with a freshly loaded model and nothing else running, and reports
//! both rates and their ratio.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use docent_index::{BotDir, Embedder, EmbedderOptions, IndexSnapshot, ModelFiles};
use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};
use serde::Serialize;

pub use crate::bench_search::BenchSearchArgs;
pub use crate::bench_serve::BenchServeArgs;

/// `docent bench …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput (pages/s, chunks/s) vs the embedding model alone.
    Ingest(BenchIngestArgs),
    /// Search latency per mode (p50/p95/p99, QPS), query embedding apart, and RSS.
    Search(BenchSearchArgs),
    /// The answer server under load: TTFT, full-answer latency and throughput of
    /// streaming chat at several concurrency levels, and memory per open stream.
    Serve(BenchServeArgs),
}

/// Arguments of `docent bench ingest`.
#[derive(Debug, clap::Args)]
pub struct BenchIngestArgs {
    /// Folders, files or URLs, as for `docent ingest`.
    #[arg(required = true, value_name = "FOLDER|URL")]
    pub sources: Vec<String>,
    /// Base URL of folder sources.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Models directory.
    #[arg(long, env = "DOCENT_MODELS")]
    pub models: Option<PathBuf>,
    /// Texts per model call (the same for both measurements).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Upper bound of pages per crawled site.
    #[arg(long, default_value_t = 5000)]
    pub max_pages: usize,
    /// Label of the data set in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One benchmark result.
#[derive(Debug, Serialize)]
pub struct IngestBenchReport {
    /// Data set label.
    pub label: String,
    /// Pages indexed.
    pub pages: usize,
    /// Distinct chunk texts embedded.
    pub chunks: usize,
    /// Wall-clock seconds of the whole ingest.
    pub pipeline_secs: f64,
    /// Pages per second of the whole ingest.
    pub pipeline_pages_per_sec: f64,
    /// Chunks embedded per second of the whole ingest.
    pub pipeline_chunks_per_sec: f64,
    /// Seconds the model alone needs for the same chunks.
    pub model_secs: f64,
    /// Chunks per second of the model alone.
    pub model_chunks_per_sec: f64,
    /// `pipeline_chunks_per_sec / model_chunks_per_sec` (target ≥ 0.85).
    pub ratio: f64,
    /// CPU seconds (all threads of this process) spent by the ingest.
    pub pipeline_cpu_secs: f64,
    /// CPU seconds spent by the model-alone run.
    pub model_cpu_secs: f64,
    /// `model_cpu_secs / pipeline_cpu_secs`: the share of the ingest's CPU that is the
    /// model's own work. Robust to other load on the machine, unlike wall-clock rates.
    pub cpu_ratio: f64,
    /// Batch size of both runs.
    pub batch_size: usize,
}

/// Run a benchmark command.
pub fn run(cmd: BenchCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        BenchCommand::Ingest(args) => {
            let report = bench_ingest(&args)?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{}: {} pages, {} chunks\n  pipeline   {:>8.2}s  {:>7.1} pages/s  {:>7.1} chunks/s\n  model only {:>8.2}s  {:>7} {:>14.1} chunks/s\n  ratio      {:.3} wall-clock (target >= 0.85), {:.3} CPU (model CPU / pipeline CPU)",
                    report.label,
                    report.pages,
                    report.chunks,
                    report.pipeline_secs,
                    report.pipeline_pages_per_sec,
                    report.pipeline_chunks_per_sec,
                    report.model_secs,
                    "",
                    report.model_chunks_per_sec,
                    report.ratio,
                    report.cpu_ratio
                );
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        BenchCommand::Search(args) => {
            crate::bench_search::run(&args)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        BenchCommand::Serve(args) => {
            crate::bench_serve::run(&args)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn bench_ingest(args: &BenchIngestArgs) -> anyhow::Result<IngestBenchReport> {
    let data = tempfile::tempdir().context("creating a scratch data directory")?;
    let sources = args.sources.iter().map(|s| SourceSpec::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let mut options = IngestOptions::new("bench", data.path(), sources);
    options.models_dir = args.models.clone();
    options.base_url = args.base_url.clone();
    options.crawl.max_pages = args.max_pages;
    options.crawl.per_host_delay = std::time::Duration::ZERO;
    options.embedder = EmbedderOptions { batch_size: args.batch_size.max(1), ..EmbedderOptions::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let cpu_before = process_cpu_secs();
    let summary = runtime.block_on(ingest(&options, Arc::new(NoProgress)))?;
    let pipeline_cpu_secs = process_cpu_secs() - cpu_before;

    // The exact texts the pipeline embedded, once each.
    let snap = IndexSnapshot::open(&BotDir::new(data.path(), "bench")?)?;
    let mut seen = HashSet::new();
    let mut texts = Vec::new();
    for doc in snap.manifest().documents.keys() {
        for (chunk, _) in snap.chunks_of(doc)? {
            if seen.insert(chunk.hash) {
                texts.push(chunk.embed_text());
            }
        }
    }
    drop(snap);
    // The best case for the model: similar lengths batched together, nothing else running.
    texts.sort_by_key(|t| t.len());
    let files = ModelFiles::locate(args.models.as_deref())?;
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let mut model = Embedder::load(&files, options.embedder.clone())?;
    for batch in texts.chunks(64) {
        model.embed(batch)?;
    }
    let model_secs = started.elapsed().as_secs_f64();
    let model_cpu_secs = process_cpu_secs() - cpu_before;
    let model_rate = texts.len() as f64 / model_secs.max(1e-9);
    let label = args.label.clone().unwrap_or_else(|| args.sources.join(" "));
    Ok(IngestBenchReport {
        label,
        pages: summary.documents.total,
        chunks: summary.chunks.embedded,
        pipeline_secs: summary.elapsed_secs,
        pipeline_pages_per_sec: summary.pages_per_sec,
        pipeline_chunks_per_sec: summary.chunks_per_sec,
        model_secs,
        model_chunks_per_sec: model_rate,
        ratio: summary.chunks_per_sec / model_rate.max(1e-9),
        batch_size: options.embedder.batch_size,
        pipeline_cpu_secs,
        model_cpu_secs,
        cpu_ratio: model_cpu_secs / pipeline_cpu_secs.max(1e-9),
    })
}

/// User + system CPU seconds of this process so far (all threads), from
/// `/proc/self/stat`; 0 where that file does not exist.
fn process_cpu_secs() -> f64 {
    const CLOCK_TICKS_PER_SEC: f64 = 100.0; // USER_HZ, 100 on every Linux target we build for
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the `(comm)` part: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SEC
}
