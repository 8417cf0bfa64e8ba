//! The OpenAI-compatible surface: `GET /v1/models` (the bots a key may use) and
//! `POST /v1/chat/completions` (`model` = bot id), so that an OpenAI SDK or chat UI
//! can talk to a bot.
//!
//! The turn is the one `/v1/chat` runs ([`super::chat::start_turn`], then
//! [`crate::turn`]): same auth, rate limits, conversations, metrics and cancellation
//! on disconnect. This module only translates: the request's `messages` to a
//! question and a history, and the turn's frames to `chat.completion.chunk` frames
//! (`data:` lines only, ending in `data: [DONE]`) or to one `chat.completion`.
//!
//! Useful for: OpenAI clients. Not for: answering logic (that is [`crate::turn`]) or
//! Docent's own richer stream (`/v1/chat`, with resume).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use docent_answer::{Role, Turn};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::chat::{clean, final_state, start_turn, TurnRequest};
use super::openapi::ErrorEnvelope;
use super::{ApiError, ApiJson, AuthedCaller, RequestId};
use crate::state::AppState;
use crate::turn::{ApiSource, Frame};

/// `X-Conversation-Id`: names the stored conversation to continue (request) and the
/// conversation the answer went to (response).
pub const CONVERSATION_HEADER: &str = "x-conversation-id";

/// One model (a bot).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Model {
    /// The bot id (pass it as `model`).
    pub id: String,
    /// `model`.
    #[schema(value_type = String)]
    pub object: &'static str,
    /// Unix seconds (when this server started).
    pub created: u64,
    /// `docent`.
    #[schema(value_type = String)]
    pub owned_by: &'static str,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelList {
    /// `list`.
    #[schema(value_type = String)]
    pub object: &'static str,
    /// The bots this key may use.
    pub data: Vec<Model>,
}

/// A message of `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CompletionMessageIn {
    /// `user` or `assistant`; `system` and `developer` messages are ignored (the bot
    /// has its own instructions); other roles are a 400.
    pub role: String,
    /// Text, or an array of content parts of which the `text` ones are read.
    #[serde(default)]
    #[schema(value_type = Value)]
    pub content: Option<Value>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` (and no choices) before `[DONE]`.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// The body of `POST /v1/chat/completions` (other OpenAI fields are accepted and
/// ignored: the bot's configuration decides temperature, length, …).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// The bot id.
    pub model: Option<String>,
    /// The conversation, last one from the user. With `X-Conversation-Id` (or
    /// `metadata.conversation_id`) only the last message is read and the stored
    /// history is used; otherwise the array is the history.
    pub messages: Option<Vec<CompletionMessageIn>>,
    /// Stream `chat.completion.chunk` frames.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The visitor's id.
    #[serde(default)]
    pub user: Option<String>,
    /// String metadata; `conversation_id` continues a stored conversation, the rest is
    /// stored with a new one.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A `url_citation` annotation's body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UrlCitation {
    /// The cited source's URL (the `url` of one of `sources`).
    pub url: String,
    /// Its title.
    pub title: String,
    /// Char offset of the `[n]` marker in the content.
    pub start_index: u64,
    /// Char offset just after the marker.
    pub end_index: u64,
}

/// A citation as OpenAI clients read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Annotation {
    /// `url_citation`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Where it points.
    pub url_citation: UrlCitation,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CompletionUsage {
    /// Prompt tokens (0 for the extractive generator).
    pub prompt_tokens: u64,
    /// Answer tokens (or words).
    pub completion_tokens: u64,
    /// The sum.
    pub total_tokens: u64,
}

/// The answer of a `chat.completion`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletionMessageOut {
    /// `assistant`.
    #[schema(value_type = String)]
    pub role: &'static str,
    /// The answer, with `[n]` markers.
    pub content: String,
    /// Always null.
    pub refusal: Option<String>,
    /// One `url_citation` per marker.
    pub annotations: Vec<Annotation>,
}

/// The one choice of a `chat.completion`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletionChoice {
    /// 0.
    pub index: u32,
    /// The answer.
    pub message: CompletionMessageOut,
    /// `stop` or `length` (see `docent_finish_reason`).
    #[schema(value_type = String)]
    pub finish_reason: &'static str,
}

/// `POST /v1/chat/completions` without `stream`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-<message id>`.
    pub id: String,
    /// `chat.completion`.
    #[schema(value_type = String)]
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The bot id.
    pub model: String,
    /// One choice.
    pub choices: Vec<CompletionChoice>,
    /// Token counts.
    pub usage: CompletionUsage,
    /// The sources the answer may cite (as in `/v1/chat`).
    #[schema(value_type = Vec<ApiSource>)]
    pub sources: Value,
    /// Docent's own reason (`stop`, `length`, `no_answer`, `handoff`, …).
    pub docent_finish_reason: String,
    /// `conv_…` (also in `X-Conversation-Id`).
    pub conversation_id: String,
}

