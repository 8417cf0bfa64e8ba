//! Local folders (and single files) as a source of pages.
//!
//! Walks the folder with the `ignore` crate (hidden files and `.docentignore`
//! patterns skipped, gitignore syntax), keeps Markdown, HTML and text files, and maps
//! each file to a URL: with a base URL the way static-site generators publish them
//! (`billing/refunds.md` → `<base>/billing/refunds`, `pricing/index.md` →
//! `<base>/pricing/`), otherwise as a `file://` URL.
//!
//! Useful for: docs kept in a repository. Not for: anything over HTTP (that is `crawl`).

use std::path::{Path, PathBuf};

use tracing::debug;
use url::Url;

use crate::summary::PageFailure;
use crate::{ContentKind, IngestError, RawPage};

/// Name of the per-folder ignore file (gitignore syntax).
pub const IGNORE_FILE: &str = ".docentignore";

/// A folder (or one file) to ingest.
#[derive(Debug, Clone)]
pub struct FolderSource {
    root: PathBuf,
    single_file: bool,
    base_url: Option<Url>,
    key: String,
}

/// One file found by [`FolderSource::scan`].
#[derive(Debug, Clone)]
pub struct FolderFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path relative to the source root, with `/` separators.
    pub relative: String,
    /// Document kind from the extension.
    pub kind: ContentKind,
}

/// What [`FolderSource::scan`] found.
#[derive(Debug, Default)]
pub struct FolderScan {
    /// Files to read, sorted by relative path.
    pub files: Vec<FolderFile>,
    /// Files skipped because their extension is not a document type.
    pub ignored: usize,
    /// Entries the walk could not read (permissions, broken links).
    pub failures: Vec<PageFailure>,
}

/// The document kind of a file name, from its extension.
pub fn kind_of(path: &Path) -> Option<ContentKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "md" | "markdown" | "mdown" | "mkd" => Some(ContentKind::Markdown),
        "html" | "htm" | "xhtml" => Some(ContentKind::Html),
        "txt" | "text" => Some(ContentKind::Text),
        _ => None,
    }
}

