//! The API's error envelope (OpenAI-shaped, so SDKs parse it) and its statuses.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// An error answered before the first byte of a response.
///
/// Serialised as `{"error":{"type","code","message","param","request_id"}}` with the
/// matching status. The request id is filled in by the request-id middleware (it
/// sees every response), so handlers never thread it through.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `conflict_error`, `rate_limit_error`, `server_error`, …
    pub kind: &'static str,
    /// Stable machine code (`missing_field`, `invalid_api_key`, …).
    pub code: &'static str,
    /// Human-readable, safe to show; never a stack trace or a secret.
    pub message: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    message: &'a str,
    param: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// Marker in response extensions: this response is an [`ApiError`] whose body still
/// needs the request id (set by the middleware).
#[derive(Debug, Clone)]
pub(crate) struct PendingError(pub ApiError);

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, kind, code, message: message.into(), param: None, retry_after: None }
    }

    /// 400: the request is malformed or a field is invalid.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
    }

    /// 400 naming the field at fault.
    pub fn invalid_param(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::invalid(code, message);
        e.param = Some(param.to_string());
        e
    }

    /// 401: no key or an unknown/revoked key.
    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", code, message)
    }

    /// 403: the key may not do this (scope, bot, origin).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", code, message)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", code, message)
    }

    /// 409: a turn is already streaming in this conversation.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict_error", code, message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large", message)
    }

    /// 415.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error", "unsupported_media_type", message)
    }

    /// 422: well-formed JSON that cannot be used (wrong types, unknown enum values).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", code, message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limited",
            format!("too many requests; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", code, message);
        e.retry_after = Some(retry_after);
        e
    }

    /// 500: logged in full, answered without details.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            "internal error; see the server log",
        )
    }

    /// The JSON body with `request_id`.
    pub fn body(&self, request_id: Option<&str>) -> String {
        let env = Envelope {
            error: Body {
                kind: self.kind,
                code: self.code,
                message: &self.message,
                param: self.param.as_deref(),
                request_id,
            },
        };
        serde_json::to_string(&env).unwrap_or_else(|_| "{\"error\":{\"type\":\"server_error\"}}".into())
    }

    /// The response with a given request id (the middleware's path).
    pub(crate) fn response_with_id(&self, request_id: Option<&str>) -> Response {
        let mut res = (self.status, [(axum::http::header::CONTENT_TYPE, "application/json")], self.body(request_id))
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.response_with_id(None);
        res.extensions_mut().insert(PendingError(self));
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal("store", &e)
    }
}
