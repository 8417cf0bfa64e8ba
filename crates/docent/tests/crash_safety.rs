//! Kill a real `docent ingest` child process half-way: the previous generation must
//! still open and answer searches, and the next run must finish, reusing the vectors
//! the killed run had already computed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docent_index::{BotDir, IndexSnapshot};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;

fn docent() -> Command {
    let models = std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_docent"));
    c.env("DOCENT_MODELS", models);
    c
}

const WORDS: &[&str] = &[
    "invoice",
    "ledger",
    "payout",
    "refund",
    "currency",
    "webhook",
    "session",
    "workspace",
    "receipt",
    "discount",
    "quarter",
    "reminder",
    "export",
    "archive",
    "balance",
    "transfer",
    "statement",
    "customer",
    "vendor",
    "audit",
];

/// A page with three sections of distinct, deterministic text.
fn page(i: usize) -> String {
    let mut s = format!("---\ntitle: Generated page {i}\n---\n\n");
    for sec in 0..3 {
        s.push_str(&format!("## Section {sec} of page {i}\n\n"));
        for k in 0..40 {
            let w = WORDS[(i * 7 + sec * 3 + k) % WORDS.len()];
            s.push_str(&format!("{w}{} ", (i * 131 + sec * 17 + k) % 997));
        }
        s.push_str("\n\n");
    }
    s
}

fn bm25_hits(snap: &IndexSnapshot, query: &str) -> usize {
    let searcher = snap.searcher();
    let schema = snap.schema();
    let parser = QueryParser::for_index(searcher.index(), vec![schema.title, schema.body]);
    let q = parser.parse_query(query).expect("query");
    searcher.search(&q, &TopDocs::with_limit(10).order_by_score()).expect("search").len()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn killed_ingest_leaves_the_live_generation_searchable_and_its_work_reusable() {
    let work = tempfile::tempdir().expect("tempdir");
    let docs = work.path().join("docs");
    let data = work.path().join("data");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(
        docs.join("payouts.md"),
        "---\ntitle: Payouts\n---\n\n## Schedule\n\nPayouts arrive every Tuesday.\n",
    )
    .expect("write");
    let first = docent().args(["ingest", "--quiet", "--data"]).arg(&data).arg(&docs).output().expect("run");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let bot = BotDir::new(&data, "docs").expect("bot");
    let live = bot.current().expect("current").expect("published");
    let cache = bot.embedding_cache_path();
    let cache_before = file_len(&cache);

    // Enough new work that the run is certainly still embedding when we kill it.
    for i in 0..120 {
        std::fs::write(docs.join(format!("gen-{i:03}.md")), page(i)).expect("write");
    }
    let mut child = docent()
        .args(["ingest", "--quiet", "--batch-size", "4", "--data"])
        .arg(&data)
        .arg(&docs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the run has embedded (and durably cached) some chunks, then SIGKILL it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let record = 32 + 384 * 4;
    while file_len(&cache) < cache_before + 8 * record as u64 {
        assert!(child.try_wait().expect("try_wait").is_none(), "ingest finished before it could be killed");
        assert!(Instant::now() < deadline, "ingest made no progress in 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the child was killed, not finished");

    // The live generation is untouched and answers searches.
    assert_eq!(bot.current().expect("current"), Some(live));
    let snap = IndexSnapshot::open(&bot).expect("previous generation opens");
    assert_eq!(snap.manifest().counts.documents, 1);
    assert_eq!(bm25_hits(&snap, "tuesday"), 1);
    assert!(bot.generations_on_disk().expect("list").iter().any(|&g| g > live), "the killed run left an orphan");
    drop(snap);

    // The next run cleans up, finishes and reuses what the killed run embedded.
    let out = docent().args(["ingest", "--quiet", "--json", "--data"]).arg(&data).arg(&docs).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["documents"]["total"], 121);
    assert!(summary["chunks"]["cached"].as_u64().unwrap_or(0) >= 8, "killed run's vectors not reused: {summary}");
    let snap = IndexSnapshot::open(&bot).expect("open");
    assert!(bm25_hits(&snap, "tuesday") == 1 && bm25_hits(&snap, "generated") > 0);
    let gens = bot.generations_on_disk().expect("list");
    assert_eq!(gens.last().copied(), Some(snap.generation()), "no orphan newer than the live generation: {gens:?}");
}
