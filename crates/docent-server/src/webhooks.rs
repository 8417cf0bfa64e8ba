//! Signed, durable webhooks: the event types and their envelope, Standard Webhooks
//! signing, the retry schedule, the `[webhooks]` configuration, and the delivery
//! worker that drains the outbox.
//!
//! A change that fires an event queues it in the store *in the same transaction*
//! ([`crate::store::WriteTx::emit`]): one call, `tx.emit(&Event::new(kind, bot, data))`.
//! The worker ([`run_worker`], spawned by `Server::run`) claims due deliveries with a
//! lease, POSTs them with connect and total timeouts, and records every attempt:
//! 2xx → delivered; network errors, 429 and 5xx → retried after
//! [`retry_delay`] (exponential with jitter, at least the receiver's `Retry-After`);
//! any other status → failed at once; after `max_attempts` → failed. Nothing on the
//! request path waits for a receiver.
//!
//! Useful for: telling other systems what happened (at least once; receivers dedupe by
//! `webhook-id`). Not for: ordering guarantees between events, or anything a request
//! must wait for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing::{debug, info_span, warn, Instrument};

use crate::metrics::Metrics;
use crate::store::{AttemptRecord, AttemptVerdict, ClaimedDelivery, Store};

/// The event types of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A new conversation (`POST /v1/conversations`, or a chat without `conversation_id`).
    #[serde(rename = "conversation.started")]
    ConversationStarted,
    /// A turn ended with `no_answer`.
    #[serde(rename = "message.unanswered")]
    MessageUnanswered,
    /// A conversation was handed to a human.
    #[serde(rename = "conversation.handoff")]
    ConversationHandoff,
    /// A lead was captured.
    #[serde(rename = "lead.captured")]
    LeadCaptured,
    /// Feedback on a message.
    #[serde(rename = "feedback.received")]
    FeedbackReceived,
    /// A bot started serving a new index generation.
    #[serde(rename = "index.updated")]
    IndexUpdated,
}

impl EventType {
    /// Every type, in API.md's order.
    pub const ALL: [EventType; 6] = [
        EventType::ConversationStarted,
        EventType::MessageUnanswered,
        EventType::ConversationHandoff,
        EventType::LeadCaptured,
        EventType::FeedbackReceived,
        EventType::IndexUpdated,
    ];

    /// The wire name (`conversation.started`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversationStarted => "conversation.started",
            EventType::MessageUnanswered => "message.unanswered",
            EventType::ConversationHandoff => "conversation.handoff",
            EventType::LeadCaptured => "lead.captured",
            EventType::FeedbackReceived => "feedback.received",
            EventType::IndexUpdated => "index.updated",
        }
    }

    /// The type of a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One event, as queued and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `evt_…`: the `webhook-id` header, the receivers' dedupe key.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// The bot it is about.
    pub bot_id: String,
    /// Type-specific fields.
    pub data: serde_json::Value,
}

impl Event {
    /// A new event with a fresh id.
    pub fn new(kind: EventType, bot_id: &str, data: serde_json::Value) -> Self {
        Event { id: crate::ids::event_id(), kind, created_at: crate::store::now_ms(), bot_id: bot_id.to_string(), data }
    }

    /// An event whose id is derived from `key`: every replica that sees the same fact
    /// (a bot's new generation) queues the same id, stored once per endpoint.
    pub fn with_key(kind: EventType, bot_id: &str, key: &str, data: serde_json::Value) -> Self {
        let digest = blake3::hash(format!("{}\n{bot_id}\n{key}", kind.as_str()).as_bytes());
        let id = format!("evt_{}", &digest.to_hex()[..32]);
        Event { id, kind, created_at: crate::store::now_ms(), bot_id: bot_id.to_string(), data }
    }

    /// The envelope JSON `{"id","type","created_at","bot_id","data"}`.
    pub fn envelope(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "created_at": crate::api::rfc3339(self.created_at),
            "bot_id": self.bot_id,
            "data": self.data,
        })
        .to_string()
    }
}

