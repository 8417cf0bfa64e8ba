//! Prometheus metrics (`GET /metrics`, text exposition format): what an operator
//! graphs and alerts on.
//!
//! - `docent_http_requests_total{route,method,status}` and
//!   `docent_http_request_duration_seconds{route,method}`: every request, labelled
//!   with its route *template* (`/v1/conversations/{id}`, never the id itself, so the
//!   label set stays bounded); for a stream, the duration is the time to the
//!   response head.
//! - `docent_turn_stage_duration_seconds{bot,stage}`: `retrieval` (embedding, search,
//!   fusion, selection), `rerank`, `generation` (first answer text to the end).
//! - `docent_turn_ttft_seconds{bot}`: start of a turn to its first answer text.
//! - `docent_turns_total{bot,finish_reason}`: answers by how they ended
//!   (`stop`, `no_answer`, `cancelled`, `error`…).
//! - `docent_active_streams`: SSE responses open right now.
//! - `docent_auth_failures_total`: requests refused for a missing or invalid key.
//! - `docent_index_generation{bot}`: the generation each bot serves (read at scrape).
//! - `docent_webhook_queue_depth`: webhook deliveries not yet delivered or failed
//!   (set by the delivery worker on every pass; a growing value is a receiver in trouble).
//!
//! Useful for: dashboards, SLOs on TTFT, spotting a bot that answers `no_answer` too
//! often. Not for: per-conversation analytics (that is the store).
//!
//! Each [`Metrics`] owns its registry (no global state), so several servers in one
//! process (the tests) never mix their counts.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Latency buckets in seconds: 0.25 ms doubling up to about 65 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 19))
}

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

/// Labels of a request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// Labels of a turn stage latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    bot: String,
    stage: &'static str,
}

/// Labels per bot.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BotLabels {
    bot: String,
}

/// Labels of a finished turn.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TurnLabels {
    bot: String,
    finish_reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    stage_duration: HistogramFamily<StageLabels>,
    ttft: HistogramFamily<BotLabels>,
    turns: Family<TurnLabels, Counter>,
    active_streams: Gauge,
    auth_failures: Counter,
    index_generation: Family<BotLabels, Gauge>,
    webhook_queue_depth: Gauge,
    answer_cache_hits: Family<BotLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("active_streams", &self.active_streams.get()).finish_non_exhaustive()
    }
}

/// What a finished turn reports.
#[derive(Debug, Clone, Copy)]
pub struct TurnReport<'a> {
    /// The bot.
    pub bot: &'a str,
    /// How the turn ended (`stop`, `no_answer`, …).
    pub finish_reason: &'a str,
    /// Retrieval without rerank, in ms.
    pub retrieval_ms: f64,
    /// Rerank, in ms (0 when the bot does not rerank).
    pub rerank_ms: f64,
    /// Start of the turn to the first answer text, in ms (0: no text was produced).
    pub ttft_ms: f64,
    /// The whole turn, in ms.
    pub total_ms: f64,
    /// Served from the answer cache.
    pub cached: bool,
}

fn seconds(ms: f64) -> f64 {
    (ms / 1000.0).max(0.0)
}

