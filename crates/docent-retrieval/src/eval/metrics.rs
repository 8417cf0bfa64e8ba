//! Ranking metrics over document ids: nDCG@k, Recall@k, MRR@k, hit@k.
//!
//! Conventions (the ones of BEIR / `pytrec_eval`, so numbers compare with published
//! tables):
//! - judgments ([`Qrels`]) map a document id to a graded relevance; a grade `> 0` is
//!   relevant, `≤ 0` is not (and contributes no gain);
//! - nDCG uses the grade itself as the gain and a `log2(rank + 1)` discount (rank
//!   1-based), normalised by the DCG of the ideal ranking built from the judgments
//!   (all relevant documents sorted by grade, cut at `k`);
//! - Recall@k is relevant documents found in the top `k` over all relevant documents;
//! - MRR@k is `1 / rank` of the first relevant document in the top `k`, else 0.
//!
//! A ranked list should hold each document once ([`dedup_ranked`] max-pools chunk
//! hits into documents); a repeated id is ignored after its first position so it can
//! never count twice. A query without any relevant judgment scores 0 everywhere: the
//! caller should leave such queries out of the average (BEIR evaluates only queries
//! that have judgments).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// Relevance judgments of one query: document id → graded relevance.
pub type Qrels = HashMap<String, i32>;

fn gain(qrels: &Qrels, doc: &str) -> f64 {
    qrels.get(doc).copied().filter(|&g| g > 0).map_or(0.0, f64::from)
}

/// Positions `0..k` of `ranked` whose id was not seen earlier in the list.
fn first_occurrences<'a, S: AsRef<str>>(ranked: &'a [S], k: usize) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let mut seen = HashSet::new();
    ranked.iter().take(k).enumerate().filter_map(move |(i, d)| seen.insert(d.as_ref()).then_some((i, d.as_ref())))
}

/// Number of relevant documents (grade `> 0`) in the judgments.
pub fn relevant_count(qrels: &Qrels) -> usize {
    qrels.values().filter(|&&g| g > 0).count()
}

/// Discounted cumulative gain of the top `k` of `ranked`: `Σ gain_i / log2(i + 1)`, `i` 1-based.
pub fn dcg_at_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> f64 {
    first_occurrences(ranked, k).map(|(i, d)| gain(qrels, d) / ((i + 2) as f64).log2()).sum()
}

/// DCG of the ideal ranking: the judged relevant documents by decreasing grade, top `k`.
pub fn ideal_dcg_at_k(qrels: &Qrels, k: usize) -> f64 {
    let mut grades: Vec<i32> = qrels.values().copied().filter(|&g| g > 0).collect();
    grades.sort_unstable_by(|a, b| b.cmp(a));
    grades.iter().take(k).enumerate().map(|(i, &g)| f64::from(g) / ((i + 2) as f64).log2()).sum()
}

/// nDCG@k: [`dcg_at_k`] over [`ideal_dcg_at_k`]; 0 when nothing is relevant.
pub fn ndcg_at_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> f64 {
    let ideal = ideal_dcg_at_k(qrels, k);
    if ideal <= 0.0 {
        return 0.0;
    }
    dcg_at_k(ranked, qrels, k) / ideal
}

/// Recall@k: relevant documents among the top `k` over all relevant documents; 0 when
/// nothing is relevant.
pub fn recall_at_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> f64 {
    let total = relevant_count(qrels);
    if total == 0 {
        return 0.0;
    }
    let found = first_occurrences(ranked, k).filter(|(_, d)| gain(qrels, d) > 0.0).count();
    found as f64 / total as f64
}

/// MRR@k: `1 / rank` of the first relevant document within the top `k`, else 0.
pub fn mrr_at_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> f64 {
    first_occurrences(ranked, k).find(|(_, d)| gain(qrels, d) > 0.0).map_or(0.0, |(i, _)| 1.0 / (i + 1) as f64)
}

