//! `POST /v1/chat` (blocking JSON or SSE) and the resume route
//! `GET /v1/conversations/{id}/messages/{message_id}/events`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use docent_answer::{Role, Turn};
use docent_retrieval::Filters;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::openapi::{ChatStreamEvent, ErrorEnvelope};
use super::sse::{frames_response, replay_and_follow};
use super::{ApiError, ApiJson, ApiPath, AuthedCaller, RequestId};
use crate::bots::BotRuntime;
use crate::ids;
use crate::state::AppState;
use crate::store::{ConversationState, MessageStatus, NewMessage, OwnedNewMessage, Store};
use crate::turn::{run_turn, FinalState, Frame, TurnInput};

/// Earlier turns given to retrieval and the generator.
const HISTORY_MESSAGES: usize = 10;

/// A visitor's identity as the client knows it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UserRef {
    /// The client's id for the visitor.
    pub id: Option<String>,
}

/// Retrieval filters of a chat turn.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FiltersIn {
    /// Only pages under this URL prefix.
    pub url_prefix: Option<String>,
    /// Only chunks with one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<FiltersIn> for Filters {
    fn from(f: FiltersIn) -> Self {
        Filters { url_prefix: f.url_prefix.filter(|p| !p.is_empty()), tags: f.tags }
    }
}

/// A client-managed history entry.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct InMessage {
    /// `user` or `assistant`.
    #[schema(value_type = crate::api::openapi::RoleSchema)]
    pub role: Role,
    /// Text.
    pub content: String,
}

/// The body of `POST /v1/chat`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// Bot to ask.
    pub bot_id: Option<String>,
    /// The visitor's message (server-managed history).
    pub message: Option<String>,
    /// The whole history, last one from the user (client-managed history).
    pub messages: Option<Vec<InMessage>>,
    /// Conversation to continue; absent or null starts one.
    pub conversation_id: Option<String>,
    /// Stream over SSE.
    pub stream: Option<bool>,
    /// The visitor.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Retrieval filters.
    #[serde(default)]
    pub filters: Option<FiltersIn>,
    /// Client metadata (page URL, …), stored with a new conversation.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Text the store can hold everywhere: NUL characters removed (PostgreSQL TEXT
/// refuses them), surrounding whitespace trimmed.
pub(super) fn clean(text: &str) -> String {
    text.replace('\0', "").trim().to_string()
}

fn wants_stream(body: &ChatRequest, headers: &HeaderMap) -> bool {
    body.stream == Some(true)
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.split(',').any(|p| p.trim().starts_with("text/event-stream")))
}

