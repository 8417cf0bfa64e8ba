//! Plain text: the only structure we trust is the setext-style heading (a line
//! underlined with `===` or `---` of about its length), which is how hand-written text
//! docs mark sections. Line breaks inside paragraphs are kept, because plain-text docs
//! align tables and lists with them.
//!
//! Text files have no anchors: nothing links into them, so every section's `anchor` and
//! `link_anchor` are `None`.

use super::blocks::{clean_line, clean_text};
use super::section::SectionBuilder;
use crate::page::ExtractedPage;

/// Longest title taken from a first line of prose when there is no `===` heading.
const MAX_LINE_TITLE_CHARS: usize = 100;
/// Longer lines are prose, not headings, even when a rule follows them.
const MAX_HEADING_CHARS: usize = 120;

/// Extracts a plain-text document. The first `===`-underlined heading is the title (and
/// not a section); other `===` headings are level 1, `---` headings level 2. Without
/// a `===` heading the title is the first non-empty line (kept in the text too), and
/// `fallback_title` is used for a document with no text at all.
pub fn extract_text(text: &str, fallback_title: &str) -> ExtractedPage {
    let _span = tracing::debug_span!("extract_text").entered();
    let normalized = text.strip_prefix('\u{FEFF}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();

    let title_heading = (0..lines.len()).find(|&i| setext_level(&lines, i) == Some(1));
    let mut title = title_heading.and_then(|i| lines.get(i)).map(|line| clean_line(line));

    let mut builder = SectionBuilder::default();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, builder: &mut SectionBuilder| {
        if !paragraph.is_empty() {
            builder.blocks([paragraph.join("\n")]);
            paragraph.clear();
        }
    };

    let mut i = 0;
    while i < lines.len() {
        let line = lines.get(i).copied().unwrap_or_default();
        if let Some(level) = setext_level(&lines, i) {
            flush(&mut paragraph, &mut builder);
            if Some(i) != title_heading {
                builder.heading(level, line, None);
            }
            i += 2;
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut builder);
        } else {
            paragraph.push(line.trim_end());
        }
        i += 1;
    }
    flush(&mut paragraph, &mut builder);
    let sections = builder.finish();

    if title.as_deref().is_none_or(str::is_empty) {
        title = lines.iter().map(|line| clean_line(line)).find(|line| !line.is_empty()).map(|line| shorten(&line));
    }
    ExtractedPage {
        title: title.filter(|t| !t.is_empty()).unwrap_or_else(|| clean_line(fallback_title)),
        description: None,
        tags: Vec::new(),
        canonical: None,
        sections,
    }
}

/// Heading level when line `i` is a setext heading: an unindented, non-empty line
/// after a blank line (or at the start), followed by a line made only of `=` (level
/// 1) or `-` (level 2), at least 3 long and roughly as long as the heading.
fn setext_level(lines: &[&str], i: usize) -> Option<u8> {
    let heading = lines.get(i)?;
    let underline = lines.get(i + 1)?.trim_end();
    let previous_blank = i == 0 || lines.get(i - 1).is_some_and(|l| l.trim().is_empty());
    if !previous_blank || heading.starts_with(char::is_whitespace) || heading.trim().is_empty() {
        return None;
    }
    let marker = underline.chars().next()?;
    let level = match marker {
        '=' => 1,
        '-' => 2,
        _ => return None,
    };
    if !underline.chars().all(|c| c == marker) {
        return None;
    }
    let heading_len = clean_line(heading).chars().count();
    let rule_len = underline.chars().count();
    // The heading itself must not be a rule, and the lengths must be comparable.
    let heading_is_rule = heading.trim().chars().all(|c| c == '=' || c == '-');
    let similar = rule_len * 2 >= heading_len && rule_len <= heading_len * 2 + 2;
    (rule_len >= 3 && heading_len <= MAX_HEADING_CHARS && similar && !heading_is_rule).then_some(level)
}

/// A first line used as a title, cut at a word boundary when it is long.
fn shorten(line: &str) -> String {
    if line.chars().count() <= MAX_LINE_TITLE_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX_LINE_TITLE_CHARS).collect();
    let at_word = match cut.rfind(' ') {
        Some(pos) if pos > MAX_LINE_TITLE_CHARS / 2 => cut.get(..pos).unwrap_or(&cut).to_owned(),
        _ => cut,
    };
    format!("{}…", clean_text(&at_word).trim_end_matches([',', ';', ':', '.', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setext_headings_title_and_sections() {
        let doc = "GUIDE TITLE\n===========\nLast reviewed: 2025\n\n\nPART ONE\n--------\n\nQ: What?\nA: This.\n   indented line\n\nSecond para.\n\nAPPENDIX\n========\n\nDETAILS\n-------\nDetail text.\n";
        let page = extract_text(doc, "fallback");
        assert_eq!(page.title, "GUIDE TITLE");
        let headings: Vec<Vec<String>> = page.sections.iter().map(|s| s.headings.clone()).collect();
        assert_eq!(
            headings,
            vec![vec![], vec!["PART ONE".to_owned()], vec!["APPENDIX".to_owned(), "DETAILS".to_owned()],]
        );
        assert_eq!(page.sections[0].text, "Last reviewed: 2025");
        assert_eq!(page.sections[1].text, "Q: What?\nA: This.\n   indented line\n\nSecond para.");
        assert!(page.sections.iter().all(|s| s.anchor.is_none() && s.link_anchor.is_none()));
    }

    #[test]
    fn dashed_tables_and_wrapped_prose_are_not_headings() {
        let doc = "Intro\n\n  Plan      Channels\n  -------   --------\n  Starter   Email\n\nA paragraph line\n---\nright after it.\n\nx\n-----------------\n";
        let page = extract_text(doc, "fallback");
        assert_eq!(page.title, "Intro");
        assert_eq!(page.sections.len(), 1, "{:#?}", page.sections);
        assert!(page.sections[0].text.contains("  Plan      Channels\n  -------   --------"));
        assert!(page.sections[0].text.contains("A paragraph line\n---\nright after it."));
        assert!(page.sections[0].text.ends_with("x\n-----------------"));
    }

    #[test]
    fn title_falls_back_to_first_line_then_fallback() {
        let page = extract_text("\n\n  First line  \nmore\n", "fb");
        assert_eq!(page.title, "First line");
        assert_eq!(page.sections[0].text, "  First line\nmore", "indentation is kept");
        let long = "word ".repeat(60);
        let page = extract_text(&long, "fb");
        assert!(page.title.ends_with('…') && page.title.chars().count() <= MAX_LINE_TITLE_CHARS + 1, "{}", page.title);
        let page = extract_text(" \n\t\n", "Fallback title");
        assert_eq!(page.title, "Fallback title");
        assert!(page.is_empty());
    }

    #[test]
    fn dash_heading_first_is_section_and_title_source() {
        let page = extract_text("Overview\n--------\nBody\r\nline\r\n", "fb");
        assert_eq!(page.title, "Overview");
        assert_eq!(page.sections[0].headings, vec!["Overview".to_owned()]);
        assert_eq!(page.sections[0].text, "Body\nline");
    }

    #[test]
    fn odd_characters_survive() {
        let page = extract_text("\u{FEFF}שלום עולם\n=========\nnul\u{0}byte e\u{301} 🎉\n", "fb");
        assert_eq!(page.title, "שלום עולם");
        assert_eq!(page.sections[0].text, "nulbyte e\u{301} 🎉");
    }
}
