//! A scripted OpenAI-compatible server for the LLM generator's tests: a real axum
//! server on 127.0.0.1:0 that streams each scripted reply as chunked HTTP, records
//! every request (body, headers, arrival time) and reports when a response body is
//! dropped (the client went away or the response ended).
//!
//! Also the upstream of `docent-server/tests/llm_chat.rs` (included there with `#[path]`):
//! keep it free of anything only this crate's tests have.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use docent_answer::{AnswerEvent, AnswerRequest, AnswerStream, FinishReason, Source, Turn, Usage};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One step of a streamed reply.
pub enum Step {
    /// Write these bytes as one HTTP chunk.
    Send(Vec<u8>),
    /// Stop until the test sends on the channel.
    Wait(oneshot::Receiver<()>),
    /// Never continue.
    Hang,
    /// Break the connection (the body fails, hyper aborts it).
    Fail,
    /// Write these bytes every `Duration`, forever (a model that keeps generating).
    Repeat(Vec<u8>, Duration),
}

/// What the server answers one request with.
pub enum Reply {
    /// A plain response.
    Status { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// `200 text/event-stream`, streamed step by step.
    Stream(Vec<Step>),
    /// `200` with another content type, in one piece.
    Whole { content_type: &'static str, body: String },
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: serde_json::Value,
    pub headers: HeaderMap,
    pub at: Instant,
}

#[derive(Clone)]
struct Shared {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: mpsc::UnboundedSender<usize>,
    closed: mpsc::UnboundedSender<usize>,
}

/// The running server.
pub struct FakeLlm {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Shared,
    /// Request numbers (0-based) as they arrive.
    pub arrived: mpsc::UnboundedReceiver<usize>,
    /// Request numbers whose response body was dropped (finished or disconnected).
    pub closed: mpsc::UnboundedReceiver<usize>,
}

impl FakeLlm {
    pub async fn start(replies: Vec<Reply>) -> FakeLlm {
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let shared = Shared {
            replies: Arc::new(Mutex::new(replies.into())),
            seen: Arc::new(Mutex::new(Vec::new())),
            arrived: arrived_tx,
            closed: closed_tx,
        };
        let app = Router::new().route("/v1/chat/completions", post(handle)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm { base_url: format!("http://{addr}/v1"), shared, arrived, closed }
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Wait (bounded) for the response body of request `n` to be dropped.
    pub async fn wait_closed(&mut self, n: usize) {
        let wait = async {
            while let Some(closed) = self.closed.recv().await {
                if closed == n {
                    return;
                }
            }
            panic!("server gone");
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("the server never saw response {n} end"));
    }
}

/// Sets off `closed` when the response body is dropped.
struct DropSignal(usize, mpsc::UnboundedSender<usize>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.1.send(self.0);
    }
}

async fn handle(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let n = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(Seen { body, headers, at: Instant::now() });
        seen.len() - 1
    };
    let _ = shared.arrived.send(n);
    let reply = shared.replies.lock().unwrap().pop_front();
    let reply = reply.unwrap_or(Reply::Status { status: 500, headers: vec![], body: "no reply scripted".into() });
    match reply {
        Reply::Status { status, headers, body } => {
            let _signal = DropSignal(n, shared.closed.clone());
            let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Reply::Whole { content_type, body } => {
            let _signal = DropSignal(n, shared.closed.clone());
            Response::builder().header("content-type", content_type).body(Body::from(body)).unwrap()
        }
        Reply::Stream(steps) => {
            let signal = DropSignal(n, shared.closed.clone());
            let stream = async_stream::stream! {
                let _signal = signal;
                for step in steps {
                    match step {
                        Step::Send(bytes) => yield Ok::<Bytes, std::io::Error>(Bytes::from(bytes)),
                        Step::Wait(rx) => { let _ = rx.await; }
                        Step::Hang => std::future::pending::<()>().await,
                        Step::Fail => {
                            yield Err(std::io::Error::other("scripted failure"));
                            return;
                        }
                        Step::Repeat(bytes, every) => {
                            let mut tick = tokio::time::interval(every);
                            loop {
                                tick.tick().await;
                                yield Ok(Bytes::from(bytes.clone()));
                            }
                        }
                    }
                }
            };
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// `data: {chunk with content}\n\n`.
pub fn content(text: &str) -> Vec<u8> {
    let chunk = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "fake",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    format!("data: {chunk}\n\n").into_bytes()
}

/// The role-only first chunk servers send.
pub fn role() -> Vec<u8> {
    let chunk = serde_json::json!({
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]
    });
    format!("data: {chunk}\n\n").into_bytes()
}

/// The last chunk with `finish_reason`.
pub fn finish(reason: &str) -> Vec<u8> {
    let chunk = serde_json::json!({
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]
    });
    format!("data: {chunk}\n\n").into_bytes()
}

/// The usage chunk (`choices: []`).
pub fn usage(prompt: u32, completion: u32) -> Vec<u8> {
    let chunk = serde_json::json!({
        "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    });
    format!("data: {chunk}\n\n").into_bytes()
}

pub fn done() -> Vec<u8> {
    b"data: [DONE]\n\n".to_vec()
}

/// A whole well-formed stream of `parts`.
pub fn answer(parts: &[&str]) -> Reply {
    let mut steps = vec![Step::Send(role())];
    steps.extend(parts.iter().map(|p| Step::Send(content(p))));
    steps.push(Step::Send(finish("stop")));
    steps.push(Step::Send(done()));
    Reply::Stream(steps)
}

pub fn source(index: usize, title: &str, text: &str) -> Source {
    Source {
        index,
        title: title.into(),
        url: format!("https://help.example/{index}#part"),
        heading_path: vec![title.into(), "Details".into()],
        text: text.into(),
        score: 0.9,
    }
}

pub fn request(sources: Vec<Source>, history: Vec<Turn>) -> AnswerRequest {
    AnswerRequest {
        question: "How long is the refund window?".into(),
        history,
        sources,
        answerable: true,
        confidence: 0.8,
        system_prompt: None,
        fallback: "I could not find that in the documentation.".into(),
        max_tokens: 300,
    }
}

/// Two sources about refunds.
pub fn two_sources() -> Vec<Source> {
    vec![
        source(1, "Refunds", "Refunds are available within 30 days of purchase."),
        source(2, "Billing", "Invoices are sent monthly."),
    ]
}

/// Everything a stream yielded, bounded in time.
pub struct Collected {
    pub deltas: Vec<String>,
    pub done: Option<(FinishReason, Usage)>,
    pub error: Option<docent_answer::AnswerError>,
}

impl Collected {
    pub fn text(&self) -> String {
        self.deltas.concat()
    }
}

pub async fn collect(mut stream: AnswerStream) -> Collected {
    let mut out = Collected { deltas: vec![], done: None, error: None };
    let run = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(AnswerEvent::Delta(d)) => out.deltas.push(d),
                Ok(AnswerEvent::Done { finish_reason, usage }) => {
                    assert!(out.done.is_none(), "two Done events");
                    out.done = Some((finish_reason, usage));
                }
                Err(e) => {
                    out.error = Some(e);
                    assert!(stream.next().await.is_none(), "the stream goes on after an error");
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("the answer stream did not end");
    out
}

/// The next stream item, bounded in time.
pub async fn next(stream: &mut AnswerStream) -> Option<Result<AnswerEvent, docent_answer::AnswerError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("no stream item in time")
}
