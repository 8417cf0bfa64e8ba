//! Webhook endpoints, the outbox of deliveries and the log of their attempts.
//!
//! An event becomes one `webhook_deliveries` row per matching endpoint, inserted by
//! [`WriteTx::emit`] inside the transaction of the change that caused it: the change
//! and its notification commit together or not at all. The worker claims due rows
//! with one `UPDATE … RETURNING` that pushes `next_attempt_at` a lease ahead (on
//! PostgreSQL its sub-select takes `FOR UPDATE SKIP LOCKED`), so two servers on one
//! database never send the same attempt, and a server that dies mid-delivery leaves a
//! row that becomes due again when its lease expires.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, now_ms, storable, Backend, Page, Store, StoreError, WriteTx};
use crate::webhooks::Event;

/// A registered endpoint (never with its secret: see [`Store::webhook_secret`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    /// `wh_…`.
    pub id: String,
    /// The bot whose events it receives.
    pub bot_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event types it receives.
    pub events: Vec<String>,
    /// `api` (registered with `POST /v1/webhooks`) or `config` (from `docent.toml`).
    pub origin: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// A config endpoint no longer in the file: kept for its delivery log, sent nothing.
    pub disabled: bool,
}

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// `wh_…`.
    pub id: &'a str,
    /// Bot.
    pub bot_id: &'a str,
    /// URL (already validated).
    pub url: &'a str,
    /// Event types (already validated).
    pub events: &'a [String],
    /// `whsec_…`.
    pub secret: &'a str,
    /// `api` or `config`.
    pub origin: &'a str,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: due at `next_attempt_at` (or leased to a worker until then).
    Pending,
    /// A 2xx was received.
    Delivered,
    /// Given up: a 4xx other than 429, or the attempt cap was reached.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(StoreError::Corrupt { what: "delivery state", detail: other.to_string() }),
        }
    }
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryAttempt {
    /// 1-based.
    pub attempt: i64,
    /// Epoch milliseconds.
    pub started_at: i64,
    /// How long the request took.
    pub duration_ms: i64,
    /// The receiver's status, when it answered.
    pub status: Option<i64>,
    /// Why it failed (network error, timeout, status), when it did.
    pub error: Option<String>,
}

/// An event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// `evt_…` (the `webhook-id` header).
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Event type.
    pub event_type: String,
    /// Pending, delivered or failed.
    pub state: DeliveryState,
    /// Attempts started (a claim counts one, even if its server died).
    pub attempts: i64,
    /// When a pending delivery is due next (epoch ms).
    pub next_attempt_at: i64,
    /// Status of the last answer.
    pub last_status: Option<i64>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
    /// Every recorded attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// A delivery leased to this worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    /// `evt_…`.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The envelope JSON, exactly as it is signed and sent.
    pub payload: String,
    /// This attempt's number (1-based); also the fencing token of the lease.
    pub attempt: i64,
}

/// What the worker decided after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// 2xx.
    Delivered,
    /// Try again at this epoch millisecond.
    RetryAt(i64),
    /// Give up.
    Failed,
}

/// The record of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    /// Epoch milliseconds.
    pub started_at: i64,
    /// Duration.
    pub duration_ms: i64,
    /// Receiver's status.
    pub status: Option<u16>,
    /// Error text.
    pub error: Option<&'a str>,
}

const ENDPOINT_COLUMNS: &str = "id, bot_id, url, events, origin, created_at, disabled";

