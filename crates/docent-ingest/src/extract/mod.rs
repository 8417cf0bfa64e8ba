//! Text extraction: turns a [`RawPage`] (bytes of HTML, Markdown or plain text) into an
//! [`ExtractedPage`] — a title, metadata and the page's text cut into heading sections
//! with anchors.
//!
//! Useful for: everything between "we have the bytes" and "we have sections to chunk".
//! Not for: fetching (sources), cutting sections to token budgets (`chunk`), embedding.
//!
//! The pieces, one concept per module:
//! - `decode`: bytes → `String` following the charset rules (BOM, declared charset,
//!   HTML `<meta charset>`, otherwise strict UTF-8);
//! - `html`, `markdown`, `text`: one extractor per [`ContentKind`];
//! - `frontmatter`: the YAML block at the top of Markdown files;
//! - `slug`: GitHub-style heading anchors;
//! - `section`: turns a stream of headings and text blocks into [`Section`]s;
//! - `blocks`: the shared text formatting (whitespace, lists, tables, code fences).
//!
//! Extraction never panics on input: broken HTML is repaired by html5ever, odd bytes
//! are rejected by [`decode_body`] with [`ExtractError::InvalidEncoding`], and control
//! characters are dropped from the output text.

mod blocks;
mod decode;
mod frontmatter;
mod html;
mod markdown;
mod section;
mod slug;
mod text;

pub use decode::decode_body;
pub use html::extract_html;
pub use markdown::extract_markdown;
pub use slug::slugify;
pub use text::extract_text;

use crate::page::{ContentKind, ExtractedPage, RawPage};

/// Why one page could not be extracted. Per-page: the pipeline reports it (with the
/// URL carried here) and goes on with the other pages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The body is not valid in its declared charset (or, with none declared, not
    /// valid UTF-8). We refuse to guess rather than index mojibake.
    #[error("{url}: cannot decode the page body: {detail}")]
    InvalidEncoding {
        /// URL of the page.
        url: String,
        /// What was wrong (charset tried, byte offset of the first bad sequence).
        detail: String,
    },
    /// The Markdown file starts with a YAML front matter block that cannot be parsed
    /// or has fields of the wrong type.
    #[error("{url}: malformed front matter: {detail}")]
    FrontMatter {
        /// URL of the page.
        url: String,
        /// The YAML error (with its line/column inside the block) or the field problem.
        detail: String,
    },
    /// The page has no text worth indexing (empty body, only boilerplate or markup).
    #[error("{url}: the page has no extractable text")]
    Empty {
        /// URL of the page.
        url: String,
    },
}

impl ExtractError {
    /// URL of the page the error is about, so callers can report it without matching.
    pub fn url(&self) -> &str {
        match self {
            ExtractError::InvalidEncoding { url, .. } | ExtractError::FrontMatter { url, .. } => url,
            ExtractError::Empty { url } => url,
        }
    }
}

/// Extracts one page: decodes the body (see [`decode_body`]; for HTML without an HTTP
/// charset the `<meta charset>` is honoured), dispatches on [`RawPage::kind`] and fills
/// in a title derived from the file name or URL when the document has none.
///
/// Returns [`ExtractError::Empty`] when nothing indexable is left, so the pipeline can
/// report the page instead of silently indexing an empty document.
pub fn extract(page: &RawPage) -> Result<ExtractedPage, ExtractError> {
    let span = tracing::debug_span!("extract", url = %page.url, kind = ?page.kind);
    let _entered = span.enter();

    let text = decode_page(page)?;
    let fallback = fallback_title(page);
    let mut extracted = match page.kind {
        ContentKind::Html => extract_html(&text, &base_url(&page.url)),
        ContentKind::Markdown => extract_markdown(&text, &page.url)?,
        ContentKind::Text => extract_text(&text, &fallback),
    };
    if extracted.title.trim().is_empty() {
        extracted.title = fallback;
    }
    if extracted.is_empty() {
        tracing::debug!("no text left after extraction");
        return Err(ExtractError::Empty { url: page.url.clone() });
    }
    tracing::debug!(title = %extracted.title, sections = extracted.sections.len(), "extracted");
    Ok(extracted)
}

