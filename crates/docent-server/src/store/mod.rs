//! The store: conversations, messages (with the frames of their stream, for resume),
//! API keys, webhooks, leads, feedback and remembered idempotent responses, in SQLite
//! (default) or PostgreSQL through one code path.
//!
//! sqlx's `Any` driver picks the backend from the URL; the SQL is portable (`$n`
//! placeholders, TEXT for ids and JSON, BIGINT epoch milliseconds) and the
//! migrations in `migrations/` run at start-up. SQLite runs in WAL mode with a busy
//! timeout so readers never block the one writer, and this process's writes take
//! turns on an in-process lock ([`Store::write_turn`]): SQLite has one writer at a
//! time anyway, and pool connections racing for it fail a deferred transaction that
//! read first with `SQLITE_BUSY` at once (no busy handler runs for it) or wait in
//! the busy handler's sleeps — both seen under two concurrent chat requests.
//!
//! The chat path's writes (a new conversation with its first messages, a finished
//! turn) go through [`Store::transact`]: on SQLite it runs the transaction on the
//! store's own write thread ([`writer`]), so the holder of the write turn is never a
//! task waiting in a busy runtime's queue between its statements; on PostgreSQL it
//! runs on the caller's task.
//!
//! Useful for: everything the server must remember across requests and restarts.
//! Not for: index data (the index directory) or per-process caches.

mod analytics;
mod conversations;
mod keys;
mod leads;
mod webhooks;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tracing::info;