fn endpoint(row: &AnyRow) -> Result<WebhookEndpoint, StoreError> {
    Ok(WebhookEndpoint {
        id: row.try_get("id")?,
        bot_id: row.try_get("bot_id")?,
        url: row.try_get("url")?,
        events: json_col(row, "events", "webhook events")?,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

impl WriteTx {
    /// Queue `event` for every enabled endpoint of its bot that subscribes to its type,
    /// inside this transaction. An event id already queued for an endpoint is skipped
    /// (replicas emitting the same `index.updated` queue it once). Returns the rows queued.
    pub async fn emit(&mut self, event: &Event) -> Result<u64, StoreError> {
        let now = now_ms();
        let pattern = format!("%\"{}\"%", event.kind.as_str());
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, bot_id, event_type, payload, state, attempts, \
             next_attempt_at, last_status, last_error, created_at, updated_at) \
             SELECT $1, id, bot_id, $2, $3, 'pending', 0, $4, NULL, NULL, $4, $4 FROM webhook_endpoints \
             WHERE bot_id = $5 AND disabled = 0 AND events LIKE $6 \
             ON CONFLICT (event_id, endpoint_id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(event.kind.as_str())
        .bind(event.envelope())
        .bind(now)
        .bind(&event.bot_id)
        .bind(pattern)
        .execute(&mut *self.tx)
        .await?;
        self.emitted += done.rows_affected();
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Queue one event in a transaction of its own (for changes that are not in the
    /// store, such as a new index generation).
    pub async fn emit(&self, event: &Event) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = tx.emit(event).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Register an endpoint.
    pub async fn create_webhook(&self, w: &NewWebhook<'_>) -> Result<WebhookEndpoint, StoreError> {
        let mut tx = self.begin_write().await?;
        let endpoint = Self::create_webhook_in(&mut tx, w).await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// [`Store::create_webhook`] inside a transaction (with the idempotent response
    /// that reports it).
    pub async fn create_webhook_in(tx: &mut WriteTx, w: &NewWebhook<'_>) -> Result<WebhookEndpoint, StoreError> {
        let now = now_ms();
        let events = serde_json::to_string(w.events)
            .map_err(|e| StoreError::Corrupt { what: "events", detail: e.to_string() })?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, bot_id, url, events, secret, origin, created_at, disabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(w.id)
        .bind(w.bot_id)
        .bind(storable(w.url).as_ref())
        .bind(events)
        .bind(w.secret)
        .bind(w.origin)
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        Ok(WebhookEndpoint {
            id: w.id.to_string(),
            bot_id: w.bot_id.to_string(),
            url: storable(w.url).into_owned(),
            events: w.events.to_vec(),
            origin: w.origin.to_string(),
            created_at: now,
            disabled: false,
        })
    }

    /// Make the `config` endpoints exactly `wanted`: insert or update each (same id,
    /// new url/events/secret), disable config endpoints no longer listed (their
    /// delivery log stays readable). API endpoints are left alone.
    pub async fn sync_config_webhooks(&self, wanted: &[NewWebhook<'_>]) -> Result<(), StoreError> {
        let now = now_ms();
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE webhook_endpoints SET disabled = 1 WHERE origin = 'config'").execute(&mut *tx).await?;
        for w in wanted {
            let events = serde_json::to_string(w.events)
                .map_err(|e| StoreError::Corrupt { what: "events", detail: e.to_string() })?;
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, bot_id, url, events, secret, origin, created_at, disabled) \
                 VALUES ($1, $2, $3, $4, $5, 'config', $6, 0) \
                 ON CONFLICT (id) DO UPDATE SET bot_id = $2, url = $3, events = $4, secret = $5, disabled = 0",
            )
            .bind(w.id)
            .bind(w.bot_id)
            .bind(storable(w.url).as_ref())
            .bind(events)
            .bind(w.secret)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An endpoint by id.
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(endpoint).transpose()
    }

    /// An endpoint's URL and signing secret (the worker's view), `None` when it is gone
    /// or disabled.
    pub async fn webhook_secret(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT url, secret FROM webhook_endpoints WHERE id = $1 AND disabled = 0")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((r.try_get("url")?, r.try_get("secret")?))).transpose()
    }

    /// Endpoints, newest first, optionally of one bot.
    pub async fn list_webhooks(
        &self,
        bot_id: Option<&str>,
        limit: usize,
        cursor: Option<(i64, String)>,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let (before_at, before_id) = cursor.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ($1 = '' OR bot_id = $1) \
             AND (created_at < $2 OR (created_at = $2 AND ($3 = '' OR id < $3))) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(bot_id.unwrap_or(""))
        .bind(before_at)
        .bind(before_id)
        .bind(limit as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        let mut data = rows.iter().map(endpoint).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(|w| super::conversations::encode_cursor(w.created_at, &w.id))
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// Delete an endpoint with its deliveries and their attempts; `false` when unknown.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM webhook_attempts WHERE endpoint_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Lease up to `limit` due deliveries to the caller until `now + lease_ms`,
    /// counting the attempt. Safe with many workers on one database.
    pub async fn claim_deliveries(&self, limit: usize, lease_ms: i64) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now = now_ms();
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, updated_at = $2 \
             WHERE (event_id, endpoint_id) IN (SELECT event_id, endpoint_id FROM webhook_deliveries \
               WHERE state = 'pending' AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3{lock}) \
             RETURNING event_id, endpoint_id, payload, attempts"
        );
        let _turn = self.write_turn().await;
        let rows = sqlx::query(&sql).bind(now + lease_ms).bind(now).bind(limit as i64).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    event_id: r.try_get("event_id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    payload: r.try_get("payload")?,
                    attempt: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Log an attempt and apply its verdict, if the lease is still this worker's (the
    /// attempt number is unchanged); `false` when another worker took the row over.
    pub async fn record_attempt(
        &self,
        claimed: &ClaimedDelivery,
        record: &AttemptRecord<'_>,
        verdict: AttemptVerdict,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let (state, next) = match verdict {
            AttemptVerdict::Delivered => (DeliveryState::Delivered, now),
            AttemptVerdict::RetryAt(at) => (DeliveryState::Pending, at),
            AttemptVerdict::Failed => (DeliveryState::Failed, now),
        };
        let error = record.error.map(storable);
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, last_status = $3, last_error = $4, \
             updated_at = $5 WHERE event_id = $6 AND endpoint_id = $7 AND attempts = $8 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(next)
        .bind(record.status.map(i64::from))
        .bind(error.as_deref())
        .bind(now)
        .bind(&claimed.event_id)
        .bind(&claimed.endpoint_id)
        .bind(claimed.attempt)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, started_at, duration_ms, status, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, endpoint_id, attempt) DO NOTHING",
        )
        .bind(&claimed.event_id)
        .bind(&claimed.endpoint_id)
        .bind(claimed.attempt)
        .bind(record.started_at)
        .bind(record.duration_ms)
        .bind(record.status.map(i64::from))
        .bind(error.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deliveries not yet delivered or failed (the queue depth gauge).
    pub async fn pending_deliveries(&self) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'pending'")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok(n)
    }

    /// An endpoint's deliveries, newest first, each with its attempts.
    pub async fn deliveries(
        &self,
        endpoint_id: &str,
        limit: usize,
        cursor: Option<(i64, String)>,
    ) -> Result<Page<Delivery>, StoreError> {
        let (before_at, before_id) = cursor.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(
            "SELECT event_id, endpoint_id, event_type, state, attempts, next_attempt_at, last_status, last_error, \
             created_at, updated_at FROM webhook_deliveries WHERE endpoint_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND ($3 = '' OR event_id < $3))) \
             ORDER BY created_at DESC, event_id DESC LIMIT $4",
        )
        .bind(endpoint_id)
        .bind(before_at)
        .bind(before_id)
        .bind(limit as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        let mut data = Vec::with_capacity(rows.len());
        for r in &rows {
            data.push(Delivery {
                event_id: r.try_get("event_id")?,
                endpoint_id: r.try_get("endpoint_id")?,
                event_type: r.try_get("event_type")?,
                state: DeliveryState::parse(&r.try_get::<String, _>("state")?)?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_status: r.try_get("last_status")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                attempt_log: Vec::new(),
            });
        }
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(|d| super::conversations::encode_cursor(d.created_at, &d.event_id))
        } else {
            None
        };
        for d in &mut data {
            let rows = sqlx::query(
                "SELECT attempt, started_at, duration_ms, status, error FROM webhook_attempts \
                 WHERE event_id = $1 AND endpoint_id = $2 ORDER BY attempt",
            )
            .bind(&d.event_id)
            .bind(&d.endpoint_id)
            .fetch_all(self.pool())
            .await?;
            d.attempt_log = rows
                .iter()
                .map(|r| {
                    Ok(DeliveryAttempt {
                        attempt: r.try_get("attempt")?,
                        started_at: r.try_get("started_at")?,
                        duration_ms: r.try_get("duration_ms")?,
                        status: r.try_get("status")?,
                        error: r.try_get("error")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
        }
        Ok(Page { data, next_cursor })
    }
}
