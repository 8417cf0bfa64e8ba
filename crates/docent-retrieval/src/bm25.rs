//! BM25 over title, headings and body, from user text that is never parsed.
//!
//! The query is tokenized with each field's own analyzer (`en_stem`: split on
//! non-alphanumerics, lower-case, Porter stemming), so quotes, colons, brackets,
//! `AND`/`OR`/`NOT`, `*`, emoji, control characters or 10 kB of pasted text are just
//! text: symbols vanish in tokenization and words become term queries. The query is a
//! disjunction of `Boost(TermQuery)` clauses, one per distinct term per field, which
//! tantivy answers with block-max WAND.
//!
//! Common English function words ([`STOP_WORDS`]: "the", "what", "does", "how", …) are
//! dropped from the query when it has other terms: the index keeps them (phrases and
//! all-stop-word queries still work), but as query terms they mostly reward long
//! chunks that happen to repeat them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;
use tantivy::{Searcher, Term};
use tracing::debug_span;

use crate::{RowSet, Scored, Snapshot};

/// Query words ignored when the query has other words (matched before stemming, by
/// stemming them with the field's own analyzer).
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    "what", "which", "who", "whom", "when", "where", "why", "how", "do", "does", "did", "can", "could", "should",
    "would", "i", "me", "my", "we", "our", "you", "your", "am", "been", "being", "have", "has", "had", "its", "s", "t",
];

/// Default cap on distinct query terms per field.
pub const DEFAULT_MAX_TERMS: usize = 64;

/// BM25 settings: per-field boosts and the term cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bm25Config {
    /// Boost of the page title.
    pub title_boost: f32,
    /// Boost of the heading path.
    pub headings_boost: f32,
    /// Boost of the chunk body.
    pub body_boost: f32,
    /// Distinct terms kept per field, in order of first appearance (a 10 kB paste
    /// becomes a bounded query).
    pub max_terms: usize,
    /// Drop [`STOP_WORDS`] from queries that have other terms.
    pub stop_words: bool,
}

impl Default for Bm25Config {
    /// Title 0.5, headings 0.5, body 1.0: chosen by `docent eval --bm25-boosts` on both
    /// evaluation sets. The heading path starts with the page title, so a title word
    /// scores in both fields; the earlier 2.0 / 1.5 / 1.0 weighted a title match 3.5×
    /// a body match and cost SciFact BM25 nDCG@10 0.567 (0.665 at 0.5 / 0.5 / 1) and
    /// corpus hybrid 0.946 (0.955). See docs/BENCHMARKS.md.
    fn default() -> Self {
        Bm25Config {
            title_boost: 0.5,
            headings_boost: 0.5,
            body_boost: 1.0,
            max_terms: DEFAULT_MAX_TERMS,
            stop_words: true,
        }
    }
}

/// Stop words as each text field's analyzer indexes them (stemmed), per field.
#[derive(Debug, Default)]
pub(crate) struct StopTerms(HashMap<Field, HashSet<String>>);

impl StopTerms {
    /// Run [`STOP_WORDS`] through the analyzers of `fields`.
    pub(crate) fn for_fields(searcher: &Searcher, fields: &[Field]) -> tantivy::Result<Self> {
        let mut out = HashMap::new();
        for &field in fields {
            let mut analyzer = searcher.index().tokenizer_for_field(field)?;
            let mut set = HashSet::new();
            for w in STOP_WORDS {
                let mut stream = analyzer.token_stream(w);
                while stream.advance() {
                    set.insert(stream.token().text.clone());
                }
            }
            out.insert(field, set);
        }
        Ok(StopTerms(out))
    }

    fn get(&self, field: Field) -> Option<&HashSet<String>> {
        self.0.get(&field)
    }
}

/// The distinct tokens of `text` under `field`'s analyzer, at most `max` of them;
/// without the `stop` terms unless nothing else is left.
pub(crate) fn field_terms(
    searcher: &Searcher,
    field: Field,
    text: &str,
    max: usize,
    stop: Option<&HashSet<String>>,
) -> tantivy::Result<Vec<Term>> {
    let mut analyzer = searcher.index().tokenizer_for_field(field)?;
    let mut stream = analyzer.token_stream(text);
    let mut seen = HashSet::new();
    let mut kept: Vec<String> = Vec::new();
    let mut stopped: Vec<String> = Vec::new();
    while kept.len() < max && stream.advance() {
        let t = &stream.token().text;
        if t.is_empty() || !seen.insert(t.clone()) {
            continue;
        }
        if stop.is_some_and(|s| s.contains(t)) {
            if stopped.len() < max {
                stopped.push(t.clone());
            }
        } else {
            kept.push(t.clone());
        }
    }
    let words = if kept.is_empty() { stopped } else { kept };
    Ok(words.iter().map(|w| Term::from_field_text(field, w)).collect())
}

/// The boosted disjunction for `text`, or `None` when no field yields a token.
pub(crate) fn build_query(
    searcher: &Searcher,
    fields: &[(Field, f32)],
    text: &str,
    max_terms: usize,
    stop: Option<&StopTerms>,
) -> tantivy::Result<Option<BooleanQuery>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for &(field, boost) in fields {
        if boost <= 0.0 {
            continue;
        }
        for term in field_terms(searcher, field, text, max_terms, stop.and_then(|s| s.get(field)))? {
            let tq = TermQuery::new(term, IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost))));
        }
    }
    Ok((!clauses.is_empty()).then(|| BooleanQuery::new(clauses)))
}

/// The `depth` best chunks of `snapshot` for `text`, restricted to `allowed` rows when given.
pub(crate) fn search(
    snapshot: &Snapshot,
    config: &Bm25Config,
    text: &str,
    depth: usize,
    allowed: Option<&Arc<RowSet>>,
) -> tantivy::Result<Vec<Scored>> {
    let _span = debug_span!("bm25", depth).entered();
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
    let Some(query) = build_query(searcher, &fields, text, config.max_terms, stop)? else {
        return Ok(Vec::new());
    };
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
