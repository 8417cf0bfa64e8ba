//! [`LlmGenerator`]: one streamed chat completion per answer, with timeouts, retries
//! before the first token, and cancellation by drop.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;
use tracing::{info_span, Instrument};

use super::config::{LlmConfig, LlmConfigError};
use super::grounding::Gate;
use super::prompt::{build_messages, PromptLimits};
use super::sse::{error_body_message, excerpt, parse_completion, parse_event, Frame};
use crate::{AnswerError, AnswerEvent, AnswerRequest, AnswerStream, FinishReason, Generator, Usage};

/// Fields a config's `extra_body` may not replace.
const RESERVED_BODY_FIELDS: [&str; 4] = ["model", "messages", "stream", "stream_options"];

/// How long to wait for the usage chunk and `[DONE]` once the model has finished.
const AFTER_FINISH_GRACE: Duration = Duration::from_secs(2);

/// Most bytes of an error body read for its message.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// An OpenAI-compatible chat-completions server as a [`Generator`].
///
/// Cheap to clone and to share: one HTTP connection pool serves every answer. Each
/// [`Generator::generate`] call streams one `POST {base_url}/chat/completions` with
/// `stream: true`:
///
/// - `request.answerable == false` (or no sources): the fallback is streamed without
///   calling the server, finishing [`FinishReason::NoAnswer`];
/// - failures before the first token (network, 429, 5xx) are retried with jittered
///   exponential back-off, honouring `Retry-After`; after the first token an error ends
///   the stream with an `Err` item (the visitor has already seen part of the answer);
/// - `connect_timeout`, `first_token_timeout` and `total_timeout` bound the waits
///   ([`AnswerError::Timeout`] names the stage);
/// - dropping the [`AnswerStream`] drops the HTTP response, which closes the upstream
///   connection: the LLM server stops generating for nobody;
/// - deltas are the model's raw text; citation markers that point to no source are left
///   in for the server's [`crate::citations::CitationFilter`] to remove and report.
///   With `require_citation` an answer is held back until it cites a real source and
///   replaced by the fallback if it never does (see [`super`] for the rule).
#[derive(Clone)]
pub struct LlmGenerator {
    inner: Arc<Inner>,
}

struct Inner {
    config: LlmConfig,
    endpoint: Url,
    client: reqwest::Client,
    headers: HeaderMap,
    /// Secrets to scrub from any upstream text we repeat (key, header values).
    secrets: Vec<String>,
}

impl fmt::Debug for LlmGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmGenerator")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("model", &self.inner.config.model)
            .finish_non_exhaustive()
    }
}

impl LlmGenerator {
    /// Check `config` and build the HTTP client (no request is made).
    pub fn new(config: LlmConfig) -> Result<Self, LlmConfigError> {
        let base = config.base_url.trim().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| LlmConfigError::invalid("base_url", format!("not a URL ({e})")))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(LlmConfigError::invalid("base_url", "must start with http:// or https://"));
        }
        if config.model.trim().is_empty() {
            return Err(LlmConfigError::invalid("model", "must not be empty"));
        }
        if !(0.0..=2.0).contains(&config.temperature) {
            return Err(LlmConfigError::invalid("temperature", "must be between 0 and 2"));
        }
        if config.max_tokens == 0 {
            return Err(LlmConfigError::invalid("max_tokens", "must be at least 1"));
        }
        for (stage, limit) in [
            ("connect_timeout", config.connect_timeout),
            ("first_token_timeout", config.first_token_timeout),
            ("total_timeout", config.total_timeout),
        ] {
            if limit.is_zero() {
                return Err(LlmConfigError::invalid(stage, "must be more than 0"));
            }
        }
        if config.backoff_cap < config.backoff_base {
            return Err(LlmConfigError::invalid("backoff_cap", "must not be below backoff_base"));
        }
        if let Some(key) = RESERVED_BODY_FIELDS.iter().find(|k| config.extra_body.contains_key(**k)) {
            return Err(LlmConfigError::invalid(format!("extra_body.{key}"), "is set by the generator itself"));
        }

        let mut headers = HeaderMap::new();
        let mut secrets = Vec::new();
        for (name, value) in &config.headers {
            let field = format!("headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| LlmConfigError::invalid(&field, "not a valid header name"))?;
            let mut value_h = HeaderValue::from_str(value)
                .map_err(|_| LlmConfigError::invalid(&field, "not a valid header value"))?;
            value_h.set_sensitive(true);
            headers.insert(header, value_h);
            if value.len() >= 8 {
                secrets.push(value.clone());
            }
        }
        let key = match (&config.api_key, &config.api_key_env) {
            (Some(key), _) => Some(key.expose().to_string()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                LlmConfigError::invalid("api_key_env", format!("environment variable {var} is not set"))
            })?),
            (None, None) => None,
        };
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| LlmConfigError::invalid("api_key", "contains characters not allowed in a header"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            secrets.push(key);
        }
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));

        // Identity encoding: a compressed event stream tends to be buffered by someone.
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .no_gzip()
            .no_brotli()
            .build()
            .map_err(|e| LlmConfigError::Client(e.to_string()))?;
        Ok(LlmGenerator { inner: Arc::new(Inner { config, endpoint, client, headers, secrets }) })
    }

    /// The config this generator was built from.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    /// The request body [`Generator::generate`] would send for `request` (for
    /// debugging prompts and for tests).
    pub fn request_body(&self, request: &AnswerRequest) -> serde_json::Value {
        self.inner.body(request)
    }
}

