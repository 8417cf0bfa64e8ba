//! `docent ingest` as a user runs it: a real child process, the real model, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BASE: &str = "https://help.lumenledger.example/";

fn docent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_docent"));
    c.env("DOCENT_MODELS", models_dir()).env_remove("DOCENT_DATA").env_remove("DOCENT_BOT");
    c
}

fn models_dir() -> PathBuf {
    std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn run_json(args: &[&str], data: &Path) -> (Output, Value) {
    let out = docent().arg("ingest").args(args).arg("--data").arg(data).arg("--json").output().expect("spawn docent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    (out, json)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).expect("prefix");
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &dst).expect("copy");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn n(v: &Value, path: &str) -> u64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_u64().unwrap_or_else(|| panic!("{path} missing in {v}"))
}

fn refunds_text_contains(data: &Path, needle: &str) -> bool {
    let bot = docent_index::BotDir::new(data, "docs").expect("bot");
    let snap = docent_index::IndexSnapshot::open(&bot).expect("open");
    let chunks = snap.chunks_of("https://help.lumenledger.example/billing/refunds").expect("chunks");
    chunks.iter().any(|(c, _)| c.text.contains(needle))
}

#[test]
fn ingests_the_sample_corpus_then_only_what_changed() {
    let work = tempfile::tempdir().expect("tempdir");
    let docs = work.path().join("corpus");
    copy_dir(&corpus(), &docs);
    let data = work.path().join("data");
    let pages = walk(&docs)
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "html" | "txt")) && name != "README.md"
        })
        .count() as u64;

    // First ingest: every page is new and embedded.
    let (out, first) = run_json(&[docs.to_str().expect("utf8"), "--base-url", BASE], &data);
    assert!(refunds_text_contains(&data, "30 days"));
    assert!(out.status.success(), "{first}");
    assert_eq!(n(&first, "documents.total"), pages);
    assert_eq!(n(&first, "documents.added"), pages);
    assert_eq!(first["failures"].as_array().map(|a| a.len()), Some(0), "{}", first["failures"]);
    let chunks = n(&first, "chunks.total");
    assert!(chunks > pages, "{chunks} chunks for {pages} pages");
    assert_eq!(n(&first, "chunks.embedded"), chunks, "a fresh index embeds every chunk");
    assert_eq!(first["published"], true);

    // Edit one page, delete one, add one.
    let refunds = docs.join("billing/refunds.md");
    assert!(std::fs::read_to_string(&refunds).expect("read").contains("**30 days**"), "test edit needs this text");
    let text = std::fs::read_to_string(&refunds).expect("read");
    std::fs::write(&refunds, text.replace("**30 days**", "**45 days**")).expect("edit");
    std::fs::remove_file(docs.join("integrations/zapier.md")).expect("delete");
    std::fs::write(
        docs.join("billing/gift-cards.md"),
        "---\ntitle: Gift cards\ntags: [billing]\n---\n\n## Buying a gift card\n\nGift cards for Lumen Ledger plans are sold in amounts of $50 and $100 and never expire.\n",
    )
    .expect("add");
    let (out, second) = run_json(&[docs.to_str().expect("utf8"), "--base-url", BASE], &data);
    assert!(out.status.success(), "{second}");
    assert_eq!(n(&second, "documents.added"), 1);
    assert_eq!(n(&second, "documents.changed"), 1);
    assert_eq!(n(&second, "documents.deleted"), 1);
    assert_eq!(n(&second, "documents.unchanged"), pages - 2);
    assert_eq!(n(&second, "documents.total"), pages);
    // Only chunks of the two touched pages go through the model, and of the edited page
    // only the edited section does: its other sections come from the embedding cache.
    let embedded = n(&second, "chunks.embedded");
    assert!(embedded >= 2, "the added page and the edited section must be embedded, got {embedded}");
    assert!(n(&second, "chunks.cached") >= 1, "unchanged sections of the edited page come from the cache");
    assert!(embedded <= 4, "re-embedded {embedded} chunks for a one-line edit and a one-section page");
    assert!(n(&second, "chunks.reused") >= chunks - 20, "unchanged pages keep their vectors");
    assert!(n(&second, "generation") > n(&first, "generation"));

    // Nothing changed: no model call, no new generation.
    let (out, third) = run_json(&[docs.to_str().expect("utf8"), "--base-url", BASE], &data);
    assert!(out.status.success(), "{third}");
    assert_eq!(third["published"], false);
    assert_eq!(n(&third, "chunks.embedded"), 0);
    assert_eq!(n(&third, "generation"), n(&second, "generation"));

    // The index holds the edit, the new page, and not the deleted one.
    let bot = docent_index::BotDir::new(&data, "docs").expect("bot");
    let snap = docent_index::IndexSnapshot::open(&bot).expect("open");
    let m = snap.manifest();
    assert!(m.documents.contains_key("https://help.lumenledger.example/billing/gift-cards"));
    assert!(!m.documents.contains_key("https://help.lumenledger.example/integrations/zapier"));
    let refunds = snap.chunks_of("https://help.lumenledger.example/billing/refunds").expect("chunks");
    assert!(refunds.iter().any(|(c, _)| c.text.contains("45 days")));
    assert!(!refunds.iter().any(|(c, _)| c.text.contains("30 days")), "the old text is gone");
    assert!(refunds.iter().any(|(c, _)| c.url.ends_with("#refund-window")));
}

