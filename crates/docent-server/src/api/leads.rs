//! `POST /v1/leads` (scope `chat`): a visitor's contact details, validated by the
//! domain types of [`crate::contact`], stored, and announced as `lead.captured` in
//! the same transaction. Idempotent with `Idempotency-Key`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conversations::{rfc3339, visible};
use super::idempotency::Idempotency;
use super::openapi::ErrorEnvelope;
use super::{ApiError, ApiJson, AuthedCaller};
use crate::contact::{Email, Name, Phone};
use crate::ids;
use crate::state::AppState;
use crate::store::{Lead, NewLead, Store};

/// Body of `POST /v1/leads`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateLead {
    /// The conversation the lead was captured in (its bot is the lead's bot).
    pub conversation_id: Option<String>,
    /// The bot, for a lead captured outside a conversation (with `conversation_id`,
    /// it must be that conversation's bot).
    pub bot_id: Option<String>,
    /// The visitor's name: 1-200 characters, no control characters.
    pub name: Option<String>,
    /// An email address (`name@example.com`). Email or phone is required.
    pub email: Option<String>,
    /// A phone number: optional leading `+`, 7-15 digits; spaces, dots, hyphens and
    /// parentheses are dropped.
    pub phone: Option<String>,
}

/// A stored lead.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadView {
    /// `lead_…`.
    pub id: String,
    /// The bot.
    pub bot_id: String,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// Name, whitespace normalised.
    pub name: Option<String>,
    /// Email, domain lower-cased.
    pub email: Option<String>,
    /// Phone, digits with an optional leading `+`.
    pub phone: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

fn lead_view(l: &Lead) -> LeadView {
    LeadView {
        id: l.id.clone(),
        bot_id: l.bot_id.clone(),
        conversation_id: l.conversation_id.clone(),
        name: l.name.clone(),
        email: l.email.clone(),
        phone: l.phone.clone(),
        created_at: rfc3339(l.created_at),
    }
}

/// An optional text field: absent, null and empty (after trimming) are all "not given".
fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `POST /v1/leads`.
#[utoipa::path(
    post,
    path = "/v1/leads",
    tag = "conversations",
    request_body = CreateLead,
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h replay the first response (`Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 201, description = "The stored lead; `lead.captured` fires", body = LeadView),
        (status = 400, description = "An invalid `email`, `phone` or `name` (`param` names it), neither email nor phone, no conversation or bot", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `chat` scope or the bot, or a public key from another Origin", body = ErrorEnvelope),
        (status = 404, description = "Unknown conversation or bot", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape, or an `Idempotency-Key` used with another body", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateLead>,
) -> Result<Response, ApiError> {
    caller.require_scope("chat")?;
    let (bot_id, conversation, visitor) = match given(body.conversation_id.as_ref()) {
        Some(id) => {
            let c = visible(&state, &caller, id).await?;
            if given(body.bot_id.as_ref()).is_some_and(|b| b != c.bot_id) {
                return Err(ApiError::invalid_param(
                    "conflicting_fields",
                    "bot_id",
                    "`bot_id` is not the bot of `conversation_id`",
                ));
            }
            (c.bot_id, Some(c.id), c.user_id)
        }
        None => match given(body.bot_id.as_ref()) {
            Some(b) => (super::requested_bot(&state, Some(b))?.0, None, None),
            None => {
                return Err(ApiError::invalid_param(
                    "missing_field",
                    "conversation_id",
                    "send the `conversation_id` the lead was captured in (or the `bot_id` of a lead without one)",
                ))
            }
        },
    };
    let rate = caller.authorize(&state, &bot_id, "chat", visitor.as_deref())?;
    let request = serde_json::json!({
        "bot_id": bot_id, "conversation_id": conversation,
        "name": body.name, "email": body.email, "phone": body.phone,
    });
    let idem = Idempotency::new(&headers, &caller, "POST /v1/leads", &request)?;
    if let Some(replayed) = idem.replay(&state.store).await? {
        return Ok((rate, replayed).into_response());
    }
    let name = given(body.name.as_ref())
        .map(Name::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_param("invalid_name", "name", e.0))?;
    let email = given(body.email.as_ref())
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_param("invalid_email", "email", e.0))?;
    let phone = given(body.phone.as_ref())
        .map(Phone::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_param("invalid_phone", "phone", e.0))?;
    if email.is_none() && phone.is_none() {
        return Err(ApiError::invalid_param("missing_contact", "email", "send an `email` or a `phone` (or both)"));
    }
    let id = ids::lead_id();
    let mut tx = state.store.begin_write().await?;
    let lead = Store::insert_lead_in(
        &mut tx,
        &NewLead {
            id: &id,
            bot_id: &bot_id,
            conversation_id: conversation.as_deref(),
            name: name.as_ref().map(Name::as_str),
            email: email.as_ref().map(Email::as_str),
            phone: phone.as_ref().map(Phone::as_str),
        },
    )
    .await?;
    tx.emit(&crate::webhooks::lead_captured(&lead)).await?;
    let out = serde_json::to_value(lead_view(&lead)).map_err(|e| ApiError::internal("lead view", &e))?;
    let response = idem.commit(&state.store, tx, StatusCode::CREATED, out).await?;
    tracing::info!(lead = %lead.id, bot = %bot_id, "lead captured");
    Ok((rate, response).into_response())
}
