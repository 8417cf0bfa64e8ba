//! Reranking: the cross-encoder path on a tiny ONNX model with known scores (built by
//! `scripts/make-tiny-cross-encoder.py`, run here when the model is missing), the
//! bounds (top N, truncation, deadline), cancellation, model-directory errors, and the
//! offline reranker. The `#[ignore]`d tests measure nDCG@10 with and without the
//! offline reranker (corpus questions, SciFact) and fit its weights:
//!
//! ```text
//! cargo test --release -p docent-retrieval --test rerank -- --ignored --nocapture
//! ```

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use docent_index::{BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, Embedder, GenerationWriter};
use docent_retrieval::rerank::{
    fit, truncate_chars, CrossEncoder, CrossEncoderOptions, OfflineReranker, OfflineWeights, RerankBudget, RerankInput,
    FEATURE_NAMES, OFFLINE_DEFAULT_ENABLED,
};
use docent_retrieval::{
    CancelToken, RerankConfig, RerankError, Reranker, RetrievalError, Retriever, RetrieverConfig, SearchMode,
    SearchRequest,
};
use tokenizers::{Tokenizer, TruncationParams};

// ---------------------------------------------------------------------------------
// The tiny cross-encoder

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"))
}

/// A Python with the `onnx` package: the venv under target/ (created when missing).
fn onnx_python() -> PathBuf {
    let venv = target_dir().join("onnx-venv");
    let python = venv.join("bin/python");
    let has_onnx = |p: &Path| Command::new(p).args(["-c", "import onnx, numpy"]).status().is_ok_and(|s| s.success());
    if !has_onnx(&python) {
        let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success());
        assert!(ok, "could not create a venv at {} (python3 -m venv)", venv.display());
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "onnx", "numpy"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install onnx numpy failed in {}", venv.display());
    }
    python
}

/// The tiny model directory for graph output `output` (built once, idempotently).
fn tiny_model(output: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = target_dir().join(if output == "logits" {
        "tiny-cross-encoder".to_string()
    } else {
        format!("tiny-cross-encoder-{output}")
    });
    if !dir.join("weights.json").is_file() || !dir.join("model.onnx").is_file() {
        let status = Command::new(onnx_python())
            .arg(workspace().join("scripts/make-tiny-cross-encoder.py"))
            .arg(&dir)
            .arg("--tokenizer-dir")
            .arg(common::model_files().embed_dir)
            .arg("--output-name")
            .arg(output)
            .status()
            .expect("run make-tiny-cross-encoder.py");
        assert!(status.success(), "make-tiny-cross-encoder.py failed");
    }
    dir
}

fn options() -> CrossEncoderOptions {
    CrossEncoderOptions { max_length: 512, batch_size: 2, threads: Some(1) }
}

fn cross_encoder() -> Arc<CrossEncoder> {
    static CE: OnceLock<Arc<CrossEncoder>> = OnceLock::new();
    CE.get_or_init(|| {
        Arc::new(CrossEncoder::load(&tiny_model("logits"), &common::model_files(), options()).expect("load tiny model"))
    })
    .clone()
}

/// The tiny model's formula, computed independently: same tokenizer files, the weights
/// the script wrote, `Σ mask · weight[id] · (1 + type)` over the pair's tokens.
struct Expected {
    tokenizer: Tokenizer,
    weights: Vec<f64>,
}

impl Expected {
    fn load() -> Self {
        let dir = tiny_model("logits");
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("weights.json")).expect("weights.json"))
                .expect("weights json");
        let weights: Vec<f64> =
            json["weights"].as_array().expect("weights").iter().map(|w| w.as_f64().expect("number")).collect();
        assert_eq!(weights.len(), 30522);
        // Spot-check the documented formula.
        for id in [0usize, 101, 102, 7592, 30521] {
            assert_eq!(weights[id], ((id * 7919) % 201) as f64 / 64.0 - 100.0 / 64.0);
        }
        Expected { tokenizer, weights }
    }

    fn score(&self, query: &str, passage: &str, max_tokens: usize) -> f32 {
        let mut t = self.tokenizer.clone();
        t.with_truncation(Some(TruncationParams { max_length: max_tokens, ..Default::default() })).expect("truncation");
        t.with_padding(None);
        let e = t.encode((query, passage), true).expect("encode");
        assert!(e.get_ids().len() <= max_tokens);
        let s: f64 = e
            .get_ids()
            .iter()
            .zip(e.get_type_ids())
            .zip(e.get_attention_mask())
            .map(|((&id, &ty), &m)| m as f64 * self.weights[id as usize] * (1.0 + ty as f64))
            .sum();
        s as f32
    }

    fn tokens(&self, query: &str, passage: &str) -> usize {
        let mut t = self.tokenizer.clone();
        t.with_truncation(None).expect("no truncation");
        t.with_padding(None);
        t.encode((query, passage), true).expect("encode").get_ids().len()
    }
}

