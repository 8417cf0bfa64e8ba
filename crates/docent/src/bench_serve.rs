//! `docent bench serve`: the answer server under load — time to first token, full
//! answer latency and throughput of streaming chat turns at several concurrency
//! levels, and the server's memory per open stream.
//!
//! The server is the real `docent serve`, started as a **child process** from this
//! binary with a generated `docent.toml` (loopback, port 0, rate limits that never
//! throttle the benchmark's key, a scratch SQLite store), so its RSS
//! (`/proc/<pid>/status`) and CPU time (`/proc/<pid>/stat`) are its own and do not
//! include the load generator's.
//!
//! * **Levels** (`--clients 1,10,100,1000`): that many closed-loop clients, each
//!   sending `POST /v1/chat` with `"stream": true` back to back (answerable questions
//!   of `questions.jsonl`, rotating; a new conversation per request), bounded by
//!   `--requests-per-client` and `--max-seconds`. TTFT = request sent → first `delta`
//!   frame; full = request sent → `done` frame. Errors: connection errors, non-200,
//!   `error` frames, streams that end without `done`, client timeouts.
//! * **Memory per open stream** (`--hold 100,1000`): an extractive answer is over in
//!   milliseconds, so its streams are never open long. To hold N streams open at once
//!   honestly, a second bot of the same index uses the LLM generator against a small
//!   OpenAI-compatible upstream run by this process: it sends one cited sentence at
//!   once, then waits until the benchmark releases it. When all N clients have seen
//!   their first `delta` and the upstream holds their requests, the server has N live
//!   turns (client connection, turn task, frames, upstream request): its RSS minus the
//!   idle RSS, divided by N, is the memory per open stream. Then every stream is
//!   released and must end with `done`.
//!
//! * **Paced streams** (`--paced-clients 100`): a third bot of the same index,
//!   `<bot>-paced`, is the extractive generator with `pacing_ms` between words
//!   (`--pacing-ms`, 20 by default: 50 words a second, an LLM's pace), so each answer
//!   streams for a second or two and N closed-loop clients keep about N streams open
//!   and streaming at once. Every one of those streams has its TTFT measured: this is
//!   the level that answers "TTFT at N concurrent streams". Its clients start spread
//!   over [`PACED_RAMP`], as a ramping load tool would, instead of all in one instant.
//!
//! The index: `--data DIR` must hold the bot's index (else the error says which
//! `docent ingest` to run); without `--data`, `--corpus` is ingested with
//! `docent ingest` into `--scratch` (incremental: seconds once it is there). The
//! benchmark never writes into `--data`: the store is a scratch file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use docent_index::{BotDir, Manifest};
use docent_server::auth::create_key;
use docent_server::config::ENV_KEYS;
use docent_server::store::{KeyKind, Store};
use docent_server::ServerConfig;
use serde::Serialize;
use tokio::sync::watch;

use crate::bench_search::pct;

