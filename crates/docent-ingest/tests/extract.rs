//! Extraction against the sample docs site in `corpus/` (the Lumen Ledger help
//! center) plus hostile inputs through the public `extract` entry point.

use std::path::{Path, PathBuf};

use docent_ingest::extract::{self, ExtractError};
use docent_ingest::{ContentKind, ExtractedPage, RawPage, Section};

const BASE: &str = "https://help.lumenledger.example/";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// The corpus README's URL mapping: drop the extension, `index` → folder URL.
fn url_for(rel: &Path) -> String {
    let rel = rel.to_string_lossy().replace('\\', "/");
    let stem = rel.rsplit_once('.').map_or(rel.as_str(), |(stem, _)| stem);
    match stem.strip_suffix("index") {
        Some(folder) if folder.is_empty() || folder.ends_with('/') => format!("{BASE}{folder}"),
        _ => format!("{BASE}{stem}"),
    }
}

fn kind_for(path: &Path) -> Option<ContentKind> {
    match path.extension()?.to_str()? {
        "md" => Some(ContentKind::Markdown),
        "html" => Some(ContentKind::Html),
        "txt" => Some(ContentKind::Text),
        _ => None,
    }
}

fn raw_page(url: &str, kind: ContentKind, body: Vec<u8>) -> RawPage {
    RawPage {
        url: url.to_owned(),
        source: "test".to_owned(),
        kind,
        body,
        charset: None,
        path: None,
        etag: None,
        last_modified: None,
    }
}

fn corpus_page(rel: &str) -> RawPage {
    let path = corpus_dir().join(rel);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let kind = kind_for(&path).expect("known extension");
    let mut page = raw_page(&url_for(Path::new(rel)), kind, body);
    page.path = Some(path);
    page
}

fn load(rel: &str) -> ExtractedPage {
    extract::extract(&corpus_page(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every corpus document (README.md and questions.jsonl are not part of it), as paths
/// relative to the corpus root.
fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let rel = rel.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus_dir(), Path::new(""), &mut files);
    // Dotfiles (`.docentignore`) configure the folder source; they are not pages.
    files.retain(|rel| {
        let hidden = rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        !hidden && rel != Path::new("README.md") && rel != Path::new("questions.jsonl")
    });
    files.sort();
    files
}

fn section<'a>(page: &'a ExtractedPage, heading: &str) -> &'a Section {
    page.sections.iter().find(|s| s.headings.last().map(String::as_str) == Some(heading)).unwrap_or_else(|| {
        panic!("no section {heading:?} in {:#?}", page.sections.iter().map(|s| &s.headings).collect::<Vec<_>>())
    })
}

fn by_anchor<'a>(page: &'a ExtractedPage, anchor: &str) -> &'a Section {
    page.sections
        .iter()
        .find(|s| s.anchor.as_deref() == Some(anchor))
        .unwrap_or_else(|| panic!("no section with anchor {anchor:?}"))
}

fn all_text(page: &ExtractedPage) -> String {
    page.sections.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("\n\n")
}

/// Site chrome that appears on every HTML page and must never reach the index.
const BOILERPLATE: &[&str] = &[
    "Skip to main content",
    "Search the help center",
    "System status",
    "Help center sections",
    "Related articles",
    "Still stuck?",
    "Was this article helpful?",
    "Privacy Policy",
    "Cookie settings",
    "All rights reserved",
    "window.lumenHelp",
    "querySelectorAll",
    "copy-code",
];

