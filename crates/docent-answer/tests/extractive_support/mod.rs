//! Shared helpers of the extractive generator tests: requests, running a stream to
//! the end, and the faithfulness check.
#![allow(dead_code)]

use docent_answer::citations::CitationFilter;
use docent_answer::{AnswerEvent, AnswerRequest, FinishReason, Generator, Role, Source, Turn, Usage};
use futures::StreamExt;

pub fn source(index: usize, url: &str, heading_path: &[&str], text: &str) -> Source {
    Source {
        index,
        title: heading_path.first().copied().unwrap_or("Page").to_string(),
        url: url.to_string(),
        heading_path: heading_path.iter().map(|s| s.to_string()).collect(),
        text: text.to_string(),
        score: 1.0 / index as f32,
    }
}

pub fn request(question: &str, sources: Vec<Source>) -> AnswerRequest {
    AnswerRequest {
        question: question.to_string(),
        history: Vec::new(),
        sources,
        answerable: true,
        confidence: 0.9,
        system_prompt: None,
        fallback: "Sorry, I can't find that in the help center.".to_string(),
        max_tokens: 400,
    }
}

pub fn with_history(mut r: AnswerRequest, turns: &[&str]) -> AnswerRequest {
    r.history = turns.iter().map(|t| Turn { role: Role::User, content: t.to_string() }).collect();
    r
}

/// A finished answer as a client sees it.
#[derive(Debug)]
pub struct Answer {
    pub deltas: Vec<String>,
    pub content: String,
    pub cited: Vec<usize>,
    pub filter: CitationFilter,
    pub finish: FinishReason,
    pub usage: Usage,
}

pub fn run(generator: &dyn Generator, request: AnswerRequest) -> Answer {
    let sources = request.sources.len();
    let events = futures::executor::block_on(generator.generate(request).collect::<Vec<_>>());
    let mut filter = CitationFilter::new(sources);
    let mut deltas = Vec::new();
    let mut done = None;
    for (i, e) in events.iter().enumerate() {
        match e {
            Ok(AnswerEvent::Delta(d)) => {
                assert!(done.is_none(), "delta after done");
                deltas.push(d.clone());
                filter.push(d);
            }
            Ok(AnswerEvent::Done { finish_reason, usage }) => {
                assert_eq!(i + 1, events.len(), "done is the last event");
                done = Some((*finish_reason, *usage));
            }
            Err(e) => panic!("generation failed: {e}"),
        }
    }
    filter.finish();
    let (finish, usage) = done.expect("a done event");
    assert!(filter.dropped().is_empty(), "markers to no source: {:?}", filter.dropped());
    Answer { deltas, content: filter.content().to_string(), cited: filter.cited_sources(), filter, finish, usage }
}

/// Whitespace collapsed; list markers and `A:`/`Q:`/`>` prefixes at line starts removed.
pub fn normalise(text: &str) -> String {
    text.lines().map(strip_line_syntax).collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_line_syntax(line: &str) -> &str {
    let t = line.trim();
    for p in ["- ", "* ", "+ ", "• ", "– ", "A: ", "Q: ", "> "] {
        if let Some(rest) = t.strip_prefix(p) {
            return rest;
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if let Some(rest) = t[digits..].strip_prefix(". ").or_else(|| t[digits..].strip_prefix(") ")) {
            return rest;
        }
    }
    t
}

/// The claims of an answer: for each citation, the text since the previous one (the
/// period after a marker belongs to the claim before it), with its cited source.
pub fn claims(answer: &Answer) -> Vec<(usize, String)> {
    let chars: Vec<char> = answer.content.chars().collect();
    let mut out = Vec::new();
    let mut from = 0usize;
    for c in answer.filter.citations() {
        let text: String = chars[from..c.start].iter().collect();
        let text = text.trim_start_matches(|ch: char| ch == '.' || ch.is_whitespace()).trim_end();
        if !text.is_empty() {
            out.push((c.index, text.to_string()));
        }
        from = c.end;
    }
    let tail: String = chars[from..].iter().collect();
    let tail = tail.trim_start_matches(|ch: char| ch == '.' || ch.is_whitespace()).trim();
    assert!(tail.is_empty(), "text after the last marker is uncited: {tail:?} in {:?}", answer.content);
    out
}

/// Every line of every claim (markers removed, whitespace normalised) is a substring of
/// its cited source's text; returns the offending claim otherwise.
pub fn unfaithful(answer: &Answer, sources: &[Source]) -> Option<String> {
    for (index, claim) in claims(answer) {
        let Some(src) = sources.iter().find(|s| s.index == index) else {
            return Some(format!("[{index}] cites no source: {claim}"));
        };
        let haystack = normalise(&src.text);
        for line in claim.lines() {
            let needle = normalise(line);
            let needle = needle.trim_end_matches('.');
            if !needle.is_empty() && !haystack.contains(needle) {
                return Some(format!("[{index}] {needle:?} is not in {haystack:?}"));
            }
        }
    }
    None
}
