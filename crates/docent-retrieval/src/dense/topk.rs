//! Bounded top-k selection.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::Scored;

/// Heap entry ordered so that the *worst* candidate is the heap's maximum.
#[derive(Debug, Clone, Copy)]
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // best_first says Less for the better one, so the worse one is Greater.
        Scored::best_first(&self.0, &other.0)
    }
}

/// Keeps the `k` best of everything pushed (higher score, then lower ordinal).
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)) }
    }

    /// Offer a candidate. NaN scores are ignored.
    #[inline]
    pub(crate) fn push(&mut self, ordinal: u32, score: f32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let s = Scored { ordinal, score };
        if self.heap.len() < self.k {
            self.heap.push(Worst(s));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if Scored::best_first(&s, &worst.0) == Ordering::Less {
                *worst = Worst(s);
            }
        }
    }

    /// Merge another selection into this one.
    pub(crate) fn merge(&mut self, other: TopK) {
        for Worst(s) in other.heap {
            self.push(s.ordinal, s.score);
        }
    }

    /// The selection, best first.
    pub(crate) fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(Scored::best_first);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_with_deterministic_ties() {
        let mut t = TopK::new(3);
        for (o, s) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.9), (4, f32::NAN), (5, 0.2), (6, 0.5)] {
            t.push(o, s);
        }
        let got: Vec<u32> = t.into_sorted().iter().map(|s| s.ordinal).collect();
        assert_eq!(got, vec![1, 3, 2]);
        let mut z = TopK::new(0);
        z.push(1, 1.0);
        assert!(z.into_sorted().is_empty());
    }
}
