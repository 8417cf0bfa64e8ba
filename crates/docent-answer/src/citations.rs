//! Citation markers in a streamed answer: keep the ones that point to a source,
//! remove the others, and say where each kept one sits in the final text.
//!
//! Generators cite with `[n]` (1-based source number). An LLM also writes `[1, 2]`,
//! `[1,2]` or `[0]`/`[7]` for sources that do not exist. [`CitationFilter`] sees the
//! answer as the deltas arrive, holds back only the few characters that may still
//! turn out to be a marker (an open `[` and the whitespace before it), and returns the
//! text that is safe to show now:
//!
//! - `[2]` with 1 ≤ 2 ≤ sources: kept, recorded as a [`Citation`];
//! - `[1, 2]`: rewritten `[1][2]`, two citations;
//! - `[7]` with 3 sources: removed with the whitespace before it, and reported in
//!   [`CitationFilter::dropped`];
//! - `[see below]`, `[`, `[1` at the very end: ordinary text, passed through.
//!
//! Offsets are in Unicode scalar values (`char`s) of the final content, the unit
//! OpenAI's `url_citation` annotations use.

use serde::{Deserialize, Serialize};

/// Longest marker body considered (`[12, 13, 14]` fits); a longer bracket is text.
const MAX_MARKER_CHARS: usize = 16;

/// Most numbers in one marker list.
const MAX_MARKER_NUMBERS: usize = 5;

/// A kept marker: source `index` is cited by the characters `start..end` (the `[n]`
/// itself) of the final content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// 1-based source number.
    pub index: usize,
    /// Offset of `[` in chars of the final content.
    pub start: usize,
    /// Offset just after `]`.
    pub end: usize,
}

/// Streaming marker filter for one answer with `sources` numbered sources.
#[derive(Debug, Clone)]
pub struct CitationFilter {
    sources: usize,
    /// Received but not yet decided (whitespace and/or a possible marker).
    pending: String,
    /// Everything released so far.
    content: String,
    /// `content.chars().count()`, kept up to date.
    content_chars: usize,
    citations: Vec<Citation>,
    dropped: Vec<String>,
}

/// What the text at an opening `[` is.
enum Bracket {
    /// Cannot tell yet: more text may complete it.
    Incomplete,
    /// Not a marker: `[` is ordinary text.
    Text,
    /// A marker list spanning `len` bytes, with its numbers.
    Marker { len: usize, numbers: Vec<usize> },
}

impl CitationFilter {
    /// A filter for an answer over `sources` sources (numbered `1..=sources`).
    pub fn new(sources: usize) -> Self {
        CitationFilter {
            sources,
            pending: String::new(),
            content: String::new(),
            content_chars: 0,
            citations: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// Feed the next delta; returns the text to show now (possibly empty).
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        self.drain(false)
    }

    /// The answer is complete: release what was held back (a trailing incomplete
    /// bracket is text; trailing whitespace is dropped).
    pub fn finish(&mut self) -> String {
        self.drain(true)
    }

    /// The text released so far (after [`CitationFilter::finish`]: the final answer).
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The kept markers, in order of appearance.
    pub fn citations(&self) -> &[Citation] {
        &self.citations
    }

    /// Markers removed because they point to no source, as written (e.g. `[7]`).
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// Distinct cited source numbers, in order of first citation.
    pub fn cited_sources(&self) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for c in &self.citations {
            if !out.contains(&c.index) {
                out.push(c.index);
            }
        }
        out
    }

    fn release(&mut self, out: &mut String, text: &str) {
        out.push_str(text);
        self.content.push_str(text);
        self.content_chars += text.chars().count();
    }

    fn drain(&mut self, at_end: bool) -> String {
        let pending = std::mem::take(&mut self.pending);
        let mut out = String::new();
        let mut rest: &str = &pending;
        loop {
            // Plain text up to the next whitespace run or `[`.
            let stop = rest.find(|c: char| c.is_whitespace() || c == '[').unwrap_or(rest.len());
            let (plain, tail) = rest.split_at(stop);
            self.release(&mut out, plain);
            rest = tail;
            if rest.is_empty() {
                break;
            }
            let ws_len = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
            let (ws, after) = rest.split_at(ws_len);
            if after.is_empty() {
                // Whitespace at the end: it may precede a marker that gets dropped.
                if !at_end {
                    self.pending.push_str(ws);
                }
                break;
            }
            if !after.starts_with('[') {
                self.release(&mut out, ws);
                rest = after;
                continue;
            }
            match self.classify(after) {
                Bracket::Incomplete if !at_end => {
                    self.pending.push_str(rest);
                    break;
                }
                Bracket::Incomplete | Bracket::Text => {
                    self.release(&mut out, ws);
                    self.release(&mut out, "[");
                    rest = &after[1..];
                }
                Bracket::Marker { len, numbers } => {
                    let written = &after[..len];
                    let valid: Vec<usize> = numbers.iter().copied().filter(|&n| n >= 1 && n <= self.sources).collect();
                    if valid.len() < numbers.len() {
                        self.dropped.push(written.to_string());
                    }
                    if !valid.is_empty() {
                        self.release(&mut out, ws);
                        for n in valid {
                            let marker = format!("[{n}]");
                            let start = self.content_chars;
                            self.release(&mut out, &marker);
                            self.citations.push(Citation { index: n, start, end: self.content_chars });
                        }
                    } else if after[len..].starts_with(|c: char| c.is_alphanumeric()) && !ws.is_empty() {
                        // "foo [9]bar": keep one space so the words stay apart.
                        self.release(&mut out, " ");
                    }
                    rest = &after[len..];
                }
            }
        }
        out
    }

