//! `/v1/conversations`: create, list (cursor pages), read with messages (and the
//! feedback on them), delete.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::chat::UserRef;
use super::idempotency::Idempotency;
use super::openapi::{ConversationPage, ConversationView, ConversationWithMessages, Deleted, ErrorEnvelope};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AuthedCaller};
use crate::ids;
use crate::state::AppState;
use crate::store::{conversations_cursor, Conversation, Store, StoreError, WriteTx};

/// Largest page.
const MAX_LIMIT: usize = 100;
/// Default page.
const DEFAULT_LIMIT: usize = 20;

/// Body of `POST /v1/conversations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateConversation {
    /// The bot.
    pub bot_id: Option<String>,
    /// The visitor.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Client metadata.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /v1/conversations`.
#[utoipa::path(
    post,
    path = "/v1/conversations",
    tag = "conversations",
    request_body = CreateConversation,
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h replay the first response (`Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 201, description = "The new conversation", body = ConversationView),
        (status = 400, description = "Missing `bot_id` or malformed JSON", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape, or an `Idempotency-Key` used with another body", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateConversation>,
) -> Result<Response, ApiError> {
    let (bot_id, _) = super::requested_bot(&state, body.bot_id.as_deref())?;
    let user = body.user.and_then(|u| u.id);
    let rate = caller.authorize(&state, &bot_id, "chat", user.as_deref())?;
    let metadata = body.metadata.unwrap_or_else(|| serde_json::json!({}));
    let request = serde_json::json!({"bot_id": bot_id, "user": user, "metadata": metadata});
    let idem = Idempotency::new(&headers, &caller, "POST /v1/conversations", &request)?;
    if let Some(replayed) = idem.replay(&state.store).await? {
        return Ok((rate, replayed).into_response());
    }
    let id = ids::conversation_id();
    let mut tx = state.store.begin_write().await?;
    let c = start_conversation_in(&mut tx, &id, &bot_id, user.as_deref(), &metadata).await?;
    Ok((rate, idem.commit(&state.store, tx, StatusCode::CREATED, view(&c)).await?).into_response())
}

/// Create a conversation and queue its `conversation.started`, inside a transaction.
pub(crate) async fn start_conversation_in(
    tx: &mut WriteTx,
    id: &str,
    bot_id: &str,
    user: Option<&str>,
    metadata: &serde_json::Value,
) -> Result<Conversation, StoreError> {
    let c = Store::create_conversation_in(tx, id, bot_id, user, metadata).await?;
    tx.emit(&crate::webhooks::conversation_started(&c)).await?;
    Ok(c)
}

/// The conversation `id` if this caller may see it: 404 `unknown_conversation` for
/// a malformed or unknown id and for another bot's conversation (no existence leak).
pub(crate) async fn visible(state: &AppState, caller: &AuthedCaller, id: &str) -> Result<Conversation, ApiError> {
    let not_found = || ApiError::not_found("unknown_conversation", "no such conversation");
    if !ids::looks_like(id, "conv") {
        return Err(not_found());
    }
    let c = state.store.conversation(id).await?.ok_or_else(not_found)?;
    if !caller.caller.may_use_bot(&c.bot_id) {
        return Err(not_found());
    }
    Ok(c)
}

pub(crate) fn view(c: &crate::store::Conversation) -> serde_json::Value {
    serde_json::json!({
        "id": c.id,
        "bot_id": c.bot_id,
        "user": {"id": c.user_id},
        "state": c.state,
        "metadata": c.metadata,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// Epoch milliseconds as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Query of `GET /v1/conversations`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListQuery {
    /// Only this bot's.
    pub bot_id: Option<String>,
    /// Only this visitor's.
    pub user_id: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page cursor from the query (`None`: the first page); 400 for one the store did
/// not hand out.
fn cursor_of(cursor: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    cursor
        .map(|c| {
            conversations_cursor(c).ok_or_else(|| ApiError::invalid_param("invalid_cursor", "cursor", "unknown cursor"))
        })
        .transpose()
}

fn limit_of(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => {
            Err(ApiError::invalid_param("invalid_limit", "limit", format!("`limit` must be between 1 and {MAX_LIMIT}")))
        }
    }
}

/// `GET /v1/conversations?bot_id=&user_id=&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("bot_id" = Option<String>, Query, description = "Only this bot's (required when the key serves several bots)"),
        ("user_id" = Option<String>, Query, description = "Only this visitor's"),
        ("limit" = Option<usize>, Query, description = "Page size, 1-100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first", body = ConversationPage),
        (status = 400, description = "Invalid limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require_scope("conversations:read")?;
    let limit = limit_of(q.limit)?;
    let bot = match (&q.bot_id, &caller.caller.key) {
        (Some(b), _) => {
            if !caller.caller.may_use_bot(b) {
                return Err(ApiError::forbidden("bot_not_allowed", format!("this key may not use bot `{b}`")));
            }
            Some(b.clone())
        }
        (None, Some(k)) if k.bots.len() == 1 => k.bots.first().cloned(),
        (None, Some(k)) if !k.bots.is_empty() => {
            return Err(ApiError::invalid_param(
                "missing_field",
                "bot_id",
                "this key serves several bots: name one with `bot_id`",
            ))
        }
        _ => None,
    };
    let cursor = cursor_of(q.cursor.as_deref())?;
    let page = state.store.list_conversations(bot.as_deref(), q.user_id.as_deref(), limit, cursor).await?;
    let data: Vec<serde_json::Value> = page.data.iter().map(view).collect();
    Ok(axum::Json(
        serde_json::json!({"data": data, "has_more": page.next_cursor.is_some(), "next_cursor": page.next_cursor}),
    )
    .into_response())
}

/// Query of `GET /v1/conversations/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesQuery {
    /// Messages per page.
    pub limit: Option<usize>,
    /// Cursor from the previous page of messages.
    pub cursor: Option<String>,
}

