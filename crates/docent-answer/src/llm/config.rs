//! [`LlmConfig`]: where the LLM server is and how patient to be with it.
//!
//! Deserialised from the `[llm]` table of `docent.toml` (or built in code). Every field
//! has a default, so `base_url` and `model` are usually all an operator writes:
//!
//! ```toml
//! [llm]
//! base_url = "http://127.0.0.1:8080/v1"
//! model = "smollm2-135m-instruct"
//! api_key_env = "OPENAI_API_KEY"   # or api_key = "…" (never logged)
//! first_token_timeout = "20s"
//! extra_body = { repeat_penalty = 1.0 }
//! ```
//!
//! Durations are written `"250ms"`, `"20s"`, `"2m"` or as a number of seconds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A secret sent as `Authorization: Bearer …`. Its `Debug` form is `ApiKey(***)`, so a
/// logged config never shows it; the generator also scrubs it from upstream messages.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key (e.g. read from a secret store).
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How to reach an OpenAI-compatible chat-completions server and how to use it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The API root, up to and including `/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// The `model` field of each request.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<ApiKey>,
    /// Name of an environment variable holding the key (read when the generator is
    /// built; keeps the secret out of the config file). `api_key` wins if both are set.
    pub api_key_env: Option<String>,
    /// Sampling temperature; low, because answers should copy facts, not invent.
    pub temperature: f32,
    /// Upper bound on answer tokens (the request's own bound applies when lower).
    pub max_tokens: u32,
    /// Time to establish the TCP (and TLS) connection.
    #[serde(deserialize_with = "de_duration")]
    pub connect_timeout: Duration,
    /// Time from sending a request to the first answer token (covers queueing and
    /// prompt processing on the server).
    #[serde(deserialize_with = "de_duration")]
    pub first_token_timeout: Duration,
    /// Time for the whole answer, retries and back-off included.
    #[serde(deserialize_with = "de_duration")]
    pub total_timeout: Duration,
    /// Further attempts after a retryable failure (network, 429, 5xx) that happened
    /// before the first token. `0` disables retries.
    pub max_retries: u32,
    /// First back-off delay; doubled per attempt, jittered.
    #[serde(deserialize_with = "de_duration")]
    pub backoff_base: Duration,
    /// Largest back-off delay.
    #[serde(deserialize_with = "de_duration")]
    pub backoff_cap: Duration,
    /// Longest `Retry-After` worth waiting for; a longer one fails the answer at once
    /// (with a retryable error, so the client can come back later).
    #[serde(deserialize_with = "de_duration")]
    pub max_retry_after: Duration,
    /// Grounded or silent: hold the answer back until it cites a valid source, and
    /// replace an answer that never does with the fallback (`finish_reason` `no_answer`).
    /// Costs the time to the first citation in latency; `false` streams at once.
    pub require_citation: bool,
    /// Most characters of source text put in the prompt, shared across the sources.
    pub context_chars: usize,
    /// Most earlier turns sent (the latest ones).
    pub history_turns: usize,
    /// Most characters per earlier turn.
    pub history_turn_chars: usize,
    /// Ask the server for token counts (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Extra HTTP headers on every request (values are never logged).
    pub headers: BTreeMap<String, String>,
    /// Extra top-level fields merged into the request body (server-specific knobs such
    /// as llama.cpp's `repeat_penalty`). They cannot replace `model`, `messages` or `stream`.
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    /// Largest upstream response accepted, in bytes (a runaway server cannot fill memory).
    pub max_response_bytes: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:8080/v1".to_string(),
            model: "default".to_string(),
            api_key: None,
            api_key_env: None,
            temperature: 0.1,
            max_tokens: 512,
            connect_timeout: Duration::from_secs(5),
            first_token_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(120),
            max_retries: 2,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
            require_citation: true,
            context_chars: 6000,
            history_turns: 6,
            history_turn_chars: 1000,
            include_usage: true,
            stop: Vec::new(),
            headers: BTreeMap::new(),
            extra_body: serde_json::Map::new(),
            max_response_bytes: 4 << 20,
        }
    }
}

impl LlmConfig {
    /// A config for `base_url` and `model`, defaults elsewhere.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig { base_url: base_url.into(), model: model.into(), ..LlmConfig::default() }
    }
}

/// A config that cannot work, named by its field.
#[derive(Debug, thiserror::Error)]
pub enum LlmConfigError {
    /// A field has an unusable value.
    #[error("llm.{field}: {problem}")]
    Invalid {
        /// The field (`base_url`, `headers.X-Foo`, …).
        field: String,
        /// What is wrong with it (never the value of a secret).
        problem: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("llm: cannot build the HTTP client: {0}")]
    Client(String),
}

impl LlmConfigError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        LlmConfigError::Invalid { field: field.into(), problem: problem.into() }
    }
}

/// `"250ms"`, `"20s"`, `"2m"`, `"1h"` or a number of seconds.
fn de_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    let secs = match Raw::deserialize(de)? {
        Raw::Secs(s) => s,
        Raw::Text(t) => parse_duration_secs(&t).map_err(serde::de::Error::custom)?,
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(serde::de::Error::custom(format!("duration out of range: {secs} s")));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_duration_secs(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("not a duration: {text:?} (write e.g. \"500ms\" or \"20s\")"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?} (use ms, s, m or h)")),
    };
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_all_forms() {
        assert_eq!(parse_duration_secs("250ms"), Ok(0.25));
        assert_eq!(parse_duration_secs("20s"), Ok(20.0));
        assert_eq!(parse_duration_secs("2m"), Ok(120.0));
        assert_eq!(parse_duration_secs("1.5"), Ok(1.5));
        assert!(parse_duration_secs("soon").is_err());
        assert!(parse_duration_secs("3 days").is_err());
    }

    #[test]
    fn config_deserialises_with_defaults_and_hides_the_key() {
        let cfg: LlmConfig = serde_json::from_value(serde_json::json!({
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key": "sk-secret",
            "first_token_timeout": "1500ms",
            "total_timeout": 60,
            "extra_body": {"repeat_penalty": 1.0}
        }))
        .unwrap();
        assert_eq!(cfg.first_token_timeout, Duration::from_millis(1500));
        assert_eq!(cfg.total_timeout, Duration::from_secs(60));
        assert_eq!(cfg.max_retries, LlmConfig::default().max_retries);
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert!(shown.contains("ApiKey(***)"));
        let bad = serde_json::from_value::<LlmConfig>(serde_json::json!({"modle": "x"}));
        assert!(bad.unwrap_err().to_string().contains("modle"));
    }
}
