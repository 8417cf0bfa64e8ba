//! Leads (a visitor's contact details), feedback on answers (one per message, the
//! latest wins), and the responses remembered for `Idempotency-Key`.
//!
//! The writes take a [`WriteTx`] so that the row, the webhook event it fires
//! (`lead.captured`, `feedback.received`) and the remembered response of an
//! idempotent request commit together.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, storable, Store, StoreError, WriteTx};

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lead {
    /// `lead_…`.
    pub id: String,
    /// The bot it came through.
    pub bot_id: String,
    /// The conversation it was captured in (cleared when that is deleted).
    pub conversation_id: Option<String>,
    /// The visitor's name.
    pub name: Option<String>,
    /// Email address (validated, domain lower-cased).
    pub email: Option<String>,
    /// Phone number (validated: digits with an optional leading `+`).
    pub phone: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// A lead to store (fields already validated).
#[derive(Debug, Clone)]
pub struct NewLead<'a> {
    /// `lead_…`.
    pub id: &'a str,
    /// Bot.
    pub bot_id: &'a str,
    /// Conversation.
    pub conversation_id: Option<&'a str>,
    /// Name.
    pub name: Option<&'a str>,
    /// Email.
    pub email: Option<&'a str>,
    /// Phone.
    pub phone: Option<&'a str>,
}

/// Feedback on one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// The rated message.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Its bot.
    pub bot_id: String,
    /// `up` or `down`.
    pub rating: String,
    /// Free text.
    pub comment: Option<String>,
    /// Epoch milliseconds of the first feedback on the message.
    pub created_at: i64,
    /// Epoch milliseconds of the latest.
    pub updated_at: i64,
}

/// Feedback to store.
#[derive(Debug, Clone)]
pub struct NewFeedback<'a> {
    /// The rated message.
    pub message_id: &'a str,
    /// Its conversation.
    pub conversation_id: &'a str,
    /// Its bot.
    pub bot_id: &'a str,
    /// `up` or `down`.
    pub rating: &'a str,
    /// Free text.
    pub comment: Option<&'a str>,
}

/// A response remembered for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedResponse {
    /// Hash of the request that produced it.
    pub request_hash: String,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// Where a remembered response is filed: who asked, on which route, with which key.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencySlot<'a> {
    /// The caller (key id, or `open` without auth).
    pub caller: &'a str,
    /// The route template (`POST /v1/leads`).
    pub route: &'a str,
    /// The client's `Idempotency-Key`.
    pub key: &'a str,
}

