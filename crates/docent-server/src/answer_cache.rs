//! The answer cache: a first-turn question asked again gets the same answer without
//! retrieval or generation, streamed as the same events with `cached: true`.
//!
//! Only answers that depend on nothing but the question are cached: first turns (no
//! history), keyed by bot, index generation, filters and the normalised question,
//! and only when they finished with `stop` or `no_answer` (never a cut, cancelled or
//! failed answer). A newly published generation changes the key, so answers from the
//! old index are never served again; entries also expire after `ttl_secs`, and the
//! least recently used go first past `max_entries`.
//!
//! Useful for: the repeated questions of a docs site (pricing, refunds, sign-in).
//! Not for: follow-ups or per-visitor answers (never cached), or sharing between
//! replicas (each process has its own cache).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docent_answer::{FinishReason, Usage};
use docent_retrieval::{Filters, QueryEmbedder};
use lru::LruCache;
use serde::{Deserialize, Serialize};

use crate::turn::{ApiCitation, ApiSource};

/// The `[answer_cache]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerCacheConfig {
    /// Serve repeated first-turn questions from the cache.
    pub enabled: bool,
    /// Answers kept (least recently used evicted first).
    pub max_entries: usize,
    /// Seconds an answer may be served after it was generated.
    pub ttl_secs: u64,
}

impl Default for AnswerCacheConfig {
    fn default() -> Self {
        AnswerCacheConfig { enabled: true, max_entries: 2048, ttl_secs: 600 }
    }
}

/// What identifies an answer that depends on nothing but the question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    bot: String,
    generation: u64,
    filters: String,
    question: String,
}

impl CacheKey {
    /// The key of a first-turn question on `generation` of `bot`'s index.
    pub fn new(bot: &str, generation: u64, filters: &Filters, question: &str) -> Self {
        let mut tags = filters.tags.clone();
        tags.sort();
        tags.dedup();
        CacheKey {
            bot: bot.to_string(),
            generation,
            filters: format!("{}\u{1f}{}", filters.url_prefix.as_deref().unwrap_or(""), tags.join("\u{1f}")),
            question: normalize(question),
        }
    }
}

/// The question as a cache key: [`QueryEmbedder::normalize`] (case, whitespace,
/// control characters) without trailing punctuation, so "Refund window?" and
/// "refund window" are one question.
pub fn normalize(question: &str) -> String {
    let n = QueryEmbedder::normalize(question);
    n.trim_end_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()).to_string()
}

/// A finished answer as it is replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    /// Whether the `sources` frame said `grounded`.
    pub grounded: bool,
    /// The retrieval confidence shown in the `sources` frame.
    pub confidence: f32,
    /// Sources shown.
    pub sources: Vec<ApiSource>,
    /// The `delta` texts, in order.
    pub deltas: Vec<String>,
    /// The whole answer.
    pub content: String,
    /// Its citations.
    pub citations: Vec<ApiCitation>,
    /// `stop` or `no_answer`.
    pub finish_reason: FinishReason,
    /// Token counts of the original generation.
    pub usage: Usage,
    /// Markers the generator wrote that pointed to no source.
    pub removed_citations: Vec<String>,
}

/// Whether an answer that ended with `reason` may be cached.
pub fn cacheable(reason: FinishReason) -> bool {
    matches!(reason, FinishReason::Stop | FinishReason::NoAnswer)
}

struct Entry {
    answer: Arc<CachedAnswer>,
    stored: Instant,
}

/// The cache (one per server, shared by its bots; cheap to share in an `Arc`).
pub struct AnswerCache {
    entries: Mutex<LruCache<CacheKey, Entry>>,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").field("ttl", &self.ttl).field("len", &self.len()).finish_non_exhaustive()
    }
}

