//! Query embeddings: a small pool of models behind mutexes, and an LRU cache of
//! vectors keyed by the normalised query text.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use docent_index::{Embedder, ModelInfo};
use lru::LruCache;
use tracing::debug_span;

use crate::RetrievalError;

/// Default number of cached query vectors (≈ 1.5 kB each).
pub const DEFAULT_QUERY_CACHE: usize = 4096;
/// Characters of a query kept for embedding. The model reads at most 256 tokens, which
/// this length always covers for ordinary text; the cap bounds tokenizer work and cache
/// key size for pasted walls of text.
pub const MAX_EMBED_CHARS: usize = 4096;

/// A query's embedding.
#[derive(Debug, Clone)]
pub struct QueryVector {
    /// The normalised vector.
    pub vector: Arc<[f32]>,
    /// True when it came from the cache.
    pub cached: bool,
}

/// Embeds queries for a retriever (or several: share it in an `Arc`).
///
/// [`Embedder::embed`] takes `&mut self`, so each model sits behind its own mutex; a
/// query takes the first free one, so `n` models serve `n` queries at once.
pub struct QueryEmbedder {
    models: Vec<Mutex<Embedder>>,
    next: AtomicUsize,
    cache: Option<Mutex<LruCache<String, Arc<[f32]>>>>,
    info: ModelInfo,
}

impl std::fmt::Debug for QueryEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEmbedder")
            .field("models", &self.models.len())
            .field("cache", &self.cache.is_some())
            .field("model", &self.info.id)
            .finish()
    }
}

impl QueryEmbedder {
    /// One model and a cache of `cache_capacity` vectors (0: no cache).
    pub fn new(embedder: Embedder, cache_capacity: usize) -> Self {
        let info = embedder.info();
        Self::build(vec![embedder], cache_capacity, info)
    }

    /// A pool of models (at least one; all the same model) and a cache of
    /// `cache_capacity` vectors (0: no cache).
    pub fn from_models(models: Vec<Embedder>, cache_capacity: usize) -> Result<Self, RetrievalError> {
        let first = models
            .first()
            .ok_or_else(|| RetrievalError::InvalidRequest("a query embedder needs at least one model".into()))?;
        let info = first.info();
        if let Some(other) = models.iter().map(Embedder::info).find(|i| *i != info) {
            return Err(RetrievalError::InvalidRequest(format!(
                "every model of a pool must be the same; got `{}` and `{}`",
                info.id, other.id
            )));
        }
        Ok(Self::build(models, cache_capacity, info))
    }

    fn build(models: Vec<Embedder>, cache_capacity: usize, info: ModelInfo) -> Self {
        let cache = NonZeroUsize::new(cache_capacity).map(|c| Mutex::new(LruCache::new(c)));
        QueryEmbedder { models: models.into_iter().map(Mutex::new).collect(), next: AtomicUsize::new(0), cache, info }
    }

    /// The model the vectors come from (compared with each generation's manifest).
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// The text actually embedded for `query` (and the cache key): control characters
    /// become spaces, whitespace runs collapse, case folds (the model is uncased), and
    /// at most [`MAX_EMBED_CHARS`] characters are kept.
    pub fn normalize(query: &str) -> String {
        let mut out = String::with_capacity(query.len().min(MAX_EMBED_CHARS));
        let mut pending_space = false;
        let mut count = 0;
        for c in query.chars().map(|c| if c.is_control() { ' ' } else { c }) {
            if c.is_whitespace() {
                pending_space = !out.is_empty();
                continue;
            }
            if pending_space {
                if count + 1 >= MAX_EMBED_CHARS {
                    break;
                }
                out.push(' ');
                count += 1;
                pending_space = false;
            }
            for l in c.to_lowercase() {
                if count >= MAX_EMBED_CHARS {
                    break;
                }
                out.push(l);
                count += 1;
            }
            if count >= MAX_EMBED_CHARS {
                break;
            }
        }
        out
    }

    /// The vector of `query`, and whether it came from the cache. `None` when the
    /// normalised query is empty (nothing to embed).
    pub fn embed_query(&self, query: &str) -> Result<Option<QueryVector>, RetrievalError> {
        let key = Self::normalize(query);
        if key.is_empty() {
            return Ok(None);
        }
        if let Some(cache) = &self.cache {
            if let Some(v) = lock(cache).get(&key) {
                return Ok(Some(QueryVector { vector: v.clone(), cached: true }));
            }
        }
        let vector: Arc<[f32]> = {
            let _span = debug_span!("embed_query", chars = key.len()).entered();
            let mut model = self.take_model();
            let mut out = model.embed(&[key.as_str()]).map_err(|source| RetrievalError::Embed { source })?;
            match out.pop() {
                Some(v) if v.len() == self.info.dim => v.into(),
                Some(v) => {
                    return Err(RetrievalError::Embed {
                        source: docent_index::IndexError::Dimension { got: v.len(), want: self.info.dim },
                    })
                }
                None => {
                    return Err(RetrievalError::Embed {
                        source: docent_index::IndexError::Model("the model returned no vector".into()),
                    })
                }
            }
        };
        if let Some(cache) = &self.cache {
            lock(cache).put(key, vector.clone());
        }
        Ok(Some(QueryVector { vector, cached: false }))
    }

    /// A free model if there is one, else wait for the next one in turn.
    fn take_model(&self) -> MutexGuard<'_, Embedder> {
        let n = self.models.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.models[(start + i) % n].try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.models[start])
    }
}

/// Lock, ignoring poisoning: a panic elsewhere leaves the cache and the model usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_case_whitespace_and_controls() {
        assert_eq!(QueryEmbedder::normalize("  Reset\tMy\n\nPASSWORD \0 now "), "reset my password now");
        assert_eq!(QueryEmbedder::normalize("\u{0}\u{1}  \n"), "");
        assert_eq!(QueryEmbedder::normalize("İstanbul"), "i\u{307}stanbul");
        let long = "ab ".repeat(5000);
        assert_eq!(QueryEmbedder::normalize(&long).chars().count(), MAX_EMBED_CHARS);
    }
}