#[test]
fn every_corpus_file_extracts_to_a_titled_non_empty_page() {
    let files = corpus_files();
    assert_eq!(files.len(), 64, "the corpus README promises 64 pages");
    for rel in files {
        let rel_str = rel.to_string_lossy().into_owned();
        let page = load(&rel_str);
        assert!(!page.title.trim().is_empty(), "{rel_str}: empty title");
        assert!(!page.is_empty(), "{rel_str}: no text");
        for s in &page.sections {
            assert!(!s.text.trim().is_empty(), "{rel_str}: empty section {:?} emitted", s.headings);
            assert!(s.headings.iter().all(|h| !h.trim().is_empty()), "{rel_str}: blank heading in {:?}", s.headings);
            assert!(!s.headings.contains(&page.title), "{rel_str}: title {:?} used as a heading", page.title);
            assert!(!s.text.contains('\u{0}') && !s.text.contains('\r'), "{rel_str}: control characters");
            if s.anchor.is_some() {
                assert_eq!(s.link_anchor, s.anchor, "{rel_str}: own anchor must be the link anchor");
            }
        }
        match kind_for(&rel) {
            Some(ContentKind::Html) => {
                let text = all_text(&page);
                for junk in BOILERPLATE {
                    assert!(!text.contains(junk), "{rel_str}: boilerplate {junk:?} in text");
                }
                assert!(!page.title.contains("Lumen Ledger Help Center"), "{rel_str}: site suffix kept");
                // Every HTML page's canonical agrees with the README's URL mapping.
                let expected = url_for(&rel);
                assert_eq!(page.canonical.as_deref(), Some(expected.as_str()), "{rel_str}: canonical");
                assert!(page.description.is_some(), "{rel_str}: meta description");
            }
            Some(ContentKind::Markdown) => {
                assert!(page.description.is_some(), "{rel_str}: front matter description");
                assert!(!page.tags.is_empty(), "{rel_str}: front matter tags");
                assert!(!all_text(&page).starts_with("---"), "{rel_str}: front matter leaked into text");
            }
            Some(ContentKind::Text) => {
                assert!(page.sections.iter().all(|s| s.anchor.is_none() && s.link_anchor.is_none()));
                assert!(page.sections.len() > 2, "{rel_str}: setext headings found");
            }
            None => panic!("{rel_str}: unexpected file type in the corpus"),
        }
    }
}

