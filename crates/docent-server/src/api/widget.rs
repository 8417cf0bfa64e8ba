//! The embeddable chat widget (`GET /widget.js`) and a demo page that embeds it
//! (`GET /demo`).
//!
//! The widget is built by `make widget` (`widget/`, esbuild) and read from
//! [`crate::config::WidgetConfig::file`] on each request: small, and a rebuild shows
//! up without a restart. It is served with `Cache-Control`, a content `ETag`
//! (304 on `If-None-Match`) and `Access-Control-Allow-Origin: *`, so pages can pin it
//! with `integrity=` + `crossorigin="anonymous"`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::openapi::ErrorEnvelope;
use super::ApiError;
use crate::state::AppState;

/// How long browsers and CDNs may reuse `/widget.js` before revalidating.
const WIDGET_MAX_AGE: &str = "public, max-age=3600, stale-while-revalidate=86400";

/// The demo page; `{{BOT}}` and `{{KEY}}` are filled in per request.
const DEMO_HTML: &str = include_str!("demo.html");

/// `GET /widget.js`: the built widget.
#[utoipa::path(
    get,
    path = "/widget.js",
    tag = "widget",
    responses(
        (status = 200, description = "The widget script (cacheable, with an ETag)", content_type = "text/javascript"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, description = "The widget has not been built (`make widget`)", body = ErrorEnvelope),
    )
)]
pub async fn widget_js(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let path = &state.config.widget.file;
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "widget file not readable");
            return Err(ApiError::not_found(
                "widget_not_built",
                "the widget is not built on this server: run `make widget`",
            ));
        }
    };
    let hash = blake3::hash(&bytes).to_hex();
    let etag = format!("\"{}\"", &hash[..32]);
    let mut res = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &etag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], bytes).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(WIDGET_MAX_AGE));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// Does an `If-None-Match` value name `etag` (a list, weak tags, or `*`)?
fn etag_matches(value: &HeaderValue, etag: &str) -> bool {
    value
        .to_str()
        .map(|s| s.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag))
        .unwrap_or(false)
}

/// `GET /demo`: a fake page of the sample docs site that embeds the widget with the
/// public key from [`crate::config::ServerConfig::demo_key_file`] (only a `pk_` key is
/// ever put in the page).
#[utoipa::path(
    get,
    path = "/demo",
    tag = "widget",
    responses(
        (status = 200, description = "The demo page", content_type = "text/html"),
        (status = 404, description = "No public demo key is configured (`make run` creates one)", body = ErrorEnvelope),
    )
)]
pub async fn demo(State(state): State<AppState>) -> Result<Response, ApiError> {
    let file = state.config.demo_key_file();
    let key = tokio::fs::read_to_string(&file).await.unwrap_or_default();
    let key = key.trim();
    if !is_public_key(key) {
        if !key.is_empty() {
            tracing::warn!(file = %file.display(), "the demo key file does not hold a public pk_ key; not serving it");
        }
        return Err(ApiError::not_found(
            "demo_not_configured",
            "no public demo key: create one with `docent keys create --public` into data/demo-key.txt (`make run` does)",
        ));
    }
    let bot = &state.config.widget.demo_bot;
    if !bot.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::not_found("demo_not_configured", "the demo bot id is not valid"));
    }
    let page = DEMO_HTML.replace("{{BOT}}", bot).replace("{{KEY}}", key);
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// A `pk_` key made only of characters that are safe inside an HTML attribute.
fn is_public_key(key: &str) -> bool {
    key.strip_prefix("pk_")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_keys_go_into_the_page() {
        assert!(is_public_key("pk_abc123"));
        assert!(!is_public_key("sk_abc123"));
        assert!(!is_public_key("pk_"));
        assert!(!is_public_key("pk_a\"><script>"));
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"abc\"";
        assert!(etag_matches(&HeaderValue::from_static("\"abc\""), tag));
        assert!(etag_matches(&HeaderValue::from_static("\"x\", W/\"abc\""), tag));
        assert!(etag_matches(&HeaderValue::from_static("*"), tag));
        assert!(!etag_matches(&HeaderValue::from_static("\"abd\""), tag));
    }
}