/// 1 when a relevant document is within the top `k`, else 0.
pub fn hit_at_k<S: AsRef<str>>(ranked: &[S], qrels: &Qrels, k: usize) -> f64 {
    if mrr_at_k(ranked, qrels, k) > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Max-pool a best-first list of chunk hits into a best-first list of document ids:
/// a document's rank is that of its best chunk (its first appearance).
pub fn dedup_ranked<I, S>(chunk_doc_ids: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for d in chunk_doc_ids {
        if seen.insert(d.as_ref().to_string()) {
            out.push(d.as_ref().to_string());
        }
    }
    out
}

/// The four numbers of the evaluation table for one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryMetrics {
    /// nDCG@10.
    pub ndcg_at_10: f64,
    /// Recall@10.
    pub recall_at_10: f64,
    /// Recall@100.
    pub recall_at_100: f64,
    /// MRR@10.
    pub mrr_at_10: f64,
}

impl QueryMetrics {
    /// Metrics of one query: `top10` is the ranking the @10 metrics read, `top100` the
    /// one Recall@100 reads (they may come from requests of different depths).
    pub fn of<S: AsRef<str>, T: AsRef<str>>(top10: &[S], top100: &[T], qrels: &Qrels) -> Self {
        QueryMetrics {
            ndcg_at_10: ndcg_at_k(top10, qrels, 10),
            recall_at_10: recall_at_k(top10, qrels, 10),
            recall_at_100: recall_at_k(top100, qrels, 100),
            mrr_at_10: mrr_at_k(top10, qrels, 10),
        }
    }
}

/// Running means of [`QueryMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricsMean {
    sum: QueryMetrics,
    n: usize,
}

impl MetricsMean {
    /// Add one query.
    pub fn add(&mut self, m: QueryMetrics) {
        self.sum.ndcg_at_10 += m.ndcg_at_10;
        self.sum.recall_at_10 += m.recall_at_10;
        self.sum.recall_at_100 += m.recall_at_100;
        self.sum.mrr_at_10 += m.mrr_at_10;
        self.n += 1;
    }

    /// Queries added.
    pub fn count(&self) -> usize {
        self.n
    }