/// `POST /v1/chat`.
#[utoipa::path(
    post,
    path = "/v1/chat",
    tag = "chat",
    request_body = ChatRequest,
    security(("bearer" = [])),
    responses(
        (status = 200,
         description = "The answer. Blocking: the final state as JSON. Streaming (`\"stream\": true` or                         `Accept: text/event-stream`): Server-Sent Events, one `ChatStreamEvent` per frame's `data:`,                         `event:` repeating its `type`, a monotonic `id:`, `: ping` comments while idle.",
         content((FinalState = "application/json"), (ChatStreamEvent = "text/event-stream")),
         headers(
             ("X-Request-Id" = String, description = "The request id"),
             ("X-RateLimit-Limit" = u32, description = "Bucket size"),
             ("X-RateLimit-Remaining" = u32, description = "Requests left now"),
             ("X-RateLimit-Reset" = u64, description = "Seconds until one more request is allowed"),
         )),
        (status = 400, description = "Malformed JSON, missing or conflicting fields, an empty or too long message", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope or this bot, or a public key from another Origin", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot or conversation", body = ErrorEnvelope),
        (status = 409, description = "A turn is already streaming in this conversation (`turn_in_progress`), or it was handed to a person (`conversation_handed_off`: the bot answers again once an admin gives it back)", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than the server accepts", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 503, description = "Overloaded, index not loaded, or the request deadline passed (see `Retry-After`)", body = ErrorEnvelope),
        (status = 504, description = "The LLM upstream timed out (blocking mode)", body = ErrorEnvelope),
    )
)]
pub async fn chat(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let (bot_id, bot) = super::requested_bot(&state, body.bot_id.as_deref())?;
    let visitor = body.user.as_ref().and_then(|u| u.id.clone());
    let rate = caller.authorize(&state, &bot_id, "chat", visitor.as_deref())?;

    // Exactly one way of giving the history.
    let (question, client_history) = match (&body.message, &body.messages) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_param(
                "conflicting_fields",
                "messages",
                "send `message` or `messages`, not both",
            ))
        }
        (None, None) => return Err(ApiError::invalid_param("missing_field", "message", "`message` is required")),
        (Some(m), None) => (clean(m), None),
        (None, Some(list)) => {
            if body.conversation_id.is_some() {
                return Err(ApiError::invalid_param(
                    "conflicting_fields",
                    "conversation_id",
                    "`messages` carries its own history; do not send `conversation_id` with it",
                ));
            }
            let Some((last, earlier)) = list.split_last() else {
                return Err(ApiError::invalid_param("missing_field", "messages", "`messages` is empty"));
            };
            if last.role != Role::User {
                return Err(ApiError::invalid_param(
                    "invalid_messages",
                    "messages",
                    "the last message must be the user's",
                ));
            }
            let history: Vec<Turn> =
                earlier.iter().map(|m| Turn { role: m.role, content: clean(&m.content) }).collect();
            (clean(&last.content), Some(history))
        }
    };
    let started = start_turn(
        &state,
        TurnRequest {
            bot_id,
            bot,
            request_id,
            question,
            question_param: "message",
            client_history,
            conversation_id: body.conversation_id.clone(),
            visitor,
            metadata: body.metadata.clone(),
            filters: body.filters.clone().map(Filters::from).unwrap_or_default(),
        },
    )
    .await?;
    let rx = started.frames;

    if wants_stream(&body, &headers) {
        let keepalive = std::time::Duration::from_secs(state.config.limits.keepalive_secs);
        return Ok((rate, frames_response(rx, keepalive, state.metrics.stream_opened())).into_response());
    }
    // Blocking: wait for the final frame.
    let value = final_state(rx).await?;
    Ok((rate, axum::Json(value)).into_response())
}

/// A turn to start, as `/v1/chat` and `/v1/chat/completions` both describe it once
/// their request is parsed and the caller authorised.
pub(super) struct TurnRequest {
    /// The bot (already looked up).
    pub bot_id: String,
    /// Its runtime.
    pub bot: Arc<BotRuntime>,
    /// Request id.
    pub request_id: String,
    /// The visitor's message, cleaned ([`clean`]).
    pub question: String,
    /// The request field that carries the question (in 400s about it).
    pub question_param: &'static str,
    /// Client-managed history; `None` reads the stored conversation's.
    pub client_history: Option<Vec<Turn>>,
    /// Conversation to continue; `None` starts one.
    pub conversation_id: Option<String>,
    /// The visitor's id.
    pub visitor: Option<String>,
    /// Client metadata stored with a new conversation.
    pub metadata: Option<serde_json::Value>,
    /// Retrieval filters.
    pub filters: Filters,
}

/// A turn that runs: its ids and its frames.
pub(super) struct StartedTurn {
    /// `conv_…` (continued or new).
    pub conversation_id: String,
    /// `msg_…` of the answer.
    pub message_id: String,
    /// The turn's frames; dropping the receiver cancels the turn.
    pub frames: mpsc::Receiver<Frame>,
}

