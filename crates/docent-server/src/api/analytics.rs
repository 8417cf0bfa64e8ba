//! `/v1/analytics/*` (scope `admin`): the unanswered questions of a bot, grouped by
//! meaning, and a summary of its traffic, over a time range (`from`/`to`, RFC 3339;
//! default: the 30 days up to now).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::openapi::ErrorEnvelope;
use super::{ApiError, ApiQuery, AuthedCaller};
use crate::analytics::{self, AnalyticsError, Summary, UnansweredReport, DEFAULT_SIMILARITY};
use crate::state::AppState;
use crate::store::TimeRange;

/// Query of the analytics routes.
#[derive(Debug, Clone, Deserialize)]
pub struct AnalyticsQuery {
    /// The bot (optional for a key of one bot).
    pub bot_id: Option<String>,
    /// Start of the range, RFC 3339, included (default: 30 days before `to`).
    pub from: Option<String>,
    /// End of the range, RFC 3339, excluded (default: now).
    pub to: Option<String>,
    /// Unanswered only: cosine similarity at which questions share a group (0–1).
    pub similarity: Option<f32>,
}

/// `GET /v1/analytics/unanswered?bot_id=&from=&to=&similarity=`.
#[utoipa::path(
    get,
    path = "/v1/analytics/unanswered",
    tag = "analytics",
    security(("bearer" = [])),
    params(
        ("bot_id" = Option<String>, Query, description = "The bot (optional for a key of one bot)"),
        ("from" = Option<String>, Query, description = "RFC 3339, included (default: 30 days before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339, excluded (default: now)"),
        ("similarity" = Option<f32>, Query, description = "Cosine similarity at which questions share a group (default 0.75)"),
    ),
    responses(
        (status = 200, description = "Questions answered with the fallback, grouped, most asked first", body = UnansweredReport),
        (status = 400, description = "Bad `from`/`to`/`similarity`, or no `bot_id` for a key of several bots", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope or the bot", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
    )
)]
pub async fn unanswered(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let (bot_id, range) = scope(&state, &caller, &q)?;
    let similarity = q.similarity.unwrap_or(DEFAULT_SIMILARITY);
    if !(0.0..=1.0).contains(&similarity) {
        return Err(ApiError::invalid_param(
            "invalid_similarity",
            "similarity",
            "`similarity` must be between 0 and 1",
        ));
    }
    let report = analytics::unanswered(&state.store, state.bots.embedder(), &bot_id, range, similarity)
        .await
        .map_err(internal)?;
    Ok(axum::Json(report).into_response())
}

/// `GET /v1/analytics/summary?bot_id=&from=&to=`.
#[utoipa::path(
    get,
    path = "/v1/analytics/summary",
    tag = "analytics",
    security(("bearer" = [])),
    params(
        ("bot_id" = Option<String>, Query, description = "The bot (optional for a key of one bot)"),
        ("from" = Option<String>, Query, description = "RFC 3339, included (default: 30 days before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339, excluded (default: now)"),
    ),
    responses(
        (status = 200, description = "Conversations, messages, outcomes and their rates, latency percentiles", body = Summary),
        (status = 400, description = "Bad `from`/`to`, or no `bot_id` for a key of several bots", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the `admin` scope or the bot", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let (bot_id, range) = scope(&state, &caller, &q)?;
    let summary = analytics::summary(&state.store, &bot_id, range).await.map_err(internal)?;
    Ok(axum::Json(summary).into_response())
}

/// The admin scope, the bot (a key of one bot may leave it out) and the range.
fn scope(state: &AppState, caller: &AuthedCaller, q: &AnalyticsQuery) -> Result<(String, TimeRange), ApiError> {
    caller.require_scope("admin")?;
    let (bot_id, _) = super::requested_bot(state, caller.bot_or_only(q.bot_id.as_deref()).as_deref())?;
    if !caller.caller.may_use_bot(&bot_id) {
        return Err(ApiError::forbidden("bot_not_allowed", format!("this key may not use bot `{bot_id}`")));
    }
    let range = analytics::time_range(q.from.as_deref(), q.to.as_deref(), crate::store::now_ms())
        .map_err(|e| ApiError::invalid_param(e.code(), e.param(), e.to_string()))?;
    Ok((bot_id, range))
}

fn internal(e: AnalyticsError) -> ApiError {
    match e {
        AnalyticsError::Store(s) => s.into(),
        other => ApiError::internal("analytics", &other),
    }
}
