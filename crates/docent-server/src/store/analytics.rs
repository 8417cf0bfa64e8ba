//! Read-only queries behind the analytics: the questions a bot could not answer and
//! the counts and timings of its turns in a time range.
//!
//! Everything is computed from `conversations` and `messages` (no separate event
//! table to keep in step): a turn's question is the user message just before the
//! assistant message (`seq - 1`; one turn per conversation runs at a time).

use sqlx::Row;

use super::{Store, StoreError};

/// A half-open time range `[from_ms, to_ms)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First millisecond included.
    pub from_ms: i64,
    /// First millisecond excluded.
    pub to_ms: i64,
}

/// A question that got `finish_reason: "no_answer"`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnansweredTurn {
    /// The assistant message (`msg_…`) that carried the fallback.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// What the visitor asked.
    pub question: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// Finished assistant turns of one finish reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishCount {
    /// `stop`, `length`, `no_answer`, `handoff`, `cancelled`, `error`.
    pub finish_reason: String,
    /// How many.
    pub count: u64,
}

/// One finished turn's stored timings (the JSON of `messages.timings`), with its
/// finish reason.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnTiming {
    /// Why it ended.
    pub finish_reason: String,
    /// `timings` as stored (`retrieval_ms`, `rerank_ms`, `ttft_ms`, `total_ms`).
    pub timings: serde_json::Value,
}

impl Store {
    /// The newest `limit` unanswered turns of `bot_id` in `range`, newest first, and
    /// whether there were more.
    pub async fn unanswered_turns(
        &self,
        bot_id: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<(Vec<UnansweredTurn>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.conversation_id, a.created_at, u.content AS question \
             FROM messages a \
             JOIN conversations c ON c.id = a.conversation_id \
             JOIN messages u ON u.conversation_id = a.conversation_id AND u.seq = a.seq - 1 AND u.role = 'user' \
             WHERE c.bot_id = $1 AND a.role = 'assistant' AND a.finish_reason = 'no_answer' \
               AND a.created_at >= $2 AND a.created_at < $3 \
             ORDER BY a.created_at DESC, a.id DESC LIMIT $4",
        )
        .bind(bot_id)
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(self.pool())
        .await?;
        let mut turns = rows
            .iter()
            .map(|r| {
                Ok(UnansweredTurn {
                    message_id: r.try_get("id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    question: r.try_get("question")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let more = turns.len() > limit;
        turns.truncate(limit);
        Ok((turns, more))
    }

    /// Conversations of `bot_id` started in `range`.
    pub async fn count_conversations(&self, bot_id: &str, range: TimeRange) -> Result<u64, StoreError> {
        let rows = self
            .counts(
                "SELECT '' AS k, COUNT(*) AS n FROM conversations WHERE bot_id = $1 AND created_at >= $2 AND created_at < $3",
                bot_id,
                range,
            )
            .await?;
        Ok(rows.iter().map(|(_, n)| n).sum())
    }

    /// Messages of `bot_id` created in `range`, by role: `(user, assistant)`.
    pub async fn count_messages(&self, bot_id: &str, range: TimeRange) -> Result<(u64, u64), StoreError> {
        let rows = self
            .counts(
                "SELECT m.role AS k, COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                 WHERE c.bot_id = $1 AND m.created_at >= $2 AND m.created_at < $3 GROUP BY m.role",
                bot_id,
                range,
            )
            .await?;
        Ok((count_of(&rows, "user"), count_of(&rows, "assistant")))
    }

    /// Finished assistant turns of `bot_id` in `range`, counted by finish reason.
    pub async fn count_finish_reasons(&self, bot_id: &str, range: TimeRange) -> Result<Vec<FinishCount>, StoreError> {
        let rows = self
            .counts(
                "SELECT m.finish_reason AS k, COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                 WHERE c.bot_id = $1 AND m.role = 'assistant' AND m.finish_reason IS NOT NULL \
                   AND m.created_at >= $2 AND m.created_at < $3 \
                 GROUP BY m.finish_reason ORDER BY m.finish_reason",
                bot_id,
                range,
            )
            .await?;
        Ok(rows.into_iter().map(|(finish_reason, count)| FinishCount { finish_reason, count }).collect())
    }

    /// Feedback of `bot_id` last given in `range`: `(up, down)`.
    pub async fn count_feedback(&self, bot_id: &str, range: TimeRange) -> Result<(u64, u64), StoreError> {
        let rows = self
            .counts(
                "SELECT rating AS k, COUNT(*) AS n FROM message_feedback \
                 WHERE bot_id = $1 AND updated_at >= $2 AND updated_at < $3 GROUP BY rating",
                bot_id,
                range,
            )
            .await?;
        Ok((count_of(&rows, "up"), count_of(&rows, "down")))
    }

    /// Leads of `bot_id` captured in `range`.
    pub async fn count_leads(&self, bot_id: &str, range: TimeRange) -> Result<u64, StoreError> {
        let rows = self
            .counts(
                "SELECT '' AS k, COUNT(*) AS n FROM leads WHERE bot_id = $1 AND created_at >= $2 AND created_at < $3",
                bot_id,
                range,
            )
            .await?;
        Ok(rows.iter().map(|(_, n)| n).sum())
    }

    /// Rows `(k, n)` of a counting query over `$1` = bot, `[$2, $3)` = range.
    async fn counts(&self, sql: &str, bot_id: &str, range: TimeRange) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(sql).bind(bot_id).bind(range.from_ms).bind(range.to_ms).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("k")?, u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0))))
            .collect()
    }

    /// The timings of the newest `limit` finished assistant turns of `bot_id` in
    /// `range`, and whether there were more.
    pub async fn turn_timings(
        &self,
        bot_id: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<(Vec<TurnTiming>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT m.finish_reason, m.timings FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.bot_id = $1 AND m.role = 'assistant' AND m.finish_reason IS NOT NULL \
               AND m.created_at >= $2 AND m.created_at < $3 \
             ORDER BY m.created_at DESC LIMIT $4",
        )
        .bind(bot_id)
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(TurnTiming {
                    finish_reason: r.try_get("finish_reason")?,
                    timings: super::json_col(r, "timings", "message timings")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }
}

/// The count of key `k` in `counts` (0 when absent).
fn count_of(counts: &[(String, u64)], k: &str) -> u64 {
    counts.iter().filter(|(key, _)| key == k).map(|(_, n)| n).sum()
}
