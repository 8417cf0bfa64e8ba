//! Markdown → sections, with pulldown-cmark (GFM tables, footnotes, strikethrough,
//! task lists and `{#id}` heading attributes). The text is rendered to the same
//! readable format as HTML pages, so the same content reads the same in both.
//!
//! Anchors are GitHub's (see [`super::slug`]), computed for every heading in order —
//! the title `#` H1 included — so duplicate suffixes match the rendered page.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::blocks::{self, clean_line, Flows};
use super::frontmatter;
use super::html::fragment_blocks;
use super::section::SectionBuilder;
use super::slug::SlugRegistry;
use super::ExtractError;
use crate::page::ExtractedPage;

/// Extracts a Markdown document with optional YAML front matter.
///
/// Title: front matter `title`, else the first `#` H1 (which is then not a section;
/// an H1 that repeats the front matter title is not one either), else empty (the
/// caller falls back to the file name). Fails only on malformed front matter
/// ([`ExtractError::FrontMatter`], carrying `page_url`).
pub fn extract_markdown(markdown: &str, page_url: &str) -> Result<ExtractedPage, ExtractError> {
    let _span = tracing::debug_span!("extract_markdown", url = page_url).entered();
    let source = markdown.strip_prefix('\u{FEFF}').unwrap_or(markdown);
    // CommonMark turns NUL into U+FFFD; NUL means nothing in a document, so drop it.
    let source: std::borrow::Cow<'_, str> =
        if source.contains('\0') { source.replace('\0', "").into() } else { source.into() };
    let (front, body) = frontmatter::split(&source, page_url)?;

    let mut renderer = Renderer { front_title: front.title.clone(), ..Renderer::default() };
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES;
    for event in Parser::new_ext(body, options) {
        renderer.event(event);
    }
    let h1_title = renderer.h1_title.take();
    let sections = renderer.finish();

    Ok(ExtractedPage {
        title: front.title.or(h1_title).unwrap_or_default(),
        description: front.description,
        tags: front.tags,
        canonical: None,
        sections,
    })
}

/// An open list: its kind, the next ordinal and the rendered items so far.
#[derive(Debug)]
struct List {
    next: Option<u64>,
    items: Vec<String>,
}

/// An open table: finished rows and the row in progress.
#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
}

/// An open heading.
#[derive(Debug)]
struct Heading {
    level: u8,
    explicit_id: Option<String>,
    /// Inside a list item or quote: rendered as text, not a section.
    nested: bool,
}

#[derive(Debug, Default)]
struct Renderer {
    flows: Flows,
    sections: SectionBuilder,
    slugs: SlugRegistry,
    front_title: Option<String>,
    h1_title: Option<String>,
    seen_h1: bool,
    lists: Vec<List>,
    tables: Vec<Table>,
    heading: Option<Heading>,
    /// Fenced/indented code in progress: language and verbatim text.
    code: Option<(Option<String>, String)>,
    /// Raw HTML of an HTML block in progress.
    html: Option<String>,
    /// Alt texts of open images (images can nest inside link text).
    images: Vec<String>,
    footnotes: Vec<String>,
}

impl Renderer {
    fn finish(mut self) -> Vec<crate::page::Section> {
        let blocks = self.flows.take_top();
        self.sections.blocks(blocks);
        self.sections.finish()
    }

