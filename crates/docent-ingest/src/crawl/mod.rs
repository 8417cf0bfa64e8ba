//! The HTTP site crawler: from a start URL to a stream of [`CrawlEvent`]s, one per
//! page, for the ingest pipeline.
//!
//! A crawl stays inside one scope (the start URL's origin and directory, see
//! [`CrawlOptions::scope`]), honours robots.txt, seeds itself from sitemaps, follows
//! links breadth-first up to [`CrawlOptions::max_depth`] hops, and is polite: at most
//! [`CrawlOptions::concurrency`] requests in flight, request starts on one host
//! spaced by [`CrawlOptions::per_host_delay`] (or robots.txt's `Crawl-delay`).
//! Re-crawls are cheap: pages whose sitemap `<lastmod>` did not change are not
//! fetched at all, the others are fetched conditionally (`If-None-Match` /
//! `If-Modified-Since`) from the [`PreviousFetch`] data the index kept.
//!
//! Useful for: ingesting a docs site. Not for: extraction (that is
//! [`crate::extract`]), or pages behind a login.
//!
//! ```no_run
//! use std::collections::HashMap;
//! use docent_ingest::crawl::{crawl, CrawlEvent, CrawlOptions};
//! # async fn run() -> Result<(), docent_ingest::crawl::CrawlError> {
//! let (tx, mut rx) = tokio::sync::mpsc::channel(32);
//! let consumer = tokio::spawn(async move {
//!     while let Some(event) = rx.recv().await {
//!         if let CrawlEvent::Fetched { page, .. } = event {
//!             println!("{}", page.url);
//!         }
//!     }
//! });
//! let options = CrawlOptions::default().with_max_pages(200);
//! let stats = crawl("https://help.example/docs/", &options, &HashMap::new(), tx).await?;
//! let _ = consumer.await;
//! println!("{} pages in {:?}", stats.fetched, stats.elapsed);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::RawPage;

mod fetch;
mod links;
mod politeness;
mod robots;
mod scheduler;
mod sitemap;
mod url_scope;

pub use url_scope::canonicalize;

/// How a crawl behaves. Defaults suit a docs site of up to a thousand pages; every
/// field has a `with_…` builder.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlOptions {
    /// Most pages reported (fetched + unchanged + skipped), so a crawl of a site
    /// bigger than expected ends. robots.txt and sitemap requests do not count.
    /// Default 1000.
    pub max_pages: usize,
    /// Most link hops from the start URL (sitemap URLs count as start URLs); 0 means
    /// the start URL(s) only. Default 8.
    pub max_depth: usize,
    /// Most requests in flight at once. Default 4; 0 is taken as 1.
    pub concurrency: usize,
    /// Least time between the starts of two requests to one host; robots.txt's
    /// `Crawl-delay` (up to 60 s) wins when longer. Default 50 ms.
    pub per_host_delay: Duration,
    /// Time limit of one request, body included. Default 20 s.
    pub timeout: Duration,
    /// Largest page body read; bigger pages are skipped without downloading the
    /// rest. Default 5 MiB.
    pub max_body_bytes: usize,
    /// Most redirects followed for one page. Default 10.
    pub max_redirects: usize,
    /// `User-Agent` header; its product token (before the `/`) is what robots.txt
    /// groups are matched against. Default `DocentBot/<version>`.
    pub user_agent: String,
    /// Seed the crawl from `/sitemap.xml` and robots.txt's `Sitemap:` lines.
    /// Default true.
    pub use_sitemap: bool,
    /// Obey robots.txt (`Disallow`, `Crawl-delay`). Default true; turn off only for a
    /// site you own.
    pub respect_robots: bool,
    /// Path prefix the crawl stays in (`/docs/`, or an absolute URL on the start
    /// URL's origin). Default: the start URL's path up to and including its last `/`.
    pub scope: Option<String>,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            max_pages: 1000,
            max_depth: 8,
            concurrency: 4,
            per_host_delay: Duration::from_millis(50),
            timeout: Duration::from_secs(20),
            max_body_bytes: 5 * 1024 * 1024,
            max_redirects: 10,
            user_agent: format!("DocentBot/{}", env!("CARGO_PKG_VERSION")),
            use_sitemap: true,
            respect_robots: true,
            scope: None,
        }
    }
}

