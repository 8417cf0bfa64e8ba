//! Chunk text → candidate units: the pieces an extractive answer is made of.
//!
//! Chunks are plain text extracted from Markdown or HTML, with newlines: paragraphs
//! (hard-wrapped in `.txt` sources), list items (`- `, `* `, `1. `), tables (`| … |`),
//! fenced code, in-chunk headings (`### …`) and FAQ lines (`Q:` / `A:`). A unit is
//! what one `[n]` marker follows:
//!
//! - a prose sentence (abbreviations, decimals, versions and URLs do not end one);
//! - a list *block* (a lead-in sentence ending in `:` with its items) when it is short
//!   enough: the items alone ("14 days of the charge date for monthly plans") mean
//!   nothing without the lead-in, and the lead-in alone says nothing;
//! - a list item (longer lists), with the lead-in kept as scoring context;
//! - a table row, rendered under its header row so its cells keep their meaning.
//!
//! Questions (sentences ending in `?`, `Q:` lines) and lead-ins are never units: they
//! are context for the units after them. Code is skipped. Every unit's text is a
//! verbatim piece of the chunk (list markers and `A:`/`> ` prefixes trimmed, wrapped
//! lines joined by one space).

/// What a unit is; decides how it is rendered and joined to its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// A prose sentence.
    Sentence,
    /// One item of a long list.
    Item,
    /// A lead-in with its list items, one per line.
    List,
    /// A table row under its header.
    Row,
}

impl UnitKind {
    /// Multi-line units are set apart by blank lines in the answer.
    pub(crate) fn is_block(self) -> bool {
        matches!(self, UnitKind::List | UnitKind::Row)
    }
}

/// One candidate piece of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    /// What it is.
    pub kind: UnitKind,
    /// The text shown, verbatim from the chunk (may span lines for blocks).
    pub text: String,
    /// The text whose words count as the unit's own (a row without its header).
    pub own: String,
    /// Words that say what the unit is about without being part of it: in-chunk
    /// heading, preceding question, list lead-in, table header.
    pub context: String,
    /// Order of the unit in its chunk.
    pub position: usize,
    /// Words in `text`.
    pub words: usize,
    /// Index of the paragraph (or list/table) the unit belongs to.
    pub paragraph: usize,
}

/// Limits of unit building.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitLimits {
    /// Units longer than this (in words) are not candidates.
    pub max_unit_words: usize,
    /// A lead-in and its list become one unit up to this many words.
    pub list_block_words: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Heading(String),
    Question(String),
    Para(String),
    /// (marker as written, item text)
    List(Vec<(String, String)>),
    /// (header row, separator row), data rows.
    Table(Option<(String, String)>, Vec<String>),
}

/// Number of whitespace-separated words.
pub(crate) fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

fn heading(t: &str) -> Option<&str> {
    let hashes = t.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) {
        let rest = &t[hashes..];
        if rest.starts_with(char::is_whitespace) {
            let h = rest.trim().trim_end_matches('#').trim();
            return (!h.is_empty()).then_some(h);
        }
    }
    None
}

/// `- item`, `* item`, `+ item`, `• item`, `1. item`, `1) item` → (marker, item).
fn list_item(t: &str) -> Option<(&str, &str)> {
    for bullet in ["- ", "* ", "+ ", "• ", "– "] {
        if let Some(rest) = t.strip_prefix(bullet) {
            let rest = rest.trim();
            return (!rest.is_empty()).then_some((bullet.trim_end(), rest));
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let after = &t[digits..];
        if let Some(rest) = after.strip_prefix(". ").or_else(|| after.strip_prefix(") ")) {
            let rest = rest.trim();
            return (!rest.is_empty()).then_some((&t[..digits + 1], rest));
        }
    }
    None
}

fn is_table_separator(t: &str) -> bool {
    t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

fn strip_label<'a>(t: &'a str, label: &str) -> Option<&'a str> {
    let head = t.get(..label.len())?;
    head.eq_ignore_ascii_case(label).then(|| t[label.len()..].trim())
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    let mut fence: Option<&str> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            out.extend(cur.take());
            fence = Some(&t[..3]);
            continue;
        }
        if t.is_empty() {
            out.extend(cur.take());
            continue;
        }
        if let Some(h) = heading(t) {
            out.extend(cur.take());
            out.push(Block::Heading(h.to_string()));
            continue;
        }
        if t.starts_with('|') {
            if !matches!(cur, Some(Block::Table(..))) {
                out.extend(cur.take());
                cur = Some(Block::Table(None, Vec::new()));
            }
            if let Some(Block::Table(header, rows)) = &mut cur {
                if is_table_separator(t) {
                    if header.is_none() && rows.len() == 1 {
                        let h = rows.remove(0);
                        *header = Some((h, t.to_string()));
                    }
                } else {
                    rows.push(t.to_string());
                }
            }
            continue;
        }
        if let Some((marker, item)) = list_item(t) {
            if !matches!(cur, Some(Block::List(_))) {
                out.extend(cur.take());
                cur = Some(Block::List(Vec::new()));
            }
            if let Some(Block::List(items)) = &mut cur {
                items.push((marker.to_string(), item.to_string()));
            }
            continue;
        }
        if let Some(q) = strip_label(t, "Q:") {
            out.extend(cur.take());
            cur = Some(Block::Question(q.to_string()));
            continue;
        }
        if let Some(a) = strip_label(t, "A:") {
            out.extend(cur.take());
            cur = Some(Block::Para(a.to_string()));
            continue;
        }
        let t = t.strip_prefix('>').map(str::trim_start).unwrap_or(t);
        let indented = raw.starts_with(char::is_whitespace);
        match &mut cur {
            Some(Block::Para(s)) | Some(Block::Question(s)) => {
                s.push(' ');
                s.push_str(t);
            }
            Some(Block::List(items)) if indented => {
                if let Some((_, item)) = items.last_mut() {
                    item.push(' ');
                    item.push_str(t);
                }
            }
            _ => {
                out.extend(cur.take());
                cur = Some(Block::Para(t.to_string()));
            }
        }
    }
    out.extend(cur);
    out
}

