/// A set of chunk ordinals (vector rows) as a bitset: the rows a filter allows.
///
/// Both retrievers consult it before their top-k cut, so filtered results are exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    words: Vec<u64>,
    universe: usize,
    count: usize,
}

impl RowSet {
    /// No rows out of `universe`.
    pub fn empty(universe: usize) -> Self {
        RowSet { words: vec![0; universe.div_ceil(64)], universe, count: 0 }
    }

    /// Every row of `universe`.
    pub fn full(universe: usize) -> Self {
        let mut s = Self::empty(universe);
        for w in &mut s.words {
            *w = u64::MAX;
        }
        if !universe.is_multiple_of(64) {
            if let Some(last) = s.words.last_mut() {
                *last = (1u64 << (universe % 64)) - 1;
            }
        }
        s.count = universe;
        s
    }

    /// Add a row; rows outside the universe are ignored.
    pub fn insert(&mut self, row: u32) {
        let r = row as usize;
        if r >= self.universe {
            return;
        }
        let (w, b) = (r / 64, r % 64);
        if self.words[w] & (1 << b) == 0 {
            self.words[w] |= 1 << b;
            self.count += 1;
        }
    }

    /// True when `row` is in the set.
    #[inline]
    pub fn contains(&self, row: u32) -> bool {
        let r = row as usize;
        r < self.universe && self.words[r / 64] & (1 << (r % 64)) != 0
    }

    /// Keep only the rows also in `other`.
    pub fn intersect_with(&mut self, other: &RowSet) {
        let mut count = 0;
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= other.words.get(i).copied().unwrap_or(0);
            count += w.count_ones() as usize;
        }
        self.count = count;
    }

    /// Number of rows in the set.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no row is in the set.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the universe (all rows of the generation).
    pub fn universe(&self) -> usize {
        self.universe
    }

    /// The rows, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some((i * 64) as u32 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_iter_intersect() {
        let mut a = RowSet::empty(130);
        for r in [0, 63, 64, 129, 129, 500] {
            a.insert(r);
        }
        assert_eq!(a.len(), 4);
        assert!(a.contains(63) && a.contains(129) && !a.contains(1) && !a.contains(500));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 63, 64, 129]);
        let mut b = RowSet::empty(130);
        b.insert(64);
        b.insert(5);
        a.intersect_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![64]);
        assert_eq!(RowSet::full(130).len(), 130);
        assert_eq!(RowSet::full(130).iter().count(), 130);
        assert_eq!(RowSet::full(128).iter().last(), Some(127));
        assert!(RowSet::empty(0).is_empty());
    }
}