/// `conversation.started` for a conversation just created.
pub fn conversation_started(c: &crate::store::Conversation) -> Event {
    Event::new(
        EventType::ConversationStarted,
        &c.bot_id,
        serde_json::json!({
            "conversation_id": c.id,
            "user": {"id": c.user_id},
            "metadata": c.metadata,
        }),
    )
}

/// `message.unanswered` for a turn that ended with `no_answer`.
pub fn message_unanswered(
    bot_id: &str,
    conversation_id: &str,
    message_id: &str,
    question: &str,
    answer: &str,
) -> Event {
    Event::new(
        EventType::MessageUnanswered,
        bot_id,
        serde_json::json!({
            "conversation_id": conversation_id,
            "message_id": message_id,
            "question": question,
            "answer": answer,
            "finish_reason": "no_answer",
        }),
    )
}

/// What handed a conversation to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffTrigger<'a> {
    /// `POST /v1/conversations/{id}/handoff` (the widget's button, a backend).
    Api,
    /// A visitor's message that asked for a person (its answer's id, the phrase).
    Message {
        /// The answer given (`finish_reason: "handoff"`).
        message_id: &'a str,
        /// The phrase recognised.
        phrase: &'a str,
    },
}

/// `conversation.handoff` for a conversation just handed to a person.
pub fn conversation_handoff(
    bot_id: &str,
    conversation_id: &str,
    user_id: Option<&str>,
    reason: Option<&str>,
    trigger: HandoffTrigger<'_>,
) -> Event {
    let mut data = serde_json::json!({
        "conversation_id": conversation_id,
        "user": {"id": user_id},
        "reason": reason,
    });
    match trigger {
        HandoffTrigger::Api => data["trigger"] = "api".into(),
        HandoffTrigger::Message { message_id, phrase } => {
            data["trigger"] = "message".into();
            data["message_id"] = message_id.into();
            data["phrase"] = phrase.into();
        }
    }
    Event::new(EventType::ConversationHandoff, bot_id, data)
}

/// `lead.captured` for a lead just stored.
pub fn lead_captured(l: &crate::store::Lead) -> Event {
    Event::new(
        EventType::LeadCaptured,
        &l.bot_id,
        serde_json::json!({
            "lead_id": l.id,
            "conversation_id": l.conversation_id,
            "name": l.name,
            "email": l.email,
            "phone": l.phone,
        }),
    )
}

/// `feedback.received` for feedback just stored (`replaced`: it overwrote earlier
/// feedback on the same message).
pub fn feedback_received(f: &crate::store::Feedback, replaced: bool) -> Event {
    Event::new(
        EventType::FeedbackReceived,
        &f.bot_id,
        serde_json::json!({
            "message_id": f.message_id,
            "conversation_id": f.conversation_id,
            "rating": f.rating,
            "comment": f.comment,
            "replaced": replaced,
        }),
    )
}

/// A signing secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    /// The rest is not base64.
    #[error("the part after `whsec_` is not base64")]
    Base64,
    /// Too short or too long.
    #[error("a webhook secret holds 24 to 64 bytes, this one {0}")]
    Length(usize),
}

/// `whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, SecretError> {
    let b64 = secret.strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| SecretError::Base64)?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(SecretError::Length(bytes.len()));
    }
    Ok(bytes)
}

/// The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body)).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::from("v1,"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// A URL an endpoint may have: absolute `http` or `https` with a host, no credentials.
pub fn validate_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}`: only http and https URLs receive webhooks"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{url}`: credentials in the URL are not allowed"));
    }
    if url.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    Ok(())
}

