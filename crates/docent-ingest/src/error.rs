//! Errors that stop an ingest run. Per-page problems are not errors: they are
//! [`crate::summary::PageFailure`]s in the summary and the run goes on.

use std::path::PathBuf;

/// Why an ingest could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The index could not be read or written (includes a missing model).
    #[error(transparent)]
    Index(#[from] docent_index::IndexError),
    /// A source argument is neither an existing folder/file nor an http(s) URL.
    #[error("`{input}` is not a folder, a file or an http(s) URL: {detail}")]
    InvalidSource {
        /// The argument as given.
        input: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A folder or file source could not be read at all.
    #[error("cannot read source {path}: {detail}")]
    SourceUnreadable {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
    /// The crawler could not start (bad start URL, HTTP client set-up).
    #[error(transparent)]
    Crawl(#[from] crate::crawl::CrawlError),
    /// The sources produced no indexable page and there is no previous index to keep.
    #[error("nothing to index: {0}")]
    NothingToIndex(String),
    /// Invalid options.
    #[error("invalid ingest configuration: {0}")]
    Config(String),
    /// A pipeline stage stopped unexpectedly (a bug, reported instead of a panic).
    #[error("ingest pipeline failed: {0}")]
    Pipeline(String),
}