#[test]
fn human_summary_and_progress_go_to_the_right_streams() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("a.md"), "# Alpha\n\nThe alpha page explains invoices.\n").expect("write");
    let out = docent()
        .args(["ingest", "--quiet", "--data"])
        .arg(work.path().join("data"))
        .arg(work.path().join("a.md"))
        .output()
        .expect("spawn");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("documents: 1 total (1 added"), "{stdout}");
    assert!(stdout.contains("chunks/s"), "{stdout}");
}

#[test]
fn empty_folder_is_a_clear_error_with_a_failing_exit() {
    let work = tempfile::tempdir().expect("tempdir");
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let (out, json) = run_json(&[empty.to_str().expect("utf8")], &work.path().join("data"));
    assert!(!out.status.success());
    let msg = json["error"].as_str().expect("error message");
    assert!(msg.contains("nothing to index") && msg.contains("no Markdown, HTML or text"), "{msg}");
}

#[test]
fn unreadable_and_malformed_files_are_reported_and_the_rest_indexed() {
    let work = tempfile::tempdir().expect("tempdir");
    let docs = work.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("good.md"), "## Payouts\n\nPayouts arrive every Tuesday.\n").expect("write");
    std::fs::write(
        docs.join("broken.html"),
        "<html><body><main><h2 id=x>Broken <b>page</h2><p>Still <i>readable</div> text",
    )
    .expect("write");
    std::fs::write(docs.join("latin1.txt"), b"caf\xe9 au lait\n").expect("write");
    std::os::unix::fs::symlink(docs.join("missing-target.md"), docs.join("dangling.md")).expect("symlink");
    let (out, json) = run_json(&[docs.to_str().expect("utf8")], &work.path().join("data"));
    assert!(out.status.success(), "{json}");
    assert_eq!(n(&json, "documents.total"), 2, "good.md and the tolerated broken HTML: {json}");
    let failures = json["failures"].as_array().expect("failures");
    let text = serde_json::to_string(failures).expect("json");
    assert!(text.contains("dangling.md"), "{text}");
    assert!(text.contains("latin1.txt") && text.to_lowercase().contains("utf-8"), "{text}");
    assert_eq!(failures.len(), 2, "{text}");
}

#[test]
fn arguments_that_are_neither_paths_nor_urls_are_rejected_clearly() {
    let work = tempfile::tempdir().expect("tempdir");
    for (arg, expect) in [
        ("htp:/not a url", "not a folder, a file or an http(s) URL"),
        ("http://", "invalid URL"),
        ("ftp://files.example/docs", "only http:// and https://"),
        ("./no/such/folder", "no such file or directory"),
    ] {
        let (out, json) = run_json(&[arg], &work.path().join("data"));
        assert!(!out.status.success(), "{arg} accepted");
        let msg = json["error"].as_str().unwrap_or_default();
        assert!(msg.contains(expect), "{arg}: {msg}");
    }
    assert!(!work.path().join("data/bots/docs").join("CURRENT").exists());
}

#[test]
fn a_missing_model_says_to_run_make_models() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("a.md"), "text").expect("write");
    let out = docent()
        .env("DOCENT_MODELS", work.path().join("nowhere"))
        .args(["ingest", "--quiet", "--data"])
        .arg(work.path().join("data"))
        .arg(work.path().join("a.md"))
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("make models") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn new_chunking_parameters_rechunk_every_page_and_reuse_identical_vectors() {
    let work = tempfile::tempdir().expect("tempdir");
    let docs = work.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("short.md"), "## Short\n\nA short section that fits any chunk size.\n").expect("write");
    let long: String = (0..80).map(|i| format!("Sentence {i} describes ledger exports in detail. ")).collect();
    std::fs::write(docs.join("long.md"), format!("## Long\n\n{long}\n")).expect("write");
    let data = work.path().join("data");
    let (out, first) = run_json(&[docs.to_str().expect("utf8")], &data);
    assert!(out.status.success(), "{first}");
    let (out, second) =
        run_json(&[docs.to_str().expect("utf8"), "--chunk-tokens", "64", "--chunk-overlap", "8"], &data);
    assert!(out.status.success(), "{second}");
    assert_eq!(n(&second, "documents.changed"), 2, "{second}");
    assert_eq!(n(&second, "documents.added"), 0, "{second}");
    assert_eq!(n(&second, "chunks.reused"), 0, "old chunks must not be copied under new parameters");
    assert!(n(&second, "chunks.total") > n(&first, "chunks.total"), "smaller chunks, more of them");
    assert!(n(&second, "chunks.cached") >= 1, "the unchanged short chunk keeps its cached vector: {second}");
    let bot = docent_index::BotDir::new(&data, "docs").expect("bot");
    let snap = docent_index::IndexSnapshot::open(&bot).expect("open");
    assert_eq!(snap.manifest().chunking.max_tokens, 64);
}