/// Check the question, find or start the conversation, take its lock and a turn
/// permit, store the user message and the streaming answer, and spawn the turn.
pub(super) async fn start_turn(state: &AppState, t: TurnRequest) -> Result<StartedTurn, ApiError> {
    let TurnRequest {
        bot_id,
        bot,
        request_id,
        question,
        question_param,
        client_history,
        conversation_id,
        visitor,
        metadata,
        filters,
    } = t;
    if question.is_empty() {
        return Err(ApiError::invalid_param("empty_message", question_param, "the message is empty"));
    }
    let max = state.config.limits.max_message_chars;
    if question.chars().count() > max {
        return Err(ApiError::invalid_param(
            "message_too_long",
            question_param,
            format!("the message is longer than {max} characters"),
        ));
    }
    if let Err(why) = bot.retriever() {
        tracing::warn!(bot = %bot_id, reason = %why, "chat refused: index not available");
        return Err(ApiError::unavailable(
            "index_unavailable",
            format!("bot `{bot_id}` is not ready: its index is not loaded"),
            5,
        ));
    }

    // The conversation: continue one, or start one (written below, with the messages).
    let (conversation_id, new_conversation) = match &conversation_id {
        Some(id) => {
            let found = if ids::looks_like(id, "conv") { state.store.conversation(id).await? } else { None };
            match found {
                Some(c) if c.bot_id == bot_id && c.state == ConversationState::Handoff => {
                    return Err(super::handoff::handed_off())
                }
                Some(c) if c.bot_id == bot_id => (c.id, None),
                _ => {
                    return Err(ApiError::not_found(
                        "unknown_conversation",
                        format!("no conversation `{id}` for bot `{bot_id}`"),
                    ))
                }
            }
        }
        None => (ids::conversation_id(), Some(metadata.unwrap_or_else(|| serde_json::json!({})))),
    };
    let Some(lock) = state.active.try_lock(&conversation_id) else {
        return Err(ApiError::conflict("turn_in_progress", "a turn is already streaming in this conversation"));
    };
    let Ok(permit) = state.turns.clone().try_acquire_owned() else {
        return Err(ApiError::unavailable("overloaded", "too many answers in progress; retry shortly", 1));
    };
    let history = match client_history {
        Some(h) => h,
        None if new_conversation.is_some() => Vec::new(),
        None => state
            .store
            .recent_messages(&conversation_id, HISTORY_MESSAGES)
            .await?
            .into_iter()
            .filter(|m| !m.content.is_empty())
            .map(|m| Turn { role: if m.role == "user" { Role::User } else { Role::Assistant }, content: m.content })
            .collect(),
    };
    // A new conversation (with its `conversation.started` event), the visitor's
    // message and the answer about to stream, in one transaction.
    let user_msg = ids::message_id();
    let message_id = ids::message_id();
    let new_message = |id: &str, role: &str, content: &str, status| OwnedNewMessage {
        id: id.to_string(),
        conversation_id: conversation_id.clone(),
        role: role.to_string(),
        content: content.to_string(),
        status,
        request_id: Some(request_id.clone()),
    };
    let messages = [
        new_message(&user_msg, "user", &question, MessageStatus::Complete),
        new_message(&message_id, "assistant", "", MessageStatus::Streaming),
    ];
    let (job_conversation, job_bot, job_visitor) = (conversation_id.clone(), bot_id.clone(), visitor.clone());
    state
        .store
        .transact(move |tx| {
            Box::pin(async move {
                if let Some(metadata) = &new_conversation {
                    let visitor = job_visitor.as_deref();
                    super::conversations::start_conversation_in(tx, &job_conversation, &job_bot, visitor, metadata)
                        .await?;
                }
                let views: Vec<NewMessage<'_>> = messages.iter().map(OwnedNewMessage::view).collect();
                Store::insert_messages_in(tx, &views).await?;
                Ok(())
            })
        })
        .await?;

    let input = TurnInput {
        bot,
        conversation_id: conversation_id.clone(),
        message_id: message_id.clone(),
        request_id,
        question,
        history,
        filters,
        metrics: state.metrics.clone(),
        cache: state.answer_cache.clone(),
    };
    let (tx, rx) = mpsc::channel(64);
    let (store, live) = (state.store.clone(), state.live.clone());
    tokio::spawn(run_turn(store, live, input, tx, (lock, permit)));
    Ok(StartedTurn { conversation_id, message_id, frames: rx })
}

