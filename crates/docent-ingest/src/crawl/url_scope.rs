//! Which URLs belong to a crawl, and the one canonical spelling of a URL that the
//! whole project uses as a document id.
//!
//! A crawl covers one origin (scheme, host, port) and, within it, one path prefix:
//! by default the directory of the start URL, so `https://x/docs/intro` crawls
//! `https://x/docs/…` and not the blog next to it.

use url::{Origin, Url};

/// Canonical URL form used as document id everywhere: fragment stripped, default port
/// dropped, host lowercased, empty path turned into `/`, an empty `?` dropped; the
/// query itself is kept exactly as it was (parameter order can matter to a server).
///
/// Two URLs with the same canonical form are the same page for dedupe, for the
/// manifest and for citations.
pub fn canonicalize(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    // `Url` already lowercases hosts of special schemes and forgets default ports;
    // these are the cases it leaves alone.
    if url.port().is_some() && url.port() == default_port(url.scheme()) {
        let _ = url.set_port(None);
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    if url.path().is_empty() && !url.cannot_be_a_base() {
        url.set_path("/");
    }
    url.into()
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// True for the schemes the crawler fetches.
pub(crate) fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// Key of a host for politeness bookkeeping: `host:port`.
pub(crate) fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

/// The set of URLs a crawl may fetch: one origin and a path prefix within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    origin: Origin,
    root: Url,
    prefix: String,
}

impl Scope {
    /// Scope of a crawl started at `start`: `prefix` (a path such as `/docs/`, or an
    /// absolute URL on the start URL's origin) or, without one, the start URL's
    /// directory. The start URL must lie inside the scope.
    pub(crate) fn new(start: &Url, prefix: Option<&str>) -> Result<Self, String> {
        let prefix = match prefix.map(str::trim).filter(|p| !p.is_empty()) {
            None => directory_of(start.path()),
            Some(p) => {
                let target = match Url::parse(p) {
                    Ok(abs) => {
                        if abs.origin() != start.origin() {
                            return Err(format!(
                                "the scope URL is on {} but the start URL is on {}",
                                abs.origin().ascii_serialization(),
                                start.origin().ascii_serialization()
                            ));
                        }
                        abs
                    }
                    Err(_) => {
                        let path = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
                        start.join(&path).map_err(|e| format!("not a path: {e}"))?
                    }
                };
                target.path().to_string()
            }
        };
        let mut root = start.clone();
        root.set_path("/");
        root.set_query(None);
        root.set_fragment(None);
        let scope = Scope { origin: start.origin(), root, prefix };
        if !scope.contains(start) {
            return Err(format!("the start URL {} is outside the scope {}", canonicalize(start), scope));
        }
        Ok(scope)
    }

    /// True when `url` may be fetched by this crawl.
    pub(crate) fn contains(&self, url: &Url) -> bool {
        is_http(url) && url.origin() == self.origin && path_has_prefix(url.path(), &self.prefix)
    }

    /// True when `url` is on the scope's origin (path aside): robots.txt and sitemaps
    /// are fetched from there only.
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.origin
    }

    /// `scheme://host[:port]/` of the scope's origin.
    pub(crate) fn root(&self) -> &Url {
        &self.root
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin.ascii_serialization(), self.prefix)
    }
}

/// The path up to and including its last `/`.
fn directory_of(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path[..=i].to_string(),
        None => "/".to_string(),
    }
}

/// `/docs/` covers `/docs/` and below; `/docs` covers `/docs` itself and `/docs/…`
/// but not `/docs-old`.
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn canonical_form() {
        assert_eq!(
            canonicalize(&u("HTTP://Docs.Example.COM:80/a/b?x=1&a=2#frag")),
            "http://docs.example.com/a/b?x=1&a=2"
        );
        assert_eq!(canonicalize(&u("https://example.com:443")), "https://example.com/");
        assert_eq!(canonicalize(&u("https://example.com:8443/x")), "https://example.com:8443/x");
        assert_eq!(canonicalize(&u("https://example.com/x?")), "https://example.com/x");
        assert_eq!(canonicalize(&u("https://example.com/x?b=1&a=2")), "https://example.com/x?b=1&a=2");
        assert_eq!(canonicalize(&u("https://example.com/x#")), "https://example.com/x");
    }

    #[test]
    fn default_scope_is_start_directory() {
        let s = Scope::new(&u("https://x.test/docs/intro"), None).unwrap();
        assert_eq!(s.to_string(), "https://x.test/docs/");
        assert!(s.contains(&u("https://x.test/docs/")));
        assert!(s.contains(&u("https://x.test/docs/a/b?q#f")));
        assert!(!s.contains(&u("https://x.test/blog/")));
        assert!(!s.contains(&u("https://x.test/docs")));
        assert!(!s.contains(&u("http://x.test/docs/a")), "other scheme is another origin");
        assert!(!s.contains(&u("https://x.test:8443/docs/a")), "other port is another origin");
        assert!(!s.contains(&u("https://y.test/docs/a")));
        assert!(!s.contains(&u("mailto:a@x.test")));
        let root = Scope::new(&u("https://x.test"), None).unwrap();
        assert!(root.contains(&u("https://x.test/anything")));
    }

    #[test]
    fn explicit_scope() {
        let s = Scope::new(&u("https://x.test/docs/v2/intro"), Some("/docs")).unwrap();
        assert!(s.contains(&u("https://x.test/docs")));
        assert!(s.contains(&u("https://x.test/docs/v1/")));
        assert!(!s.contains(&u("https://x.test/docs-old/")));
        let s = Scope::new(&u("https://x.test/docs/intro"), Some("docs/")).unwrap();
        assert_eq!(s.to_string(), "https://x.test/docs/");
        let s = Scope::new(&u("https://x.test/docs/intro"), Some("https://x.test/")).unwrap();
        assert!(s.contains(&u("https://x.test/blog")));
        assert!(Scope::new(&u("https://x.test/docs/intro"), Some("https://y.test/")).is_err());
        assert!(Scope::new(&u("https://x.test/guide/intro"), Some("/docs/")).is_err());
    }

    #[test]
    fn keys() {
        assert_eq!(host_key(&u("https://x.test/a")), "x.test:443");
        assert_eq!(host_key(&u("http://127.0.0.1:8080/a")), "127.0.0.1:8080");
    }
}
