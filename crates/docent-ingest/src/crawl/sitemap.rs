//! Sitemaps: `/sitemap.xml` plus the robots.txt `Sitemap:` lines, sitemap indexes
//! followed recursively (a bounded depth, each file once), `<loc>`s resolved against
//! the sitemap's URL, `<lastmod>` kept per URL. Gzip'd files (`.xml.gz`) and plain
//! text sitemaps (one URL a line) are read too.
//!
//! A sitemap is a hint: whatever is wrong with one is a warning, never a failure of
//! the crawl.

use std::collections::HashSet;
use std::io::Read;

use tracing::{debug, warn};
use url::Url;

use super::fetch::{Fetcher, ResourceError};
use super::robots::Robots;
use super::url_scope::{canonicalize, Scope};

/// Deepest nesting of sitemap indexes followed (the top-level files are depth 0).
const MAX_DEPTH: usize = 3;

/// Most sitemap files read in one crawl.
const MAX_FILES: usize = 200;

/// Largest sitemap, after decompression (the protocol's own limit).
const MAX_BYTES: usize = 50 * 1024 * 1024;

/// One page URL listed by a sitemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SitemapEntry {
    pub(crate) url: Url,
    pub(crate) lastmod: Option<String>,
}

/// What one sitemap file holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sitemap {
    /// A `<urlset>` (or a text sitemap): page URLs.
    Urls(Vec<SitemapEntry>),
    /// A `<sitemapindex>`: more sitemaps.
    Index(Vec<Url>),
}

/// Parse a sitemap body fetched from `base`.
pub(crate) fn parse(body: &[u8], base: &Url) -> Result<Sitemap, String> {
    let body = gunzip(body)?;
    let text = String::from_utf8_lossy(&body);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if !text.starts_with('<') {
        // A text sitemap: one absolute URL a line.
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| Url::parse(l).ok())
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| SitemapEntry { url, lastmod: None })
            .collect();
        return Ok(Sitemap::Urls(entries));
    }
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| format!("not valid XML: {e}"))?;
    let root = doc.root_element();
    let child_text = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    match root.tag_name().name() {
        "urlset" => {
            let entries = root
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "url")
                .filter_map(|n| {
                    let url = base.join(&child_text(n, "loc")?).ok()?;
                    Some(SitemapEntry { url, lastmod: child_text(n, "lastmod") })
                })
                .collect();
            Ok(Sitemap::Urls(entries))
        }
        "sitemapindex" => {
            let sitemaps = root
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "sitemap")
                .filter_map(|n| base.join(&child_text(n, "loc")?).ok())
                .collect();
            Ok(Sitemap::Index(sitemaps))
        }
        other => Err(format!("root element is <{other}>, not <urlset> or <sitemapindex>")),
    }
}

