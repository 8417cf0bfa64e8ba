//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of every route, generated
//! from the handlers' `#[utoipa::path]` annotations as the router is built
//! ([`utoipa_axum::router::OpenApiRouter`]), so a route cannot exist without its
//! entry.
//!
//! The request types and the turn's response types ([`crate::turn::FinalState`] and
//! its parts) derive their schemas directly. Responses that handlers assemble as JSON
//! (conversations, search, bots, health) and the SSE events are described by the
//! types below; the tests validate real responses and real stream frames against
//! these schemas, so the description cannot drift from the wire.
//!
//! Useful for: client generators, API explorers, contract tests. Not for: behaviour
//! (that is `API.md` and the handlers).

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::turn::{ApiCitation, ApiSource, FinalState, StreamError};

/// The description's fixed parts: info, tags, the bearer scheme, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Docent API",
        description = "Grounded answers with citations from your documentation: chat (blocking or Server-Sent \
                       Events), conversations, search, operations. Errors use the OpenAI-style envelope.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorEnvelope, ChatStreamEvent)),
    tags(
        (name = "chat", description = "Answers with citations"),
        (name = "openai", description = "OpenAI-compatible models and chat completions (`model` = bot id)"),
        (name = "conversations", description = "Server-managed conversation history"),
        (name = "knowledge base", description = "Search the indexed documentation"),
        (name = "webhooks", description = "Signed event deliveries to your endpoints (admin)"),
        (name = "analytics", description = "Unanswered questions grouped by meaning, traffic summaries (admin)"),
        (name = "operations", description = "Health, readiness, metrics, this description"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("`sk_…` secret keys (scopes and bots) or `pk_…` public keys (chat from allowed Origins)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// The error envelope of every non-2xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorEnvelope`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `conflict_error`, `rate_limit_error`, `server_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable machine code (`missing_field`, `invalid_api_key`, `rate_limited`, …).
    pub code: String,
    /// Safe to show to a person.
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
    /// The request id (also in `X-Request-Id`).
    pub request_id: Option<String>,
}

/// Why an answer ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReasonSchema {
    /// Complete.
    Stop,
    /// Hit the token limit.
    Length,
    /// Nothing in the knowledge base supports an answer: the bot's fallback text.
    NoAnswer,
    /// The visitor asked for a human.
    Handoff,
    /// The client went away.
    Cancelled,
    /// The generation failed part-way.
    Error,
}

/// Token counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSchema {
    /// Tokens of the prompt sent to the LLM (0 for the extractive generator).
    pub prompt_tokens: u32,
    /// Tokens (or words) of the answer.
    pub completion_tokens: u32,
}

/// Who wrote a message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleSchema {
    /// The visitor.
    User,
    /// The bot.
    Assistant,
}

/// Which retrievers answer a search.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchModeSchema {
    /// Lexical only (BM25 over title, headings, body).
    Bm25,
    /// Semantic only (embedding similarity).
    Dense,
    /// Both, fused (the default).
    Hybrid,
    /// Hybrid, then reranked (bots with a reranker).
    Rerank,
}

/// One frame of a streamed answer (`data:` of an SSE frame; `event:` repeats `type`).
/// Order: `start`, `sources`, `delta`…, `citation`…, then `done` — or `error`, which
/// ends the stream. Clients must ignore unknown types.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChatStreamEvent {
    /// The turn started.
    Start {
        /// `conv_…`.
        conversation_id: String,
        /// `msg_…` of the answer (resume with it).
        message_id: String,
        /// `req_…`.
        request_id: String,
    },
    /// The sources the answer may cite, before any text (empty with `grounded: false`).
    Sources {
        /// Whether the knowledge base supports an answer.
        grounded: bool,
        /// Numbered sources.
        sources: Vec<ApiSource>,
        /// Retrieval confidence in `[0, 1]`.
        confidence: f32,
    },
    /// The next piece of the answer text.
    Delta {
        /// Text to append.
        delta: String,
    },
    /// A `[n]` marker in the answer and the source it points to.
    Citation {
        /// The `[n]` number.
        index: usize,
        /// The cited source's id.
        source_id: String,
        /// Char offset of the marker.
        start: usize,
        /// Char offset after the marker.
        end: usize,
        /// The sentence the citation supports.
        quote: String,
    },
    /// The final state (the blocking response body, plus `type`).
    Done(FinalState),
    /// A failure after the stream started; the stream ends.
    Error {
        /// What failed.
        error: StreamError,
    },
}

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// `conv_…`.
    pub id: String,
    /// Its bot.
    pub bot_id: String,
    /// The visitor.
    pub user: UserView,
    /// `open` (the bot answers) or `handoff` (handed to a person: `/v1/chat` answers 409
    /// `conversation_handed_off` until an admin gives it back).
    pub state: String,
    /// Client metadata given at creation.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The visitor of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The client's id for the visitor.
    pub id: Option<String>,
}

