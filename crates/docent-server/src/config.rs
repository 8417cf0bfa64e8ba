//! `docent.toml`: the server's one configuration file, with `DOCENT_…` environment
//! overrides and command-line flags on top.
//!
//! Precedence, lowest first: built-in defaults → the file → environment → flags
//! (the binary applies flags through [`ServerConfig::apply_overrides`]). With no file
//! at all the server serves one bot, `docs`, from `<data>/bots/docs` with the
//! extractive generator: what `make run` indexes.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and
//! every error names the file and the key path, e.g.
//! `docent.toml: bots[0].rate_limit.per_minute: invalid type: string "x", expected u32`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use docent_answer::llm::{ApiKey, LlmConfig, LlmGenerator};
use docent_index::ModelGraph;
use serde::{Deserialize, Serialize};

/// Default listen address: loopback only, so a fresh `docent serve` is not exposed.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Default text when the knowledge base cannot answer.
pub const DEFAULT_FALLBACK: &str =
    "I couldn't find this in the documentation. Could you rephrase, or ask to talk to a person?";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key has a wrong type, an unknown name, or the TOML is malformed.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file (or `environment` for a `DOCENT_…` variable).
        file: String,
        /// The key path (`bots[0].fallback`), or `(syntax)` for malformed TOML.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    fn invalid(file: &str, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { file: file.to_string(), key: key.into(), message: message.into() }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory: bot indexes under `bots/`, the SQLite store by default.
    pub data: PathBuf,
    /// Models directory (`make models` layout); `None`: the standard locations.
    pub models: Option<PathBuf>,
    /// Graph of the query model: `"query-int8"` (default: int8 kernels, about twice
    /// as fast per query) or `"shipped"` (the graph documents are embedded with).
    pub query_graph: ModelGraph,
    /// Store URL: `sqlite://path` or `postgres://…`; `None`: `<data>/docent.db`.
    pub database_url: Option<String>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// The OpenAI-compatible LLM used by bots with `generator = "llm"` (the
    /// `[llm]` table: `base_url`, `model`, timeouts, retries, … — see
    /// [`docent_answer::llm::LlmConfig`]). The API key comes from
    /// `DOCENT_LLM_API_KEY` (or `api_key_env`), not from the file.
    pub llm: Option<LlmConfig>,
    /// The chat widget (`GET /widget.js`) and its demo page (`GET /demo`).
    pub widget: WidgetConfig,
    /// The bots served.
    pub bots: Vec<BotConfig>,
    /// Webhook delivery settings and endpoints defined in the file (the `[webhooks]`
    /// table with `[[webhooks.endpoints]]` entries: `bot`, `url`, `events`, `secret`).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// The answer cache for repeated first-turn questions (the `[answer_cache]`
    /// table: `enabled`, `max_entries`, `ttl_secs`).
    pub answer_cache: crate::answer_cache::AnswerCacheConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data: PathBuf::from("./data"),
            models: None,
            query_graph: ModelGraph::QueryInt8,
            database_url: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            llm: None,
            widget: WidgetConfig::default(),
            bots: Vec::new(),
            webhooks: crate::webhooks::WebhooksConfig::default(),
            answer_cache: crate::answer_cache::AnswerCacheConfig::default(),
        }
    }
}

/// Where the server finds the built widget and the demo page's public key (the
/// `[widget]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WidgetConfig {
    /// The built widget (`make widget` writes `widget/dist/widget.js`), read when
    /// `/widget.js` is requested, so a rebuild needs no restart. Relative paths are
    /// resolved from the working directory. Env: `DOCENT_WIDGET_FILE`.
    pub file: PathBuf,
    /// A file holding the public `pk_` key that `/demo` embeds (`make run` writes
    /// `data/demo-key.txt`); `None`: `<data>/demo-key.txt`. Anything but a `pk_` key
    /// is refused: a secret key never reaches a page.
    pub demo_key_file: Option<PathBuf>,
    /// The bot the demo page talks to.
    pub demo_bot: String,
}

