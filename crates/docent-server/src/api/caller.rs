//! Authentication and authorisation of a request: the bearer key, its scopes, its
//! bots, the Origin of a public key, and the rate limit.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::api::ApiError;
use crate::auth::{verify_key, Caller};
use crate::ratelimit::RateHeaders;
use crate::state::AppState;

/// The authenticated caller of a request (extractor). 401 without a valid key when
/// auth is required; a public key must come with an allowed `Origin`.
#[derive(Debug, Clone)]
pub struct AuthedCaller {
    /// Who.
    pub caller: Caller,
    /// The request's `Origin`, if any.
    pub origin: Option<String>,
    /// The client's address (rate-limit key of anonymous visitors).
    pub peer: Option<std::net::SocketAddr>,
}

impl FromRequestParts<AppState> for AuthedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let origin = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        let presented = match parts.headers.get(header::AUTHORIZATION) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|text| text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")))
                .map(|token| Some(token.trim().to_string()))
                .ok_or_else(bad_header),
        };
        if !state.config.auth.required {
            return Ok(AuthedCaller { caller: Caller::open(), origin, peer });
        }
        let ip = peer.map(|p| p.ip());
        if let Some(wait) = ip.and_then(|ip| state.auth_failures.blocked_for(ip)) {
            return Err(ApiError::rate_limited(wait));
        }
        let refuse = |e: ApiError| {
            state.metrics.auth_failed();
            match ip.and_then(|ip| state.auth_failures.failed(ip)) {
                Some(wait) => ApiError::rate_limited(wait),
                None => e,
            }
        };
        let presented = presented.map_err(refuse)?;
        let Some(token) = presented else {
            return Err(refuse(ApiError::unauthenticated(
                "missing_api_key",
                "send an API key as `Authorization: Bearer <key>`",
            )));
        };
        let Some(record) = verify_key(&state.store, &token).await? else {
            return Err(refuse(ApiError::unauthenticated("invalid_api_key", "the API key is unknown or revoked")));
        };
        let caller = Caller { key: Some(record) };
        if caller.is_public() {
            let bot = caller.key.as_ref().and_then(|k| k.bots.first()).and_then(|b| state.bot(b));
            let key_origins = caller.key.as_ref().map(|k| k.origins.as_slice()).unwrap_or_default();
            let allowed = match (&origin, bot) {
                (Some(o), Some(bot)) => {
                    bot.config.allowed_origins.iter().chain(key_origins).any(|a| a == "*" || a == o)
                }
                // Browsers send no Origin on a same-origin GET (the widget's history
                // read from a page served by this host): `Sec-Fetch-Site`, which page
                // scripts cannot set, vouches for it, and the Host must be allowed.
                (None, Some(bot)) => same_origin_host(parts).is_some_and(|host| {
                    bot.config.allowed_origins.iter().chain(key_origins).any(|a| a == "*" || authority(a) == host)
                }),
                _ => false,
            };
            if !allowed {
                return Err(ApiError::forbidden(
                    "origin_not_allowed",
                    "this public key may only be used from the bot's allowed origins",
                ));
            }
        }
        if let Some(k) = &caller.key {
            let (store, id) = (state.store.clone(), k.id.clone());
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(&id).await {
                    tracing::debug!(error = %e, "could not record key use");
                }
            });
        }
        Ok(AuthedCaller { caller, origin, peer })
    }
}

/// The `Host` of a request a browser marked `Sec-Fetch-Site: same-origin`.
fn same_origin_host(parts: &Parts) -> Option<&str> {
    let site = parts.headers.get("sec-fetch-site")?;
    if site.as_bytes() != b"same-origin" {
        return None;
    }
    parts.headers.get(header::HOST)?.to_str().ok()
}

/// `host[:port]` of an origin (`https://docs.example.com` → `docs.example.com`).
fn authority(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, rest)| rest)
}

fn bad_header() -> ApiError {
    ApiError::unauthenticated("invalid_authorization", "the Authorization header must be `Bearer <key>`")
}

impl AuthedCaller {
    /// 403 unless the caller holds `scope` on `bot`; then take one request from its
    /// rate-limit bucket (429 with `Retry-After` when empty).
    pub fn authorize(
        &self,
        state: &AppState,
        bot: &str,
        scope: &str,
        visitor: Option<&str>,
    ) -> Result<RateHeaders, ApiError> {
        if !self.caller.has_scope(scope) {
            return Err(ApiError::forbidden("missing_scope", format!("this key lacks the `{scope}` scope")));
        }
        if !self.caller.may_use_bot(bot) {
            return Err(ApiError::forbidden("bot_not_allowed", format!("this key may not use bot `{bot}`")));
        }
        let visitor = visitor.map(str::to_string).or_else(|| self.peer.map(|p| p.ip().to_string())).unwrap_or_default();
        state.limits.check(bot, &self.caller, &visitor).map_err(|(_, wait)| ApiError::rate_limited(wait))
    }

    /// The bot a request names, or the key's only bot when it names none (API.md lets
    /// a key of one bot leave `bot_id` out of admin calls).
    pub fn bot_or_only(&self, requested: Option<&str>) -> Option<String> {
        requested
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .or_else(|| self.caller.key.as_ref().filter(|k| k.bots.len() == 1).and_then(|k| k.bots.first().cloned()))
    }

    /// 403 unless the caller holds `scope` (bot-independent routes).
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.caller.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden("missing_scope", format!("this key lacks the `{scope}` scope")))
        }
    }
}