/// The event names, checked and de-duplicated (order kept); at least one.
pub fn validate_events(events: &[String]) -> Result<Vec<String>, String> {
    if events.is_empty() {
        return Err("name at least one event".into());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in events {
        let Some(t) = EventType::parse(e) else {
            let all: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(format!("unknown event `{e}` (one of: {})", all.join(", ")));
        };
        if seen.insert(t) {
            out.push(t.as_str().to_string());
        }
    }
    Ok(out)
}

/// A secret as configuration holds it (never printed).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(pub String);

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("whsec_***")
    }
}

/// An endpoint listed in `docent.toml` (`[[webhooks.endpoints]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEndpoint {
    /// The bot whose events it receives.
    pub bot: String,
    /// Where to POST.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
    /// `whsec_…` (generate one with `openssl rand -base64 32`, prefixed).
    pub secret: ConfigSecret,
}

impl ConfigEndpoint {
    /// Its stable id (`wh_` + digest of bot and URL): the same entry keeps its id, and
    /// its delivery log, across restarts.
    pub fn id(&self) -> String {
        let digest = blake3::hash(format!("{}\n{}", self.bot, self.url).as_bytes());
        format!("wh_cfg{}", &digest.to_hex()[..26])
    }
}

/// The `[webhooks]` table: delivery settings and config-defined endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// First retry delay, in milliseconds (doubles per attempt).
    pub backoff_base_ms: u64,
    /// Longest retry delay, in seconds (also caps `Retry-After`).
    pub backoff_max_secs: u64,
    /// TCP/TLS connect timeout, in seconds.
    pub connect_timeout_secs: u64,
    /// Whole-request timeout, in seconds.
    pub timeout_secs: u64,
    /// How long a claimed delivery is leased to a worker, in seconds: a server that
    /// dies mid-delivery leaves it to be retried after this. Longer than `timeout_secs`.
    pub lease_secs: u64,
    /// How often the worker looks for due deliveries when nothing wakes it, in ms.
    pub poll_ms: u64,
    /// Deliveries in flight at once per server.
    pub concurrency: usize,
    /// Endpoints from the file.
    pub endpoints: Vec<ConfigEndpoint>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_secs: 3600,
            connect_timeout_secs: 5,
            timeout_secs: 10,
            lease_secs: 60,
            poll_ms: 500,
            concurrency: 8,
            endpoints: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    /// What serde cannot check: `(key path, message)` of the first problem.
    pub fn validate(&self, bots: &[&str]) -> Result<(), (String, String)> {
        let bad = |k: &str, m: String| Err((format!("webhooks.{k}"), m));
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return bad("max_attempts", "must be between 1 and 100".into());
        }
        if self.backoff_base_ms == 0 || self.backoff_max_secs == 0 || self.poll_ms == 0 || self.concurrency == 0 {
            return bad("backoff_base_ms", "delays, poll_ms and concurrency must be at least 1".into());
        }
        if self.connect_timeout_secs == 0 || self.timeout_secs == 0 {
            return bad("timeout_secs", "timeouts must be at least 1 s".into());
        }
        if self.lease_secs <= self.timeout_secs {
            return bad("lease_secs", "must be longer than timeout_secs (else a slow delivery is sent twice)".into());
        }
        let mut ids = HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let k = |f: &str| format!("endpoints[{i}].{f}");
            if !bots.contains(&e.bot.as_str()) {
                return bad(&k("bot"), format!("no bot `{}`", e.bot));
            }
            if let Err(m) = validate_url(&e.url) {
                return bad(&k("url"), m);
            }
            if let Err(m) = validate_events(&e.events) {
                return bad(&k("events"), m);
            }
            if let Err(m) = secret_bytes(&e.secret.0) {
                return bad(&k("secret"), m.to_string());
            }
            if !ids.insert(e.id()) {
                return bad(&k("url"), "listed twice for this bot".into());
            }
        }
        Ok(())
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}