const PASSAGES: [&str; 5] = [
    "You can request a full refund within 30 days of the charge date for annual plans.",
    "Rotate secret keys every ninety days; the old key keeps working for 24 hours.",
    "Refunds reach your card in 5 to 10 business days, depending on your bank.",
    "Every webhook request is signed with HMAC SHA-256 using the endpoint's signing secret.",
    "Ünïcödé façade — naïve café: 東京 ✓",
];

fn inputs<'a>(texts: &[&'a str]) -> Vec<RerankInput<'a>> {
    texts.iter().map(|t| RerankInput::text_only(t)).collect()
}

#[test]
fn cross_encoder_scores_are_the_tiny_models_known_scores() {
    let ce = cross_encoder();
    let exp = Expected::load();
    let query = "how long does a refund take?";
    let scores = ce.rerank(query, &inputs(&PASSAGES), &RerankBudget::default(), &CancelToken::new()).expect("rerank");
    assert_eq!(scores.len(), PASSAGES.len());
    for (p, s) in PASSAGES.iter().zip(&scores) {
        let want = exp.score(query, p, 256);
        // Weights are multiples of 1/64: the sums are exact in f32 whatever the order.
        assert_eq!(*s, want, "passage {p:?}");
    }
    // Scores differ between passages (the test would be vacuous otherwise) and do not
    // depend on the batch a passage lands in.
    assert!(scores.windows(2).any(|w| w[0] != w[1]), "{scores:?}");
    let single =
        ce.rerank(query, &inputs(&PASSAGES[2..3]), &RerankBudget::default(), &CancelToken::new()).expect("rerank");
    assert_eq!(single[0], scores[2]);
    assert!(ce.rerank(query, &[], &RerankBudget::default(), &CancelToken::new()).expect("empty").is_empty());
    assert!(ce.name().starts_with("cross-encoder:"));
}

