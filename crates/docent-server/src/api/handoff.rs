//! `POST /v1/conversations/{id}/handoff` (a visitor or backend asks for a person:
//! scope `chat`, so a widget's `pk_` key may) and `DELETE
//! /v1/conversations/{id}/handoff` (scope `admin`: the conversation goes back to the
//! bot). While handed off, `/v1/chat` answers 409 `conversation_handed_off` in it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::conversations::{view, visible};
use super::openapi::{ConversationView, ErrorEnvelope};
use super::{ApiError, ApiJson, ApiPath, AuthedCaller};
use crate::state::AppState;
use crate::webhooks::HandoffTrigger;

/// Longest `reason`, in characters.
const MAX_REASON_CHARS: usize = 500;

/// Body of `POST /v1/conversations/{id}/handoff`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct HandoffRequest {
    /// Why a person is wanted (up to 500 characters); sent in `conversation.handoff`.
    pub reason: Option<String>,
}

/// The 409 of a chat in a handed-off conversation.
pub(crate) fn handed_off() -> ApiError {
    ApiError::conflict(
        "conversation_handed_off",
        "this conversation was handed to a person, who will reply; the assistant answers again once it is given back",
    )
}

/// `POST /v1/conversations/{id}/handoff`.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/handoff",
    tag = "conversations",
    request_body = HandoffRequest,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`conv_…`")),
    responses(
        (status = 200, description = "The conversation, now `state: \"handoff\"` (`conversation.handoff` fires once: asking again changes nothing)", body = ConversationView),
        (status = 400, description = "A reason longer than 500 characters, or malformed JSON", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope, or a public key from another Origin", body = ErrorEnvelope),
        (status = 404, description = "Unknown conversation (or another bot's)", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
    )
)]
pub async fn hand_off(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<HandoffRequest>,
) -> Result<Response, ApiError> {
    caller.require_scope("chat")?;
    let c = visible(&state, &caller, &id).await?;
    let rate = caller.authorize(&state, &c.bot_id, "chat", c.user_id.as_deref())?;
    let reason = body.reason.map(|r| r.replace('\0', "").trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::invalid_param(
            "reason_too_long",
            "reason",
            format!("`reason` is at most {MAX_REASON_CHARS} characters"),
        ));
    }
    let mut tx = state.store.begin_write().await?;
    let changed = crate::handoff::hand_off_in(&mut tx, &c.id, reason.as_deref(), HandoffTrigger::Api).await?;
    tx.commit().await?;
    let c = match changed {
        Some(c) => {
            tracing::info!(conversation = %c.id, bot = %c.bot_id, "conversation handed off");
            c
        }
        // Already handed off: the state as it is.
        None => state
            .store
            .conversation(&c.id)
            .await?
            .ok_or_else(|| ApiError::not_found("unknown_conversation", "no such conversation"))?,
    };
    Ok((rate, axum::Json(view(&c))).into_response())
}

/// `DELETE /v1/conversations/{id}/handoff` (admin): give the conversation back to the bot.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{id}/handoff",
    tag = "conversations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`conv_…`")),
    responses(
        (status = 200, description = "The conversation, now `state: \"open\"` (also when it was not handed off)", body = ConversationView),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope", body = ErrorEnvelope),
        (status = 404, description = "Unknown conversation (or another bot's)", body = ErrorEnvelope),
    )
)]
pub async fn give_back(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
    let c = visible(&state, &caller, &id).await?;
    let c = match crate::handoff::give_back(&state.store, &c.id).await? {
        Some(c) => {
            tracing::info!(conversation = %c.id, bot = %c.bot_id, "conversation given back to the bot");
            c
        }
        None => c,
    };
    Ok(axum::Json(view(&c)).into_response())
}