/// Every anchor the evaluation set expects exists on its page, so retrieval can link
/// to it. This is the strongest check of slugs and HTML ids against the corpus.
#[test]
fn every_expected_anchor_in_questions_exists() {
    let questions = std::fs::read_to_string(corpus_dir().join("questions.jsonl")).expect("questions.jsonl");
    let mut checked = 0;
    let mut missing = Vec::new();
    for line in questions.lines().filter(|l| !l.trim().is_empty()) {
        let q: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let (Some(url), Some(anchor)) = (q["expected_url"].as_str(), q["expected_anchor"].as_str()) else {
            continue;
        };
        let rel = url.strip_prefix(BASE).expect("corpus URL");
        let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index") } else { rel.to_owned() };
        let file = ["md", "html", "txt"]
            .iter()
            .map(|ext| format!("{rel}.{ext}"))
            .find(|f| corpus_dir().join(f).exists())
            .unwrap_or_else(|| panic!("no corpus file for {url}"));
        let page = load(&file);
        if !page.sections.iter().any(|s| s.anchor.as_deref() == Some(anchor)) {
            missing.push(format!("{file}#{anchor}"));
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} anchors checked");
    missing.sort();
    missing.dedup();
    // The one exception: `lost-device` is an <h2> directly followed by an <h3>, so it has
    // no text of its own and (by design) no section; it survives only in the heading
    // paths of its subsections, which carry their own ids.
    assert_eq!(missing, vec!["account/two-factor-authentication.html#lost-device".to_owned()]);
    let page = load("account/two-factor-authentication.html");
    let under: Vec<_> = page
        .sections
        .iter()
        .filter(|s| s.headings.first().map(String::as_str) == Some("If you lose your phone or security key"))
        .map(|s| s.anchor.as_deref())
        .collect();
    assert_eq!(under, vec![Some("use-another-method"), Some("ask-an-admin"), Some("account-recovery")]);
}

#[test]
fn team_roles_html_content_without_chrome() {
    let page = load("account/team-roles.html");
    assert_eq!(page.title, "Team roles and permissions");
    assert_eq!(
        page.description.as_deref(),
        Some("The five team roles in Lumen Ledger, what each can do, and how to invite, change and remove members.")
    );
    let text = all_text(&page);
    for chrome in ["Getting started", "Help Center", "Users and seats per plan", "Privacy Policy", "lumenHelp"] {
        assert!(!text.contains(chrome), "chrome {chrome:?} leaked");
    }

    // The h1 is the title, so the intro has no headings.
    let intro = &page.sections[0];
    assert!(intro.headings.is_empty());
    assert!(intro.text.contains("Every member of a workspace has exactly one role."), "{}", intro.text);

    let roles = by_anchor(&page, "roles");
    assert_eq!(roles.headings, vec!["The five roles".to_owned()]);
    assert!(roles.text.starts_with("- Owner – the person responsible for the workspace."), "{}", roles.text);
    assert_eq!(roles.text.lines().count(), 5, "one line per role: {}", roles.text);

    let permissions = by_anchor(&page, "permissions");
    let mut lines = permissions.text.lines();
    assert_eq!(lines.next(), Some("| Action | Owner | Admin | Accountant | Member | Viewer |"));
    assert_eq!(lines.next(), Some("| --- | --- | --- | --- | --- | --- |"));
    assert!(permissions.text.contains("\n| Export data | ✓ | ✓ | ✓ | – | – |\n"), "{}", permissions.text);
    assert!(permissions.text.ends_with("\n\nCustom roles and per-customer permissions aren't available."));

    let inviting = by_anchor(&page, "inviting-team-members");
    assert!(
        inviting.text.starts_with("1. Go to Settings → Team and click Invite.\n2. Enter one or more"),
        "{}",
        inviting.text
    );

    // A heading without an id and no parent: no anchor at all.
    let left = section(&page, "If the Owner has left the company");
    assert_eq!((left.anchor.as_deref(), left.link_anchor.as_deref()), (None, None));
}

#[test]
fn headings_without_id_link_to_their_parent() {
    // Corpus README: "Undoing a cancellation" (no id) sits under #after-cancellation.
    let page = load("billing/cancel-subscription.html");
    let undo = section(&page, "Undoing a cancellation");
    assert_eq!(undo.headings, vec!["After cancellation".to_owned(), "Undoing a cancellation".to_owned()]);
    assert_eq!(undo.anchor, None);
    assert_eq!(undo.link_anchor.as_deref(), Some("after-cancellation"));
    assert!(undo.text.contains("Resume subscription"));
    // The <aside> inside <main> is excluded.
    assert!(!all_text(&page).contains("Upgrading and downgrading"));

    // LL-5003: an h3 without id under h2#system-errors, whose own body is empty.
    let page = load("troubleshooting/error-codes.html");
    let ll5003 = section(&page, "LL-5003: Maintenance in progress");
    assert_eq!(
        ll5003.headings,
        vec!["System errors (LL-5xxx)".to_owned(), "LL-5003: Maintenance in progress".to_owned()]
    );
    assert_eq!(ll5003.anchor, None);
    assert_eq!(ll5003.link_anchor.as_deref(), Some("system-errors"));
    assert!(
        !page.sections.iter().any(|s| s.headings == ["System errors (LL-5xxx)"]),
        "a heading directly followed by a subheading has no section of its own"
    );
    let sso = by_anchor(&page, "sso-errors");
    assert_eq!(
        sso.headings,
        vec!["Sign-in and access errors (LL-1xxx)".to_owned(), "Single sign-on errors".to_owned()]
    );
    assert!(sso.text.contains("| LL-1042 | The email attribute is missing. | Configure the IdP to send email (and first_name, last_name). |"), "{}", sso.text);
}

#[test]
fn inline_markup_in_headings_and_feedback_heading_kept() {
    let page = load("release-notes/index.html");
    let api = by_anchor(&page, "api-version-2025-03-15");
    assert_eq!(api.headings, vec!["March 2025".to_owned(), "API version 2025-03-15 (API, 15 March)".to_owned()]);
    let bulk = section(&page, "Bulk resend for webhook events (API, 4 February)");
    assert_eq!((bulk.anchor.as_deref(), bulk.link_anchor.as_deref()), (None, Some("february-2025")));

    // A content heading with id="feedback" is not mistaken for a feedback widget.
    let page = load("legal/accessibility.html");
    let feedback = by_anchor(&page, "feedback");
    assert_eq!(feedback.headings, vec!["Feedback and contact".to_owned()]);
    assert!(feedback.text.contains("5 business days"));
}

#[test]
fn html_code_blocks_are_verbatim() {
    let page = load("api/webhooks.html");
    let python = by_anchor(&page, "python-example");
    assert!(
        python.text.starts_with("```python\nimport hmac, hashlib, time\n\ndef verify_lumen_signature("),
        "{}",
        python.text
    );
    assert!(python
        .text
        .contains("tolerance: int = 300) -> bool:\n    parts = [p.split(\"=\", 1) for p in header.split(\",\")]\n"));
    assert!(python.text.ends_with("for s in signatures)\n```"));
    let payload = by_anchor(&page, "event-payload");
    assert!(payload.text.contains("```json\n{\n  \"id\": \"evt_2Ka9Pq7Lm3\",\n"), "{}", payload.text);
    let verify = by_anchor(&page, "verifying-signatures");
    assert!(verify.text.contains("```\nLumen-Signature: t=1741969244,v1="), "{}", verify.text);
}

#[test]
fn refunds_markdown() {
    let page = load("billing/refunds.md");
    assert_eq!(page.title, "Refund policy for Lumen Ledger subscriptions");
    assert_eq!(
        page.description.as_deref(),
        Some("When you can get a refund for your Lumen Ledger plan, how to request one and how long it takes.")
    );
    assert_eq!(page.tags, vec!["billing", "refunds", "subscription"]);
    assert_eq!(page.canonical, None);

    let intro = &page.sections[0];
    assert!(intro.headings.is_empty() && intro.anchor.is_none());
    assert!(intro.text.contains("see refunding a customer payment instead."), "links keep their text: {}", intro.text);
    assert!(!intro.text.contains("refunding-customers.md"), "link URLs are dropped");

    let window = section(&page, "Refund window");
    assert_eq!(window.anchor.as_deref(), Some("refund-window"));
    assert_eq!(window.link_anchor.as_deref(), Some("refund-window"));
    assert!(
        window.text.contains(
            "- 30 days of the charge date for annual plans, and\n- 14 days of the charge date for monthly plans."
        ),
        "{}",
        window.text
    );

    let table = section(&page, "What can be refunded");
    assert!(
        table.text.starts_with("| Charge type | Refundable within the window? |\n| --- | --- |\n"),
        "{}",
        table.text
    );
    assert!(table.text.contains("\n| Dispute fees | No (see disputes) |\n"));
    assert!(table.text.contains("\n| Taxes charged on a refunded amount | Yes, refunded together with the charge |"));

    let review = section(&page, "Review");
    assert_eq!(review.headings, vec!["What happens after you request a refund".to_owned(), "Review".to_owned()]);
    assert_eq!(review.anchor.as_deref(), Some("review"));
    let how = section(&page, "How to request a refund");
    assert!(
        how.text.contains("1. Open Settings → Plan and billing → Billing history.\n2. Find the charge"),
        "{}",
        how.text
    );
    assert!(how.text.contains("(it starts with LL-)"), "inline code keeps its content: {}", how.text);
}

#[test]
fn readme_slug_example_in_corpus() {
    let page = load("account/single-sign-on.md");
    let step2 = by_anchor(&page, "step-2-create-the-application-in-your-idp");
    assert_eq!(step2.headings.last().map(String::as_str), Some("Step 2: Create the application in your IdP"));
    assert_eq!(
        extract::slugify("Step 2: Create the application in your IdP"),
        "step-2-create-the-application-in-your-idp"
    );
}

/// Every fenced block of every Markdown corpus file appears verbatim in the output.
#[test]
fn markdown_code_blocks_are_verbatim() {
    let mut blocks = 0;
    for rel in corpus_files().into_iter().filter(|f| kind_for(f) == Some(ContentKind::Markdown)) {
        let rel = rel.to_string_lossy().into_owned();
        let source = std::fs::read_to_string(corpus_dir().join(&rel)).expect("read");
        let text = all_text(&load(&rel));
        let mut lines = source.lines();
        while let Some(line) = lines.next() {
            let Some(lang) = line.strip_prefix("```") else { continue };
            let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            let expected = format!("```{lang}\n{}\n```", code.join("\n").trim_end());
            assert!(text.contains(&expected), "{rel}: code block not verbatim:\n{expected}");
            blocks += 1;
        }
    }
    assert!(blocks >= 30, "only {blocks} code blocks found");
}

#[test]
fn plain_text_setext_sections() {
    let page = load("getting-started/faq.txt");
    assert_eq!(page.title, "LUMEN LEDGER - FREQUENTLY ASKED QUESTIONS");
    assert_eq!(page.sections[0].headings, Vec::<String>::new());
    assert!(page.sections[0].text.starts_with("Last reviewed: March 2025"));
    let general = section(&page, "GENERAL");
    assert_eq!(general.headings, vec!["GENERAL".to_owned()]);
    assert!(
        general.text.starts_with("Q: What is Lumen Ledger?\nA: Lumen Ledger is an online invoicing"),
        "{}",
        general.text
    );

    let page = load("getting-started/contact-support.txt");
    assert_eq!(page.title, "CONTACTING LUMEN LEDGER SUPPORT");
    let targets = section(&page, "4. RESPONSE TIME TARGETS");
    assert!(
        targets.text.contains("  Plan      Channels                    First response target\n  -------   ---"),
        "{}",
        targets.text
    );
    assert!(targets.text.contains("  Growth    Email, chat                 1 business day"));

    let page = load("release-notes/changelog.txt");
    assert_eq!(page.title, "LUMEN LEDGER CHANGELOG");
    let y2024 = section(&page, "2024");
    assert!(y2024.text.contains("2024-08-27  New: UAE dirham (AED) and South African rand (ZAR) invoicing."));
}

#[test]
fn duplicate_headings_get_suffixes() {
    let md = "---\ntitle: Objects\n---\n## Attributes\n\na\n\n## Attributes\n\nb\n\n### Attributes\n\nc\n";
    let page = extract::extract_markdown(md, "https://x.example/objects").expect("parses");
    let anchors: Vec<_> = page.sections.iter().map(|s| s.anchor.clone().unwrap_or_default()).collect();
    assert_eq!(anchors, vec!["attributes", "attributes-1", "attributes-2"]);
}

#[test]
fn broken_html_yields_text_without_panicking() {
    let mut body = b"<html><head><title>Broken | Site</title><body><main><div><p>First <b>para".to_vec();
    body.extend_from_slice(b"</div></div></span><h2 id=x>Next</h2><p>Tail <ul><li>one<li>two</main></table>");
    let page = extract::extract(&raw_page("https://x.example/b", ContentKind::Html, body)).expect("extracts");
    assert_eq!(page.title, "Broken");
    let text = all_text(&page);
    assert!(text.contains("First para") && text.contains("- one\n- two"), "{text}");

    // Garbage bytes that are valid UTF-8 (control characters, stray markup) do not panic.
    let garbage: Vec<u8> = (0u32..4000).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x7f).collect();
    for kind in [ContentKind::Html, ContentKind::Markdown, ContentKind::Text] {
        match extract::extract(&raw_page("https://x.example/g", kind, garbage.clone())) {
            Ok(page) => assert!(page.sections.iter().all(|s| !s.text.contains('\u{0}'))),
            Err(ExtractError::Empty { .. } | ExtractError::FrontMatter { .. }) => {}
            Err(other) => panic!("{kind:?}: {other}"),
        }
    }
}