impl Generator for LlmGenerator {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn generate(&self, request: AnswerRequest) -> AnswerStream {
        let inner = Arc::clone(&self.inner);
        Box::pin(async_stream::stream! {
            if request.question.trim().is_empty() {
                yield Err(AnswerError::Invalid("the question is empty".into()));
                return;
            }
            if !request.answerable || request.sources.is_empty() {
                // Grounded or silent: nothing to ground an answer on, no LLM call.
                yield Ok(AnswerEvent::Delta(request.fallback.clone()));
                yield Ok(AnswerEvent::Done { finish_reason: FinishReason::NoAnswer, usage: Usage::default() });
                return;
            }
            let config = &inner.config;
            let started = Instant::now();
            let deadline = started + config.total_timeout;
            let body = inner.body(&request);

            // Attempts until the first token.
            let mut attempt: u32 = 0;
            let (mut opened, span) = loop {
                attempt += 1;
                let span = info_span!("llm_request", model = %config.model, attempt, sources = request.sources.len());
                match inner.open(&body, deadline).instrument(span.clone()).await {
                    Ok(opened) => break (opened, span),
                    Err(failure) => {
                        match inner.retry_delay(&failure, attempt, deadline) {
                            Some(delay) => {
                                span.in_scope(|| tracing::warn!(error = %failure.error, delay_ms = delay.as_millis() as u64, "LLM attempt failed, retrying"));
                                tokio::time::sleep(delay).await;
                            }
                            None => {
                                span.in_scope(|| tracing::warn!(error = %failure.error, "LLM request failed"));
                                yield Err(failure.error);
                                return;
                            }
                        }
                    }
                }
            };
            let ttft = opened.first_token_at.map(|t| t - started);

            let mut gate = Gate::new(request.sources.len(), config.require_citation);
            let mut finish: Option<FinishReason> = None;
            let mut usage: Option<Usage> = None;
            let mut chunks: u32 = 0;
            let mut pending = std::mem::take(&mut opened.frames).into_iter();
            let mut done = false;
            loop {
                let frame = match pending.next() {
                    Some(frame) => frame,
                    None if done => break,
                    None => {
                        let wait_until = match finish {
                            Some(_) => deadline.min(Instant::now() + AFTER_FINISH_GRACE),
                            None => deadline,
                        };
                        match tokio::time::timeout_at(wait_until, opened.events.next()).instrument(span.clone()).await {
                            Err(_) if finish.is_some() => break,
                            Err(_) => {
                                yield Err(AnswerError::Timeout { stage: "total", limit: config.total_timeout });
                                return;
                            }
                            Ok(None) if finish.is_some() => break,
                            Ok(None) => {
                                yield Err(AnswerError::Protocol("the stream ended before the answer finished (no finish_reason or [DONE])".into()));
                                return;
                            }
                            Ok(Some(Err(e))) => {
                                // After the first token: no retry, the visitor saw part of it.
                                yield Err(inner.stream_error(e));
                                return;
                            }
                            Ok(Some(Ok(event))) => match parse_event(&event.event, &event.data) {
                                Ok(frame) => frame,
                                Err(e) => {
                                    yield Err(inner.scrub_error(e));
                                    return;
                                }
                            },
                        }
                    }
                };
                match frame {
                    Frame::Skip => {}
                    Frame::Done => done = true,
                    Frame::Chunk { content, finish: f, usage: u } => {
                        if !content.is_empty() {
                            chunks += 1;
                            if let Some(text) = gate.push(&content) {
                                yield Ok(AnswerEvent::Delta(text));
                            }
                        }
                        if f.is_some() {
                            finish = f;
                        }
                        if u.is_some() {
                            usage = u;
                        }
                    }
                }
            }

            let ending = gate.finish(&request.fallback);
            if let Some(text) = ending.emit {
                yield Ok(AnswerEvent::Delta(text));
            }
            let finish_reason = if ending.no_answer { FinishReason::NoAnswer } else { finish.unwrap_or(FinishReason::Stop) };
            let usage = usage.unwrap_or(Usage { prompt_tokens: 0, completion_tokens: chunks });
            span.in_scope(|| tracing::info!(
                finish = finish_reason.as_str(),
                upstream_finish = finish.map(FinishReason::as_str).unwrap_or("none"),
                ttft_ms = ttft.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(-1.0),
                total_ms = started.elapsed().as_secs_f64() * 1000.0,
                completion_tokens = usage.completion_tokens,
                dropped_markers = ending.dropped_markers,
                replaced_uncited = ending.replaced,
                "LLM answer finished"
            ));
            yield Ok(AnswerEvent::Done { finish_reason, usage });
        })
    }
}

