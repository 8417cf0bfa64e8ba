//! `POST /v1/messages/{id}/feedback` (scope `chat`): helpful or not, with an optional
//! comment, on one of the bot's answers. One feedback per message: a later one
//! replaces the earlier (a visitor who changes their mind), and each fires
//! `feedback.received` (with `replaced`). Idempotent with `Idempotency-Key`. The
//! feedback shows on the message in `GET /v1/conversations/{id}`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conversations::rfc3339;
use super::idempotency::Idempotency;
use super::openapi::ErrorEnvelope;
use super::{ApiError, ApiJson, ApiPath, AuthedCaller};
use crate::ids;
use crate::state::AppState;
use crate::store::{Feedback, NewFeedback, Store};

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Body of `POST /v1/messages/{id}/feedback`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// `up` (helpful) or `down` (not helpful).
    pub rating: Option<String>,
    /// Free text, up to 1000 characters.
    pub comment: Option<String>,
}

/// Stored feedback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedbackView {
    /// The rated answer.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// `up` or `down`.
    pub rating: String,
    /// The comment.
    pub comment: Option<String>,
    /// Whether this replaced earlier feedback on the message.
    pub replaced: bool,
    /// RFC 3339: the first feedback on the message.
    pub created_at: String,
    /// RFC 3339: this feedback.
    pub updated_at: String,
}

fn feedback_view(f: &Feedback, replaced: bool) -> FeedbackView {
    FeedbackView {
        message_id: f.message_id.clone(),
        conversation_id: f.conversation_id.clone(),
        rating: f.rating.clone(),
        comment: f.comment.clone(),
        replaced,
        created_at: rfc3339(f.created_at),
        updated_at: rfc3339(f.updated_at),
    }
}

/// `POST /v1/messages/{id}/feedback`.
#[utoipa::path(
    post,
    path = "/v1/messages/{id}/feedback",
    tag = "conversations",
    request_body = FeedbackRequest,
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "`msg_…` of an answer"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h replay the first response (`Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 201, description = "Stored; `feedback.received` fires", body = FeedbackView),
        (status = 200, description = "Stored, replacing earlier feedback on the message; `feedback.received` fires", body = FeedbackView),
        (status = 400, description = "A missing or unknown `rating`, a comment over 1000 characters", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope, or a public key from another Origin", body = ErrorEnvelope),
        (status = 404, description = "Unknown message (or another bot's)", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape, feedback on a visitor's message, or an `Idempotency-Key` used with another body", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FeedbackRequest>,
) -> Result<Response, ApiError> {
    caller.require_scope("chat")?;
    let not_found = || ApiError::not_found("unknown_message", "no such message");
    if !ids::looks_like(&id, "msg") {
        return Err(not_found());
    }
    let message = state.store.message(&id).await?.ok_or_else(not_found)?;
    let conversation = state.store.conversation(&message.conversation_id).await?.ok_or_else(not_found)?;
    if !caller.caller.may_use_bot(&conversation.bot_id) {
        return Err(not_found());
    }
    let rate = caller.authorize(&state, &conversation.bot_id, "chat", conversation.user_id.as_deref())?;
    let request = serde_json::json!({"message_id": id, "rating": body.rating, "comment": body.comment});
    let idem = Idempotency::new(&headers, &caller, "POST /v1/messages/{id}/feedback", &request)?;
    if let Some(replayed) = idem.replay(&state.store).await? {
        return Ok((rate, replayed).into_response());
    }
    let rating = match body.rating.as_deref().map(str::trim) {
        Some(r @ ("up" | "down")) => r,
        None | Some("") => return Err(ApiError::invalid_param("missing_field", "rating", "`rating` is required")),
        Some(_) => return Err(ApiError::invalid_param("invalid_rating", "rating", "`rating` is `up` or `down`")),
    };
    let comment = body.comment.map(|c| c.replace('\0', "").trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(ApiError::invalid_param(
            "comment_too_long",
            "comment",
            format!("`comment` is at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if message.role != "assistant" {
        let mut e = ApiError::unprocessable("not_an_answer", "feedback is for the assistant's answers");
        e.param = Some("id".into());
        return Err(e);
    }
    let mut tx = state.store.begin_write().await?;
    let (stored, replaced) = Store::put_feedback_in(
        &mut tx,
        &NewFeedback {
            message_id: &message.id,
            conversation_id: &conversation.id,
            bot_id: &conversation.bot_id,
            rating,
            comment: comment.as_deref(),
        },
    )
    .await?;
    tx.emit(&crate::webhooks::feedback_received(&stored, replaced)).await?;
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    let out = serde_json::to_value(feedback_view(&stored, replaced)).map_err(|e| ApiError::internal("feedback", &e))?;
    Ok((rate, idem.commit(&state.store, tx, status, out).await?).into_response())
}
