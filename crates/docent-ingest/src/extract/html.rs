//! HTML → sections. html5ever (through scraper) parses anything, however broken, into
//! a tree the way browsers do; we then walk only the main content and render it to
//! the readable text format of [`super::blocks`].
//!
//! What is content: `<main>`, else `[role=main]`, else a single `<article>`, else
//! `<body>` — minus navigation, site header/footer, asides, scripts, forms, hidden
//! subtrees and recognisable boilerplate (breadcrumbs, skip links, "Was this article
//! helpful?" widgets, in-page tables of contents).

use scraper::{ElementRef, Html, Node};
use url::Url;

use super::blocks::{self, clean_line, Flows, Inline};
use super::section::SectionBuilder;
use crate::page::{ExtractedPage, Section};

/// Deeper than this the walker stops recursing and takes the subtree's text as one
/// run, so a maliciously deep document cannot overflow the stack.
const MAX_DEPTH: usize = 200;
/// Texts longer than this are never "Was this helpful?" widgets.
const FEEDBACK_MAX_CHARS: usize = 160;

/// Elements whose whole subtree is never content.
const SKIPPED_TAGS: &[&str] = &[
    "nav", "footer", "script", "style", "aside", "noscript", "template", "form", "button", "select", "textarea",
    "input", "option", "datalist", "svg", "canvas", "iframe", "object", "embed", "audio", "video", "map", "dialog",
    "head", "title", "meta", "link", "base",
];

/// ARIA landmark roles that mark non-content, like their element equivalents.
const SKIPPED_ROLES: &[&str] =
    &["navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar", "toolbar", "dialog"];

/// Class tokens of site chrome that sits inside the content area.
const BOILERPLATE_CLASSES: &[&str] = &[
    "breadcrumb",
    "breadcrumbs",
    "skip-link",
    "skip-links",
    "skiplink",
    "skip-to-content",
    "skip-nav",
    "toc",
    "table-of-contents",
    "on-this-page",
    "page-toc",
    "feedback",
    "page-feedback",
    "article-feedback",
    "feedback-widget",
    "was-this-helpful",
    "helpful",
    "edit-this-page",
    "edit-page",
    "cookie-banner",
    "cookie-consent",
    "share-buttons",
    "social-share",
    "pagination",
    "pager",
    "prev-next",
];

/// Separators between a page name and the site name in `<title>`.
const TITLE_SEPARATORS: &[&str] = &[" | ", " — ", " – ", " - ", " · ", " :: ", " » ", " // "];
/// A site name after a separator is short; a longer tail is part of the title.
const MAX_SITE_SUFFIX_WORDS: usize = 6;

/// Extracts an HTML document: title, description, canonical URL and the main
/// content's sections. Never fails and never panics — the worst input yields an
/// empty page, which [`super::extract`] turns into [`super::ExtractError::Empty`].
///
/// The title is `<title>` minus a trailing site suffix (`Team roles | Help Center` →
/// `Team roles`), else the first `<h1>`; an `<h1>` that repeats the title is not a
/// section heading. Anchors come from heading `id`s (or an `id` on a wrapping
/// `<section>`, or an `<a name|id>` in/before the heading); headings without one link
/// to their nearest ancestor's anchor.
pub fn extract_html(html: &str, page_url: &Url) -> ExtractedPage {
    let _span = tracing::debug_span!("extract_html", url = %page_url).entered();
    // html5ever keeps NUL as U+FFFD in some places; NUL is never content, drop it first.
    let doc =
        if html.contains('\0') { Html::parse_document(&html.replace('\0', "")) } else { Html::parse_document(html) };
    let Some(document) = doc.tree.root().children().find_map(ElementRef::wrap) else {
        return ExtractedPage::default();
    };

    let head = head_metadata(document, page_url);
    let body = find_first(document, |e| e.value().name() == "body").unwrap_or(document);
    let root = content_root(document).unwrap_or(body);

    let (title, mut sections) = render_page(root, head.title.as_deref());
    let mut title = title;
    if root != body && sections.iter().all(|s| s.text.trim().is_empty()) {
        tracing::debug!("main content is empty; falling back to <body>");
        (title, sections) = render_page(body, head.title.as_deref());
    }

    ExtractedPage { title, description: head.description, tags: Vec::new(), canonical: head.canonical, sections }
}

/// Renders `root`'s sections and decides the title (which may consume its first `<h1>`).
fn render_page(root: ElementRef<'_>, head_title: Option<&str>) -> (String, Vec<Section>) {
    let first_h1 = first_content_h1(root);
    let h1_text = first_h1.map(heading_text).filter(|t| !t.is_empty());
    let (title, h1_is_title) = decide_title(head_title, h1_text.as_deref());
    let mut walker = Walker { title_h1: first_h1.filter(|_| h1_is_title), ..Walker::default() };
    walker.children(root, 0);
    (title, walker.finish())
}

