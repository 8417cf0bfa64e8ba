//! `Idempotency-Key` on the POSTs that create things (`/v1/conversations`,
//! `/v1/leads`, `/v1/webhooks`, `/v1/messages/{id}/feedback`): a retried request
//! gets the first one's response instead of creating a second thing.
//!
//! The response is remembered per caller (its key id), route and key, with a hash of
//! the request (route, path ids, the fields the handler uses), **in the transaction of
//! the creation itself**: a creation and its remembered response commit together, so a
//! crash cannot leave one without the other, and of two requests racing with the same
//! key only one commits (the other's insert finds the key taken, rolls back and answers
//! with the winner's response). Then:
//!
//! - same key, same request → the remembered status and body, with
//!   `Idempotent-Replayed: true`;
//! - same key, another request → 422 `idempotency_key_reused`;
//! - keys are remembered for 24 hours ([`IDEMPOTENCY_TTL_MS`]); only successful
//!   creations are remembered (a 4xx can be corrected and retried with the same key).
//!
//! A handler calls [`Idempotency::new`], then [`Idempotency::replay`] before doing
//! anything, and ends with [`Idempotency::commit`] instead of `tx.commit()`.
//!
//! Useful for: clients on flaky networks, webhook-driven backends that retry. Not for:
//! deduplicating things created without a key.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AuthedCaller};
use crate::store::{now_ms, IdempotencySlot, RememberedResponse, Store, WriteTx};

/// How long a key is remembered: 24 hours.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// `Idempotency-Key`.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// `Idempotent-Replayed: true` on a replayed response.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest key.
const MAX_KEY_LEN: usize = 255;

/// The idempotency of one request: no key (every call creates), or a key with the
/// request's hash.
#[derive(Debug, Clone)]
pub(crate) struct Idempotency {
    key: Option<String>,
    caller: String,
    route: &'static str,
    hash: String,
}

impl Idempotency {
    /// Read `Idempotency-Key` (1–255 visible ASCII characters; 400 otherwise) and
    /// hash the request: `route` (a template, `POST /v1/leads`) and `request`, the
    /// JSON of everything the handler acts on (path ids included).
    pub(crate) fn new(
        headers: &HeaderMap,
        caller: &AuthedCaller,
        route: &'static str,
        request: &serde_json::Value,
    ) -> Result<Self, ApiError> {
        let key = match headers.get(&IDEMPOTENCY_KEY) {
            None => None,
            Some(v) => {
                let bad = || {
                    ApiError::invalid_param(
                        "invalid_idempotency_key",
                        "Idempotency-Key",
                        format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
                    )
                };
                let text = v.to_str().map_err(|_| bad())?.trim();
                if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad());
                }
                Some(text.to_string())
            }
        };
        let hash = blake3::hash(format!("{route}\n{request}").as_bytes()).to_hex().to_string();
        Ok(Idempotency { key, caller: caller.caller.key_id().to_string(), route, hash })
    }

    fn slot<'a>(&'a self, key: &'a str) -> IdempotencySlot<'a> {
        IdempotencySlot { caller: &self.caller, route: self.route, key }
    }

    /// The remembered response for this key (`Idempotent-Replayed: true`), 422 when
    /// the key was used for another request, `None` when there is nothing to replay.
    pub(crate) async fn replay(&self, store: &Store) -> Result<Option<Response>, ApiError> {
        let Some(key) = &self.key else { return Ok(None) };
        let Some(found) = store.remembered_response(self.slot(key), now_ms() - IDEMPOTENCY_TTL_MS).await? else {
            return Ok(None);
        };
        if found.request_hash != self.hash {
            let mut e = ApiError::unprocessable(
                "idempotency_key_reused",
                "this `Idempotency-Key` was already used with a different request; use a new key for a new request",
            );
            e.param = Some("Idempotency-Key".into());
            return Err(e);
        }
        let status = StatusCode::from_u16(found.status).unwrap_or(StatusCode::OK);
        Ok(Some(
            (
                status,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true")),
                ],
                found.body,
            )
                .into_response(),
        ))
    }

    /// Remember `body` with `status` in `tx`, commit, and answer with it. When a
    /// concurrent request with the same key committed first, `tx` is rolled back and
    /// that request's response is the answer (or 422 if it was another request).
    pub(crate) async fn commit(
        &self,
        store: &Store,
        mut tx: WriteTx,
        status: StatusCode,
        body: serde_json::Value,
    ) -> Result<Response, ApiError> {
        if let Some(key) = &self.key {
            let remembered =
                RememberedResponse { request_hash: self.hash.clone(), status: status.as_u16(), body: body.to_string() };
            let expired_before = now_ms() - IDEMPOTENCY_TTL_MS;
            if !Store::remember_response_in(&mut tx, self.slot(key), &remembered, expired_before).await? {
                drop(tx);
                return match self.replay(store).await? {
                    Some(r) => Ok(r),
                    None => Err(ApiError::conflict(
                        "idempotency_key_in_use",
                        "a request with this `Idempotency-Key` is in progress; retry shortly",
                    )),
                };
            }
        }
        tx.commit().await?;
        Ok((status, axum::Json(body)).into_response())
    }
}
