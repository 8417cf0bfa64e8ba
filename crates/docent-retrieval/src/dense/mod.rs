//! Dense retrieval: the query embedding against every chunk embedding.
//!
//! [`DenseIndex`] is the seam: [`ExactIndex`] scans the memory-mapped vector file;
//! [`AnnIndex`] (HNSW through usearch, candidates rescored exactly) serves generations
//! of at least [`AnnConfig::threshold`] rows. [`for_generation`] picks one per
//! generation, and [`crate::Snapshot`] calls it when it opens a generation.

mod ann;
mod exact;
mod kernel;
pub mod synthetic;
mod topk;

use std::sync::Arc;

pub use ann::{AnnConfig, AnnError, AnnIndex, AnnOrigin, AnnQuantization, DEFAULT_ANN_THRESHOLD};
use docent_index::IndexSnapshot;
pub use exact::{exact_top_k, ExactConfig, ExactIndex};
use tracing::warn;

use crate::{RowSet, Scored};

/// A nearest-neighbour index over one generation's chunk vectors (normalised, so the
/// dot product is the cosine similarity).
pub trait DenseIndex: Send + Sync + std::fmt::Debug {
    /// Short name for logs ("exact" or "hnsw").
    fn kind(&self) -> &'static str;

    /// The `k` rows most similar to `query`, best first; only rows in `allowed` when
    /// given (applied before the cut, so filtered searches still return `k` rows when
    /// that many are allowed). A query of the wrong dimension matches nothing.
    fn search(&self, query: &[f32], k: usize, allowed: Option<&RowSet>) -> Vec<Scored>;
}

/// The dense index for a generation: [`AnnIndex`] when it has at least
/// `ann.threshold` rows (built, or memory-mapped from its cache file), else — or when
/// the approximate index cannot be built — [`ExactIndex`].
pub fn for_generation(snapshot: Arc<IndexSnapshot>, exact: ExactConfig, ann: &AnnConfig) -> Box<dyn DenseIndex> {
    let rows = snapshot.vectors().len();
    if ann.applies_to(rows) {
        match AnnIndex::for_snapshot(Arc::clone(&snapshot), ann, exact) {
            Ok(index) => return Box::new(index),
            Err(e) => warn!(
                generation = snapshot.generation(),
                rows,
                error = %e,
                "no approximate index for this generation; using the exact scan"
            ),
        }
    }
    Box::new(ExactIndex::new(snapshot, exact))
}