/// Renders an HTML fragment (an HTML block inside Markdown) to text blocks. Headings
/// in it are plain text: the Markdown around it owns the section structure.
pub(crate) fn fragment_blocks(html: &str) -> Vec<String> {
    let doc = Html::parse_fragment(html);
    let mut walker = Walker::default();
    walker.flows.push();
    for root in doc.tree.root().children().filter_map(ElementRef::wrap) {
        walker.children(root, 0);
    }
    walker.flows.pop()
}

/// What `<head>` says about the page.
#[derive(Debug, Default)]
struct HeadMetadata {
    title: Option<String>,
    description: Option<String>,
    canonical: Option<String>,
}

fn head_metadata(document: ElementRef<'_>, page_url: &Url) -> HeadMetadata {
    let mut meta = HeadMetadata::default();
    let mut og_description = None;
    for element in document.descendent_elements() {
        let value = element.value();
        match value.name() {
            "title" if meta.title.is_none() && !inside(element, "svg") => {
                meta.title = Some(clean_line(&element.text().collect::<String>())).filter(|t| !t.is_empty());
            }
            "meta" => {
                let content = value.attr("content").map(clean_line).filter(|c| !c.is_empty());
                let name = value.attr("name").or_else(|| value.attr("property")).unwrap_or_default();
                if name.eq_ignore_ascii_case("description") && meta.description.is_none() {
                    meta.description = content;
                } else if name.eq_ignore_ascii_case("og:description") && og_description.is_none() {
                    og_description = content;
                }
            }
            "link" if meta.canonical.is_none() && has_token(value.attr("rel"), "canonical") => {
                meta.canonical = value.attr("href").and_then(|href| resolve_canonical(page_url, href));
            }
            _ => {}
        }
    }
    meta.description = meta.description.or(og_description);
    meta
}

/// `href` resolved against the page URL, fragment dropped (it is a document id), and
/// only for web/file URLs.
fn resolve_canonical(page_url: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let mut url = page_url.join(href).or_else(|_| Url::parse(href)).ok()?;
    url.set_fragment(None);
    matches!(url.scheme(), "http" | "https" | "file").then(|| url.to_string())
}

