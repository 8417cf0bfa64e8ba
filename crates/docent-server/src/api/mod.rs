//! The HTTP surface of `API.md`: the router, the middleware every request passes
//! through (request id, error envelope, body limit, CORS, trace), and the handlers,
//! one module per resource.
//!
//! Useful for: adding a route (put it in its resource's module and in [`router`]).
//! Not for: answering logic (that is [`crate::turn`]) or storage ([`crate::store`]).

mod analytics;
mod caller;
mod chat;
mod conversations;
mod error;
mod extract;
mod feedback;
mod handoff;
mod idempotency;
mod leads;
mod openai;
pub mod openapi;
mod ops;
mod search;
mod sse;
mod webhooks;
mod widget;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use caller::AuthedCaller;
pub use conversations::rfc3339;
pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery, RequestId};
pub use idempotency::{IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_MS, IDEMPOTENT_REPLAYED};

use crate::state::AppState;

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route with its OpenAPI entry: a handler is routed only through here, so it
/// cannot be served without being described.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(chat::chat))
        .routes(routes!(search::search_get, search::search_post))
        .routes(routes!(conversations::create, conversations::list))
        .routes(routes!(conversations::get_one, conversations::delete))
        .routes(routes!(handoff::hand_off, handoff::give_back))
        .routes(routes!(leads::create))
        .routes(routes!(feedback::create))
        .routes(routes!(chat::resume))
        .routes(routes!(openai::models))
        .routes(routes!(openai::chat_completions))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(analytics::unanswered))
        .routes(routes!(analytics::summary))
        .routes(routes!(ops::bots))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(widget::widget_js))
        .routes(routes!(widget::demo))
}

/// The OpenAPI 3.1 description of [`router`] (`GET /v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let body_limit = limits.max_body_bytes;
    let cors = cors_layer(&state);
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // A slow client cannot hold a connection by trickling its body; a handler
        // cannot hold one past the deadline (a stream's body is not bounded: its
        // head is sent first, keep-alives follow).
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout()))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout()))
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_context))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track_http))
        .with_state(state)
}

/// The bot a request names: 400 `missing_field` without a `bot_id`, 404
/// `unknown_bot` for an id no bot has.
pub(crate) fn requested_bot(
    state: &AppState,
    bot_id: Option<&str>,
) -> Result<(String, std::sync::Arc<crate::bots::BotRuntime>), ApiError> {
    let bot_id = bot_id
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::invalid_param("missing_field", "bot_id", "`bot_id` is required"))?;
    let bot =
        state.bot(bot_id).cloned().ok_or_else(|| ApiError::not_found("unknown_bot", format!("no bot `{bot_id}`")))?;
    Ok((bot_id.to_string(), bot))
}

async fn not_found() -> ApiError {
    ApiError::not_found("unknown_route", "no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    let mut e = ApiError::invalid("method_not_allowed", "this route does not take that method");
    e.status = StatusCode::METHOD_NOT_ALLOWED;
    e
}

/// CORS for browsers: the origins allowed by any bot (a public key is checked
/// against its own bot's list again in [`caller`]). Preflights are answered here.
fn cors_layer(state: &AppState) -> CorsLayer {
    let mut origins: Vec<String> = state.config.bots.iter().flat_map(|b| b.allowed_origins.iter().cloned()).collect();
    origins.sort();
    origins.dedup();
    let any = origins.iter().any(|o| o == "*");
    let allow = if any {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::predicate(move |origin: &HeaderValue, _| origins.iter().any(|o| o.as_bytes() == origin.as_bytes()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID.clone(),
            HeaderName::from_static("last-event-id"),
            IDEMPOTENCY_KEY.clone(),
            HeaderName::from_static(openai::CONVERSATION_HEADER),
        ])
        .expose_headers([
            REQUEST_ID.clone(),
            header::RETRY_AFTER,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static(openai::CONVERSATION_HEADER),
            IDEMPOTENT_REPLAYED.clone(),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Count every request in `/metrics` by its route template (`unmatched` for
/// unknown paths, so probing random URLs cannot grow the label set).
async fn track_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let method = req.method().clone();
    let res = next.run(req).await;
    state.metrics.observe_request(&route, method.as_str(), res.status().as_u16(), started.elapsed());
    res
}

/// Request id in, request id out; every error body in the API envelope with that id.
/// Everything logged while handling the request is inside a `request` span carrying
/// the id, the method and the URI with personal data masked ([`crate::pii`]); one
/// `response` line per request records status and latency (the access log).
async fn request_context(State(_state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = extract::sane_request_id(req.headers().get(&REQUEST_ID)).unwrap_or_else(crate::ids::request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let uri = req.uri().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), uri = %crate::pii::mask(&uri));
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    if let Some(error::PendingError(e)) = res.extensions_mut().remove::<error::PendingError>() {
        let headers = res.headers().clone();
        res = e.response_with_id(Some(&id));
        for (name, value) in headers.iter() {
            if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
                res.headers_mut().insert(name.clone(), value.clone());
            }
        }
    } else if (res.status().is_client_error() || res.status().is_server_error())
        && !res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        // A response made below us (body limit, CORS, a panic guard): wrap it.
        let status = res.status();
        let mut e = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large("the request body is larger than the server accepts"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::unsupported_media("send JSON"),
            StatusCode::SERVICE_UNAVAILABLE => {
                ApiError::unavailable("request_timeout", "the request took longer than the server allows", 1)
            }
            StatusCode::REQUEST_TIMEOUT => {
                let mut e = ApiError::invalid("body_timeout", "the request body arrived too slowly");
                e.status = StatusCode::REQUEST_TIMEOUT;
                e
            }
            s if s.is_server_error() => ApiError::internal("layer", &s),
            _ => ApiError::invalid("bad_request", "the request could not be processed"),
        };
        e.status = status;
        res = e.response_with_id(Some(&id));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "response"
        )
    });
    res.into_response()
}
