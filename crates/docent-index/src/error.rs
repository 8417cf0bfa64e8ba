use std::path::PathBuf;

/// Everything that can go wrong reading or writing an index, with the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A filesystem operation failed on a specific path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("creating", "reading", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model files are not where we looked.
    #[error("embedding model not found: {detail}. Run `make models` (or point --models / DOCENT_MODELS at a models directory)")]
    ModelMissing {
        /// Which file was missing and where we looked.
        detail: String,
    },
    /// The model runtime failed to load or run the model.
    #[error("embedding model error: {0}")]
    Model(String),
    /// The bot has no published generation yet.
    #[error("bot `{bot}` has no index yet in {dir}; run `docent ingest` first")]
    NoIndex {
        /// Bot id.
        bot: String,
        /// The bot's directory.
        dir: PathBuf,
    },
    /// A generation is on disk but inconsistent (wrong version, sizes that do not match).
    #[error("index generation {path} is corrupt: {detail}")]
    Corrupt {
        /// Generation directory or file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A bot id that cannot be used as a directory name.
    #[error("invalid bot id `{0}`: use 1-64 characters from a-z, 0-9, '-' and '_'")]
    InvalidBotId(String),
    /// Another process is ingesting into the same bot.
    #[error("another ingest is already running for bot `{0}` (lock held on {1})")]
    Locked(String, PathBuf),
    /// Tantivy reported an error.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The manifest could not be (de)serialized.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// Manifest path.
        path: PathBuf,
        /// JSON error.
        source: serde_json::Error,
    },
    /// A vector of the wrong dimension was given to the writer.
    #[error("vector has dimension {got}, the index expects {want}")]
    Dimension {
        /// Dimension received.
        got: usize,
        /// Dimension of the index.
        want: usize,
    },
}

impl IndexError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| IndexError::Io { action, path, source }
    }
}