#[test]
fn token_and_character_bounds_are_respected() {
    let ce = cross_encoder();
    let exp = Expected::load();
    let query = "refund window";
    let long = "refund ".repeat(40) + &"zebra quagga ".repeat(200);
    assert!(exp.tokens(query, &long) > 400);
    // Token bound: the budget's 32 tokens, not the load-time 512.
    let budget = RerankBudget { max_tokens: 32, ..RerankBudget::default() };
    let s = ce.rerank(query, &inputs(&[&long]), &budget, &CancelToken::new()).expect("rerank")[0];
    assert_eq!(s, exp.score(query, &long, 32));
    assert_ne!(s, exp.score(query, &long, 512), "the bound must change the score for this passage");
    // The budget can lower the window but never raise it above the model's.
    let small = CrossEncoder::load(
        &tiny_model("logits"),
        &common::model_files(),
        CrossEncoderOptions { max_length: 24, ..options() },
    )
    .expect("load");
    assert_eq!(small.max_tokens(), 24);
    let s = small.rerank(query, &inputs(&[&long]), &RerankBudget::default(), &CancelToken::new()).expect("rerank")[0];
    assert_eq!(s, exp.score(query, &long, 24));

    // Character bound, through the retriever: the reranker sees the first 40 characters.
    let f = fixture();
    let config = RetrieverConfig {
        rerank: RerankConfig { max_passage_chars: 40, ..RerankConfig::default() },
        ..RetrieverConfig::default()
    };
    let r = Retriever::open_with(&f.bot, common::query_embedder(), config).expect("open").with_reranker(ce);
    let q = "password reset link";
    let resp = r.search(&SearchRequest::new(q).with_k(5).with_mode(SearchMode::Rerank)).expect("search");
    assert!(!resp.hits.is_empty());
    for h in &resp.hits {
        let cut = truncate_chars(&h.text, 40);
        assert!(cut.chars().count() <= 40 && cut.len() < h.text.len(), "{cut:?}");
        assert_eq!(h.scores.rerank, Some(exp.score(q, cut, 256)), "{}", h.url);
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    bot: BotDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    common::publish(&bot, &common::sample_pages());
    Fixture { _dir: dir, bot }
}

#[test]
fn rerank_mode_orders_hits_by_the_rerank_score_and_only_reranks_top_n() {
    let f = fixture();
    let exp = Expected::load();
    let plain = common::retriever(&f.bot);
    let q = "password reset";
    assert_eq!(plain.reranker().map(|r| r.name()), OFFLINE_DEFAULT_ENABLED.then_some("offline-features-v1"));
    let none = common::retriever(&f.bot).without_reranker();
    let err = none.search(&SearchRequest::new(q).with_mode(SearchMode::Rerank)).unwrap_err();
    assert!(matches!(err, RetrievalError::NoReranker), "{err}");
    assert!(err.to_string().contains("--reranker-model"), "{err}");
    // The candidates a k = 6 rerank request reranks: the top 20 under its own rules.
    let mut top20 = SearchRequest::new(q).with_k(20).with_max_per_doc(2);
    top20.candidates = Some(50);
    let hybrid = plain.search(&top20).expect("hybrid");

    let r = common::retriever(&f.bot).with_reranker(cross_encoder());
    let resp = r.search(&SearchRequest::new(q).with_k(6).with_mode(SearchMode::Rerank)).expect("rerank");
    assert_eq!(resp.mode, SearchMode::Rerank);
    assert!(resp.hits.len() >= 4, "{}", resp.hits.len());
    let scores: Vec<f32> = resp.hits.iter().map(|h| h.scores.rerank.expect("reranked")).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not sorted by rerank score: {scores:?}");
    for (i, h) in resp.hits.iter().enumerate() {
        assert_eq!(h.ranks.fused, i + 1);
        assert_eq!(h.scores.rerank, Some(exp.score(q, &h.text, 256)));
        // First-stage scores are kept.
        assert!(h.scores.bm25.is_some() || h.scores.dense.is_some());
    }
    assert!(resp.timings.rerank_ms > 0.0);
    // The reranked set comes from the hybrid top 20, in another order.
    let hybrid_top: HashSet<&str> = hybrid.hits.iter().map(|h| h.chunk_id.as_str()).collect();
    assert!(resp.hits.iter().all(|h| hybrid_top.contains(h.chunk_id.as_str())));

    // top_n = 3 with k = 6: three reranked hits, then the rest in fused order.
    let config = RetrieverConfig { rerank: RerankConfig { top_n: 3, ..RerankConfig::default() }, ..Default::default() };
    let r3 =
        Retriever::open_with(&f.bot, common::query_embedder(), config).expect("open").with_reranker(cross_encoder());
    let resp3 = r3.search(&SearchRequest::new(q).with_k(6).with_mode(SearchMode::Rerank)).expect("rerank");
    let base = plain.search(&SearchRequest::new(q).with_k(6)).expect("hybrid");
    assert_eq!(resp3.hits.len(), base.hits.len());
    let reranked = resp3.hits.iter().filter(|h| h.scores.rerank.is_some()).count();
    assert_eq!(reranked, 3.min(base.hits.len()));
    assert!(resp3.hits[..3].iter().all(|h| h.scores.rerank.is_some()));
    let head: HashSet<&str> = base.hits[..3].iter().map(|h| h.chunk_id.as_str()).collect();
    assert!(resp3.hits[..3].iter().all(|h| head.contains(h.chunk_id.as_str())));
    let tail: Vec<&str> = resp3.hits[3..].iter().map(|h| h.chunk_id.as_str()).collect();
    let base_tail: Vec<&str> = base.hits[3..].iter().map(|h| h.chunk_id.as_str()).collect();
    assert_eq!(tail, base_tail);

    // weight 0: the fused order survives, with rerank scores attached.
    let config =
        RetrieverConfig { rerank: RerankConfig { weight: 0.0, ..RerankConfig::default() }, ..Default::default() };
    let r0 =
        Retriever::open_with(&f.bot, common::query_embedder(), config).expect("open").with_reranker(cross_encoder());
    let resp0 = r0.search(&SearchRequest::new(q).with_k(6).with_mode(SearchMode::Rerank)).expect("rerank");
    let ids0: Vec<&str> = resp0.hits.iter().map(|h| h.chunk_id.as_str()).collect();
    let ids_base: Vec<&str> = base.hits.iter().map(|h| h.chunk_id.as_str()).collect();
    assert_eq!(ids0, ids_base);
    assert!(resp0.hits.iter().all(|h| h.scores.rerank.is_some()));
}

#[test]
fn cancellation_stops_reranking_with_a_cancelled_error() {
    let ce = cross_encoder();
    let cancelled = CancelToken::new();
    cancelled.cancel();
    let err = ce.rerank("q", &inputs(&PASSAGES), &RerankBudget::default(), &cancelled).unwrap_err();
    assert!(matches!(err, RerankError::Cancelled), "{err}");

    // Through the retriever.
    let f = fixture();
    let r = common::retriever(&f.bot).with_reranker(ce.clone());
    let req = SearchRequest::new("refund").with_mode(SearchMode::Rerank);
    let err = r.search_with_cancel(&req, &cancelled).unwrap_err();
    assert!(matches!(err, RetrievalError::Rerank(RerankError::Cancelled)), "{err}");
    assert!(r.search_with_cancel(&req, &CancelToken::new()).is_ok());

    // From another thread while a long rerank runs (batches of 2; 40,000 passages).
    let texts: Vec<String> = (0..40_000).map(|i| format!("passage number {i} about refunds and keys")).collect();
    let token = CancelToken::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let worker = {
        let token = token.clone();
        let ce = ce.clone();
        std::thread::spawn(move || {
            let passages: Vec<RerankInput<'_>> = texts.iter().map(|t| RerankInput::text_only(t)).collect();
            started_tx.send(()).expect("signal");
            ce.rerank("refund keys", &passages, &RerankBudget::default(), &token)
        })
    };
    started_rx.recv().expect("worker started");
    token.cancel();
    let result = worker.join().expect("worker");
    assert!(matches!(result, Err(RerankError::Cancelled)), "{:?}", result.map(|s| s.len()));
}

#[test]
fn a_passed_deadline_keeps_the_fused_order() {
    let ce = cross_encoder();
    let budget = RerankBudget { deadline: Some(Instant::now()), ..RerankBudget::default() };
    let err = ce.rerank("q", &inputs(&PASSAGES), &budget, &CancelToken::new()).unwrap_err();
    assert!(matches!(err, RerankError::DeadlineExceeded { scored: 0, total: 5 }), "{err}");

    let f = fixture();
    let config = RetrieverConfig {
        rerank: RerankConfig { timeout_ms: Some(0), ..RerankConfig::default() },
        ..Default::default()
    };
    let r = Retriever::open_with(&f.bot, common::query_embedder(), config).expect("open").with_reranker(ce);
    let q = "webhook signing secret";
    let resp = r.search(&SearchRequest::new(q).with_k(5).with_mode(SearchMode::Rerank)).expect("search");
    let base = common::retriever(&f.bot).search(&SearchRequest::new(q).with_k(5)).expect("hybrid");
    let ids: Vec<&str> = resp.hits.iter().map(|h| h.chunk_id.as_str()).collect();
    let base_ids: Vec<&str> = base.hits.iter().map(|h| h.chunk_id.as_str()).collect();
    assert_eq!(ids, base_ids);
    assert!(resp.hits.iter().all(|h| h.scores.rerank.is_none()));
}

#[test]
fn bad_model_directories_give_clear_errors() {
    let files = common::model_files();
    let tmp = tempfile::tempdir().expect("tempdir");
    let msg = |dir: &Path| match CrossEncoder::load(dir, &files, options()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e @ RerankError::InvalidModel { .. }) => e.to_string(),
        Err(e) => panic!("unexpected error kind: {e}"),
    };

    let missing = tmp.path().join("nope");
    let m = msg(&missing);
    assert!(m.contains("nope") && m.contains("not a directory"), "{m}");

    // Tokenizer files but no model.onnx.
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).expect("mkdir");
    for f in ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"] {
        std::fs::copy(files.embed_dir.join(f), partial.join(f)).expect("copy");
    }
    let m = msg(&partial);
    assert!(m.contains("missing model.onnx"), "{m}");

    // A model.onnx that is not ONNX.
    std::fs::write(partial.join("model.onnx"), b"this is not a protobuf").expect("write");
    let m = msg(&partial);
    assert!(m.contains("model.onnx"), "{m}");

    // The embedding model: valid ONNX, but no `logits` output.
    let m = msg(&files.embed_dir);
    assert!(m.contains("logits"), "{m}");

    // A cross-encoder whose output has another name.
    let m = msg(&tiny_model("scores"));
    assert!(m.contains("no output named `logits`"), "{m}");

    // Bad options.
    assert!(
        CrossEncoder::load(&tiny_model("logits"), &files, CrossEncoderOptions { batch_size: 0, ..options() }).is_err()
    );
}

