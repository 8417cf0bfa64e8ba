//! The crawler against real HTTP: small axum sites served in-process on
//! 127.0.0.1, which log every request they get (path, time, headers, requests in
//! flight), so the tests can assert both what the crawler reported and what it
//! actually asked for.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Router;
use docent_ingest::crawl::{crawl, CrawlError, CrawlEvent, CrawlOptions, CrawlStats, PreviousFetch, SkipReason};
use docent_ingest::ContentKind;

// ---------------------------------------------------------------------------
// Test server
// ---------------------------------------------------------------------------

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    at: Instant,
    if_none_match: Option<String>,
    user_agent: Option<String>,
}

#[derive(Default)]
struct Log {
    hits: Mutex<Vec<Hit>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// What a route answers.
enum Reply {
    Html(String),
    Typed(&'static str, Vec<u8>),
    Status(u16),
    Redirect(u16, String),
    /// A chunked body without Content-Length: `chunks` × `size` bytes of HTML.
    Stream {
        chunks: usize,
        size: usize,
    },
    Raw {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// The inner reply, after a pause (a slow server).
    Later(Duration, Box<Reply>),
}

/// What a route sees of a request.
struct Req<'a> {
    path: &'a str,
    headers: &'a HeaderMap,
    /// `http://127.0.0.1:PORT` of this server.
    base: &'a str,
    /// Base of the other server of the test, if any.
    other: &'a str,
    /// Requests for this path so far, this one included.
    nth: usize,
}

type Routes = fn(&Req<'_>) -> Reply;

struct App {
    base: String,
    other: String,
    routes: Routes,
    log: Log,
}

struct Server {
    app: Arc<App>,
}

impl Server {
    async fn start(routes: Routes, other: Option<&Server>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Arc::new(App {
            base: format!("http://{addr}"),
            other: other.map(|o| o.app.base.clone()).unwrap_or_default(),
            routes,
            log: Log::default(),
        });
        let router = Router::new().fallback(handle).with_state(app.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Server { app }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.app.base, path)
    }

    fn hits(&self) -> Vec<Hit> {
        self.app.log.hits.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| h.path == path).count()
    }

    fn max_in_flight(&self) -> usize {
        self.app.log.max_in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let at = Instant::now();
    let path = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let headers = request.headers().clone();
    let header_string = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let nth = {
        let mut hits = app.log.hits.lock().unwrap();
        hits.push(Hit {
            path: path.clone(),
            at,
            if_none_match: header_string(header::IF_NONE_MATCH),
            user_agent: header_string(header::USER_AGENT),
        });
        hits.iter().filter(|h| h.path == path).count()
    };
    let now = app.log.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    app.log.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(&app.log.in_flight);
    let req = Req { path: &path, headers: &headers, base: &app.base, other: &app.other, nth };
    let mut reply = (app.routes)(&req);
    while let Reply::Later(pause, inner) = reply {
        tokio::time::sleep(pause).await;
        reply = *inner;
    }
    into_response(reply)
}

fn into_response(reply: Reply) -> Response {
    let builder = Response::builder();
    match reply {
        Reply::Html(html) => builder.header(header::CONTENT_TYPE, "text/html; charset=utf-8").body(Body::from(html)),
        Reply::Typed(content_type, body) => builder.header(header::CONTENT_TYPE, content_type).body(Body::from(body)),
        Reply::Status(code) => builder.status(code).header(header::CONTENT_TYPE, "text/html").body(Body::from("error")),
        Reply::Redirect(code, location) => builder.status(code).header(header::LOCATION, location).body(Body::empty()),
        Reply::Stream { chunks, size } => {
            let stream =
                futures::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size]))));
            builder.header(header::CONTENT_TYPE, "text/html").body(Body::from_stream(stream))
        }
        Reply::Raw { status, headers, body } => {
            let mut builder = builder.status(status);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(body))
        }
        Reply::Later(..) => unreachable!("unwrapped by the handler"),
    }
    .unwrap()
}

fn page(title: &str, links: &[&str]) -> Reply {
    Reply::Html(page_html(title, links, ""))
}