/// Decompress a gzip body (recognised by its magic bytes, whatever the headers
/// said); other bodies are returned as they are.
fn gunzip(body: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip data: {e}"))?;
    if out.len() > MAX_BYTES {
        return Err(format!("larger than {} MiB once decompressed", MAX_BYTES >> 20));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Read every sitemap of the scope's origin: `/sitemap.xml` and those robots.txt
/// names, and the sitemaps their indexes name, down to [`MAX_DEPTH`]. Returns the
/// page entries in the order found, each canonical URL once (first `<lastmod>`
/// wins). Sitemaps on other origins are ignored: the crawl never talks to another
/// host.
pub(crate) async fn discover(fetcher: &Fetcher, scope: &Scope, robots: &Robots) -> Vec<SitemapEntry> {
    let mut queue: std::collections::VecDeque<(Url, usize, bool)> = std::collections::VecDeque::new();
    for url in &robots.sitemaps {
        queue.push_back((url.clone(), 0, true));
    }
    if let Ok(default) = scope.root().join("/sitemap.xml") {
        queue.push_back((default, 0, false));
    }
    let mut visited = HashSet::new();
    let mut seen_pages = HashSet::new();
    let mut entries = Vec::new();
    let mut files = 0usize;
    while let Some((url, depth, named)) = queue.pop_front() {
        let key = canonicalize(&url);
        if !visited.insert(key.clone()) {
            continue;
        }
        if !scope.same_origin(&url) {
            debug!(sitemap = %key, "sitemap on another origin ignored");
            continue;
        }
        // A sitemap robots.txt names is allowed by definition; others are ordinary URLs.
        if !named && !robots.allowed(&url) {
            debug!(sitemap = %key, "sitemap disallowed by robots.txt");
            continue;
        }
        if files >= MAX_FILES {
            warn!(limit = MAX_FILES, "too many sitemap files; the rest are ignored");
            break;
        }
        files += 1;
        let resource = match fetcher.fetch_resource(&url, MAX_BYTES, false).await {
            Ok(r) => r,
            Err(ResourceError::Status(404 | 410)) if !named && depth == 0 => {
                debug!(sitemap = %key, "no /sitemap.xml");
                continue;
            }
            Err(e) => {
                warn!(sitemap = %key, error = %e, "sitemap unavailable; ignored");
                continue;
            }
        };
        match parse(&resource.body, &resource.url) {
            Ok(Sitemap::Urls(found)) => {
                debug!(sitemap = %key, urls = found.len(), "sitemap");
                for entry in found {
                    if seen_pages.insert(canonicalize(&entry.url)) {
                        entries.push(entry);
                    }
                }
            }
            Ok(Sitemap::Index(children)) => {
                debug!(sitemap = %key, sitemaps = children.len(), "sitemap index");
                if depth >= MAX_DEPTH {
                    warn!(sitemap = %key, "sitemap indexes nested too deep; this one is not followed");
                    continue;
                }
                for child in children {
                    queue.push_back((child, depth + 1, named));
                }
            }
            Err(e) => warn!(sitemap = %key, error = %e, "broken sitemap; ignored"),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn urlset_with_relative_and_absolute_locs() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> ../docs/a </loc><lastmod>2024-01-02</lastmod></url>
  <url><loc>https://x.test/docs/b</loc></url>
  <url><lastmod>2024-01-02</lastmod></url>
</urlset>"#;
        let parsed = parse(xml, &u("https://x.test/maps/docs.xml")).unwrap();
        assert_eq!(
            parsed,
            Sitemap::Urls(vec![
                SitemapEntry { url: u("https://x.test/docs/a"), lastmod: Some("2024-01-02".into()) },
                SitemapEntry { url: u("https://x.test/docs/b"), lastmod: None },
            ])
        );
    }

    #[test]
    fn index_and_errors() {
        let xml = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>/maps/a.xml</loc><lastmod>2024</lastmod></sitemap><sitemap><loc>b.xml.gz</loc></sitemap>
</sitemapindex>"#;
        let parsed = parse(xml, &u("https://x.test/maps/index.xml")).unwrap();
        assert_eq!(parsed, Sitemap::Index(vec![u("https://x.test/maps/a.xml"), u("https://x.test/maps/b.xml.gz")]));
        assert!(parse(b"<urlset><url>", &u("https://x.test/s.xml")).is_err());
        assert!(parse(b"<html></html>", &u("https://x.test/s.xml")).is_err());
    }

    #[test]
    fn gzip_and_text_sitemaps() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<urlset><url><loc>/a</loc></url></urlset>").unwrap();
        let body = gz.finish().unwrap();
        let parsed = parse(&body, &u("https://x.test/s.xml.gz")).unwrap();
        assert_eq!(parsed, Sitemap::Urls(vec![SitemapEntry { url: u("https://x.test/a"), lastmod: None }]));
        assert!(parse(&body[..body.len() / 2], &u("https://x.test/s.xml.gz")).is_err());
        let parsed =
            parse(b"\xef\xbb\xbfhttps://x.test/a\n\nnot a url\nhttps://x.test/b\n", &u("https://x.test/s.txt"))
                .unwrap();
        assert_eq!(
            parsed,
            Sitemap::Urls(vec![
                SitemapEntry { url: u("https://x.test/a"), lastmod: None },
                SitemapEntry { url: u("https://x.test/b"), lastmod: None },
            ])
        );
    }
}