/// Public base URL of the sample corpus (the same as `make ingest-corpus`).
const CORPUS_BASE: &str = "https://help.lumenledger.example/";
/// Requests a level makes at least when `--requests-per-client` is not given.
const MIN_REQUESTS_PER_LEVEL: usize = 200;
/// Client-side timeout of one streamed answer in a level.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to load its models and indexes.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long N held streams may take to all be open.
const HOLD_TIMEOUT: Duration = Duration::from_secs(180);
/// The clients of a paced level start spread over this time.
const PACED_RAMP: Duration = Duration::from_secs(1);
/// `per_client` of a level whose clients ask until its time cap.
const UNTIL_THE_CAP: usize = usize::MAX;
/// How often a level counts its open streams.
const OPEN_SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Arguments of `docent bench serve`.
#[derive(Debug, clap::Args)]
pub struct BenchServeArgs {
    /// Data directory holding the bot's index (read only). Without it, `--corpus` is
    /// ingested into `--scratch` first.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Bot whose index is served.
    #[arg(long, default_value = "docs")]
    pub bot: String,
    /// Folder ingested when `--data` is not given.
    #[arg(long, default_value = "corpus")]
    pub corpus: PathBuf,
    /// Public base URL of `--corpus`'s pages.
    #[arg(long, default_value = CORPUS_BASE)]
    pub base_url: String,
    /// Where `--corpus` is indexed (kept, so later runs re-ingest nothing).
    #[arg(long, default_value = "target/bench-serve-data")]
    pub scratch: PathBuf,
    /// Questions (JSONL with `question` and `answerable`; the answerable ones are
    /// asked). Default: `<corpus>/questions.jsonl`.
    #[arg(long)]
    pub questions: Option<PathBuf>,
    /// Models directory.
    #[arg(long, env = "DOCENT_MODELS")]
    pub models: Option<PathBuf>,
    /// Concurrency levels: closed-loop streaming clients per level.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    pub clients: Vec<usize>,
    /// Requests per client per level (default: enough for 200 requests per level, at
    /// least 5 per client).
    #[arg(long)]
    pub requests_per_client: Option<usize>,
    /// Time cap per level, seconds: no new request starts after it.
    #[arg(long, default_value_t = 60)]
    pub max_seconds: u64,
    /// Streams held open at once for the memory measurement (0: skip it).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub hold: Vec<usize>,
    /// Also measure levels (`--open-streams-clients`) while this many LLM streams are
    /// held open (0: skip).
    #[arg(long, default_value_t = 100)]
    pub open_streams: usize,
    /// Concurrency levels run while `--open-streams` streams are open.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    pub open_streams_clients: Vec<usize>,
    /// Concurrency levels of the paced bot (`<bot>-paced`, the extractive generator
    /// pausing `--pacing-ms` between words): N closed-loop clients keep about N streams
    /// open and streaming at once (0: skip).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub paced_clients: Vec<usize>,
    /// Pause between the paced bot's streamed words, ms (20: 50 words a second).
    #[arg(long, default_value_t = 20)]
    pub pacing_ms: u64,
    /// Length of a paced level after its ramp, seconds: every client asks back to back
    /// until then, so all N are streaming through the whole window.
    #[arg(long, default_value_t = 10)]
    pub paced_seconds: u64,
    /// Make every question unique (a request number is appended), so every request
    /// runs the query embedder instead of hitting its cache.
    #[arg(long)]
    pub uncached: bool,
    /// Turn the server's answer cache on (off by default, so the levels measure
    /// retrieval and generation): repeated questions are then answered from it, and
    /// each level reports its hit rate.
    #[arg(long)]
    pub answer_cache: bool,
    /// Print JSON rows (one per line) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelRow {
    /// `level`.
    pub kind: &'static str,
    /// Generator of the bot (`extractive`, or `extractive_paced` for the paced bot).
    pub generator: &'static str,
    /// Pause between streamed words, ms (0: none, the default bot).
    pub pacing_ms: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// LLM streams held open on the server meanwhile (0: none).
    pub open_streams: usize,
    /// Requests sent.
    pub requests: usize,
    /// Streams that ended with `done`.
    pub answers: usize,
    /// Requests that failed (every kind).
    pub errors: usize,
    /// Failures by kind (`connect`, `http_503`, `error_frame`, `no_done`, `timeout`, …).
    pub error_kinds: BTreeMap<String, usize>,
    /// Answers that finished `no_answer` (the fallback text).
    pub no_answer: usize,
    /// Answers served from the answer cache (`cached: true`).
    pub cached: usize,
    /// `cached` / answers.
    pub cache_hit_rate: f64,
    /// Time to the first `delta`, client side, ms.
    pub ttft_p50_ms: f64,
    /// 95th percentile of TTFT, ms.
    pub ttft_p95_ms: f64,
    /// 99th percentile of TTFT, ms.
    pub ttft_p99_ms: f64,
    /// Time to `done`, client side, ms.
    pub full_p50_ms: f64,
    /// 95th percentile of the full answer, ms.
    pub full_p95_ms: f64,
    /// 99th percentile of the full answer, ms.
    pub full_p99_ms: f64,
    /// The server's own `timings.ttft_ms` (from the start of the turn, after the
    /// handler's store writes), median, ms.
    pub server_ttft_p50_ms: f64,
    /// Answers per second over the level's wall time.
    pub throughput_per_s: f64,
    /// Streams of this level open at once (first `delta` seen, not yet ended), mean of
    /// samples every 5 ms between the end of the ramp and the time cap.
    pub streams_open_mean: f64,
    /// The most streams of this level open at one sample.
    pub streams_open_max: usize,
    /// Wall time of the level, s.
    pub wall_secs: f64,
    /// The time cap stopped the level before every client made its requests.
    pub truncated: bool,
    /// Peak VmRSS of the server during the level, MB.
    pub server_rss_peak_mb: f64,
    /// VmRSS of the server after the level, MB.
    pub server_rss_after_mb: f64,
    /// CPU time of the server process per answer, ms (all its threads).
    pub server_cpu_ms_per_answer: f64,
    /// CPU time of the load generator per answer, ms (it shares the cores).
    pub client_cpu_ms_per_answer: f64,
    /// Whether every question was made unique (no query-vector cache hits).
    pub uncached: bool,
    /// 1-minute load average before the level.
    pub load_start: f64,
    /// 1-minute load average after the level.
    pub load_end: f64,
}

/// Memory with N streams open at once.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    /// `memory`, or `open_streams` for the streams held during the open-stream levels.
    pub kind: &'static str,
    /// Streams asked to be held.
    pub hold: usize,
    /// Streams open at the measurement (the rest ended early with `no_answer`:
    /// the retrieval confidence refused them, so the LLM was never called).
    pub open: usize,
    /// Streams that ended before the release.
    pub finished_early: usize,
    /// Streams that ended with `done` in total.
    pub answers: usize,
    /// Failed streams.
    pub errors: usize,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, usize>,
    /// Server VmRSS right before the streams were opened, MB.
    pub rss_idle_mb: f64,
    /// Server VmRSS with `open` streams open, MB.
    pub rss_open_mb: f64,
    /// Server VmRSS after every stream ended, MB.
    pub rss_after_mb: f64,
    /// `(rss_open - rss_idle) / open`, KB.
    pub kb_per_stream: f64,
    /// Against the previous hold row: `(rss_open - prev rss_open) / (open - prev open)`, KB
    /// (fixed costs of the first streams cancel out).
    pub marginal_kb_per_stream: Option<f64>,
    /// Seconds until every stream was open.
    pub open_secs: f64,
    /// 1-minute load average at the measurement.
    pub load: f64,
}

/// What the run was about (first JSON row).
#[derive(Debug, Clone, Serialize)]
pub struct SetupRow {
    /// `setup`.
    pub kind: &'static str,
    /// Bot.
    pub bot: String,
    /// Index generation.
    pub generation: u64,
    /// Chunks in the index.
    pub chunks: usize,
    /// Distinct questions asked.
    pub questions: usize,
    /// Unique questions (no query-vector cache).
    pub uncached: bool,
    /// Server VmRSS when ready, MB.
    pub server_rss_ready_mb: f64,
    /// Server VmRSS after the warm-up, MB.
    pub server_rss_warm_mb: f64,
    /// Cores of the machine.
    pub cores: usize,
    /// Soft limit of open files (raised to the hard limit).
    pub nofile_limit: u64,
    /// 1-minute load average at the start.
    pub load_start: f64,
}

