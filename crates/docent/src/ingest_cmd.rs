//! `docent ingest`: index folders, files and sites into a bot's next generation.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use docent_ingest::{ingest, IngestOptions, SourceSpec};

use crate::progress::IngestBars;
use crate::DataArgs;

/// Arguments of `docent ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Folders, files (Markdown, HTML, text) or http(s) URLs to crawl.
    #[arg(required = true, value_name = "FOLDER|URL")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Public base URL of folder sources (`billing/refunds.md` → `<base>/billing/refunds`).
    #[arg(long, env = "DOCENT_BASE_URL")]
    pub base_url: Option<String>,
    /// Link hops to follow from a start URL (0: only the URL itself, no sitemap).
    #[arg(long, default_value_t = 8)]
    pub crawl_depth: usize,
    /// Upper bound of pages per crawled site.
    #[arg(long, default_value_t = 1000)]
    pub max_pages: usize,
    /// Requests in flight at once while crawling.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Minimum milliseconds between two requests to one host (robots.txt Crawl-delay can raise it).
    #[arg(long, default_value_t = 50)]
    pub delay_ms: u64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 20)]
    pub timeout_secs: u64,
    /// Chunk size in model tokens.
    #[arg(long, default_value_t = 200)]
    pub chunk_tokens: usize,
    /// Overlap between pieces of a long section, in model tokens.
    #[arg(long, default_value_t = 32)]
    pub chunk_overlap: usize,
    /// Texts per embedding-model call.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Print the summary as JSON on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Run the command; the exit code is non-zero only when nothing could be indexed.
/// With `--json`, errors are JSON on stdout too (`{"error": "…"}`), so scripts can
/// always parse what they get.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    match run_ingest(args) {
        Ok(summary) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", summary.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if json => {
            println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e),
    }
}

fn run_ingest(args: IngestArgs) -> anyhow::Result<docent_ingest::IngestSummary> {
    let sources = args.sources.iter().map(|s| SourceSpec::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let mut options = IngestOptions::new(args.data.bot.clone(), args.data.data.clone(), sources);
    options.models_dir = args.data.models.clone();
    options.base_url = args.base_url.clone();
    options.crawl.max_depth = args.crawl_depth;
    options.crawl.use_sitemap = args.crawl_depth > 0;
    options.crawl.max_pages = args.max_pages.max(1);
    options.crawl.concurrency = args.concurrency.max(1);
    options.crawl.per_host_delay = Duration::from_millis(args.delay_ms);
    options.crawl.timeout = Duration::from_secs(args.timeout_secs.max(1));
    options.chunker.max_tokens = args.chunk_tokens;
    options.chunker.overlap_tokens = args.chunk_overlap;
    options.embedder.batch_size = args.batch_size.max(1);

    let bars = Arc::new(IngestBars::new(!args.quiet && std::io::stderr().is_terminal()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(ingest(&options, bars.clone()));
    bars.finish();
    Ok(result?)
}
