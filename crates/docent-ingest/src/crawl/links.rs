//! Link discovery in fetched pages: what the crawler may follow from a page and
//! which URL the page says is its canonical one.
//!
//! HTML: `a[href]`/`area[href]` resolved against `<base href>` (or the page URL),
//! fragments stripped, non-http(s) schemes (mailto:, javascript:, tel:, data:) and
//! `rel="nofollow"` links dropped; `<meta name="robots" content="nofollow">` drops
//! them all. Markdown: inline `[text](target)` links, images excluded.

use std::collections::HashSet;

use scraper::Html;
use url::Url;

use super::url_scope::{canonicalize, is_http};

/// What a page offers the crawler.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PageLinks {
    /// Followable http(s) links, fragment stripped, each canonical URL once, in
    /// document order.
    pub(crate) links: Vec<Url>,
    /// `<link rel="canonical">`, resolved, fragment stripped.
    pub(crate) canonical: Option<Url>,
}

/// Links of an HTML page fetched from `page_url`, decoded with `charset` (UTF-8 when
/// unknown or unsupported; URLs are nearly always ASCII anyway).
pub(crate) fn html_links(body: &[u8], charset: Option<&str>, page_url: &Url) -> PageLinks {
    let encoding = charset.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(body);
    let doc = Html::parse_document(&text);
    let mut base = None;
    let mut canonical_href = None;
    let mut nofollow_all = false;
    let mut hrefs = Vec::new();
    for el in doc.root_element().descendent_elements() {
        let el = el.value();
        match el.name() {
            "base" if base.is_none() => {
                base = el.attr("href").and_then(|h| page_url.join(h.trim()).ok()).filter(is_http);
            }
            "link" if canonical_href.is_none() && has_token(el.attr("rel"), "canonical") => {
                canonical_href = el.attr("href").map(str::to_string);
            }
            "meta" if el.attr("name").is_some_and(|n| n.trim().eq_ignore_ascii_case("robots")) => {
                let content = el.attr("content").unwrap_or("");
                nofollow_all |= has_token(Some(&content.replace(',', " ")), "nofollow")
                    || has_token(Some(&content.replace(',', " ")), "none");
            }
            "a" | "area" if !has_token(el.attr("rel"), "nofollow") => {
                if let Some(href) = el.attr("href") {
                    hrefs.push(href.to_string());
                }
            }
            _ => {}
        }
    }
    let base = base.as_ref().unwrap_or(page_url);
    // The canonical link is resolved against the page URL, not <base>: it names the
    // page itself.
    let canonical = canonical_href.and_then(|h| resolve(page_url, &h));
    let links = if nofollow_all { Vec::new() } else { dedupe(hrefs.iter().filter_map(|h| resolve(base, h))) };
    PageLinks { links, canonical }
}

/// Inline links of a Markdown page fetched from `page_url`: `[text](target "title")`
/// and `[text](<target>)`; `![image](…)` is not a link to follow.
pub(crate) fn markdown_links(body: &[u8], page_url: &Url) -> Vec<Url> {
    let text = String::from_utf8_lossy(body);
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("](") {
        let close = from + pos; // index of ']'
        let start = close + 2;
        from = start;
        if is_image(bytes, close) {
            continue;
        }
        let rest = &text[start..];
        let target = if let Some(inner) = rest.strip_prefix('<') {
            inner.split_once('>').map(|(t, _)| t)
        } else {
            let end = rest.find([')', ' ', '\t', '\n']).unwrap_or(rest.len());
            Some(&rest[..end])
        };
        if let Some(url) = target.and_then(|t| resolve(page_url, t)) {
            found.push(url);
        }
    }
    dedupe(found.into_iter())
}

/// True when the `[` matching the `]` at `close` is preceded by `!`.
fn is_image(bytes: &[u8], close: usize) -> bool {
    let mut depth = 0usize;
    for i in (0..close).rev() {
        match bytes[i] {
            b']' => depth += 1,
            b'[' if depth == 0 => return i > 0 && bytes[i - 1] == b'!',
            b'[' => depth -= 1,
            b'\n' if i > 0 && bytes[i - 1] == b'\n' => return false, // a blank line ends a paragraph
            _ => {}
        }
    }
    false
}

/// `href` resolved against `base`: http(s) only, fragment stripped. Empty and
/// fragment-only hrefs point back at the page and are dropped.
fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let mut url = base.join(href).ok()?;
    if !is_http(&url) || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

fn dedupe(urls: impl Iterator<Item = Url>) -> Vec<Url> {
    let mut seen = HashSet::new();
    urls.filter(|u| seen.insert(canonicalize(u))).collect()
}

/// True when the space-separated attribute value contains `token` (ASCII
/// case-insensitive), as for `rel`.
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split_ascii_whitespace().any(|t| t.eq_ignore_ascii_case(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn strings(urls: &[Url]) -> Vec<&str> {
        urls.iter().map(Url::as_str).collect()
    }

    #[test]
    fn html_links_are_resolved_filtered_and_deduped() {
        let html = br##"<html><head><link rel="Canonical" href="/docs/guide#top"></head><body>
            <a href="intro">Intro</a> <a href="intro#setup">again</a> <a href="#local">self</a>
            <a href="mailto:a@x.test">mail</a> <a href="javascript:void(0)">js</a> <a href="tel:+1">tel</a>
            <a href="/login" rel="external NoFollow">login</a> <a href="https://other.test/x?q=1">other</a>
            <a href="">empty</a> <a>no href</a> <map><area href="../map"></map>
            <a href=" data:text/plain,hi">data</a> <a href="//cdn.test/lib">proto-relative</a>
        </body></html>"##;
        let found = html_links(html, None, &u("https://x.test/docs/page"));
        assert_eq!(
            strings(&found.links),
            ["https://x.test/docs/intro", "https://other.test/x?q=1", "https://x.test/map", "https://cdn.test/lib"]
        );
        assert_eq!(found.canonical, Some(u("https://x.test/docs/guide")));
    }

    #[test]
    fn base_href_and_meta_nofollow() {
        let html = br#"<head><base href="/v2/"></head><a href="a">a</a><a href="/b">b</a>"#;
        let found = html_links(html, Some("utf-8"), &u("https://x.test/docs/page"));
        assert_eq!(strings(&found.links), ["https://x.test/v2/a", "https://x.test/b"]);
        let html = br#"<head><meta name="ROBOTS" content="noindex, nofollow"></head><a href="a">a</a>"#;
        assert!(html_links(html, None, &u("https://x.test/docs/page")).links.is_empty());
    }

    #[test]
    fn charset_is_used_for_decoding() {
        // "é" in ISO-8859-1 is 0xE9; in the URL it must come out percent-encoded UTF-8.
        let html = b"<a href=\"caf\xe9\">x</a>";
        let found = html_links(html, Some("ISO-8859-1"), &u("https://x.test/"));
        assert_eq!(strings(&found.links), ["https://x.test/caf%C3%A9"]);
    }

    #[test]
    fn markdown() {
        let md = b"See [guide](guide.md#x), [api](<../api ref.md> \"t\") and ![logo](logo.png).\n\
                   [ext](https://o.test/) [mail](mailto:x@y) [nested [brackets]](deep/) [guide again](guide.md)";
        let found = markdown_links(md, &u("https://x.test/docs/readme.md"));
        assert_eq!(
            strings(&found),
            [
                "https://x.test/docs/guide.md",
                "https://x.test/api%20ref.md",
                "https://o.test/",
                "https://x.test/docs/deep/"
            ]
        );
    }
}
