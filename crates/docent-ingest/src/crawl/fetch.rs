//! HTTP for the crawler: one GET with politeness, one retry for transient failures,
//! redirects followed by hand (so loops, the redirect cap and redirects leaving the
//! scope are visible), conditional requests, the content-type gate and the body cap.
//!
//! Every failure comes back as a [`SkipReason`]; nothing here panics on what a
//! server sends.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use tracing::debug;
use url::Url;

use super::politeness::Politeness;
use super::robots::Robots;
use super::url_scope::{canonicalize, is_http, Scope};
use super::{CrawlError, CrawlOptions, SkipReason};
use crate::ContentKind;

/// What the `Accept` header asks for on page requests.
const ACCEPT_PAGES: &str = "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.8,*/*;q=0.1";

/// Shortest pause before the single retry of a transient failure.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Longest `Retry-After` we wait before the retry.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// Validators of an earlier fetch of a page, sent as a conditional GET.
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

/// A page body that passed every check.
#[derive(Debug)]
pub(crate) struct FetchedBody {
    /// URL after redirects.
    pub(crate) url: Url,
    pub(crate) kind: ContentKind,
    pub(crate) charset: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

/// Result of fetching one page, redirects included.
#[derive(Debug)]
pub(crate) enum PageFetch {
    /// A body of a supported kind.
    Page(FetchedBody),
    /// `304 Not Modified` at this (post-redirect) URL.
    NotModified { url: Url },
    /// A redirect to an http(s) URL outside the scope; `chain` holds the canonical
    /// URLs requested so far, so the caller can go on from there if it wants to.
    OffScope { target: Url, chain: Vec<String> },
    /// Nothing to index.
    Skip(SkipReason),
}

/// A robots.txt or sitemap body.
#[derive(Debug)]
pub(crate) struct Resource {
    pub(crate) url: Url,
    pub(crate) body: Vec<u8>,
}

/// Why a robots.txt or sitemap could not be had.
#[derive(Debug)]
pub(crate) enum ResourceError {
    /// The server answered with this non-success status.
    Status(u16),
    /// Anything else, as a short message.
    Failed(String),
}

impl std::fmt::Display for ResourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResourceError::Status(code) => write!(f, "{}", SkipReason::HttpStatus(*code)),
            ResourceError::Failed(msg) => f.write_str(msg),
        }
    }
}

/// The crawler's HTTP client with its limits.
#[derive(Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    politeness: Politeness,
    max_body_bytes: usize,
    max_redirects: usize,
    validators: HashMap<String, Validators>,
}

