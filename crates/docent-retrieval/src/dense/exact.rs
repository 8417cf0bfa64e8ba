//! Exact (brute-force) dense search: every allowed row is scored.

use std::sync::Arc;

use docent_index::IndexSnapshot;
use serde::{Deserialize, Serialize};

use super::kernel::Kernel;
use super::topk::TopK;
use super::DenseIndex;
use crate::{RowSet, Scored};

/// Rows scored per kernel call (the scores of one block stay in L1).
const BLOCK: usize = 256;

/// Knobs of the exact scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactConfig {
    /// Scans of at least this many rows are split over threads.
    pub parallel_threshold: usize,
    /// Threads of a parallel scan (1: never parallel).
    pub threads: usize,
}

impl Default for ExactConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        ExactConfig { parallel_threshold: 32 * 1024, threads }
    }
}

/// Exact top-k over a generation's `vectors.f32` (memory-mapped, scanned in place).
#[derive(Debug)]
pub struct ExactIndex {
    snapshot: Arc<IndexSnapshot>,
    config: ExactConfig,
    kernel: Kernel,
}

impl ExactIndex {
    /// Scan the vectors of `snapshot`.
    pub fn new(snapshot: Arc<IndexSnapshot>, config: ExactConfig) -> Self {
        ExactIndex { snapshot, config, kernel: Kernel::detect() }
    }
}

impl DenseIndex for ExactIndex {
    fn kind(&self) -> &'static str {
        "exact"
    }

    fn search(&self, query: &[f32], k: usize, allowed: Option<&RowSet>) -> Vec<Scored> {
        let vectors = self.snapshot.vectors();
        exact_top_k_with(self.kernel, vectors.as_flat(), vectors.dim(), query, k, allowed, &self.config)
    }
}

/// The `k` rows of `rows` (row-major, `dim` wide) with the largest dot product with
/// `query`, best first (ties: lower row first); only rows in `allowed` when given.
///
/// A `query` whose length is not `dim` matches nothing.
pub fn exact_top_k(
    rows: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    allowed: Option<&RowSet>,
    config: &ExactConfig,
) -> Vec<Scored> {
    exact_top_k_with(Kernel::detect(), rows, dim, query, k, allowed, config)
}

pub(crate) fn exact_top_k_with(
    kernel: Kernel,
    rows: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    allowed: Option<&RowSet>,
    config: &ExactConfig,
) -> Vec<Scored> {
    if dim == 0 || query.len() != dim || k == 0 {
        return Vec::new();
    }
    let n = rows.len() / dim;
    let rows = &rows[..n * dim];
    // A selective filter: score only the allowed rows.
    if let Some(a) = allowed {
        if a.len().saturating_mul(4) < n {
            let mut top = TopK::new(k);
            for r in a.iter().take_while(|&r| (r as usize) < n) {
                let i = r as usize;
                top.push(r, kernel.dot(query, &rows[i * dim..(i + 1) * dim]));
            }
            return top.into_sorted();
        }
    }
    let threads = config.threads.max(1).min(n.div_ceil(BLOCK).max(1));
    if threads <= 1 || n < config.parallel_threshold {
        return scan(kernel, rows, dim, query, 0, n, k, allowed).into_sorted();
    }
    let per = n.div_ceil(threads);
    let mut top = TopK::new(k);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, end) = (t * per, ((t + 1) * per).min(n));
                s.spawn(move || scan(kernel, rows, dim, query, start, end, k, allowed))
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(part) => top.merge(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    top.into_sorted()
}

