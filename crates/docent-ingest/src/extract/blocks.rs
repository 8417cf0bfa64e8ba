//! The readable text format every extractor writes, in one place so HTML and Markdown
//! pages of the same content produce the same text: paragraphs separated by blank
//! lines, `- item` / `1. item` lists (nested items indented), `| a | b |` tables with a
//! header separator, fenced code blocks kept verbatim, `> ` quotes.
//!
//! [`Flows`] is the buffer the tree walkers write into: inline text accumulates with
//! whitespace collapsed, block boundaries flush it, and containers (list items, table
//! cells, quotes) render into nested flows that the caller then formats.

/// Whitespace that HTML collapses (plus NBSP, which in extracted text is just a space).
fn is_collapsible(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{0C}' | '\u{A0}')
}

/// Inline text being collected for the current paragraph, whitespace collapsed.
#[derive(Debug, Default)]
pub(crate) struct Inline {
    buf: String,
    pending_space: bool,
}

impl Inline {
    /// Appends text, collapsing any whitespace run to one space (none at line starts).
    pub(crate) fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            if is_collapsible(c) {
                if !self.buf.is_empty() && !self.buf.ends_with('\n') {
                    self.pending_space = true;
                }
            } else {
                if self.pending_space {
                    self.buf.push(' ');
                    self.pending_space = false;
                }
                self.buf.push(c);
            }
        }
    }

    /// A hard line break (`<br>`, Markdown hard break).
    pub(crate) fn line_break(&mut self) {
        let trimmed = self.buf.trim_end_matches(' ').len();
        self.buf.truncate(trimmed);
        if !self.buf.is_empty() {
            self.buf.push('\n');
        }
        self.pending_space = false;
    }

    /// The collected text, trimmed, leaving the buffer empty.
    pub(crate) fn take(&mut self) -> String {
        self.pending_space = false;
        let text = self.buf.trim_matches(|c: char| c == ' ' || c == '\n').to_owned();
        self.buf.clear();
        text
    }
}

/// One container's output: finished blocks plus the paragraph in progress.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    blocks: Vec<String>,
    inline: Inline,
}

/// The top-level flow (the current section's body) and a stack of nested container
/// flows. Text always goes to the innermost one.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    top: Flow,
    nested: Vec<Flow>,
}

impl Flows {
    fn cur(&mut self) -> &mut Flow {
        match self.nested.last_mut() {
            Some(flow) => flow,
            None => &mut self.top,
        }
    }

    /// True inside a container (list item, cell, quote…), where headings are just text.
    pub(crate) fn is_nested(&self) -> bool {
        !self.nested.is_empty()
    }

    /// Appends inline text to the innermost flow.
    pub(crate) fn text(&mut self, text: &str) {
        self.cur().inline.push_text(text);
    }

    /// A hard line break in the innermost flow.
    pub(crate) fn line_break(&mut self) {
        self.cur().inline.line_break();
    }

    /// Ends the paragraph in progress (a block boundary).
    pub(crate) fn flush_inline(&mut self) {
        let flow = self.cur();
        let text = flow.inline.take();
        if !text.is_empty() {
            flow.blocks.push(text);
        }
    }

    /// Adds a finished block (list, table, code…) after the paragraph in progress.
    pub(crate) fn block(&mut self, block: String) {
        self.flush_inline();
        if !block.trim().is_empty() {
            self.cur().blocks.push(block);
        }
    }

    /// Starts a nested container flow.
    pub(crate) fn push(&mut self) {
        self.flush_inline();
        self.nested.push(Flow::default());
    }

    /// Ends the innermost container flow and returns its blocks.
    pub(crate) fn pop(&mut self) -> Vec<String> {
        if self.nested.is_empty() {
            return Vec::new();
        }
        self.flush_inline();
        self.nested.pop().map(|flow| flow.blocks).unwrap_or_default()
    }

    /// Takes the top-level blocks collected so far (the body of the current section).
    pub(crate) fn take_top(&mut self) -> Vec<String> {
        let text = self.top.inline.take();
        if !text.is_empty() {
            self.top.blocks.push(text);
        }
        std::mem::take(&mut self.top.blocks)
    }
}