impl AnswerCache {
    /// A cache per `config`; `None` when it is disabled or has no room.
    pub fn from_config(config: &AnswerCacheConfig) -> Option<Self> {
        let capacity = NonZeroUsize::new(config.max_entries).filter(|_| config.enabled)?;
        Some(AnswerCache {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl: Duration::from_secs(config.ttl_secs),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The answer for `key` if one is cached and fresh (an expired one is dropped).
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = match entries.get(key) {
            Some(e) if e.stored.elapsed() < self.ttl => Some(Arc::clone(&e.answer)),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keep `answer` for `key` (ignored unless its finish reason is [`cacheable`]).
    pub fn put(&self, key: CacheKey, answer: CachedAnswer) {
        if !cacheable(answer.finish_reason) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.put(key, Entry { answer: Arc::new(answer), stored: Instant::now() });
    }

    /// Answers held now (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups that found a fresh answer, and lookups that did not.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(reason: FinishReason) -> CachedAnswer {
        CachedAnswer {
            grounded: true,
            confidence: 0.9,
            sources: Vec::new(),
            deltas: vec!["Refunds ".into(), "take 30 days.".into()],
            content: "Refunds take 30 days.".into(),
            citations: Vec::new(),
            finish_reason: reason,
            usage: Usage::default(),
            removed_citations: Vec::new(),
        }
    }

    fn cache(max_entries: usize, ttl_secs: u64) -> AnswerCache {
        AnswerCache::from_config(&AnswerCacheConfig { enabled: true, max_entries, ttl_secs }).expect("enabled")
    }

    #[test]
    fn the_key_folds_case_spacing_and_trailing_punctuation_but_not_meaning() {
        let f = Filters::default();
        assert_eq!(CacheKey::new("docs", 1, &f, "Refund  window?"), CacheKey::new("docs", 1, &f, " refund window"));
        assert_ne!(CacheKey::new("docs", 1, &f, "refund window"), CacheKey::new("docs", 1, &f, "refund windows"));
        assert_ne!(CacheKey::new("docs", 1, &f, "q"), CacheKey::new("docs", 2, &f, "q"), "a new generation");
        assert_ne!(CacheKey::new("docs", 1, &f, "q"), CacheKey::new("other", 1, &f, "q"), "another bot");
        let guide = Filters { url_prefix: Some("https://x/guide/".into()), tags: Vec::new() };
        assert_ne!(CacheKey::new("docs", 1, &f, "q"), CacheKey::new("docs", 1, &guide, "q"), "other filters");
        let ab = Filters { url_prefix: None, tags: vec!["a".into(), "b".into()] };
        let ba = Filters { url_prefix: None, tags: vec!["b".into(), "a".into(), "a".into()] };
        assert_eq!(CacheKey::new("docs", 1, &ab, "q"), CacheKey::new("docs", 1, &ba, "q"), "tags are a set");
    }

    #[test]
    fn only_finished_answers_are_kept_and_hits_are_counted() {
        let c = cache(8, 60);
        let f = Filters::default();
        for reason in [FinishReason::Length, FinishReason::Cancelled, FinishReason::Error, FinishReason::Handoff] {
            c.put(CacheKey::new("docs", 1, &f, "q"), answer(reason));
        }
        assert!(c.get(&CacheKey::new("docs", 1, &f, "q")).is_none());
        c.put(CacheKey::new("docs", 1, &f, "q"), answer(FinishReason::Stop));
        c.put(CacheKey::new("docs", 1, &f, "n"), answer(FinishReason::NoAnswer));
        assert_eq!(
            c.get(&CacheKey::new("docs", 1, &f, "Q?")).map(|a| a.content.clone()),
            Some("Refunds take 30 days.".into())
        );
        assert!(c.get(&CacheKey::new("docs", 1, &f, "n")).is_some());
        assert_eq!(c.stats(), (2, 1));
    }

    #[test]
    fn size_bound_evicts_the_least_recently_used_and_ttl_expires() {
        let c = cache(2, 60);
        let f = Filters::default();
        c.put(CacheKey::new("docs", 1, &f, "a"), answer(FinishReason::Stop));
        c.put(CacheKey::new("docs", 1, &f, "b"), answer(FinishReason::Stop));
        assert!(c.get(&CacheKey::new("docs", 1, &f, "a")).is_some());
        c.put(CacheKey::new("docs", 1, &f, "c"), answer(FinishReason::Stop));
        assert!(c.get(&CacheKey::new("docs", 1, &f, "b")).is_none(), "b was the least recently used");
        assert!(c.get(&CacheKey::new("docs", 1, &f, "a")).is_some());
        assert_eq!(c.len(), 2);

        let expired = cache(2, 0);
        expired.put(CacheKey::new("docs", 1, &f, "a"), answer(FinishReason::Stop));
        assert!(expired.get(&CacheKey::new("docs", 1, &f, "a")).is_none(), "a zero TTL serves nothing");
        assert!(expired.is_empty(), "the expired entry is dropped");
        assert!(
            AnswerCache::from_config(&AnswerCacheConfig { enabled: false, ..AnswerCacheConfig::default() }).is_none()
        );
    }
}