#[test]
fn invalid_utf8_is_invalid_encoding() {
    for kind in [ContentKind::Html, ContentKind::Markdown, ContentKind::Text] {
        let page = raw_page("https://x.example/bad", kind, b"<p>caf\xe9 \xff\xfe</p>".to_vec());
        match extract::extract(&page) {
            Err(ExtractError::InvalidEncoding { url, detail }) => {
                assert_eq!(url, "https://x.example/bad");
                assert!(detail.contains("UTF-8"), "{detail}");
            }
            other => panic!("{kind:?}: expected InvalidEncoding, got {other:?}"),
        }
    }
}

#[test]
fn latin1_with_declared_charset_decodes() {
    let mut page = raw_page(
        "https://x.example/l1",
        ContentKind::Html,
        b"<title>R\xe9sum\xe9</title><p>Cr\xe8me br\xfbl\xe9e \xa3</p>".to_vec(),
    );
    page.charset = Some("ISO-8859-1".to_owned());
    let out = extract::extract(&page).expect("decodes");
    assert_eq!(out.title, "Résumé");
    assert_eq!(out.sections[0].text, "Crème brûlée £");
    assert_eq!(extract::decode_body(b"na\xefve", Some("latin1"), "u").as_deref(), Ok("naïve"));
}

#[test]
fn malformed_front_matter_is_an_error() {
    let body = b"---\ntitle: Refunds\ntags: [billing\n---\n\nBody\n".to_vec();
    match extract::extract(&raw_page("https://x.example/fm", ContentKind::Markdown, body)) {
        Err(ExtractError::FrontMatter { url, detail }) => {
            assert_eq!(url, "https://x.example/fm");
            assert!(!detail.is_empty());
        }
        other => panic!("expected FrontMatter, got {other:?}"),
    }
}

