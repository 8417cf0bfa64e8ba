//! The whole pipeline against a site crawled over real HTTP on 127.0.0.1: the right
//! pages end up in the index, the failures are reported, and a re-crawl is
//! incremental (304s cost nothing, a page that became 404 is deleted).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use docent_index::{BotDir, IndexSnapshot};
use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};

#[derive(Default)]
struct Site {
    port: AtomicUsize,
    b_deleted: AtomicBool,
    offsite_hits: Arc<AtomicUsize>,
    private_hits: AtomicUsize,
    a_full_responses: AtomicUsize,
}

fn html(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><title>{title} | Test Docs</title></head><body>\
         <nav><a href=\"/docs/\">Home</a> Navigation menu text</nav><main>{body}</main>\
         <footer>Footer boilerplate</footer></body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn handler(State(site): State<Arc<Site>>, headers: HeaderMap, req: Request) -> Response {
    let port = site.port.load(Ordering::SeqCst);
    let origin = format!("http://127.0.0.1:{port}");
    match req.uri().path() {
        "/robots.txt" => {
            format!("User-agent: *\nDisallow: /docs/private/\nSitemap: {origin}/sitemap.xml\n").into_response()
        }
        "/sitemap.xml" => (
            [(header::CONTENT_TYPE, "application/xml")],
            format!(
                "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <url><loc>{origin}/docs/a</loc></url><url><loc>/docs/c</loc></url></urlset>"
            ),
        )
            .into_response(),
        "/docs/" => html(
            "Home",
            &format!(
                "<h1>Home</h1><p>Welcome to the test documentation about widgets.</p>\
                 <ul><li><a href=\"a\">A</a></li><li><a href=\"/docs/b#part\">B</a></li>\
                 <li><a href=\"/docs/private/secret\">secret</a></li><li><a href=\"/docs/loop1\">loop</a></li>\
                 <li><a href=\"/docs/missing\">missing</a></li><li><a href=\"/docs/error\">error</a></li>\
                 <li><a href=\"/docs/file.bin\">binary</a></li><li><a href=\"/docs/bad-utf8\">bad</a></li>\
                 <li><a href=\"http://127.0.0.1:{}/elsewhere\">off-site</a></li></ul>",
                site.offsite_port()
            ),
        ),
        "/docs/a" => {
            if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some("\"a-v1\"") {
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, "\"a-v1\"")]).into_response();
            }
            site.a_full_responses.fetch_add(1, Ordering::SeqCst);
            let mut r = html(
                "Widget setup",
                "<h1>Widget setup</h1><h2 id=\"install\">Installing a widget</h2>\
                 <p>Mount the widget bracket with four screws before connecting power.</p>\
                 <h2 id=\"calibrate\">Calibrating</h2><p>Hold the reset button for ten seconds to calibrate.</p>",
            );
            r.headers_mut().insert(header::ETAG, "\"a-v1\"".parse().expect("etag"));
            r
        }
        "/docs/b" if !site.b_deleted.load(Ordering::SeqCst) => html(
            "Widget billing",
            "<h1>Widget billing</h1><h2 id=\"part\">Invoices</h2><p>Widget invoices are issued monthly in euros.</p>",
        ),
        "/docs/c" => html("Sitemap only", "<h1>Sitemap only</h1><p>This page is linked from the sitemap alone.</p>"),
        "/docs/loop1" => Redirect::temporary("/docs/loop2").into_response(),
        "/docs/loop2" => Redirect::temporary("/docs/loop1").into_response(),
        "/docs/error" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "/docs/file.bin" => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], vec![0u8, 159, 146, 150]).into_response()
        }
        "/docs/bad-utf8" => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], b"<p>caf\xe9 \xff\xfe</p>".to_vec()).into_response()
        }
        p if p.starts_with("/docs/private/") => {
            site.private_hits.fetch_add(1, Ordering::SeqCst);
            html("Private", "<p>should never be fetched</p>")
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

impl Site {
    fn offsite_port(&self) -> usize {
        OFFSITE_PORT.load(Ordering::SeqCst)
    }
}

static OFFSITE_PORT: AtomicUsize = AtomicUsize::new(0);

async fn serve(site: Arc<Site>) -> String {
    let offsite_hits = site.offsite_hits.clone();
    let offsite = Router::new().fallback(move || {
        let hits = offsite_hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "off-site page"
        }
    });
    let off = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    OFFSITE_PORT.store(off.local_addr().expect("addr").port() as usize, Ordering::SeqCst);
    tokio::spawn(async move { axum::serve(off, offsite).await });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    site.port.store(port as usize, Ordering::SeqCst);
    let app = Router::new().fallback(handler).with_state(site);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/docs/")
}

