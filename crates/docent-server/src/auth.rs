//! API keys: minting, verification, scopes.
//!
//! A key reads `sk_<id>_<secret>` (or `pk_…`): the id finds the row, the secret is
//! checked by comparing SHA-256 digests in constant time. Only the digest is stored,
//! and the full key is shown once, at creation.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ApiKeyRecord, KeyKind, NewKey, Store, StoreError};

/// Permissions a secret key can hold.
pub const SCOPES: &[&str] = &["chat", "search", "conversations:read", "admin"];

/// Characters of the random secret part.
const SECRET_CHARS: usize = 32;
/// Characters of the id part.
const ID_CHARS: usize = 12;

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An unknown scope.
    #[error("unknown scope `{0}` (known: chat, search, conversations:read, admin)")]
    Scope(String),
    /// A public key needs exactly one bot and allows only `chat`.
    #[error("a public key is for exactly one bot (--bot) and only the chat scope")]
    PublicShape,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key just created: `key` is the only copy of the secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedKey {
    /// The full key, to hand to the client once.
    pub key: String,
    /// Its stored record.
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create and store a key.
pub async fn create_key(
    store: &Store,
    kind: KeyKind,
    name: &str,
    bots: &[String],
    scopes: &[String],
    origins: &[String],
) -> Result<CreatedKey, KeyError> {
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(KeyError::Scope(bad.clone()));
    }
    if kind == KeyKind::Public && (bots.len() != 1 || scopes.iter().any(|s| s != "chat")) {
        return Err(KeyError::PublicShape);
    }
    let scopes: Vec<String> = if kind == KeyKind::Public { vec!["chat".into()] } else { scopes.to_vec() };
    let mut rng = rand::rng();
    let id_part = Alphanumeric.sample_string(&mut rng, ID_CHARS).to_ascii_lowercase();
    let secret = Alphanumeric.sample_string(&mut rng, SECRET_CHARS);
    let id = format!("key_{id_part}");
    let hash = digest(&secret);
    let record =
        store.insert_key(&NewKey { id: &id, kind, name, secret_hash: &hash, bots, scopes: &scopes, origins }).await?;
    Ok(CreatedKey { key: format!("{}_{id_part}_{secret}", kind.prefix()), record })
}

/// The parts of a presented key: kind, row id, secret.
pub(crate) fn parse_key(key: &str) -> Option<(KeyKind, String, &str)> {
    let (kind, rest) = if let Some(r) = key.strip_prefix("sk_") {
        (KeyKind::Secret, r)
    } else if let Some(r) = key.strip_prefix("pk_") {
        (KeyKind::Public, r)
    } else {
        return None;
    };
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_alphanumeric());
    (ok(id, ID_CHARS) && ok(secret, SECRET_CHARS)).then(|| (kind, format!("key_{id}"), secret))
}

/// Look up and verify a presented key. `Ok(None)`: unknown, revoked or wrong.
pub async fn verify_key(store: &Store, key: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    let Some((kind, id, secret)) = parse_key(key) else { return Ok(None) };
    let Some(record) = store.key(&id).await? else { return Ok(None) };
    let matches: bool = digest(secret).as_bytes().ct_eq(record.secret_hash.as_bytes()).into();
    if !matches || record.kind != kind || record.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(record))
}

/// Who is calling, after authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key (`None` when auth is not required).
    pub key: Option<ApiKeyRecord>,
}

impl Caller {
    /// A caller with every right (auth disabled).
    pub fn open() -> Self {
        Caller { key: None }
    }

    /// Public key?
    pub fn is_public(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.kind == KeyKind::Public)
    }

    /// Key id for rate limiting and logs (`open` without auth).
    pub fn key_id(&self) -> &str {
        self.key.as_ref().map(|k| k.id.as_str()).unwrap_or("open")
    }

    /// May this caller use `bot`?
    pub fn may_use_bot(&self, bot: &str) -> bool {
        match &self.key {
            None => true,
            Some(k) => k.bots.is_empty() || k.bots.iter().any(|b| b == bot),
        }
    }

    /// Does the caller hold `scope` (`admin` holds every scope)?
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.key {
            None => true,
            Some(k) => k.scopes.iter().any(|s| s == scope || s == "admin"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_only_in_their_exact_shape() {
        let key = format!("sk_{}_{}", "a".repeat(12), "B".repeat(32));
        let (kind, id, secret) = parse_key(&key).expect("parses");
        assert_eq!((kind, id.as_str(), secret.len()), (KeyKind::Secret, "key_aaaaaaaaaaaa", 32));
        assert!(parse_key("sk_short_x").is_none());
        assert!(parse_key(&key.replace("sk_", "xk_")).is_none());
        assert!(parse_key(&format!("{key}!")).is_none());
        assert_eq!(digest("x").len(), 64);
    }
}
