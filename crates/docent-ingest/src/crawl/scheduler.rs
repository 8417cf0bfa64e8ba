//! The crawl loop: the frontier (breadth-first, depth-bounded), dedupe by canonical
//! URL, the page budget, the concurrency bound, and turning fetch results into
//! [`CrawlEvent`]s.
//!
//! One task owns all crawl state; fetches run as spawned tasks (at most
//! `concurrency` of them) that only read shared, immutable data, so there is no
//! locking here beyond the per-host politeness slots. The start URL is fetched alone
//! first: if it redirects elsewhere (`http` → `https`, `/docs` → `/en/docs/`), the
//! scope follows it before anything else is fetched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tracing::{debug, info, info_span, warn, Instrument};
use url::Url;

use super::fetch::{FetchedBody, Fetcher, PageFetch, Validators};
use super::links::{html_links, markdown_links, PageLinks};
use super::politeness::MAX_CRAWL_DELAY;
use super::robots::{product_token, Robots};
use super::sitemap;
use super::url_scope::{canonicalize, is_http, Scope};
use super::{CrawlError, CrawlEvent, CrawlOptions, CrawlStats, PreviousFetch, SkipReason};
use crate::{ContentKind, RawPage};

/// Entry point behind [`super::crawl`].
pub(crate) async fn run(
    start: &str,
    options: &CrawlOptions,
    previous: &HashMap<String, PreviousFetch>,
    events: mpsc::Sender<CrawlEvent>,
) -> Result<CrawlStats, CrawlError> {
    let started = Instant::now();
    let start_url = parse_start(start)?;
    let start_key = canonicalize(&start_url);
    let span = info_span!("crawl", start = %start_key);
    async move {
        let scope = Scope::new(&start_url, options.scope.as_deref())
            .map_err(|detail| CrawlError::InvalidScope { scope: options.scope.clone().unwrap_or_default(), detail })?;
        let validators = previous
            .iter()
            .filter(|(_, p)| p.etag.is_some() || p.last_modified.is_some())
            .map(|(url, p)| (url.clone(), Validators { etag: p.etag.clone(), last_modified: p.last_modified.clone() }))
            .collect();
        let fetcher = Arc::new(Fetcher::new(options, validators)?);
        info!(scope = %scope, "crawl started");
        let mut crawler = Crawler {
            options,
            previous,
            events,
            fetcher,
            scope: Arc::new(scope),
            robots: Arc::new(Robots::allow_all()),
            agent: product_token(&options.user_agent).to_string(),
            source: format!("site:{start_key}"),
            queue: VecDeque::new(),
            seen: HashSet::new(),
            pages: HashSet::new(),
            out_of_scope: HashSet::new(),
            sitemap_lastmod: HashMap::new(),
            stats: CrawlStats::default(),
            closed: false,
        };
        crawler.run(start_url).await;
        let mut stats = crawler.stats;
        stats.out_of_scope_links = crawler.out_of_scope.len();
        stats.elapsed = started.elapsed();
        info!(
            fetched = stats.fetched,
            unchanged = stats.unchanged,
            skipped = stats.skipped,
            robots_disallowed = stats.robots_disallowed,
            out_of_scope_links = stats.out_of_scope_links,
            bytes = stats.bytes,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            "crawl done"
        );
        Ok(stats)
    }
    .instrument(span)
    .await
}

