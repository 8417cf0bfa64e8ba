//! Human handoff: recognising a visitor who asks for a person, and the texts a bot
//! answers with.
//!
//! A message asks for a human when one of the bot's phrases (`handoff_phrases`, else
//! [`DEFAULT_PHRASES`]) occurs in it as a run of whole words, after both are
//! normalised the same way ([`words`]): Unicode NFKC, lower case, punctuation and
//! symbols as spaces, apostrophes dropped (`don't` → `dont`), the articles `a`, `an`,
//! `the` removed (so "talk to a human", "talk to the human" and "talk to human" are one
//! phrase). A match right after a negation in the same sentence ("I don't want to talk
//! to a human", "no need to speak to an agent") does not count. The phrases are multi-word on purpose:
//! "human" alone would fire on "how do humans approve invoices".
//!
//! [`hand_off_in`] is the one state change (open → handoff, with its
//! `conversation.handoff` event in the same transaction), used by the handoff route
//! and by a turn that answered `finish_reason: "handoff"`; [`give_back`] reverses it
//! (the admin route). While a conversation is handed off, `/v1/chat` refuses to answer
//! in it (409 `conversation_handed_off`).
//!
//! Useful for: the chat turn ([`crate::turn`]) deciding to answer with the handoff
//! text instead of searching. Not for: intent classification in general (no model, no
//! languages other than the configured phrases).

use unicode_normalization::UnicodeNormalization;

use crate::store::{Conversation, ConversationState, Store, StoreError, WriteTx};
use crate::webhooks::{conversation_handoff, HandoffTrigger};

/// What a bot answers when a visitor asks for a person (`handoff_text`).
pub const DEFAULT_HANDOFF_TEXT: &str =
    "I've asked a person from our team to take over this conversation. They will get back to you here as soon as possible.";

/// The phrases that ask for a person when a bot sets no `handoff_phrases`.
pub const DEFAULT_PHRASES: &[&str] = &[
    "talk to a human",
    "talk with a human",
    "speak to a human",
    "speak with a human",
    "chat with a human",
    "talk to a person",
    "talk with a person",
    "speak to a person",
    "speak with a person",
    "chat with a person",
    "talk to someone",
    "speak to someone",
    "talk to somebody",
    "speak to somebody",
    "talk to an agent",
    "speak to an agent",
    "speak with an agent",
    "chat with an agent",
    "talk to a representative",
    "speak to a representative",
    "connect me to a human",
    "connect me with a human",
    "connect me to a person",
    "connect me with a person",
    "connect me to an agent",
    "connect me with an agent",
    "transfer me to a human",
    "transfer me to a person",
    "transfer me to an agent",
    "real person",
    "real human",
    "live person",
    "live agent",
    "human agent",
    "human operator",
    "customer support agent",
    "talk to customer support",
    "speak to customer support",
    "talk to support team",
];

/// Words that, just before a phrase, turn it around ("I don't need a real person").
const NEGATIONS: &[&str] = &["no", "not", "never", "dont", "doesnt", "didnt", "without", "nobody"];

/// How many words before a match a negation is looked for.
const NEGATION_WINDOW: usize = 3;

/// Longest phrase, in characters (config validation).
pub const MAX_PHRASE_CHARS: usize = 200;

