//! robots.txt: fetched once per origin before any page of it, parsed with
//! `texting_robots` for our product token. It gives the `Disallow` rules, the
//! `Crawl-delay` and the `Sitemap:` lines.
//!
//! A missing robots.txt (any 4xx) allows everything, as RFC 9309 says. An
//! unreachable one or a 5xx also allows everything here (the RFC would have us stop),
//! with a warning: a docs site whose robots.txt is broken still wants its docs
//! indexed, and the operator who runs the crawl is the site's owner more often than
//! not.

use std::time::Duration;

use texting_robots::Robot;
use tracing::{debug, warn};
use url::Url;

use super::fetch::{Fetcher, ResourceError};
use super::url_scope::canonicalize;

/// Largest robots.txt we read (Google's limit); the rest is ignored.
const ROBOTS_MAX_BYTES: usize = 500 * 1024;

/// The rules of one origin.
pub(crate) struct Robots {
    robot: Option<Robot>,
    /// `Crawl-delay`, if the file had a usable one.
    pub(crate) delay: Option<Duration>,
    /// `Sitemap:` URLs, resolved.
    pub(crate) sitemaps: Vec<Url>,
}

impl std::fmt::Debug for Robots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Robots")
            .field("rules", &self.robot.is_some())
            .field("delay", &self.delay)
            .field("sitemaps", &self.sitemaps)
            .finish()
    }
}

impl Robots {
    /// No rules: everything allowed, no delay, no sitemaps.
    pub(crate) fn allow_all() -> Self {
        Robots { robot: None, delay: None, sitemaps: Vec::new() }
    }

    /// Parse a robots.txt body for the crawler's product token `agent`.
    pub(crate) fn parse(agent: &str, body: &[u8], robots_url: &Url) -> Self {
        let robot = match Robot::new(agent, body) {
            Ok(robot) => robot,
            Err(e) => {
                warn!(url = %robots_url, error = %e, "robots.txt could not be parsed; crawling as if it allowed everything");
                return Robots::allow_all();
            }
        };
        let delay = robot
            .delay
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| Duration::from_secs_f64(f64::from(d).min(3600.0)));
        let sitemaps = robot.sitemaps.iter().filter_map(|s| robots_url.join(s.trim()).ok()).collect();
        Robots { robot: Some(robot), delay, sitemaps }
    }

    /// Fetch and parse `/robots.txt` of the origin of `root`.
    pub(crate) async fn fetch(fetcher: &Fetcher, root: &Url, agent: &str) -> Self {
        let Ok(url) = root.join("/robots.txt") else {
            return Robots::allow_all();
        };
        // RFC 9309: redirects are followed, also onto another origin (http → https).
        match fetcher.fetch_resource(&url, ROBOTS_MAX_BYTES, true).await {
            Ok(resource) => {
                let robots = Robots::parse(agent, &resource.body, &resource.url);
                debug!(url = %canonicalize(&url), delay = ?robots.delay, sitemaps = robots.sitemaps.len(), "robots.txt");
                robots
            }
            Err(ResourceError::Status(code)) if (400..500).contains(&code) => {
                debug!(url = %canonicalize(&url), code, "no robots.txt; everything allowed");
                Robots::allow_all()
            }
            Err(e) => {
                warn!(url = %canonicalize(&url), error = %e, "robots.txt unavailable; crawling as if it allowed everything");
                Robots::allow_all()
            }
        }
    }

    /// True when the rules let us fetch `url`.
    pub(crate) fn allowed(&self, url: &Url) -> bool {
        match &self.robot {
            Some(robot) => robot.allowed(url.as_str()),
            None => true,
        }
    }
}

/// The product token robots.txt groups are matched against: the user agent up to
/// its first `/` or space (`DocentBot/0.1.0` → `DocentBot`).
pub(crate) fn product_token(user_agent: &str) -> &str {
    let token = user_agent.split(['/', ' ']).next().unwrap_or("").trim();
    if token.is_empty() {
        "*"
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn rules_delay_and_sitemaps() {
        let txt = b"User-agent: *\nDisallow: /docs/private/\nCrawl-delay: 1.5\nSitemap: /sitemap_index.xml\nSitemap: https://x.test/other.xml\n";
        let robots = Robots::parse("DocentBot", txt, &u("https://x.test/robots.txt"));
        assert!(!robots.allowed(&u("https://x.test/docs/private/secret")));
        assert!(robots.allowed(&u("https://x.test/docs/public")));
        assert_eq!(robots.delay, Some(Duration::from_millis(1500)));
        assert_eq!(robots.sitemaps, vec![u("https://x.test/sitemap_index.xml"), u("https://x.test/other.xml")]);
    }

    #[test]
    fn own_group_wins() {
        let txt = b"User-agent: *\nDisallow: /\n\nUser-agent: docentbot\nAllow: /\nDisallow: /tmp/\n";
        let robots = Robots::parse(product_token("DocentBot/0.1.0"), txt, &u("https://x.test/robots.txt"));
        assert!(robots.allowed(&u("https://x.test/docs/")));
        assert!(!robots.allowed(&u("https://x.test/tmp/a")));
        assert!(Robots::allow_all().allowed(&u("https://x.test/anything")));
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product_token("DocentBot/0.1.0"), "DocentBot");
        assert_eq!(product_token("Mozilla/5.0 (compatible)"), "Mozilla");
        assert_eq!(product_token(""), "*");
    }
}
