//! Operations: `/healthz`, `/readyz`, `/metrics`, `GET /v1/bots`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::openapi::{BotList, ErrorEnvelope, Health, Readiness};
use super::{ApiError, AuthedCaller};
use crate::state::AppState;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Up", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({"status": "ok", "uptime_s": state.started.elapsed().as_secs()})).into_response()
}

/// `GET /readyz`: every bot's index is loaded and the store answers (503 otherwise,
/// with the reasons).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Every bot has an index and the store answers", body = Readiness),
        (status = 503, description = "Not ready, with the reasons (see `Retry-After`)", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    let mut bots = serde_json::Map::new();
    for bot in state.bots.iter() {
        let (ready, detail) = match bot.retriever() {
            Ok(r) => (true, serde_json::json!({"ready": true, "generation": r.generation()})),
            Err(why) => (false, serde_json::json!({"ready": false, "reason": why})),
        };
        if !ready {
            problems.push(format!("bot `{}` has no index loaded", bot.config.id));
        }
        bots.insert(bot.config.id.clone(), detail);
    }
    let store_ok = state.store.ping().await.is_ok();
    if !store_ok {
        problems.push("the store is not reachable".into());
    }
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ready" } else { "not_ready" },
        "store": store_ok,
        "bots": bots,
        "problems": problems,
    });
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut res = (status, axum::Json(body)).into_response();
    if status != StatusCode::OK {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    }
    res
}

/// `GET /v1/bots`: the bots this key may use.
#[utoipa::path(
    get,
    path = "/v1/bots",
    tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bots this key may use", body = BotList),
        (status = 401, description = "No key or an invalid key", body = ErrorEnvelope),
    )
)]
pub async fn bots(State(state): State<AppState>, caller: AuthedCaller) -> Result<Response, ApiError> {
    let data: Vec<serde_json::Value> = state
        .bots
        .iter()
        .filter(|b| caller.caller.may_use_bot(&b.config.id))
        .map(|b| {
            serde_json::json!({
                "id": b.config.id,
                "name": b.config.name.clone().unwrap_or_else(|| b.config.id.clone()),
                "generator": b.generator.name(),
                "generation": b.generation(),
                "ready": b.generation().is_some(),
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({"data": data, "has_more": false, "next_cursor": null})).into_response())
}

/// `GET /metrics`: Prometheus / OpenMetrics text (see [`crate::metrics`]). Open like
/// the health checks: it shows counts and latencies, never content or keys; keep the
/// port off the internet or scrape through the proxy's auth.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let generations = state.bots.iter().map(|b| (b.config.id.clone(), b.generation())).collect::<Vec<_>>();
    let body = state.metrics.render(generations);
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}