/// The normalised words of `text` (see the module docs).
pub fn words(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            cleaned.push(c);
        } else if !matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`') {
            // Apostrophes are dropped (contractions stay one word); the rest separates words.
            cleaned.push(' ');
        }
    }
    cleaned.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).map(str::to_string).collect()
}

/// Phrases compiled to word runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseMatcher {
    phrases: Vec<Vec<String>>,
}

impl PhraseMatcher {
    /// Compile `phrases`; an entry without words is an error (it would match nothing,
    /// or, worse, be mistaken for a working phrase).
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(phrases.len());
        for p in phrases {
            let p = p.as_ref();
            if p.chars().count() > MAX_PHRASE_CHARS {
                return Err(format!("a handoff phrase is at most {MAX_PHRASE_CHARS} characters"));
            }
            let w = words(p);
            if w.is_empty() {
                return Err(format!("`{p}` has no words to match"));
            }
            out.push(w);
        }
        Ok(PhraseMatcher { phrases: out })
    }

    /// The defaults ([`DEFAULT_PHRASES`]).
    pub fn defaults() -> Self {
        PhraseMatcher { phrases: DEFAULT_PHRASES.iter().map(|p| words(p)).collect() }
    }

    /// The phrase `message` asks for a person with, if any. Sentences are matched
    /// one by one, so a negation in one ("That doesn't help.") does not cancel a
    /// request in the next ("Can I talk to a human?").
    pub fn find(&self, message: &str) -> Option<String> {
        let sentences = message.split(['.', '!', '?', ';', '\n', '\u{3002}', '\u{FF01}', '\u{FF1F}']);
        for sentence in sentences {
            let text = words(sentence);
            for phrase in &self.phrases {
                let n = phrase.len();
                if n > text.len() {
                    continue;
                }
                for start in 0..=text.len() - n {
                    if text[start..start + n] == phrase[..] && !negated(&text[..start]) {
                        return Some(phrase.join(" "));
                    }
                }
            }
        }
        None
    }

    /// Whether `message` asks for a person.
    pub fn matches(&self, message: &str) -> bool {
        self.find(message).is_some()
    }
}

fn negated(before: &[String]) -> bool {
    before.iter().rev().take(NEGATION_WINDOW).any(|w| NEGATIONS.contains(&w.as_str()))
}

/// The matcher of a bot: its `handoff_phrases`, or the defaults. Built once per bot at
/// start-up ([`crate::bots::BotRuntime::handoff`]). Phrases were checked when the
/// configuration was loaded; a list that no longer compiles matches nothing.
pub fn matcher_for(bot: &crate::config::BotConfig) -> PhraseMatcher {
    match &bot.handoff_phrases {
        None => PhraseMatcher::defaults(),
        Some(list) => PhraseMatcher::new(list).unwrap_or(PhraseMatcher { phrases: Vec::new() }),
    }
}

/// Hand a conversation to a person inside `tx` and queue its `conversation.handoff`
/// there. `None` when it was not open (already handed off, or gone): nothing changes
/// and nothing fires, so asking twice notifies once.
pub async fn hand_off_in(
    tx: &mut WriteTx,
    conversation_id: &str,
    reason: Option<&str>,
    trigger: HandoffTrigger<'_>,
) -> Result<Option<Conversation>, StoreError> {
    let changed =
        Store::change_conversation_state_in(tx, conversation_id, ConversationState::Open, ConversationState::Handoff)
            .await?;
    if let Some(c) = &changed {
        tx.emit(&conversation_handoff(&c.bot_id, &c.id, c.user_id.as_deref(), reason, trigger)).await?;
    }
    Ok(changed)
}

/// Give a handed-off conversation back to the bot; `None` when it was not handed off.
pub async fn give_back(store: &Store, conversation_id: &str) -> Result<Option<Conversation>, StoreError> {
    let mut tx = store.begin_write().await?;
    let changed = Store::change_conversation_state_in(
        &mut tx,
        conversation_id,
        ConversationState::Handoff,
        ConversationState::Open,
    )
    .await?;
    tx.commit().await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_for_a_person_are_recognised() {
        let m = PhraseMatcher::defaults();
        for yes in [
            "talk to a human",
            "Can I TALK TO A HUMAN, please?",
            "I'd like to speak to an agent.",
            "i want a real person!!!",
            "Is there a customer-support agent I can reach?",
            "Please connect me with a person",
            "speak to the human",
            "ＴＡＬＫ ＴＯ Ａ ＨＵＭＡＮ",          // fullwidth: NFKC
            "let me talk\u{00A0}to\u{2003}a human", // odd spaces
            "I need a live agent now",
            "talk to human",
            "This doesn't help. Can I talk to a human?",
        ] {
            assert!(m.matches(yes), "should ask for a person: {yes:?}");
        }
    }

    #[test]
    fn ordinary_questions_are_not_handoffs() {
        let m = PhraseMatcher::defaults();
        for no in [
            "how do humans approve invoices",
            "What does the human resources module do?",
            "Which person can approve a refund?",
            "Can an agent export reports?",
            "How do I set up a support team?",
            "I don't want to talk to a human, just tell me the refund window",
            "no need to speak to an agent",
            "talking to humans is overrated",
            "personal settings",
            "",
        ] {
            assert!(!m.matches(no), "should not ask for a person: {no:?}");
        }
    }

    #[test]
    fn phrases_are_normalised_like_messages() {
        assert_eq!(words("Don't  STOP—the \"Music\"!"), vec!["dont", "stop", "music"]);
        let m = PhraseMatcher::new(&["Mensch bitte", "operator"]).expect("compiles");
        assert!(m.matches("MENSCH, bitte!"));
        assert!(m.matches("operator"));
        assert!(!m.matches("talk to a human"), "a bot's own list replaces the defaults");
        assert_eq!(m.find("operator please").as_deref(), Some("operator"));
        assert!(PhraseMatcher::new(&["?!"]).is_err());
        assert!(PhraseMatcher::new(&["x".repeat(MAX_PHRASE_CHARS + 1)]).is_err());
        assert!(!PhraseMatcher::new::<&str>(&[]).expect("empty list").matches("talk to a human"));
    }
}
