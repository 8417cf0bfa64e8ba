//! `docent ask "question"`: answer in the terminal the way the server would — same
//! retrieval, same generator, same citation filter — streamed as it is generated,
//! followed by the numbered sources.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use docent_answer::citations::CitationFilter;
use docent_answer::{AnswerEvent, AnswerRequest, FinishReason, Source};
use docent_index::BotDir;
use docent_retrieval::{Retriever, RetrieverConfig, SearchRequest};
use docent_server::turn::{answer_mode, is_answerable, sources_for};
use futures::StreamExt;

use crate::serve_cmd::ConfigArgs;

/// Arguments of `docent ask`.
#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// Bot to ask.
    #[arg(long, default_value = "docs", env = "DOCENT_BOT")]
    pub bot: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Run it.
pub fn run(args: AskArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load(None)?;
    let bot = config.bot(&args.bot).cloned().with_context(|| format!("no bot `{}` in the configuration", args.bot))?;
    let embedder = docent_server::load_query_embedder(&config, 1)?;
    let data = bot.data.clone().unwrap_or_else(|| config.data.clone());
    let dir = BotDir::new(&data, &bot.id)?;
    let retriever = Retriever::open_with(&dir, Arc::clone(&embedder), RetrieverConfig::default())
        .with_context(|| format!("opening bot `{}` (run `docent ingest` first)", bot.id))?;
    let generator = docent_server::default_generator(&config)(&bot).map_err(anyhow::Error::msg)?;
    let mode = answer_mode(&retriever);
    let response = retriever.search(&SearchRequest::new(args.question.clone()).with_k(bot.sources).with_mode(mode))?;
    let answerable = is_answerable(&bot, &response);
    let sources: Vec<Source> = if answerable { sources_for(&response.hits, bot.sources).1 } else { Vec::new() };
    let request = AnswerRequest {
        question: args.question.clone(),
        history: Vec::new(),
        sources: sources.clone(),
        answerable,
        confidence: response.confidence.score,
        system_prompt: bot.system_prompt.clone(),
        fallback: bot.fallback.clone(),
        max_tokens: bot.max_tokens,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (finish, filter) = runtime.block_on(async move {
        let mut stream = generator.generate(request);
        let mut filter = CitationFilter::new(sources.len());
        let mut out = std::io::stdout().lock();
        let mut finish = FinishReason::Error;
        while let Some(item) = stream.next().await {
            match item? {
                AnswerEvent::Delta(d) => {
                    write!(out, "{}", filter.push(&d))?;
                    out.flush()?;
                }
                AnswerEvent::Done { finish_reason, .. } => {
                    finish = finish_reason;
                    break;
                }
            }
        }
        writeln!(out, "{}", filter.finish())?;
        anyhow::Ok((finish, filter))
    })?;
    let cited = filter.cited_sources();
    if !cited.is_empty() {
        println!();
        for n in cited {
            if let Some(s) = response.hits.get(n - 1) {
                println!("[{n}] {} — {}", s.title, s.url);
            }
        }
    }
    eprintln!("({}, confidence {:.2})", finish.as_str(), response.confidence.score);
    Ok(ExitCode::SUCCESS)
}
