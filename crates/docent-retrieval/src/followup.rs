//! Follow-up questions: the retrieval query of a conversation turn, built from the
//! turn and the user's earlier turns by weighted expansion.
//!
//! "Can I extend it?" alone retrieves nothing useful; after "How long is the free
//! trial?" it should find the trial page. [`build_followup_query`] keeps the current
//! turn at full weight and adds the last [`FollowupConfig::turns`] earlier user turns
//! with decaying weights:
//!
//! - **BM25**: the current turn's query (the same boosted term disjunction as a plain
//!   search) plus each earlier turn's query scaled by its weight
//!   ([`FollowupConfig::bm25_decay`] for the previous turn, its square for the one
//!   before, …). A term in both turns scores with both weights.
//! - **Dense**: the current turn and the concatenation "earlier turns + current turn"
//!   are embedded (each through the query cache) and blended,
//!   `normalize(a · v_current + (1 − a) · v_context)` with
//!   `a =` [`FollowupConfig::dense_current`].
//!
//! The current turn keeps the largest weight in both retrievers, so a turn that
//! changes the subject still finds its own pages. With no earlier turn the plan is a
//! plain search. [`Retriever::search_with_history`] runs a plan through the normal
//! pipeline (filters, fusion, diversity, confidence).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query};

use crate::confidence::{content_terms, idf_mass, WeightedTerm};
use crate::{
    bm25, Bm25Config, QueryEmbedder, QueryVector, RetrievalError, Retriever, RowSet, Scored, SearchRequest,
    SearchResponse, Snapshot,
};

/// Characters kept of each earlier turn (a pasted wall of text in the history must
/// not drown the current question).
pub const MAX_TURN_CHARS: usize = 1000;

/// Weights of the expansion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FollowupConfig {
    /// Earlier user turns used (the most recent ones).
    pub turns: usize,
    /// BM25 weight of the previous turn's terms; the turn before gets its square, etc.
    pub bm25_decay: f32,
    /// Weight of the current turn's vector in the dense blend (the rest goes to the
    /// vector of the concatenated turns).
    pub dense_current: f32,
}

impl Default for FollowupConfig {
    /// Two earlier turns, BM25 weights 0.5 and 0.25, an even dense blend.
    ///
    /// Chosen a priori (not tuned on the 17 follow-ups of `corpus/questions.jsonl`,
    /// which are too few to tune on); `docent eval --questions` reports recall with
    /// and without history for these values.
    fn default() -> Self {
        FollowupConfig { turns: 2, bm25_decay: 0.5, dense_current: 0.5 }
    }
}

/// An earlier turn of the conversation with its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextTurn {
    /// The user's text of that turn.
    pub text: String,
    /// BM25 weight of its terms (relative to the current turn's 1).
    pub weight: f32,
}

/// The retrieval query of a conversation turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryPlan {
    /// The current turn, at full weight.
    pub current: String,
    /// Earlier turns used, oldest first.
    pub context: Vec<ContextTurn>,
    /// Weight of the current turn's vector in the dense blend.
    pub dense_current: f32,
}

/// Build the query of `current` given the earlier user turns `history` (oldest
/// first), with the default weights.
pub fn build_followup_query(history: &[&str], current: &str) -> QueryPlan {
    build_followup_query_with(history, current, &FollowupConfig::default())
}

/// [`build_followup_query`] with explicit weights. Blank turns are skipped.
pub fn build_followup_query_with(history: &[&str], current: &str, config: &FollowupConfig) -> QueryPlan {
    let used: Vec<&str> = history.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    let used = &used[used.len().saturating_sub(config.turns)..];
    let n = used.len();
    let context = used
        .iter()
        .enumerate()
        .map(|(i, t)| ContextTurn {
            text: t.chars().take(MAX_TURN_CHARS).collect(),
            // The most recent turn (i = n − 1) gets decay¹, the one before decay², …
            weight: config.bm25_decay.powi((n - i) as i32),
        })
        .filter(|c| c.weight > 0.0)
        .collect();
    QueryPlan { current: current.to_string(), context, dense_current: config.dense_current.clamp(0.0, 1.0) }
}

impl QueryPlan {
    /// True when there is no earlier turn: the plan is a plain search of `current`.
    pub fn is_plain(&self) -> bool {
        self.context.is_empty()
    }

    /// The text embedded for the context vector: earlier turns then the current one.
    pub fn context_text(&self) -> String {
        let mut parts: Vec<&str> = self.context.iter().map(|c| c.text.as_str()).collect();
        parts.push(self.current.as_str());
        parts.join(" ")
    }

    /// The blended query vector (`None` when nothing can be embedded).
    pub(crate) fn query_vector(&self, embedder: &QueryEmbedder) -> Result<Option<QueryVector>, RetrievalError> {
        let current = embedder.embed_query(&self.current)?;
        if self.is_plain() || self.dense_current >= 1.0 {
            return Ok(current);
        }
        let Some(context) = embedder.embed_query(&self.context_text())? else { return Ok(current) };
        let Some(current) = current else { return Ok(Some(context)) };
        let a = self.dense_current;
        let mut v: Vec<f32> =
            current.vector.iter().zip(context.vector.iter()).map(|(c, x)| a * c + (1.0 - a) * x).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(Some(QueryVector { vector: v.into(), cached: current.cached && context.cached }))
    }

