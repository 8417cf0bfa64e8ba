//! `GET|POST /v1/search`: hybrid search with the score breakdown.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use docent_retrieval::{Filters, SearchMode, SearchRequest, MAX_K};
use serde::Deserialize;
use utoipa::ToSchema;

use super::openapi::{ErrorEnvelope, SearchResults};
use super::{ApiError, ApiJson, ApiQuery, AuthedCaller};
use crate::state::AppState;

/// Parameters of a search (JSON body or query string).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SearchParams {
    /// Bot to search.
    pub bot_id: Option<String>,
    /// The text (plain; never query syntax). `query` is accepted too.
    #[serde(alias = "query")]
    pub q: Option<String>,
    /// Hits wanted (default 5).
    pub k: Option<usize>,
    /// `bm25`, `dense`, `hybrid` (default) or `rerank`.
    #[schema(value_type = Option<crate::api::openapi::SearchModeSchema>)]
    pub mode: Option<SearchMode>,
    /// Only pages under this URL prefix.
    pub url_prefix: Option<String>,
    /// Filters object (POST): `{"url_prefix", "tags"}`.
    #[serde(default)]
    pub filters: Option<super::chat::FiltersIn>,
}

/// `GET /v1/search?bot_id=&q=&k=`.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "knowledge base",
    security(("bearer" = [])),
    params(
        ("bot_id" = String, Query, description = "Bot to search"),
        ("q" = String, Query, description = "Plain text (never parsed as query syntax)"),
        ("k" = Option<usize>, Query, description = "Hits wanted (default 5)"),
        ("mode" = Option<crate::api::openapi::SearchModeSchema>, Query, description = "Retrievers (default hybrid)"),
        ("url_prefix" = Option<String>, Query, description = "Only pages under this URL prefix"),
    ),
    responses(
        (status = 200, description = "Hits with the score breakdown, best first", body = SearchResults),
        (status = 400, description = "Missing `bot_id` or `q`, invalid `k` or `mode`", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
        (status = 503, description = "The bot's index is not loaded", body = ErrorEnvelope),
    )
)]
pub async fn search_get(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    run(state, caller, params).await
}

/// `POST /v1/search`.
#[utoipa::path(
    post,
    path = "/v1/search",
    tag = "knowledge base",
    request_body = SearchParams,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Hits with the score breakdown, best first", body = SearchResults),
        (status = 400, description = "Missing `bot_id` or `q`, invalid `k` or `mode`", body = ErrorEnvelope),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks the scope or the bot", body = ErrorEnvelope),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorEnvelope),
        (status = 404, description = "Unknown bot", body = ErrorEnvelope),
        (status = 503, description = "The bot's index is not loaded", body = ErrorEnvelope),
    )
)]
pub async fn search_post(
    State(state): State<AppState>,
    caller: AuthedCaller,
    ApiJson(params): ApiJson<SearchParams>,
) -> Result<Response, ApiError> {
    run(state, caller, params).await
}

async fn run(state: AppState, caller: AuthedCaller, p: SearchParams) -> Result<Response, ApiError> {
    let (bot_id, bot) = super::requested_bot(&state, p.bot_id.as_deref())?;
    let rate = caller.authorize(&state, &bot_id, "search", None)?;
    let q = p.q.unwrap_or_default().replace('\0', "");
    if q.trim().is_empty() {
        return Err(ApiError::invalid_param("missing_field", "q", "`q` (the search text) is required"));
    }
    if q.chars().count() > state.config.limits.max_message_chars {
        return Err(ApiError::invalid_param("query_too_long", "q", "the search text is too long"));
    }
    let k = p.k.unwrap_or(5);
    if k == 0 || k > MAX_K {
        return Err(ApiError::invalid_param("invalid_k", "k", format!("`k` must be between 1 and {MAX_K}")));
    }
    let retriever = bot.retriever().map_err(|_| {
        ApiError::unavailable("index_unavailable", format!("bot `{bot_id}` is not ready: its index is not loaded"), 5)
    })?;
    let mode = p.mode.unwrap_or(SearchMode::Hybrid);
    if mode == SearchMode::Rerank && retriever.reranker().is_none() {
        return Err(ApiError::invalid_param("no_reranker", "mode", "this bot has no reranker"));
    }
    let mut filters: Filters = p.filters.map(Filters::from).unwrap_or_default();
    if let Some(prefix) = p.url_prefix.filter(|s| !s.is_empty()) {
        filters.url_prefix = Some(prefix);
    }
    let request = SearchRequest::new(q).with_k(k).with_mode(mode).with_filters(filters);
    let response = tokio::task::spawn_blocking(move || retriever.search(&request))
        .await
        .map_err(|e| ApiError::internal("search task", &e))?
        .map_err(|e| ApiError::internal("search", &e))?;
    Ok((
        rate,
        axum::Json(serde_json::json!({
            "bot_id": bot_id,
            "generation": response.generation,
            "mode": response.mode,
            "hits": response.hits,
            "confidence": response.confidence,
            "timings": response.timings,
        })),
    )
        .into_response())
}