/// Run `docent bench serve`.
pub fn run(args: &BenchServeArgs) -> anyhow::Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs levels of at least 1 client, e.g. 1,10,100,1000");
    }
    if args.requests_per_client == Some(0) || args.max_seconds == 0 {
        bail!("--requests-per-client and --max-seconds must be at least 1");
    }
    let holds: Vec<usize> = args.hold.iter().copied().filter(|&n| n > 0).collect();
    if args.open_streams > 0 && (args.open_streams_clients.is_empty() || args.open_streams_clients.contains(&0)) {
        bail!("--open-streams-clients needs levels of at least 1 client");
    }
    if !(1..=1000).contains(&args.pacing_ms) || args.paced_seconds == 0 {
        bail!("--pacing-ms must be between 1 and 1000, --paced-seconds at least 1");
    }
    let paced: Vec<usize> = args.paced_clients.iter().copied().filter(|&n| n > 0).collect();
    let peak = peak_streams(args);
    // Each stream costs a socket on both ends, and held ones an upstream socket on both
    // ends too; the child server inherits the limit.
    let nofile = raise_nofile_limit(2 * peak as u64 + 512)?;
    let data = prepare_index(args)?;
    let questions_path = args.questions.clone().unwrap_or_else(|| args.corpus.join("questions.jsonl"));
    let questions = load_questions(&questions_path)?;
    let bot_dir = BotDir::new(&data, &args.bot)?;
    let generation = bot_dir.current()?.context("the bot's index has no live generation")?;
    let manifest = Manifest::read(&bot_dir.generation_dir(generation).join("manifest.json"))?;

    let work = tempfile::tempdir().context("creating a scratch directory for the server")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let upstream = HeldUpstream::start().await?;
        let setup = ServerSetup::write(args, &data, bot_dir.path(), work.path(), upstream.base_url())?;
        let key = setup.create_key().await?;
        let server = ServerChild::spawn(&setup)?;
        let bench = Bench::new(server.base.clone(), key, questions, args.uncached)?;
        let held_bot = format!("{}-held", args.bot);
        let paced_bot = format!("{}-paced", args.bot);
        let per_client = |clients: usize| {
            args.requests_per_client.unwrap_or_else(|| MIN_REQUESTS_PER_LEVEL.div_ceil(clients).max(5))
        };
        bench.wait_ready(&server).await?;
        let pid = server.pid();
        let rss_ready = rss_mb(pid);

        // Warm-up (not measured): every question once, so the levels see the same
        // query-vector cache state, and a few held streams, so the LLM client exists.
        let warm = if args.uncached { 20 } else { bench.questions.len() };
        if let Err(e) = bench.warm_up(&args.bot, warm).await {
            bail!("{e}; the server's log ends with:\n{}", server.log_tail());
        }
        if !paced.is_empty() {
            // The paced bot shares the query-vector cache; two answers open its index.
            bench.warm_up(&paced_bot, 2).await?;
        }
        if !holds.is_empty() {
            let (w, _) = bench.hold(&held_bot, 4.min(holds[0]), &upstream, pid, None, async || Ok(Vec::new())).await?;
            if w.errors > 0 {
                bail!("held warm-up streams failed: {:?}", w.error_kinds);
            }
        }
        let setup_row = SetupRow {
            kind: "setup",
            bot: args.bot.clone(),
            generation,
            chunks: manifest.counts.chunks,
            questions: bench.questions.len(),
            uncached: args.uncached,
            server_rss_ready_mb: rss_ready,
            server_rss_warm_mb: rss_mb(pid),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            nofile_limit: nofile,
            load_start: load_average(),
        };
        if !args.json {
            print_setup(&setup_row);
        }

        // Memory first: the server's heap has not yet been grown by the big levels.
        let mut memory: Vec<MemoryRow> = Vec::new();
        for &n in &holds {
            let (row, _) = bench.hold(&held_bot, n, &upstream, pid, memory.last(), async || Ok(Vec::new())).await?;
            if !args.json {
                print_memory(&row, memory.is_empty());
            }
            memory.push(row);
        }
        let cap = Duration::from_secs(args.max_seconds);
        let mut levels = Vec::new();
        for (i, &clients) in args.clients.iter().enumerate() {
            let row = bench.level(&Pace::NONE, &args.bot, clients, per_client(clients), cap, pid).await?;
            if !args.json {
                print_level(&row, i == 0);
            }
            levels.push(row);
        }
        let pace = Pace { ms: args.pacing_ms, ramp: PACED_RAMP };
        let paced_cap = PACED_RAMP + Duration::from_secs(args.paced_seconds);
        for (i, &clients) in paced.iter().enumerate() {
            let row = bench.level(&pace, &paced_bot, clients, UNTIL_THE_CAP, paced_cap, pid).await?;
            if !args.json {
                print_level(&row, i == 0);
            }
            levels.push(row);
        }
        // New requests while streams stay open: what a chat client sees on a server
        // busy with long (LLM) answers.
        let mut background = None;
        if args.open_streams > 0 {
            let n = args.open_streams;
            let during = async || {
                let mut rows = Vec::new();
                for &clients in &args.open_streams_clients {
                    let mut row =
                        bench.level(&Pace::NONE, &args.bot, clients, per_client(clients), cap, pid).await?;
                    row.open_streams = n;
                    rows.push(row);
                }
                Ok(rows)
            };
            let (held, rows) = bench.hold(&held_bot, n, &upstream, pid, None, during).await?;
            if !args.json {
                println!(
                    "\nthe same, while {} streams of the LLM bot are held open ({} ended early, {} errors among them):",
                    held.open, held.finished_early, held.errors
                );
                for (i, r) in rows.iter().enumerate() {
                    print_level(r, i == 0);
                }
            }
            levels.extend(rows);
            background = Some(MemoryRow { kind: "open_streams", ..held });
        }
        server.stop()?;
        if args.json {
            println!("{}", serde_json::to_string(&setup_row)?);
            for r in &memory {
                println!("{}", serde_json::to_string(r)?);
            }
            for r in &levels {
                println!("{}", serde_json::to_string(r)?);
            }
            if let Some(r) = &background {
                println!("{}", serde_json::to_string(r)?);
            }
        } else {
            println!(
                "load average (1 min) at the end: {:.2} on {} cores shared with other jobs: wall-clock numbers include their time",
                load_average(),
                setup_row.cores
            );
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

fn print_setup(s: &SetupRow) {
    println!(
        "docent bench serve: bot `{}` (generation {}, {} chunks), {} questions{}, server RSS {:.0} MB ready / {:.0} MB warm, load {:.2}",
        s.bot,
        s.generation,
        s.chunks,
        s.questions,
        if s.uncached { " made unique (every request embeds)" } else { " repeated (query vectors cached)" },
        s.server_rss_ready_mb,
        s.server_rss_warm_mb,
        s.load_start
    );
}

fn print_memory(r: &MemoryRow, header: bool) {
    if header {
        println!("\nmemory per open stream (LLM generator held by the upstream after its first sentence):");
        println!(
            "  {:>6} {:>6} {:>6} {:>6} {:>11} {:>11} {:>10} {:>12} {:>7} {:>6}",
            "hold",
            "open",
            "early",
            "errors",
            "RSS idle MB",
            "RSS open MB",
            "KB/stream",
            "marginal KB",
            "open s",
            "load"
        );
    }
    println!(
        "  {:>6} {:>6} {:>6} {:>6} {:>11.1} {:>11.1} {:>10.1} {:>12} {:>7.2} {:>6.2}",
        r.hold,
        r.open,
        r.finished_early,
        r.errors,
        r.rss_idle_mb,
        r.rss_open_mb,
        r.kb_per_stream,
        r.marginal_kb_per_stream.map_or("-".to_string(), |m| format!("{m:.1}")),
        r.open_secs,
        r.load
    );
    if r.errors > 0 {
        println!("    errors: {:?}", r.error_kinds);
    }
}

fn print_level(r: &LevelRow, header: bool) {
    if header {
        if r.pacing_ms > 0 {
            println!(
                "\npaced streams, extractive generator pausing {} ms between words (closed-loop clients, started over {} ms):",
                r.pacing_ms,
                PACED_RAMP.as_millis()
            );
        } else {
            println!("\nstreaming chat, extractive generator (closed-loop clients, new conversation per request):");
        }
        println!(
            "  {:>7} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>11} {:>9} {:>5}",
            "clients",
            "requests",
            "errors",
            "TTFT p50",
            "p95",
            "p99",
            "full p50",
            "p95",
            "p99",
            "answers/s",
            "open",
            "RSS MB",
            "CPU ms/ans",
            "srv TTFT",
            "load"
        );
    }
    println!(
        "  {:>7} {:>8} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>6.1} {:>9.1} {:>5.2}/{:<5.2} {:>9.2} {:>5.2}{}",
        r.clients,
        r.requests,
        r.errors,
        r.ttft_p50_ms,
        r.ttft_p95_ms,
        r.ttft_p99_ms,
        r.full_p50_ms,
        r.full_p95_ms,
        r.full_p99_ms,
        r.throughput_per_s,
        r.streams_open_mean,
        r.server_rss_peak_mb,
        r.server_cpu_ms_per_answer,
        r.client_cpu_ms_per_answer,
        r.server_ttft_p50_ms,
        r.load_end,
        if r.truncated { "  (time cap)" } else { "" }
    );
    if r.cached > 0 {
        println!("    answer cache: {} of {} answers ({:.1}%)", r.cached, r.answers, r.cache_hit_rate * 100.0);
    }
    if r.errors > 0 {
        println!("    errors: {:?}", r.error_kinds);
    }
}

/// The most streams a run has open at once.
fn peak_streams(args: &BenchServeArgs) -> usize {
    let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    let background = if args.open_streams > 0 { args.open_streams + max(&args.open_streams_clients) } else { 0 };
    max(&args.clients).max(max(&args.hold)).max(background).max(max(&args.paced_clients)).max(1)
}

/// Raise the soft limit of open files to the hard limit; fail when even that is
/// below `want`. Returns the soft limit in force.
fn raise_nofile_limit(want: u64) -> anyhow::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit; the resource id is a constant.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit that does not exceed the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    let soft: u64 = lim.rlim_cur;
    if soft < want {
        bail!("this run needs {want} open files but the limit is {soft} (hard limit): raise it (`ulimit -Hn`) or use fewer clients");
    }
    Ok(soft)
}