/// Lower-cased words that do not end a sentence when followed by a period.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "eg", "ie", "vs", "cf", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "co", "corp", "jr", "sr",
    "st", "approx", "fig", "al", "ca", "resp", "incl", "excl", "dept", "est", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
];

/// Whether the word before a period (`before` ends just before it) is an abbreviation.
fn is_abbreviation(before: &str, next: char) -> bool {
    let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    if lower == "no" && next.is_ascii_digit() {
        return true;
    }
    let mut chars = word.chars();
    // A single capital letter: an initial ("J. Smith").
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return c.is_uppercase();
    }
    // Letters separated by periods: "U.S", "B.V", "e.g".
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() >= 2 && parts.iter().all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic))
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

fn is_closing(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '*' | '_') || is_terminal(c)
}

/// Split a paragraph into sentences (trimmed slices of it, in order).
///
/// A sentence ends at `.`, `!`, `?` or `…` (with any closing quotes and brackets)
/// followed by whitespace and a character that is not a lower-case letter, unless the
/// word before a period is an abbreviation. Periods inside a word — decimals
/// (`$49.50`), versions (`v2.1`), URLs, file names — never end one.
pub(crate) fn split_sentences(p: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    while i < chars.len() {
        let (at, c) = chars[i];
        if !is_terminal(c) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && is_closing(chars[j].1) {
            j += 1;
        }
        if j >= chars.len() {
            break;
        }
        if !chars[j].1.is_whitespace() {
            i = j;
            continue;
        }
        let mut k = j;
        while k < chars.len() && chars[k].1.is_whitespace() {
            k += 1;
        }
        if k >= chars.len() {
            break;
        }
        let next = chars[k].1;
        let abbreviation = c == '.' && is_abbreviation(&p[start..at], next);
        if !next.is_lowercase() && !abbreviation {
            let s = p[start..chars[j].0].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = chars[k].0;
        }
        i = k;
    }
    let rest = p[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Build the candidate units of one chunk's text.
pub(crate) fn units(text: &str, limits: UnitLimits) -> Vec<Unit> {
    let blocks = blocks(text);
    let mut out: Vec<Unit> = Vec::new();
    let mut heading = String::new();
    let mut question = String::new();
    let mut lead_in = String::new();
    let push = |out: &mut Vec<Unit>, kind, text: String, own: Option<String>, context: String, paragraph| {
        let words = word_count(&text);
        if words == 0 || (kind != UnitKind::List && words > limits.max_unit_words) || has_marker(&text) {
            return;
        }
        let own = own.unwrap_or_else(|| text.clone());
        out.push(Unit { kind, text, own, context, position: out.len(), words, paragraph });
    };
    for (bi, block) in blocks.iter().enumerate() {
        match block {
            Block::Heading(h) => {
                heading = h.clone();
                question.clear();
                lead_in.clear();
            }
            Block::Question(q) => {
                question = q.clone();
                lead_in.clear();
            }
            Block::Para(p) => {
                lead_in.clear();
                let sentences = split_sentences(p);
                let last = sentences.len().saturating_sub(1);
                let list_follows = matches!(blocks.get(bi + 1), Some(Block::List(_)));
                for (si, s) in sentences.iter().enumerate() {
                    if s.ends_with('?') {
                        question = s.to_string();
                        continue;
                    }
                    if s.ends_with(':') {
                        // A lead-in: meaningless alone, context for what follows.
                        if si == last && list_follows {
                            lead_in = s.to_string();
                        }
                        continue;
                    }
                    let context = join_context(&heading, &question);
                    push(&mut out, UnitKind::Sentence, s.to_string(), None, context, bi);
                }
                question.clear();
            }
            Block::List(items) => {
                let lead = std::mem::take(&mut lead_in);
                let total = word_count(&lead) + items.iter().map(|(_, t)| word_count(t)).sum::<usize>();
                if !lead.is_empty() && total <= limits.list_block_words {
                    let mut text = lead.clone();
                    for (marker, item) in items {
                        text.push('\n');
                        text.push_str(marker);
                        text.push(' ');
                        text.push_str(item);
                    }
                    push(&mut out, UnitKind::List, text, None, join_context(&heading, &question), bi);
                } else {
                    let context = join_context(&join_context(&heading, &question), &lead);
                    for (_, item) in items {
                        push(&mut out, UnitKind::Item, item.clone(), None, context.clone(), bi);
                    }
                }
                question.clear();
            }
            Block::Table(header, rows) => {
                lead_in.clear();
                for row in rows {
                    let (text, context) = match header {
                        Some((h, sep)) => (format!("{h}\n{sep}\n{row}"), join_context(&heading, h)),
                        None => (row.clone(), heading.clone()),
                    };
                    push(&mut out, UnitKind::Row, text, Some(row.clone()), context, bi);
                }
            }
        }
    }
    out
}

/// Whether `text` contains something a citation filter would read as a marker
/// (`[2]`, `[1, 3]`): quoting it would cite a source the sentence does not mean.
fn has_marker(text: &str) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { return false };
        let body = &after[..close];
        let mut numbers = body.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()).peekable();
        if numbers.peek().is_some() && numbers.all(|p| p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())) {
            return true;
        }
        rest = after;
    }
    false
}