fn page_html(title: &str, links: &[&str], head: &str) -> String {
    let links: String = links.iter().map(|l| format!("<li><a href=\"{l}\">{l}</a></li>\n")).collect();
    format!("<!doctype html><html><head><title>{title}</title>{head}</head><body><h1>{title}</h1><ul>\n{links}</ul></body></html>")
}

// ---------------------------------------------------------------------------
// Running a crawl
// ---------------------------------------------------------------------------

async fn run(
    start: &str,
    options: &CrawlOptions,
    previous: &HashMap<String, PreviousFetch>,
) -> (CrawlStats, Vec<CrawlEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            events.push(event);
        }
        events
    });
    let stats = crawl(start, options, previous, tx).await.expect("crawl runs");
    let events = collector.await.unwrap();
    (stats, events)
}

/// What happened to one URL, for exact comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Fetched(ContentKind),
    Unchanged,
    Skipped(SkipReason),
}

/// Outcome per URL (with `base` stripped), asserting that no URL was reported twice.
fn outcomes(events: &[CrawlEvent], base: &str) -> BTreeMap<String, Outcome> {
    let mut map = BTreeMap::new();
    for event in events {
        let (url, outcome) = match event {
            CrawlEvent::Fetched { page, .. } => (&page.url, Outcome::Fetched(page.kind)),
            CrawlEvent::Unchanged { url, .. } => (url, Outcome::Unchanged),
            CrawlEvent::Skipped { url, reason } => (url, Outcome::Skipped(reason.clone())),
        };
        let key = url.strip_prefix(base).unwrap_or(url).to_string();
        assert!(map.insert(key.clone(), outcome).is_none(), "{key} reported twice");
    }
    map
}