#[test]
fn offline_reranker_reorders_by_its_features() {
    let f = fixture();
    let offline = Arc::new(OfflineReranker::new(Some(common::query_embedder())));
    assert_eq!(offline.weights().features.len(), FEATURE_NAMES.len());
    let r = common::retriever(&f.bot).with_reranker(offline.clone());
    let q = "how many API keys can a workspace have";
    let resp = r.search(&SearchRequest::new(q).with_k(5).with_mode(SearchMode::Rerank)).expect("search");
    assert!(!resp.hits.is_empty());
    let scores: Vec<f32> = resp.hits.iter().map(|h| h.scores.rerank.expect("reranked")).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(resp.hits[0].url, "https://help.test/api/keys#key-limits");

    // Weights that only look at title coverage put the title match first.
    let mut w = vec![0.0f32; FEATURE_NAMES.len()];
    w[FEATURE_NAMES.iter().position(|n| *n == "title_coverage").expect("feature")] = 1.0;
    let weights = OfflineWeights { weights: w, ..OfflineWeights::fused_only() };
    let titles = Arc::new(OfflineReranker::with_weights(None, weights).expect("weights"));
    let r = common::retriever(&f.bot).with_reranker(titles);
    let resp = r.search(&SearchRequest::new("webhooks retries").with_k(3).with_mode(SearchMode::Rerank)).expect("s");
    assert_eq!(resp.hits[0].title, "Webhooks");

    let bad = OfflineWeights { weights: vec![f32::NAN; FEATURE_NAMES.len()], ..OfflineWeights::fused_only() };
    assert!(OfflineReranker::with_weights(None, bad).is_err());
}

