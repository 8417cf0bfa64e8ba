//! Test harness: a real server on 127.0.0.1:0 over a small real index (real model,
//! real tantivy, real SQLite unless `database_url` says otherwise), plus a gated
//! generator for timing-sensitive tests.
#![allow(dead_code)]

#[path = "../../../docent-retrieval/tests/common/mod.rs"]
pub mod index;
pub mod receiver;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use docent_answer::extractive::ExtractiveGenerator;
use docent_answer::{AnswerEvent, AnswerRequest, AnswerStream, FinishReason, Generator, Usage};
use docent_index::BotDir;
use docent_server::config::{BotConfig, ServerConfig};
use docent_server::{AppState, Server};
use tokio::sync::Semaphore;

/// A running server.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub dir: Arc<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<Result<(), docent_server::ServeError>>,
    pub http: reqwest::Client,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Ask the server to stop (graceful shutdown) and wait for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.handle).await;
    }

    pub fn trigger_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(&body).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }
}

/// The index of the sample pages, written once per test binary into `dir`.
pub fn write_index(data: &std::path::Path) {
    let bot = BotDir::new(data, "docs").expect("bot dir");
    index::publish(&bot, &index::sample_pages());
}

/// Which generator the bot gets.
#[derive(Clone)]
pub enum Gen {
    Extractive,
    Gated(Arc<Gated>),
    /// What `docent serve` builds from the configuration (`generator = "llm"` + `[llm]`).
    FromConfig,
    /// Any generator a test brings.
    Custom(Arc<dyn Generator>),
}

/// Start a server over a fresh data dir with the sample index; `tune` adjusts the
/// configuration (auth is off unless `tune` turns it on).
pub async fn start(gen: Gen, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let data = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || write_index(&data)).await.expect("index");
    start_in(dir, gen, tune).await
}

/// Start a server over an existing data dir.
pub async fn start_in(dir: Arc<tempfile::TempDir>, gen: Gen, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data: dir.path().to_path_buf(),
        ..ServerConfig::default()
    };
    config.auth.required = false;
    config.bots = vec![BotConfig::new("docs")];
    tune(&mut config);
    let factory = move |config: &ServerConfig, bot: &BotConfig| -> Result<Arc<dyn Generator>, String> {
        Ok(match &gen {
            Gen::Extractive => Arc::new(ExtractiveGenerator::default()),
            Gen::Gated(g) => Arc::clone(g) as Arc<dyn Generator>,
            Gen::FromConfig => docent_server::default_generator(config)(bot)?,
            Gen::Custom(g) => Arc::clone(g),
        })
    };
    let server = Server::build_with(config, index::query_embedder(), &factory).await.expect("server builds");
    let addr = server.local_addr().expect("addr");
    let state = server.state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        state,
        dir,
        stop: Some(stop),
        handle,
        http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
    }
}

/// A generator that streams `parts` but waits for a permit of `gate` before every
/// part after the first; records when its stream is dropped.
#[derive(Debug)]
pub struct Gated {
    pub parts: Vec<String>,
    pub gate: Arc<Semaphore>,
    pub started: AtomicUsize,
    pub dropped: Arc<AtomicBool>,
    pub finished: Arc<AtomicBool>,
}

impl Gated {
    pub fn new(parts: &[&str]) -> Arc<Self> {
        Arc::new(Gated {
            parts: parts.iter().map(|s| s.to_string()).collect(),
            gate: Arc::new(Semaphore::new(0)),
            started: AtomicUsize::new(0),
            dropped: Arc::new(AtomicBool::new(false)),
            finished: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Let everything through.
    pub fn open(&self) {
        self.gate.add_permits(1000);
    }
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Generator for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn generate(&self, request: AnswerRequest) -> AnswerStream {
        self.started.fetch_add(1, Ordering::SeqCst);
        let parts = if request.answerable { self.parts.clone() } else { vec![request.fallback.clone()] };
        let reason = if request.answerable { FinishReason::Stop } else { FinishReason::NoAnswer };
        let gate = Arc::clone(&self.gate);
        let flag = DropFlag(Arc::clone(&self.dropped));
        let finished = Arc::clone(&self.finished);
        Box::pin(futures::stream::unfold((0usize, flag), move |(i, flag)| {
            let gate = Arc::clone(&gate);
            let parts = parts.clone();
            let finished = Arc::clone(&finished);
            async move {
                if i > parts.len() {
                    return None;
                }
                if i == parts.len() {
                    finished.store(true, Ordering::SeqCst);
                    return Some((
                        Ok(AnswerEvent::Done { finish_reason: reason, usage: Usage::default() }),
                        (i + 1, flag),
                    ));
                }
                if i > 0 {
                    let permit = gate.acquire().await.ok()?;
                    permit.forget();
                }
                Some((Ok(AnswerEvent::Delta(parts[i].clone())), (i + 1, flag)))
            }
        }))
    }
}

/// Parsed SSE frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: String,
    pub id: Option<u64>,
    pub data: serde_json::Value,
}

/// Incremental SSE reader over a reqwest response.
pub struct SseReader {
    res: reqwest::Response,
    buf: String,
    pub comments: usize,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> Self {
        SseReader { res, buf: String::new(), comments: 0 }
    }

    /// The next frame, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                let mut any = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    let (k, v) =
                        line.split_once(':').map(|(k, v)| (k, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
                    any = true;
                    match k {
                        "event" => event = v.to_string(),
                        "id" => id = v.parse().ok(),
                        "data" => {
                            if !data.is_empty() {
                                data.push('\n');
                            }
                            data.push_str(v)
                        }
                        _ => {}
                    }
                }
                if !any {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("frame data is JSON");
                return Some(Sse { event, id, data });
            }
            match self.res.chunk().await {
                Ok(Some(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    pub async fn rest(&mut self) -> Vec<Sse> {
        let mut out = Vec::new();
        while let Some(f) = self.next().await {
            out.push(f);
        }
        out
    }
}

/// Poll `check` until it is true or `limit` passes (waiting for a condition, not a sleep).
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