impl Default for WidgetConfig {
    fn default() -> Self {
        WidgetConfig { file: PathBuf::from("widget/dist/widget.js"), demo_key_file: None, demo_bot: "docs".into() }
    }
}

/// How callers authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `true`: every `/v1` route needs an API key (the default). `false`: open access,
    /// every caller has every scope on every bot. Only for a loopback demo.
    pub required: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { required: true }
    }
}

/// Limits that protect the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Longest user message in characters (400 above).
    pub max_message_chars: usize,
    /// Streaming turns in flight at once across all bots (503 above).
    pub max_concurrent_turns: usize,
    /// Deadline to drain open streams on shutdown, in seconds.
    pub shutdown_grace_secs: u64,
    /// Seconds between `: ping` comments on an SSE stream.
    pub keepalive_secs: u64,
    /// How often each bot checks for a newly published index generation, in seconds.
    pub reload_secs: u64,
    /// Longest a request may take to produce its response head, in seconds (a
    /// blocking chat answer included; a stream's body is not bounded by it). 503 with
    /// `request_timeout` above.
    pub request_timeout_secs: u64,
    /// Longest a client may take to send its request body, in seconds (408 above):
    /// a slow or stalled upload cannot hold a connection and a handler.
    pub body_timeout_secs: u64,
    /// Requests per minute a client address may make with a missing or invalid key
    /// before it gets 429 (keeps key guessing and unauthenticated floods off the store).
    pub auth_failures_per_minute: u32,
    /// Burst of such requests.
    pub auth_failure_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 256 * 1024,
            max_message_chars: 4000,
            max_concurrent_turns: 64,
            shutdown_grace_secs: 10,
            keepalive_secs: 15,
            reload_secs: 2,
            request_timeout_secs: 120,
            body_timeout_secs: 30,
            auth_failures_per_minute: 120,
            auth_failure_burst: 60,
        }
    }
}

impl LimitsConfig {
    /// `shutdown_grace_secs` as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// `request_timeout_secs` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// `body_timeout_secs` as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}

/// Which generator answers a bot's questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorKind {
    /// Verbatim sentences from the sources, offline (the default).
    #[default]
    Extractive,
    /// The `[llm]` endpoint.
    Llm,
}

/// Per-bot request rate limits (token buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute per secret key.
    pub per_minute: u32,
    /// Burst per secret key.
    pub burst: u32,
    /// Requests per minute per visitor of a public key (by user id, else client IP).
    pub public_per_minute: u32,
    /// Burst per visitor of a public key.
    pub public_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { per_minute: 600, burst: 60, public_per_minute: 20, public_burst: 5 }
    }
}

/// One bot: an index and how to answer from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Bot id (the API's `bot_id`; `[A-Za-z0-9_-]`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Index directory; default `<data>/bots/<id>`'s parent is `<data>`.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Generator.
    #[serde(default)]
    pub generator: GeneratorKind,
    /// System prompt for the LLM generator.
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// Answer when the knowledge base cannot support one.
    #[serde(default = "default_fallback")]
    pub fallback: String,
    /// Origins allowed to call with this bot's public keys (CORS), e.g.
    /// `https://docs.example.com`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Rate limits.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Confidence threshold override: below it a question gets the fallback. `None`:
    /// the calibrated threshold of the retrieval confidence model.
    #[serde(default)]
    pub no_answer_threshold: Option<f32>,
    /// Sources retrieved per answer.
    #[serde(default = "default_sources")]
    pub sources: usize,
    /// Longest answer, in tokens (words for the extractive generator).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Milliseconds the extractive generator pauses between streamed words (none by
    /// default): imitates typing for a demo, and lets a browser test see each delta
    /// arrive on its own.
    #[serde(default)]
    pub pacing_ms: Option<u64>,
    /// Phrases that hand a conversation to a person when a visitor's message contains
    /// one ("talk to a human"); matched as whole words after normalising case,
    /// punctuation and Unicode ([`crate::handoff`]). `None`: the built-in list
    /// ([`crate::handoff::DEFAULT_PHRASES`]); an empty list turns detection off.
    #[serde(default)]
    pub handoff_phrases: Option<Vec<String>>,
    /// The answer to such a message (`finish_reason: "handoff"`).
    #[serde(default = "default_handoff_text")]
    pub handoff_text: String,
}