fn fetched<'a>(events: &'a [CrawlEvent], url: &str) -> (&'a docent_ingest::RawPage, &'a [String], Option<&'a str>) {
    events
        .iter()
        .find_map(|e| match e {
            CrawlEvent::Fetched { page, links, sitemap_lastmod } if page.url == url => {
                Some((page, links.as_slice(), sitemap_lastmod.as_deref()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{url} was not fetched"))
}

fn quick() -> CrawlOptions {
    CrawlOptions::default().with_per_host_delay(Duration::ZERO).with_timeout(Duration::from_secs(5))
}

/// Timing tests measure; they should not share the two cores with each other.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------
// The docs site
// ---------------------------------------------------------------------------

const HUGE: usize = 64 * 1024;
const BODY_LIMIT: usize = 16 * 1024;

fn offsite(req: &Req<'_>) -> Reply {
    page(&format!("off-site {}", req.path), &[])
}

fn docs_site(req: &Req<'_>) -> Reply {
    let (base, other) = (req.base, req.other);
    match req.path {
        "/robots.txt" => Reply::Typed(
            "text/plain",
            format!("User-agent: *\nDisallow: /docs/private/\n\nSitemap: {base}/sitemap_index.xml\n").into_bytes(),
        ),
        "/sitemap_index.xml" => Reply::Typed(
            "application/xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{base}/maps/docs.xml</loc></sitemap>
  <sitemap><loc>/maps/broken.xml</loc></sitemap>
  <sitemap><loc>{other}/sitemap.xml</loc></sitemap>
</sitemapindex>"#
            )
            .into_bytes(),
        ),
        "/maps/docs.xml" => Reply::Typed(
            "text/xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>../docs/sitemap-only</loc><lastmod>2024-05-01</lastmod></url>
  <url><loc>{base}/docs/etag</loc></url>
  <url><loc>{base}/docs/guide</loc><lastmod>2024-05-02</lastmod></url>
  <url><loc>/blog/post</loc><lastmod>2024-05-03</lastmod></url>
</urlset>"#
            )
            .into_bytes(),
        ),
        "/maps/broken.xml" => Reply::Typed("application/xml", b"<urlset><url><loc>".to_vec()),
        "/docs/" => page(
            "Docs",
            &[
                "guide",
                "guide#install",
                "old",
                "a",
                "r/1",
                "missing",
                "error",
                "file.bin",
                "logo.png",
                "huge",
                "huge-stream",
                "private/secret",
                &format!("{other}/page"),
                "/blog/",
                "mailto:docs@example.test",
                "javascript:void(0)",
                "notes.md",
                "readme.txt",
                "plain.md",
                "slow",
                "flaky",
                "escape",
                "latin1",
            ],
        )
        .with_extra_link("<a rel=\"nofollow\" href=\"nofollowed\">nofollow</a>"),
        "/docs/guide" | "/docs/guide?ref=nav" => Reply::Html(page_html(
            "Guide",
            &["guide?ref=nav", "#top", "/docs/"],
            &format!("<link rel=\"canonical\" href=\"{base}/docs/guide\">"),
        )),
        "/docs/old" => Reply::Redirect(301, "/docs/older".into()),
        "/docs/older" => Reply::Redirect(302, "moved".into()),
        "/docs/moved" => page("Moved", &["old"]),
        "/docs/a" => Reply::Redirect(302, "/docs/b".into()),
        "/docs/b" => Reply::Redirect(307, format!("{base}/docs/a")),
        p if p.starts_with("/docs/r/") => {
            let n: usize = p["/docs/r/".len()..].parse().unwrap_or(0);
            Reply::Redirect(302, format!("/docs/r/{}", n + 1))
        }
        "/docs/missing" => Reply::Status(404),
        "/docs/error" => Reply::Status(500),
        "/docs/file.bin" => Reply::Typed("application/octet-stream", vec![0u8; 4096]),
        "/docs/logo.png" => Reply::Typed("image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
        "/docs/huge" => Reply::Html("x".repeat(HUGE)),
        "/docs/huge-stream" => Reply::Stream { chunks: 16, size: 4096 },
        "/docs/notes.md" => {
            Reply::Typed("text/markdown; charset=utf-8", b"# Notes\n\nSee [the guide](guide).\n".to_vec())
        }
        "/docs/readme.txt" => Reply::Typed("text/plain", b"read me".to_vec()),
        "/docs/plain.md" => Reply::Typed("text/plain; charset=utf-8", b"# Plain\n".to_vec()),
        "/docs/slow" => Reply::Later(Duration::from_secs(10), Box::new(page("Slow", &[]))),
        "/docs/flaky" if req.nth == 1 => Reply::Status(503),
        "/docs/flaky" => page("Flaky", &[]),
        "/docs/escape" => Reply::Redirect(302, format!("{other}/landing")),
        "/docs/latin1" => Reply::Typed("text/html; charset=ISO-8859-1", b"<title>Caf\xe9</title>".to_vec()),
        "/docs/etag" => {
            let etag = "\"v1\"".to_string();
            let matches = req.headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
            if matches {
                Reply::Raw { status: 304, headers: vec![("etag", etag)], body: Vec::new() }
            } else {
                let body = page_html("ETag", &["etag-child"], "").into_bytes();
                Reply::Raw { status: 200, headers: vec![("content-type", "text/html".into()), ("etag", etag)], body }
            }
        }
        "/docs/etag-child" => page("ETag child", &[]),
        "/docs/sitemap-only" => page("Sitemap only", &["lastmod-child"]),
        "/docs/lastmod-child" => page("Lastmod child", &[]),
        "/docs/private/secret" | "/docs/nofollowed" | "/blog/" | "/blog/post" => page("Must not be fetched", &[]),
        _ => Reply::Status(404),
    }
}

impl Reply {
    fn with_extra_link(self, html: &str) -> Reply {
        match self {
            Reply::Html(page) => Reply::Html(page.replace("</ul>", &format!("{html}</ul>"))),
            other => other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawls_a_docs_site_and_recrawls_it_conditionally() {
    let off = Server::start(offsite, None).await;
    let site = Server::start(docs_site, Some(&off)).await;
    let base = site.app.base.clone();
    let start = site.url("/docs/");
    let options = quick()
        .with_concurrency(4)
        .with_max_body_bytes(BODY_LIMIT)
        .with_max_redirects(3)
        .with_timeout(Duration::from_secs(1));

    let began = Instant::now();
    let (stats, events) = run(&start, &options, &HashMap::new()).await;
    let first_crawl = began.elapsed();

    use Outcome::*;
    let expected: BTreeMap<String, Outcome> = [
        ("/docs/", Fetched(ContentKind::Html)),
        ("/docs/guide", Fetched(ContentKind::Html)),
        ("/docs/guide?ref=nav", Skipped(SkipReason::Duplicate { canonical: format!("{base}/docs/guide") })),
        ("/docs/moved", Fetched(ContentKind::Html)),
        ("/docs/a", Skipped(SkipReason::RedirectLoop)),
        ("/docs/r/1", Skipped(SkipReason::TooManyRedirects)),
        ("/docs/missing", Skipped(SkipReason::HttpStatus(404))),
        ("/docs/error", Skipped(SkipReason::HttpStatus(500))),
        ("/docs/file.bin", Skipped(SkipReason::UnsupportedContentType("application/octet-stream".into()))),
        ("/docs/logo.png", Skipped(SkipReason::UnsupportedContentType("image/png".into()))),
        ("/docs/huge", Skipped(SkipReason::TooLarge { limit: BODY_LIMIT })),
        ("/docs/huge-stream", Skipped(SkipReason::TooLarge { limit: BODY_LIMIT })),
        ("/docs/private/secret", Skipped(SkipReason::RobotsDisallowed)),
        ("/docs/notes.md", Fetched(ContentKind::Markdown)),
        ("/docs/readme.txt", Fetched(ContentKind::Text)),
        ("/docs/plain.md", Fetched(ContentKind::Markdown)),
        ("/docs/slow", Skipped(SkipReason::Timeout)),
        ("/docs/flaky", Fetched(ContentKind::Html)),
        ("/docs/escape", Skipped(SkipReason::RedirectOffSite(off.url("/landing")))),
        ("/docs/latin1", Fetched(ContentKind::Html)),
        ("/docs/etag", Fetched(ContentKind::Html)),
        ("/docs/etag-child", Fetched(ContentKind::Html)),
        ("/docs/sitemap-only", Fetched(ContentKind::Html)),
        ("/docs/lastmod-child", Fetched(ContentKind::Html)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(outcomes(&events, &base), expected);

    let fetched_bytes: u64 = events
        .iter()
        .filter_map(|e| match e {
            CrawlEvent::Fetched { page, .. } => Some(page.body.len() as u64),
            _ => None,
        })
        .sum();
    assert_eq!(
        stats,
        CrawlStats {
            fetched: 12,
            unchanged: 0,
            skipped: 12,
            out_of_scope_links: 2, // the off-site page and /blog/
            sitemap_urls: 3,
            robots_disallowed: 1,
            bytes: fetched_bytes,
            elapsed: stats.elapsed,
        }
    );

    // Pages as the pipeline gets them.
    let (index, index_links, _) = fetched(&events, &start);
    assert_eq!(index.source, format!("site:{start}"));
    assert!(index.path.is_none());
    let guide = site.url("/docs/guide");
    assert_eq!(index_links.iter().filter(|l| **l == guide).count(), 1, "fragment link deduped: {index_links:?}");
    for link in index_links {
        assert!(link.starts_with(&site.url("/docs/")), "only in-scope links are reported: {link}");
        assert!(!link.contains('#'));
    }
    assert!(!index_links.contains(&site.url("/docs/nofollowed")));
    let (guide_page, guide_links, guide_lastmod) = fetched(&events, &guide);
    assert_eq!(guide_links, [site.url("/docs/guide?ref=nav"), site.url("/docs/")]);
    assert_eq!(guide_lastmod, Some("2024-05-02"));
    assert_eq!(guide_page.charset.as_deref(), Some("utf-8"));
    assert_eq!(fetched(&events, &site.url("/docs/sitemap-only")).2, Some("2024-05-01"));
    assert_eq!(fetched(&events, &site.url("/docs/latin1")).0.charset.as_deref(), Some("ISO-8859-1"));
    assert_eq!(fetched(&events, &site.url("/docs/etag")).0.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        fetched(&events, &site.url("/docs/notes.md")).1,
        std::slice::from_ref(&guide),
        "Markdown links are followed"
    );
    assert_eq!(fetched(&events, &site.url("/docs/readme.txt")).0.body, b"read me");

    // What the server saw.
    assert!(off.hits().is_empty(), "the off-site server got requests: {:?}", off.hits());
    for never in ["/docs/private/secret", "/docs/nofollowed", "/blog/", "/blog/post"] {
        assert_eq!(site.count(never), 0, "{never} must not be requested");
    }
    for once in ["/robots.txt", "/sitemap.xml", "/sitemap_index.xml", "/maps/docs.xml", "/maps/broken.xml"] {
        assert_eq!(site.count(once), 1, "{once} requested once");
    }
    for path in
        ["/docs/", "/docs/guide", "/docs/guide?ref=nav", "/docs/old", "/docs/moved", "/docs/error", "/docs/etag"]
    {
        assert_eq!(site.count(path), 1, "{path} requested once");
    }
    assert_eq!(site.count("/docs/flaky"), 2, "a 503 is retried once");
    assert_eq!(site.count("/docs/a") + site.count("/docs/b"), 2, "a loop is stopped at the first repeat");
    let chain: Vec<usize> = (1..=5).map(|n| site.count(&format!("/docs/r/{n}"))).collect();
    assert_eq!(chain, [1, 1, 1, 1, 0], "max_redirects = 3: three redirects followed, the fourth refused");
    assert!(site.hits().iter().all(|h| h.user_agent.as_deref().is_some_and(|ua| ua.starts_with("DocentBot/"))));

    // Second crawl with what the index would have kept.
    let previous: HashMap<String, PreviousFetch> = events
        .iter()
        .filter_map(|e| match e {
            CrawlEvent::Fetched { page, links, sitemap_lastmod } => Some((
                page.url.clone(),
                PreviousFetch {
                    etag: page.etag.clone(),
                    last_modified: page.last_modified.clone(),
                    sitemap_lastmod: sitemap_lastmod.clone(),
                    links: links.clone(),
                },
            )),
            _ => None,
        })
        .collect();
    let hits_before = site.hits().len();
    let (stats2, events2) = run(&start, &options, &previous).await;
    let second = outcomes(&events2, &base);
    let mut expected2 = expected.clone();
    for unchanged in ["/docs/etag", "/docs/sitemap-only", "/docs/guide"] {
        expected2.insert(unchanged.into(), Unchanged);
    }
    assert_eq!(second, expected2, "304 and equal sitemap lastmod are Unchanged; their links are still followed");
    assert_eq!((stats2.fetched, stats2.unchanged, stats2.skipped), (9, 3, 12));
    let unchanged_lastmods: BTreeMap<&str, Option<&str>> = events2
        .iter()
        .filter_map(|e| match e {
            CrawlEvent::Unchanged { url, sitemap_lastmod } => {
                Some((url.strip_prefix(&base).unwrap_or(url), sitemap_lastmod.as_deref()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        unchanged_lastmods,
        BTreeMap::from([
            ("/docs/etag", None),
            ("/docs/guide", Some("2024-05-02")),
            ("/docs/sitemap-only", Some("2024-05-01"))
        ])
    );
    let second_hits: Vec<Hit> = site.hits().into_iter().skip(hits_before).collect();
    let count2 = |path: &str| second_hits.iter().filter(|h| h.path == path).count();
    assert_eq!(count2("/docs/sitemap-only"), 0, "same sitemap lastmod: not requested");
    assert_eq!(count2("/docs/guide"), 0, "same sitemap lastmod: not requested");
    assert_eq!(count2("/docs/lastmod-child"), 1, "links of a lastmod-unchanged page are followed");
    assert_eq!(count2("/docs/etag-child"), 1, "links of a 304 page are followed");
    let etag_hits: Vec<&Hit> = second_hits.iter().filter(|h| h.path == "/docs/etag").collect();
    assert_eq!(etag_hits.len(), 1);
    assert_eq!(etag_hits[0].if_none_match.as_deref(), Some("\"v1\""), "conditional GET");
    assert!(off.hits().is_empty());
    eprintln!("first crawl took {first_crawl:?}");
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

fn limits_site(req: &Req<'_>) -> Reply {
    let path = req.path;
    if path == "/l/" {
        let links: Vec<String> = (1..=10).map(|n| format!("p{n}")).collect();
        let links: Vec<&str> = links.iter().map(String::as_str).collect();
        return page("Limits", &links);
    }
    if let Some(n) = path.strip_prefix("/deep/") {
        let n: usize = n.parse().unwrap_or(0);
        return page(&format!("Deep {n}"), &[&format!("{}", n + 1)]);
    }
    if path.starts_with("/l/p") {
        return page(path, &[]);
    }
    Reply::Status(404)
}

/// Requests for pages (not robots.txt or sitemaps).
fn page_hits(server: &Server) -> Vec<String> {
    server.hits().into_iter().map(|h| h.path).filter(|p| p != "/robots.txt" && p != "/sitemap.xml").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_pages_counts_every_reported_page() {
    let site = Server::start(limits_site, None).await;
    let (stats, events) = run(&site.url("/l/"), &quick().with_max_pages(4).with_concurrency(4), &HashMap::new()).await;
    assert_eq!(events.len(), 4);
    assert_eq!(stats.fetched + stats.unchanged + stats.skipped, 4);
    assert_eq!(page_hits(&site).len(), 4, "no request beyond the budget: {:?}", page_hits(&site));
    let outcome = outcomes(&events, &site.app.base);
    assert!(outcome.contains_key("/l/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_depth_counts_link_hops() {
    let site = Server::start(limits_site, None).await;
    let (_, events) = run(&site.url("/deep/0"), &quick().with_max_depth(2), &HashMap::new()).await;
    let got: Vec<String> = outcomes(&events, &site.app.base).into_keys().collect();
    assert_eq!(got, ["/deep/0", "/deep/1", "/deep/2"]);
    assert_eq!(page_hits(&site), ["/deep/0", "/deep/1", "/deep/2"]);

    let site = Server::start(limits_site, None).await;
    let (_, events) = run(&site.url("/deep/0"), &quick().with_max_depth(0), &HashMap::new()).await;
    assert_eq!(outcomes(&events, &site.app.base).into_keys().collect::<Vec<_>>(), ["/deep/0"]);
    assert_eq!(page_hits(&site), ["/deep/0"]);
}

// ---------------------------------------------------------------------------
// Politeness
// ---------------------------------------------------------------------------

fn pace_site(req: &Req<'_>) -> Reply {
    match req.path {
        "/pace/" => page("Pace", &["p1", "p2", "p3", "p4", "p5"]),
        "/conc/" => page("Concurrency", &["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]),
        p if p.starts_with("/conc/c") => Reply::Later(Duration::from_millis(150), Box::new(page(p, &[]))),
        p if p.starts_with("/pace/p") => page(p, &[]),
        _ => Reply::Status(404),
    }
}

fn crawl_delay_site(req: &Req<'_>) -> Reply {
    match req.path {
        "/robots.txt" => Reply::Typed("text/plain", b"User-agent: *\nCrawl-delay: 0.3\n".to_vec()),
        "/pace/" => page("Pace", &["p1", "p2"]),
        p if p.starts_with("/pace/p") => page(p, &[]),
        _ => Reply::Status(404),
    }
}

/// Smallest gap between consecutive request starts at the server.
fn min_gap(server: &Server) -> Duration {
    let mut times: Vec<Instant> = server.hits().iter().map(|h| h.at).collect();
    times.sort();
    times.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(Duration::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_delay_spaces_request_starts() {
    let _timing = TIMING.lock().await;
    let site = Server::start(pace_site, None).await;
    let delay = Duration::from_millis(120);
    let options = quick().with_per_host_delay(delay).with_concurrency(4);
    let (stats, _) = run(&site.url("/pace/"), &options, &HashMap::new()).await;
    assert_eq!(stats.fetched, 6);
    let hits = site.hits();
    assert_eq!(hits.len(), 8, "robots.txt, sitemap.xml and 6 pages: {hits:?}");
    // Allow for the few milliseconds a request can take to reach the handler.
    let gap = min_gap(&site);
    assert!(gap >= delay - Duration::from_millis(20), "requests only {gap:?} apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_crawl_delay_wins_over_a_shorter_delay() {
    let _timing = TIMING.lock().await;
    let site = Server::start(crawl_delay_site, None).await;
    let options = quick().with_per_host_delay(Duration::from_millis(10)).with_sitemap(false);
    let (stats, _) = run(&site.url("/pace/"), &options, &HashMap::new()).await;
    assert_eq!(stats.fetched, 3);
    assert_eq!(site.hits().len(), 4);
    let gap = min_gap(&site);
    assert!(gap >= Duration::from_millis(280), "requests only {gap:?} apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bounds_requests_in_flight() {
    let _timing = TIMING.lock().await;
    let site = Server::start(pace_site, None).await;
    let options = quick().with_concurrency(3).with_sitemap(false);
    let began = Instant::now();
    let (stats, _) = run(&site.url("/conc/"), &options, &HashMap::new()).await;
    let took = began.elapsed();
    assert_eq!(stats.fetched, 9);
    assert_eq!(site.max_in_flight(), 3, "at most (and, with slow pages, exactly) 3 requests in flight");
    // 8 pages of 150 ms, 3 at a time: 3 rounds, not 8.
    assert!(took < Duration::from_millis(8 * 150), "took {took:?}");
}

// ---------------------------------------------------------------------------
// Start URLs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_start_urls_and_scopes_are_errors() {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let err = crawl("not a url", &CrawlOptions::default(), &HashMap::new(), tx.clone()).await.unwrap_err();
    assert!(matches!(&err, CrawlError::InvalidStartUrl { url, .. } if url == "not a url"), "{err:?}");
    assert!(err.to_string().contains("not a URL"), "{err}");
    let err =
        crawl("ftp://example.test/docs/", &CrawlOptions::default(), &HashMap::new(), tx.clone()).await.unwrap_err();
    assert!(matches!(err, CrawlError::InvalidStartUrl { .. }), "{err:?}");
    let options = CrawlOptions::default().with_scope("/guide/");
    let err = crawl("http://127.0.0.1:1/docs/", &options, &HashMap::new(), tx).await.unwrap_err();
    assert!(matches!(err, CrawlError::InvalidScope { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_start_url_is_a_skip_not_an_error() {
    let start = "http://127.0.0.1:1/docs/";
    let (stats, events) = run(start, &quick(), &HashMap::new()).await;
    assert_eq!((stats.fetched, stats.skipped), (0, 1));
    match &events[..] {
        [CrawlEvent::Skipped { url, reason: SkipReason::Network(detail) }] => {
            assert_eq!(url, start);
            assert!(!detail.is_empty());
        }
        other => panic!("unexpected events {other:?}"),
    }
}

fn moved_site(req: &Req<'_>) -> Reply {
    match req.path {
        "/old/docs/" => Reply::Redirect(301, format!("{}/new/docs/", req.other)),
        "/robots.txt" => Reply::Typed("text/plain", b"User-agent: *\nDisallow: /new/docs/secret\n".to_vec()),
        "/new/docs/" => page("New docs", &["page", "secret", "/old/docs/other"]),
        "/new/docs/page" | "/new/docs/secret" => page(req.path, &[]),
        _ => Reply::Status(404),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_follows_a_redirecting_start_url() {
    let new_site = Server::start(moved_site, None).await;
    let old_site = Server::start(moved_site, Some(&new_site)).await;
    let (stats, events) = run(&old_site.url("/old/docs/"), &quick(), &HashMap::new()).await;
    let got = outcomes(&events, &new_site.app.base);
    let expected: BTreeMap<String, Outcome> = [
        ("/new/docs/", Outcome::Fetched(ContentKind::Html)),
        ("/new/docs/page", Outcome::Fetched(ContentKind::Html)),
        ("/new/docs/secret", Outcome::Skipped(SkipReason::RobotsDisallowed)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(stats.out_of_scope_links, 1, "/old/docs/other on the new origin is outside the new scope");
    assert_eq!(new_site.count("/robots.txt"), 1, "the new origin's robots.txt is read");
    assert_eq!(new_site.count("/new/docs/secret"), 0);
    // Pages keep the source key of the start URL the crawl was asked for.
    let (page, _, _) = fetched(&events, &new_site.url("/new/docs/"));
    assert_eq!(page.source, format!("site:{}", old_site.url("/old/docs/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_receiver_stops_the_crawl() {
    let site = Server::start(limits_site, None).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let first = tokio::spawn(async move { rx.recv().await.is_some() });
    let stats = crawl(&site.url("/l/"), &quick().with_concurrency(1), &HashMap::new(), tx).await.unwrap();
    assert!(first.await.unwrap());
    assert!(stats.fetched < 11, "{stats:?}");
}