/// The content container: `<main>`, `[role=main]`, or the only outermost `<article>`.
fn content_root(document: ElementRef<'_>) -> Option<ElementRef<'_>> {
    let visible = |e: &ElementRef<'_>| !is_hidden(*e);
    if let Some(main) = document.descendent_elements().filter(visible).find(|e| e.value().name() == "main") {
        return Some(main);
    }
    if let Some(main) =
        document.descendent_elements().filter(visible).find(|e| has_token(e.value().attr("role"), "main"))
    {
        return Some(main);
    }
    let mut articles = document
        .descendent_elements()
        .filter(|e| e.value().name() == "article" && visible(e) && !excluded_by_ancestors(*e, document))
        .filter(|e| !e.ancestors().filter_map(ElementRef::wrap).any(|a| a.value().name() == "article"));
    match (articles.next(), articles.next()) {
        (Some(article), None) => Some(article),
        _ => None,
    }
}

/// The first `<h1>` of the content that is not inside skipped chrome.
fn first_content_h1(root: ElementRef<'_>) -> Option<ElementRef<'_>> {
    root.descendent_elements().find(|e| e.value().name() == "h1" && !excluded_by_ancestors(*e, root))
}

/// Title from `<title>` and the first `<h1>`; the flag says whether that `<h1>` is the
/// title (and therefore not a section heading).
fn decide_title(head_title: Option<&str>, h1: Option<&str>) -> (String, bool) {
    let Some(raw) = head_title.filter(|t| !t.is_empty()) else {
        return match h1 {
            Some(h1) => (h1.to_owned(), true),
            None => (String::new(), false),
        };
    };
    let stripped = strip_site_suffix(raw);
    let Some(h1) = h1 else {
        return (stripped, false);
    };
    let h1_norm = normalize(h1);
    if h1_norm == normalize(raw) {
        return (raw.to_owned(), true);
    }
    if h1_norm == normalize(&stripped) {
        return (stripped, true);
    }
    // `Site name | Page name`: the <h1> names one part of the title, so it is the title.
    let parts = TITLE_SEPARATORS.iter().fold(vec![raw.to_owned()], |parts, sep| {
        parts.iter().flat_map(|p| p.split(sep).map(str::to_owned).collect::<Vec<_>>()).collect()
    });
    if parts.iter().any(|part| normalize(part) == h1_norm) {
        return (h1.to_owned(), true);
    }
    (stripped, false)
}

/// `Page | Site` → `Page`: drops the part after the last separator when it is short
/// enough to be a site name.
fn strip_site_suffix(title: &str) -> String {
    let last = TITLE_SEPARATORS.iter().filter_map(|sep| title.rfind(sep).map(|pos| (pos, sep.len()))).max();
    if let Some((pos, len)) = last {
        let head = title.get(..pos).unwrap_or_default().trim();
        let tail = title.get(pos + len..).unwrap_or_default().trim();
        if !head.is_empty() && !tail.is_empty() && tail.split_whitespace().count() <= MAX_SITE_SUFFIX_WORDS {
            return head.to_owned();
        }
    }
    title.to_owned()
}

fn normalize(text: &str) -> String {
    clean_line(text).to_lowercase().trim_end_matches(['.', ':', '!', '?']).to_owned()
}

/// Walks the content tree, writing text into [`Flows`] and sections into a
/// [`SectionBuilder`].
#[derive(Default)]
struct Walker<'a> {
    title_h1: Option<ElementRef<'a>>,
    flows: Flows,
    sections: SectionBuilder,
}

impl<'a> Walker<'a> {
    fn finish(mut self) -> Vec<Section> {
        let blocks = self.flows.take_top();
        self.sections.blocks(blocks);
        self.sections.finish()
    }

    fn children(&mut self, element: ElementRef<'a>, depth: usize) {
        for child in element.children() {
            match child.value() {
                Node::Text(text) => self.flows.text(text),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.element(child, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }

    /// Renders `element` into a nested flow and returns its blocks.
    fn nested(&mut self, element: ElementRef<'a>, depth: usize) -> Vec<String> {
        self.flows.push();
        self.children(element, depth);
        self.flows.pop()
    }

    fn element(&mut self, element: ElementRef<'a>, depth: usize) {
        if is_skipped(element) {
            return;
        }
        if depth > MAX_DEPTH {
            self.flows.text(" ");
            for text in element.text() {
                self.flows.text(text);
            }
            self.flows.text(" ");
            return;
        }
        let name = element.value().name();
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.heading(element, heading_level(name)),
            "pre" | "listing" | "xmp" | "plaintext" => {
                let block = blocks::fence(code_language(element).as_deref(), &preformatted_text(element));
                self.flows.block(block);
            }
            "ul" | "ol" | "menu" | "dir" => {
                let block = self.list(element, name == "ol", depth);
                self.flows.block(block);
            }
            "table" => {
                let block = self.table(element, depth);
                self.flows.block(block);
            }
            "dl" => {
                let block = self.definition_list(element, depth);
                self.flows.block(block);
            }
            "blockquote" => {
                let body = self.nested(element, depth).join("\n\n");
                self.flows.block(blocks::quote(&body));
            }
            "br" => self.flows.line_break(),
            "hr" => self.flows.flush_inline(),
            "img" | "area" => {
                if let Some(alt) = element.value().attr("alt").and_then(blocks::meaningful_alt) {
                    self.flows.text(" ");
                    self.flows.text(alt);
                    self.flows.text(" ");
                }
            }
            "wbr" | "track" | "source" | "param" | "col" | "colgroup" => {}
            _ if is_block(name) => {
                self.flows.flush_inline();
                self.children(element, depth);
                self.flows.flush_inline();
            }
            _ => self.children(element, depth),
        }
    }

    fn heading(&mut self, element: ElementRef<'a>, level: u8) {
        self.flows.flush_inline();
        if self.title_h1 == Some(element) {
            return;
        }
        let text = heading_text(element);
        if text.is_empty() {
            return;
        }
        if self.flows.is_nested() {
            self.flows.block(text);
            return;
        }
        let blocks = self.flows.take_top();
        self.sections.blocks(blocks);
        self.sections.heading(level, &text, heading_anchor(element));
    }

    fn list(&mut self, list: ElementRef<'a>, ordered: bool, depth: usize) -> String {
        let mut number: u64 = list.value().attr("start").and_then(|s| s.trim().parse().ok()).unwrap_or(1);
        let mut items: Vec<String> = Vec::new();
        for child in list.children() {
            match child.value() {
                Node::Text(text) if !text.trim().is_empty() => items.push(blocks::list_item(&clean_line(text), None)),
                Node::Element(_) => {
                    let Some(child) = ElementRef::wrap(child) else { continue };
                    if is_skipped(child) {
                        continue;
                    }
                    match child.value().name() {
                        "li" => {
                            if let Some(value) = child.value().attr("value").and_then(|v| v.trim().parse().ok()) {
                                number = value;
                            }
                            let body = self.nested(child, depth + 1).join("\n");
                            if !body.trim().is_empty() {
                                items.push(blocks::list_item(&body, ordered.then_some(number)));
                            }
                            number = number.saturating_add(1);
                        }
                        // A list directly inside a list (invalid, common): indent it under
                        // the previous item.
                        "ul" | "ol" => {
                            let inner = self.list(child, child.value().name() == "ol", depth + 1);
                            if !inner.trim().is_empty() {
                                items.push(blocks::prefix_lines(&inner, "  ", "  "));
                            }
                        }
                        _ => {
                            let body = self.nested(child, depth + 1).join("\n");
                            if !body.trim().is_empty() {
                                items.push(body);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        items.join("\n")
    }

    fn table(&mut self, table: ElementRef<'a>, depth: usize) -> String {
        let mut caption = None;
        let mut rows = Vec::new();
        for child in table.child_elements() {
            if is_skipped(child) {
                continue;
            }
            match child.value().name() {
                "caption" => caption = Some(self.nested(child, depth + 1).join(" ")),
                "thead" | "tbody" | "tfoot" => {
                    for row in child.child_elements().filter(|r| r.value().name() == "tr" && !is_skipped(*r)) {
                        rows.push(self.table_row(row, depth + 2));
                    }
                }
                "tr" => rows.push(self.table_row(child, depth + 1)),
                _ => {}
            }
        }
        blocks::table(caption.as_deref(), &rows)
    }

    fn table_row(&mut self, row: ElementRef<'a>, depth: usize) -> Vec<String> {
        let mut cells = Vec::new();
        for cell in row.child_elements().filter(|c| matches!(c.value().name(), "td" | "th")) {
            let text = if is_skipped(cell) { String::new() } else { self.nested(cell, depth + 1).join(" ") };
            let span: usize = cell.value().attr("colspan").and_then(|s| s.trim().parse().ok()).unwrap_or(1);
            cells.push(text);
            cells.extend(std::iter::repeat_n(String::new(), span.clamp(1, 50) - 1));
        }
        cells
    }

    /// `<dl>` as `term: definition` lines; several terms share a definition
    /// (`a, b: def`), several definitions of one term get one line each.
    fn definition_list(&mut self, list: ElementRef<'a>, depth: usize) -> String {
        let mut lines = Vec::new();
        let mut terms: Vec<String> = Vec::new();
        let mut defined = false;
        let mut entries: Vec<ElementRef<'a>> = Vec::new();
        for child in list.child_elements() {
            // `<dl><div><dt>…<dd>…</div></dl>` is valid HTML: look through the wrapper.
            if child.value().name() == "div" {
                entries.extend(child.child_elements());
            } else {
                entries.push(child);
            }
        }
        for entry in entries {
            if is_skipped(entry) {
                continue;
            }
            match entry.value().name() {
                "dt" => {
                    if defined {
                        terms.clear();
                        defined = false;
                    }
                    let term = clean_line(&self.nested(entry, depth + 1).join(" "));
                    if !term.is_empty() {
                        terms.push(term);
                    }
                }
                "dd" => {
                    let definition = self.nested(entry, depth + 1).join("\n");
                    if definition.trim().is_empty() {
                        continue;
                    }
                    lines.push(if terms.is_empty() {
                        definition
                    } else {
                        blocks::prefix_lines(&definition, &format!("{}: ", terms.join(", ")), "  ")
                    });
                    defined = true;
                }
                _ => {
                    let other = self.nested(entry, depth + 1).join("\n");
                    if !other.trim().is_empty() {
                        lines.push(other);
                    }
                }
            }
        }
        if !defined && !terms.is_empty() {
            lines.push(terms.join(", "));
        }
        lines.join("\n")
    }
}

fn heading_level(name: &str) -> u8 {
    name.strip_prefix('h').and_then(|n| n.parse().ok()).unwrap_or(6)
}

/// Elements that start a new paragraph/block.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "main"
            | "header"
            | "address"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "fieldset"
            | "legend"
            | "center"
            | "hgroup"
            | "li"
            | "dt"
            | "dd"
            | "tr"
            | "td"
            | "th"
            | "thead"
            | "tbody"
            | "tfoot"
            | "caption"
            | "body"
            | "html"
            | "search"
    )
}

/// Whether the subtree is chrome or hidden (never content).
fn is_skipped(element: ElementRef<'_>) -> bool {
    let value = element.value();
    let name = value.name();
    if SKIPPED_TAGS.contains(&name) || is_hidden(element) {
        return true;
    }
    if SKIPPED_ROLES.iter().any(|role| has_token(value.attr("role"), role)) {
        return true;
    }
    if name == "header" {
        // An article's own header (title, byline) is content; the site header is not.
        let has_heading = element.descendent_elements().any(|e| heading_name(e.value().name()));
        let in_content =
            element.ancestors().filter_map(ElementRef::wrap).any(|a| matches!(a.value().name(), "article" | "main"));
        return !(has_heading && in_content);
    }
    if heading_name(name) {
        return false;
    }
    if value.classes().any(|class| BOILERPLATE_CLASSES.iter().any(|b| class.eq_ignore_ascii_case(b))) {
        return true;
    }
    if value.id().is_some_and(|id| id.eq_ignore_ascii_case("breadcrumbs") || id.eq_ignore_ascii_case("breadcrumb")) {
        return true;
    }
    if value.attr("aria-label").is_some_and(|label| label.trim().to_lowercase().starts_with("breadcrumb")) {
        return true;
    }
    if name == "a" && value.attr("href").is_some_and(|h| h.trim_start().starts_with('#')) {
        let text = short_text(element, 40).to_lowercase();
        if text.starts_with("skip to") || text.starts_with("skip navigation") || text.starts_with("jump to content") {
            return true;
        }
    }
    if matches!(name, "p" | "div" | "section" | "span" | "strong") {
        let text = short_text(element, FEEDBACK_MAX_CHARS);
        if text.chars().count() < FEEDBACK_MAX_CHARS && is_feedback_prompt(&text) {
            return true;
        }
    }
    false
}

/// `hidden`, `aria-hidden="true"` or an inline `display: none` / `visibility: hidden`.
fn is_hidden(element: ElementRef<'_>) -> bool {
    let value = element.value();
    if value.attr("hidden").is_some()
        || value.attr("aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    value.attr("style").is_some_and(|style| {
        let compact: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
        compact.contains("display:none") || compact.contains("visibility:hidden")
    })
}

/// "Was this article helpful?", "Did this page help you?", "Is this page useful?"…
fn is_feedback_prompt(text: &str) -> bool {
    let lower = clean_line(text).to_lowercase();
    let asks = ["was this", "did this", "is this", "was the", "did you find"].iter().any(|p| lower.starts_with(p));
    asks && ["helpful", "help you", "useful", "answer your question"].iter().any(|w| lower.contains(w))
}

/// Up to `limit` chars of an element's text (cheap: stops early).
fn short_text(element: ElementRef<'_>, limit: usize) -> String {
    let mut out = String::new();
    for piece in element.text() {
        out.push_str(piece);
        if out.len() > limit * 4 {
            break;
        }
    }
    let mut inline = Inline::default();
    inline.push_text(&out);
    inline.take().chars().take(limit).collect()
}

/// Whether a skipped ancestor (between `element` and `root`) hides `element`.
fn excluded_by_ancestors(element: ElementRef<'_>, root: ElementRef<'_>) -> bool {
    for ancestor in element.ancestors().filter_map(ElementRef::wrap) {
        if ancestor == root {
            return false;
        }
        if is_skipped(ancestor) {
            return true;
        }
    }
    false
}

fn inside(element: ElementRef<'_>, name: &str) -> bool {
    element.ancestors().filter_map(ElementRef::wrap).any(|a| a.value().name() == name)
}

fn heading_name(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

fn find_first<'a>(root: ElementRef<'a>, pred: impl Fn(&ElementRef<'a>) -> bool) -> Option<ElementRef<'a>> {
    root.descendent_elements().find(|e| pred(e))
}

/// Whitespace-separated attribute value contains `token` (ASCII case-insensitive).
fn has_token(attr: Option<&str>, token: &str) -> bool {
    attr.is_some_and(|v| v.split_ascii_whitespace().any(|t| t.eq_ignore_ascii_case(token)))
}

/// A heading's text: inline content with whitespace collapsed, without permalink
/// widgets (`¶`, `#`, `🔗` links) and hidden parts; meaningful image alt text kept.
fn heading_text(heading: ElementRef<'_>) -> String {
    let mut inline = Inline::default();
    collect_heading_text(heading, &mut inline, 0);
    clean_line(&inline.take())
}

fn collect_heading_text(element: ElementRef<'_>, inline: &mut Inline, depth: usize) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) => inline.push_text(text),
            Node::Element(_) => {
                let Some(child) = ElementRef::wrap(child) else { continue };
                let value = child.value();
                if is_hidden(child) || SKIPPED_TAGS.contains(&value.name()) || is_permalink(child) {
                    continue;
                }
                match value.name() {
                    "br" => inline.push_text(" "),
                    "img" => {
                        if let Some(alt) = value.attr("alt").and_then(blocks::meaningful_alt) {
                            inline.push_text(" ");
                            inline.push_text(alt);
                            inline.push_text(" ");
                        }
                    }
                    _ if depth > MAX_DEPTH => child.text().for_each(|t| inline.push_text(t)),
                    _ => collect_heading_text(child, inline, depth + 1),
                }
            }
            _ => {}
        }
    }
}

/// A self-link widget inside a heading: `<a href="#x" class="headerlink">¶</a>`.
fn is_permalink(element: ElementRef<'_>) -> bool {
    let value = element.value();
    if value.name() != "a" || !value.attr("href").is_some_and(|h| h.trim_start().starts_with('#')) {
        return false;
    }
    let classed = value.classes().any(|c| {
        let c = c.to_ascii_lowercase();
        c.contains("headerlink") || c.contains("anchor") || c.contains("permalink") || c.contains("hash-link")
    });
    let text = short_text(element, 8);
    classed || text.chars().all(|c| matches!(c, '#' | '¶' | '§' | '🔗' | '⚓' | '\u{FE0F}'))
}

/// The anchor of a heading (see [`extract_html`]).
fn heading_anchor(heading: ElementRef<'_>) -> Option<String> {
    let non_empty = |id: Option<&str>| id.map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned);
    if let Some(id) = non_empty(heading.value().id()) {
        return Some(id);
    }
    // <h2><a name="x"></a>Title</h2>, <h2><span id="x">Title</span></h2>
    for inner in heading.descendent_elements() {
        if let Some(id) = non_empty(inner.value().id()) {
            return Some(id);
        }
        if inner.value().name() == "a" {
            if let Some(name) = non_empty(inner.value().attr("name")) {
                return Some(name);
            }
        }
    }
    // <section id="x"><h2>Title</h2>…</section>: the heading that opens the section.
    if let Some(section) = heading.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().name() == "section") {
        let opens_section = section.descendent_elements().find(|e| heading_name(e.value().name())) == Some(heading);
        if opens_section {
            if let Some(id) = non_empty(section.value().id()) {
                return Some(id);
            }
        }
    }
    // <a name="x"></a><h2>Title</h2>
    let previous = heading.prev_siblings().find(|n| !n.value().as_text().is_some_and(|t| t.trim().is_empty()));
    if let Some(previous) = previous.and_then(ElementRef::wrap) {
        let value = previous.value();
        if value.name() == "a" && previous.text().all(|t| t.trim().is_empty()) {
            return non_empty(value.id()).or_else(|| non_empty(value.attr("name")));
        }
    }
    // <h2>Title <a class="headerlink" href="#x">¶</a></h2>
    heading
        .descendent_elements()
        .find(|e| is_permalink(*e))
        .and_then(|a| a.value().attr("href"))
        .and_then(|href| non_empty(href.trim().strip_prefix('#')))
}

/// Text of a `<pre>` exactly as written (`<br>` as newline).
fn preformatted_text(pre: ElementRef<'_>) -> String {
    let mut out = String::new();
    for node in pre.descendants() {
        match node.value() {
            Node::Text(text) => out.push_str(text),
            Node::Element(e) if e.name() == "br" => out.push('\n'),
            _ => {}
        }
    }
    out
}

/// `class="language-x"` / `lang-x` on the `<pre>` or its `<code>`, or `data-lang`.
fn code_language(pre: ElementRef<'_>) -> Option<String> {
    let candidates = std::iter::once(pre).chain(pre.child_elements().filter(|c| c.value().name() == "code"));
    for element in candidates {
        let value = element.value();
        for class in value.classes() {
            let lang = class.strip_prefix("language-").or_else(|| class.strip_prefix("lang-"));
            if let Some(lang) = lang.filter(|l| !l.is_empty()) {
                return Some(lang.to_owned());
            }
        }
        if let Some(lang) = value.attr("data-lang").map(str::trim).filter(|l| !l.is_empty()) {
            return Some(lang.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://help.example/docs/page").expect("valid")
    }

    fn page(html: &str) -> ExtractedPage {
        extract_html(html, &url())
    }

    fn all_text(page: &ExtractedPage) -> String {
        page.sections.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("\n\n")
    }

    #[test]
    fn title_suffix_and_h1_dedup() {
        let p = page("<title>Team roles | Help Center</title><main><h1>Team roles</h1><p>Intro.</p><h2 id=a>A</h2><p>x</p></main>");
        assert_eq!(p.title, "Team roles");
        assert_eq!(p.sections[0].headings, Vec::<String>::new());
        assert_eq!(p.sections[0].text, "Intro.");
        assert_eq!(p.sections[1].headings, vec!["A".to_owned()]);

        for (title, expected) in [
            ("Refunds — Lumen", "Refunds"),
            ("Refunds - Lumen Ledger Help", "Refunds"),
            ("Step 1 - Verify - Site", "Step 1 - Verify"),
            ("Only a title", "Only a title"),
            (
                "A - this tail is far too long to be the name of a site",
                "A - this tail is far too long to be the name of a site",
            ),
            (" | Site", "| Site"),
        ] {
            assert_eq!(page(&format!("<title>{title}</title><p>x</p>")).title, expected, "{title}");
        }
    }

    #[test]
    fn h1_that_differs_from_title_is_a_section() {
        let p = page("<title>Guide | Site</title><body><h1>Something else</h1><p>x</p></body>");
        assert_eq!(p.title, "Guide");
        assert_eq!(p.sections[0].headings, vec!["Something else".to_owned()]);
        // `Site | Page` style: the h1 names the page.
        let p = page("<title>Lumen Help | Team roles</title><body><h1>Team roles</h1><p>x</p></body>");
        assert_eq!(p.title, "Team roles");
        assert!(p.sections[0].headings.is_empty());
    }

    #[test]
    fn title_from_h1_when_no_title_tag() {
        let p = page("<main><h1 id=t>Hello <small>world</small></h1><p>x</p></main>");
        assert_eq!(p.title, "Hello world");
        assert_eq!(p.sections.len(), 1);
        assert!(p.sections[0].headings.is_empty());
    }

    #[test]
    fn metadata_description_and_canonical() {
        let p = page(
            "<head><meta name=Description content=' Short  desc '><link rel='Canonical' href='../other#frag'></head><p>x</p>",
        );
        assert_eq!(p.description.as_deref(), Some("Short desc"));
        assert_eq!(p.canonical.as_deref(), Some("https://help.example/other"));
        let p = page(
            "<meta property='og:description' content='OG'><link rel=canonical href='javascript:alert(1)'><p>x</p>",
        );
        assert_eq!(p.description.as_deref(), Some("OG"));
        assert_eq!(p.canonical, None);
        let p = page("<link rel=canonical href='  '><p>x</p>");
        assert_eq!(p.canonical, None);
    }

    #[test]
    fn chrome_is_excluded() {
        let html = r##"<body><a class="skip-link" href="#c">Skip to main content</a>
            <header><a href="/">Brand</a></header><nav>Menu</nav>
            <main id=c><nav class=x>Inner nav</nav><ol class="breadcrumbs"><li>Home</li></ol>
            <div aria-label="Breadcrumb">Crumb</div>
            <p>Real text.</p><div hidden>Hidden</div><span aria-hidden="true">★</span>
            <p style="display: none">Invisible</p><form><label>Search</label></form>
            <aside>Related</aside><script>var x = 1;</script><style>p{}</style><noscript>JS</noscript>
            <template><p>tpl</p></template><button>Copy</button>
            <div class="feedback"><p>Rate us</p></div>
            <div><p>Was this article helpful?</p><a href="#">Yes</a></div>
            <div role="navigation">Role nav</div>
            <p>More <a href="#x">skip links are fine mid-text</a>.</p></main>
            <footer>Footer</footer></body>"##;
        let text = all_text(&page(html));
        assert_eq!(text, "Real text.\n\nMore skip links are fine mid-text.");
    }

    #[test]
    fn article_header_is_kept_site_header_is_not() {
        let p = page("<body><header><h1>Site</h1></header><article><header><h1>Post</h1><p>By Ann</p></header><p>Body</p></article></body>");
        assert_eq!(p.title, "Post");
        assert_eq!(all_text(&p), "By Ann\n\nBody");
    }

    #[test]
    fn root_selection() {
        let p = page("<body><p>outside</p><div role=main><p>inside</p></div></body>");
        assert_eq!(all_text(&p), "inside");
        let p = page("<body><p>outside</p><article><p>one</p></article></body>");
        assert_eq!(all_text(&p), "one");
        let p = page("<body><p>outside</p><article><p>one</p></article><article><p>two</p></article></body>");
        assert_eq!(all_text(&p), "outside\n\none\n\ntwo");
        // Empty <main> (rendered by JS): fall back to the body.
        let p = page("<body><main></main><p>fallback</p></body>");
        assert_eq!(all_text(&p), "fallback");
    }

    #[test]
    fn anchors_and_link_anchors() {
        let html = r##"<main>
            <h2 id="sys">System</h2>
            <h3>No id</h3><p>a</p>
            <h3><a name="named"></a>Named</h3><p>b</p>
            <section id="sec"><h3>In section</h3><p>c</p><h4>Second in section</h4><p>d</p></section>
            <a id="before"></a><h3>Preceded</h3><p>e</p>
            <h3>Sphinx <a class="headerlink" href="#sphinx-id">¶</a></h3><p>f</p>
            <h3><span id="mw">Wiki</span></h3><p>g</p>
            </main>"##;
        let p = page(html);
        let got: Vec<(Vec<String>, Option<&str>, Option<&str>)> =
            p.sections.iter().map(|s| (s.headings.clone(), s.anchor.as_deref(), s.link_anchor.as_deref())).collect();
        let h = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (h(&["System", "No id"]), None, Some("sys")),
                (h(&["System", "Named"]), Some("named"), Some("named")),
                (h(&["System", "In section"]), Some("sec"), Some("sec")),
                (h(&["System", "In section", "Second in section"]), None, Some("sec")),
                (h(&["System", "Preceded"]), Some("before"), Some("before")),
                (h(&["System", "Sphinx"]), Some("sphinx-id"), Some("sphinx-id")),
                (h(&["System", "Wiki"]), Some("mw"), Some("mw")),
            ]
        );
    }

    #[test]
    fn block_rendering() {
        let html = r#"<main>
            <p>Line one<br>line   two &amp; <code>code</code> <img alt="a chart of fees"> <img alt="logo"></p>
            <pre class="x"><code class="language-json">{
  "a": 1
}</code></pre>
            <ol start="3"><li>Third <ul><li>nested</li></ul></li><li><p>Fourth</p><p>para</p></li></ol>
            <table><caption>Fees</caption><tr><th>Plan</th><th>Fee</th></tr><tr><td>Pro</td><td colspan=2>1 | 2</td></tr></table>
            <dl><dt>Term</dt><dd>Definition</dd><dt>A</dt><dt>B</dt><dd>Shared</dd><dd>Second</dd></dl>
            <blockquote><p>Quoted</p><p>twice</p></blockquote>
            <ul><li>done</li><ul><li>stray nested</li></ul></ul>
            </main>"#;
        let text = all_text(&page(html));
        let expected = "Line one\nline two & code a chart of fees\n\n\
```json\n{\n  \"a\": 1\n}\n```\n\n\
3. Third\n   - nested\n4. Fourth\n   para\n\n\
Fees\n| Plan | Fee |  |\n| --- | --- | --- |\n| Pro | 1 \\| 2 |  |\n\n\
Term: Definition\nA, B: Shared\nA, B: Second\n\n\
> Quoted\n>\n> twice\n\n\
- done\n  - stray nested";
        assert_eq!(text, expected);
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<main><p>Unclosed <b>bold <i>italic<h2 id=x>Heading<p>after</div></div></span>text",
            "</div></div><p>stray closers</p></body></html></html>",
            "<table><tr><td>cell<tr><td>next</table><li>orphan item</li><dd>orphan def</dd>",
            "<<<>>> <p <a href='x>broken attr</a> &bogus; &#xD800; &#0; \u{0}",
            "",
            "<html><head><title></title></head><body></body></html>",
            "<svg><title>Icon</title></svg><p>Body</p>",
            "<pre></pre><ul></ul><table></table><dl><dt></dt></dl>",
            "<h2></h2><h3>   </h3><p>text</p>",
        ] {
            let p = page(html);
            for s in &p.sections {
                assert!(!s.text.contains('\u{0}'));
            }
        }
        let p = page("<main><p>Unclosed <b>bold <i>italic<h2 id=x>Heading</h2><p>after</div></div></span> text");
        assert_eq!(p.sections[0].text, "Unclosed bold italic");
        assert_eq!(p.sections[1].headings, vec!["Heading".to_owned()]);
        assert_eq!(p.sections[1].anchor.as_deref(), Some("x"));
        assert_eq!(p.sections[1].text, "after text");
        let p = page("<svg><title>Icon</title></svg><p>Body</p>");
        assert_eq!(p.title, "");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = 3000;
        let html = format!("{}deep text{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let text = all_text(&page(&html));
        assert_eq!(text, "deep text");
        let html = format!("<h2>{}deep heading{}</h2><p>x</p>", "<span>".repeat(depth), "</span>".repeat(depth));
        assert_eq!(page(&html).sections[0].headings, vec!["deep heading".to_owned()]);
    }

    #[test]
    fn fragments_render_headings_as_text() {
        let blocks =
            fragment_blocks("<details><summary>More</summary><h2>Inner</h2><p>Body &lt;b&gt;</p></details><!-- c -->");
        assert_eq!(blocks, vec!["More", "Inner", "Body <b>"]);
    }

    #[test]
    fn unicode_survives() {
        let p = page("<title>مرحبا</title><p dir=rtl>שלום e\u{301} 🎉 &nbsp;x&#8203;y</p>");
        assert_eq!(p.title, "مرحبا");
        assert_eq!(p.sections[0].text, "שלום e\u{301} 🎉 x\u{200B}y");
    }
}