#[test]
fn odd_unicode_is_handled() {
    let md = "---\ntitle: \"Émoji 🎉 and עברית\"\n---\n## Ünïcödé 🚀 heading\n\nמימין לשמאל text with e\u{301}\u{0308} marks, a NUL \u{0} and ZWJ 👩\u{200D}💻.\n\n## 日本語\n\nテキスト\n";
    let page =
        extract::extract(&raw_page("https://x.example/u", ContentKind::Markdown, md.as_bytes().to_vec())).expect("ok");
    assert_eq!(page.title, "Émoji 🎉 and עברית");
    assert_eq!(page.sections[0].anchor.as_deref(), Some("ünïcödé--heading"));
    assert_eq!(page.sections[0].text, "מימין לשמאל text with e\u{301}\u{0308} marks, a NUL and ZWJ 👩\u{200D}💻.");
    assert_eq!(page.sections[1].anchor.as_deref(), Some("日本語"));

    let html = "<html dir=rtl><title>‏مرحبا‏</title><main><h2 id=\"قسم\">قسم</h2><p>نص \u{0} 🎉</p></main>";
    let page =
        extract::extract(&raw_page("https://x.example/r", ContentKind::Html, html.as_bytes().to_vec())).expect("ok");
    assert_eq!(page.sections[0].anchor.as_deref(), Some("قسم"));
    assert_eq!(page.sections[0].text, "نص 🎉");
}