/// Decodes the body. For HTML the HTTP charset wins over `<meta charset>` (as in
/// browsers), but when the body is not valid in the HTTP charset and the document
/// declares a different one, the document's own declaration gets a second chance:
/// servers mislabel pages far more often than pages mislabel themselves.
fn decode_page(page: &RawPage) -> Result<String, ExtractError> {
    let declared = page.charset.as_deref();
    if page.kind != ContentKind::Html {
        return decode_body(&page.body, declared, &page.url);
    }
    let meta = decode::sniff_html_charset(&page.body);
    match declared {
        None => decode_body(&page.body, meta, &page.url),
        Some(header) => decode_body(&page.body, Some(header), &page.url).or_else(|err| match meta {
            Some(meta) if !meta.eq_ignore_ascii_case(header.trim()) => {
                tracing::debug!(header, meta, "body invalid in HTTP charset, trying the <meta> charset");
                decode_body(&page.body, Some(meta), &page.url).map_err(|_| err)
            }
            _ => Err(err),
        }),
    }
}

/// The page URL as a base for resolving `<link rel=canonical>`. A page whose URL does
/// not parse still extracts; only relative canonical links are then dropped.
fn base_url(url: &str) -> url::Url {
    url::Url::parse(url).unwrap_or_else(|err| {
        tracing::debug!(%err, "page URL does not parse; relative links cannot be resolved");
        // A constant, not input: `about:blank` is a valid (non-hierarchical) URL.
        url::Url::parse("about:blank").expect("`about:blank` is a valid URL")
    })
}

/// A readable title when the document has none: the file stem (or, for `index`
/// files, the folder), else the last URL path segment, else the host.
/// `cancel-subscription.html` → `Cancel subscription`.
fn fallback_title(page: &RawPage) -> String {
    let from_path = page.path.as_deref().and_then(|path| {
        let stem = path.file_stem()?.to_string_lossy().into_owned();
        if is_index_stem(&stem) {
            let parent = path.parent()?.file_name()?.to_string_lossy().into_owned();
            Some(parent)
        } else {
            Some(stem)
        }
    });
    let name = from_path.filter(|name| !name.trim().is_empty()).or_else(|| title_from_url(&page.url));
    let title = humanize(name.as_deref().unwrap_or(""));
    if title.is_empty() {
        "Untitled".to_owned()
    } else {
        title
    }
}

/// `index`, `README` and `_index` name their folder, not themselves.
fn is_index_stem(stem: &str) -> bool {
    ["index", "readme", "_index", "default"].iter().any(|s| stem.eq_ignore_ascii_case(s))
}

/// Last meaningful path segment of a URL (extension dropped), or its host.
fn title_from_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok();
    let path = parsed.as_ref().map_or(url, |u| u.path());
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let decoded = percent_decode(s);
            match decoded.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem.to_owned(),
                _ => decoded,
            }
        })
        .collect();
    let last = segments.iter().rev().find(|s| !is_index_stem(s)).cloned();
    last.or_else(|| parsed.as_ref().and_then(|u| u.host_str().map(str::to_owned)))
}

