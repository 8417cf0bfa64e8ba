//! The chat messages sent upstream: grounding rules and numbered sources in the
//! system message, then the earlier turns, then the question.
//!
//! The grounding rules are always there. A bot's own system prompt replaces only the
//! persona line above them, so an operator can change the tone but not switch off
//! "answer only from the sources, cite each claim, refuse otherwise".
//!
//! The prompt is bounded: source texts share [`PromptLimits::context_chars`] (short
//! sources keep all their text, long ones are cut at a word boundary), only the latest
//! [`PromptLimits::history_turns`] turns are sent and each is cut to
//! [`PromptLimits::history_turn_chars`].

use serde::Serialize;

use crate::{AnswerRequest, Role, Source};

/// The persona used when the bot has no system prompt of its own.
pub const DEFAULT_PERSONA: &str =
    "You are a documentation assistant. You answer questions about the product using its documentation.";

/// One message of an OpenAI chat-completions request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// Size bounds of a prompt (from [`super::LlmConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptLimits {
    /// Characters of source text, shared across the sources.
    pub context_chars: usize,
    /// Latest earlier turns kept.
    pub history_turns: usize,
    /// Characters per earlier turn (and for the question).
    pub history_turn_chars: usize,
}

/// The messages for `request`: system (persona, rules, sources), history, question.
pub fn build_messages(request: &AnswerRequest, limits: &PromptLimits) -> Vec<ChatMessage> {
    let mut messages = Vec::with_capacity(request.history.len().min(limits.history_turns) + 2);
    messages.push(ChatMessage { role: "system", content: system_message(request, limits.context_chars) });
    let skip = request.history.len().saturating_sub(limits.history_turns);
    for turn in request.history.iter().skip(skip) {
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(ChatMessage { role, content: truncate(&turn.content, limits.history_turn_chars) });
    }
    messages.push(ChatMessage { role: "user", content: truncate(&request.question, limits.history_turn_chars * 4) });
    messages
}

fn system_message(request: &AnswerRequest, context_chars: usize) -> String {
    let persona = request.system_prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or(DEFAULT_PERSONA);
    let example = if request.sources.len() >= 2 { "[1] or [2]" } else { "[1]" };
    let fallback = request.fallback.trim();
    let mut out = String::with_capacity(context_chars + 1024);
    out.push_str(persona);
    out.push_str("\n\nAnswer the user's question using only the numbered sources below.\n");
    out.push_str("Rules:\n");
    out.push_str("- Use only facts stated in the sources. Do not use outside knowledge and do not guess.\n");
    out.push_str(&format!(
        "- After each sentence, cite the source that supports it with its number in square brackets, like {example}.\n"
    ));
    out.push_str("- Only cite numbers of the sources listed below.\n");
    out.push_str(&format!("- If the sources do not contain the answer, reply exactly: {fallback}\n"));
    out.push_str("- Be brief and answer in the language of the question.\n\nSources:\n");
    let budgets = share_budget(&request.sources, context_chars);
    for (source, budget) in request.sources.iter().zip(budgets) {
        out.push('\n');
        out.push_str(&source_block(source, budget));
        out.push('\n');
    }
    out
}

/// `[n] Title — Heading › Sub\nURL\ntext` (the text cut to `budget` chars).
fn source_block(source: &Source, budget: usize) -> String {
    let mut head = format!("[{}] {}", source.index, one_line(&source.title));
    let headings: Vec<&str> =
        source.heading_path.iter().map(|h| h.trim()).filter(|h| !h.is_empty() && *h != source.title.trim()).collect();
    if !headings.is_empty() {
        head.push_str(" — ");
        head.push_str(&one_line(&headings.join(" › ")));
    }
    format!("{head}\n{}\n{}", one_line(&source.url), truncate(source.text.trim(), budget))
}

