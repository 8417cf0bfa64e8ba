//! Request extractors that answer bad input with the API's error envelope.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::api::ApiError;

/// The id of the request (`req_…`, or the client's own sane `X-Request-Id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(crate::ids::request_id())))
    }
}

/// A client's `X-Request-Id` is echoed when it is 1–128 visible ASCII characters of
/// `[A-Za-z0-9._:-]`; anything else is replaced by a generated id.
pub(crate) fn sane_request_id(v: Option<&HeaderValue>) -> Option<String> {
    let s = v?.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)))
        .then(|| s.to_string())
}

/// `axum::Json` with API-shaped rejections: 415 without a JSON content type, 400 for
/// malformed JSON, 422 for JSON of the wrong shape (naming the field), 413 for a body
/// over the limit.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::unsupported_media("send the body as JSON with `Content-Type: application/json`")
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::invalid("invalid_json", format!("malformed JSON: {}", inner(&e.body_text())))
        }
        JsonRejection::JsonDataError(e) => {
            let text = inner(&e.body_text());
            let param = text.split(':').next().filter(|p| !p.contains(' ')).map(str::to_string);
            let mut err = ApiError::unprocessable("invalid_field", format!("unusable JSON: {text}"));
            err.param = param;
            err
        }
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("the request body is larger than the server accepts")
            } else if caused_by_body_timeout(&e) {
                let mut err = ApiError::invalid("body_timeout", "the request body arrived too slowly");
                err.status = StatusCode::REQUEST_TIMEOUT;
                err
            } else {
                ApiError::invalid("unreadable_body", "the request body could not be read")
            }
        }
        other => ApiError::invalid("invalid_body", other.body_text()),
    }
}

/// Whether reading the body failed because the body deadline
/// (`limits.body_timeout_secs`) passed.
fn caused_by_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Axum's texts start with a generic prefix ("Failed to deserialize the JSON body
/// into the target type: "); keep what follows.
fn inner(text: &str) -> String {
    text.split_once(": ").map(|(_, rest)| rest.to_string()).unwrap_or_else(|| text.to_string())
}

/// Query-string extractor with API-shaped 400s.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::invalid("invalid_query", inner(&e.body_text()))),
        }
    }
}

/// A path parameter with an API-shaped 404 (a malformed id is just an unknown one).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::not_found("not_found", inner(&e.body_text())).into_response()),
        }
    }
}