/// The answerable questions of a `questions.jsonl`.
fn load_questions(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if v["answerable"].as_bool() == Some(false) {
            continue;
        }
        if let Some(q) = v["question"].as_str().filter(|q| !q.trim().is_empty()) {
            out.push(q.to_string());
        }
    }
    if out.is_empty() {
        bail!("no answerable questions in {}", path.display());
    }
    Ok(out)
}

/// The data directory to serve: `--data` when it has the bot's index, else `--corpus`
/// ingested into `--scratch` by `docent ingest` (incremental).
fn prepare_index(args: &BenchServeArgs) -> anyhow::Result<PathBuf> {
    if let Some(data) = &args.data {
        let bot = BotDir::new(data, &args.bot)?;
        if bot.current()?.is_none() {
            bail!(
                "no index for bot `{bot_id}` in {dir}: run `docent ingest corpus --bot {bot_id} --data {dir} --base-url {base}` first, or leave out --data to let the benchmark index {corpus} in {scratch}",
                bot_id = args.bot,
                dir = data.display(),
                base = args.base_url,
                corpus = args.corpus.display(),
                scratch = args.scratch.display()
            );
        }
        return Ok(data.clone());
    }
    if !args.corpus.is_dir() {
        bail!("--corpus {} is not a folder (or give --data DIR with an index)", args.corpus.display());
    }
    std::fs::create_dir_all(&args.scratch).with_context(|| format!("creating {}", args.scratch.display()))?;
    eprintln!("indexing {} into {} (docent ingest; incremental)", args.corpus.display(), args.scratch.display());
    let exe = std::env::current_exe().context("locating the docent binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("ingest")
        .arg(&args.corpus)
        .args(["--bot", &args.bot, "--base-url", &args.base_url, "--json", "--quiet", "--data"])
        .arg(&args.scratch);
    if let Some(m) = &args.models {
        cmd.arg("--models").arg(m);
    }
    let out = cmd.stderr(Stdio::inherit()).output().context("running docent ingest")?;
    if !out.status.success() {
        bail!("docent ingest failed ({}): {}", out.status, String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(args.scratch.clone())
}

/// The generated configuration of the child server.
struct ServerSetup {
    config_path: PathBuf,
    config: ServerConfig,
    log_path: PathBuf,
    bots: Vec<String>,
}

/// A TOML basic string (JSON string escapes are valid TOML ones).
fn toml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl ServerSetup {
    /// Write `docent.toml`: loopback on port 0, a scratch store, limits above the
    /// benchmark's concurrency, and two bots over the same index: the extractive one,
    /// and `<bot>-held` with the LLM generator against the held upstream.
    fn write(
        args: &BenchServeArgs,
        data: &Path,
        bot_path: &Path,
        work: &Path,
        upstream: String,
    ) -> anyhow::Result<Self> {
        let held = format!("{}-held", args.bot);
        let paced = format!("{}-paced", args.bot);
        // The held and paced bots' index is the same directory, seen under their own bot ids.
        let held_data = work.join("held-data");
        std::fs::create_dir_all(held_data.join("bots"))?;
        let target = std::fs::canonicalize(bot_path).with_context(|| format!("resolving {}", bot_path.display()))?;
        for id in [&held, &paced] {
            std::os::unix::fs::symlink(&target, held_data.join("bots").join(id))?;
        }
        let data = std::fs::canonicalize(data)?;
        let peak = peak_streams(args);
        let db = work.join("bench.db");
        let mut toml = format!(
            "listen = \"127.0.0.1:0\"\ndata = {}\ndatabase_url = {}\n",
            toml_str(&data.display().to_string()),
            toml_str(&format!("sqlite://{}?mode=rwc", db.display()))
        );
        if let Some(m) = &args.models {
            let m = std::fs::canonicalize(m).with_context(|| format!("models directory {}", m.display()))?;
            toml.push_str(&format!("models = {}\n", toml_str(&m.display().to_string())));
        }
        // Rate limits far above anything a run sends: the benchmark measures the
        // server, not its throttle.
        let rate = "rate_limit = { per_minute = 1000000000, burst = 1000000, public_per_minute = 1000000000, public_burst = 1000000 }";
        toml.push_str(&format!(
            "[answer_cache]\nenabled = {}\n[auth]\nrequired = true\n[limits]\nmax_concurrent_turns = {}\n[llm]\nbase_url = {}\nmodel = \"bench-held\"\nmax_retries = 0\nfirst_token_timeout = \"120s\"\ntotal_timeout = \"900s\"\n\
             [[bots]]\nid = {}\n{rate}\n[[bots]]\nid = {}\ngenerator = \"llm\"\ndata = {held_data}\n{rate}\n\
             [[bots]]\nid = {}\npacing_ms = {}\ndata = {held_data}\n{rate}\n",
            args.answer_cache,
            peak + 64,
            toml_str(&upstream),
            toml_str(&args.bot),
            toml_str(&held),
            toml_str(&paced),
            args.pacing_ms,
            held_data = toml_str(&held_data.display().to_string()),
        ));
        let config_path = work.join("docent.toml");
        std::fs::write(&config_path, &toml)?;
        let config = ServerConfig::from_file(&config_path)?;
        config.validate(&config_path.display().to_string())?;
        let bots = vec![args.bot.clone(), held, paced];
        Ok(ServerSetup { config_path, config, log_path: work.join("server.log"), bots })
    }

    /// An `sk_` key for the three bots, chat only (what `docent keys create` does).
    async fn create_key(&self) -> anyhow::Result<String> {
        let store = Store::connect(&self.config.database_url()).await?;
        let created =
            create_key(&store, KeyKind::Secret, "bench-serve", &self.bots, &["chat".to_string()], &[]).await?;
        Ok(created.key)
    }
}

/// The server child process; killed on drop if still running.
struct ServerChild {
    child: Child,
    base: String,
    log_path: PathBuf,
}

impl ServerChild {
    /// `docent serve --config …`, its stdout read until the "listening" line.
    fn spawn(setup: &ServerSetup) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the docent binary")?;
        let log = std::fs::File::create(&setup.log_path)?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve").arg("--config").arg(&setup.config_path);
        // The generated file is the whole configuration.
        for k in ENV_KEYS.iter().chain(&["DOCENT_CONFIG"]) {
            cmd.env_remove(k);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting docent serve")?;
        let stdout = child.stdout.take().context("no stdout of docent serve")?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep reading to the end, so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("docent listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let mut server = ServerChild { child, base: String::new(), log_path: setup.log_path.clone() };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(base) => server.base = base,
            Err(_) => bail!("docent serve did not start listening: {}", server.log_tail()),
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the server's stderr.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM (graceful drain), then wait for the exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("docent serve exited with {status}: {}", self.log_tail());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("docent serve did not stop within 30 s of SIGTERM")
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An OpenAI-compatible chat-completions upstream that streams one cited sentence at
/// once and the rest only when released: it keeps the server's LLM turns open for as
/// long as the memory measurement needs.
struct HeldUpstream {
    addr: std::net::SocketAddr,
    state: Arc<UpstreamState>,
    task: tokio::task::JoinHandle<()>,
}

struct UpstreamState {
    /// Requests being held now.
    held: AtomicUsize,
    /// The phase new requests belong to.
    phase: AtomicU64,
    /// Released phases: a request of phase p finishes once this is ≥ p.
    released: watch::Sender<u64>,
}

struct HeldGuard(Arc<UpstreamState>);

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::SeqCst);
    }
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> axum::body::Bytes {
    let delta = match content {
        Some(c) => serde_json::json!({ "content": c }),
        None => serde_json::json!({}),
    };
    let frame = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench-held",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    });
    axum::body::Bytes::from(format!("data: {frame}\n\n"))
}

async fn held_completion(
    axum::extract::State(state): axum::extract::State<Arc<UpstreamState>>,
    _body: axum::body::Bytes,
) -> axum::response::Response {
    let phase = state.phase.load(Ordering::SeqCst);
    state.held.fetch_add(1, Ordering::SeqCst);
    let guard = HeldGuard(Arc::clone(&state));
    let mut released = state.released.subscribe();
    let first = futures::stream::once(async { chunk(Some("Held answer for the benchmark [1]."), None) });
    let rest = futures::stream::once(async move {
        let _ = released.wait_for(|r| *r >= phase).await;
        drop(guard);
        let mut tail = chunk(Some(" It ends when released [1]."), None).to_vec();
        tail.extend_from_slice(&chunk(None, Some("stop")));
        tail.extend_from_slice(b"data: [DONE]\n\n");
        axum::body::Bytes::from(tail)
    });
    let body = futures::StreamExt::map(futures::StreamExt::chain(first, rest), Ok::<_, std::convert::Infallible>);
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
        .body(axum::body::Body::from_stream(body))
        .unwrap_or_else(|_| axum::response::Response::new(axum::body::Body::empty()))
}

impl HeldUpstream {
    async fn start() -> anyhow::Result<Self> {
        let (released, _) = watch::channel(0);
        let state = Arc::new(UpstreamState { held: AtomicUsize::new(0), phase: AtomicU64::new(1), released });
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(held_completion))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the held upstream")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("held upstream stopped: {e}");
            }
        });
        Ok(HeldUpstream { addr, state, task })
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Let every request of the current phase finish; later ones belong to the next.
    fn release(&self) {
        let phase = self.state.phase.fetch_add(1, Ordering::SeqCst);
        self.state.released.send_replace(phase);
    }
}

impl Drop for HeldUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How one streamed request went.
#[derive(Debug, Clone)]
enum Outcome {
    Done { ttft_ms: Option<f64>, full_ms: f64, no_answer: bool, cached: bool, server_ttft_ms: Option<f64> },
    Failed(String),
}

/// Frames of a Server-Sent Events body, parsed incrementally.
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Append bytes; return the complete frames as `(event, data)`.
    fn push(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.buf.extend(bytes.iter().filter(|&&b| b != b'\r'));
        let mut out = Vec::new();
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let (mut event, mut data, mut any) = (String::from("message"), String::new(), false);
            for line in text.lines() {
                if line.starts_with(':') || line.is_empty() {
                    continue;
                }
                let (k, v) =
                    line.split_once(':').map(|(k, v)| (k, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
                any = true;
                match k {
                    "event" => event = v.to_string(),
                    "data" => {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v);
                    }
                    _ => {}
                }
            }
            if any {
                out.push((event, data));
            }
        }
        out
    }
}