/// The `delta` of a chunk.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ChunkDelta {
    /// `assistant`, on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub role: Option<&'static str>,
    /// Text to append.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Citations of the text so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Annotation>>,
}

/// The one choice of a chunk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChunkChoice {
    /// 0.
    pub index: u32,
    /// What changed.
    pub delta: ChunkDelta,
    /// Null until the last content chunk: `stop` or `length`.
    #[schema(value_type = Option<String>)]
    pub finish_reason: Option<&'static str>,
}

/// A failure after the stream started (OpenAI SDKs raise on a chunk with `error`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChunkError {
    /// Safe to show.
    pub message: String,
    /// `server_error`, `upstream_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable code.
    pub code: String,
    /// Always null.
    pub param: Option<String>,
    /// Whether sending the same question again may work.
    pub retryable: bool,
}

/// One `data:` frame of a streamed `POST /v1/chat/completions` (the stream ends with
/// `data: [DONE]`). In order: a `role` chunk; a content-empty chunk with the
/// top-level `sources`; content chunks; a chunk of `annotations` per citation; the
/// chunk with `finish_reason` (and `docent_finish_reason`); with
/// `stream_options.include_usage`, a chunk with `usage` and no choices. A failure
/// after the first byte is a chunk with no choices and an `error`, and the stream
/// ends.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatCompletionChunk {
    /// `chatcmpl-<message id>`, the same on every chunk.
    pub id: String,
    /// `chat.completion.chunk`.
    #[schema(value_type = String)]
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The bot id.
    pub model: String,
    /// One choice (none on the usage and error chunks).
    pub choices: Vec<ChunkChoice>,
    /// The sources the answer may cite (the content-empty second chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ApiSource>>)]
    pub sources: Option<Value>,
    /// Docent's own finish reason (on the `finish_reason` chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docent_finish_reason: Option<String>,
    /// Token counts (the usage chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
    /// The failure that ended the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ChunkError>,
}

/// Unix seconds now.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `GET /v1/models`: the bots this key may use, as OpenAI models.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bots this key may use (`id` = bot id)", body = ModelList),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope, or a public key from another Origin", body = ErrorEnvelope),
    )
)]
pub async fn models(State(state): State<AppState>, caller: AuthedCaller) -> Result<Response, ApiError> {
    caller.require_scope("chat")?;
    let created = unix_now().saturating_sub(state.started.elapsed().as_secs());
    let data = state
        .bots
        .iter()
        .filter(|b| caller.caller.may_use_bot(&b.config.id))
        .map(|b| Model { id: b.config.id.clone(), object: "model", created, owned_by: "docent" })
        .collect();
    Ok(axum::Json(ModelList { object: "list", data }).into_response())
}

/// The text of a message's `content`: a string, or the `text` parts of an array.
fn text_of(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> =
                parts.iter().filter(|p| p["type"] == "text").filter_map(|p| p["text"].as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// The question (last message, the user's) and the earlier turns.
fn question_and_history(messages: Option<&[CompletionMessageIn]>) -> Result<(String, Vec<Turn>), ApiError> {
    let messages =
        messages.ok_or_else(|| ApiError::invalid_param("missing_field", "messages", "`messages` is required"))?;
    let mut turns = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" | "developer" => continue,
            other => {
                return Err(ApiError::invalid_param(
                    "invalid_messages",
                    &format!("messages[{i}].role"),
                    format!(
                    "role `{other}` is not supported: send `user` and `assistant` messages (`system` ones are ignored)"
                ),
                ))
            }
        };
        let text = match text_of(m.content.as_ref()) {
            Some(t) => t,
            // An assistant turn without text (tool calls) adds nothing to the history.
            None if role == Role::Assistant && m.content.as_ref().is_none_or(Value::is_null) => continue,
            None => {
                return Err(ApiError::invalid_param(
                    "invalid_messages",
                    &format!("messages[{i}].content"),
                    "`content` must be a string or an array of text parts",
                ))
            }
        };
        turns.push(Turn { role, content: clean(&text) });
    }
    let Some(last) = turns.pop() else {
        return Err(ApiError::invalid_param("missing_field", "messages", "`messages` has no user message"));
    };
    if last.role != Role::User {
        return Err(ApiError::invalid_param("invalid_messages", "messages", "the last message must be the user's"));
    }
    turns.retain(|t| !t.content.is_empty());
    Ok((last.content, turns))
}

