//! The OpenAI-compatible LLM generator: any server with a streaming
//! `POST /v1/chat/completions` (llama.cpp, vLLM, Ollama, hosted APIs).
//!
//! ```no_run
//! use docent_answer::llm::{LlmConfig, LlmGenerator};
//! use docent_answer::{AnswerEvent, AnswerRequest, Generator, Source};
//! use futures::StreamExt;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let llm = LlmGenerator::new(LlmConfig::new("http://127.0.0.1:8080/v1", "smollm2-135m-instruct"))?;
//! let request = AnswerRequest {
//!     question: "How long is the refund window?".into(),
//!     history: vec![],
//!     sources: vec![Source {
//!         index: 1,
//!         title: "Refunds".into(),
//!         url: "https://help.example/refunds#window".into(),
//!         heading_path: vec!["Refunds".into(), "Window".into()],
//!         text: "Refunds are available within 30 days of purchase.".into(),
//!         score: 0.8,
//!     }],
//!     answerable: true,
//!     confidence: 0.8,
//!     system_prompt: None,
//!     fallback: "I could not find that in the documentation.".into(),
//!     max_tokens: 200,
//! };
//! let mut answer = llm.generate(request);
//! while let Some(event) = answer.next().await {
//!     match event? {
//!         AnswerEvent::Delta(text) => print!("{text}"),
//!         AnswerEvent::Done { finish_reason, .. } => println!("\n({})", finish_reason.as_str()),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # How an answer is made
//! - [`prompt`]: the system message carries the persona (the bot's system prompt or
//!   [`prompt::DEFAULT_PERSONA`]), the grounding rules (only the sources, cite each
//!   claim with `[n]`, reply exactly with the fallback otherwise) and the numbered
//!   sources (`[1] Title — heading path`, URL, text, texts cut to a shared budget);
//!   then the latest earlier turns; the question last.
//! - The stream: upstream SSE is framed by `eventsource-stream` (partial lines, CRLF,
//!   multi-line `data:`, comments and keep-alives) and read frame by frame (`[DONE]`,
//!   empty-`choices` usage chunks, `finish_reason: "length"` →
//!   [`crate::FinishReason::Length`]). A frame that is not a chunk is a
//!   [`crate::AnswerError::Protocol`] error, never skipped: a lost token could change
//!   what the answer says.
//! - Errors: non-2xx and upstream error bodies are [`crate::AnswerError::Upstream`]
//!   with the status and `retryable` for network errors, 408/425/429/5xx. Failures
//!   before the first token are retried (`max_retries`, jittered exponential back-off,
//!   `Retry-After` honoured up to `max_retry_after`); a first-token timeout is not
//!   retried (a slow server is not helped by a second request); after the first token
//!   nothing is retried.
//!
//! # Grounded or silent
//! The engine never shows an invented answer. `request.answerable == false` (or no
//! sources) streams the fallback without calling the LLM and finishes `NoAnswer`.
//! With `require_citation` (default) the model's text is held back until it contains
//! a marker pointing to a real source; an answer that never cites one (a refusal in
//! the model's own words, an off-source answer, an empty one) is replaced by the
//! fallback and finishes `NoAnswer`. Markers pointing to no source stay in the deltas:
//! the server's [`crate::citations::CitationFilter`] removes them and reports them
//! with [`crate::citations::CitationFilter::dropped`]; the generator also logs how
//! many there were.
//!
//! Secrets (the API key, header values) are sent as sensitive headers, shown as
//! `***` in `Debug`, and scrubbed from any upstream text repeated in an error.

mod client;
mod config;
mod grounding;
pub mod prompt;
mod sse;

pub use client::LlmGenerator;
pub use config::{ApiKey, LlmConfig, LlmConfigError};
