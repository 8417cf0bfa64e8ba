//! Lexical features of a `(query, passage)` pair for the offline reranker: coverage of
//! the query's terms, their proximity and order in the passage, and title/heading matches.
//!
//! Terms are lower-cased, English-stemmed words; stop words are dropped from the query
//! (when it has other words) and ignored in passages.

use std::collections::{HashMap, HashSet};

use tantivy::tokenizer::{Language, LowerCaser, SimpleTokenizer, Stemmer, TextAnalyzer, TokenStream};

use crate::STOP_WORDS;

/// Words of a text after analysis: `(term, position)` in order.
pub(crate) fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        out.push((t.text.clone(), t.position));
    }
    out
}

/// Lower-casing, stemming analyzer (stop words are handled by the callers).
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).filter(Stemmer::new(Language::English)).build()
}

/// Stemmed stop words.
pub(crate) fn stop_terms(analyzer: &mut TextAnalyzer) -> HashSet<String> {
    STOP_WORDS.iter().flat_map(|w| analyze(analyzer, w)).map(|(t, _)| t).collect()
}

/// The query side: distinct content terms in query order, and adjacent pairs.
#[derive(Debug, Clone)]
pub(crate) struct QueryTerms {
    /// Distinct terms, first occurrence order.
    pub terms: Vec<String>,
    /// Consecutive content-term pairs of the query (indices into `terms`).
    pub pairs: Vec<(usize, usize)>,
}

impl QueryTerms {
    pub(crate) fn new(analyzer: &mut TextAnalyzer, stop: &HashSet<String>, query: &str) -> Self {
        let all: Vec<String> = analyze(analyzer, query).into_iter().map(|(t, _)| t).collect();
        let content: Vec<&String> = all.iter().filter(|t| !stop.contains(*t)).collect();
        let seq: Vec<&String> = if content.is_empty() { all.iter().collect() } else { content };
        let mut terms: Vec<String> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut order: Vec<usize> = Vec::with_capacity(seq.len());
        for t in &seq {
            let i = *index.entry(t.as_str()).or_insert_with(|| {
                terms.push((*t).clone());
                terms.len() - 1
            });
            order.push(i);
        }
        let mut pairs: Vec<(usize, usize)> = order.windows(2).map(|w| (w[0], w[1])).filter(|(a, b)| a != b).collect();
        pairs.sort_unstable();
        pairs.dedup();
        QueryTerms { terms, pairs }
    }
}

/// Lexical features of one passage for one query, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Lexical {
    /// Share of the query's terms found anywhere (title, headings, body).
    pub coverage: f32,
    /// Share of the query's terms found in the title or headings.
    pub title_coverage: f32,
    /// Matched distinct terms over the shortest body window holding all of them (≥ 2).
    pub proximity: f32,
    /// Share of the query's adjacent term pairs found in order within 2 positions.
    pub ordered_pairs: f32,
    /// `1 / (1 + first body position of a query term / 20)`; 0 without a match.
    pub early: f32,
    /// `ln(1 + body terms) / ln(1 + 512)`, capped at 1: length normalisation.
    pub length: f32,
}

