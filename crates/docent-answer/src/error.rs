//! Why a generation failed.

use std::time::Duration;

/// A generation that could not finish. The server maps it to an `error` frame (after
/// the first byte) or an HTTP status (before it).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The upstream LLM could not be reached or answered with an error status.
    #[error("the LLM server failed: {message}")]
    Upstream {
        /// What went wrong, without secrets.
        message: String,
        /// HTTP status of the upstream answer, when there was one.
        status: Option<u16>,
        /// Whether trying again later may work (network errors, 429, 5xx).
        retryable: bool,
    },
    /// A time limit passed (`stage`: `connect`, `first_token` or `total`).
    #[error("the LLM server did not answer in time ({stage} timeout of {limit:?})")]
    Timeout {
        /// Which limit.
        stage: &'static str,
        /// Its value.
        limit: Duration,
    },
    /// The upstream stream could not be understood.
    #[error("the LLM server sent something that is not a chat completion stream: {0}")]
    Protocol(String),
    /// The request cannot be generated (e.g. no question).
    #[error("invalid answer request: {0}")]
    Invalid(String),
}

impl AnswerError {
    /// Whether the client may retry the same request later.
    pub fn retryable(&self) -> bool {
        match self {
            AnswerError::Upstream { retryable, .. } => *retryable,
            AnswerError::Timeout { .. } => true,
            AnswerError::Protocol(_) | AnswerError::Invalid(_) => false,
        }
    }

    /// A stable machine-readable code (`upstream_error`, `upstream_timeout`, …).
    pub fn code(&self) -> &'static str {
        match self {
            AnswerError::Upstream { .. } => "upstream_error",
            AnswerError::Timeout { .. } => "upstream_timeout",
            AnswerError::Protocol(_) => "upstream_protocol_error",
            AnswerError::Invalid(_) => "invalid_answer_request",
        }
    }
}