impl FolderSource {
    /// A folder or file source. `base_url` (http(s), with or without a trailing `/`)
    /// decides the URLs of its pages.
    pub fn new(path: &Path, base_url: Option<&str>) -> Result<Self, IngestError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| IngestError::SourceUnreadable { path: path.to_path_buf(), detail: e.to_string() })?;
        let root = std::fs::canonicalize(path)
            .map_err(|e| IngestError::SourceUnreadable { path: path.to_path_buf(), detail: e.to_string() })?;
        let base_url = match base_url {
            None => None,
            Some(b) => {
                let mut u = Url::parse(b).map_err(|e| IngestError::Config(format!("--base-url `{b}`: {e}")))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(IngestError::Config(format!("--base-url `{b}` must be an http(s) URL")));
                }
                if !u.path().ends_with('/') {
                    let p = format!("{}/", u.path());
                    u.set_path(&p);
                }
                u.set_fragment(None);
                Some(u)
            }
        };
        let key = format!("dir:{}", root.display());
        Ok(FolderSource { root, single_file: meta.is_file(), base_url, key })
    }

    /// The source key recorded with every page (`dir:/abs/path`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The absolute root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// List the document files, sorted, honouring `.docentignore` and hidden files.
    pub fn scan(&self) -> FolderScan {
        let mut scan = FolderScan::default();
        if self.single_file {
            match kind_of(&self.root) {
                Some(kind) => {
                    let relative = self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    scan.files.push(FolderFile { path: self.root.clone(), relative, kind });
                }
                None => scan.ignored += 1,
            }
            return scan;
        }
        let walker = ignore::WalkBuilder::new(&self.root)
            .hidden(true)
            .follow_links(false)
            .add_custom_ignore_filename(IGNORE_FILE)
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    scan.failures.push(PageFailure {
                        url: self.root.display().to_string(),
                        stage: "read",
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir {
                continue;
            }
            let path = entry.path();
            let Some(kind) = kind_of(path) else {
                scan.ignored += 1;
                continue;
            };
            let relative = path
                .strip_prefix(&self.root)
                .map(|r| r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
                .unwrap_or_else(|_| path.display().to_string());
            scan.files.push(FolderFile { path: path.to_path_buf(), relative, kind });
        }
        debug!(root = %self.root.display(), files = scan.files.len(), ignored = scan.ignored, "folder scanned");
        scan
    }

    /// The canonical URL of a file of this source.
    pub fn url_of(&self, file: &FolderFile) -> String {
        match &self.base_url {
            Some(base) => {
                let rel = file.relative.as_str();
                let stem = match rel.rfind('.') {
                    Some(dot) if !rel[dot..].contains('/') => &rel[..dot],
                    _ => rel,
                };
                let published = if stem == "index" {
                    String::new()
                } else if let Some(dir) = stem.strip_suffix("/index") {
                    format!("{dir}/")
                } else {
                    stem.to_string()
                };
                base.join(&published).map(|u| u.to_string()).unwrap_or_else(|_| format!("{base}{published}"))
            }
            None => Url::from_file_path(&file.path)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| format!("file://{}", file.path.display())),
        }
    }

    /// Read one file into a [`RawPage`]; an unreadable file is a failure, not an error.
    pub fn read(&self, file: &FolderFile) -> Result<RawPage, PageFailure> {
        let url = self.url_of(file);
        let body = std::fs::read(&file.path).map_err(|e| PageFailure {
            url: file.path.display().to_string(),
            stage: "read",
            reason: e.to_string(),
        })?;
        Ok(RawPage {
            url,
            source: self.key.clone(),
            kind: file.kind,
            body,
            charset: None,
            path: Some(file.path.clone()),
            etag: None,
            last_modified: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str) -> FolderFile {
        FolderFile { path: PathBuf::from("/x").join(rel), relative: rel.into(), kind: ContentKind::Markdown }
    }

    #[test]
    fn urls_follow_static_site_conventions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = FolderSource::new(dir.path(), Some("https://help.example/docs")).expect("source");
        assert_eq!(src.url_of(&file("billing/refunds.md")), "https://help.example/docs/billing/refunds");
        assert_eq!(src.url_of(&file("pricing/index.md")), "https://help.example/docs/pricing/");
        assert_eq!(src.url_of(&file("index.md")), "https://help.example/docs/");
        assert_eq!(src.url_of(&file("v1.2/notes.md")), "https://help.example/docs/v1.2/notes");
        assert_eq!(src.url_of(&file("a b/ünï.md")), "https://help.example/docs/a%20b/%C3%BCn%C3%AF");
    }

    #[test]
    fn without_base_url_pages_get_file_urls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = FolderSource::new(dir.path(), None).expect("source");
        let f = FolderFile { path: dir.path().join("a.md"), relative: "a.md".into(), kind: ContentKind::Markdown };
        assert!(src.url_of(&f).starts_with("file:///"), "{}", src.url_of(&f));
    }

    #[test]
    fn scan_honours_ignore_file_hidden_files_and_extensions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::create_dir_all(p.join("sub")).expect("mkdir");
        std::fs::write(p.join("a.md"), "# A").expect("write");
        std::fs::write(p.join("sub/b.html"), "<p>b</p>").expect("write");
        std::fs::write(p.join("c.txt"), "c").expect("write");
        std::fs::write(p.join("README.md"), "not content").expect("write");
        std::fs::write(p.join("logo.png"), [0u8, 1, 2]).expect("write");
        std::fs::write(p.join(".hidden.md"), "hidden").expect("write");
        std::fs::write(p.join(IGNORE_FILE), "README.md\n").expect("write");
        let scan = FolderSource::new(p, None).expect("source").scan();
        let rels: Vec<_> = scan.files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(rels, vec!["a.md", "c.txt", "sub/b.html"]);
        assert_eq!(scan.ignored, 1, "the png");
    }

    #[test]
    fn bad_base_url_is_a_config_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = FolderSource::new(dir.path(), Some("ftp://x")).unwrap_err();
        assert!(err.to_string().contains("http"), "{err}");
        let err = FolderSource::new(Path::new("/definitely/not/here"), None).unwrap_err();
        assert!(matches!(err, IngestError::SourceUnreadable { .. }), "{err}");
    }
}