impl Metrics {
    /// Set the webhook queue depth (the delivery worker's count of pending rows).
    pub fn set_webhook_queue_depth(&self, n: i64) {
        self.webhook_queue_depth.set(n);
    }

    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("docent");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", http_requests.clone());
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head by route template and method (streams: time to the first byte)",
            http_duration.clone(),
        );
        let stage_duration: HistogramFamily<StageLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "turn_stage_duration_seconds",
            "Chat turn stage latency: retrieval, rerank, generation",
            stage_duration.clone(),
        );
        let ttft: HistogramFamily<BotLabels> = Family::new_with_constructor(latency_histogram);
        registry.register("turn_ttft_seconds", "Start of a chat turn to its first answer text", ttft.clone());
        let turns = Family::<TurnLabels, Counter>::default();
        registry.register("turns", "Finished chat turns by bot and finish reason", turns.clone());
        let active_streams = Gauge::default();
        registry.register("active_streams", "Server-Sent Event responses open now", active_streams.clone());
        let auth_failures = Counter::default();
        registry.register("auth_failures", "Requests refused for a missing or invalid API key", auth_failures.clone());
        let index_generation = Family::<BotLabels, Gauge>::default();
        registry.register("index_generation", "Index generation each bot serves", index_generation.clone());
        let webhook_queue_depth = Gauge::default();
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries pending (not yet delivered or failed)",
            webhook_queue_depth.clone(),
        );
        let answer_cache_hits = Family::<BotLabels, Counter>::default();
        registry.register("answer_cache_hits", "Chat turns answered from the answer cache", answer_cache_hits.clone());
        Arc::new(Metrics {
            answer_cache_hits,
            webhook_queue_depth,
            registry,
            http_requests,
            http_duration,
            stage_duration,
            ttft,
            turns,
            active_streams,
            auth_failures,
            index_generation,
        })
    }

    /// Count a request and its time to the response head.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let (route, method) = (route.to_string(), method.to_string());
        self.http_requests.get_or_create(&HttpLabels { route: route.clone(), method: method.clone(), status }).inc();
        self.http_duration.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    }

    /// Record a finished turn's stages and outcome.
    pub fn observe_turn(&self, t: TurnReport<'_>) {
        let bot = t.bot.to_string();
        let stage = |stage: &'static str, ms: f64| {
            self.stage_duration.get_or_create(&StageLabels { bot: bot.clone(), stage }).observe(seconds(ms));
        };
        stage("retrieval", t.retrieval_ms);
        if t.rerank_ms > 0.0 {
            stage("rerank", t.rerank_ms);
        }
        if t.ttft_ms > 0.0 {
            stage("generation", t.total_ms - t.ttft_ms);
            self.ttft.get_or_create(&BotLabels { bot: bot.clone() }).observe(seconds(t.ttft_ms));
        }
        if t.cached {
            self.answer_cache_hits.get_or_create(&BotLabels { bot: bot.clone() }).inc();
        }
        self.turns.get_or_create(&TurnLabels { bot, finish_reason: t.finish_reason.to_string() }).inc();
    }

    /// Count a request refused for its key.
    pub fn auth_failed(&self) {
        self.auth_failures.inc();
    }

    /// Mark one stream open until the guard is dropped.
    pub fn stream_opened(self: &Arc<Self>) -> StreamGuard {
        self.active_streams.inc();
        StreamGuard { metrics: Arc::clone(self) }
    }

    /// The text exposition, with the per-bot generations given at scrape time.
    pub fn render(&self, generations: impl IntoIterator<Item = (String, Option<u64>)>) -> String {
        for (bot, generation) in generations {
            let g = generation.map_or(-1, |g| i64::try_from(g).unwrap_or(i64::MAX));
            self.index_generation.get_or_create(&BotLabels { bot }).set(g);
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// An open stream, counted in `docent_active_streams` while it lives.
#[derive(Debug)]
pub struct StreamGuard {
    metrics: Arc<Metrics>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.active_streams.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str, prefix: &str) -> Option<f64> {
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
    }

    #[test]
    fn counts_requests_by_route_template_and_status() {
        let m = Metrics::new();
        m.observe_request("/v1/chat", "POST", 200, Duration::from_millis(3));
        m.observe_request("/v1/chat", "POST", 200, Duration::from_millis(5));
        m.observe_request("/v1/chat", "POST", 429, Duration::from_millis(1));
        let text = m.render([]);
        assert_eq!(
            value_of(&text, r#"docent_http_requests_total{route="/v1/chat",method="POST",status="200"}"#),
            Some(2.0)
        );
        assert_eq!(
            value_of(&text, r#"docent_http_requests_total{route="/v1/chat",method="POST",status="429"}"#),
            Some(1.0)
        );
        assert_eq!(
            value_of(&text, r#"docent_http_request_duration_seconds_count{route="/v1/chat",method="POST"}"#),
            Some(3.0)
        );
        assert!(text.ends_with("# EOF\n"), "OpenMetrics terminator: {text}");
    }

    #[test]
    fn turn_stages_and_active_streams() {
        let m = Metrics::new();
        m.observe_turn(TurnReport {
            bot: "docs",
            finish_reason: "stop",
            retrieval_ms: 4.0,
            rerank_ms: 0.0,
            ttft_ms: 6.0,
            total_ms: 26.0,
            cached: false,
        });
        m.observe_turn(TurnReport {
            bot: "docs",
            finish_reason: "no_answer",
            retrieval_ms: 3.0,
            rerank_ms: 0.0,
            ttft_ms: 0.0,
            total_ms: 3.0,
            cached: true,
        });
        let guard = m.stream_opened();
        let open = m.render([("docs".to_string(), Some(7))]);
        drop(guard);
        let closed = m.render([]);
        assert_eq!(value_of(&open, "docent_answer_cache_hits_total{bot=\"docs\"}"), Some(1.0));
        assert_eq!(value_of(&open, "docent_active_streams "), Some(1.0));
        assert_eq!(value_of(&closed, "docent_active_streams "), Some(0.0));
        assert_eq!(value_of(&open, r#"docent_turns_total{bot="docs",finish_reason="no_answer"}"#), Some(1.0));
        assert_eq!(
            value_of(&open, r#"docent_turn_stage_duration_seconds_count{bot="docs",stage="retrieval"}"#),
            Some(2.0)
        );
        // Generation is only observed for turns that produced text: 20 ms.
        assert_eq!(
            value_of(&open, r#"docent_turn_stage_duration_seconds_sum{bot="docs",stage="generation"}"#),
            Some(0.02)
        );
        assert_eq!(value_of(&open, r#"docent_turn_ttft_seconds_count{bot="docs"}"#), Some(1.0));
        assert_eq!(value_of(&open, r#"docent_index_generation{bot="docs"}"#), Some(7.0));
    }
}