fn default_fallback() -> String {
    DEFAULT_FALLBACK.to_string()
}

fn default_handoff_text() -> String {
    crate::handoff::DEFAULT_HANDOFF_TEXT.to_string()
}

fn default_sources() -> usize {
    5
}

fn default_max_tokens() -> usize {
    400
}

impl BotConfig {
    /// A bot with every default.
    pub fn new(id: impl Into<String>) -> Self {
        BotConfig {
            id: id.into(),
            name: None,
            data: None,
            generator: GeneratorKind::default(),
            system_prompt: None,
            fallback: default_fallback(),
            allowed_origins: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            no_answer_threshold: None,
            sources: default_sources(),
            max_tokens: default_max_tokens(),
            pacing_ms: None,
            handoff_phrases: None,
            handoff_text: default_handoff_text(),
        }
    }
}

/// Environment variables read by [`ServerConfig::load`].
pub const ENV_KEYS: &[&str] = &[
    "DOCENT_LISTEN",
    "DOCENT_DATA",
    "DOCENT_MODELS",
    "DOCENT_DATABASE_URL",
    "DOCENT_LLM_BASE_URL",
    "DOCENT_LLM_MODEL",
    "DOCENT_LLM_API_KEY",
    "DOCENT_AUTH_REQUIRED",
    "DOCENT_WIDGET_FILE",
];

