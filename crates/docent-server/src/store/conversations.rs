//! Conversations, their messages, and the recorded frames of each streamed turn.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, now_ms, storable, Page, Store, StoreError, WriteTx};

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot answers.
    Open,
    /// Handed to a human: the bot does not answer until it is given back.
    Handoff,
}

impl ConversationState {
    /// The stored and wire name (`open`, `handoff`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Open => "open",
            ConversationState::Handoff => "handoff",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "open" => Ok(ConversationState::Open),
            "handoff" => Ok(ConversationState::Handoff),
            other => Err(StoreError::Corrupt { what: "conversation state", detail: other.to_string() }),
        }
    }
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// `conv_…`.
    pub id: String,
    /// Bot it belongs to.
    pub bot_id: String,
    /// The visitor's id, when the client sent one.
    pub user_id: Option<String>,
    /// Open or handed off.
    pub state: ConversationState,
    /// Client metadata of the first turn (page URL, …).
    pub metadata: serde_json::Value,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds of the last change.
    pub updated_at: i64,
}

/// Whether a message is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Being generated now.
    Streaming,
    /// Final (whatever its finish reason).
    Complete,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `msg_…`.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Position in the conversation (0-based).
    pub seq: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Streaming or complete.
    pub status: MessageStatus,
    /// Assistant messages: why the answer ended.
    pub finish_reason: Option<String>,
    /// Assistant messages: the sources shown (API shape).
    pub sources: serde_json::Value,
    /// Assistant messages: the citations (API shape).
    pub citations: serde_json::Value,
    /// Assistant messages: token counts.
    pub usage: serde_json::Value,
    /// Assistant messages: stage timings.
    pub timings: serde_json::Value,
    /// The request that produced it.
    pub request_id: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// A message to insert.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// `msg_…`.
    pub id: &'a str,
    /// Conversation.
    pub conversation_id: &'a str,
    /// `user` or `assistant`.
    pub role: &'a str,
    /// Text (empty for an assistant message that starts streaming).
    pub content: &'a str,
    /// Streaming or complete.
    pub status: MessageStatus,
    /// Request id.
    pub request_id: Option<&'a str>,
}

impl NewMessage<'_> {
    /// An owned copy, for a write job that runs on the store's write thread.
    pub fn to_owned_message(&self) -> OwnedNewMessage {
        OwnedNewMessage {
            id: self.id.to_string(),
            conversation_id: self.conversation_id.to_string(),
            role: self.role.to_string(),
            content: self.content.to_string(),
            status: self.status,
            request_id: self.request_id.map(str::to_string),
        }
    }
}

/// A [`NewMessage`] that owns its text (a [`Store::transact`] job owns what it writes).
#[derive(Debug, Clone)]
pub struct OwnedNewMessage {
    /// `msg_…`.
    pub id: String,
    /// Conversation.
    pub conversation_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Streaming or complete.
    pub status: MessageStatus,
    /// Request id.
    pub request_id: Option<String>,
}

impl OwnedNewMessage {
    /// The borrowed form the inserts take.
    pub fn view(&self) -> NewMessage<'_> {
        NewMessage {
            id: &self.id,
            conversation_id: &self.conversation_id,
            role: &self.role,
            content: &self.content,
            status: self.status,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// One SSE frame of a turn, kept for `Last-Event-ID` resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The frame's `id:` (monotonic within the turn, from 1).
    pub id: u64,
    /// The frame's `event:`.
    pub event: String,
    /// The frame's `data:` JSON.
    pub data: String,
}

fn conversation(row: &AnyRow) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: row.try_get("id")?,
        bot_id: row.try_get("bot_id")?,
        user_id: row.try_get("user_id")?,
        state: ConversationState::parse(&row.try_get::<String, _>("state")?)?,
        metadata: json_col(row, "metadata", "conversation metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn message(row: &AnyRow) -> Result<Message, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Message {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        seq: row.try_get("seq")?,
        role: row.try_get("role")?,
        content: row.try_get("content")?,
        status: if status == "streaming" { MessageStatus::Streaming } else { MessageStatus::Complete },
        finish_reason: row.try_get("finish_reason")?,
        sources: json_col(row, "sources", "message sources")?,
        citations: json_col(row, "citations", "message citations")?,
        usage: json_col(row, "usage", "message usage")?,
        timings: json_col(row, "timings", "message timings")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Opaque list cursor: `(created_at, id)` of the last item, base64url.
pub(crate) fn encode_cursor(created_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

/// `None` for a cursor this server did not make.
pub fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, id.to_string()))
}

/// Frames stored per `INSERT` (4 parameters each; far below SQLite's and PostgreSQL's
/// parameter limits).
const EVENT_ROWS_PER_INSERT: usize = 100;

const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, role, content, status, finish_reason, sources, citations, \
                               usage, timings, request_id, created_at";