impl Fetcher {
    /// A client for `options`; `validators` are the conditional-GET headers of
    /// earlier fetches by canonical URL.
    pub(crate) fn new(options: &CrawlOptions, validators: HashMap<String, Validators>) -> Result<Self, CrawlError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(|e| CrawlError::Client(error_message(&e)))?;
        Ok(Fetcher {
            client,
            politeness: Politeness::new(options.per_host_delay),
            max_body_bytes: options.max_body_bytes,
            max_redirects: options.max_redirects,
            validators,
        })
    }

    /// The per-host spacing, for robots.txt `Crawl-delay`.
    pub(crate) fn politeness(&self) -> &Politeness {
        &self.politeness
    }

    /// One GET (after waiting for the host's turn), retried once after a pause on a
    /// connection failure, `429` or `502`/`503`/`504`.
    async fn send(&self, url: &Url, accept: &str, validators: Option<&Validators>) -> Result<Response, SkipReason> {
        let mut retried = false;
        loop {
            self.politeness.wait_turn(url).await;
            let mut request = self.client.get(url.clone()).header(header::ACCEPT, accept);
            if let Some(v) = validators {
                if let Some(etag) = &v.etag {
                    request = request.header(header::IF_NONE_MATCH, etag.as_str());
                }
                if let Some(date) = &v.last_modified {
                    request = request.header(header::IF_MODIFIED_SINCE, date.as_str());
                }
            }
            match request.send().await {
                Ok(response) if !retried && is_transient(response.status()) => {
                    let pause = retry_after(response.headers()).unwrap_or(MIN_RETRY_PAUSE);
                    debug!(url = %url, status = response.status().as_u16(), ?pause, "transient status, retrying once");
                    drop(response);
                    retried = true;
                    tokio::time::sleep(pause).await;
                }
                Ok(response) => return Ok(response),
                Err(e) if !retried && e.is_connect() && !e.is_timeout() => {
                    debug!(url = %url, error = %error_message(&e), "connection failed, retrying once");
                    retried = true;
                    tokio::time::sleep(MIN_RETRY_PAUSE).await;
                }
                Err(e) => return Err(skip_reason(&e)),
            }
        }
    }

    /// Fetch a page at `url`, following redirects that stay in `scope` and are
    /// allowed by `robots`. `chain` holds the canonical URLs already requested on the
    /// way here (empty for a fresh fetch).
    pub(crate) async fn fetch_page(
        &self,
        url: Url,
        mut chain: Vec<String>,
        scope: &Scope,
        robots: &Robots,
    ) -> PageFetch {
        let mut current = url;
        if chain.last() != Some(&canonicalize(&current)) {
            chain.push(canonicalize(&current));
        }
        loop {
            let key = canonicalize(&current);
            let validators = self.validators.get(&key);
            let response = match self.send(&current, ACCEPT_PAGES, validators).await {
                Ok(r) => r,
                Err(reason) => {
                    debug!(url = %key, %reason, "fetch failed");
                    return PageFetch::Skip(reason);
                }
            };
            let status = response.status();
            debug!(url = %key, status = status.as_u16(), "fetched");
            if is_redirect(status) {
                let target = match redirect_target(&current, status, response.headers()) {
                    Ok(t) => t,
                    Err(reason) => return PageFetch::Skip(reason),
                };
                drop(response);
                let target_key = canonicalize(&target);
                if chain.contains(&target_key) {
                    return PageFetch::Skip(SkipReason::RedirectLoop);
                }
                if !is_http(&target) {
                    return PageFetch::Skip(SkipReason::RedirectOffSite(target_key));
                }
                if !scope.contains(&target) {
                    return PageFetch::OffScope { target, chain };
                }
                if chain.len() > self.max_redirects {
                    return PageFetch::Skip(SkipReason::TooManyRedirects);
                }
                if !robots.allowed(&target) {
                    return PageFetch::Skip(SkipReason::RobotsDisallowed);
                }
                chain.push(target_key);
                current = target;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED && validators.is_some() {
                return PageFetch::NotModified { url: current };
            }
            if !status.is_success() {
                return PageFetch::Skip(SkipReason::HttpStatus(status.as_u16()));
            }
            let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let (kind, charset) = match classify_content(content_type, &current) {
                Ok(found) => found,
                Err(mime) => return PageFetch::Skip(SkipReason::UnsupportedContentType(mime)),
            };
            let etag = header_string(response.headers(), header::ETAG);
            let last_modified = header_string(response.headers(), header::LAST_MODIFIED);
            return match read_body(response, self.max_body_bytes).await {
                Ok(body) => PageFetch::Page(FetchedBody { url: current, kind, charset, body, etag, last_modified }),
                Err(reason) => PageFetch::Skip(reason),
            };
        }
    }

    /// Fetch a robots.txt or sitemap body of at most `limit` bytes, following up to
    /// five redirects (onto other origins only when `cross_origin`).
    pub(crate) async fn fetch_resource(
        &self,
        url: &Url,
        limit: usize,
        cross_origin: bool,
    ) -> Result<Resource, ResourceError> {
        let mut current = url.clone();
        let mut chain = vec![canonicalize(url)];
        loop {
            let response = self.send(&current, "*/*", None).await.map_err(|r| ResourceError::Failed(r.to_string()))?;
            let status = response.status();
            debug!(url = %current, status = status.as_u16(), "fetched resource");
            if is_redirect(status) {
                let target = redirect_target(&current, status, response.headers())
                    .map_err(|r| ResourceError::Failed(r.to_string()))?;
                let key = canonicalize(&target);
                if !is_http(&target) || (!cross_origin && target.origin() != url.origin()) {
                    return Err(ResourceError::Failed(format!("redirects to another site ({key})")));
                }
                if chain.contains(&key) {
                    return Err(ResourceError::Failed(SkipReason::RedirectLoop.to_string()));
                }
                if chain.len() > 5 {
                    return Err(ResourceError::Failed(SkipReason::TooManyRedirects.to_string()));
                }
                chain.push(key);
                current = target;
                continue;
            }
            if !status.is_success() {
                return Err(ResourceError::Status(status.as_u16()));
            }
            let body = read_body(response, limit).await.map_err(|r| ResourceError::Failed(r.to_string()))?;
            return Ok(Resource { url: current, body });
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` in seconds, bounded; dates are ignored (the short default applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).clamp(MIN_RETRY_PAUSE, MAX_RETRY_PAUSE))
}

/// Where a redirect points; a redirect without a `Location` is an unusable status.
fn redirect_target(current: &Url, status: StatusCode, headers: &HeaderMap) -> Result<Url, SkipReason> {
    let location = headers.get(header::LOCATION).ok_or(SkipReason::HttpStatus(status.as_u16()))?;
    let location = String::from_utf8_lossy(location.as_bytes());
    current.join(location.trim()).map_err(|e| SkipReason::Network(format!("bad redirect Location `{location}`: {e}")))
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Read at most `limit` bytes of body: a `Content-Length` above it is refused before
/// reading, a body that grows past it while streaming is abandoned (the connection
/// is dropped, the rest is never downloaded). Counts decoded bytes, so compressed
/// bombs are caught too.
async fn read_body(mut response: Response, limit: usize) -> Result<Vec<u8>, SkipReason> {
    let declared = header_string(response.headers(), header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(SkipReason::TooLarge { limit });
    }
    let capacity = declared.map_or(0, |len| len as usize).min(limit).min(1 << 20);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await.map_err(|e| skip_reason(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(SkipReason::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Document kind and charset from a `Content-Type` (and, for `text/plain` or a
/// missing header, the URL's extension). `Err` carries the media type for the
/// skip message.
pub(crate) fn classify_content(content_type: Option<&str>, url: &Url) -> Result<(ContentKind, Option<String>), String> {
    let path = url.path().to_ascii_lowercase();
    let is_md = path.ends_with(".md") || path.ends_with(".markdown");
    let Some(content_type) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        // No header: trust an unambiguous extension, nothing else.
        return if is_md {
            Ok((ContentKind::Markdown, None))
        } else if path.ends_with('/') || path.ends_with(".html") || path.ends_with(".htm") {
            Ok((ContentKind::Html, None))
        } else if path.ends_with(".txt") {
            Ok((ContentKind::Text, None))
        } else {
            Err("(none)".to_string())
        };
    };
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then(|| value.to_string())
    });
    let kind = match mime.as_str() {
        "text/html" | "application/xhtml+xml" => ContentKind::Html,
        "text/markdown" | "text/x-markdown" => ContentKind::Markdown,
        "text/plain" if is_md => ContentKind::Markdown,
        "text/plain" => ContentKind::Text,
        _ => return Err(mime),
    };
    Ok((kind, charset))
}

/// The skip reason of a transport error.
fn skip_reason(e: &reqwest::Error) -> SkipReason {
    if e.is_timeout() {
        SkipReason::Timeout
    } else {
        SkipReason::Network(error_message(e))
    }
}

/// A short message for a transport error: its innermost cause ("Connection refused
/// (os error 111)"), which is what a person needs, rather than reqwest's wrapper
/// chain.
pub(crate) fn error_message(e: &reqwest::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(source) = inner.source() {
        inner = source;
    }
    let message = inner.to_string();
    if e.is_connect() && !message.to_ascii_lowercase().contains("connect") {
        format!("connection failed: {message}")
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn content_types() {
        let page = u("https://x.test/docs/page");
        assert_eq!(classify_content(Some("text/html"), &page), Ok((ContentKind::Html, None)));
        assert_eq!(
            classify_content(Some("text/html; charset=\"ISO-8859-1\""), &page),
            Ok((ContentKind::Html, Some("ISO-8859-1".into())))
        );
        assert_eq!(classify_content(Some("Application/XHTML+XML"), &page), Ok((ContentKind::Html, None)));
        assert_eq!(
            classify_content(Some("text/markdown; charset=utf-8"), &page).map(|r| r.0),
            Ok(ContentKind::Markdown)
        );
        assert_eq!(classify_content(Some("text/x-markdown"), &page).map(|r| r.0), Ok(ContentKind::Markdown));
        assert_eq!(classify_content(Some("text/plain"), &page).map(|r| r.0), Ok(ContentKind::Text));
        assert_eq!(
            classify_content(Some("text/plain"), &u("https://x.test/a.MD")).map(|r| r.0),
            Ok(ContentKind::Markdown)
        );
        assert_eq!(classify_content(Some("image/png"), &page), Err("image/png".into()));
        assert_eq!(classify_content(Some("application/octet-stream"), &page), Err("application/octet-stream".into()));
        assert_eq!(classify_content(None, &u("https://x.test/a/")).map(|r| r.0), Ok(ContentKind::Html));
        assert_eq!(classify_content(None, &page), Err("(none)".into()));
    }

    #[test]
    fn redirect_targets() {
        let here = u("https://x.test/docs/a");
        let mut h = HeaderMap::new();
        assert_eq!(redirect_target(&here, StatusCode::FOUND, &h), Err(SkipReason::HttpStatus(302)));
        h.insert(header::LOCATION, HeaderValue::from_static(" ../b#frag "));
        assert_eq!(redirect_target(&here, StatusCode::FOUND, &h), Ok(u("https://x.test/b#frag")));
        h.insert(header::LOCATION, HeaderValue::from_static("http://[::1"));
        assert!(matches!(redirect_target(&here, StatusCode::FOUND, &h), Err(SkipReason::Network(_))));
    }

    #[test]
    fn retry_after_is_bounded() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_PAUSE));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), None);
    }
}
