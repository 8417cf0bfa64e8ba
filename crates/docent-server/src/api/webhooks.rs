//! `/v1/webhooks` (scope `admin`): register an endpoint (its signing secret is
//! returned once), list, delete, and read an endpoint's deliveries with their attempts.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conversations::rfc3339;
use super::idempotency::Idempotency;
use super::openapi::{Deleted, ErrorEnvelope};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AuthedCaller};
use crate::ids;
use crate::state::AppState;
use crate::store::{conversations_cursor, Delivery, NewWebhook, Store, WebhookEndpoint};
use crate::webhooks::{new_secret, validate_events, validate_url};

/// Largest page.
const MAX_LIMIT: usize = 100;
/// Default page.
const DEFAULT_LIMIT: usize = 20;

/// Body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateWebhook {
    /// The bot whose events the endpoint receives (optional for a key of one bot).
    pub bot_id: Option<String>,
    /// `http(s)://…` receiving a POST per event.
    pub url: Option<String>,
    /// Event types: `conversation.started`, `message.unanswered`,
    /// `conversation.handoff`, `lead.captured`, `feedback.received`, `index.updated`.
    pub events: Option<Vec<String>>,
}

/// A registered endpoint (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// `wh_…`.
    pub id: String,
    /// The bot.
    pub bot_id: String,
    /// Where events go.
    pub url: String,
    /// Event types it receives.
    pub events: Vec<String>,
    /// `api` or `config` (defined in `docent.toml`; change it there).
    pub origin: String,
    /// A config endpoint no longer in the file.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// The answer of `POST /v1/webhooks`: the endpoint and, this once, its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookCreated {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// `whsec_…`: verify `webhook-signature` with it. Shown only here.
    pub secret: String,
}

/// A page of endpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookPage {
    /// This page, newest first.
    pub data: Vec<WebhookView>,
    /// More after this page.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1-based.
    pub attempt: i64,
    /// RFC 3339.
    pub started_at: String,
    /// How long the request took.
    pub duration_ms: i64,
    /// The receiver's status, when it answered.
    pub status: Option<i64>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
}

/// An event's delivery to this endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `evt_…` (the `webhook-id` header).
    pub event_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts started.
    pub attempts: i64,
    /// RFC 3339: when a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    /// Status of the last answer.
    pub last_status: Option<i64>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Recorded attempts, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

/// A page of deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// This page, newest first.
    pub data: Vec<DeliveryView>,
    /// More after this page.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

fn view(w: &WebhookEndpoint) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        bot_id: w.bot_id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        origin: w.origin.clone(),
        disabled: w.disabled,
        created_at: rfc3339(w.created_at),
    }
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    let pending = d.state == crate::store::DeliveryState::Pending;
    DeliveryView {
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: serde_json::to_value(d.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        attempts: d.attempts,
        next_attempt_at: pending.then(|| rfc3339(d.next_attempt_at)),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: rfc3339(d.created_at),
        updated_at: rfc3339(d.updated_at),
        attempt_log: d
            .attempt_log
            .iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                started_at: rfc3339(a.started_at),
                duration_ms: a.duration_ms,
                status: a.status,
                error: a.error.clone(),
            })
            .collect(),
    }
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

fn cursor_of(cursor: &Option<String>) -> Result<Option<(i64, String)>, ApiError> {
    match cursor {
        Some(c) => Ok(Some(
            conversations_cursor(c)
                .ok_or_else(|| ApiError::invalid_param("invalid_cursor", "cursor", "unknown cursor"))?,
        )),
        None => Ok(None),
    }
}