/// Deterministic mutation run: every corpus file cut at pseudo-random byte offsets
/// (often mid-tag or mid-UTF-8 sequence) and spliced with markup fragments must
/// extract or fail with an `ExtractError` — never panic.
#[test]
fn mutated_corpus_files_never_panic() {
    const SPLICES: &[&[u8]] = &[
        b"</div></main></table>",
        b"<h2 id=",
        b"<pre><code class=\"language-",
        b"\n---\ntitle: [\n",
        b"\n```\n",
        b"| a | b |\n|",
        b"<!--",
        b"\xff\xfe\x00",
        b"&#x0;&#xD800;&amp",
        b"<script>",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs = 0;
    for rel in corpus_files() {
        let original = corpus_page(&rel.to_string_lossy());
        for _ in 0..12 {
            let mut page = original.clone();
            let len = page.body.len().max(1) as u64;
            let cut = (next() % len) as usize;
            let splice = SPLICES[(next() % SPLICES.len() as u64) as usize];
            let mut body = page.body[..cut.min(page.body.len())].to_vec();
            body.extend_from_slice(splice);
            let resume = cut + (next() % 200) as usize;
            body.extend_from_slice(page.body.get(resume..).unwrap_or_default());
            page.body = body;
            match extract::extract(&page) {
                Ok(out) => assert!(out.sections.iter().all(|s| !s.text.trim().is_empty())),
                Err(
                    ExtractError::InvalidEncoding { .. }
                    | ExtractError::FrontMatter { .. }
                    | ExtractError::Empty { .. },
                ) => {}
            }
            runs += 1;
        }
    }
    assert!(runs >= 64 * 12);
}