// ---------------------------------------------------------------------------------
// Measurements (ignored: they ingest real data and take minutes)

/// A reranker that records the feature vectors of what it is given and keeps the order.
struct Recorder {
    offline: OfflineReranker,
    seen: Mutex<Vec<Vec<f32>>>,
}

impl Reranker for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn rerank(
        &self,
        query: &str,
        passages: &[RerankInput<'_>],
        _budget: &RerankBudget,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>, RerankError> {
        let feats = self.offline.features(query, passages, cancel)?;
        *self.seen.lock().expect("lock") = feats.iter().map(|f| f.to_vec()).collect();
        Ok((0..passages.len()).map(|i| -(i as f32)).collect())
    }
}

/// One evaluation query: text, relevant ids with gains, and how to identify a hit.
struct EvalQuery {
    id: String,
    text: String,
    relevant: HashMap<String, f32>,
}

struct EvalSet {
    name: String,
    queries: Vec<EvalQuery>,
    /// The identity of a hit the judgments refer to.
    key: fn(&docent_retrieval::Hit) -> String,
}

/// First-stage candidates (top_n, as the rerank stage sees them) with their features.
fn training_lists(bot: &BotDir, set: &EvalSet) -> Vec<(String, fit::TrainingList)> {
    let recorder = Arc::new(Recorder {
        offline: OfflineReranker::new(Some(common::query_embedder())),
        seen: Mutex::new(Vec::new()),
    });
    let retriever = Retriever::open_with(bot, common::query_embedder(), RetrieverConfig::default())
        .expect("open")
        .with_reranker(recorder.clone());
    let top_n = retriever.config().rerank.top_n;
    let mut out = Vec::new();
    for q in &set.queries {
        let mut req = SearchRequest::new(q.text.clone()).with_k(top_n).with_mode(SearchMode::Rerank);
        // What a k = 10 rerank request selects: its diversity limit and candidate depth.
        req.max_per_doc = Some(SearchRequest::new("").with_k(10).effective_max_per_doc());
        req.candidates = Some(retriever.config().candidates.max(40));
        let r = retriever.search(&req).expect("search");
        let feats = std::mem::take(&mut *recorder.seen.lock().expect("lock"));
        assert_eq!(feats.len(), r.hits.len());
        let mut ids: HashMap<String, u32> = HashMap::new();
        let keys: Vec<String> = r.hits.iter().map(|h| (set.key)(h)).collect();
        let list = fit::TrainingList {
            gains: keys.iter().map(|k| q.relevant.get(k).copied().unwrap_or(0.0)).collect(),
            ids: keys
                .iter()
                .map(|k| {
                    let n = ids.len() as u32;
                    *ids.entry(k.clone()).or_insert(n)
                })
                .collect(),
            ideal: q.relevant.values().copied().collect(),
            features: feats,
        };
        out.push((q.id.clone(), list));
    }
    out
}

fn corpus_sets() -> (tempfile::TempDir, BotDir, Vec<EvalSet>) {
    use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};
    #[derive(serde::Deserialize)]
    struct Question {
        id: String,
        question: String,
        expected_url: Option<String>,
        expected_anchor: Option<String>,
        answerable: bool,
        kind: String,
    }
    let data = tempfile::tempdir().expect("tempdir");
    let corpus = workspace().join("corpus");
    let source = SourceSpec::parse(corpus.to_str().expect("utf-8")).expect("source");
    let mut options = IngestOptions::new("docs".to_string(), data.path().to_path_buf(), vec![source]);
    options.base_url = Some("https://help.lumenledger.example/".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(ingest(&options, Arc::new(NoProgress))).expect("ingest corpus");
    let bot = BotDir::new(data.path(), "docs").expect("bot");
    let text = std::fs::read_to_string(corpus.join("questions.jsonl")).expect("questions");
    let qs: Vec<Question> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("question")).collect();
    let answerable: Vec<&Question> =
        qs.iter().filter(|q| q.answerable && q.kind != "followup" && q.expected_url.is_some()).collect();
    let page = EvalSet {
        name: "corpus questions (page)".into(),
        queries: answerable
            .iter()
            .map(|q| EvalQuery {
                id: q.id.clone(),
                text: q.question.clone(),
                relevant: HashMap::from([(q.expected_url.clone().unwrap_or_default(), 1.0)]),
            })
            .collect(),
        key: |h| h.doc_id.clone(),
    };
    let section = EvalSet {
        name: "corpus questions (section)".into(),
        queries: answerable
            .iter()
            .filter(|q| q.expected_anchor.is_some())
            .map(|q| EvalQuery {
                id: q.id.clone(),
                text: q.question.clone(),
                relevant: HashMap::from([(
                    format!(
                        "{}#{}",
                        q.expected_url.clone().unwrap_or_default(),
                        q.expected_anchor.clone().unwrap_or_default()
                    ),
                    1.0,
                )]),
            })
            .collect(),
        key: |h| h.url.clone(),
    };
    (data, bot, vec![page, section])
}

