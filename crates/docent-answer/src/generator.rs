//! The generator seam: request, events and the trait.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::AnswerError;

/// One numbered source shown to a generator; an answer cites it as `[index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// 1-based number, as cited in the answer.
    pub index: usize,
    /// Page title.
    pub title: String,
    /// Page URL with the section anchor.
    pub url: String,
    /// Headings from the page title down to the chunk's section.
    pub heading_path: Vec<String>,
    /// The chunk text.
    pub text: String,
    /// The retrieval score the sources are ordered by (higher is better).
    pub score: f32,
}

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The visitor.
    User,
    /// The bot.
    Assistant,
}

/// An earlier turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// Everything a generator needs for one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRequest {
    /// The visitor's current message.
    pub question: String,
    /// Earlier turns, oldest first (the current message is not in it).
    pub history: Vec<Turn>,
    /// Retrieved sources, best first, numbered from 1.
    pub sources: Vec<Source>,
    /// The retrieval confidence's verdict: `false` means the sources cannot answer
    /// the question, and a generator must return `fallback` with
    /// [`FinishReason::NoAnswer`] rather than an answer.
    pub answerable: bool,
    /// The retrieval confidence score in `[0, 1]` (for logs and prompts).
    pub confidence: f32,
    /// The bot's system prompt (LLM generators), if the operator set one.
    pub system_prompt: Option<String>,
    /// The bot's fallback text for questions the sources do not support.
    pub fallback: String,
    /// Upper bound on the answer length in tokens (words for the extractive one).
    pub max_tokens: usize,
}

/// Why an answer ended (the API's `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The answer is complete.
    Stop,
    /// The answer hit `max_tokens`.
    Length,
    /// The sources do not support an answer: the fallback text was returned.
    NoAnswer,
    /// The visitor asked for a human.
    Handoff,
    /// The client went away or stopped the answer.
    Cancelled,
    /// The generation failed part-way.
    Error,
}

impl FinishReason {
    /// The wire name (`stop`, `no_answer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::NoAnswer => "no_answer",
            FinishReason::Handoff => "handoff",
            FinishReason::Cancelled => "cancelled",
            FinishReason::Error => "error",
        }
    }
}

/// Token counts of one answer (0 where a generator has no tokenizer to count with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt sent upstream.
    pub prompt_tokens: u32,
    /// Tokens (or words) of the answer.
    pub completion_tokens: u32,
}

/// What a generator emits.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerEvent {
    /// The next piece of the answer text, to be shown as soon as it arrives. It may
    /// contain `[n]` markers, possibly split across deltas; pass the deltas through a
    /// [`crate::citations::CitationFilter`] before showing them.
    Delta(String),
    /// The last event: why the answer ended and what it cost.
    Done {
        /// `Stop`, `Length` or `NoAnswer` (the fallback was streamed as deltas).
        finish_reason: FinishReason,
        /// Token counts.
        usage: Usage,
    },
}

/// A stream of answer events; dropping it cancels the generation.
pub type AnswerStream = Pin<Box<dyn Stream<Item = Result<AnswerEvent, AnswerError>> + Send + 'static>>;

/// Something that answers a question from numbered sources.
///
/// Implementations must be cheap to call concurrently (the server calls one
/// generator from many requests) and must do no work after their stream is dropped.
pub trait Generator: Send + Sync + std::fmt::Debug {
    /// Short name for logs and metrics (`extractive`, `llm`).
    fn name(&self) -> &'static str;

    /// Start answering. The stream yields deltas, then exactly one
    /// [`AnswerEvent::Done`]; an `Err` item ends it early.
    fn generate(&self, request: AnswerRequest) -> AnswerStream;
}
