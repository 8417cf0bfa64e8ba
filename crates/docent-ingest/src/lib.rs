//! Docent's ingest pipeline: from a docs site or a folder to a published index generation.
//!
//! Sources ([`folder`], [`crawl`]) deliver [`RawPage`]s; [`extract`] turns each into
//! clean sections with titles, heading paths and anchors; [`chunk`] cuts sections into
//! token-bounded chunks; [`pipeline`] embeds them (reusing cached vectors) and writes
//! a new generation through `docent_index::GenerationWriter`, which publishes it
//! atomically.
//!
//! ```no_run
//! use std::sync::Arc;
//! use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};
//! # async fn run() -> Result<(), docent_ingest::IngestError> {
//! let mut options = IngestOptions::new("docs", "data", vec![SourceSpec::parse("corpus")?]);
//! options.base_url = Some("https://help.example/".into());
//! let summary = ingest(&options, Arc::new(NoProgress)).await?;
//! println!("{}", summary.to_text());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod chunk;
pub mod crawl;
mod error;
pub mod extract;
pub mod folder;
pub mod page;
pub mod pipeline;
pub mod summary;

pub use chunk::{Chunker, ChunkerOptions};
pub use error::IngestError;
pub use page::{ContentKind, ExtractedPage, RawPage, Section};
pub use pipeline::{ingest, IngestObserver, IngestOptions, NoProgress, SourceSpec};
pub use summary::{IngestSummary, PageFailure};