/// `body` with `first` before its first line and `rest` before the others (blank lines
/// stay blank): list markers and their hanging indent.
pub(crate) fn prefix_lines(body: &str, first: &str, rest: &str) -> String {
    let mut out = String::with_capacity(body.len() + first.len());
    for (i, line) in body.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = if i == 0 { first } else { rest };
        if line.trim().is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(line);
        }
    }
    if out.is_empty() {
        out.push_str(first.trim_end());
    }
    out
}

/// One list item: `- text` or `3. text`, continuation lines indented under the text.
pub(crate) fn list_item(body: &str, ordinal: Option<u64>) -> String {
    let marker = match ordinal {
        Some(n) => format!("{n}. "),
        None => "- ".to_owned(),
    };
    let indent = " ".repeat(marker.chars().count());
    prefix_lines(body, &marker, &indent)
}

/// A block quote: every line prefixed with `> `.
pub(crate) fn quote(body: &str) -> String {
    prefix_lines(body, "> ", "> ")
}

/// A fenced code block with `code` verbatim. The fence is longer than any backtick
/// run inside the code, so the block stays unambiguous.
pub(crate) fn fence(lang: Option<&str>, code: &str) -> String {
    let code = code.replace("\r\n", "\n").replace('\r', "\n");
    let code = code.trim_start_matches('\n').trim_end();
    if code.is_empty() {
        return String::new();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in code.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let ticks = "`".repeat((longest + 1).max(3));
    let lang: String = lang.unwrap_or_default().chars().filter(|c| !c.is_whitespace() && *c != '`').take(40).collect();
    format!("{ticks}{lang}\n{code}\n{ticks}")
}

/// One table cell as it appears in a `| a | b |` row: on one line, pipes escaped.
pub(crate) fn table_cell(text: &str) -> String {
    let mut inline = Inline::default();
    inline.push_text(text);
    inline.take().replace('|', "\\|")
}

/// A table as Markdown-style rows. The first row is the header (HTML tables without a
/// `<thead>` usually still start with their labels) and gets the `| --- |` separator;
/// short rows are padded, empty rows dropped.
pub(crate) fn table(caption: Option<&str>, rows: &[Vec<String>]) -> String {
    let rows: Vec<&Vec<String>> = rows.iter().filter(|row| row.iter().any(|c| !c.trim().is_empty())).collect();
    let columns = rows.iter().map(|row| row.len()).max().unwrap_or(0);
    let mut lines = Vec::with_capacity(rows.len() + 2);
    if let Some(caption) = caption.map(str::trim).filter(|c| !c.is_empty()) {
        lines.push(caption.to_owned());
    }
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> =
            (0..columns).map(|c| row.get(c).map(|cell| table_cell(cell)).unwrap_or_default()).collect();
        lines.push(format!("| {} |", cells.join(" | ")));
        if i == 0 && rows.len() > 1 {
            lines.push(format!("|{}", " --- |".repeat(columns)));
        }
    }
    lines.join("\n")
}

/// Image alt text worth keeping as content: not empty, not a file name, URL or a
/// generic word like "logo" or "screenshot".
pub(crate) fn meaningful_alt(alt: &str) -> Option<&str> {
    let alt = alt.trim();
    if alt.chars().count() < 2 {
        return None;
    }
    let lower = alt.to_lowercase();
    const GENERIC: &[&str] = &[
        "image",
        "img",
        "photo",
        "picture",
        "logo",
        "icon",
        "screenshot",
        "spacer",
        "graphic",
        "banner",
        "figure",
        "diagram",
        "avatar",
        "thumbnail",
    ];
    const FILE_EXTS: &[&str] = &[".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp", ".ico"];
    if GENERIC.contains(&lower.as_str())
        || FILE_EXTS.iter().any(|ext| lower.ends_with(ext))
        || lower.starts_with("http://")
        || lower.starts_with("https://")
    {
        return None;
    }
    Some(alt)
}