/// The upstream events after the body started, up to and including the first token.
struct Opened {
    events: Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<Transport>>> + Send>>,
    /// Frames read while waiting for the first token (to be processed first).
    frames: Vec<Frame>,
    first_token_at: Option<Instant>,
}

/// Why reading the body failed below the SSE layer.
#[derive(Debug)]
enum Transport {
    Http(reqwest::Error),
    TooLarge(usize),
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Http(e) => write!(f, "{}", describe(e)),
            Transport::TooLarge(limit) => write!(f, "the response is larger than {limit} bytes"),
        }
    }
}

/// A failed attempt and whether another may succeed.
struct Failure {
    error: AnswerError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: AnswerError) -> Self {
        Failure { error, retry: false, retry_after: None }
    }
}

impl Inner {
    fn body(&self, request: &AnswerRequest) -> serde_json::Value {
        let c = &self.config;
        let limits = PromptLimits {
            context_chars: c.context_chars,
            history_turns: c.history_turns,
            history_turn_chars: c.history_turn_chars,
        };
        let max_tokens = match request.max_tokens {
            0 => c.max_tokens,
            n => c.max_tokens.min(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        let mut body = serde_json::json!({
            "model": c.model,
            "messages": build_messages(request, &limits),
            "stream": true,
            "temperature": c.temperature,
            "max_tokens": max_tokens,
        });
        if let Some(obj) = body.as_object_mut() {
            if c.include_usage {
                obj.insert("stream_options".into(), serde_json::json!({ "include_usage": true }));
            }
            if !c.stop.is_empty() {
                obj.insert("stop".into(), serde_json::json!(c.stop));
            }
            for (k, v) in &c.extra_body {
                obj.insert(k.clone(), v.clone());
            }
        }
        body
    }

    /// Send the request and read until the first answer token (or the end, if the
    /// answer is empty). Everything that fails in here may be retried.
    async fn open(&self, body: &serde_json::Value, deadline: Instant) -> Result<Opened, Failure> {
        let c = &self.config;
        let attempt_start = Instant::now();
        let first_deadline = attempt_start + c.first_token_timeout;
        let wait_until = first_deadline.min(deadline);
        let timeout = |_| {
            if deadline <= first_deadline {
                AnswerError::Timeout { stage: "total", limit: c.total_timeout }
            } else {
                AnswerError::Timeout { stage: "first_token", limit: c.first_token_timeout }
            }
        };
        let payload = serde_json::to_vec(body).map_err(|e| Failure::fatal(AnswerError::Invalid(e.to_string())))?;
        let send = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(payload)
            .send();
        let response = match tokio::time::timeout_at(wait_until, send).await.map_err(|e| Failure::fatal(timeout(e)))? {
            Ok(r) => r,
            Err(e) => return Err(self.send_failure(e)),
        };
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_failure(response, wait_until).await);
        }
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        let limit = c.max_response_bytes;
        let mut seen = 0usize;
        let bytes = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(Transport::Http)?;
            seen += chunk.len();
            if seen > limit {
                return Err(Transport::TooLarge(limit));
            }
            Ok(chunk)
        });
        if is_json {
            // A server that ignored `stream: true`: the whole completion at once.
            let read = collect_text(bytes);
            let text = match tokio::time::timeout_at(wait_until, read).await.map_err(|e| Failure::fatal(timeout(e)))? {
                Ok(text) => text,
                Err(e) => return Err(self.transport_failure(e)),
            };
            let frame = parse_completion(&text).map_err(|e| Failure::fatal(self.scrub_error(e)))?;
            let events = Box::pin(futures::stream::empty());
            return Ok(Opened { events, frames: vec![frame, Frame::Done], first_token_at: Some(Instant::now()) });
        }
        let mut events: Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(bytes.eventsource());
        let mut frames = Vec::new();
        loop {
            let next =
                tokio::time::timeout_at(wait_until, events.next()).await.map_err(|e| Failure::fatal(timeout(e)))?;
            let frame = match next {
                // Ended before any token: `open`'s caller reports the missing end.
                None => return Ok(Opened { events, frames, first_token_at: None }),
                Some(Err(e)) => {
                    return Err(match e {
                        EventStreamError::Transport(t) => self.transport_failure(t),
                        other => Failure::fatal(self.stream_error(other)),
                    })
                }
                Some(Ok(event)) => {
                    parse_event(&event.event, &event.data).map_err(|e| Failure::fatal(self.scrub_error(e)))?
                }
            };
            let first = match &frame {
                Frame::Chunk { content, finish, .. } => !content.is_empty() || finish.is_some(),
                Frame::Done => true,
                Frame::Skip => false,
            };
            let is_content = matches!(&frame, Frame::Chunk { content, .. } if !content.is_empty());
            frames.push(frame);
            if first {
                let first_token_at = is_content.then(Instant::now);
                return Ok(Opened { events, frames, first_token_at });
            }
        }
    }

    /// The wait before another attempt, or `None` to give up.
    fn retry_delay(&self, failure: &Failure, attempt: u32, deadline: Instant) -> Option<Duration> {
        let c = &self.config;
        if !failure.retry || attempt > c.max_retries {
            return None;
        }
        let delay = match failure.retry_after {
            Some(after) if after > c.max_retry_after => return None,
            Some(after) => after,
            None => backoff(c.backoff_base, c.backoff_cap, attempt),
        };
        (Instant::now() + delay < deadline).then_some(delay)
    }

    fn send_failure(&self, e: reqwest::Error) -> Failure {
        if e.is_connect() && e.is_timeout() {
            let error = AnswerError::Timeout { stage: "connect", limit: self.config.connect_timeout };
            return Failure { error, retry: true, retry_after: None };
        }
        let what = if e.is_connect() { "cannot connect to" } else { "request failed to" };
        let message = self.scrub(format!("{what} {}: {}", self.endpoint, describe(&e)));
        Failure {
            error: AnswerError::Upstream { message, status: None, retryable: true },
            retry: true,
            retry_after: None,
        }
    }

    fn transport_failure(&self, t: Transport) -> Failure {
        match t {
            Transport::Http(e) => {
                let message = self.scrub(format!("the response broke off: {}", describe(&e)));
                let error = AnswerError::Upstream { message, status: None, retryable: true };
                Failure { error, retry: true, retry_after: None }
            }
            t @ Transport::TooLarge(_) => Failure::fatal(AnswerError::Protocol(t.to_string())),
        }
    }

    /// A non-2xx answer: its message, and whether and when to retry.
    async fn status_failure(&self, response: reqwest::Response, wait_until: Instant) -> Failure {
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(parse_retry_after);
        let mut bytes = response.bytes_stream();
        let mut body = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = bytes.next().await {
                body.extend_from_slice(&chunk);
                if body.len() >= ERROR_BODY_LIMIT {
                    break;
                }
            }
        };
        // The body only improves the message: a slow one is not waited for.
        let _ = tokio::time::timeout_at(wait_until.min(Instant::now() + Duration::from_secs(5)), read).await;
        let detail = error_body_message(&String::from_utf8_lossy(&body));
        let hint = if status == StatusCode::NOT_FOUND { " (does base_url end with /v1?)" } else { "" };
        let message = self.scrub(format!("{} at {}{hint}: {detail}", status, self.endpoint));
        let retryable = matches!(status.as_u16(), 408 | 425 | 429 | 500 | 502 | 503 | 504);
        let error = AnswerError::Upstream { message, status: Some(status.as_u16()), retryable };
        Failure { error, retry: retryable, retry_after }
    }

    fn stream_error(&self, e: EventStreamError<Transport>) -> AnswerError {
        match e {
            EventStreamError::Transport(Transport::Http(e)) => AnswerError::Upstream {
                message: self.scrub(format!("the response broke off: {}", describe(&e))),
                status: None,
                retryable: true,
            },
            EventStreamError::Transport(t @ Transport::TooLarge(_)) => AnswerError::Protocol(t.to_string()),
            EventStreamError::Utf8(e) => AnswerError::Protocol(format!("the event stream is not UTF-8 ({e})")),
            EventStreamError::Parser(e) => {
                AnswerError::Protocol(self.scrub(format!("the event stream is malformed ({e})")))
            }
        }
    }

    fn scrub_error(&self, e: AnswerError) -> AnswerError {
        match e {
            AnswerError::Upstream { message, status, retryable } => {
                AnswerError::Upstream { message: self.scrub(message), status, retryable }
            }
            AnswerError::Protocol(m) => AnswerError::Protocol(self.scrub(m)),
            other => other,
        }
    }

    /// `text` with every configured secret replaced by `***`.
    fn scrub(&self, text: String) -> String {
        let mut out = text;
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

async fn collect_text(bytes: impl Stream<Item = Result<impl AsRef<[u8]>, Transport>>) -> Result<String, Transport> {
    let mut bytes = std::pin::pin!(bytes);
    let mut body = Vec::new();
    while let Some(chunk) = bytes.next().await {
        body.extend_from_slice(chunk?.as_ref());
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Exponential back-off with "equal jitter": half the step is fixed, half random, so
/// retrying clients spread out but never hammer at once.
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let step = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(cap);
    let half = step / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A reqwest error with its causes (`connection refused`), without repeating the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        return excerpt(&e.to_string());
    }
    parts.dedup();
    excerpt(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_millis(1000);
        for _ in 0..100 {
            let d1 = backoff(base, cap, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= base, "{d1:?}");
            let d3 = backoff(base, cap, 3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d9 = backoff(base, cap, 9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= cap, "{d9:?}");
        }
        assert!(backoff(base, cap, u32::MAX) <= cap);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(&HeaderValue::from_static("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(parse_retry_after(&HeaderValue::from_str(&past).unwrap()), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&HeaderValue::from_str(&future).unwrap()).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
    }

    #[test]
    fn config_errors_name_the_field_and_never_the_secret() {
        let mut c = LlmConfig::new("ftp://x/v1", "m");
        assert!(LlmGenerator::new(c.clone()).unwrap_err().to_string().contains("llm.base_url"));
        c.base_url = "http://127.0.0.1:1/v1".into();
        c.headers.insert("X-Token".into(), "bad\nvalue-secret".into());
        let e = LlmGenerator::new(c.clone()).unwrap_err().to_string();
        assert!(e.contains("headers.X-Token") && !e.contains("secret"), "{e}");
        c.headers.clear();
        c.extra_body.insert("stream".into(), serde_json::json!(false));
        assert!(LlmGenerator::new(c).unwrap_err().to_string().contains("extra_body.stream"));
    }
}
