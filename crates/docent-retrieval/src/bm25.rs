//! BM25 over title, headings and body, from user text that is never parsed.
//!
//! The query is tokenized with each field's own analyzer (`en_stem`: split on
//! non-alphanumerics, lower-case, Porter stemming), so quotes, colons, brackets,
//! `AND`/`OR`/`NOT`, `*`, emoji, control characters or 10 kB of pasted text are just
//! text: symbols vanish in tokenization and words become term queries. The query is a
//! disjunction of `Boost(TermQuery)` clauses, one per distinct term per field, which
//! tantivy answers with block-max WAND.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;
use tantivy::{Searcher, Term};
use tracing::debug_span;

use crate::chunk_table::ChunkTable;
use crate::{RowSet, Scored};

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
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config { title_boost: 2.0, headings_boost: 1.5, body_boost: 1.0, max_terms: DEFAULT_MAX_TERMS }
    }
}

/// The distinct tokens of `text` under `field`'s analyzer, at most `max` of them.
pub(crate) fn field_terms(searcher: &Searcher, field: Field, text: &str, max: usize) -> tantivy::Result<Vec<Term>> {
    let mut analyzer = searcher.index().tokenizer_for_field(field)?;
    let mut stream = analyzer.token_stream(text);
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    while terms.len() < max && stream.advance() {
        let t = &stream.token().text;
        if !t.is_empty() && seen.insert(t.clone()) {
            terms.push(Term::from_field_text(field, t));
        }
    }
    Ok(terms)
}

/// The boosted disjunction for `text`, or `None` when no field yields a token.
pub(crate) fn build_query(
    searcher: &Searcher,
    fields: &[(Field, f32)],
    text: &str,
    max_terms: usize,
) -> tantivy::Result<Option<BooleanQuery>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for &(field, boost) in fields {
        if boost <= 0.0 {
            continue;
        }
        for term in field_terms(searcher, field, text, max_terms)? {
            let tq = TermQuery::new(term, IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), boost))));
        }
    }
    Ok((!clauses.is_empty()).then(|| BooleanQuery::new(clauses)))
}

/// The `depth` best chunks for `text`, restricted to `allowed` rows when given.
pub(crate) fn search(
    searcher: &Searcher,
    table: &ChunkTable,
    fields: &[(Field, f32)],
    ordinal_field: &str,
    text: &str,
    depth: usize,
    max_terms: usize,
    allowed: Option<&Arc<RowSet>>,
) -> tantivy::Result<Vec<Scored>> {
    let _span = debug_span!("bm25", depth).entered();
    if depth == 0 || table.rows() == 0 {
        return Ok(Vec::new());
    }
    let Some(query) = build_query(searcher, fields, text, max_terms)? else {
        return Ok(Vec::new());
    };
    let top = TopDocs::with_limit(depth).order_by_score();
    let hits = match allowed {
        None => searcher.search(&query, &top)?,
        Some(rows) => {
            let rows = Arc::clone(rows);
            let filter = FilterCollector::new(
                ordinal_field.to_string(),
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
