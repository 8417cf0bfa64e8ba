//! `docent analytics`: the summary and the grouped unanswered questions of
//! `GET /v1/analytics/summary` and `/v1/analytics/unanswered`, read straight from the
//! store (no server needed), as a table or `--json`.

use std::process::ExitCode;

use anyhow::Context;
use docent_server::analytics::{self, Summary, UnansweredReport, DEFAULT_SIMILARITY};
use docent_server::api::rfc3339;
use docent_server::store::Store;

use crate::serve_cmd::ConfigArgs;

/// Arguments of `docent analytics`.
#[derive(Debug, clap::Args)]
pub struct AnalyticsArgs {
    /// The bot.
    #[arg(long, default_value = "docs", env = "DOCENT_BOT")]
    pub bot: String,
    /// Start of the range, RFC 3339 (default: 30 days before `--to`).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range, RFC 3339, excluded (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Cosine similarity at which unanswered questions share a group (0–1).
    #[arg(long, default_value_t = DEFAULT_SIMILARITY)]
    pub similarity: f32,
    /// Unanswered groups printed (all with `--json`).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// `{"summary": …, "unanswered": …}` as the API returns them.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Run it.
pub fn run(args: AnalyticsArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.similarity) {
        anyhow::bail!("--similarity must be between 0 and 1");
    }
    let config = args.config.load(None)?;
    if config.bot(&args.bot).is_none() {
        anyhow::bail!("no bot `{}` in the configuration", args.bot);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let range = analytics::time_range(args.from.as_deref(), args.to.as_deref(), now)
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e.param()))?;
    let embedder = docent_server::load_query_embedder(&config, 1)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("starting tokio")?;
    let (summary, unanswered) = runtime.block_on(async {
        let store = Store::connect(&config.database_url()).await?;
        let summary = analytics::summary(&store, &args.bot, range).await?;
        let unanswered = analytics::unanswered(&store, &embedder, &args.bot, range, args.similarity).await?;
        anyhow::Ok((summary, unanswered))
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"summary": summary, "unanswered": unanswered}))?
        );
    } else {
        print!("{}", render(&summary, &unanswered, args.top));
    }
    Ok(ExitCode::SUCCESS)
}

/// The terminal report.
fn render(s: &Summary, u: &UnansweredReport, top: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let pct = |r: f64| r * 100.0;
    let o = &s.outcomes;
    let _ = writeln!(out, "bot {}  {} → {}", s.bot_id, rfc3339(s.from_ms), rfc3339(s.to_ms));
    let _ = writeln!(
        out,
        "conversations {}   messages {} from visitors, {} answers",
        s.conversations, s.user_messages, s.assistant_messages
    );
    let _ = writeln!(
        out,
        "answered {} ({:.1}%)   no answer {} ({:.1}%)   handoff {} ({:.1}%)   cancelled {}   error {}",
        o.answered,
        pct(s.rates.answer_rate),
        o.no_answer,
        pct(s.rates.no_answer_rate),
        o.handoff,
        pct(s.rates.handoff_rate),
        o.cancelled,
        o.error
    );
    let _ = writeln!(out, "feedback {} up, {} down   leads {}", s.feedback.up, s.feedback.down, s.leads);
    let l = &s.latency;
    let _ = writeln!(
        out,
        "latency over {} turns{}: ttft p50 {:.1} p95 {:.1} p99 {:.1} ms   total p50 {:.1} p95 {:.1} p99 {:.1} ms",
        l.turns,
        if s.latency_truncated { " (newest only)" } else { "" },
        l.ttft_ms.p50,
        l.ttft_ms.p95,
        l.ttft_ms.p99,
        l.total_ms.p50,
        l.total_ms.p95,
        l.total_ms.p99
    );
    let _ = writeln!(
        out,
        "\nunanswered: {} questions in {} groups{}",
        u.turns,
        u.groups.len(),
        if u.truncated { " (newest only)" } else { "" }
    );
    for g in u.groups.iter().take(top) {
        let _ = writeln!(out, "{:>5}  {}  (last {})", g.count, g.question, rfc3339(g.last_seen_ms));
        for e in &g.examples {
            let _ = writeln!(out, "         ~ {e}");
        }
    }
    if u.groups.len() > top {
        let _ = writeln!(out, "  … {} more groups (--top N, --json)", u.groups.len() - top);
    }
    out
}