/// Wait for a turn's final state (the `done` frame without its `type`); an `error`
/// frame becomes the matching [`ApiError`] (nothing has been sent yet).
pub(super) async fn final_state(mut rx: mpsc::Receiver<Frame>) -> Result<serde_json::Value, ApiError> {
    while let Some(frame) = rx.recv().await {
        match frame.event.as_str() {
            "done" => {
                let mut value: serde_json::Value =
                    serde_json::from_str(&frame.data).map_err(|e| ApiError::internal("done frame", &e))?;
                if let Some(map) = value.as_object_mut() {
                    map.remove("type");
                }
                return Ok(value);
            }
            "error" => {
                let value: serde_json::Value = serde_json::from_str(&frame.data).unwrap_or_default();
                let code = value["error"]["code"].as_str().unwrap_or("");
                let message = value["error"]["message"].as_str().unwrap_or("the answer failed").to_string();
                return Err(match code {
                    "upstream_timeout" => {
                        let mut e = ApiError::unavailable("upstream_timeout", message, 5);
                        e.status = axum::http::StatusCode::GATEWAY_TIMEOUT;
                        e
                    }
                    "index_unavailable" => ApiError::unavailable("index_unavailable", message, 5),
                    // The LLM failed before an answer could be given: say why (the message
                    // names the cause, secrets already scrubbed), as the error frame does;
                    // 503 + Retry-After when trying again later may work.
                    code @ ("upstream_error" | "upstream_protocol_error") => {
                        let code = if code == "upstream_error" { "upstream_error" } else { "upstream_protocol_error" };
                        let mut e = ApiError::unavailable(code, message, 5);
                        e.kind = "upstream_error";
                        if value["error"]["retryable"] != serde_json::Value::Bool(true) {
                            e.status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                            e.retry_after = None;
                        }
                        e
                    }
                    _ => {
                        let mut e = ApiError::internal("turn", &message);
                        e.code = "answer_failed";
                        e
                    }
                });
            }
            _ => {}
        }
    }
    Err(ApiError::internal("turn", &"the answer ended without a final frame"))
}

/// `GET /v1/conversations/{id}/messages/{message_id}/events` with `Last-Event-ID`:
/// the frames after that id, then the live ones if the turn is still running.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}/messages/{message_id}/events",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "`conv_…`"),
        ("message_id" = String, Path, description = "`msg_…` of the answer (from its `start` frame)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Replay the frames after this id (0 or absent: all)"),
    ),
    responses(
        (status = 200, description = "The frames after `Last-Event-ID`, then live ones while the turn runs", content((ChatStreamEvent = "text/event-stream"))),
        (status = 400, description = "`Last-Event-ID` is not a number", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key may not read this bot's conversations", body = ErrorEnvelope),
        (status = 404, description = "No such message in this conversation", body = ErrorEnvelope),
        (status = 429, description = "Rate limited", body = ErrorEnvelope),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiPath((conversation_id, message_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("unknown_message", "no such message in this conversation");
    if !ids::looks_like(&conversation_id, "conv") || !ids::looks_like(&message_id, "msg") {
        return Err(not_found());
    }
    let conversation = state.store.conversation(&conversation_id).await?.ok_or_else(not_found)?;
    let scope = if caller.caller.has_scope("conversations:read") { "conversations:read" } else { "chat" };
    let rate = caller.authorize(&state, &conversation.bot_id, scope, None)?;
    let message = state.store.message(&message_id).await?.filter(|m| m.conversation_id == conversation_id);
    let message = message.ok_or_else(not_found)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.trim().parse::<u64>().map_err(|_| {
                ApiError::invalid_param("invalid_last_event_id", "Last-Event-ID", "must be a frame id (a number)")
            })
        })
        .transpose()?
        .unwrap_or(0);
    let keepalive = std::time::Duration::from_secs(state.config.limits.keepalive_secs);
    if let Some(live) = state.live.get(&message.id) {
        return Ok((rate, replay_and_follow(live, after, keepalive, state.metrics.stream_opened())).into_response());
    }
    let frames = state.store.events_after(&message.id, after).await?;
    let (tx, rx) = mpsc::channel(frames.len().max(1));
    for f in frames {
        let _ = tx.try_send(f);
    }
    drop(tx);
    Ok((rate, frames_response(rx, keepalive, state.metrics.stream_opened())).into_response())
}