/// Split `total` chars among the sources in order: each gets at most an equal share of
/// what is left, and what a short one does not use goes to the next.
fn share_budget(sources: &[Source], total: usize) -> Vec<usize> {
    let mut left = total;
    let mut out = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        let share = left / (sources.len() - i);
        let take = source.text.trim().chars().count().min(share);
        out.push(take);
        left -= take;
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` cut to at most `max` chars, at a word boundary when one is near, marked with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut = s.char_indices().nth(max.saturating_sub(1)).map(|(i, _)| i).unwrap_or(s.len());
    let head = &s[..cut];
    let at_word = match head.rfind(char::is_whitespace) {
        Some(i) if i >= cut * 4 / 5 => head[..i].trim_end(),
        _ => head,
    };
    format!("{at_word}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Turn;

    fn source(index: usize, text: &str) -> Source {
        Source {
            index,
            title: format!("Page {index}"),
            url: format!("https://docs.example/p{index}#s"),
            heading_path: vec![format!("Page {index}"), "Setup".into(), "Keys".into()],
            text: text.into(),
            score: 1.0,
        }
    }

    fn request(sources: Vec<Source>, history: Vec<Turn>) -> AnswerRequest {
        AnswerRequest {
            question: "How do I rotate keys?".into(),
            history,
            sources,
            answerable: true,
            confidence: 0.9,
            system_prompt: None,
            fallback: "I don't know.".into(),
            max_tokens: 100,
        }
    }

    const LIMITS: PromptLimits = PromptLimits { context_chars: 100, history_turns: 2, history_turn_chars: 20 };

    #[test]
    fn sources_are_numbered_with_heading_path_and_url() {
        let msgs =
            build_messages(&request(vec![source(1, "Rotate in settings."), source(2, "Other.")], vec![]), &LIMITS);
        let system = &msgs[0].content;
        assert!(
            system.contains("[1] Page 1 — Setup › Keys\nhttps://docs.example/p1#s\nRotate in settings."),
            "{system}"
        );
        assert!(system.contains("[2] Page 2 — Setup › Keys"));
        assert!(system.contains("reply exactly: I don't know."));
        assert!(system.starts_with(DEFAULT_PERSONA));
        assert_eq!(msgs.last().unwrap(), &ChatMessage { role: "user", content: "How do I rotate keys?".into() });
    }

    #[test]
    fn budget_is_shared_and_history_is_bounded() {
        let long = "word ".repeat(100);
        let history = (0..5)
            .map(|i| Turn {
                role: if i % 2 == 0 { Role::User } else { Role::Assistant },
                content: format!("turn {i} {long}"),
            })
            .collect();
        let msgs =
            build_messages(&request(vec![source(1, "short"), source(2, &long), source(3, &long)], history), &LIMITS);
        let system = &msgs[0].content;
        assert!(system.contains("\nshort\n"));
        // 100 - 5 = 95 left for two long sources: 47 and 48 chars.
        let block2 = system.split("[2] ").nth(1).unwrap().split("\n\n").next().unwrap();
        let text2 = block2.lines().nth(2).unwrap();
        assert!(text2.chars().count() <= 48 && text2.ends_with('…'), "{text2:?}");
        assert_eq!(msgs.len(), 1 + 2 + 1, "two latest turns");
        assert!(msgs[1].content.starts_with("turn 3") && msgs[1].role == "assistant");
        assert!(msgs[2].content.chars().count() <= 20);
    }

    #[test]
    fn bot_prompt_replaces_only_the_persona() {
        let mut req = request(vec![source(1, "x")], vec![]);
        req.system_prompt = Some("You are Lumen, a cheerful helper.".into());
        let system = &build_messages(&req, &LIMITS)[0].content;
        assert!(system.starts_with("You are Lumen"));
        assert!(system.contains("only the numbered sources"));
    }

    #[test]
    fn truncate_respects_chars_and_words() {
        assert_eq!(truncate("héllo wörld", 20), "héllo wörld");
        assert_eq!(truncate("héllo wörld again", 12), "héllo wörld…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("abc", 0), "");
    }
}