/// The exponential part of the schedule: the delay after failed attempt `attempt`
/// (1-based) is `base · 2^(attempt-1)`, capped at `max`, then scaled by
/// `0.5 + jitter/2` (`jitter` in `[0, 1)`): within `[d/2, d)` of the un-jittered `d`,
/// so retries of many deliveries spread out but never come sooner than half the step.
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(40);
    let raw = base.saturating_mul(1u32 << exp.min(31)).min(max);
    let raw = if exp > 31 { max } else { raw };
    raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// The delay before the next attempt: [`backoff`], but never sooner than the
/// receiver's `Retry-After` (itself capped at `max`).
pub fn retry_delay(
    attempt: u32,
    retry_after: Option<Duration>,
    base: Duration,
    max: Duration,
    jitter: f64,
) -> Duration {
    let b = backoff(attempt, base, max, jitter);
    match retry_after {
        Some(r) => b.max(r.min(max)),
        None => b,
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What one attempt's outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Network error, timeout, 429, 5xx.
    Retry,
    /// Any other status: the receiver refuses this event; sending it again will not help.
    Refused,
}

/// The outcome of a status.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Refused,
    }
}

/// Drain the outbox until the task is dropped (aborted on shutdown: a delivery cut
/// short stays leased and is retried when its lease expires).
pub async fn run_worker(store: Store, config: WebhooksConfig, metrics: Arc<Metrics>) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .timeout(Duration::from_secs(config.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("docent-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "webhook delivery disabled: no HTTP client");
            return;
        }
    };
    let config = Arc::new(config);
    let poll = Duration::from_millis(config.poll_ms);
    let lease_ms = config.lease().as_millis() as i64;
    let mut inflight = tokio::task::JoinSet::new();
    loop {
        while inflight.try_join_next().is_some() {}
        let free = config.concurrency.saturating_sub(inflight.len());
        let mut claimed_all = false;
        if free > 0 {
            match store.claim_deliveries(free, lease_ms).await {
                Ok(claimed) => {
                    claimed_all = claimed.len() == free;
                    for c in claimed {
                        let (store, client, config) = (store.clone(), client.clone(), Arc::clone(&config));
                        let span =
                            info_span!("webhook", event = %c.event_id, endpoint = %c.endpoint_id, attempt = c.attempt);
                        inflight.spawn(async move { deliver(&store, &client, &config, c).await }.instrument(span));
                    }
                }
                Err(e) => warn!(error = %e, "could not claim webhook deliveries"),
            }
        }
        match store.pending_deliveries().await {
            Ok(n) => metrics.set_webhook_queue_depth(n),
            Err(e) => debug!(error = %e, "could not count pending webhook deliveries"),
        }
        if claimed_all {
            // More may be due: go again once a slot frees up.
            if inflight.join_next().await.is_none() {
                tokio::time::sleep(poll).await;
            }
            continue;
        }
        tokio::select! {
            _ = store.outbox_notified() => {}
            _ = tokio::time::sleep(poll) => {}
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
}

/// One attempt: sign, POST, classify, record.
async fn deliver(store: &Store, client: &reqwest::Client, config: &WebhooksConfig, c: ClaimedDelivery) {
    let started_at = crate::store::now_ms();
    let clock = Instant::now();
    let endpoint = match store.webhook_secret(&c.endpoint_id).await {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not read the webhook endpoint; retried after the lease");
            return;
        }
    };
    let sent = match endpoint {
        None => Sent::Unusable("the endpoint was deleted or disabled".to_string()),
        Some((url, secret)) => match secret_bytes(&secret) {
            Err(e) => Sent::Unusable(format!("stored secret unusable: {e}")),
            Ok(key) => {
                let ts = started_at / 1000;
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &c.event_id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sign(&key, &c.event_id, ts, &c.payload))
                    .body(c.payload.clone())
                    .send()
                    .await;
                match res {
                    Ok(r) => Sent::Answered {
                        status: r.status().as_u16(),
                        retry_after: r
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
                    },
                    Err(e) => {
                        let what = if e.is_timeout() {
                            "timed out"
                        } else if e.is_connect() {
                            "could not connect"
                        } else {
                            "request failed"
                        };
                        Sent::Network(format!("{what}: {e}"))
                    }
                }
            }
        },
    };
    let attempt = u32::try_from(c.attempt).unwrap_or(u32::MAX);
    let (status, error, retry_after, outcome) = match sent {
        Sent::Answered { status, retry_after } => {
            let outcome = classify(status);
            let error = (outcome != Outcome::Delivered).then(|| format!("HTTP {status}"));
            (Some(status), error, retry_after, outcome)
        }
        Sent::Network(e) => (None, Some(e), None, Outcome::Retry),
        Sent::Unusable(e) => (None, Some(e), None, Outcome::Refused),
    };
    let verdict = match outcome {
        Outcome::Delivered => AttemptVerdict::Delivered,
        Outcome::Refused => AttemptVerdict::Failed,
        Outcome::Retry if attempt >= config.max_attempts => AttemptVerdict::Failed,
        Outcome::Retry => {
            let delay = retry_delay(
                attempt,
                retry_after,
                Duration::from_millis(config.backoff_base_ms),
                Duration::from_secs(config.backoff_max_secs),
                rand::random::<f64>(),
            );
            AttemptVerdict::RetryAt(crate::store::now_ms() + delay.as_millis() as i64)
        }
    };
    let record =
        AttemptRecord { started_at, duration_ms: clock.elapsed().as_millis() as i64, status, error: error.as_deref() };
    match store.record_attempt(&c, &record, verdict).await {
        Ok(true) => debug!(?verdict, status, "webhook attempt recorded"),
        Ok(false) => warn!("webhook lease lost before the attempt was recorded (another worker retried it)"),
        Err(e) => warn!(error = %e, "could not record the webhook attempt; retried after the lease"),
    }
}