/// How a level's bot streams and its clients start.
struct Pace {
    /// The bot's pause between words, ms (0: none).
    ms: u64,
    /// Client i of N starts `ramp × i / N` after the level.
    ramp: Duration,
}

impl Pace {
    /// The default bot, every client at once.
    const NONE: Pace = Pace { ms: 0, ramp: Duration::ZERO };
}

/// The load generator.
struct Bench {
    base: String,
    key: String,
    questions: Vec<String>,
    uncached: bool,
    next: AtomicUsize,
    http: reqwest::Client,
}

/// Counts a stream as open from its first `delta` until it ends (held streams).
struct OpenMark<'a>(Option<&'a AtomicUsize>);

impl Drop for OpenMark<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Bench {
    fn new(base: String, key: String, questions: Vec<String>, uncached: bool) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Bench { base, key, questions, uncached, next: AtomicUsize::new(0), http })
    }

    /// Poll `/readyz` until it answers 200 (the child loads its model and indexes).
    async fn wait_ready(&self, server: &ServerChild) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the server was not ready within {} s: {}", START_TIMEOUT.as_secs(), server.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The next question in rotation (made unique with `--uncached`).
    fn question(&self) -> String {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let q = &self.questions[k % self.questions.len()];
        if self.uncached {
            // A number no page contains: the text (and its cache key) is new, the
            // retrieval barely changes.
            format!("{q} #{}", 1_000_000 + k)
        } else {
            q.clone()
        }
    }

    /// One streamed chat turn to its end.
    async fn ask(&self, bot: &str, timeout: Duration, open: Option<&AtomicUsize>) -> Outcome {
        let body = serde_json::json!({ "bot_id": bot, "message": self.question(), "stream": true });
        let started = Instant::now();
        let sent = self
            .http
            .post(format!("{}/v1/chat", self.base))
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(timeout)
            .body(body.to_string())
            .send()
            .await;
        let mut res = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(request_error(&e).into()),
        };
        if !res.status().is_success() {
            return Outcome::Failed(format!("http_{}", res.status().as_u16()));
        }
        let mut parser = SseParser::default();
        let mut ttft_ms = None;
        let mut _open_mark = OpenMark(None);
        loop {
            let bytes = match res.chunk().await {
                Ok(Some(b)) => b,
                Ok(None) => return Outcome::Failed("no_done".into()),
                Err(e) => return Outcome::Failed(request_error(&e).into()),
            };
            for (event, data) in parser.push(&bytes) {
                match event.as_str() {
                    "delta" if ttft_ms.is_none() => {
                        ttft_ms = Some(ms(started));
                        if let Some(c) = open {
                            c.fetch_add(1, Ordering::SeqCst);
                            _open_mark = OpenMark(Some(c));
                        }
                    }
                    "done" => {
                        let full_ms = ms(started);
                        let done: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                        return Outcome::Done {
                            ttft_ms,
                            full_ms,
                            no_answer: done["finish_reason"] == "no_answer",
                            cached: done["cached"] == true,
                            server_ttft_ms: done["timings"]["ttft_ms"].as_f64(),
                        };
                    }
                    "error" => return Outcome::Failed("error_frame".into()),
                    _ => {}
                }
            }
        }
    }

    /// `n` requests, two at a time, not measured; every one must succeed.
    async fn warm_up(&self, bot: &str, n: usize) -> anyhow::Result<()> {
        let failures = &AtomicUsize::new(0);
        let worker = || async move {
            for _ in 0..n.div_ceil(2) {
                if let Outcome::Failed(why) = self.ask(bot, REQUEST_TIMEOUT, None).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("warm-up request failed: {why}");
                }
            }
        };
        futures::join!(worker(), worker());
        if failures.load(Ordering::Relaxed) > 0 {
            bail!("{} warm-up requests failed", failures.load(Ordering::Relaxed));
        }
        Ok(())
    }

    /// One concurrency level: `clients` closed-loop clients of `bot`, each making
    /// `per_client` requests ([`UNTIL_THE_CAP`]: as many as fit before `cap`).
    async fn level(
        &self,
        pace: &Pace,
        bot: &str,
        clients: usize,
        per_client: usize,
        cap: Duration,
        pid: u32,
    ) -> anyhow::Result<LevelRow> {
        let load_start = load_average();
        let sampler = RssSampler::start(pid);
        let (server_cpu0, client_cpu0) = (cpu_secs(&pid.to_string()), cpu_secs("self"));
        let started = Instant::now();
        let deadline = started + cap;
        let truncated = &AtomicBool::new(false);
        let (open, finished) = (&AtomicUsize::new(0), &AtomicBool::new(false));
        let client = |i: usize| async move {
            let offset = pace.ramp.mul_f64(i as f64 / clients as f64);
            tokio::time::sleep_until((started + offset).into()).await;
            let mut out = Vec::with_capacity(per_client.min(1024));
            for _ in 0..per_client {
                if Instant::now() >= deadline {
                    truncated.store(per_client != UNTIL_THE_CAP, Ordering::Relaxed);
                    break;
                }
                out.push(self.ask(bot, REQUEST_TIMEOUT, Some(open)).await);
            }
            out
        };
        let all = async {
            let outcomes = futures::future::join_all((0..clients).map(client)).await;
            finished.store(true, Ordering::SeqCst);
            outcomes
        };
        // Count the open streams in the steady window: after the ramp, before the cap
        // (no client stops asking before it), while any client is still asking.
        let count_open = async {
            let (mut sum, mut samples, mut max) = (0usize, 0usize, 0usize);
            let mut tick = tokio::time::interval(OPEN_SAMPLE_EVERY);
            while !finished.load(Ordering::SeqCst) {
                tick.tick().await;
                let now = Instant::now();
                if now < started + pace.ramp || now >= deadline {
                    continue;
                }
                let n = open.load(Ordering::SeqCst);
                (sum, samples, max) = (sum + n, samples + 1, max.max(n));
            }
            (sum as f64 / samples.max(1) as f64, max)
        };
        let (outcomes, (streams_open_mean, streams_open_max)) = futures::join!(all, count_open);
        let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
        let wall = started.elapsed().as_secs_f64();
        let server_cpu = cpu_secs(&pid.to_string()) - server_cpu0;
        let client_cpu = cpu_secs("self") - client_cpu0;
        let peak = sampler.stop().await;
        let s = Summary::of(&outcomes);
        let answers = s.answers.max(1) as f64;
        Ok(LevelRow {
            kind: "level",
            generator: if pace.ms > 0 { "extractive_paced" } else { "extractive" },
            pacing_ms: pace.ms,
            clients,
            open_streams: 0,
            requests: outcomes.len(),
            answers: s.answers,
            errors: s.errors(),
            error_kinds: s.error_kinds.clone(),
            no_answer: s.no_answer,
            cached: s.cached,
            cache_hit_rate: s.cached as f64 / answers,
            ttft_p50_ms: pct(&s.ttft, 0.50),
            ttft_p95_ms: pct(&s.ttft, 0.95),
            ttft_p99_ms: pct(&s.ttft, 0.99),
            full_p50_ms: pct(&s.full, 0.50),
            full_p95_ms: pct(&s.full, 0.95),
            full_p99_ms: pct(&s.full, 0.99),
            server_ttft_p50_ms: pct(&s.server_ttft, 0.50),
            throughput_per_s: s.answers as f64 / wall.max(1e-9),
            streams_open_mean,
            streams_open_max,
            wall_secs: wall,
            truncated: truncated.load(Ordering::Relaxed),
            server_rss_peak_mb: peak,
            server_rss_after_mb: rss_mb(pid),
            server_cpu_ms_per_answer: server_cpu * 1e3 / answers,
            client_cpu_ms_per_answer: client_cpu * 1e3 / answers,
            uncached: self.uncached,
            load_start,
            load_end: load_average(),
        })
    }

    /// Hold `n` streams of the LLM bot open at once, measure the server's RSS, then
    /// release them; every one must end with `done`.
    async fn hold(
        &self,
        bot: &str,
        n: usize,
        upstream: &HeldUpstream,
        pid: u32,
        previous: Option<&MemoryRow>,
        during: impl AsyncFnOnce() -> anyhow::Result<Vec<LevelRow>>,
    ) -> anyhow::Result<(MemoryRow, Vec<LevelRow>)> {
        let rss_idle = rss_mb(pid);
        // Streams that have seen their first delta and not ended; streams that ended.
        let (seen, finished) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
        let started = Instant::now();
        let client = |_: usize| async move {
            let o = self.ask(bot, HOLD_TIMEOUT * 2, Some(seen)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            o
        };
        let streams = futures::future::join_all((0..n).map(client));
        // Measure once every stream is either open (its first delta arrived and the
        // upstream holds its request) or over; run `during` while they are open.
        let measure = async move {
            loop {
                let done = finished.load(Ordering::SeqCst);
                let held = upstream.state.held.load(Ordering::SeqCst);
                if held + done >= n && seen.load(Ordering::SeqCst) >= held {
                    let open_secs = started.elapsed().as_secs_f64();
                    let row = (held, done, rss_mb(pid), open_secs, load_average());
                    let levels = during().await;
                    upstream.release();
                    return Ok((row, levels));
                }
                if started.elapsed() > HOLD_TIMEOUT {
                    upstream.release();
                    return Err(anyhow::anyhow!(
                        "only {held} of {n} streams open after {} s ({done} over)",
                        HOLD_TIMEOUT.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (outcomes, measured) = futures::join!(streams, measure);
        let ((open, early, rss_open, open_secs, load), levels) = measured?;
        let levels = levels?;
        let s = Summary::of(&outcomes);
        let kb_per_stream = if open > 0 { (rss_open - rss_idle) * 1024.0 / open as f64 } else { 0.0 };
        let marginal =
            previous.filter(|p| open > p.open).map(|p| (rss_open - p.rss_open_mb) * 1024.0 / (open - p.open) as f64);
        let row = MemoryRow {
            kind: "memory",
            hold: n,
            open,
            finished_early: early,
            answers: s.answers,
            errors: s.errors(),
            error_kinds: s.error_kinds,
            rss_idle_mb: rss_idle,
            rss_open_mb: rss_open,
            rss_after_mb: rss_mb(pid),
            kb_per_stream,
            marginal_kb_per_stream: marginal,
            open_secs,
            load,
        };
        Ok((row, levels))
    }
}

fn request_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// Sorted samples and counts of a set of outcomes.
struct Summary {
    ttft: Vec<f64>,
    full: Vec<f64>,
    server_ttft: Vec<f64>,
    answers: usize,
    no_answer: usize,
    cached: usize,
    error_kinds: BTreeMap<String, usize>,
}

impl Summary {
    fn of(outcomes: &[Outcome]) -> Self {
        let mut s = Summary {
            ttft: Vec::new(),
            full: Vec::new(),
            server_ttft: Vec::new(),
            answers: 0,
            no_answer: 0,
            cached: 0,
            error_kinds: BTreeMap::new(),
        };
        for o in outcomes {
            match o {
                Outcome::Done { ttft_ms: Some(ttft), full_ms, no_answer, cached, server_ttft_ms } => {
                    s.answers += 1;
                    s.no_answer += usize::from(*no_answer);
                    s.cached += usize::from(*cached);
                    s.full.push(*full_ms);
                    s.ttft.push(*ttft);
                    if let Some(t) = server_ttft_ms {
                        s.server_ttft.push(*t);
                    }
                }
                // An answer without any text is a broken stream for a chat client.
                Outcome::Done { ttft_ms: None, .. } => *s.error_kinds.entry("no_delta".into()).or_insert(0) += 1,
                Outcome::Failed(kind) => *s.error_kinds.entry(kind.clone()).or_insert(0) += 1,
            }
        }
        for v in [&mut s.ttft, &mut s.full, &mut s.server_ttft] {
            v.sort_by(f64::total_cmp);
        }
        s
    }

    fn errors(&self) -> usize {
        self.error_kinds.values().sum()
    }
}

/// Samples a process's VmRSS every 20 ms and keeps the peak.
struct RssSampler {
    /// `f64` bits: for positive values their order is the values' order.
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(rss_mb(pid).to_bits()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_mb(pid).to_bits(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssSampler { peak, stop, task }
    }

    async fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        f64::from_bits(self.peak.load(Ordering::Relaxed))
    }
}

/// VmRSS of a process, MB (0 where unavailable).
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User + system CPU seconds of a process (`self` or a pid), all threads.
fn cpu_secs(pid: &str) -> f64 {
    const CLOCK_TICKS_PER_SEC: f64 = 100.0; // USER_HZ
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SEC
}

/// 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0.0)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_split_anywhere_are_parsed() {
        let text = "event: start\nid: 1\ndata: {\"type\":\"start\"}\n\n: ping\n\nevent: delta\r\ndata: {\"delta\":\"a\"}\r\n\r\n";
        let mut p = SseParser::default();
        let mut frames = Vec::new();
        for b in text.as_bytes().chunks(3) {
            frames.extend(p.push(b));
        }
        let events: Vec<&str> = frames.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(events, ["start", "delta"]);
        assert_eq!(frames[1].1, "{\"delta\":\"a\"}");
    }
}