fn join_context(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a} {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: UnitLimits = UnitLimits { max_unit_words: 120, list_block_words: 80 };

    #[test]
    fn abbreviations_decimals_versions_and_urls_do_not_end_sentences() {
        let p = "Use a test key, e.g. sk_test_1, i.e. one without live access. The Pro plan costs $49.50 a month \
                 in the U.S. and more elsewhere. Upgrade to v2.1 first. See https://example.com/a.b?c=d. Lumen Labs, \
                 Inc. was founded by J. Smith. Really? Yes! Done…";
        assert_eq!(
            split_sentences(p),
            vec![
                "Use a test key, e.g. sk_test_1, i.e. one without live access.",
                "The Pro plan costs $49.50 a month in the U.S. and more elsewhere.",
                "Upgrade to v2.1 first.",
                "See https://example.com/a.b?c=d.",
                "Lumen Labs, Inc. was founded by J. Smith.",
                "Really?",
                "Yes!",
                "Done…",
            ]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            split_sentences("It shows \"Refunded.\" Then (rarely.) It ends."),
            vec!["It shows \"Refunded.\"", "Then (rarely.)", "It ends."]
        );
    }

    #[test]
    fn lists_with_a_short_lead_in_become_one_block_and_long_ones_items() {
        let text =
            "You can request a refund within:\n\n- 30 days for annual plans, and\n- 14 days for monthly plans.\n\n\
                    The window applies to renewals.";
        let u = units(text, LIMITS);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].kind, UnitKind::List);
        assert_eq!(
            u[0].text,
            "You can request a refund within:\n- 30 days for annual plans, and\n- 14 days for monthly plans."
        );
        assert_eq!(u[1].text, "The window applies to renewals.");

        let long = UnitLimits { list_block_words: 5, ..LIMITS };
        let u = units(text, long);
        assert_eq!(
            u.iter().map(|u| u.kind).collect::<Vec<_>>(),
            vec![UnitKind::Item, UnitKind::Item, UnitKind::Sentence]
        );
        assert_eq!(u[0].text, "30 days for annual plans, and");
        assert!(u[0].context.contains("within:"));
    }

    #[test]
    fn tables_rows_keep_their_header_code_is_skipped_headings_are_context() {
        let text = "### Prices\n| Plan | Monthly |\n| --- | --- |\n| Pro | $49 |\n\n```\ncurl x. Y\n```\nDone here.";
        let u = units(text, LIMITS);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].text, "| Plan | Monthly |\n| --- | --- |\n| Pro | $49 |");
        assert_eq!(u[0].own, "| Pro | $49 |");
        assert_eq!(u[0].context, "Prices | Plan | Monthly |");
        assert_eq!(u[1].text, "Done here.");
        assert_eq!(u[1].context, "Prices");
    }

    #[test]
    fn faq_lines_are_joined_and_questions_become_context() {
        let text = "Q: Can I import my customers?\nA: Yes. Go to Settings > Import and upload\n   a CSV file.\n\n\
                    Q: Is there an app?\nA: Yes, for iPhone.";
        let u = units(text, LIMITS);
        let texts: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, vec!["Yes.", "Go to Settings > Import and upload a CSV file.", "Yes, for iPhone."]);
        assert_eq!(u[1].context, "Can I import my customers?");
        assert_eq!(u[2].context, "Is there an app?");
    }

    #[test]
    fn sentences_with_marker_lookalikes_are_not_candidates() {
        let u = units("Footnote [2] says so. Use items[0] here. Keep [see below] and [1 alone.", LIMITS);
        let texts: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, vec!["Keep [see below] and [1 alone."]);
    }

    #[test]
    fn overlong_sentences_are_not_candidates() {
        let text = "word ".repeat(500);
        assert!(units(&text, LIMITS).is_empty());
        assert!(units("", LIMITS).is_empty());
    }
}