    fn text(&mut self, text: &str) {
        if let Some((_, code)) = self.code.as_mut() {
            code.push_str(text);
        } else if let Some(alt) = self.images.last_mut() {
            alt.push_str(text);
        } else {
            self.flows.text(text);
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Code(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.text(&text)
            }
            Event::Html(html) => match self.html.as_mut() {
                Some(buf) => buf.push_str(&html),
                None => self.flows.block(fragment_blocks(&html).join("\n\n")),
            },
            Event::InlineHtml(html) => {
                let tag = html.trim_start().to_ascii_lowercase();
                if tag.starts_with("<br") {
                    self.flows.line_break();
                }
            }
            Event::FootnoteReference(label) => self.text(&format!("[{label}]")),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => match self.code.as_mut() {
                Some((_, code)) => code.push('\n'),
                None => self.flows.line_break(),
            },
            Event::Rule => self.flows.flush_inline(),
            Event::TaskListMarker(checked) => self.text(if checked { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.flows.flush_inline(),
            Tag::Heading { level, id, .. } => {
                let nested = self.flows.is_nested();
                self.flows.push();
                let explicit_id = id.map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
                self.heading = Some(Heading { level: heading_level(level), explicit_id, nested });
            }
            Tag::BlockQuote(_) | Tag::Item => self.flows.push(),
            Tag::CodeBlock(kind) => {
                self.flows.flush_inline();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().map(str::to_owned),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some((lang, String::new()));
            }
            Tag::HtmlBlock => {
                self.flows.flush_inline();
                self.html = Some(String::new());
            }
            Tag::List(start) => {
                self.flows.flush_inline();
                self.lists.push(List { next: start, items: Vec::new() });
            }
            Tag::FootnoteDefinition(label) => {
                self.flows.push();
                self.footnotes.push(label.to_string());
            }
            Tag::Table(_) => {
                self.flows.flush_inline();
                self.tables.push(Table::default());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = self.tables.last_mut() {
                    table.row.clear();
                }
            }
            Tag::TableCell => self.flows.push(),
            Tag::Image { .. } => self.images.push(String::new()),
            Tag::DefinitionList | Tag::DefinitionListTitle | Tag::DefinitionListDefinition | Tag::MetadataBlock(_) => {
                self.flows.flush_inline()
            }
            Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Superscript | Tag::Subscript | Tag::Link { .. } => {
            }
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.flows.flush_inline(),
            TagEnd::Heading(_) => self.end_heading(),
            TagEnd::BlockQuote(_) => {
                let body = self.flows.pop().join("\n\n");
                self.flows.block(blocks::quote(&body));
            }
            TagEnd::Item => {
                let body = self.flows.pop().join("\n");
                if let Some(list) = self.lists.last_mut() {
                    let ordinal = list.next;
                    list.next = list.next.map(|n| n.saturating_add(1));
                    if !body.trim().is_empty() {
                        list.items.push(blocks::list_item(&body, ordinal));
                    }
                }
            }
            TagEnd::List(_) => {
                if let Some(list) = self.lists.pop() {
                    self.flows.block(list.items.join("\n"));
                }
            }
            TagEnd::CodeBlock => {
                if let Some((lang, code)) = self.code.take() {
                    self.flows.block(blocks::fence(lang.as_deref(), &code));
                }
            }
            TagEnd::HtmlBlock => {
                if let Some(html) = self.html.take() {
                    for block in fragment_blocks(&html) {
                        self.flows.block(block);
                    }
                }
            }
            TagEnd::FootnoteDefinition => {
                let body = self.flows.pop().join("\n");
                let label = self.footnotes.pop().unwrap_or_default();
                self.flows.block(blocks::prefix_lines(&body, &format!("[{label}]: "), "  "));
            }
            TagEnd::TableCell => {
                let cell = self.flows.pop().join(" ");
                if let Some(table) = self.tables.last_mut() {
                    table.row.push(cell);
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(table) = self.tables.last_mut() {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.tables.pop() {
                    self.flows.block(blocks::table(None, &table.rows));
                }
            }
            TagEnd::Image => {
                let alt = self.images.pop().unwrap_or_default();
                if let Some(alt) = blocks::meaningful_alt(&alt) {
                    self.text(alt);
                }
            }
            TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => self.flows.flush_inline(),
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link => {}
        }
    }

    fn end_heading(&mut self) {
        let text = clean_line(&self.flows.pop().join(" "));
        let Some(heading) = self.heading.take() else { return };
        if text.is_empty() && heading.explicit_id.is_none() {
            return;
        }
        let anchor = match heading.explicit_id {
            Some(id) => {
                self.slugs.reserve(&id);
                Some(id)
            }
            None => self.slugs.unique(&text),
        };
        if heading.nested {
            self.flows.block(text);
            return;
        }
        if heading.level == 1 && !self.seen_h1 {
            self.seen_h1 = true;
            match &self.front_title {
                None => {
                    self.h1_title = Some(text);
                    return;
                }
                Some(front) if same_title(front, &text) => return,
                Some(_) => {}
            }
        }
        if text.is_empty() {
            return;
        }
        let blocks = self.flows.take_top();
        self.sections.blocks(blocks);
        self.sections.heading(heading.level, &text, anchor);
    }
}

fn same_title(a: &str, b: &str) -> bool {
    clean_line(a).to_lowercase() == clean_line(b).to_lowercase()
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://help.example/doc";

    fn md(src: &str) -> ExtractedPage {
        extract_markdown(src, URL).expect("extracts")
    }

    fn summary(page: &ExtractedPage) -> Vec<(Vec<String>, Option<String>, Option<String>)> {
        page.sections.iter().map(|s| (s.headings.clone(), s.anchor.clone(), s.link_anchor.clone())).collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn front_matter_title_and_sections() {
        let page = md("---\ntitle: Refunds\ndescription: About refunds\ntags: a, b\n---\nIntro **bold**.\n\n## Refund window\n\nText.\n\n### Sub part\n\nMore.\n");
        assert_eq!(page.title, "Refunds");
        assert_eq!(page.description.as_deref(), Some("About refunds"));
        assert_eq!(page.tags, strs(&["a", "b"]));
        assert_eq!(
            summary(&page),
            vec![
                (vec![], None, None),
                (strs(&["Refund window"]), Some("refund-window".into()), Some("refund-window".into())),
                (strs(&["Refund window", "Sub part"]), Some("sub-part".into()), Some("sub-part".into())),
            ]
        );
        assert_eq!(page.sections[0].text, "Intro bold.");
    }

    #[test]
    fn h1_is_title_without_front_matter() {
        let page = md("# The Title\n\nIntro\n\n## Next\n\nx\n\n# Another H1\n\ny\n");
        assert_eq!(page.title, "The Title");
        assert_eq!(summary(&page)[0], (vec![], None, None));
        assert_eq!(page.sections[0].text, "Intro");
        assert_eq!(page.sections[2].headings, strs(&["Another H1"]));

        // With a front matter title, an H1 repeating it is dropped; a different one is a section.
        let page = md("---\ntitle: The Title\n---\n# The title\n\nIntro\n");
        assert_eq!(page.sections[0].headings, Vec::<String>::new());
        let page = md("---\ntitle: Other\n---\n# The title\n\nIntro\n");
        assert_eq!(page.sections[0].headings, strs(&["The title"]));
        assert_eq!(page.sections[0].anchor.as_deref(), Some("the-title"));
    }

    #[test]
    fn duplicate_and_explicit_anchors() {
        let page = md("# Attributes\n\n## Attributes\n\na\n\n## Attributes\n\nb\n\n## Custom {#my-id}\n\nc\n\n## My id\n\nd\n\n## ?!\n\ne\n");
        let anchors: Vec<Option<&str>> = page.sections.iter().map(|s| s.anchor.as_deref()).collect();
        assert_eq!(anchors, vec![Some("attributes-1"), Some("attributes-2"), Some("my-id"), Some("my-id-1"), None]);
        assert_eq!(page.sections[2].headings, strs(&["Custom"]));
        assert_eq!(page.sections[4].headings, strs(&["?!"]));
    }

    #[test]
    fn readme_slug_example() {
        let page = md("## Step 2: Create the application in your IdP\n\nValues.\n");
        assert_eq!(page.sections[0].anchor.as_deref(), Some("step-2-create-the-application-in-your-idp"));
    }

    #[test]
    fn block_rendering() {
        let src = r#"Para with [a link](https://x.example) and `inline code` and ![a diagram of the flow](d.png) ![logo](l.png).
Soft break  
hard break.

```python title="x"
def f():
    return 1   # keep spacing
```

    indented code

| Charge | Refundable? |
|--------|:-----------:|
| Plan   | Yes, `in full` |
| Fees | No \| never |

1. First
2. Second
   - nested *one*
   - [x] done
   - [ ] todo
3. Third

   loose para

> Quote
>
> > nested

<div class="note"><p>HTML <b>block</b></p><script>bad()</script></div>

Text with <kbd>Ctrl</kbd><br>next line and a note[^n] ~~struck~~.

[^n]: The footnote.

---

After rule.
"#;
        let page = md(src);
        let text = &page.sections[0].text;
        let expected = "Para with a link and inline code and a diagram of the flow . Soft break\nhard break.\n\n\
```python\ndef f():\n    return 1   # keep spacing\n```\n\n\
```\nindented code\n```\n\n\
| Charge | Refundable? |\n| --- | --- |\n| Plan | Yes, in full |\n| Fees | No \\| never |\n\n\
1. First\n2. Second\n   - nested one\n   - [x] done\n   - [ ] todo\n3. Third\n   loose para\n\n\
> Quote\n>\n> > nested\n\n\
HTML block\n\n\
Text with Ctrl\nnext line and a note[n] struck.\n\n\
[n]: The footnote.\n\n\
After rule.";
        assert_eq!(text, expected);
    }

    #[test]
    fn headings_inside_containers_are_text() {
        let page = md("- item\n\n  ## Not a section\n\n> # Quoted heading\n");
        assert_eq!(page.sections.len(), 1);
        assert_eq!(page.sections[0].text, "- item\n  Not a section\n\n> Quoted heading");
        assert_eq!(page.title, "", "a quoted H1 is not the title");
    }

    #[test]
    fn unicode_and_odd_input() {
        let page = md("## Überblick 🎉\n\nשלום e\u{301}\u{0} x\n\n## العربية\n\ny\n");
        assert_eq!(page.sections[0].anchor.as_deref(), Some("überblick-"));
        assert_eq!(page.sections[0].text, "שלום e\u{301} x");
        assert_eq!(page.sections[1].anchor.as_deref(), Some("العربية"));
        for src in ["", "\u{FEFF}", "#", "```", "| a |\n|", "[^x]: ", "<div>", "> > > > >", "- - - -", "\u{0}\u{0}"] {
            let _ = md(src);
        }
        let deep = ">".repeat(5000) + " deep";
        assert!(md(&deep).sections[0].text.ends_with("deep"));
        let deep = (0..500).map(|i| format!("{}- item {i}\n", "  ".repeat(i))).collect::<String>();
        assert!(md(&deep).sections[0].text.contains("item 499"));
    }

    #[test]
    fn malformed_front_matter() {
        let err = extract_markdown("---\ntitle: \"unterminated\n---\nBody", URL).expect_err("malformed");
        assert!(matches!(err, ExtractError::FrontMatter { ref url, .. } if url == URL), "{err:?}");
    }
}