fn lead(row: &AnyRow) -> Result<Lead, StoreError> {
    Ok(Lead {
        id: row.try_get("id")?,
        bot_id: row.try_get("bot_id")?,
        conversation_id: row.try_get("conversation_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("created_at")?,
    })
}

fn feedback(row: &AnyRow) -> Result<Feedback, StoreError> {
    Ok(Feedback {
        message_id: row.try_get("message_id")?,
        conversation_id: row.try_get("conversation_id")?,
        bot_id: row.try_get("bot_id")?,
        rating: row.try_get("rating")?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const FEEDBACK_COLUMNS: &str = "message_id, conversation_id, bot_id, rating, comment, created_at, updated_at";

impl Store {
    /// Store a lead inside a transaction (with the `lead.captured` it fires).
    pub async fn insert_lead_in(tx: &mut WriteTx, l: &NewLead<'_>) -> Result<Lead, StoreError> {
        let now = now_ms();
        let (name, email, phone) = (l.name.map(storable), l.email.map(storable), l.phone.map(storable));
        sqlx::query(
            "INSERT INTO leads (id, bot_id, conversation_id, name, email, phone, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(l.id)
        .bind(l.bot_id)
        .bind(l.conversation_id)
        .bind(name.as_deref())
        .bind(email.as_deref())
        .bind(phone.as_deref())
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        Ok(Lead {
            id: l.id.to_string(),
            bot_id: l.bot_id.to_string(),
            conversation_id: l.conversation_id.map(str::to_string),
            name: name.map(std::borrow::Cow::into_owned),
            email: email.map(std::borrow::Cow::into_owned),
            phone: phone.map(std::borrow::Cow::into_owned),
            created_at: now,
        })
    }

    /// A lead by id.
    pub async fn lead(&self, id: &str) -> Result<Option<Lead>, StoreError> {
        let row =
            sqlx::query("SELECT id, bot_id, conversation_id, name, email, phone, created_at FROM leads WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(lead).transpose()
    }

    /// Record feedback on a message inside a transaction, replacing earlier feedback
    /// on it. Returns the stored feedback and whether it replaced some.
    pub async fn put_feedback_in(tx: &mut WriteTx, f: &NewFeedback<'_>) -> Result<(Feedback, bool), StoreError> {
        let now = now_ms();
        let comment = f.comment.map(storable);
        let earlier: Option<i64> = sqlx::query("SELECT created_at FROM message_feedback WHERE message_id = $1")
            .bind(f.message_id)
            .fetch_optional(&mut *tx.tx)
            .await?
            .map(|r| r.try_get("created_at"))
            .transpose()?;
        sqlx::query(
            "INSERT INTO message_feedback (message_id, conversation_id, bot_id, rating, comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (message_id) DO UPDATE SET rating = $4, comment = $5, updated_at = $6",
        )
        .bind(f.message_id)
        .bind(f.conversation_id)
        .bind(f.bot_id)
        .bind(f.rating)
        .bind(comment.as_deref())
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        let stored = Feedback {
            message_id: f.message_id.to_string(),
            conversation_id: f.conversation_id.to_string(),
            bot_id: f.bot_id.to_string(),
            rating: f.rating.to_string(),
            comment: comment.map(std::borrow::Cow::into_owned),
            created_at: earlier.unwrap_or(now),
            updated_at: now,
        };
        Ok((stored, earlier.is_some()))
    }

    /// The feedback on a message.
    pub async fn feedback(&self, message_id: &str) -> Result<Option<Feedback>, StoreError> {
        let row = sqlx::query(&format!("SELECT {FEEDBACK_COLUMNS} FROM message_feedback WHERE message_id = $1"))
            .bind(message_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(feedback).transpose()
    }

    /// The feedback on a conversation's messages.
    pub async fn conversation_feedback(&self, conversation_id: &str) -> Result<Vec<Feedback>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {FEEDBACK_COLUMNS} FROM message_feedback WHERE conversation_id = $1"))
            .bind(conversation_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(feedback).collect()
    }

    /// The response remembered in `slot`, unless it was made before `since` (expired).
    pub async fn remembered_response(
        &self,
        slot: IdempotencySlot<'_>,
        since: i64,
    ) -> Result<Option<RememberedResponse>, StoreError> {
        let row = sqlx::query(
            "SELECT request_hash, status, body FROM idempotency_keys \
             WHERE caller = $1 AND route = $2 AND idem_key = $3 AND created_at >= $4",
        )
        .bind(slot.caller)
        .bind(slot.route)
        .bind(storable(slot.key).as_ref())
        .bind(since)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(RememberedResponse {
                request_hash: r.try_get("request_hash")?,
                status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(500),
                body: r.try_get("body")?,
            })
        })
        .transpose()
    }

    /// Remember `response` in `slot` inside the transaction of the change it reports
    /// (an expired entry there is replaced). `false`: another request holding the same
    /// key got there first (its transaction committed): roll this one back and answer
    /// with that one's response.
    pub async fn remember_response_in(
        tx: &mut WriteTx,
        slot: IdempotencySlot<'_>,
        response: &RememberedResponse,
        expired_before: i64,
    ) -> Result<bool, StoreError> {
        let key = storable(slot.key);
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND route = $2 AND idem_key = $3 AND created_at < $4",
        )
        .bind(slot.caller)
        .bind(slot.route)
        .bind(key.as_ref())
        .bind(expired_before)
        .execute(&mut *tx.tx)
        .await?;
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (caller, route, idem_key, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (caller, route, idem_key) DO NOTHING",
        )
        .bind(slot.caller)
        .bind(slot.route)
        .bind(key.as_ref())
        .bind(&response.request_hash)
        .bind(i64::from(response.status))
        .bind(storable(&response.body).as_ref())
        .bind(now_ms())
        .execute(&mut *tx.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget remembered responses made before `before`; returns how many.
    pub async fn purge_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        let done =
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}