/// `GET /v1/conversations/{id}`: the conversation with a page of its messages.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "`conv_…`"),
        ("limit" = Option<usize>, Query, description = "Messages per page, 1-100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page of messages"),
    ),
    responses(
        (status = 200, description = "The conversation and its messages, oldest first", body = ConversationWithMessages),
        (status = 400, description = "Invalid limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 404, description = "Unknown conversation", body = ErrorEnvelope),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Response, ApiError> {
    if !ids::looks_like(&id, "conv") {
        return Err(ApiError::not_found("unknown_conversation", "no such conversation"));
    }
    // A public key reads conversations of its own bot by id (the widget's history
    // after a reload); secret keys need conversations:read.
    if !(caller.caller.is_public() && caller.caller.has_scope("chat")) {
        caller.require_scope("conversations:read")?;
    }
    let c = visible(&state, &caller, &id).await?;
    let limit = limit_of(q.limit)?;
    let after = cursor_of(q.cursor.as_deref())?.map(|c| c.0);
    let page = state.store.messages(&id, limit, after).await?;
    let feedback: std::collections::HashMap<String, crate::store::Feedback> =
        state.store.conversation_feedback(&id).await?.into_iter().map(|f| (f.message_id.clone(), f)).collect();
    let messages: Vec<serde_json::Value> = page
        .data
        .iter()
        .map(|m| {
            let feedback = feedback.get(&m.id).map(
                |f| serde_json::json!({"rating": f.rating, "comment": f.comment, "updated_at": rfc3339(f.updated_at)}),
            );
            serde_json::json!({
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "finish_reason": m.finish_reason,
                "sources": m.sources,
                "citations": m.citations,
                "usage": m.usage,
                "timings": m.timings,
                "feedback": feedback,
                "created_at": rfc3339(m.created_at),
            })
        })
        .collect();
    let mut body = view(&c);
    body["messages"] =
        serde_json::json!({"data": messages, "has_more": page.next_cursor.is_some(), "next_cursor": page.next_cursor});
    Ok(axum::Json(body).into_response())
}

/// `DELETE /v1/conversations/{id}` (admin): the conversation and its messages.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{id}",
    tag = "conversations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`conv_…`")),
    responses(
        (status = 200, description = "Deleted with its messages", body = Deleted),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 404, description = "Unknown conversation", body = ErrorEnvelope),
        (status = 409, description = "A turn is streaming in it", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
    visible(&state, &caller, &id).await?;
    let Some(_turns_blocked) = state.active.try_lock(&id) else {
        return Err(ApiError::conflict(
            "turn_in_progress",
            "a turn is streaming in this conversation; retry when it ends",
        ));
    };
    state.store.delete_conversation(&id).await?;
    Ok(axum::Json(serde_json::json!({"id": id, "deleted": true})).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_796_083_200_123), "2026-12-01T00:00:00.123Z");
    }
}