/// Minimal `%XX` decoding for URL path segments (invalid escapes are kept as-is).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (Some(b'%'), Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `team-roles_and stuff` → `Team roles and stuff`.
fn humanize(name: &str) -> String {
    let spaced: String = name.chars().map(|c| if c == '-' || c == '_' { ' ' } else { c }).collect();
    let collapsed = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = collapsed.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn page(url: &str, kind: ContentKind, body: &[u8]) -> RawPage {
        RawPage {
            url: url.to_owned(),
            source: "test".to_owned(),
            kind,
            body: body.to_vec(),
            charset: None,
            path: None,
            etag: None,
            last_modified: None,
        }
    }

    #[test]
    fn fallback_title_from_path_stem_and_index_folder() {
        let mut p = page("https://x.example/a/b", ContentKind::Text, b"hello");
        p.path = Some(PathBuf::from("/docs/billing/cancel-subscription.html"));
        assert_eq!(fallback_title(&p), "Cancel subscription");
        p.path = Some(PathBuf::from("/docs/pricing/index.md"));
        assert_eq!(fallback_title(&p), "Pricing");
    }

    #[test]
    fn fallback_title_from_url() {
        let p = page("https://help.example/api/rate_limits.html", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Rate limits");
        let p = page("https://help.example/pricing/", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Pricing");
        let p = page("https://help.example/", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Help.example");
        let p = page("https://help.example/caf%C3%A9-menu", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Café menu");
        let p = page("not a url", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Not a url");
        let p = page("", ContentKind::Text, b"x");
        assert_eq!(fallback_title(&p), "Untitled");
    }

    #[test]
    fn html_without_title_gets_fallback() {
        let p = page("https://x.example/guides/getting-started", ContentKind::Html, b"<p>Just a paragraph.</p>");
        let out = extract(&p).expect("extracts");
        assert_eq!(out.title, "Getting started");
        assert_eq!(out.sections[0].text, "Just a paragraph.");
    }

    #[test]
    fn text_title_falls_back_only_when_empty() {
        let p = page("https://x.example/notes.txt", ContentKind::Text, b"First line here\n\nBody.");
        assert_eq!(extract(&p).expect("extracts").title, "First line here");
    }

    #[test]
    fn empty_pages_are_errors() {
        for (kind, body) in [
            (ContentKind::Html, &b"<html><body><nav>Menu</nav><script>x()</script></body></html>"[..]),
            (ContentKind::Markdown, &b"---\ntitle: Only a title\n---\n"[..]),
            (ContentKind::Text, &b"   \n\n\t\n"[..]),
            (ContentKind::Html, &b""[..]),
        ] {
            let err = extract(&page("https://x.example/e", kind, body)).expect_err("empty");
            assert_eq!(err, ExtractError::Empty { url: "https://x.example/e".into() }, "{kind:?}");
        }
    }

    #[test]
    fn errors_carry_the_url() {
        let err = extract(&page("https://x.example/bad", ContentKind::Text, b"ok \xff\xfe nope")).expect_err("bad");
        assert!(matches!(&err, ExtractError::InvalidEncoding { url, .. } if url == "https://x.example/bad"));
        assert_eq!(err.url(), "https://x.example/bad");
        assert!(err.to_string().contains("https://x.example/bad"), "{err}");

        let md = b"---\ntitle: [unclosed\n---\nBody";
        let err = extract(&page("https://x.example/fm", ContentKind::Markdown, md)).expect_err("bad fm");
        assert!(matches!(&err, ExtractError::FrontMatter { url, .. } if url == "https://x.example/fm"), "{err:?}");
    }

    #[test]
    fn html_meta_charset_is_honoured() {
        let mut body = b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>".to_vec();
        let out = extract(&page("https://x.example/c", ContentKind::Html, &body)).expect("decodes");
        assert_eq!(out.title, "Café");
        assert_eq!(out.sections[0].text, "Crème brûlée");

        // A wrong HTTP charset (UTF-8) is rescued by the document's own declaration.
        let mut p = page("https://x.example/c", ContentKind::Html, &body);
        p.charset = Some("utf-8".into());
        assert_eq!(extract(&p).expect("meta rescues").title, "Café");

        // Without any declaration the latin-1 bytes are rejected, not guessed.
        body = b"<html><head><title>Caf\xe9</title></head><body><p>x</p></body></html>".to_vec();
        let err = extract(&page("https://x.example/c", ContentKind::Html, &body)).expect_err("invalid");
        assert!(matches!(err, ExtractError::InvalidEncoding { .. }));
    }

    #[test]
    fn http_charset_applies_to_markdown_and_text() {
        let mut p = page("https://x.example/t", ContentKind::Text, b"Na\xefve caf\xe9\n");
        p.charset = Some("windows-1252".into());
        assert_eq!(extract(&p).expect("decodes").sections[0].text, "Naïve café");
    }
}
