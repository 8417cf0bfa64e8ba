//! Docent's answer generators: from a question and numbered sources to a streamed,
//! cited answer.
//!
//! A [`Generator`] turns an [`AnswerRequest`] (the question, the earlier turns, the
//! retrieved [`Source`]s and the retrieval's verdict on whether they can answer it)
//! into an [`AnswerStream`] of text deltas ending in [`AnswerEvent::Done`]. Two
//! implementations:
//!
//! - [`extractive`]: the offline default. It composes the answer from the most
//!   relevant sentences of the sources, verbatim, each followed by its `[n]` marker.
//! - [`llm`]: any OpenAI-compatible chat-completions server (llama.cpp, vLLM, Ollama,
//!   hosted APIs), streamed over HTTP.
//!
//! [`citations`] is shared by both and by the server: it removes markers that point
//! to no source (even when split across deltas) and reports where each valid marker
//! sits in the final text.
//!
//! The crate has no HTTP *server* in it: the server (`docent-server`) and the
//! terminal (`docent ask`) both drive a generator the same way. Dropping an
//! [`AnswerStream`] cancels the generation (an LLM request is aborted with it).
#![deny(missing_docs)]

pub mod citations;
mod error;
pub mod extractive;
mod generator;
pub mod llm;

pub use error::AnswerError;
pub use generator::{AnswerEvent, AnswerRequest, AnswerStream, FinishReason, Generator, Role, Source, Turn, Usage};
