use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{FusionConfig, RetrievalError};

/// Largest `k` a request may ask for.
pub const MAX_K: usize = 1000;
/// Largest candidate depth per retriever.
pub const MAX_CANDIDATES: usize = 10_000;

/// Which retrievers answer a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Lexical only: BM25 over title, headings and body.
    Bm25,
    /// Semantic only: cosine similarity of the query embedding with every chunk.
    Dense,
    /// Both, fused ([`FusionConfig`]).
    #[default]
    Hybrid,
    /// Hybrid, then the top hits rescored by the retriever's reranker
    /// ([`crate::rerank`]; [`RetrievalError::NoReranker`] when it has none).
    Rerank,
}

impl SearchMode {
    /// The name used on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Bm25 => "bm25",
            SearchMode::Dense => "dense",
            SearchMode::Hybrid => "hybrid",
            SearchMode::Rerank => "rerank",
        }
    }

    /// True when the query must be embedded.
    pub fn uses_dense(self) -> bool {
        matches!(self, SearchMode::Dense | SearchMode::Hybrid | SearchMode::Rerank)
    }

    /// True when BM25 runs.
    pub fn uses_bm25(self) -> bool {
        matches!(self, SearchMode::Bm25 | SearchMode::Hybrid | SearchMode::Rerank)
    }

    /// True when a reranker runs after fusion.
    pub fn uses_rerank(self) -> bool {
        matches!(self, SearchMode::Rerank)
    }
}

impl fmt::Display for SearchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SearchMode {
    type Err = RetrievalError;

    /// `bm25`, `dense`, `hybrid` or `rerank` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bm25" => Ok(SearchMode::Bm25),
            "dense" => Ok(SearchMode::Dense),
            "hybrid" => Ok(SearchMode::Hybrid),
            "rerank" => Ok(SearchMode::Rerank),
            _ => Err(RetrievalError::UnknownMode(s.to_string())),
        }
    }
}

/// Restrictions on which chunks may be returned. They are applied inside each
/// retriever, before its top-k cut, so a filter never starves the result list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Keep only chunks whose page URL (the document id, without `#anchor`) starts
    /// with this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_prefix: Option<String>,
    /// Keep only chunks carrying at least one of these tags (any-of). Empty: no tag filter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Filters {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.url_prefix.as_deref().is_none_or(str::is_empty) && self.tags.is_empty()
    }
}

/// One query. Build with [`SearchRequest::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The user's text, used as is: it is never parsed as query syntax.
    pub query: String,
    /// Number of hits wanted (at most [`MAX_K`]; 0 gives no hits).
    pub k: usize,
    /// Retrievers to use.
    #[serde(default)]
    pub mode: SearchMode,
    /// Filters applied before the top-k cut.
    #[serde(default)]
    pub filters: Filters,
    /// At most this many chunks of one page (document id). `None`: the default
    /// ([`SearchRequest::effective_max_per_doc`]); `Some(0)`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_doc: Option<usize>,
    /// Candidates taken from each retriever before fusion. `None`: the retriever's
    /// configured depth (raised to `4 × k` when `k` is large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    /// Fusion override for this request. `None`: the retriever's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<FusionConfig>,
}

impl SearchRequest {
    /// A hybrid request for the top 10 hits, default diversity, no filters.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            k: 10,
            mode: SearchMode::Hybrid,
            filters: Filters::default(),
            max_per_doc: None,
            candidates: None,
            fusion: None,
        }
    }

    /// Set `k`.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Set the mode.
    pub fn with_mode(mut self, mode: SearchMode) -> Self {
        self.mode = mode;
        self
    }

    /// Set the filters.
    pub fn with_filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    /// Set the per-document limit (`0`: no limit).
    pub fn with_max_per_doc(mut self, n: usize) -> Self {
        self.max_per_doc = Some(n);
        self
    }

    /// The per-document limit in force: the request's, else 2 for `k ≤ 10` and
    /// `⌈k / 5⌉` above (so a long list may hold more of one page). `usize::MAX` when
    /// unlimited.
    pub fn effective_max_per_doc(&self) -> usize {
        match self.max_per_doc {
            Some(0) => usize::MAX,
            Some(n) => n,
            None if self.k <= 10 => 2,
            None => self.k.div_ceil(5),
        }
    }

    /// Check the numeric parameters (the query text is always acceptable).
    pub fn validate(&self) -> Result<(), RetrievalError> {
        if self.k > MAX_K {
            return Err(RetrievalError::InvalidRequest(format!("k = {} is above the maximum of {MAX_K}", self.k)));
        }
        if let Some(c) = self.candidates {
            if c == 0 || c > MAX_CANDIDATES {
                return Err(RetrievalError::InvalidRequest(format!(
                    "candidates = {c} must be between 1 and {MAX_CANDIDATES}"
                )));
            }
        }
        if let Some(f) = &self.fusion {
            f.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("BM25".parse::<SearchMode>().ok(), Some(SearchMode::Bm25));
        assert_eq!(" dense ".parse::<SearchMode>().ok(), Some(SearchMode::Dense));
        assert_eq!("hybrid".parse::<SearchMode>().ok(), Some(SearchMode::Hybrid));
        assert_eq!("Rerank".parse::<SearchMode>().ok(), Some(SearchMode::Rerank));
        assert_eq!(SearchMode::Rerank.to_string(), "rerank");
        assert!(SearchMode::Rerank.uses_bm25() && SearchMode::Rerank.uses_dense());
        assert!(matches!("fuzzy".parse::<SearchMode>(), Err(RetrievalError::UnknownMode(_))));
    }

    #[test]
    fn default_diversity_depends_on_k() {
        let r = SearchRequest::new("q");
        assert_eq!(r.effective_max_per_doc(), 2);
        assert_eq!(r.clone().with_k(50).effective_max_per_doc(), 10);
        assert_eq!(r.clone().with_max_per_doc(0).effective_max_per_doc(), usize::MAX);
        assert_eq!(r.with_max_per_doc(3).effective_max_per_doc(), 3);
    }

    #[test]
    fn numeric_limits_are_checked() {
        assert!(SearchRequest::new("q").with_k(MAX_K + 1).validate().is_err());
        let mut r = SearchRequest::new("q");
        r.candidates = Some(0);
        assert!(r.validate().is_err());
        assert!(SearchRequest::new("q").with_k(0).validate().is_ok());
    }
}