/// What became of one POST.
enum Sent {
    /// The receiver answered.
    Answered { status: u16, retry_after: Option<Duration> },
    /// No answer: connect error, timeout, reset.
    Network(String),
    /// Nothing could be sent (endpoint gone, secret unusable).
    Unusable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_vector() {
        // Computed with Python's hmac/hashlib (not this code):
        //   key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        //   base64.b64encode(hmac.new(key, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
        //                    hashlib.sha256).digest())
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes() {
        let s = new_secret();
        assert_eq!(secret_bytes(&s).expect("valid").len(), 32);
        assert_ne!(s, new_secret());
        assert_eq!(secret_bytes("sk_abc"), Err(SecretError::Prefix));
        assert_eq!(secret_bytes("whsec_***"), Err(SecretError::Base64));
        assert_eq!(secret_bytes("whsec_AAAA"), Err(SecretError::Length(3)));
    }

    #[test]
    fn backoff_doubles_within_its_jitter_band_and_is_capped() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(3600));
        for attempt in 1..=20u32 {
            let full = Duration::from_secs(1u64 << (attempt - 1)).min(max);
            for jitter in [0.0, 0.25, 0.5, 0.999_999] {
                let d = backoff(attempt, base, max, jitter);
                assert!(
                    d >= full / 2 && d < full,
                    "attempt {attempt} jitter {jitter}: {d:?} not in [{:?}, {full:?})",
                    full / 2
                );
            }
        }
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(3, base, max, 0.0), Duration::from_secs(2));
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert!(backoff(u32::MAX, base, max, 0.999) < max);
        assert!(backoff(u32::MAX, base, max, 0.0) >= max / 2);
        // Out-of-range jitter is clamped.
        assert_eq!(backoff(2, base, max, -3.0), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(30)), base, max, 0.0), Duration::from_secs(30));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(99_999)), base, max, 0.0), max);
        assert_eq!(retry_delay(3, Some(Duration::ZERO), base, max, 0.0), Duration::from_secs(2));
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        assert_eq!(classify(429), Outcome::Retry);
        assert_eq!(classify(503), Outcome::Retry);
        assert_eq!(classify(400), Outcome::Refused);
        assert_eq!(classify(410), Outcome::Refused);
        assert_eq!(classify(301), Outcome::Refused);
    }

    #[test]
    fn urls_and_events_are_validated() {
        assert!(validate_url("https://hooks.example.com/docent").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/x").is_ok());
        assert!(validate_url("ftp://example.com/").is_err());
        assert!(validate_url("not a url").is_err());
        assert!(validate_url("https://u:p@example.com/").is_err());
        assert_eq!(
            validate_events(&["index.updated".into(), "index.updated".into(), "lead.captured".into()]),
            Ok(vec!["index.updated".to_string(), "lead.captured".to_string()])
        );
        assert!(validate_events(&[]).is_err());
        assert!(validate_events(&["message.created".into()]).unwrap_err().contains("unknown event"));
    }

    #[test]
    fn keyed_events_share_their_id_and_envelopes_are_complete() {
        let a = Event::with_key(EventType::IndexUpdated, "docs", "7", serde_json::json!({"generation": 7}));
        let b = Event::with_key(EventType::IndexUpdated, "docs", "7", serde_json::json!({"generation": 7}));
        let c = Event::with_key(EventType::IndexUpdated, "docs", "8", serde_json::json!({"generation": 8}));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert!(crate::ids::looks_like(&a.id, "evt"));
        let env: serde_json::Value = serde_json::from_str(&a.envelope()).expect("json");
        assert_eq!(env["type"], "index.updated");
        assert_eq!(env["bot_id"], "docs");
        assert_eq!(env["data"]["generation"], 7);
        assert!(env["created_at"].as_str().expect("time").ends_with('Z'));
    }

    #[test]
    fn the_webhooks_table_parses_and_its_errors_name_the_key() {
        use crate::config::ServerConfig;
        let file = r#"
[[bots]]
id = "docs"
[webhooks]
max_attempts = 5
[[webhooks.endpoints]]
bot = "docs"
url = "https://hooks.example.com/docent"
events = ["conversation.started", "index.updated"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#;
        let c = ServerConfig::from_toml(file, "docent.toml").expect("parses");
        c.validate("docent.toml").expect("valid");
        assert_eq!(c.webhooks.max_attempts, 5);
        assert_eq!(c.webhooks.timeout_secs, 10, "unset keys keep their defaults");
        let e = &c.webhooks.endpoints[0];
        assert_eq!(e.id(), c.webhooks.endpoints[0].clone().id(), "stable id");
        assert!(crate::ids::looks_like(&e.id(), "wh"));
        assert!(!format!("{c:?}").contains("MfKQ9r8"), "secrets never in Debug output");
        let bad = |from: &str, to: &str| {
            let c = ServerConfig::from_toml(&file.replace(from, to), "docent.toml").expect("parses");
            c.validate("docent.toml").expect_err("invalid").to_string()
        };
        assert!(bad("bot = \"docs\"", "bot = \"nope\"").starts_with("docent.toml: webhooks.endpoints[0].bot:"));
        assert!(bad("https://hooks", "ftp://hooks").starts_with("docent.toml: webhooks.endpoints[0].url:"));
        assert!(bad("\"index.updated\"", "\"index.changed\"").starts_with("docent.toml: webhooks.endpoints[0].events:"));
        assert!(bad("whsec_MfKQ", "MfKQ").starts_with("docent.toml: webhooks.endpoints[0].secret:"));
        assert!(bad("max_attempts = 5", "max_attempts = 5\nlease_secs = 2")
            .starts_with("docent.toml: webhooks.lease_secs:"));
        let e = ServerConfig::from_toml(&file.replace("max_attempts", "max_attempt"), "docent.toml").expect_err("typo");
        assert!(e.to_string().contains("max_attempt"), "{e}");
    }
}