impl Store {
    /// Start a conversation.
    pub async fn create_conversation(
        &self,
        id: &str,
        bot_id: &str,
        user_id: Option<&str>,
        metadata: &serde_json::Value,
    ) -> Result<Conversation, StoreError> {
        let mut tx = self.begin_write().await?;
        let c = Self::create_conversation_in(&mut tx, id, bot_id, user_id, metadata).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// [`Store::create_conversation`] inside a transaction (with the events it fires).
    pub async fn create_conversation_in(
        tx: &mut WriteTx,
        id: &str,
        bot_id: &str,
        user_id: Option<&str>,
        metadata: &serde_json::Value,
    ) -> Result<Conversation, StoreError> {
        let now = now_ms();
        let user_id = user_id.map(storable);
        sqlx::query(
            "INSERT INTO conversations (id, bot_id, user_id, state, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6)",
        )
        .bind(id)
        .bind(bot_id)
        .bind(user_id.as_deref())
        .bind(metadata.to_string())
        .bind(now)
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        Ok(Conversation {
            id: id.to_string(),
            bot_id: bot_id.to_string(),
            user_id: user_id.map(|u| u.into_owned()),
            state: ConversationState::Open,
            metadata: metadata.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    /// A conversation by id.
    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query(
            "SELECT id, bot_id, user_id, state, metadata, created_at, updated_at FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(conversation).transpose()
    }

    /// Conversations, newest first, optionally of one bot and/or user, restricted
    /// to `bots` (a key's bots; empty: all).
    pub async fn list_conversations(
        &self,
        bot_id: Option<&str>,
        user_id: Option<&str>,
        limit: usize,
        cursor: Option<(i64, String)>,
    ) -> Result<Page<Conversation>, StoreError> {
        let (before_at, before_id) = cursor.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(
            "SELECT id, bot_id, user_id, state, metadata, created_at, updated_at FROM conversations \
             WHERE ($1 = '' OR bot_id = $1) AND ($2 = '' OR user_id = $2) \
               AND (created_at < $3 OR (created_at = $3 AND ($4 = '' OR id < $4))) \
             ORDER BY created_at DESC, id DESC LIMIT $5",
        )
        .bind(bot_id.unwrap_or(""))
        .bind(user_id.unwrap_or(""))
        .bind(before_at)
        .bind(before_id)
        .bind(limit as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        let mut data = rows.iter().map(conversation).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(|c| encode_cursor(c.created_at, &c.id))
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// Delete a conversation and everything in it; `false` when it did not exist.
    pub async fn delete_conversation(&self, id: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM message_events WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM messages WHERE conversation_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM conversations WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Set a conversation's state.
    pub async fn set_conversation_state(&self, id: &str, state: ConversationState) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("UPDATE conversations SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Move a conversation from state `from` to `to` inside a transaction (with the
    /// event the change fires): the conversation as changed, or `None` when it does
    /// not exist or is not in `from` (so a repeated request changes nothing and fires
    /// nothing).
    pub async fn change_conversation_state_in(
        tx: &mut WriteTx,
        id: &str,
        from: ConversationState,
        to: ConversationState,
    ) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query(
            "UPDATE conversations SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4 \
             RETURNING id, bot_id, user_id, state, metadata, created_at, updated_at",
        )
        .bind(to.as_str())
        .bind(now_ms())
        .bind(id)
        .bind(from.as_str())
        .fetch_optional(&mut *tx.tx)
        .await?;
        row.as_ref().map(conversation).transpose()
    }

    /// Append a message at the end of its conversation.
    ///
    /// The transaction writes first (the conversation's `updated_at`): it then holds
    /// the write lock (SQLite) or the conversation's row lock (PostgreSQL) while it
    /// counts, so two inserts cannot take the same `seq`, and SQLite never has to
    /// upgrade a read snapshot to a write (which fails at once with `SQLITE_BUSY`).
    pub async fn insert_message(&self, m: &NewMessage<'_>) -> Result<Message, StoreError> {
        let mut out = self.insert_messages(std::slice::from_ref(m)).await?;
        out.pop().ok_or_else(|| StoreError::Corrupt { what: "message insert", detail: "nothing inserted".into() })
    }

    /// Append several messages of one conversation at its end, in order, in one
    /// transaction (a turn's user message and its streaming answer: one commit, not
    /// two, on the chat path).
    pub async fn insert_messages(&self, messages: &[NewMessage<'_>]) -> Result<Vec<Message>, StoreError> {
        let owned: Vec<OwnedNewMessage> = messages.iter().map(NewMessage::to_owned_message).collect();
        self.transact(move |tx| {
            Box::pin(async move {
                let views: Vec<NewMessage<'_>> = owned.iter().map(OwnedNewMessage::view).collect();
                Self::insert_messages_in(tx, &views).await
            })
        })
        .await
    }

    /// [`Store::insert_messages`] inside a transaction.
    pub async fn insert_messages_in(tx: &mut WriteTx, messages: &[NewMessage<'_>]) -> Result<Vec<Message>, StoreError> {
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        let conversation_id = first.conversation_id;
        if let Some(other) = messages.iter().find(|m| m.conversation_id != conversation_id) {
            return Err(StoreError::Corrupt {
                what: "message insert",
                detail: format!(
                    "messages of two conversations ({conversation_id}, {}) in one append",
                    other.conversation_id
                ),
            });
        }
        let now = now_ms();
        let tx: &mut sqlx::AnyConnection = &mut tx.tx;
        // Write the conversation row first: that takes its row lock on PostgreSQL and
        // the write lock on SQLite, so two inserts into one conversation (two replicas,
        // two pools) are serialised and cannot both read the same next position.
        sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM messages WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let mut out = Vec::with_capacity(messages.len());
        for (seq, m) in (next..).zip(messages) {
            let status = match m.status {
                MessageStatus::Streaming => "streaming",
                MessageStatus::Complete => "complete",
            };
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, seq, role, content, status, finish_reason, sources, \
                 citations, usage, timings, request_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, '[]', '[]', '{}', '{}', $7, $8)",
            )
            .bind(m.id)
            .bind(conversation_id)
            .bind(seq)
            .bind(m.role)
            .bind(storable(m.content).as_ref())
            .bind(status)
            .bind(m.request_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            out.push(Message {
                id: m.id.to_string(),
                conversation_id: conversation_id.to_string(),
                seq,
                role: m.role.to_string(),
                content: storable(m.content).into_owned(),
                status: m.status,
                finish_reason: None,
                sources: serde_json::json!([]),
                citations: serde_json::json!([]),
                usage: serde_json::json!({}),
                timings: serde_json::json!({}),
                request_id: m.request_id.map(str::to_string),
                created_at: now,
            });
        }
        Ok(out)
    }

    /// Store the final state of an assistant turn and its frames, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_message(
        &self,
        id: &str,
        content: &str,
        finish_reason: &str,
        sources: &serde_json::Value,
        citations: &serde_json::Value,
        usage: &serde_json::Value,
        timings: &serde_json::Value,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        let (id, content, finish_reason) = (id.to_string(), content.to_string(), finish_reason.to_string());
        let json = [sources.clone(), citations.clone(), usage.clone(), timings.clone()];
        let events = events.to_vec();
        self.transact(move |tx| {
            Box::pin(async move {
                let [sources, citations, usage, timings] = &json;
                Self::finish_message_in(tx, &id, &content, &finish_reason, sources, citations, usage, timings, &events)
                    .await
            })
        })
        .await
    }

    /// [`Store::finish_message`] inside a transaction (with the events it fires).
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_message_in(
        tx: &mut WriteTx,
        id: &str,
        content: &str,
        finish_reason: &str,
        sources: &serde_json::Value,
        citations: &serde_json::Value,
        usage: &serde_json::Value,
        timings: &serde_json::Value,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        let tx: &mut sqlx::AnyConnection = &mut tx.tx;
        sqlx::query(
            "UPDATE messages SET content = $1, status = 'complete', finish_reason = $2, sources = $3, citations = $4, \
             usage = $5, timings = $6 WHERE id = $7",
        )
        .bind(storable(content).as_ref())
        .bind(finish_reason)
        .bind(sources.to_string())
        .bind(citations.to_string())
        .bind(usage.to_string())
        .bind(timings.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Many rows per statement: a turn streamed word by word has dozens of frames,
        // and every statement is a round trip to the connection's worker thread.
        for batch in events.chunks(EVENT_ROWS_PER_INSERT) {
            let mut sql = String::from("INSERT INTO message_events (message_id, event_id, event, data) VALUES ");
            for i in 0..batch.len() {
                let n = i * 4;
                let sep = if i == 0 { "" } else { ", " };
                sql.push_str(&format!("{sep}(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            }
            let mut insert = sqlx::query(&sql);
            for e in batch {
                insert = insert.bind(id).bind(e.id as i64).bind(&e.event).bind(&e.data);
            }
            insert.execute(&mut *tx).await?;
        }
        Ok(())
    }

    /// A message by id.
    pub async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(message).transpose()
    }

    /// Messages of a conversation in order, `limit` after position `after_seq`.
    pub async fn messages(
        &self,
        conversation_id: &str,
        limit: usize,
        after_seq: Option<i64>,
    ) -> Result<Page<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after_seq.unwrap_or(-1))
        .bind(limit as i64 + 1)
        .fetch_all(self.pool())
        .await?;
        let mut data = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(|m| encode_cursor(m.seq, &m.id))
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// The last `n` complete messages of a conversation, oldest first (the history of
    /// the next turn).
    pub async fn recent_messages(&self, conversation_id: &str, n: usize) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND status = 'complete' \
             ORDER BY seq DESC LIMIT $2"
        ))
        .bind(conversation_id)
        .bind(n as i64)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// Recorded frames of a finished turn with an id above `after`.
    pub async fn events_after(&self, message_id: &str, after: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, event, data FROM message_events WHERE message_id = $1 AND event_id > $2 ORDER BY event_id",
        )
        .bind(message_id)
        .bind(after as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: r.try_get::<i64, _>("event_id")? as u64,
                    event: r.try_get("event")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }
}