/// A conversation with a page of its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationWithMessages {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// Its messages, oldest first.
    pub messages: MessagePage,
}

/// A stored message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// `msg_…`.
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Text (answers with `[n]` markers).
    pub content: String,
    /// `complete`, `streaming`, …
    pub status: String,
    /// How an answer ended.
    pub finish_reason: Option<String>,
    /// The answer's sources.
    #[schema(value_type = Option<Vec<ApiSource>>)]
    pub sources: serde_json::Value,
    /// The answer's citations.
    #[schema(value_type = Option<Vec<ApiCitation>>)]
    pub citations: serde_json::Value,
    /// Token counts.
    #[schema(value_type = Option<Object>)]
    pub usage: serde_json::Value,
    /// Stage timings.
    #[schema(value_type = Option<Object>)]
    pub timings: serde_json::Value,
    /// The feedback on an answer (`POST /v1/messages/{id}/feedback`), the latest one.
    pub feedback: Option<MessageFeedbackView>,
    /// RFC 3339.
    pub created_at: String,
}

/// The feedback on a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageFeedbackView {
    /// `up` or `down`.
    pub rating: String,
    /// The comment.
    pub comment: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
}

/// A page of conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    /// This page.
    pub data: Vec<ConversationView>,
    /// More after this page.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// This page.
    pub data: Vec<MessageView>,
    /// More after this page.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The answer of a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// What was deleted.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// The bot searched.
    pub bot_id: String,
    /// The index generation that answered.
    pub generation: u64,
    /// The mode used.
    pub mode: SearchModeSchema,
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Whether the index can answer the query.
    pub confidence: ConfidenceView,
    /// Milliseconds per stage.
    #[schema(value_type = Object)]
    pub timings: serde_json::Value,
}

/// One retrieved chunk.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    /// Page URL with the section `#anchor`.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Headings down to the chunk's section.
    pub heading_path: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// The page's id.
    pub doc_id: String,
    /// The chunk's id.
    pub chunk_id: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Score breakdown.
    pub scores: ScoreBreakdown,
    /// Rank breakdown (1-based).
    pub ranks: RankBreakdown,
}

/// Scores of a hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreBreakdown {
    /// BM25 (with field boosts); null when the hit was not a BM25 candidate.
    pub bm25: Option<f32>,
    /// Cosine similarity; null when not a dense candidate.
    pub dense: Option<f32>,
    /// The score the list is ordered by.
    pub fused: f32,
    /// The reranker's score; null when not reranked.
    pub rerank: Option<f32>,
}

/// Ranks of a hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankBreakdown {
    /// Among the BM25 candidates.
    pub bm25: Option<usize>,
    /// Among the dense candidates.
    pub dense: Option<usize>,
    /// In the returned list.
    pub fused: usize,
}

/// The retrieval confidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfidenceView {
    /// Probability that the index can answer, in `[0, 1]`.
    pub score: f32,
    /// At or above the threshold.
    pub answerable: bool,
    /// The model's inputs.
    #[schema(value_type = Object)]
    pub features: serde_json::Value,
}

/// A bot.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotView {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `extractive` or `llm`.
    pub generator: String,
    /// The index generation served; null before the first.
    pub generation: Option<u64>,
    /// Whether it can answer now.
    pub ready: bool,
}

/// The bots a key may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotList {
    /// The bots.
    pub data: Vec<BotView>,
    /// Always false.
    pub has_more: bool,
    /// Always null.
    pub next_cursor: Option<String>,
}

/// `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Seconds since start.
    pub uptime_s: u64,
}

/// `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Whether the store answers.
    pub store: bool,
    /// Per bot: `{"ready": bool, "generation"|"reason"}`.
    #[schema(value_type = Object)]
    pub bots: serde_json::Value,
    /// What is not ready.
    pub problems: Vec<String>,
}

/// `GET /v1/openapi.json`: this description (built once, on the first request).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this server", content_type = "application/json"))
)]
pub async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| super::openapi().to_json().unwrap_or_else(|_| "{}".into()));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], spec.as_str()).into_response()
}