fn options(data: &std::path::Path, start: &str) -> IngestOptions {
    let mut o = IngestOptions::new("site", data, vec![SourceSpec::parse(start).expect("url")]);
    o.crawl.per_host_delay = std::time::Duration::ZERO;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawled_site_is_indexed_failures_reported_and_recrawl_is_incremental() {
    let site = Arc::new(Site::default());
    let start = serve(site.clone()).await;
    let origin = start.trim_end_matches("/docs/").to_string();
    let data = tempfile::tempdir().expect("tempdir");

    let summary = ingest(&options(data.path(), &start), Arc::new(NoProgress)).await.expect("ingest");
    let bot = BotDir::new(data.path(), "site").expect("bot");
    let snap = IndexSnapshot::open(&bot).expect("open");
    let docs: BTreeSet<String> = snap.manifest().documents.keys().cloned().collect();
    let want: BTreeSet<String> =
        ["/docs/", "/docs/a", "/docs/b", "/docs/c"].iter().map(|p| format!("{origin}{p}")).collect();
    assert_eq!(docs, want, "summary: {}", summary.to_text());

    let reasons: Vec<(String, String)> =
        summary.failures.iter().map(|f| (f.url.trim_start_matches(&origin).to_string(), f.reason.clone())).collect();
    let has = |path: &str, what: &str| reasons.iter().any(|(u, r)| u.starts_with(path) && r.contains(what));
    assert!(has("/docs/loop", "redirect loop"), "{reasons:?}");
    assert!(has("/docs/missing", "404"), "{reasons:?}");
    assert!(has("/docs/error", "500"), "{reasons:?}");
    assert!(has("/docs/file.bin", "content type"), "{reasons:?}");
    assert!(has("/docs/bad-utf8", "UTF-8"), "{reasons:?}");
    assert!(has("/docs/private/secret", "robots"), "{reasons:?}");
    assert_eq!(site.private_hits.load(Ordering::SeqCst), 0, "robots.txt disallow ignored");
    assert_eq!(site.offsite_hits.load(Ordering::SeqCst), 0, "an off-site link was fetched");
    let src = &summary.sources[0];
    assert!(src.out_of_scope_links >= 1 && src.robots_disallowed == 1 && src.sitemap_urls >= 2, "{src:?}");

    // Extraction kept the content and dropped the boilerplate; anchors come from ids.
    let a = snap.chunks_of(&format!("{origin}/docs/a")).expect("chunks");
    assert!(a.iter().any(|(c, _)| c.url.ends_with("/docs/a#install") && c.text.contains("four screws")));
    assert!(a.iter().all(|(c, _)| !c.text.contains("Navigation menu") && !c.text.contains("Footer")));
    assert_eq!(a[0].0.title, "Widget setup");
    drop(snap);

    // Re-crawl: a answers 304, b is gone (404), nothing else changed.
    site.b_deleted.store(true, Ordering::SeqCst);
    let full_before = site.a_full_responses.load(Ordering::SeqCst);
    let again = ingest(&options(data.path(), &start), Arc::new(NoProgress)).await.expect("re-ingest");
    assert_eq!(site.a_full_responses.load(Ordering::SeqCst), full_before, "a was downloaded again despite its ETag");
    assert_eq!(again.documents.deleted, 1, "{}", again.to_text());
    assert_eq!(again.chunks.embedded, 0, "{}", again.to_text());
    assert_eq!(again.documents.unchanged, 3, "{}", again.to_text());
    let snap = IndexSnapshot::open(&bot).expect("open");
    assert!(!snap.manifest().documents.contains_key(&format!("{origin}/docs/b")));
    assert_eq!(snap.manifest().documents[&format!("{origin}/docs/a")].etag.as_deref(), Some("\"a-v1\""));
}

#[tokio::test]
async fn an_unreachable_start_url_is_reported_not_fatal_to_other_sources() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    std::fs::write(docs.path().join("a.md"), "## Hello\n\nThe folder source still gets indexed.\n").expect("write");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let sources = vec![
        SourceSpec::parse(&format!("http://127.0.0.1:{port}/docs/")).expect("url"),
        SourceSpec::parse(docs.path().to_str().expect("utf8")).expect("path"),
    ];
    let summary =
        ingest(&IngestOptions::new("mixed", data.path(), sources), Arc::new(NoProgress)).await.expect("ingest");
    assert_eq!(summary.documents.total, 1);
    assert!(summary.failures.iter().any(|f| f.url.contains(&port.to_string())), "{}", summary.to_text());
}