/// Final clean-up of output text: `\r\n` → `\n`, control characters (NUL, C0 except
/// tab/newline, C1, BOM) dropped, trailing whitespace on each line removed, leading
/// and trailing blank lines removed. Everything else — RTL marks, combining marks,
/// emoji — is kept as written.
pub(crate) fn clean_text(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(normalized.len());
    for line in normalized.split(['\n', '\r']) {
        let kept: String = line.chars().filter(|&c| c == '\t' || !(c.is_control() || c == '\u{FEFF}')).collect();
        out.push_str(kept.trim_end());
        out.push('\n');
    }
    out.trim_matches('\n').to_owned()
}

/// A one-line cleaned string (titles, headings, descriptions).
pub(crate) fn clean_line(text: &str) -> String {
    let mut inline = Inline::default();
    inline.push_text(&clean_text(text));
    inline.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_collapses_whitespace_and_breaks() {
        let mut inline = Inline::default();
        inline.push_text("  Hello \n\t world ");
        inline.line_break();
        inline.push_text("  next\u{a0}\u{a0}line  ");
        assert_eq!(inline.take(), "Hello world\nnext line");
        assert_eq!(inline.take(), "");
    }

    #[test]
    fn flows_nest_and_flush() {
        let mut flows = Flows::default();
        flows.text("intro");
        flows.push();
        flows.text("inside");
        flows.flush_inline();
        flows.text("second");
        assert!(flows.is_nested());
        assert_eq!(flows.pop(), vec!["inside".to_owned(), "second".to_owned()]);
        assert!(!flows.is_nested());
        assert_eq!(flows.pop(), Vec::<String>::new());
        flows.text("outro");
        assert_eq!(flows.take_top(), vec!["intro".to_owned(), "outro".to_owned()]);
    }

    #[test]
    fn list_items_indent_continuations() {
        assert_eq!(list_item("one\n- nested\n\n  deeper", None), "- one\n  - nested\n\n    deeper");
        assert_eq!(list_item("ten", Some(10)), "10. ten");
        assert_eq!(list_item("a\nb", Some(10)), "10. a\n    b");
        assert_eq!(list_item("", None), "-");
    }

    #[test]
    fn quote_prefixes_lines() {
        assert_eq!(quote("a\n\nb"), "> a\n>\n> b");
    }

    #[test]
    fn fence_is_verbatim_and_safe() {
        assert_eq!(fence(Some("json"), "\n{\n  \"a\": 1\n}\n\n"), "```json\n{\n  \"a\": 1\n}\n```");
        assert_eq!(fence(None, "a ``` b"), "````\na ``` b\n````");
        assert_eq!(fence(Some("rust lang"), "x"), "```rustlang\nx\n```");
        assert_eq!(fence(None, "  \n\n"), "");
    }

    #[test]
    fn tables_render_with_header_separator() {
        let rows = vec![
            vec!["Plan".to_owned(), "Price".to_owned()],
            vec!["Pro".to_owned(), "a | b".to_owned()],
            vec!["".to_owned(), " ".to_owned()],
            vec!["Scale\nplan".to_owned()],
        ];
        assert_eq!(
            table(Some("Prices"), &rows),
            "Prices\n| Plan | Price |\n| --- | --- |\n| Pro | a \\| b |\n| Scale plan |  |"
        );
        assert_eq!(table(None, &[vec!["only".to_owned()]]), "| only |");
        assert_eq!(table(None, &[]), "");
    }

    #[test]
    fn alt_text_filter() {
        assert_eq!(meaningful_alt(" Architecture of the sync engine "), Some("Architecture of the sync engine"));
        for junk in ["", " ", "x", "Logo", "screenshot", "diagram-v2.PNG", "https://cdn.example/a"] {
            assert_eq!(meaningful_alt(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn clean_text_drops_controls_keeps_unicode() {
        let input = "a\u{0}b\r\nc\u{7}  \r\u{202B}שלום\u{202C} e\u{301} 🎉\u{FEFF}\u{85}\n\n";
        assert_eq!(clean_text(input), "ab\nc\n\u{202B}שלום\u{202C} e\u{301} 🎉");
        assert_eq!(clean_text("\tindented\t\n"), "\tindented");
        assert_eq!(clean_line("  Title \n with\u{0} break "), "Title with break");
    }
}