pub use analytics::{FinishCount, TimeRange, TurnTiming, UnansweredTurn};
pub use conversations::{
    decode_cursor as conversations_cursor, Conversation, ConversationState, Message, MessageStatus, NewMessage,
    OwnedNewMessage, StoredEvent,
};
pub use keys::{ApiKeyRecord, KeyKind, NewKey};
pub use leads::{Feedback, IdempotencySlot, Lead, NewFeedback, NewLead, RememberedResponse};
pub use webhooks::{
    AttemptRecord, AttemptVerdict, ClaimedDelivery, Delivery, DeliveryAttempt, DeliveryState, NewWebhook,
    WebhookEndpoint,
};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}` (use sqlite://path or postgres://…)")]
    Url(String),
    /// The store's write thread could not start or has stopped.
    #[error("the store's write thread {0}")]
    Writer(&'static str),
    /// A [`Store::transact`] job panicked; its transaction was rolled back.
    #[error("a store write job panicked; nothing of it was written")]
    JobPanicked,
    /// A stored value could not be decoded.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A handle on the store (cheap to clone: a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Serialises this process's write transactions on SQLite (see the module docs).
    writes: Arc<tokio::sync::Mutex<()>>,
    /// The write thread of [`Store::transact`] (SQLite; `None` on PostgreSQL).
    writer: Option<writer::Writer>,
    /// When each key's `last_used_at` was last written (epoch ms), so a busy key costs
    /// one write a minute, not one per request.
    touched: Arc<Mutex<HashMap<String, i64>>>,
    /// Woken after a transaction that queued webhook deliveries commits, so the
    /// delivery worker need not wait for its next poll.
    outbox: Arc<tokio::sync::Notify>,
}

/// A write transaction that holds this process's write turn (SQLite) for its whole
/// life: the `…_in` store calls and [`WriteTx::emit`] run inside it, so a change and
/// the webhook events it causes commit together.
pub struct WriteTx {
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    outbox: Arc<tokio::sync::Notify>,
    pub(crate) emitted: u64,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").field("emitted", &self.emitted).finish_non_exhaustive()
    }
}

impl WriteTx {
    fn new(
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        outbox: Arc<tokio::sync::Notify>,
    ) -> Self {
        WriteTx { _turn: turn, tx, outbox, emitted: 0 }
    }

    /// Commit, then wake the delivery worker if events were queued.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if self.emitted > 0 {
            self.outbox.notify_one();
        }
        Ok(())
    }
}

/// A page of a list with its cursor.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Cursor of the next page, `None` on the last one.
    pub next_cursor: Option<String>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connect (creating a SQLite file and its directory when needed) and migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(redact(url)));
        };
        if backend == Backend::Sqlite {
            if let Some(parent) = sqlite_path(url).as_deref().and_then(Path::parent) {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Database(sqlx::Error::Configuration(Box::new(e))))?;
                }
            }
        }
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        options = match backend {
            // One writer at a time is SQLite's rule; a small pool avoids lock churn.
            Backend::Sqlite => options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await?;
        MIGRATOR.run(&pool).await?;
        info!(backend = ?backend, "store ready");
        let writes = Arc::new(tokio::sync::Mutex::new(()));
        let outbox = Arc::new(tokio::sync::Notify::new());
        let writer = match backend {
            Backend::Sqlite => Some(writer::Writer::spawn(pool.clone(), Arc::clone(&writes), Arc::clone(&outbox))?),
            Backend::Postgres => None,
        };
        let store = Store { pool, backend, writes, writer, touched: Arc::new(Mutex::new(HashMap::new())), outbox };
        store.recover_interrupted().await?;
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `SELECT 1`: is the store reachable (for `/readyz`)?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Turns left `streaming` by a process that died are marked `error`, so no
    /// conversation stays locked and clients see what happened.
    async fn recover_interrupted(&self) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE messages SET status = 'complete', finish_reason = 'error' WHERE status = 'streaming'")
                .execute(&self.pool)
                .await?;
        if done.rows_affected() > 0 {
            tracing::warn!(turns = done.rows_affected(), "turns interrupted by a previous shutdown marked as errors");
        }
        Ok(())
    }

    /// Begin a write transaction (taking the write turn first on SQLite).
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx::new(turn, tx, Arc::clone(&self.outbox)))
    }

    /// Run `job` in a write transaction of its own and commit it when the job
    /// succeeds (an error rolls it back and is returned). On SQLite the transaction
    /// runs on the store's write thread, in arrival order; on PostgreSQL on this task.
    /// The job owns what it writes (it may run on another thread). A job that panics
    /// is rolled back and reported as [`StoreError::JobPanicked`].
    pub async fn transact<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut WriteTx) -> futures::future::BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.run(job).await,
            None => {
                use futures::FutureExt;
                let mut tx = self.begin_write().await?;
                // Dropping the transaction of a panicked job rolls it back.
                let ran = std::panic::AssertUnwindSafe(job(&mut tx)).catch_unwind().await;
                let out = ran.map_err(|_| StoreError::JobPanicked)??;
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// Resolves when a transaction that queued webhook deliveries has committed (or
    /// at once if one did since the last call).
    pub async fn outbox_notified(&self) {
        self.outbox.notified().await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Hold this while running a write (a statement or a transaction) on SQLite: one
    /// writer of this process at a time, in arrival order (the write thread of
    /// [`Store::transact`] takes it too). `None` on PostgreSQL, which handles
    /// concurrent writers itself.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.writes).lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// Whether key `id`'s use at `now` should be written (at most once a minute).
    pub(crate) fn should_touch(&self, id: &str, now: i64) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        match touched.get(id) {
            Some(&at) if now - at < 60_000 => false,
            _ => {
                touched.insert(id.to_string(), now);
                true
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Text every backend can store: PostgreSQL's TEXT refuses the NUL character (SQLite
/// keeps it), so it is removed here, once, for every free-text column (a model's answer
/// or a client-chosen id can contain one). JSON columns need nothing: serde escapes NUL.
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from_str(path).ok()).flatten()
}

/// The URL without a password, for errors and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_errors() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/docent.db"), "sqlite://data/docent.db");
        assert_eq!(sqlite_path("sqlite://data/x.db?mode=rwc").as_deref(), Some(Path::new("data/x.db")));
    }

    #[test]
    fn nul_characters_are_removed_from_text() {
        assert_eq!(storable("a\0b\0"), "ab");
        assert!(matches!(storable("plain"), std::borrow::Cow::Borrowed("plain")));
    }
}