    /// Classify the text starting at `[`.
    fn classify(&self, s: &str) -> Bracket {
        let mut numbers = Vec::new();
        let mut digits = 0usize;
        let mut current = 0usize;
        for (i, c) in s.char_indices().skip(1) {
            if i > MAX_MARKER_CHARS {
                return Bracket::Text;
            }
            match c {
                '0'..='9' => {
                    digits += 1;
                    if digits > 3 {
                        return Bracket::Text;
                    }
                    current = current * 10 + (c as usize - '0' as usize);
                }
                ',' | ' ' => {
                    if digits > 0 {
                        numbers.push(current);
                        digits = 0;
                        current = 0;
                    } else if c == ',' {
                        return Bracket::Text;
                    }
                }
                ']' => {
                    if digits > 0 {
                        numbers.push(current);
                    } else if c == ']' && !s[1..i].trim().is_empty() && s[1..i].trim_end().ends_with(',') {
                        return Bracket::Text;
                    }
                    if numbers.is_empty() || numbers.len() > MAX_MARKER_NUMBERS {
                        return Bracket::Text;
                    }
                    return Bracket::Marker { len: i + 1, numbers };
                }
                _ => return Bracket::Text,
            }
        }
        Bracket::Incomplete
    }
}

/// The sentence of `content` that ends at a citation: from the previous sentence end
/// (or the start) up to the marker, trimmed, other markers removed. The claim a
/// citation supports, for showing next to the source.
pub fn claim_before(content: &str, citation: &Citation) -> String {
    let before: String = content.chars().take(citation.start).collect();
    let mut text = before.trim_end();
    // Skip markers directly before this one ("… [1][2]").
    while text.ends_with(']') {
        match text.rfind('[') {
            Some(open) if text[open + 1..text.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
                text = text[..open].trim_end()
            }
            _ => break,
        }
    }
    let body = text.trim_end_matches(['.', '!', '?']);
    let start = body.rfind(['.', '!', '?', '\n']).map(|i| i + 1).unwrap_or(0);
    strip_markers(text[start..].trim())
}

/// `text` without any `[n]` markers.
pub fn strip_markers(text: &str) -> String {
    let mut filter = CitationFilter::new(0);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sources: usize, deltas: &[&str]) -> (String, CitationFilter) {
        let mut f = CitationFilter::new(sources);
        let mut shown = String::new();
        for d in deltas {
            shown.push_str(&f.push(d));
        }
        shown.push_str(&f.finish());
        assert_eq!(shown, f.content(), "what was shown is the content");
        (shown, f)
    }

    #[test]
    fn valid_markers_are_kept_with_char_offsets() {
        let (text, f) = run(2, &["Refunds take 30 days [1]. Über [2]."]);
        assert_eq!(text, "Refunds take 30 days [1]. Über [2].");
        assert_eq!(
            f.citations(),
            &[Citation { index: 1, start: 21, end: 24 }, Citation { index: 2, start: 31, end: 34 }]
        );
        let chars: Vec<char> = text.chars().collect();
        let second: String = chars[31..34].iter().collect();
        assert_eq!(second, "[2]");
        assert!(f.dropped().is_empty());
    }

    #[test]
    fn markers_split_across_deltas_are_recognised() {
        let (text, f) = run(3, &["It works ", "[", "3", "]", " and not ", "[1", "2]", "."]);
        assert_eq!(text, "It works [3] and not.");
        assert_eq!(f.citations().len(), 1);
        assert_eq!(f.dropped(), &["[12]".to_string()]);
    }

    #[test]
    fn lists_are_split_and_bad_numbers_removed() {
        let (text, f) = run(2, &["Both [1, 2]. Mixed [2,5]. None [0]."]);
        assert_eq!(text, "Both [1][2]. Mixed [2]. None.");
        assert_eq!(f.cited_sources(), vec![1, 2]);
        assert_eq!(f.dropped(), &["[2,5]".to_string(), "[0]".to_string()]);
    }

    #[test]
    fn brackets_that_are_not_markers_pass_through() {
        let (text, f) = run(2, &["Use [see below] or a[", "i] or [", "1000] or [,] [", "1"]);
        assert_eq!(text, "Use [see below] or a[i] or [1000] or [,] [1");
        assert!(f.citations().is_empty());
    }

    #[test]
    fn whitespace_is_held_only_while_undecided() {
        let mut f = CitationFilter::new(1);
        assert_eq!(f.push("Hello "), "Hello");
        assert_eq!(f.push("world"), " world");
        assert_eq!(f.push(" ["), "");
        assert_eq!(f.push("9]x"), " x");
        assert_eq!(f.finish(), "");
        assert_eq!(f.content(), "Hello world x");
    }

    #[test]
    fn claim_is_the_sentence_before_the_marker() {
        let (text, f) = run(2, &["First point [1]. Second, longer point [1][2]."]);
        assert_eq!(claim_before(&text, &f.citations()[0]), "First point");
        assert_eq!(claim_before(&text, &f.citations()[2]), "Second, longer point");
        assert_eq!(strip_markers(&text), "First point. Second, longer point.");
    }
}
