//! `corpus/questions.jsonl`: the hand-written evaluation questions of a docs site.
//!
//! One JSON object per line: `id`, `question`, `expected_url` (page, `null` when the
//! site cannot answer), `expected_anchor` (section slug or `null`), `answerable`,
//! `kind` (`direct`, `paraphrase`, `followup`, `unanswerable`) and, for follow-ups,
//! `follows` (the id of the question asked just before).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::eval::EvalError;

/// What kind of question a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// Wording close to the page.
    Direct,
    /// Different vocabulary from the page.
    Paraphrase,
    /// Only makes sense after the question it follows.
    Followup,
    /// The site does not answer it.
    Unanswerable,
}

impl QuestionKind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Direct => "direct",
            QuestionKind::Paraphrase => "paraphrase",
            QuestionKind::Followup => "followup",
            QuestionKind::Unanswerable => "unanswerable",
        }
    }
}

impl fmt::Display for QuestionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluation question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Unique id (`q001`, …).
    pub id: String,
    /// The user's text.
    pub question: String,
    /// URL of the page that answers it; `None` when unanswerable.
    pub expected_url: Option<String>,
    /// Section anchor inside that page; `None` for page intros, headings without ids,
    /// text files, and unanswerable questions.
    #[serde(default)]
    pub expected_anchor: Option<String>,
    /// A short reference answer.
    #[serde(default)]
    pub expected_answer: Option<String>,
    /// False only for unanswerable questions.
    pub answerable: bool,
    /// Kind of question.
    pub kind: QuestionKind,
    /// Follow-ups: the id of the question this one follows.
    #[serde(default)]
    pub follows: Option<String>,
}

impl Question {
    /// `expected_url#expected_anchor` when both are known: the link of the section
    /// that answers the question.
    pub fn expected_section_url(&self) -> Option<String> {
        match (&self.expected_url, &self.expected_anchor) {
            (Some(u), Some(a)) if !a.is_empty() => Some(format!("{u}#{a}")),
            _ => None,
        }
    }
}

/// The questions of a file, in file order, with follow-up chains resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionSet {
    /// All questions in file order.
    pub questions: Vec<Question>,
    by_id: HashMap<String, usize>,
}

impl QuestionSet {
    /// Parse a `questions.jsonl` file (blank lines ignored). Checks that ids are
    /// unique, that answerable questions name a page, and that every `follows`
    /// names an earlier question.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, detail)| EvalError::Parse { path: path.to_path_buf(), line, detail })
    }

    /// Parse the text of a `questions.jsonl` file; errors carry the 1-based line.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut questions = Vec::new();
        let mut by_id = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let q: Question = serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))?;
            if q.answerable && q.expected_url.is_none() {
                return Err((i + 1, format!("question {} is answerable but has no expected_url", q.id)));
            }
            if let Some(f) = &q.follows {
                if !by_id.contains_key(f) {
                    return Err((i + 1, format!("question {} follows {f}, which does not come before it", q.id)));
                }
            }
            if by_id.insert(q.id.clone(), questions.len()).is_some() {
                return Err((i + 1, format!("question id {} appears twice", q.id)));
            }
            questions.push(q);
        }
        Ok(QuestionSet { questions, by_id })
    }

    /// A question by id.
    pub fn get(&self, id: &str) -> Option<&Question> {
        self.by_id.get(id).map(|&i| &self.questions[i])
    }

    /// The earlier user turns of a question, oldest first: the chain of `follows`
    /// (a follow-up of a follow-up brings both earlier turns). Empty for a question
    /// that follows nothing.
    pub fn history(&self, q: &Question) -> Vec<&str> {
        let mut out = Vec::new();
        let mut cur = q.follows.as_deref();
        while let Some(id) = cur {
            let Some(prev) = self.get(id) else { break };
            out.push(prev.question.as_str());
            cur = prev.follows.as_deref();
            if out.len() > self.questions.len() {
                break; // a cycle cannot happen (follows points backwards), but never loop
            }
        }
        out.reverse();
        out
    }

    /// The question just before `q` in the file (the "previous turn" of a
    /// conversation that switched topic), if any.
    pub fn previous_line(&self, q: &Question) -> Option<&Question> {
        let i = *self.by_id.get(&q.id)?;
        i.checked_sub(1).map(|p| &self.questions[p])
    }

    /// Number of questions of a kind.
    pub fn count(&self, kind: QuestionKind) -> usize {
        self.questions.iter().filter(|q| q.kind == kind).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
{"id":"q1","question":"What is the refund window?","expected_url":"https://x/refunds","expected_anchor":"refund-window","answerable":true,"kind":"direct"}
{"id":"q2","question":"And for monthly plans?","expected_url":"https://x/refunds","expected_anchor":null,"answerable":true,"kind":"followup","follows":"q1"}
{"id":"q3","question":"And after that?","expected_url":"https://x/refunds","expected_anchor":null,"answerable":true,"kind":"followup","follows":"q2"}
{"id":"q4","question":"Weather in Paris?","expected_url":null,"expected_anchor":null,"answerable":false,"kind":"unanswerable"}
"#;

    #[test]
    fn parses_kinds_anchors_and_history_chains() {
        let set = QuestionSet::parse(SAMPLE).expect("parse");
        assert_eq!(set.questions.len(), 4);
        assert_eq!(set.count(QuestionKind::Followup), 2);
        let q1 = set.get("q1").expect("q1");
        assert_eq!(q1.expected_section_url().as_deref(), Some("https://x/refunds#refund-window"));
        assert_eq!(set.get("q2").and_then(Question::expected_section_url), None);
        assert!(set.history(q1).is_empty());
        let q3 = set.get("q3").expect("q3");
        assert_eq!(set.history(q3), vec!["What is the refund window?", "And for monthly plans?"]);
        assert_eq!(set.previous_line(set.get("q4").expect("q4")).map(|q| q.id.as_str()), Some("q3"));
        assert!(set.previous_line(q1).is_none());
    }

    #[test]
    fn rejects_bad_lines_with_their_line_number() {
        let forward =
            r#"{"id":"a","question":"x","expected_url":"u","answerable":true,"kind":"followup","follows":"b"}"#;
        assert_eq!(QuestionSet::parse(forward).unwrap_err().0, 1);
        let dup = format!("{}\n{}", SAMPLE.trim(), SAMPLE.trim().lines().next().unwrap_or_default());
        let (line, msg) = QuestionSet::parse(&dup).unwrap_err();
        assert_eq!(line, 5);
        assert!(msg.contains("twice"), "{msg}");
        let no_url = r#"{"id":"a","question":"x","expected_url":null,"answerable":true,"kind":"direct"}"#;
        assert!(QuestionSet::parse(no_url).unwrap_err().1.contains("no expected_url"));
        assert!(QuestionSet::parse("{not json").is_err());
    }
}
