//! A real HTTP webhook receiver on 127.0.0.1:0 for the webhook tests: it records every
//! request as it arrives (before answering, so a test can see a delivery in flight)
//! and answers from a script: statuses, `Retry-After`, or holding the connection open
//! without ever answering.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// This status.
    Status(u16),
    /// This status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Accept the request and never answer.
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: String,
    /// The path.
    pub path: String,
}

impl Received {
    /// A header.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    fallback: Mutex<HashMap<String, Reply>>,
    received: Mutex<Vec<Received>>,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:port`.
    pub base: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Start one (on the current runtime).
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base: format!("http://{addr}"), inner }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answer requests to `path` with `replies` in order, then with `then`.
    pub fn script(&self, path: &str, replies: &[Reply], then: Reply) {
        self.inner.script.lock().expect("lock").insert(path.to_string(), replies.iter().copied().collect());
        self.inner.fallback.lock().expect("lock").insert(path.to_string(), then);
    }

    /// Everything received so far (on any path).
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("lock").clone()
    }

    /// Requests received on `path`.
    pub fn on(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }

    /// Distinct `webhook-id`s received on `path` (what a deduping receiver processes).
    pub fn distinct_ids(&self, path: &str) -> HashSet<String> {
        self.on(path).iter().map(|r| r.header("webhook-id").to_string()).collect()
    }
}

async fn handle(State(inner): State<Arc<Inner>>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    inner.received.lock().expect("lock").push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        path: path.clone(),
    });
    let next = inner.script.lock().expect("lock").get_mut(&path).and_then(VecDeque::pop_front);
    let reply = next.or_else(|| inner.fallback.lock().expect("lock").get(&path).copied()).unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::OK).into_response(),
        Reply::RetryAfter(s, secs) => {
            (StatusCode::from_u16(s).unwrap_or(StatusCode::OK), [("retry-after", secs.to_string())]).into_response()
        }
        Reply::Hang => std::future::pending::<Response>().await,
    }
}

/// Verify `deliveries` (secret, received) with the independent verifier named by
/// `DOCENT_WEBHOOK_VERIFIER` (the `standardwebhooks` package; `make test` sets it up
/// through scripts/webhook-verifier.sh). Returns its verdict line per delivery.
/// Panics when the variable is missing: such a test must never pass without it.
pub fn verify_independently(deliveries: &[(String, Received)]) -> Vec<String> {
    use std::io::Write;
    let cmd = std::env::var("DOCENT_WEBHOOK_VERIFIER").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
        panic!("DOCENT_WEBHOOK_VERIFIER is not set: run `make test-webhooks` (scripts/webhook-verifier.sh sets it)")
    });
    let mut parts = cmd.split_whitespace();
    let program = parts.next().expect("a command");
    let mut child = std::process::Command::new(program)
        .args(parts)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the verifier `{cmd}`: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (secret, r) in deliveries {
            let line = serde_json::json!({"secret": secret, "headers": r.headers, "body": r.body});
            writeln!(stdin, "{line}").expect("write to the verifier");
        }
    }
    let out = child.wait_with_output().expect("verifier output");
    assert!(out.status.success(), "the verifier failed: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}