    /// The means (all 0 when nothing was added).
    pub fn mean(&self) -> QueryMetrics {
        if self.n == 0 {
            return QueryMetrics::default();
        }
        let n = self.n as f64;
        QueryMetrics {
            ndcg_at_10: self.sum.ndcg_at_10 / n,
            recall_at_10: self.sum.recall_at_10 / n,
            recall_at_100: self.sum.recall_at_100 / n,
            mrr_at_10: self.sum.mrr_at_10 / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(items: &[(&str, i32)]) -> Qrels {
        items.iter().map(|&(d, g)| (d.to_string(), g)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn ndcg_with_graded_judgments_matches_hand_computation() {
        // Judgments: a=3, b=2, c=1, z=0 (judged, not relevant).
        // Ranking: x, a, c, z, b.
        // DCG@5 = 0/log2(2) + 3/log2(3) + 1/log2(4) + 0/log2(5) + 2/log2(6)
        //       = 0 + 1.892789 + 0.5 + 0 + 0.773706 = 3.166495
        // IDCG@5 (ideal a, b, c) = 3/1 + 2/log2(3) + 1/log2(4) = 3 + 1.261860 + 0.5 = 4.761860
        // nDCG@5 = 3.166495 / 4.761860 = 0.664970
        let q = qrels(&[("a", 3), ("b", 2), ("c", 1), ("z", 0)]);
        let ranked = ["x", "a", "c", "z", "b"];
        let dcg = 3.0 / 3f64.log2() + 0.5 + 2.0 / 6f64.log2();
        let idcg = 3.0 + 2.0 / 3f64.log2() + 0.5;
        assert!(close(dcg_at_k(&ranked, &q, 5), dcg));
        assert!(close(ideal_dcg_at_k(&q, 5), idcg));
        assert!(close(ndcg_at_k(&ranked, &q, 5), dcg / idcg));
        assert!((ndcg_at_k(&ranked, &q, 5) - 0.664970).abs() < 1e-6);

        // Cut at k = 2: DCG@2 = 3/log2(3) = 1.892789; IDCG@2 = 3 + 2/log2(3) = 4.261860;
        // nDCG@2 = 0.444122.
        assert!((ndcg_at_k(&ranked, &q, 2) - 0.444122).abs() < 1e-6);
        // The ideal ranking scores exactly 1.
        assert!(close(ndcg_at_k(&["a", "b", "c"], &q, 10), 1.0));
    }

    #[test]
    fn ndcg_with_binary_judgments_and_ideal_shorter_than_k() {
        // One relevant doc at rank 3: DCG = 1/log2(4) = 0.5; IDCG = 1/log2(2) = 1 → 0.5.
        let q = qrels(&[("r", 1)]);
        assert!(close(ndcg_at_k(&["a", "b", "r"], &q, 10), 0.5));
        // Two relevant, found at ranks 1 and 4: DCG = 1 + 1/log2(5) = 1.430677;
        // IDCG = 1 + 1/log2(3) = 1.630930 → 0.877215.
        let q = qrels(&[("r", 1), ("s", 1)]);
        let got = ndcg_at_k(&["r", "a", "b", "s"], &q, 10);
        assert!((got - (1.0 + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
        assert!((got - 0.877215).abs() < 1e-6);
        // Outside the cut-off it does not count.
        assert!(close(ndcg_at_k(&["a", "b", "c", "r"], &qrels(&[("r", 1)]), 3), 0.0));
    }

    #[test]
    fn recall_and_mrr_match_hand_computation() {
        // Relevant: a, b, c (z judged 0). Ranking: x, a, z, b, y.
        let q = qrels(&[("a", 1), ("b", 2), ("c", 1), ("z", 0)]);
        let ranked = ["x", "a", "z", "b", "y"];
        // Recall@2 = |{a}| / 3 = 0.333…; Recall@5 = |{a, b}| / 3 = 0.666…
        assert!(close(recall_at_k(&ranked, &q, 2), 1.0 / 3.0));
        assert!(close(recall_at_k(&ranked, &q, 5), 2.0 / 3.0));
        // First relevant at rank 2: MRR = 1/2; with k = 1 it is outside: 0.
        assert!(close(mrr_at_k(&ranked, &q, 10), 0.5));
        assert!(close(mrr_at_k(&ranked, &q, 1), 0.0));
        assert!(close(hit_at_k(&ranked, &q, 2), 1.0));
        assert!(close(hit_at_k(&ranked, &q, 1), 0.0));
        // A judged-irrelevant doc (z at rank 3) is not a hit: z alone gives MRR 0.
        assert!(close(mrr_at_k(&["z"], &q, 10), 0.0));
    }

    #[test]
    fn repeated_ids_count_once_and_empty_judgments_score_zero() {
        let q = qrels(&[("a", 1), ("b", 1)]);
        // "a" twice: recall@3 is 1/2, not 2/2; DCG counts only the first "a".
        assert!(close(recall_at_k(&["a", "a", "x"], &q, 3), 0.5));
        assert!(close(dcg_at_k(&["a", "a"], &q, 2), 1.0));
        let none = Qrels::new();
        assert_eq!(ndcg_at_k(&["a"], &none, 10), 0.0);
        assert_eq!(recall_at_k(&["a"], &none, 10), 0.0);
        assert_eq!(mrr_at_k(&["a"], &none, 10), 0.0);
        let empty: [&str; 0] = [];
        assert_eq!(ndcg_at_k(&empty, &q, 10), 0.0);
    }

    #[test]
    fn chunk_hits_max_pool_into_documents() {
        // Chunks of d2, d1, d2, d3 → documents d2, d1, d3 (d2 ranked by its best chunk).
        assert_eq!(dedup_ranked(["d2", "d1", "d2", "d3"]), vec!["d2", "d1", "d3"]);
    }

    #[test]
    fn means_average_per_query_metrics() {
        let q = qrels(&[("a", 1)]);
        let mut m = MetricsMean::default();
        // Query 1: "a" at rank 1 → nDCG 1, R 1, MRR 1. Query 2: "a" at rank 2 →
        // nDCG 1/log2(3) = 0.630930, R 1, MRR 0.5. Means: 0.815465, 1, 1, 0.75.
        m.add(QueryMetrics::of(&["a"], &["a"], &q));
        m.add(QueryMetrics::of(&["x", "a"], &["x", "a"], &q));
        let mean = m.mean();
        assert_eq!(m.count(), 2);
        assert!((mean.ndcg_at_10 - (1.0 + 1.0 / 3f64.log2()) / 2.0).abs() < 1e-12);
        assert!(close(mean.recall_at_10, 1.0));
        assert!(close(mean.mrr_at_10, 0.75));
        assert_eq!(MetricsMean::default().mean(), QueryMetrics::default());
    }
}
