//! `docent`: the one binary of Docent. Subcommands live in their own modules; this
//! file parses the command line, sets up tracing once and maps errors to exit codes.

mod analytics_cmd;
mod ask_cmd;
mod bench_cmd;
mod bench_search;
mod bench_serve;
mod eval_cmd;
mod ingest_cmd;
mod progress;
mod search_cmd;
mod serve_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Docent: a self-hosted streaming RAG answer engine.
#[derive(Debug, Parser)]
#[command(name = "docent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that touches a bot's data.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Bot id: the index lives in `<data>/bots/<bot>/`.
    #[arg(long, default_value = "docs", env = "DOCENT_BOT")]
    pub bot: String,
    /// Data directory holding every bot's index and the store.
    #[arg(long, default_value = "./data", env = "DOCENT_DATA")]
    pub data: PathBuf,
    /// Models directory (as laid out by `make models`).
    #[arg(long, env = "DOCENT_MODELS")]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Index folders, files or sites into a new generation of a bot's index.
    Ingest(ingest_cmd::IngestArgs),
    /// Benchmarks: ingest throughput, search latency, the answer server under load.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Search a bot's index: BM25, dense or hybrid, with the score breakdown.
    Search(search_cmd::SearchArgs),
    /// Retrieval quality: nDCG@10, Recall@10/100, MRR@10 per mode on a BEIR data set
    /// or a questions.jsonl file, plus follow-up recall and no-answer precision/recall.
    Eval(eval_cmd::EvalArgs),
    /// Serve the chat API of the configured bots (docent.toml; defaults: bot `docs`).
    Serve(serve_cmd::ServeArgs),
    /// Answer a question in the terminal, streamed, with its sources.
    Ask(ask_cmd::AskArgs),
    /// API keys: create (shown once), list, revoke.
    #[command(subcommand)]
    Keys(serve_cmd::KeysCommand),
    /// The configured bots.
    #[command(subcommand)]
    Bots(serve_cmd::BotsCommand),
    /// Traffic summary and the unanswered questions grouped by meaning (from the store).
    Analytics(analytics_cmd::AnalyticsArgs),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Bench(cmd) => bench_cmd::run(cmd),
        Command::Search(args) => search_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Keys(cmd) => serve_cmd::keys(cmd),
        Command::Ask(args) => ask_cmd::run(args),
        Command::Bots(cmd) => serve_cmd::bots(cmd),
        Command::Analytics(args) => analytics_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings only), so stdout
/// stays clean for `--json`.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