/// `POST /v1/webhooks`.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = CreateWebhook,
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h replay the first response, secret included (`Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_reused`"),
    ),
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown only now)", body = WebhookCreated),
        (status = 400, description = "Missing field, a URL that is not http(s), an unknown event", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope or the bot", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "JSON of the wrong shape, or an `Idempotency-Key` used with another body", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthedCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
    let request = serde_json::json!({"bot_id": body.bot_id, "url": body.url, "events": body.events});
    let idem = Idempotency::new(&headers, &caller, "POST /v1/webhooks", &request)?;
    if let Some(replayed) = idem.replay(&state.store).await? {
        return Ok(replayed);
    }
    // A key of exactly one bot may leave `bot_id` out (API.md's `{"url","events"}`).
    let bot_id = caller
        .bot_or_only(body.bot_id.as_deref())
        .ok_or_else(|| ApiError::invalid_param("missing_field", "bot_id", "`bot_id` is required"))?;
    if !caller.caller.may_use_bot(&bot_id) {
        return Err(ApiError::forbidden("bot_not_allowed", format!("this key may not use bot `{bot_id}`")));
    }
    if state.bot(&bot_id).is_none() {
        return Err(ApiError::not_found("unknown_bot", format!("no bot `{bot_id}`")));
    }
    let url = body
        .url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::invalid_param("missing_field", "url", "`url` is required"))?;
    validate_url(&url).map_err(|m| ApiError::invalid_param("invalid_url", "url", m))?;
    let events =
        body.events.ok_or_else(|| ApiError::invalid_param("missing_field", "events", "`events` is required"))?;
    let events = validate_events(&events).map_err(|m| ApiError::invalid_param("invalid_event", "events", m))?;
    let id = ids::webhook_id();
    let secret = new_secret();
    let mut tx = state.store.begin_write().await?;
    let w = Store::create_webhook_in(
        &mut tx,
        &NewWebhook { id: &id, bot_id: &bot_id, url: &url, events: &events, secret: &secret, origin: "api" },
    )
    .await?;
    let created = serde_json::to_value(WebhookCreated { endpoint: view(&w), secret })
        .map_err(|e| ApiError::internal("webhook view", &e))?;
    let response = idem.commit(&state.store, tx, StatusCode::CREATED, created).await?;
    tracing::info!(webhook = %w.id, bot = %bot_id, "webhook endpoint registered");
    Ok(response)
}

/// Query of `GET /v1/webhooks`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListQuery {
    /// Only this bot's.
    pub bot_id: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/webhooks?bot_id=&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("bot_id" = Option<String>, Query, description = "Only this bot's (required when the key serves several bots)"),
        ("limit" = Option<usize>, Query, description = "Page size, 1-100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first, without secrets", body = WebhookPage),
        (status = 400, description = "Invalid limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope or the bot", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
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
    let page = state.store.list_webhooks(bot.as_deref(), limit, cursor_of(&q.cursor)?).await?;
    Ok(axum::Json(WebhookPage {
        data: page.data.iter().map(view).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// The endpoint `id` if this caller may see it (404 otherwise: no existence leak).
async fn visible(state: &AppState, caller: &AuthedCaller, id: &str) -> Result<WebhookEndpoint, ApiError> {
    let not_found = || ApiError::not_found("unknown_webhook", "no such webhook endpoint");
    if !ids::looks_like(id, "wh") {
        return Err(not_found());
    }
    let w = state.store.webhook(id).await?.ok_or_else(not_found)?;
    if !caller.caller.may_use_bot(&w.bot_id) {
        return Err(not_found());
    }
    Ok(w)
}

/// `DELETE /v1/webhooks/{id}`: the endpoint, its pending deliveries and their log.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`wh_…`")),
    responses(
        (status = 200, description = "Deleted with its deliveries", body = Deleted),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope", body = ErrorEnvelope),
        (status = 404, description = "Unknown endpoint", body = ErrorEnvelope),
        (status = 409, description = "Defined in `docent.toml`: remove it there", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
    let w = visible(&state, &caller, &id).await?;
    if w.origin == "config" {
        return Err(ApiError::conflict(
            "config_webhook",
            "this endpoint is defined in the configuration file; remove it there and restart",
        ));
    }
    state.store.delete_webhook(&id).await?;
    Ok(axum::Json(serde_json::json!({"id": id, "deleted": true})).into_response())
}

/// Query of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliveriesQuery {
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "`wh_…`"),
        ("limit" = Option<usize>, Query, description = "Page size, 1-100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Deliveries with their attempts", body = DeliveryPage),
        (status = 400, description = "Invalid limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope", body = ErrorEnvelope),
        (status = 404, description = "Unknown endpoint", body = ErrorEnvelope),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Response, ApiError> {
    caller.require_scope("admin")?;
    let limit = limit_of(q.limit)?;
    let cursor = cursor_of(&q.cursor)?;
    visible(&state, &caller, &id).await?;
    let page = state.store.deliveries(&id, limit, cursor).await?;
    Ok(axum::Json(DeliveryPage {
        data: page.data.iter().map(delivery_view).collect(),
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}
