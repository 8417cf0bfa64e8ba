use std::cmp::Ordering;

/// A candidate of one retriever: a chunk (by vector row, the chunk ordinal) and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Chunk ordinal: its row in the vector file.
    pub ordinal: u32,
    /// The retriever's score (higher is better).
    pub score: f32,
}

impl Scored {
    /// Best first: higher score, then lower ordinal (so equal scores order deterministically).
    pub fn best_first(a: &Scored, b: &Scored) -> Ordering {
        b.score.total_cmp(&a.score).then(a.ordinal.cmp(&b.ordinal))
    }
}
