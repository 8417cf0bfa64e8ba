//! Lexical relevance of units to a question: content terms, a light stemmer and an
//! IDF over the units of the request's sources.
//!
//! A unit's relevance is the IDF-weighted share of the question's content terms it
//! contains: a term in the unit's own text counts fully, a term only in its context
//! (section heading, preceding question, list lead-in, table header) counts
//! [`CONTEXT_CREDIT`]. Earlier user turns add their terms at a lower weight, so "And
//! annually?" still finds the price row the previous question was about. A question
//! term that no source contains keeps the highest IDF: a question about something the
//! sources never mention gets a low relevance everywhere, which is what the
//! generator's own "no answer" threshold looks at.

use std::collections::{HashMap, HashSet};

/// Share of a term's weight earned when it appears only in a unit's context.
pub(crate) const CONTEXT_CREDIT: f32 = 0.5;

/// Weight of the previous user turn's terms (the one before gets its square).
pub(crate) const HISTORY_DECAY: f32 = 0.5;

/// Earlier user turns considered.
pub(crate) const HISTORY_TURNS: usize = 2;

/// Words that carry no topic (questions are full of them).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    "what", "which", "who", "whom", "when", "where", "why", "how", "do", "does", "did", "can", "could", "should",
    "would", "i", "me", "my", "we", "our", "you", "your", "am", "been", "being", "have", "has", "had", "its", "s", "t",
    "much", "many", "get", "any", "some", "from", "about", "also", "so", "than", "very", "just", "may", "might",
    "must", "us", "them", "it's", "what's", "ll", "re", "ve", "d", "m", "don", "doesn", "isn", "aren", "there's",
    "here", "still", "way", "need", "want", "else",
];

fn is_stop(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// A light English stemmer: plural, `-ed`, `-ing`, `-ly` and a final `e` removed,
/// enough for "refunds"/"refunded"/"refund" and "monthly"/"month" to meet.
pub(crate) fn stem(w: &str) -> String {
    let n = w.chars().count();
    if n <= 3 || !w.chars().all(|c| c.is_alphabetic()) {
        return w.to_string();
    }
    let mut s = w.to_string();
    if let Some(base) = s.strip_suffix("ies") {
        s = format!("{base}y");
    } else if s.ends_with("sses") {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !s.ends_with("ss") && !s.ends_with("us") && !s.ends_with("is") {
        s.pop();
    }
    for suffix in ["ing", "ed", "ly"] {
        if let Some(base) = s.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                s = base.to_string();
                break;
            }
        }
    }
    if s.chars().count() > 3 && s.ends_with('e') {
        s.pop();
    }
    s
}

/// Content terms of a text: lower-cased alphanumeric runs without stop words, stemmed.
pub(crate) fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !is_stop(w))
        .map(|w| stem(&w))
}

/// Distinct content terms of a text.
pub(crate) fn term_set(text: &str) -> HashSet<String> {
    terms(text).collect()
}

/// The weighted terms a question asks about.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryTerms {
    weights: HashMap<String, f32>,
}

impl QueryTerms {
    /// Terms of `question` at weight 1, of the earlier user turns (most recent last)
    /// at [`HISTORY_DECAY`]`^distance`.
    pub(crate) fn new(question: &str, history: &[&str]) -> Self {
        let mut weights: HashMap<String, f32> = HashMap::new();
        let mut add = |text: &str, w: f32| {
            for t in terms(text) {
                let e = weights.entry(t).or_insert(0.0);
                *e = e.max(w);
            }
        };
        add(question, 1.0);
        let mut w = 1.0;
        for turn in history.iter().rev().take(HISTORY_TURNS) {
            w *= HISTORY_DECAY;
            add(turn, w);
        }
        QueryTerms { weights }
    }

    /// No content term at all (a question made only of stop words or symbols).
    pub(crate) fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The terms and their weights.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.weights.iter().map(|(t, w)| (t.as_str(), *w))
    }
}

/// BM25-style IDF over `n` units: `ln(1 + (n − df + 0.5) / (df + 0.5))`.
pub(crate) fn idf(n: usize, df: usize) -> f32 {
    let (n, df) = (n as f32, df as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// Relevance in `[0, 1]` of a unit with `own` and `context` terms to the query, given
/// each query term's IDF.
pub(crate) fn relevance(query: &[(String, f32)], own: &HashSet<String>, context: &HashSet<String>) -> f32 {
    let mut total = 0.0f32;
    let mut got = 0.0f32;
    for (t, w) in query {
        total += w;
        if own.contains(t) {
            got += w;
        } else if context.contains(t) {
            got += w * CONTEXT_CREDIT;
        }
    }
    if total > 0.0 {
        got / total
    } else {
        0.0
    }
}

/// Jaccard similarity of two term sets (1 for two empty sets).
pub(crate) fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.intersection(b).count() as f32;
    inter / ((a.len() + b.len()) as f32 - inter).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_meets_the_common_forms() {
        for (a, b) in [("refunds", "refund"), ("refunded", "refunding"), ("monthly", "month"), ("charged", "charge")] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_eq!(stem("policies"), stem("policy"));
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("v2"), "v2");
    }

    #[test]
    fn terms_drop_stop_words_and_split_on_symbols() {
        let t: Vec<String> = terms("What's the refund-window for $49.50?").collect();
        assert_eq!(t, vec!["refund", "window", "49", "50"]);
    }

    #[test]
    fn history_terms_weigh_less_and_idf_favours_rare_terms() {
        let q = QueryTerms::new("annually?", &["How much does the Pro plan cost?"]);
        let w: HashMap<&str, f32> = q.iter().collect();
        assert_eq!(w["annual"], 1.0);
        assert_eq!(w["pro"], 0.5);
        assert!(idf(10, 1) > idf(10, 5));
        assert!(idf(10, 0) > idf(10, 1));
    }

    #[test]
    fn jaccard_is_a_share() {
        let a = term_set("refund window thirty days");
        let b = term_set("refund window thirty days");
        assert!((jaccard(&a, &b) - 1.0).abs() < 1e-6);
        let c = term_set("webhook retries");
        assert_eq!(jaccard(&a, &c), 0.0);
        let d = term_set("refund window");
        assert!((jaccard(&a, &d) - 0.5).abs() < 1e-6);
    }
}
