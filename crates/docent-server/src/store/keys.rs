//! API keys at rest: only a SHA-256 of the secret part is stored.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{json_col, now_ms, storable, Store, StoreError};

/// Secret (server-side) or public (web page) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// `sk_…`: scoped to bots and permissions; never in a browser.
    Secret,
    /// `pk_…`: chat on one bot, from its allowed origins only.
    Public,
}

impl KeyKind {
    /// The key's prefix (`sk` / `pk`).
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk",
            KeyKind::Public => "pk",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "secret" => Ok(KeyKind::Secret),
            "public" => Ok(KeyKind::Public),
            other => Err(StoreError::Corrupt { what: "key kind", detail: other.to_string() }),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Public => "public",
        }
    }
}

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    /// Public id (`key_…`), also embedded in the key itself.
    pub id: String,
    /// Secret or public.
    pub kind: KeyKind,
    /// Operator's label.
    pub name: String,
    /// Hex SHA-256 of the secret part.
    #[serde(skip)]
    pub secret_hash: String,
    /// Bots it may use (empty: every bot; public keys always have exactly one).
    pub bots: Vec<String>,
    /// Permissions (`chat`, `search`, `conversations:read`, `admin`).
    pub scopes: Vec<String>,
    /// Public keys: origins allowed in addition to the bot's own list.
    pub origins: Vec<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds of its last successful use.
    pub last_used_at: Option<i64>,
    /// Epoch milliseconds of its revocation.
    pub revoked_at: Option<i64>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// `key_…`.
    pub id: &'a str,
    /// Kind.
    pub kind: KeyKind,
    /// Label.
    pub name: &'a str,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: &'a str,
    /// Bots.
    pub bots: &'a [String],
    /// Scopes.
    pub scopes: &'a [String],
    /// Origins.
    pub origins: &'a [String],
}

fn key(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        kind: KeyKind::parse(&row.try_get::<String, _>("kind")?)?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        bots: json_col(row, "bots", "key bots")?,
        scopes: json_col(row, "scopes", "key scopes")?,
        origins: json_col(row, "origins", "key origins")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const KEY_COLUMNS: &str = "id, kind, name, secret_hash, bots, scopes, origins, created_at, last_used_at, revoked_at";

impl Store {
    /// Store a new key.
    pub async fn insert_key(&self, k: &NewKey<'_>) -> Result<ApiKeyRecord, StoreError> {
        let now = now_ms();
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO api_keys (id, kind, name, secret_hash, bots, scopes, origins, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(k.id)
        .bind(k.kind.as_str())
        .bind(storable(k.name).as_ref())
        .bind(k.secret_hash)
        .bind(json(k.bots))
        .bind(json(k.scopes))
        .bind(json(k.origins))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(ApiKeyRecord {
            id: k.id.to_string(),
            kind: k.kind,
            name: storable(k.name).into_owned(),
            secret_hash: k.secret_hash.to_string(),
            bots: k.bots.to_vec(),
            scopes: k.scopes.to_vec(),
            origins: k.origins.to_vec(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// A key by id (revoked ones included).
    pub async fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(key).transpose()
    }

    /// Every key, newest first.
    pub async fn keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(key).collect()
    }

    /// Revoke a key; `false` when there is no such key (or it was already revoked).
    pub async fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Note a successful use (best effort; at most once a minute per key matters, so
    /// this process writes it at most once a minute per key).
    pub async fn touch_key(&self, id: &str) -> Result<(), StoreError> {
        let now = now_ms();
        if !self.should_touch(id, now) {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