/// SciFact (BEIR) as one generation, one chunk per abstract (title + text), cached under
/// target/rerank-eval/ so it is embedded once.
fn scifact() -> Option<(BotDir, EvalSet)> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(rename = "_id")]
        id: String,
        title: String,
        text: String,
    }
    #[derive(serde::Deserialize)]
    struct Query {
        #[serde(rename = "_id")]
        id: String,
        text: String,
    }
    let src = workspace().join("../shared/eval/scifact");
    if !src.join("corpus.jsonl").is_file() {
        eprintln!("SciFact not found at {}; skipped", src.display());
        return None;
    }
    let data = target_dir().join("rerank-eval");
    let bot = BotDir::new(&data, "scifact").expect("bot");
    if bot.current().expect("CURRENT").is_none() {
        let t = Instant::now();
        let docs: Vec<Doc> = std::fs::read_to_string(src.join("corpus.jsonl"))
            .expect("corpus")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("doc"))
            .collect();
        let _lock = bot.lock_for_ingest().expect("lock");
        let params = ChunkingParams { version: 1, max_tokens: 256, overlap_tokens: 0 };
        let mut w = GenerationWriter::create(&bot, Embedder::model_info(), params).expect("writer");
        for batch in docs.chunks(64) {
            let chunks: Vec<ChunkRecord> = batch
                .iter()
                .map(|d| {
                    let url = format!("https://scifact.test/{}", d.id);
                    let heading_path = vec![d.title.clone()];
                    let hash = ContentHash::of(docent_index::embed_text(&heading_path, &d.text).as_bytes());
                    ChunkRecord {
                        chunk_id: format!("{}-0000", d.id),
                        doc_id: url.clone(),
                        url,
                        title: d.title.clone(),
                        heading_path,
                        text: d.text.clone(),
                        tags: vec![],
                        hash,
                    }
                })
                .collect();
            let texts: Vec<String> = chunks.iter().map(ChunkRecord::embed_text).collect();
            let vectors = common::doc_embedder().lock().expect("embedder").embed(&texts).expect("embed");
            for (c, v) in chunks.into_iter().zip(&vectors) {
                let entry = DocumentEntry {
                    url: c.doc_id.clone(),
                    title: c.title.clone(),
                    source: "scifact".into(),
                    content_hash: c.hash,
                    chunk_count: 1,
                    etag: None,
                    last_modified: None,
                    sitemap_lastmod: None,
                    tags: vec![],
                    links: vec![],
                };
                w.add_document(entry, &[(c, v.as_slice())]).expect("add");
            }
        }
        w.publish().expect("publish");
        eprintln!("SciFact: indexed {} abstracts in {:.0} s", docs.len(), t.elapsed().as_secs_f64());
    }
    let queries: Vec<Query> = std::fs::read_to_string(src.join("queries.jsonl"))
        .expect("queries")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("query"))
        .collect();
    let mut qrels: HashMap<String, HashMap<String, f32>> = HashMap::new();
    for line in std::fs::read_to_string(src.join("qrels/train.tsv")).expect("qrels").lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() == 3 {
            let gain: f32 = cols[2].trim().parse().expect("score");
            if gain > 0.0 {
                qrels.entry(cols[0].to_string()).or_default().insert(format!("https://scifact.test/{}", cols[1]), gain);
            }
        }
    }
    let queries: Vec<EvalQuery> = queries
        .into_iter()
        .filter_map(|q| qrels.remove(&q.id).map(|relevant| EvalQuery { id: q.id, text: q.text, relevant }))
        .collect();
    Some((bot, EvalSet { name: "SciFact train".into(), queries, key: |h| h.doc_id.clone() }))
}