/// The start URL, or why it cannot be crawled.
fn parse_start(start: &str) -> Result<Url, CrawlError> {
    let invalid = |detail: String| CrawlError::InvalidStartUrl { url: start.to_string(), detail };
    let trimmed = start.trim();
    let url = Url::parse(trimmed).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            invalid("not a URL (expected an absolute http:// or https:// URL)".to_string())
        }
        e => invalid(format!("not a URL: {e}")),
    })?;
    if !is_http(&url) {
        return Err(invalid(format!("only http:// and https:// URLs can be crawled, not {}:", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".to_string()));
    }
    Ok(url)
}

/// What a fetch task hands back.
#[derive(Debug)]
struct JobOutput {
    fetch: PageFetch,
    links: PageLinks,
}

/// Fetch one page and read its links (the parsing runs in the task, in parallel
/// with other fetches).
async fn run_job(
    fetcher: Arc<Fetcher>,
    scope: Arc<Scope>,
    robots: Arc<Robots>,
    url: Url,
    chain: Vec<String>,
) -> JobOutput {
    let fetch = fetcher.fetch_page(url, chain, &scope, &robots).await;
    let links = match &fetch {
        PageFetch::Page(body) => page_links(body),
        _ => PageLinks::default(),
    };
    JobOutput { fetch, links }
}

fn page_links(body: &FetchedBody) -> PageLinks {
    match body.kind {
        ContentKind::Html => html_links(&body.body, body.charset.as_deref(), &body.url),
        ContentKind::Markdown => PageLinks { links: markdown_links(&body.body, &body.url), canonical: None },
        ContentKind::Text => PageLinks::default(),
    }
}

struct Crawler<'a> {
    options: &'a CrawlOptions,
    previous: &'a HashMap<String, PreviousFetch>,
    events: mpsc::Sender<CrawlEvent>,
    fetcher: Arc<Fetcher>,
    scope: Arc<Scope>,
    robots: Arc<Robots>,
    /// robots.txt product token.
    agent: String,
    /// `RawPage::source` of every page.
    source: String,
    /// URLs to fetch, with their depth.
    queue: VecDeque<(Url, usize)>,
    /// Canonical URLs ever queued (or known as page URLs): each is queued once.
    seen: HashSet<String>,
    /// Canonical URLs already reported as a page (fetched or unchanged).
    pages: HashSet<String>,
    out_of_scope: HashSet<String>,
    sitemap_lastmod: HashMap<String, String>,
    stats: CrawlStats,
    /// The event receiver is gone: stop.
    closed: bool,
}

impl Crawler<'_> {
    async fn run(&mut self, start: Url) {
        if self.options.max_pages == 0 {
            return;
        }
        if self.options.respect_robots {
            self.load_robots().await;
        }
        let start_key = canonicalize(&start);
        self.seen.insert(start_key.clone());
        if !self.robots.allowed(&start) {
            self.stats.robots_disallowed += 1;
            self.emit(CrawlEvent::Skipped { url: start_key, reason: SkipReason::RobotsDisallowed }).await;
            // Sitemaps may still list allowed pages of the scope.
            self.seed_from_sitemaps().await;
        } else {
            let output = self.fetch_start(start).await;
            // The start page's event waits for the sitemaps so it carries its <lastmod>.
            self.seed_from_sitemaps().await;
            match output {
                Ok(output) => self.handle(start_key, 0, output).await,
                Err(reason) => self.emit(CrawlEvent::Skipped { url: start_key, reason }).await,
            }
        }
        self.crawl_queue().await;
    }

    /// robots.txt of the scope's origin; its `Crawl-delay` applies from now on.
    async fn load_robots(&mut self) {
        let robots = Robots::fetch(&self.fetcher, self.scope.root(), &self.agent).await;
        if let Some(delay) = robots.delay {
            if delay > MAX_CRAWL_DELAY {
                warn!(asked_s = delay.as_secs(), used_s = MAX_CRAWL_DELAY.as_secs(), "robots.txt Crawl-delay capped");
            } else if delay > self.options.per_host_delay {
                info!(delay_ms = delay.as_millis() as u64, "honouring robots.txt Crawl-delay");
            }
            self.fetcher.politeness().set_crawl_delay(self.scope.root(), delay);
        }
        self.robots = Arc::new(robots);
    }

    /// Fetch the start URL alone. A redirect out of the scope moves the scope to the
    /// redirect target (the site said where its docs are) and goes on from there.
    async fn fetch_start(&mut self, start: Url) -> Result<JobOutput, SkipReason> {
        let mut url = start;
        let mut chain = Vec::new();
        loop {
            let output = self.spawn_job(url, chain).await.map_err(internal_error)?;
            let PageFetch::OffScope { target, chain: so_far } = &output.fetch else {
                return Ok(output);
            };
            if so_far.len() > self.options.max_redirects {
                return Err(SkipReason::TooManyRedirects);
            }
            let Ok(scope) = Scope::new(target, self.options.scope.as_deref()) else {
                return Ok(output);
            };
            info!(from = %self.scope, to = %scope, "the start URL redirects; the crawl scope follows it");
            let new_origin = !scope.same_origin(self.scope.root());
            self.scope = Arc::new(scope);
            if new_origin && self.options.respect_robots {
                self.load_robots().await;
            }
            if !self.robots.allowed(target) {
                self.stats.robots_disallowed += 1;
                return Err(SkipReason::RobotsDisallowed);
            }
            url = target.clone();
            chain = so_far.clone();
        }
    }

    fn spawn_job(&self, url: Url, chain: Vec<String>) -> JoinHandle<JobOutput> {
        tokio::spawn(
            run_job(self.fetcher.clone(), self.scope.clone(), self.robots.clone(), url, chain).in_current_span(),
        )
    }

    /// Queue the in-scope sitemap URLs at depth 0 and remember their `<lastmod>`.
    async fn seed_from_sitemaps(&mut self) {
        if !self.options.use_sitemap || self.closed || self.reported() >= self.options.max_pages {
            return;
        }
        let entries = sitemap::discover(&self.fetcher, &self.scope, &self.robots).await;
        let mut outside = 0usize;
        for entry in entries {
            if !self.scope.contains(&entry.url) {
                outside += 1;
                continue;
            }
            let key = canonicalize(&entry.url);
            self.stats.sitemap_urls += 1;
            if let Some(lastmod) = entry.lastmod {
                self.sitemap_lastmod.insert(key.clone(), lastmod);
            }
            self.enqueue(entry.url, key, 0);
        }
        if self.stats.sitemap_urls > 0 || outside > 0 {
            info!(in_scope = self.stats.sitemap_urls, outside_scope = outside, "sitemap URLs");
        }
    }

    /// Work through the queue with up to `concurrency` fetches in flight, until it
    /// is empty or the page budget is spent.
    async fn crawl_queue(&mut self) {
        let concurrency = self.options.concurrency.max(1);
        let mut jobs: JoinSet<JobOutput> = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, (String, usize)> = HashMap::new();
        loop {
            while !self.closed && jobs.len() < concurrency && self.reported() + jobs.len() < self.options.max_pages {
                let Some((url, depth)) = self.queue.pop_front() else { break };
                let key = canonicalize(&url);
                if self.pages.contains(&key) {
                    continue; // reached already as a redirect target or rel=canonical
                }
                if !self.robots.allowed(&url) {
                    self.stats.robots_disallowed += 1;
                    self.emit(CrawlEvent::Skipped { url: key, reason: SkipReason::RobotsDisallowed }).await;
                    continue;
                }
                if let Some(lastmod) = self.unchanged_by_sitemap(&key) {
                    debug!(url = %key, %lastmod, "sitemap lastmod unchanged; not fetched");
                    self.pages.insert(key.clone());
                    self.emit(CrawlEvent::Unchanged { url: key.clone(), sitemap_lastmod: Some(lastmod) }).await;
                    self.follow_previous_links(&key, depth);
                    continue;
                }
                let handle = jobs.spawn(
                    run_job(self.fetcher.clone(), self.scope.clone(), self.robots.clone(), url, Vec::new())
                        .in_current_span(),
                );
                running.insert(handle.id(), (key, depth));
            }
            if self.closed {
                jobs.abort_all();
                return;
            }
            let Some(joined) = jobs.join_next_with_id().await else {
                if !self.queue.is_empty() {
                    info!(max_pages = self.options.max_pages, left = self.queue.len(), "page budget spent; URLs left");
                }
                return;
            };
            match joined {
                Ok((id, output)) => {
                    if let Some((key, depth)) = running.remove(&id) {
                        self.handle(key, depth, output).await;
                    }
                }
                Err(e) => {
                    if let Some((key, _)) = running.remove(&e.id()) {
                        let reason = internal_error(e);
                        self.emit(CrawlEvent::Skipped { url: key, reason }).await;
                    }
                }
            }
        }
    }

    /// Turn a fetch result for the URL `key` (queued at `depth`) into its event and
    /// queue what it links to.
    async fn handle(&mut self, key: String, depth: usize, output: JobOutput) {
        match output.fetch {
            PageFetch::Skip(reason) => self.emit(CrawlEvent::Skipped { url: key, reason }).await,
            PageFetch::OffScope { target, .. } => {
                let reason = SkipReason::RedirectOffSite(canonicalize(&target));
                self.emit(CrawlEvent::Skipped { url: key, reason }).await;
            }
            PageFetch::NotModified { url } => {
                let page_key = canonicalize(&url);
                if self.pages.contains(&page_key) {
                    return self.duplicate(key, page_key).await;
                }
                self.pages.insert(page_key.clone());
                self.seen.insert(page_key.clone());
                let sitemap_lastmod = self.lastmod_of(&[&page_key, &key]);
                self.emit(CrawlEvent::Unchanged { url: page_key.clone(), sitemap_lastmod }).await;
                self.follow_previous_links(&page_key, depth);
            }
            PageFetch::Page(body) => {
                let final_key = canonicalize(&body.url);
                let canonical = output.links.canonical.filter(|c| self.scope.contains(c)).map(|c| canonicalize(&c));
                let page_key = canonical.unwrap_or_else(|| final_key.clone());
                if self.pages.contains(&page_key) {
                    return self.duplicate(key, page_key).await;
                }
                for k in [&page_key, &final_key] {
                    self.pages.insert(k.clone());
                    self.seen.insert(k.clone());
                }
                let mut links = Vec::new();
                for link in output.links.links {
                    let link_key = canonicalize(&link);
                    if !self.scope.contains(&link) {
                        self.out_of_scope.insert(link_key);
                    } else if link_key != page_key && link_key != final_key {
                        links.push(link_key.clone());
                        self.enqueue(link, link_key, depth + 1);
                    }
                }
                self.stats.bytes += body.body.len() as u64;
                let sitemap_lastmod = self.lastmod_of(&[&page_key, &final_key, &key]);
                let page = RawPage {
                    url: page_key,
                    source: self.source.clone(),
                    kind: body.kind,
                    body: body.body,
                    charset: body.charset,
                    path: None,
                    etag: body.etag,
                    last_modified: body.last_modified,
                };
                self.emit(CrawlEvent::Fetched { page, links, sitemap_lastmod }).await;
            }
        }
    }

    /// The URL `key` turned out to be the page `canonical`, which was already
    /// reported. (When both are the same URL, two routes to one page raced; the first
    /// one's event stands and this one is dropped.)
    async fn duplicate(&mut self, key: String, canonical: String) {
        if key == canonical {
            debug!(url = %key, "page reported already; dropped");
            return;
        }
        self.emit(CrawlEvent::Skipped { url: key, reason: SkipReason::Duplicate { canonical } }).await;
    }

    /// Queue `url` unless it was queued before or is deeper than allowed.
    fn enqueue(&mut self, url: Url, key: String, depth: usize) {
        if depth <= self.options.max_depth && self.seen.insert(key) {
            self.queue.push_back((url, depth));
        }
    }

    /// An unchanged page still leads to its pages: follow the links the last crawl
    /// saw on it.
    fn follow_previous_links(&mut self, key: &str, depth: usize) {
        let Some(previous) = self.previous.get(key) else { return };
        for link in &previous.links {
            let Ok(url) = Url::parse(link) else {
                warn!(page = %key, link = %link, "stored link is not a URL; ignored");
                continue;
            };
            let link_key = canonicalize(&url);
            if self.scope.contains(&url) {
                self.enqueue(url, link_key, depth + 1);
            } else {
                self.out_of_scope.insert(link_key);
            }
        }
    }

    /// The sitemap `<lastmod>` of `key` when it equals the one of the last crawl.
    fn unchanged_by_sitemap(&self, key: &str) -> Option<String> {
        let lastmod = self.sitemap_lastmod.get(key)?;
        let previous = self.previous.get(key)?.sitemap_lastmod.as_deref()?;
        (previous.trim() == lastmod).then(|| lastmod.clone())
    }

    fn lastmod_of(&self, keys: &[&String]) -> Option<String> {
        keys.iter().find_map(|k| self.sitemap_lastmod.get(*k)).cloned()
    }

    /// Events reported so far (the page budget counts these).
    fn reported(&self) -> usize {
        self.stats.fetched + self.stats.unchanged + self.stats.skipped
    }

    async fn emit(&mut self, event: CrawlEvent) {
        if self.closed {
            return;
        }
        match &event {
            CrawlEvent::Fetched { page, .. } => {
                debug!(url = %page.url, bytes = page.body.len(), "page fetched");
                self.stats.fetched += 1;
            }
            CrawlEvent::Unchanged { url, .. } => {
                debug!(url = %url, "page unchanged");
                self.stats.unchanged += 1;
            }
            CrawlEvent::Skipped { url, reason } => {
                debug!(url = %url, %reason, "page skipped");
                self.stats.skipped += 1;
            }
        }
        if self.events.send(event).await.is_err() {
            info!("the event receiver is gone; stopping the crawl");
            self.closed = true;
        }
    }
}

/// A fetch task that panicked or was cancelled: reported as a skip, the crawl goes on.
fn internal_error(e: JoinError) -> SkipReason {
    warn!(error = %e, "crawl task failed");
    SkipReason::Network(format!("internal error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_url_errors_are_clear() {
        let msg = parse_start("not a url").unwrap_err().to_string();
        assert!(msg.contains("not a URL"), "{msg}");
        assert!(msg.contains("`not a url`"), "{msg}");
        let msg = parse_start("ftp://x.test/").unwrap_err().to_string();
        assert!(msg.contains("only http:// and https://"), "{msg}");
        let msg = parse_start("http://").unwrap_err().to_string();
        assert!(msg.contains("not a URL"), "{msg}");
        assert_eq!(parse_start("  https://x.test/docs/ ").unwrap().as_str(), "https://x.test/docs/");
    }
}