impl CrawlOptions {
    /// Set [`CrawlOptions::max_pages`].
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// Set [`CrawlOptions::max_depth`].
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Set [`CrawlOptions::concurrency`].
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Set [`CrawlOptions::per_host_delay`].
    pub fn with_per_host_delay(mut self, delay: Duration) -> Self {
        self.per_host_delay = delay;
        self
    }

    /// Set [`CrawlOptions::timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set [`CrawlOptions::max_body_bytes`].
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// Set [`CrawlOptions::max_redirects`].
    pub fn with_max_redirects(mut self, max_redirects: usize) -> Self {
        self.max_redirects = max_redirects;
        self
    }

    /// Set [`CrawlOptions::user_agent`].
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Set [`CrawlOptions::use_sitemap`].
    pub fn with_sitemap(mut self, use_sitemap: bool) -> Self {
        self.use_sitemap = use_sitemap;
        self
    }

    /// Set [`CrawlOptions::respect_robots`].
    pub fn with_robots(mut self, respect_robots: bool) -> Self {
        self.respect_robots = respect_robots;
        self
    }

    /// Set [`CrawlOptions::scope`].
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

/// What the index remembers of a page from the last crawl, so that this crawl can
/// skip it (same sitemap `<lastmod>`), fetch it conditionally (`ETag`,
/// `Last-Modified`), and still follow its links when it did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousFetch {
    /// `ETag` of the last fetch, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified` of the last fetch, sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// Sitemap `<lastmod>` of the page at the last fetch.
    pub sitemap_lastmod: Option<String>,
    /// In-scope links of the page (canonical URLs), followed when the page is
    /// unchanged.
    pub links: Vec<String>,
}

/// One page's outcome, sent as soon as it is known.
#[derive(Debug, Clone)]
pub enum CrawlEvent {
    /// A page to extract and index.
    Fetched {
        /// The page; its `url` is canonical (after redirects and `rel=canonical`).
        page: RawPage,
        /// In-scope links found on the page, canonical, in document order; stored in
        /// the index as [`PreviousFetch::links`].
        links: Vec<String>,
        /// The sitemap's `<lastmod>` for the page, if a sitemap listed it.
        sitemap_lastmod: Option<String>,
    },
    /// The page did not change since the last crawl (`304 Not Modified`, or the same
    /// sitemap `<lastmod>`, in which case it was not requested at all); the index
    /// keeps what it has. Its previous links were still followed.
    Unchanged {
        /// Canonical URL of the page.
        url: String,
        /// The sitemap's `<lastmod>` for the page, if a sitemap listed it.
        sitemap_lastmod: Option<String>,
    },
    /// A URL that gave no page.
    Skipped {
        /// Canonical URL that was requested.
        url: String,
        /// Why it gave no page.
        reason: SkipReason,
    },
}

/// Why a URL gave no page. Shown to the person running the crawl, and in the
/// `--json` summary as `{"kind": "http_status", "detail": 404}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SkipReason {
    /// The server answered with this 4xx/5xx (or unusable 3xx) status.
    HttpStatus(u16),
    /// A redirect led back to a URL already in its chain.
    RedirectLoop,
    /// More than [`CrawlOptions::max_redirects`] redirects.
    TooManyRedirects,
    /// A redirect left the crawl's scope, to this URL (not followed).
    RedirectOffSite(String),
    /// The body is not HTML, Markdown or text; the media type as the server gave it.
    UnsupportedContentType(String),
    /// The body is bigger than [`CrawlOptions::max_body_bytes`].
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request took longer than [`CrawlOptions::timeout`].
    Timeout,
    /// The server could not be reached, or the connection broke.
    Network(String),
    /// robots.txt disallows the URL.
    RobotsDisallowed,
    /// The page is the same page as one already crawled (same URL after redirects
    /// or `rel=canonical`).
    Duplicate {
        /// Canonical URL of the page it duplicates.
        canonical: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::HttpStatus(code) => {
                let reason = reqwest::StatusCode::from_u16(*code).ok().and_then(|s| s.canonical_reason());
                match reason {
                    Some(reason) => write!(f, "HTTP {code} {reason}"),
                    None => write!(f, "HTTP {code}"),
                }
            }
            SkipReason::RedirectLoop => f.write_str("redirect loop"),
            SkipReason::TooManyRedirects => f.write_str("too many redirects"),
            SkipReason::RedirectOffSite(target) => write!(f, "redirects outside the crawl scope, to {target}"),
            SkipReason::UnsupportedContentType(mime) => write!(f, "unsupported content type {mime}"),
            SkipReason::TooLarge { limit } => write!(f, "larger than the {} limit", human_bytes(*limit)),
            SkipReason::Timeout => f.write_str("timed out"),
            SkipReason::Network(detail) => write!(f, "network error: {detail}"),
            SkipReason::RobotsDisallowed => f.write_str("disallowed by robots.txt"),
            SkipReason::Duplicate { canonical } => write!(f, "duplicate of {canonical}"),
        }
    }
}

fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} byte")
    }
}

/// Totals of one crawl, for the ingest summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlStats {
    /// [`CrawlEvent::Fetched`] events.
    pub fetched: usize,
    /// [`CrawlEvent::Unchanged`] events.
    pub unchanged: usize,
    /// [`CrawlEvent::Skipped`] events.
    pub skipped: usize,
    /// Distinct links found that point outside the scope (never fetched).
    pub out_of_scope_links: usize,
    /// Distinct in-scope page URLs the sitemaps listed.
    pub sitemap_urls: usize,
    /// URLs skipped because robots.txt disallows them.
    pub robots_disallowed: usize,
    /// Bytes of page bodies fetched.
    pub bytes: u64,
    /// Wall time of the crawl.
    pub elapsed: Duration,
}

/// Why a crawl could not start at all. Anything that goes wrong once it runs
/// (including an unreachable start URL) is a [`CrawlEvent::Skipped`] instead.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// The start URL is not an absolute http(s) URL.
    #[error("cannot crawl `{url}`: {detail}")]
    InvalidStartUrl {
        /// The start URL as given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// [`CrawlOptions::scope`] does not fit the start URL.
    #[error("bad crawl scope `{scope}`: {detail}")]
    InvalidScope {
        /// The scope as given.
        scope: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The HTTP client could not be built (TLS backend, bad user agent…).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Crawl the site at `start`, sending one event per page to `events` as pages are
/// done, and return the totals.
///
/// `previous` holds what the index knows of pages of this site by canonical URL
/// (see [`PreviousFetch`]); pass an empty map for a first crawl. Pages get
/// `RawPage::source = "site:<canonical start url>"`.
///
/// Fails only when nothing can be done (bad start URL or scope, no HTTP client). If
/// the receiver of `events` is dropped, the crawl stops and returns what it did.
pub async fn crawl(
    start: &str,
    options: &CrawlOptions,
    previous: &HashMap<String, PreviousFetch>,
    events: mpsc::Sender<CrawlEvent>,
) -> Result<CrawlStats, CrawlError> {
    scheduler::run(start, options, previous, events).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_reasons_read_well_and_serialize() {
        assert_eq!(SkipReason::HttpStatus(404).to_string(), "HTTP 404 Not Found");
        assert_eq!(SkipReason::HttpStatus(599).to_string(), "HTTP 599");
        assert_eq!(SkipReason::TooLarge { limit: 5 * 1024 * 1024 }.to_string(), "larger than the 5 MiB limit");
        assert_eq!(SkipReason::TooLarge { limit: 1000 }.to_string(), "larger than the 1000 byte limit");
        let json = serde_json::to_value(SkipReason::HttpStatus(500)).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "http_status", "detail": 500}));
        let json = serde_json::to_value(SkipReason::RobotsDisallowed).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "robots_disallowed"}));
        let json = serde_json::to_value(SkipReason::TooLarge { limit: 10 }).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "too_large", "detail": {"limit": 10}}));
    }

    #[test]
    fn options_builders() {
        let o = CrawlOptions::default().with_max_pages(5).with_scope("/docs/").with_robots(false);
        assert_eq!((o.max_pages, o.scope.as_deref(), o.respect_robots), (5, Some("/docs/"), false));
        assert!(o.user_agent.starts_with("DocentBot/"));
    }
}