impl ServerConfig {
    /// Read `file` if given (it must exist), then apply the `DOCENT_…` environment,
    /// then validate. Without a file: the defaults, plus the `docs` bot.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => ServerConfig::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        if config.bots.is_empty() {
            config.bots.push(BotConfig::new("docs"));
        }
        config.validate(&file.map(|f| f.display().to_string()).unwrap_or_else(|| "defaults".into()))?;
        Ok(config)
    }

    /// Parse a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parse TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::invalid(file, "(syntax)", e.message().to_string() + &line_of(text, e.span())))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = if key == "." { "(top level)".to_string() } else { key };
            ConfigError::invalid(file, key, inner.message().to_string() + &line_of(text, inner.span()))
        })
    }

    /// Apply `DOCENT_…` variables (`get` reads one; tests pass a map).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env = "environment";
        if let Some(v) = get("DOCENT_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::invalid(env, "DOCENT_LISTEN", format!("`{v}`: {e}")))?;
        }
        if let Some(v) = get("DOCENT_DATA") {
            self.data = PathBuf::from(v);
        }
        if let Some(v) = get("DOCENT_MODELS") {
            self.models = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DOCENT_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("DOCENT_WIDGET_FILE") {
            self.widget.file = PathBuf::from(v);
        }
        if let Some(v) = get("DOCENT_AUTH_REQUIRED") {
            self.auth.required = match v.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => {
                    return Err(ConfigError::invalid(
                        env,
                        "DOCENT_AUTH_REQUIRED",
                        format!("`{v}`: expected true or false"),
                    ))
                }
            };
        }
        if let Some(v) = get("DOCENT_LLM_BASE_URL") {
            match self.llm.as_mut() {
                Some(llm) => llm.base_url = v,
                None => self.llm = Some(LlmConfig::new(v, "")),
            }
        }
        if let Some(llm) = self.llm.as_mut() {
            if let Some(v) = get("DOCENT_LLM_MODEL") {
                llm.model = v;
            }
            if let Some(v) = get("DOCENT_LLM_API_KEY") {
                llm.api_key = Some(ApiKey::new(v));
            }
        }
        Ok(())
    }

    /// Flags given on the command line win over everything.
    pub fn apply_overrides(&mut self, listen: Option<SocketAddr>, data: Option<PathBuf>) {
        if let Some(l) = listen {
            self.listen = l;
        }
        if let Some(d) = data {
            self.data = d;
        }
    }

    /// Check what serde cannot: ids, references between sections, ranges.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, bot) in self.bots.iter().enumerate() {
            let key = |k: &str| format!("bots[{i}].{k}");
            if bot.id.is_empty()
                || bot.id.len() > 64
                || !bot.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::invalid(file, key("id"), format!("`{}`: use 1-64 of [A-Za-z0-9_-]", bot.id)));
            }
            if !seen.insert(bot.id.as_str()) {
                return Err(ConfigError::invalid(file, key("id"), format!("`{}` is used by two bots", bot.id)));
            }
            if bot.generator == GeneratorKind::Llm && self.llm.is_none() {
                return Err(ConfigError::invalid(
                    file,
                    key("generator"),
                    "`llm` needs an [llm] section (or DOCENT_LLM_BASE_URL)",
                ));
            }
            if bot.sources == 0 || bot.sources > 20 {
                return Err(ConfigError::invalid(file, key("sources"), "must be between 1 and 20"));
            }
            if bot.pacing_ms.is_some_and(|ms| ms > 1000) {
                return Err(ConfigError::invalid(file, key("pacing_ms"), "must be at most 1000"));
            }
            if bot.fallback.trim().is_empty() {
                return Err(ConfigError::invalid(file, key("fallback"), "must not be empty"));
            }
            if bot.handoff_text.trim().is_empty() {
                return Err(ConfigError::invalid(file, key("handoff_text"), "must not be empty"));
            }
            if let Some(phrases) = &bot.handoff_phrases {
                if let Err(why) = crate::handoff::PhraseMatcher::new(phrases) {
                    return Err(ConfigError::invalid(file, key("handoff_phrases"), why));
                }
            }
            if let Some(t) = bot.no_answer_threshold {
                if !(0.0..=1.0).contains(&t) {
                    return Err(ConfigError::invalid(file, key("no_answer_threshold"), "must be between 0 and 1"));
                }
            }
            for origin in &bot.allowed_origins {
                if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                    return Err(ConfigError::invalid(
                        file,
                        key("allowed_origins"),
                        format!("`{origin}`: an origin is scheme://host[:port]"),
                    ));
                }
            }
            let r = bot.rate_limit;
            if r.per_minute == 0 || r.burst == 0 || r.public_per_minute == 0 || r.public_burst == 0 {
                return Err(ConfigError::invalid(file, key("rate_limit"), "limits must be at least 1"));
            }
        }
        if let Some(llm) = &self.llm {
            // The generator checks its own settings and names the key at fault.
            if let Err(e) = LlmGenerator::new(llm.clone()) {
                return Err(ConfigError::invalid(file, "llm", e.to_string()));
            }
        }
        let bot_ids: Vec<&str> = self.bots.iter().map(|b| b.id.as_str()).collect();
        if let Err((key, message)) = self.webhooks.validate(&bot_ids) {
            return Err(ConfigError::invalid(file, key, message));
        }
        let l = &self.limits;
        if l.max_body_bytes < 1024 || l.max_message_chars == 0 || l.max_concurrent_turns == 0 || l.keepalive_secs == 0 {
            return Err(ConfigError::invalid(file, "limits", "limits must be positive (max_body_bytes ≥ 1024)"));
        }
        if l.request_timeout_secs == 0 {
            return Err(ConfigError::invalid(file, "limits.request_timeout_secs", "must be at least 1"));
        }
        if l.body_timeout_secs == 0 {
            return Err(ConfigError::invalid(file, "limits.body_timeout_secs", "must be at least 1"));
        }
        if l.auth_failures_per_minute == 0 || l.auth_failure_burst == 0 {
            return Err(ConfigError::invalid(file, "limits.auth_failures_per_minute", "limits must be at least 1"));
        }
        Ok(())
    }

    /// The store URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data.join("docent.db").display()),
        }
    }

    /// The file holding the demo page's public key.
    pub fn demo_key_file(&self) -> PathBuf {
        self.widget.demo_key_file.clone().unwrap_or_else(|| self.data.join("demo-key.txt"))
    }

    /// A bot's configuration.
    pub fn bot(&self, id: &str) -> Option<&BotConfig> {
        self.bots.iter().find(|b| b.id == id)
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(s) if s.start <= text.len() => format!(" (line {})", text[..s.start].matches('\n').count() + 1),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let c = ServerConfig::from_toml(
            r#"
listen = "127.0.0.1:9000"
data = "/srv/docent"
[limits]
max_body_bytes = 65536
[llm]
base_url = "http://127.0.0.1:8081/v1"
model = "smollm2"
[[bots]]
id = "docs"
generator = "llm"
fallback = "Ask support."
allowed_origins = ["https://docs.example.com"]
rate_limit = { per_minute = 60, burst = 10, public_per_minute = 5, public_burst = 2 }
"#,
            "docent.toml",
        )
        .expect("parses");
        c.validate("docent.toml").expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.bots[0].generator, GeneratorKind::Llm);
        assert_eq!(c.bots[0].rate_limit.burst, 10);
        assert_eq!(c.limits.max_body_bytes, 65536);
        assert_eq!(c.limits.keepalive_secs, 15, "unset keys keep their defaults");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = ServerConfig::from_toml("[[bots]]\nid = \"docs\"\nrate_limit = { per_minute = \"x\" }\n", "my.toml")
            .expect_err("bad type");
        let s = e.to_string();
        assert!(s.starts_with("my.toml: bots[0].rate_limit.per_minute:"), "{s}");
        let e = ServerConfig::from_toml("listen = \"127.0.0.1:1\"\nlisen = 3\n", "my.toml").expect_err("typo");
        assert!(e.to_string().contains("unknown field `lisen`"), "{e}");
        let e = ServerConfig::from_toml("listen = \n", "my.toml").expect_err("syntax");
        assert!(e.to_string().starts_with("my.toml: (syntax):"), "{e}");
        let c = ServerConfig::from_toml("[[bots]]\nid = \"a b\"\n", "my.toml").expect("parses");
        let e = c.validate("my.toml").expect_err("bad id");
        assert!(e.to_string().starts_with("my.toml: bots[0].id:"), "{e}");
        let c = ServerConfig::from_toml("[[bots]]\nid = \"a\"\ngenerator = \"llm\"\n", "my.toml").expect("parses");
        assert!(c.validate("my.toml").expect_err("no llm").to_string().contains("bots[0].generator"));
        let c = ServerConfig::from_toml("[[bots]]\nid = \"a\"\nhandoff_phrases = [\"ok\", \"?!\"]\n", "my.toml")
            .expect("parses");
        assert!(c
            .validate("my.toml")
            .expect_err("no words")
            .to_string()
            .starts_with("my.toml: bots[0].handoff_phrases:"));
        let c = ServerConfig::from_toml("[[bots]]\nid = \"a\"\nhandoff_text = \" \"\n", "my.toml").expect("parses");
        assert!(c.validate("my.toml").expect_err("empty").to_string().contains("bots[0].handoff_text"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = ServerConfig::from_toml("listen = \"127.0.0.1:1\"\n", "f").expect("parses");
        let env = |k: &str| match k {
            "DOCENT_LISTEN" => Some("127.0.0.1:7777".to_string()),
            "DOCENT_DATABASE_URL" => Some("postgres://u@h/db".to_string()),
            "DOCENT_AUTH_REQUIRED" => Some("false".to_string()),
            _ => None,
        };
        c.apply_env(env).expect("applies");
        assert_eq!(c.listen.port(), 7777);
        assert_eq!(c.database_url(), "postgres://u@h/db");
        assert!(!c.auth.required);
        let e = c.apply_env(|k| (k == "DOCENT_LISTEN").then(|| "nope".to_string())).expect_err("bad addr");
        assert!(e.to_string().starts_with("environment: DOCENT_LISTEN:"), "{e}");
    }
}
