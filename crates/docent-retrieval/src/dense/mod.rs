//! Dense retrieval: the query embedding against every chunk embedding.
//!
//! [`DenseIndex`] is the seam for approximate indexes: today [`ExactIndex`] scans the
//! memory-mapped vector file; an HNSW index for large generations implements the same
//! trait and [`crate::Snapshot`] picks one per generation.

mod exact;
mod kernel;
mod topk;

pub use exact::{exact_top_k, ExactConfig, ExactIndex};

use crate::{RowSet, Scored};

/// A nearest-neighbour index over one generation's chunk vectors (normalised, so the
/// dot product is the cosine similarity).
pub trait DenseIndex: Send + Sync + std::fmt::Debug {
    /// Short name for logs ("exact"; "hnsw" later).
    fn kind(&self) -> &'static str;

    /// The `k` rows most similar to `query`, best first; only rows in `allowed` when
    /// given (applied before the cut, so filtered searches still return `k` rows when
    /// that many are allowed). A query of the wrong dimension matches nothing.
    fn search(&self, query: &[f32], k: usize, allowed: Option<&RowSet>) -> Vec<Scored>;
}
