//! Per-host request spacing, so a crawl never hammers a docs server: the starts of
//! two requests to one host are at least the host's delay apart (the configured
//! delay, or robots.txt's `Crawl-delay` when that is longer), whatever the
//! concurrency.
//!
//! Slots are reserved under a lock and waited for outside it, so concurrent tasks
//! queue up in order instead of all waking at once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::url_scope::host_key;

/// Upper bound of a robots.txt `Crawl-delay` we honour; a site asking for more would
/// make a docs crawl take days.
pub(crate) const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct HostSlot {
    delay: Duration,
    last_start: Option<Instant>,
    next: Instant,
}

/// Request spacing per `host:port`.
#[derive(Debug)]
pub(crate) struct Politeness {
    base: Duration,
    hosts: Mutex<HashMap<String, HostSlot>>,
}

impl Politeness {
    /// Spacing of `base` between request starts on every host.
    pub(crate) fn new(base: Duration) -> Self {
        Politeness { base, hosts: Mutex::new(HashMap::new()) }
    }

    fn hosts(&self) -> MutexGuard<'_, HashMap<String, HostSlot>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every
        // update is a plain field write), so a poisoned lock is still usable.
        self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Honour a robots.txt `Crawl-delay` for the host of `url`: the spacing becomes
    /// the larger of it and the base delay, from the last request on.
    pub(crate) fn set_crawl_delay(&self, url: &Url, delay: Duration) {
        let delay = delay.min(MAX_CRAWL_DELAY).max(self.base);
        let now = Instant::now();
        let mut hosts = self.hosts();
        let slot = hosts.entry(host_key(url)).or_insert(HostSlot { delay, last_start: None, next: now });
        slot.delay = delay;
        if let Some(last) = slot.last_start {
            slot.next = slot.next.max(last + delay);
        }
    }

    /// Wait until a request to the host of `url` may start, and claim that start.
    pub(crate) async fn wait_turn(&self, url: &Url) {
        let start = {
            let now = Instant::now();
            let mut hosts = self.hosts();
            let slot = hosts.entry(host_key(url)).or_insert(HostSlot { delay: self.base, last_start: None, next: now });
            let start = slot.next.max(now);
            slot.last_start = Some(start);
            slot.next = start + slot.delay;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_request_starts_per_host() {
        let p = Politeness::new(Duration::from_millis(30));
        let a = Url::parse("http://a.test/").unwrap();
        let b = Url::parse("http://b.test/").unwrap();
        let t0 = Instant::now();
        p.wait_turn(&a).await;
        p.wait_turn(&b).await;
        assert!(t0.elapsed() < Duration::from_millis(25), "other hosts do not wait for each other");
        p.wait_turn(&a).await;
        assert!(t0.elapsed() >= Duration::from_millis(30));
        p.set_crawl_delay(&a, Duration::from_millis(80));
        let t1 = Instant::now();
        p.wait_turn(&a).await;
        assert!(t1.elapsed() >= Duration::from_millis(45), "crawl delay counts from the last start");
    }
}
