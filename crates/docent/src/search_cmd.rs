//! `docent search`: query a bot's live index and show the hits with their scores.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use docent_index::{BotDir, Embedder, EmbedderOptions, ModelFiles, ModelGraph};
use docent_retrieval::rerank::{CrossEncoder, CrossEncoderOptions, OfflineReranker};
use docent_retrieval::{Filters, Hit, Reranker, Retriever, SearchMode, SearchRequest, SearchResponse};

use crate::DataArgs;

/// Characters of chunk text shown per hit in the human output.
const SNIPPET_CHARS: usize = 240;

/// Modes accepted on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliMode {
    /// BM25 only.
    Bm25,
    /// Embeddings only.
    Dense,
    /// BM25 and embeddings, fused.
    Hybrid,
    /// Hybrid, then the top hits reranked (the offline reranker, or the cross-encoder
    /// of `--reranker-model`).
    Rerank,
}

/// Arguments of `docent search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to search for (plain text; no query syntax).
    pub query: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Number of hits.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Retrieval mode.
    #[arg(long, value_enum, default_value_t = CliMode::Hybrid)]
    pub mode: CliMode,
    /// Only pages whose URL starts with this prefix.
    #[arg(long)]
    pub url_prefix: Option<String>,
    /// Only chunks with this tag (repeat for any-of).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Print the response as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Cross-encoder model directory for `--mode rerank` (model.onnx with a `logits`
    /// output + tokenizer files). Without it, the offline reranker is used.
    #[arg(long, value_name = "DIR", env = "DOCENT_RERANKER_MODEL")]
    pub reranker_model: Option<PathBuf>,
}

/// Run the command. With `--json`, errors are JSON on stdout too (`{"error": "…"}`).
pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    match search(&args) {
        Ok(response) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                print!("{}", to_text(&response));
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

fn search(args: &SearchArgs) -> anyhow::Result<SearchResponse> {
    let mode = match args.mode {
        CliMode::Bm25 => SearchMode::Bm25,
        CliMode::Dense => SearchMode::Dense,
        CliMode::Hybrid => SearchMode::Hybrid,
        CliMode::Rerank => SearchMode::Rerank,
    };
    let bot = BotDir::new(&args.data.data, &args.data.bot)?;
    let files = ModelFiles::locate(args.data.models.as_deref())?;
    // One query, one intra-op thread: measured ~3× faster than two threads on 2 cores.
    let options = EmbedderOptions::queries(ModelGraph::QueryInt8);
    let embedder = Embedder::load(&files, options).context("loading the query model")?;
    let mut retriever = Retriever::open(&bot, embedder)?;
    if mode == SearchMode::Rerank {
        let reranker: Arc<dyn Reranker> = match &args.reranker_model {
            Some(dir) => Arc::new(
                CrossEncoder::load(dir, &files, CrossEncoderOptions { threads: Some(1), ..Default::default() })
                    .context("loading the reranker model")?,
            ),
            None => Arc::new(OfflineReranker::new(Some(Arc::clone(retriever.embedder())))),
        };
        retriever = retriever.with_reranker(reranker);
    }
    let filters = Filters { url_prefix: args.url_prefix.clone(), tags: args.tags.clone() };
    let request = SearchRequest::new(args.query.clone()).with_k(args.k).with_mode(mode).with_filters(filters);
    Ok(retriever.search(&request)?)
}

fn to_text(r: &SearchResponse) -> String {
    let mut out = String::new();
    if r.hits.is_empty() {
        out.push_str("no hits\n");
    }
    for hit in &r.hits {
        out.push_str(&hit_text(hit));
    }
    let t = &r.timings;
    out.push_str(&format!(
        "generation {} · {} · embed {:.1} ms{} · bm25 {:.1} ms · dense {:.1} ms · fuse {:.2} ms · fetch {:.1} ms{} · total {:.1} ms\n",
        r.generation,
        r.mode,
        t.embed_ms,
        if t.embed_cached { " (cached)" } else { "" },
        t.bm25_ms,
        t.dense_ms,
        t.fuse_ms,
        t.fetch_ms,
        if r.mode == SearchMode::Rerank { format!(" · rerank {:.1} ms", t.rerank_ms) } else { String::new() },
        t.total_ms
    ));
    out
}

fn hit_text(hit: &Hit) -> String {
    let part = |name: &str, score: Option<f32>, rank: Option<usize>| match (score, rank) {
        (Some(s), Some(r)) => format!("{name} {s:.3} (#{r})"),
        _ => format!("{name} -"),
    };
    let path = hit.heading_path.join(" › ");
    let headings = match hit.heading_path.first() {
        None => hit.title.clone(),
        Some(first) if *first == hit.title => path,
        Some(_) => format!("{} — {path}", hit.title),
    };
    let rerank = hit.scores.rerank.map_or_else(String::new, |s| format!("  rerank {s:.3}"));
    format!(
        "{:>2}. {:.4}  {}  {}{}\n    {}\n    {}\n    {}\n\n",
        hit.ranks.fused,
        hit.scores.fused,
        part("bm25", hit.scores.bm25, hit.ranks.bm25),
        part("dense", hit.scores.dense, hit.ranks.dense),
        rerank,
        headings,
        hit.url,
        snippet(&hit.text)
    )
}

/// The start of `text` on one line, cut at a word boundary.
fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= SNIPPET_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(SNIPPET_CHARS).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head).to_string();
    format!("{cut} …")
}