fn is_fit_fold(id: &str) -> bool {
    // Deterministic split of the training queries: ids ending in an even digit fit.
    id.bytes().last().is_some_and(|b| b % 2 == 0)
}

/// Fit the offline weights on the fit folds of SciFact and of the corpus questions
/// (section-level judgments), each data set weighing half, then report every set and
/// fold, and print the weights as JSON (the content of `offline-weights.json`).
#[test]
#[ignore]
fn fit_and_measure_offline_reranker() {
    let shipped = OfflineWeights::shipped().weights;
    let fused = OfflineWeights::fused_only().weights;
    type Lists = Vec<(String, fit::TrainingList)>;
    let split = |lists: &Lists| -> (Vec<fit::TrainingList>, Vec<fit::TrainingList>) {
        let (a, b): (Lists, Lists) = lists.iter().cloned().partition(|(id, _)| is_fit_fold(id));
        (a.into_iter().map(|x| x.1).collect(), b.into_iter().map(|x| x.1).collect())
    };
    let mut sets: Vec<(String, Lists)> = Vec::new();
    if let Some((bot, set)) = scifact() {
        let t = Instant::now();
        let lists = training_lists(&bot, &set);
        eprintln!("SciFact: features of {} queries in {:.1} s", lists.len(), t.elapsed().as_secs_f64());
        sets.push((set.name.clone(), lists));
    }
    let (_data, bot, corpus) = corpus_sets();
    for set in &corpus {
        sets.push((set.name.clone(), training_lists(&bot, set)));
    }
    // Fit on SciFact and the section-level corpus set (the page-level one repeats the
    // same questions with coarser judgments).
    let folds: Vec<(String, Vec<fit::TrainingList>, Vec<fit::TrainingList>)> = sets
        .iter()
        .map(|(n, l)| {
            let (a, b) = split(l);
            (n.clone(), a, b)
        })
        .collect();
    let groups: Vec<(&[fit::TrainingList], f64)> =
        folds.iter().filter(|(n, _, _)| !n.contains("(page)")).map(|(_, a, _)| (a.as_slice(), 1.0)).collect();
    let w = fit::coordinate_ascent_grouped(&groups, &fused, 10, 3, 4.0);
    eprintln!("fitted weights:");
    for (n, x) in FEATURE_NAMES.iter().zip(&w) {
        eprintln!("  {n:<16} {x:+.3}");
    }
    eprintln!("nDCG@10, hybrid vs hybrid + offline rerank (top 20):");
    for (name, a, b) in &folds {
        let all: Vec<fit::TrainingList> = a.iter().chain(b).cloned().collect();
        for (label, lists) in [("fit fold", a), ("held-out fold", b), ("all", &all)] {
            let base = fit::mean_ndcg(lists, &fused, 10);
            let fitted = fit::mean_ndcg(lists, &w, 10);
            let ship = fit::mean_ndcg(lists, &shipped, 10);
            eprintln!(
                "  {name:<28} {label:<14} n={:<4} hybrid {base:.4}  fitted {fitted:.4} ({:+.4})  shipped {ship:.4} ({:+.4})",
                lists.len(),
                fitted - base,
                ship - base
            );
        }
    }
    let json = serde_json::json!({ "version": 1, "features": FEATURE_NAMES, "weights": w });
    eprintln!("weights JSON: {json}");
}