/// Score rows `start..end` block by block and keep the best `k`.
#[allow(clippy::too_many_arguments)]
fn scan(
    kernel: Kernel,
    rows: &[f32],
    dim: usize,
    query: &[f32],
    start: usize,
    end: usize,
    k: usize,
    allowed: Option<&RowSet>,
) -> TopK {
    let mut top = TopK::new(k);
    let mut buf = [0.0f32; BLOCK];
    let mut block = start;
    while block < end {
        let len = BLOCK.min(end - block);
        let out = &mut buf[..len];
        kernel.scores(query, &rows[block * dim..(block + len) * dim], out);
        for (i, &score) in out.iter().enumerate() {
            let r = (block + i) as u32;
            if allowed.is_none_or(|a| a.contains(r)) {
                top.push(r, score);
            }
        }
        block += len;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test vectors without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next_f32(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn unit(&mut self, dim: usize) -> Vec<f32> {
            let v: Vec<f32> = (0..dim).map(|_| self.next_f32()).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        }
    }

    fn naive(rows: &[f32], dim: usize, q: &[f32], k: usize, allowed: Option<&RowSet>) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = rows
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| allowed.is_none_or(|a| a.contains(*i as u32)))
            .map(|(i, r)| (i as u32, r.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum()))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Same scores as a naive f64 sort, each one the row's true score, no row twice;
    /// rows may differ from the naive order only where scores tie within rounding.
    fn assert_matches(rows: &[f32], dim: usize, q: &[f32], got: &[Scored], want: &[(u32, f64)]) {
        assert_eq!(got.len(), want.len());
        let mut seen = std::collections::HashSet::new();
        for (g, w) in got.iter().zip(want) {
            let i = g.ordinal as usize;
            let truth: f64 = rows[i * dim..(i + 1) * dim].iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((g.score as f64 - truth).abs() < 1e-5, "row {i}: score {} vs true {truth}", g.score);
            assert!(
                (g.score as f64 - w.1).abs() < 1e-5,
                "row {} ({}) where naive has row {} ({})",
                i,
                g.score,
                w.0,
                w.1
            );
            assert!(seen.insert(g.ordinal), "row {i} twice");
        }
        for pair in got.windows(2) {
            assert!(pair[0].score >= pair[1].score, "not sorted");
        }
    }

    #[test]
    fn equals_a_naive_sort_on_random_vectors() {
        let dim = 384;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let n = 5000;
        let rows: Vec<f32> = (0..n).flat_map(|_| rng.unit(dim)).collect();
        for (threads, threshold) in [(1, usize::MAX), (2, 1), (3, 100)] {
            let cfg = ExactConfig { parallel_threshold: threshold, threads };
            for _ in 0..5 {
                let q = rng.unit(dim);
                for k in [1, 10, 50, n + 10] {
                    let got = exact_top_k(&rows, dim, &q, k, None, &cfg);
                    assert_matches(&rows, dim, &q, &got, &naive(&rows, dim, &q, k, None));
                }
            }
        }
    }

    #[test]
    fn filters_apply_before_the_cut_both_sparse_and_dense() {
        let dim = 48;
        let mut rng = Rng(42);
        let n = 3000;
        let rows: Vec<f32> = (0..n).flat_map(|_| rng.unit(dim)).collect();
        let q = rng.unit(dim);
        let mut sparse = RowSet::empty(n);
        for r in (0..n as u32).step_by(97) {
            sparse.insert(r);
        }
        let mut dense_set = RowSet::empty(n);
        for r in (0..n as u32).filter(|r| r % 3 != 0) {
            dense_set.insert(r);
        }
        for cfg in [
            ExactConfig { parallel_threshold: usize::MAX, threads: 1 },
            ExactConfig { parallel_threshold: 1, threads: 2 },
        ] {
            for set in [&sparse, &dense_set] {
                let got = exact_top_k(&rows, dim, &q, 10, Some(set), &cfg);
                assert!(got.iter().all(|s| set.contains(s.ordinal)));
                assert_matches(&rows, dim, &q, &got, &naive(&rows, dim, &q, 10, Some(set)));
            }
        }
        let none = RowSet::empty(n);
        assert!(exact_top_k(&rows, dim, &q, 10, Some(&none), &ExactConfig::default()).is_empty());
    }

    #[test]
    fn degenerate_inputs_match_nothing() {
        let cfg = ExactConfig::default();
        assert!(exact_top_k(&[], 384, &[0.0; 384], 5, None, &cfg).is_empty());
        assert!(exact_top_k(&[1.0, 0.0], 2, &[1.0], 5, None, &cfg).is_empty());
        assert!(exact_top_k(&[1.0, 0.0], 2, &[1.0, 0.0], 0, None, &cfg).is_empty());
    }
}
