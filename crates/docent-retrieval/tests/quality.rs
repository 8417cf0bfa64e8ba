//! Quality smoke test on the sample corpus: ingest `corpus/` with the real pipeline,
//! then recall@5 of the expected page for the answerable direct questions of
//! `corpus/questions.jsonl`, per mode. A sanity check (hybrid must not be worse than
//! either method alone beyond a small margin); the real evaluation is `docent eval`.

mod common;

use std::path::Path;
use std::sync::Arc;

use docent_index::BotDir;
use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};
use docent_retrieval::{FusionConfig, Retriever, SearchMode, SearchRequest};

const BASE_URL: &str = "https://help.lumenledger.example/";
const K: usize = 5;
/// Hybrid may trail the best single method by at most this much recall.
const MARGIN: f64 = 0.05;

#[derive(serde::Deserialize)]
struct Question {
    id: String,
    question: String,
    expected_url: Option<String>,
    answerable: bool,
    kind: String,
}

fn questions() -> Vec<Question> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/questions.jsonl");
    let text = std::fs::read_to_string(&path).expect("read questions.jsonl");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("question")).collect()
}

fn ingest_corpus(data: &Path) -> BotDir {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let source = SourceSpec::parse(corpus.to_str().expect("utf-8 path")).expect("source");
    let mut options = IngestOptions::new("docs".to_string(), data.to_path_buf(), vec![source]);
    options.base_url = Some(BASE_URL.into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let summary = runtime.block_on(ingest(&options, Arc::new(NoProgress))).expect("ingest corpus");
    eprintln!("{}", summary.to_text());
    BotDir::new(data, "docs").expect("bot")
}

struct Run {
    recall: f64,
    mrr: f64,
    search_ms: Vec<f64>,
    embed_ms: Vec<f64>,
}

fn run(r: &Retriever, qs: &[&Question], mode: SearchMode, fusion: Option<FusionConfig>) -> (Run, Vec<String>) {
    let mut found = 0;
    let mut rr = 0.0;
    let mut misses = Vec::new();
    let mut search_ms = Vec::new();
    let mut embed_ms = Vec::new();
    for q in qs {
        let mut req = SearchRequest::new(q.question.clone()).with_k(K).with_mode(mode);
        req.fusion = fusion;
        let resp = r.search(&req).expect("search");
        let want = q.expected_url.as_deref().unwrap_or_default();
        if let Some(pos) = resp.hits.iter().position(|h| h.doc_id == want) {
            found += 1;
            rr += 1.0 / (pos + 1) as f64;
        } else {
            misses.push(q.id.clone());
        }
        let t = resp.timings;
        search_ms.push(t.total_ms - t.embed_ms);
        if mode.uses_dense() && !t.embed_cached {
            embed_ms.push(t.embed_ms);
        }
    }
    (Run { recall: found as f64 / qs.len() as f64, mrr: rr / qs.len() as f64, search_ms, embed_ms }, misses)
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn hybrid_recall_is_at_least_each_single_method_on_corpus_direct_questions() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = ingest_corpus(data.path());
    let retriever = common::retriever(&bot);
    let all = questions();
    let direct: Vec<&Question> = all.iter().filter(|q| q.answerable && q.kind == "direct").collect();
    let answerable: Vec<&Question> = all.iter().filter(|q| q.answerable && q.kind != "followup").collect();
    assert!(direct.len() >= 50, "only {} direct questions", direct.len());
    eprintln!(
        "{} chunks; {} direct questions ({} answerable non-follow-up)",
        retriever.snapshot().chunk_count(),
        direct.len(),
        answerable.len()
    );

    let (bm25, bm25_miss) = run(&retriever, &direct, SearchMode::Bm25, None);
    let (dense, dense_miss) = run(&retriever, &direct, SearchMode::Dense, None);
    let (hybrid, hybrid_miss) = run(&retriever, &direct, SearchMode::Hybrid, None);
    eprintln!("recall@{K} of the expected page, direct questions:");
    for (name, r) in [("bm25", &bm25), ("dense", &dense), ("hybrid (default)", &hybrid)] {
        eprintln!(
            "  {name:<18} {:.3}  mrr@5 {:.3}   search p50 {:.3} ms p95 {:.3} ms   embed p50 {:.2} ms (n={})",
            r.recall,
            r.mrr,
            pct(&r.search_ms, 0.5),
            pct(&r.search_ms, 0.95),
            pct(&r.embed_ms, 0.5),
            r.embed_ms.len()
        );
    }
    eprintln!("  misses: bm25 {bm25_miss:?}\n          dense {dense_miss:?}\n          hybrid {hybrid_miss:?}");
    for (name, f) in [
        ("rrf k=60", FusionConfig::Rrf { k: 60.0 }),
        ("rrf k=20", FusionConfig::Rrf { k: 20.0 }),
        ("weighted .5/.5", FusionConfig::Weighted { bm25: 0.5, dense: 0.5 }),
        ("weighted .4/.6", FusionConfig::Weighted { bm25: 0.4, dense: 0.6 }),
        ("weighted .3/.7", FusionConfig::Weighted { bm25: 0.3, dense: 0.7 }),
        ("weighted .7/.3", FusionConfig::Weighted { bm25: 0.7, dense: 0.3 }),
    ] {
        let (d, _) = run(&retriever, &direct, SearchMode::Hybrid, Some(f));
        let (a, _) = run(&retriever, &answerable, SearchMode::Hybrid, Some(f));
        eprintln!(
            "  hybrid {name:<16} direct {:.3} (mrr {:.3})  all answerable {:.3} (mrr {:.3})",
            d.recall, d.mrr, a.recall, a.mrr
        );
    }
    for mode in [SearchMode::Bm25, SearchMode::Dense] {
        let (a, _) = run(&retriever, &answerable, mode, None);
        eprintln!("  {mode:<23} all answerable {:.3} (mrr {:.3})", a.recall, a.mrr);
    }
    let best = bm25.recall.max(dense.recall);
    assert!(
        hybrid.recall + MARGIN >= best,
        "hybrid recall@{K} {:.3} is below the best single method {best:.3} by more than {MARGIN}",
        hybrid.recall
    );
}