pub(crate) fn lexical(
    analyzer: &mut TextAnalyzer,
    q: &QueryTerms,
    title: &str,
    headings: &[String],
    body: &str,
) -> Lexical {
    let nq = q.terms.len();
    let body_terms = analyze(analyzer, body);
    let length = (((1 + body_terms.len()) as f32).ln() / 513f32.ln()).min(1.0);
    if nq == 0 {
        return Lexical { length, ..Lexical::default() };
    }
    let index: HashMap<&str, usize> = q.terms.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();

    // Positions of query terms in the body (stop words in passages count as positions
    // but never match, except in an all-stop-word query).
    let mut hits: Vec<(usize, usize)> = Vec::new(); // (position, term index)
    for (t, pos) in &body_terms {
        if let Some(&i) = index.get(t.as_str()) {
            hits.push((*pos, i));
        }
    }
    let mut found = vec![false; nq];
    for &(_, i) in &hits {
        found[i] = true;
    }
    let mut in_title = vec![false; nq];
    let mut title_text = title.to_string();
    for h in headings {
        title_text.push(' ');
        title_text.push_str(h);
    }
    let title_terms = analyze(analyzer, &title_text);
    for (t, _) in &title_terms {
        if let Some(&i) = index.get(t.as_str()) {
            in_title[i] = true;
        }
    }
    let any = found.iter().zip(&in_title).filter(|(b, t)| **b || **t).count();
    let coverage = any as f32 / nq as f32;
    let title_coverage = in_title.iter().filter(|x| **x).count() as f32 / nq as f32;
    let matched = found.iter().filter(|x| **x).count();
    let proximity = if matched >= 2 { matched as f32 / min_window(&hits, nq, matched) as f32 } else { 0.0 };
    let ordered_pairs = if q.pairs.is_empty() {
        0.0
    } else {
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); nq];
        for &(p, i) in &hits {
            positions[i].push(p);
        }
        for (t, pos) in &title_terms {
            if let Some(&i) = index.get(t.as_str()) {
                // Title positions far from body positions so they pair only among themselves.
                positions[i].push(1_000_000 + pos);
            }
        }
        for p in &mut positions {
            p.sort_unstable();
        }
        let ok = q
            .pairs
            .iter()
            .filter(|&&(a, b)| {
                positions[a].iter().any(|&pa| {
                    let lo = positions[b].partition_point(|&pb| pb <= pa);
                    positions[b].get(lo).is_some_and(|&pb| pb - pa <= 2)
                })
            })
            .count();
        ok as f32 / q.pairs.len() as f32
    };
    let early = hits.first().map_or(0.0, |&(p, _)| 1.0 / (1.0 + p as f32 / 20.0));
    Lexical { coverage, title_coverage, proximity, ordered_pairs, early, length }
}

/// Length (in positions) of the shortest window of `hits` (sorted by position) holding
/// `matched` distinct terms.
fn min_window(hits: &[(usize, usize)], nq: usize, matched: usize) -> usize {
    let mut count = vec![0usize; nq];
    let mut distinct = 0;
    let mut best = usize::MAX;
    let mut lo = 0;
    for hi in 0..hits.len() {
        let t = hits[hi].1;
        count[t] += 1;
        if count[t] == 1 {
            distinct += 1;
        }
        while distinct == matched {
            best = best.min(hits[hi].0 - hits[lo].0 + 1);
            let tl = hits[lo].1;
            count[tl] -= 1;
            if count[tl] == 0 {
                distinct -= 1;
            }
            lo += 1;
        }
    }
    best.max(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(query: &str, title: &str, body: &str) -> Lexical {
        let mut a = analyzer();
        let stop = stop_terms(&mut a);
        let q = QueryTerms::new(&mut a, &stop, query);
        lexical(&mut a, &q, title, &[], body)
    }

    #[test]
    fn coverage_proximity_and_order() {
        let f = feats("rotate API keys", "API keys", "You can rotate your API keys at any time.");
        assert_eq!(f.coverage, 1.0);
        assert!((f.title_coverage - 2.0 / 3.0).abs() < 1e-6);
        // rotate(2) your(3) api(4) keys(5): 3 terms in a window of 4 positions.
        assert!((f.proximity - 0.75).abs() < 1e-6, "{f:?}");
        // Pairs rotate→api (gap 2) and api→key (gap 1) are both in order.
        assert_eq!(f.ordered_pairs, 1.0);
        assert!(f.early > 0.9);

        let far = feats("rotate API keys", "Other", &format!("keys {} rotate api", "filler ".repeat(50)));
        assert!(far.proximity < f.proximity);
        assert!((far.ordered_pairs - 0.5).abs() < 1e-6, "{far:?}");
        assert_eq!(far.title_coverage, 0.0);

        let none = feats("zebra", "T", "nothing here");
        assert_eq!((none.coverage, none.proximity, none.early), (0.0, 0.0, 0.0));
    }

    #[test]
    fn stop_words_and_stems() {
        let mut a = analyzer();
        let stop = stop_terms(&mut a);
        let q = QueryTerms::new(&mut a, &stop, "How do I reset the passwords?");
        assert_eq!(q.terms, vec!["reset".to_string(), "password".to_string()]);
        assert_eq!(q.pairs, vec![(0, 1)]);
        let only_stop = QueryTerms::new(&mut a, &stop, "what is it");
        assert_eq!(only_stop.terms.len(), 3);
    }

    #[test]
    fn window_is_shortest() {
        // positions: a@0 b@5 a@6 c@7 -> window {b, a, c} = 5..7 = 3
        let hits = [(0, 0), (5, 1), (6, 0), (7, 2)];
        assert_eq!(min_window(&hits, 3, 3), 3);
    }
}
