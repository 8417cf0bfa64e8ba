//! The retrieval quality harness behind `docent eval`.
//!
//! - [`metrics`]: nDCG@k, Recall@k, MRR@k over document ids (BEIR conventions).
//! - [`beir`]: BEIR-format data sets (`corpus.jsonl`, `queries.jsonl`,
//!   `qrels/<split>.tsv`), indexed once as the bot `beir-<name>` and reused.
//! - [`questions`]: `corpus/questions.jsonl`, the hand-written questions of a docs site
//!   (expected page and section, answerability, follow-up chains).
//! - [`run`]: runs [`Variant`]s (a mode, a fusion, a candidate depth) over
//!   [`EvalQuery`]s through the public [`crate::Retriever`] API and averages the
//!   metrics; documents are ranked by their best chunk.
//! - [`calibrate`]: fits and cross-validates the "no answer" confidence model
//!   ([`crate::confidence`]).
//!
//! Slow runs (SciFact) are CLI runs whose output goes into `docs/BENCHMARKS.md`, not tests.

pub mod beir;
pub mod calibrate;
pub mod metrics;
pub mod questions;
pub mod run;

use std::path::PathBuf;

pub use beir::{BeirDataset, BeirDoc, BeirIndexReport, BeirQuery};
pub use calibrate::{CalibrationReport, NoAnswerStats, Sample};
pub use metrics::{MetricsMean, Qrels, QueryMetrics};
pub use questions::{Question, QuestionKind, QuestionSet};
pub use run::{EvalQuery, QueryOutcome, Variant, VariantResult};

use crate::RetrievalError;

/// Everything that can go wrong loading or indexing an evaluation data set.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("reading").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a data file is malformed.
    #[error("{}:{line}: {detail}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The data set is unusable as a whole (no judged query, …).
    #[error("{0}")]
    Dataset(String),
    /// Writing or reading the index failed.
    #[error(transparent)]
    Index(#[from] docent_index::IndexError),
    /// The chunker could not be set up.
    #[error(transparent)]
    Ingest(#[from] docent_ingest::IngestError),
    /// A search failed.
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
}