/// End to end through `SearchMode::Rerank` with the shipped weights, and the latency of
/// the rerank stage.
#[test]
#[ignore]
fn measure_rerank_mode_end_to_end() {
    let mut runs: Vec<(BotDir, EvalSet, Option<tempfile::TempDir>)> = Vec::new();
    let (data, bot, sets) = corpus_sets();
    let mut sets = sets.into_iter();
    runs.push((bot.clone(), sets.next().expect("page set"), Some(data)));
    runs.push((bot, sets.next().expect("section set"), None));
    if let Some((bot, set)) = scifact() {
        runs.push((bot, set, None));
    }
    let ce = cross_encoder();
    for (bot, set, _keep) in &runs {
        let offline = Arc::new(OfflineReranker::new(Some(common::query_embedder())));
        let r = Retriever::open_with(bot, common::query_embedder(), RetrieverConfig::default())
            .expect("open")
            .with_reranker(offline);
        let rt = Retriever::open_with(bot, common::query_embedder(), RetrieverConfig::default())
            .expect("open")
            .with_reranker(ce.clone());
        let (mut base, mut rr, mut ms, mut tiny_ms) = (0.0, 0.0, Vec::new(), Vec::new());
        for q in &set.queries {
            let ndcg = |hits: &[docent_retrieval::Hit]| {
                let mut seen = HashSet::new();
                let gains: Vec<f32> = hits
                    .iter()
                    .map(|h| (set.key)(h))
                    .map(|k| if seen.insert(k.clone()) { q.relevant.get(&k).copied().unwrap_or(0.0) } else { 0.0 })
                    .collect();
                fit::ndcg_at(&gains, &q.relevant.values().copied().collect::<Vec<_>>(), 10)
            };
            let h = r.search(&SearchRequest::new(q.text.clone()).with_k(10)).expect("hybrid");
            let x = r.search(&SearchRequest::new(q.text.clone()).with_k(10).with_mode(SearchMode::Rerank)).expect("rr");
            let y =
                rt.search(&SearchRequest::new(q.text.clone()).with_k(10).with_mode(SearchMode::Rerank)).expect("ce");
            base += ndcg(&h.hits);
            rr += ndcg(&x.hits);
            ms.push(x.timings.rerank_ms);
            tiny_ms.push(y.timings.rerank_ms);
        }
        let n = set.queries.len() as f64;
        ms.sort_by(f64::total_cmp);
        tiny_ms.sort_by(f64::total_cmp);
        let p = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        eprintln!(
            "  {:<28} n={:<4} nDCG@10 hybrid {:.4}  rerank mode (shipped offline) {:.4} ({:+.4})   offline rerank p50 {:.2} ms p95 {:.2} ms; tiny cross-encoder p50 {:.2} ms",
            set.name,
            set.queries.len(),
            base / n,
            rr / n,
            (rr - base) / n,
            p(&ms, 0.5),
            p(&ms, 0.95),
            p(&tiny_ms, 0.5)
        );
    }
}