    /// The weighted content terms of the plan (for the confidence features): the
    /// current turn's at 1, each earlier turn's new terms at that turn's weight.
    pub(crate) fn weighted_terms(&self, snapshot: &Snapshot) -> Vec<WeightedTerm> {
        let mut out: Vec<WeightedTerm> = Vec::new();
        let turns = std::iter::once((self.current.as_str(), 1.0))
            .chain(self.context.iter().rev().map(|c| (c.text.as_str(), c.weight)));
        for (text, weight) in turns {
            for t in content_terms(snapshot, text) {
                if !out.iter().any(|o| o.text == t) {
                    out.push(WeightedTerm { text: t, weight });
                }
            }
        }
        out
    }

    /// BM25 candidates of the plan: the current turn's query plus each earlier turn's,
    /// scaled by its weight, restricted to `allowed` rows when given.
    pub(crate) fn bm25_search(
        &self,
        snapshot: &Snapshot,
        config: &Bm25Config,
        depth: usize,
        allowed: Option<&Arc<RowSet>>,
    ) -> tantivy::Result<Vec<Scored>> {
        let table = snapshot.table();
        if depth == 0 || table.rows() == 0 {
            return Ok(Vec::new());
        }
        let searcher = snapshot.index().searcher();
        let schema = snapshot.index().schema();
        let fields = [
            (schema.title, config.title_boost),
            (schema.headings, config.headings_boost),
            (schema.body, config.body_boost),
        ];
        let stop = config.stop_words.then(|| snapshot.stop_terms());
        let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // An earlier turn's weight is relative to the current turn's IDF mass: a turn
        // of rarer words must not outscore the question actually asked.
        let current_mass = idf_mass(snapshot, &content_terms(snapshot, &self.current));
        let turns = std::iter::once((self.current.as_str(), 1.0f32)).chain(self.context.iter().map(|c| {
            let mass = idf_mass(snapshot, &content_terms(snapshot, &c.text));
            let scale = if mass > current_mass && mass > 0.0 { current_mass / mass } else { 1.0 };
            (c.text.as_str(), c.weight * scale)
        }));
        for (text, weight) in turns {
            if weight <= 0.0 {
                continue;
            }
            if let Some(q) = bm25::build_query(searcher, &fields, text, config.max_terms, stop)? {
                let q: Box<dyn Query> = if (weight - 1.0).abs() < f32::EPSILON {
                    Box::new(q)
                } else {
                    Box::new(BoostQuery::new(Box::new(q), weight))
                };
                parts.push((Occur::Should, q));
            }
        }
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(parts);
        let top = TopDocs::with_limit(depth).order_by_score();
        let hits = match allowed {
            None => searcher.search(&query, &top)?,
            Some(rows) => {
                let rows = Arc::clone(rows);
                let filter = FilterCollector::new(
                    schema.schema.get_field_name(schema.ordinal).to_string(),
                    move |ordinal: u64| u32::try_from(ordinal).is_ok_and(|o| rows.contains(o)),
                    top,
                );
                searcher.search(&query, &filter)?
            }
        };
        let mut out: Vec<Scored> = hits
            .into_iter()
            .filter_map(|(score, addr)| table.ordinal(addr).map(|ordinal| Scored { ordinal, score }))
            .collect();
        out.sort_by(Scored::best_first);
        Ok(out)
    }
}

impl Retriever {
    /// Answer a conversation turn: `request.query` is the current user turn, `history`
    /// the user's earlier turns, oldest first. The query is built by
    /// [`build_followup_query`]; with an empty history this is [`Retriever::search`].
    pub fn search_with_history(
        &self,
        request: &SearchRequest,
        history: &[&str],
    ) -> Result<SearchResponse, RetrievalError> {
        self.search_plan(request, &build_followup_query(history, &request.query))
    }

    /// Answer `request` with an explicit plan (its `current` replaces `request.query`).
    pub fn search_plan(&self, request: &SearchRequest, plan: &QueryPlan) -> Result<SearchResponse, RetrievalError> {
        let snapshot = self.snapshot();
        if plan.is_plain() && plan.current == request.query {
            return self.search_in(&snapshot, request);
        }
        self.search_planned(&snapshot, request, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_turns_get_decaying_weights_most_recent_highest() {
        let p = build_followup_query(&["first", "  ", "second", "third"], "now?");
        // Two turns kept (the default), blank ones skipped: "second" (0.25), "third" (0.5).
        assert_eq!(p.context.len(), 2);
        assert_eq!(p.context[0], ContextTurn { text: "second".into(), weight: 0.25 });
        assert_eq!(p.context[1], ContextTurn { text: "third".into(), weight: 0.5 });
        assert_eq!(p.context_text(), "second third now?");
        assert!(!p.is_plain());
        let cfg = FollowupConfig { turns: 3, bm25_decay: 0.1, dense_current: 2.0 };
        let p = build_followup_query_with(&["a", "b"], "c", &cfg);
        assert!((p.context[0].weight - 0.01).abs() < 1e-7 && (p.context[1].weight - 0.1).abs() < 1e-7);
        assert_eq!(p.dense_current, 1.0, "clamped");
    }

    #[test]
    fn no_history_is_a_plain_query_and_long_turns_are_cut() {
        assert!(build_followup_query(&[], "refunds").is_plain());
        assert!(build_followup_query(&[" ", ""], "refunds").is_plain());
        let long = "word ".repeat(1000);
        let p = build_followup_query(&[long.as_str()], "q");
        assert_eq!(p.context[0].text.chars().count(), MAX_TURN_CHARS);
        let none = FollowupConfig { turns: 0, ..FollowupConfig::default() };
        assert!(build_followup_query_with(&["x"], "q", &none).is_plain());
    }
}