/// OpenAI's finish reason for Docent's: `length` stays, everything else that ends an
/// answer normally (`no_answer`: the fallback text, `handoff`, `cancelled`) is `stop`;
/// `docent_finish_reason` carries the original.
fn openai_finish_reason(docent: &str) -> &'static str {
    if docent == "length" {
        "length"
    } else {
        "stop"
    }
}

fn usage_of(v: &Value) -> CompletionUsage {
    let prompt_tokens = v["prompt_tokens"].as_u64().unwrap_or(0);
    let completion_tokens = v["completion_tokens"].as_u64().unwrap_or(0);
    CompletionUsage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
}

fn annotation(source: &Value, start: u64, end: u64) -> Annotation {
    Annotation {
        kind: "url_citation",
        url_citation: UrlCitation {
            url: source["url"].as_str().unwrap_or_default().to_string(),
            title: source["title"].as_str().unwrap_or_default().to_string(),
            start_index: start,
            end_index: end,
        },
    }
}

/// `POST /v1/chat/completions`.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    request_body = ChatCompletionRequest,
    security(("bearer" = [])),
    params(
        ("X-Conversation-Id" = Option<String>, Header, description = "`conv_…`: continue this stored conversation (its history is used, the new turn appended)"),
    ),
    responses(
        (status = 200,
         description = "Blocking: a `chat.completion`. Streaming (`\"stream\": true`): `data:` lines only, one                         `ChatCompletionChunk` each, then `data: [DONE]`; `: ping` comments while idle.",
         content((ChatCompletion = "application/json"), (ChatCompletionChunk = "text/event-stream")),
         headers(
             ("X-Conversation-Id" = String, description = "The conversation the turn is stored in"),
             ("X-Request-Id" = String, description = "The request id"),
             ("X-RateLimit-Limit" = u32, description = "Bucket size"),
             ("X-RateLimit-Remaining" = u32, description = "Requests left now"),
             ("X-RateLimit-Reset" = u64, description = "Seconds until one more request is allowed"),
         )),
        (status = 400, description = "Malformed JSON, no `model` or `messages`, a last message not from the user, an unsupported role, an empty or too long message", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope or this bot, or a public key from another Origin", body = ErrorEnvelope),
        (status = 404, description = "Unknown model (`model_not_found`) or conversation", body = ErrorEnvelope),
        (status = 409, description = "A turn is already streaming in this conversation (`turn_in_progress`), or it was handed to a person (`conversation_handed_off`)", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than the server accepts", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 503, description = "Overloaded, index not loaded, or the request deadline passed (see `Retry-After`)", body = ErrorEnvelope),
        (status = 504, description = "The LLM upstream timed out (blocking mode)", body = ErrorEnvelope),
    )
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let model = body
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid_param("missing_field", "model", "`model` (a bot id) is required"))?;
    let Some(bot) = state.bot(model).cloned() else {
        let mut e = ApiError::not_found(
            "model_not_found",
            format!("the model `{model}` does not exist (models are bot ids; see /v1/models)"),
        );
        e.param = Some("model".into());
        return Err(e);
    };
    let rate = caller.authorize(&state, model, "chat", body.user.as_deref())?;
    let (question, client_history) = question_and_history(body.messages.as_deref())?;

    // Server-managed history when a conversation is named; client-managed otherwise.
    let named = headers
        .get(CONVERSATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .or_else(|| body.metadata.as_ref().and_then(|m| m["conversation_id"].as_str()).map(str::to_string));
    let metadata = body.metadata.clone().map(|mut m| {
        if let Some(map) = m.as_object_mut() {
            map.remove("conversation_id");
        }
        m
    });
    let client_history = if named.is_some() { None } else { Some(client_history) };
    let started = start_turn(
        &state,
        TurnRequest {
            bot_id: model.to_string(),
            bot,
            request_id,
            question,
            question_param: "messages",
            client_history,
            conversation_id: named,
            visitor: body.user.clone(),
            metadata,
            filters: docent_retrieval::Filters::default(),
        },
    )
    .await?;
    let conversation = [(CONVERSATION_HEADER, started.conversation_id.clone())];
    let id = format!("chatcmpl-{}", started.message_id);
    let created = unix_now();

    if body.stream == Some(true) {
        let include_usage = body.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true);
        let mut chunks = Chunks { id, created, model: model.to_string(), include_usage, sources: Vec::new() };
        let open = state.metrics.stream_opened();
        let stream = tokio_stream::wrappers::ReceiverStream::new(started.frames)
            .flat_map(move |frame| futures::stream::iter(chunks.of(&frame)))
            .map(move |data| {
                let _open = &open;
                Ok::<_, Infallible>(Event::default().data(data))
            });
        let keepalive = std::time::Duration::from_secs(state.config.limits.keepalive_secs);
        return Ok((rate, conversation, super::sse::respond(stream, keepalive)).into_response());
    }

    let done = final_state(started.frames).await?;
    let sources = done["sources"].clone();
    let annotations = done["citations"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    let source = sources.as_array()?.iter().find(|s| s["id"] == c["source_id"])?;
                    Some(annotation(source, c["start"].as_u64()?, c["end"].as_u64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let docent_reason = done["finish_reason"].as_str().unwrap_or("stop").to_string();
    let completion = ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model: model.to_string(),
        choices: vec![CompletionChoice {
            index: 0,
            message: CompletionMessageOut {
                role: "assistant",
                content: done["message"]["content"].as_str().unwrap_or_default().to_string(),
                refusal: None,
                annotations,
            },
            finish_reason: openai_finish_reason(&docent_reason),
        }],
        usage: usage_of(&done["usage"]),
        sources,
        docent_finish_reason: docent_reason,
        conversation_id: started.conversation_id,
    };
    Ok((rate, conversation, axum::Json(completion)).into_response())
}

/// Turns a turn's frames into chunk `data:` payloads.
struct Chunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// The sources of the `sources` frame, for the citations' URLs.
    sources: Vec<Value>,
}

impl Chunks {
    fn chunk(&self, delta: ChunkDelta, finish_reason: Option<&'static str>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice { index: 0, delta, finish_reason }],
            sources: None,
            docent_finish_reason: None,
            usage: None,
            error: None,
        }
    }

    /// The chunks (serialised) of one frame; `[DONE]` after the final one. Frames of
    /// kinds this surface does not show give none.
    fn of(&mut self, frame: &Frame) -> Vec<String> {
        let data: Value = serde_json::from_str(&frame.data).unwrap_or_default();
        let mut out: Vec<ChatCompletionChunk> = Vec::new();
        let mut last = false;
        match frame.event.as_str() {
            "start" => {
                out.push(self.chunk(
                    ChunkDelta { role: Some("assistant"), content: Some(String::new()), annotations: None },
                    None,
                ))
            }
            "sources" => {
                self.sources = data["sources"].as_array().cloned().unwrap_or_default();
                let mut c = self.chunk(ChunkDelta { content: Some(String::new()), ..ChunkDelta::default() }, None);
                c.sources = Some(Value::Array(self.sources.clone()));
                out.push(c);
            }
            "delta" => {
                if let Some(text) = data["delta"].as_str().filter(|t| !t.is_empty()) {
                    out.push(self.chunk(ChunkDelta { content: Some(text.to_string()), ..ChunkDelta::default() }, None));
                }
            }
            "citation" => {
                let source = self.sources.iter().find(|s| s["id"] == data["source_id"]);
                if let (Some(source), Some(start), Some(end)) = (source, data["start"].as_u64(), data["end"].as_u64()) {
                    let a = annotation(source, start, end);
                    out.push(self.chunk(ChunkDelta { annotations: Some(vec![a]), ..ChunkDelta::default() }, None));
                }
            }
            "done" => {
                let reason = data["finish_reason"].as_str().unwrap_or("stop").to_string();
                let mut c = self.chunk(ChunkDelta::default(), Some(openai_finish_reason(&reason)));
                c.docent_finish_reason = Some(reason);
                out.push(c);
                if self.include_usage {
                    let mut u = self.chunk(ChunkDelta::default(), None);
                    u.choices.clear();
                    u.usage = Some(usage_of(&data["usage"]));
                    out.push(u);
                }
                last = true;
            }
            "error" => {
                let e = &data["error"];
                let mut c = self.chunk(ChunkDelta::default(), None);
                c.choices.clear();
                c.error = Some(ChunkError {
                    message: e["message"].as_str().unwrap_or("the answer failed").to_string(),
                    kind: e["type"].as_str().unwrap_or("server_error").to_string(),
                    code: e["code"].as_str().unwrap_or("answer_failed").to_string(),
                    param: None,
                    retryable: e["retryable"].as_bool().unwrap_or(false),
                });
                out.push(c);
            }
            _ => {}
        }
        let mut frames: Vec<String> =
            out.iter().map(|c| serde_json::to_string(c).unwrap_or_else(|_| "{}".into())).collect();
        if last {
            frames.push("[DONE]".into());
        }
        frames
    }
}
