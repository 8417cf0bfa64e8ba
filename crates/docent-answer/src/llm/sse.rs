//! Upstream frames: what one SSE event of a chat-completions stream means.
//!
//! Framing (partial lines across network chunks, CRLF, multi-line `data:`, `:`
//! comments and keep-alives) is `eventsource-stream`'s job; this module reads the
//! payload of each event:
//!
//! - `[DONE]` ends the stream;
//! - a `chat.completion.chunk` gives content (choice 0; empty-`choices` chunks, such as
//!   the final usage chunk, are fine), a `finish_reason` and `usage`;
//! - `{"error": …}` (some servers report a failure mid-stream that way) is an upstream
//!   error;
//! - an empty payload or an event with another name (`event: ping`) is skipped;
//! - anything else — non-JSON, JSON that is not a chunk — is a protocol error. The
//!   documented choice: never skip a frame that may have carried answer text, because
//!   a silently lost token can change what an answer says.

use serde::Deserialize;

use crate::{AnswerError, FinishReason, Usage};

/// What one upstream event contributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Frame {
    /// Nothing for the answer (keep-alive, other event name, role-only chunk).
    Skip,
    /// Part of the answer and/or its end.
    Chunk { content: String, finish: Option<FinishReason>, usage: Option<Usage> },
    /// `data: [DONE]`.
    Done,
}

#[derive(Deserialize)]
struct ChunkJson {
    #[serde(default)]
    choices: Vec<ChoiceJson>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoiceJson {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<DeltaJson>,
    /// Some servers send `message` instead of `delta` on the last chunk.
    #[serde(default)]
    message: Option<DeltaJson>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaJson {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

/// A whole (non-streamed) `chat.completion`, for servers that ignore `stream: true`.
#[derive(Deserialize)]
struct CompletionJson {
    choices: Vec<ChoiceJson>,
    #[serde(default)]
    usage: Option<UsageJson>,
}

/// Read one SSE event (`event` is its name, empty or `message` for data events).
pub(crate) fn parse_event(event: &str, data: &str) -> Result<Frame, AnswerError> {
    if !(event.is_empty() || event == "message" || event == "error") {
        return Ok(Frame::Skip);
    }
    let data = data.trim();
    if data.is_empty() {
        return Ok(Frame::Skip);
    }
    if data == "[DONE]" {
        return Ok(Frame::Done);
    }
    let chunk: ChunkJson = serde_json::from_str(data).map_err(|e| {
        AnswerError::Protocol(format!("a frame is not a JSON chat completion chunk ({e}): {}", excerpt(data)))
    })?;
    if let Some(error) = chunk.error {
        return Err(AnswerError::Upstream { message: error_message(&error), status: None, retryable: false });
    }
    if event == "error" {
        return Err(AnswerError::Upstream { message: excerpt(data), status: None, retryable: false });
    }
    if chunk.choices.is_empty() && chunk.usage.is_none() {
        return Err(AnswerError::Protocol(format!("a frame has neither choices nor usage: {}", excerpt(data))));
    }
    Ok(chunk_frame(chunk.choices, chunk.usage))
}

/// Read a non-streamed `chat.completion` body as one frame.
pub(crate) fn parse_completion(body: &str) -> Result<Frame, AnswerError> {
    let completion: CompletionJson = serde_json::from_str(body).map_err(|e| {
        AnswerError::Protocol(format!("the response is neither SSE nor a chat completion ({e}): {}", excerpt(body)))
    })?;
    match chunk_frame(completion.choices, completion.usage) {
        Frame::Chunk { content, finish, usage } => {
            Ok(Frame::Chunk { content, finish: finish.or(Some(FinishReason::Stop)), usage })
        }
        other => Ok(other),
    }
}

fn chunk_frame(choices: Vec<ChoiceJson>, usage: Option<UsageJson>) -> Frame {
    let usage = usage.map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens });
    // We ask for one choice; should a server send more, only the first is the answer.
    let choice = choices.into_iter().find(|c| c.index == 0);
    let (content, finish) = match choice {
        Some(c) => {
            let content = c.delta.or(c.message).and_then(|d| d.content).unwrap_or_default();
            (content, c.finish_reason.as_deref().map(finish_reason))
        }
        None => (String::new(), None),
    };
    if content.is_empty() && finish.is_none() && usage.is_none() {
        return Frame::Skip;
    }
    Frame::Chunk { content, finish, usage }
}

/// OpenAI's finish reasons: `length` means cut at `max_tokens`; `stop` and every other
/// reason (`content_filter`, `tool_calls`, a server's own) end the answer as it is.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// The message of an OpenAI-style error body (`{"error":{"message":…}}`, `{"error":"…"}`,
/// `{"message":…}`, `{"detail":…}`), else an excerpt of the body.
pub(crate) fn error_body_message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => {
            if let Some(e) = v.get("error") {
                return error_message(e);
            }
            for key in ["message", "detail"] {
                if let Some(m) = v.get(key) {
                    return excerpt(&value_text(m));
                }
            }
            excerpt(body)
        }
        Err(_) => excerpt(body),
    }
}

fn error_message(error: &serde_json::Value) -> String {
    match error.get("message") {
        Some(m) => excerpt(&value_text(m)),
        None => excerpt(&value_text(error)),
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most 200 chars of `s` on one line, for error messages.
pub(crate) fn excerpt(s: &str) -> String {
    let line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(content: &str, finish: Option<FinishReason>) -> Frame {
        Frame::Chunk { content: content.into(), finish, usage: None }
    }

    #[test]
    fn chunks_done_and_keepalives() {
        let data = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;
        assert_eq!(parse_event("", data).unwrap(), chunk("Hi", None));
        assert_eq!(parse_event("message", data).unwrap(), chunk("Hi", None));
        assert_eq!(parse_event("", " [DONE] ").unwrap(), Frame::Done);
        assert_eq!(parse_event("ping", "whatever").unwrap(), Frame::Skip);
        assert_eq!(parse_event("", "").unwrap(), Frame::Skip);
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(parse_event("", role).unwrap(), Frame::Skip);
        let end = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#;
        assert_eq!(parse_event("", end).unwrap(), chunk("", Some(FinishReason::Length)));
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#;
        assert_eq!(
            parse_event("", usage).unwrap(),
            Frame::Chunk {
                content: String::new(),
                finish: None,
                usage: Some(Usage { prompt_tokens: 7, completion_tokens: 3 })
            }
        );
    }

    #[test]
    fn garbage_and_errors() {
        assert!(matches!(parse_event("", "not json"), Err(AnswerError::Protocol(_))));
        assert!(matches!(parse_event("", "{\"foo\":1}"), Err(AnswerError::Protocol(_))));
        let err = parse_event("", r#"{"error":{"message":"model crashed","type":"server_error"}}"#).unwrap_err();
        assert!(err.to_string().contains("model crashed"), "{err}");
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_body_message(r#"{"error":{"message":"Rate limited","code":429}}"#), "Rate limited");
        assert_eq!(error_body_message(r#"{"error":"bad model"}"#), "bad model");
        assert_eq!(error_body_message(r#"{"detail":[{"msg":"x"}]}"#), r#"[{"msg":"x"}]"#);
        assert_eq!(error_body_message("<html>\n  Bad Gateway </html>"), "<html> Bad Gateway </html>");
        assert_eq!(excerpt(&"a".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn whole_completion() {
        let body =
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"All [1]."},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_completion(body).unwrap(), chunk("All [1].", Some(FinishReason::Stop)));
    }
}
