//! The approximate dense index against the exact scan: recall on clustered synthetic
//! vectors, filters, the size threshold of a snapshot, the cache file, concurrency.

use std::collections::HashSet;
use std::sync::Arc;

use docent_index::{
    BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, GenerationWriter, IndexSnapshot, ModelInfo,
};
use docent_retrieval::dense::synthetic::ClusteredVectors;
use docent_retrieval::dense::{exact_top_k, AnnConfig, AnnIndex, AnnOrigin, AnnQuantization, DenseIndex, ExactConfig};
use docent_retrieval::{RowSet, Snapshot};

const DIM: usize = 384;

/// Rows and queries drawn from the same clusters (~100 rows per cluster).
fn data(rows: usize, queries: usize, seed: u64) -> (Arc<[f32]>, Vec<Vec<f32>>) {
    let gen = ClusteredVectors::new(DIM, rows / 100, 1.2, seed);
    let matrix: Arc<[f32]> = gen.matrix(rows).into();
    let qs = (0..queries)
        .map(|q| {
            let mut v = vec![0.0f32; DIM];
            gen.sample(gen.cluster_of(1_000_000 + q as u64), 1_000_000 + q as u64, &mut v);
            v
        })
        .collect();
    (matrix, qs)
}

fn exact_cfg() -> ExactConfig {
    ExactConfig { parallel_threshold: usize::MAX, threads: 1 }
}

/// Mean |ANN top-k ∩ exact top-k| / k; also checks that every score is the row's
/// cosine (exactly when rescored, within f16 rounding otherwise).
fn recall(ann: &AnnIndex, rows: &[f32], queries: &[Vec<f32>], k: usize, allowed: Option<&RowSet>) -> f64 {
    let tolerance = if ann.config().rescores() { 1e-4 } else { 2e-3 };
    let mut found = 0usize;
    let mut wanted = 0usize;
    for q in queries {
        let truth: HashSet<u32> =
            exact_top_k(rows, DIM, q, k, allowed, &exact_cfg()).iter().map(|s| s.ordinal).collect();
        let got = ann.search(q, k, allowed);
        assert!(got.len() <= k);
        for s in &got {
            let i = s.ordinal as usize;
            let dot: f32 = rows[i * DIM..(i + 1) * DIM].iter().zip(q).map(|(a, b)| a * b).sum();
            assert!((dot - s.score).abs() < tolerance, "row {i}: {} vs {dot}", s.score);
            if let Some(a) = allowed {
                assert!(a.contains(s.ordinal), "row {i} is outside the filter");
            }
        }
        for pair in got.windows(2) {
            assert!(pair[0].score >= pair[1].score, "not sorted");
        }
        found += got.iter().filter(|s| truth.contains(&s.ordinal)).count();
        wanted += truth.len();
    }
    found as f64 / wanted.max(1) as f64
}

#[test]
fn recall_at_10_is_at_least_098_against_the_exact_scan() {
    let n = 20_000;
    let (rows, queries) = data(n, 250, 0xA11CE);
    // The coarser alternative first: int8 graph, candidates rescored against f32.
    let i8 = AnnConfig { quantization: AnnQuantization::I8, rescore: true, ..AnnConfig::default() };
    let ann = AnnIndex::from_rows(Arc::clone(&rows), DIM, &i8, exact_cfg(), None).expect("build i8");
    let r10 = recall(&ann, &rows, &queries, 10, None);
    eprintln!("ANN (i8 + exact rescoring) recall@10 on {n} x {DIM}: {r10:.4}");
    assert!(r10 >= 0.98, "i8 recall@10 {r10:.4} < 0.98");
    drop(ann);
    // A broad filter (half the rows), searched through each graph's filtered walk.
    let mut half = RowSet::empty(n);
    for r in (0..n as u32).filter(|r| r % 2 == 0) {
        half.insert(r);
    }
    // f16 (usearch's half floats, no rescoring: scores within f16 rounding), also
    // through the graph's filtered search.
    let f16 = AnnConfig { quantization: AnnQuantization::F16, threshold: 1_000, ..AnnConfig::default() };
    let ann = AnnIndex::from_rows(Arc::clone(&rows), DIM, &f16, exact_cfg(), None).expect("build f16");
    let r10 = recall(&ann, &rows, &queries, 10, None);
    let rh = recall(&ann, &rows, &queries[..100], 10, Some(&half));
    eprintln!("ANN (f16) recall@10 on {n} x {DIM}: {r10:.4}; half the rows allowed: {rh:.4}");
    assert!(r10 >= 0.98, "f16 recall@10 {r10:.4} < 0.98");
    assert!(rh >= 0.95, "f16 filtered recall@10 {rh:.4}");
    // Each search sets its own beam (the count asked of usearch): a beam of k is
    // measurably worse than the configured one, so the per-search beam is really used.
    // (Checked on the f16 graph: a rescored graph asks for at least `min_candidates`
    // rows, so its beam is never narrower than 64.)
    let beam_recall = |ef: usize| {
        let mut found = 0usize;
        for q in &queries {
            let truth: HashSet<u32> =
                exact_top_k(&rows, DIM, q, 10, None, &exact_cfg()).iter().map(|s| s.ordinal).collect();
            found += ann.search_with_ef(q, 10, ef).iter().filter(|s| truth.contains(&s.ordinal)).count();
        }
        found as f64 / (10 * queries.len()) as f64
    };
    let (narrow, configured) = (beam_recall(10), beam_recall(f16.ef_for(n, 10)));
    eprintln!("recall@10 with a beam of 10: {narrow:.4}; with the configured beam: {configured:.4}");
    assert!((configured - r10).abs() < 1e-9, "search() uses ef_for's beam");
    assert!(narrow < configured, "a beam of 10 ({narrow:.4}) should lose rows the beam of 64 finds");
    drop(ann);

    // Default graph; the threshold only decides here which filters are scanned exactly
    // (fewer allowed rows than max(threshold, 10 % of the rows)), so it is lowered to
    // send the broad filters below through the graph.
    let config = AnnConfig { threshold: 1_000, ..AnnConfig::default() };
    assert_eq!(config.quantization, AnnQuantization::I8Scaled, "the default graph is Docent's scaled int8");
    let ann = AnnIndex::from_rows(Arc::clone(&rows), DIM, &config, exact_cfg(), None).expect("build");
    assert_eq!(ann.len(), n);
    assert!(matches!(ann.origin(), AnnOrigin::Built { saved: None, .. }));
    let r10 = recall(&ann, &rows, &queries, 10, None);
    let r50 = recall(&ann, &rows, &queries, 50, None);
    eprintln!(
        "ANN (default: scaled int8 graph, rescored) recall on {n} x {DIM} clustered vectors, {} queries: @10 {r10:.4}, @50 {r50:.4}",
        queries.len()
    );
    assert!(r10 >= 0.98, "recall@10 {r10:.4} < 0.98");
    assert!(r50 >= 0.95, "recall@50 {r50:.4} < 0.95");

    // The query is quantised with its own scale, not the rows': a query three times
    // as long (components past the rows' ±127 range) finds the same rows, and the
    // exact rescoring scales its scores by exactly that factor.
    for q in queries.iter().take(50) {
        let long: Vec<f32> = q.iter().map(|x| x * 3.0).collect();
        let (plain, scaled) = (ann.search(q, 10, None), ann.search(&long, 10, None));
        let ordinals = |hits: &[docent_retrieval::Scored]| hits.iter().map(|s| s.ordinal).collect::<Vec<_>>();
        assert_eq!(ordinals(&plain), ordinals(&scaled), "a scaled query walks the graph the same way");
        for (a, b) in plain.iter().zip(&scaled) {
            assert!((b.score - 3.0 * a.score).abs() < 1e-4, "{} vs 3 x {}", b.score, a.score);
        }
    }

    // Filters: a broad one goes through the graph's filtered search, a selective one
    // through the exact scan of the allowed rows (so it is exact).
    let rh = recall(&ann, &rows, &queries[..100], 10, Some(&half));
    eprintln!("ANN recall@10 with a filter allowing half the rows: {rh:.4}");
    assert!(rh >= 0.95, "filtered recall@10 {rh:.4}");
    // Just above the exact-scan cut (10 % of the rows): the graph's filtered search.
    let mut some = RowSet::empty(n);
    for r in (0..n as u32).filter(|r| r % 8 == 3) {
        some.insert(r);
    }
    let rs = recall(&ann, &rows, &queries[..100], 10, Some(&some));
    eprintln!("ANN recall@10 with a filter allowing 12.5% of the rows: {rs:.4}");
    assert!(rs >= 0.95, "filtered recall@10 {rs:.4}");
    let mut few = RowSet::empty(n);
    for r in (0..n as u32).step_by(97) {
        few.insert(r);
    }
    assert_eq!(recall(&ann, &rows, &queries[..50], 10, Some(&few)), 1.0);
    assert!(ann.search(&queries[0], 10, Some(&RowSet::empty(n))).is_empty());

    // Degenerate requests.
    assert!(ann.search(&queries[0][..10], 10, None).is_empty(), "wrong dimension");
    assert!(ann.search(&queries[0], 0, None).is_empty());
    assert_eq!(ann.search(&queries[0], n + 5, None).len(), n, "k beyond the rows: every row");
}

#[test]
fn concurrent_searches_beyond_the_slots_wait_and_agree() {
    let n = 5_000;
    let (rows, queries) = data(n, 64, 7);
    let config = AnnConfig { search_slots: 2, ..AnnConfig::default() };
    let ann = Arc::new(AnnIndex::from_rows(Arc::clone(&rows), DIM, &config, exact_cfg(), None).expect("build"));
    let serial: Vec<Vec<u32>> =
        queries.iter().map(|q| ann.search(q, 10, None).iter().map(|s| s.ordinal).collect()).collect();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (ann, queries, serial) = (Arc::clone(&ann), &queries, &serial);
            s.spawn(move || {
                for round in 0..5 {
                    for (i, q) in queries.iter().enumerate().skip((t + round) % 3) {
                        let got: Vec<u32> = ann.search(q, 10, None).iter().map(|s| s.ordinal).collect();
                        assert_eq!(got, serial[i], "query {i} differs under concurrency");
                    }
                }
            });
        }
    });
}

fn model() -> ModelInfo {
    ModelInfo { id: "synthetic-384".into(), dim: DIM, max_length: 256 }
}

/// Publish a generation of `n` one-chunk pages with clustered vectors.
fn write_generation(bot: &BotDir, n: usize) -> u64 {
    let gen = ClusteredVectors::new(DIM, (n / 100).max(1), 1.2, 99);
    let chunking = ChunkingParams { version: 1, max_tokens: 256, overlap_tokens: 0 };
    let mut w = GenerationWriter::create(bot, model(), chunking).expect("writer");
    let mut v = vec![0.0f32; DIM];
    for i in 0..n {
        gen.row(i as u64, &mut v);
        let url = format!("https://example.test/p{i}");
        let text = format!("page {i} body text");
        let chunk = ChunkRecord {
            chunk_id: format!("{url}-0000"),
            doc_id: url.clone(),
            url: url.clone(),
            title: format!("Page {i}"),
            heading_path: Vec::new(),
            hash: ContentHash::of(text.as_bytes()),
            text,
            tags: Vec::new(),
        };
        let entry = DocumentEntry {
            url,
            title: chunk.title.clone(),
            source: "synthetic".into(),
            content_hash: chunk.hash,
            chunk_count: 1,
            etag: None,
            last_modified: None,
            sitemap_lastmod: None,
            tags: Vec::new(),
            links: Vec::new(),
        };
        w.add_document(entry, &[(chunk, v.as_slice())]).expect("add");
    }
    w.publish().expect("publish").generation
}

#[test]
fn snapshots_use_the_graph_above_the_threshold_and_cache_it_next_to_the_generation() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(data.path(), "ann").expect("bot");
    let g = write_generation(&bot, 3_000);
    let dir = bot.generation_dir(g);
    let ann = AnnConfig { threshold: 2_000, ..AnnConfig::default() };
    let cache = dir.join(ann.file_name());

    let below = AnnConfig { threshold: 3_001, ..ann };
    let s = Snapshot::open_with(&bot, g, &model(), exact_cfg(), &below).expect("open");
    assert_eq!(s.dense().kind(), "exact");
    assert!(!cache.exists(), "no graph below the threshold");

    let s = Snapshot::open_with(&bot, g, &model(), exact_cfg(), &ann).expect("open");
    assert_eq!(s.dense().kind(), "hnsw");
    assert!(cache.exists(), "graph cached in the generation directory");
    let q: Vec<f32> = s.index().vectors().row(42).expect("row").to_vec();
    let top = s.dense().search(&q, 5, None);
    assert_eq!(top[0].ordinal, 42, "a row is its own nearest neighbour");
    assert!((top[0].score - 1.0).abs() < 2e-3, "self-similarity {}", top[0].score);

    // A second open memory-maps the file instead of rebuilding.
    let index = Arc::new(IndexSnapshot::open_dir(&dir).expect("index"));
    let reopened = AnnIndex::for_snapshot(Arc::clone(&index), &ann, exact_cfg()).expect("reopen");
    assert_eq!(reopened.origin(), &AnnOrigin::Cached(cache.clone()));
    assert_eq!(reopened.search(&q, 5, None), top);

    // Garbage in the cache file, or a file for other rows, is rebuilt, not trusted.
    std::fs::write(&cache, b"not an index").expect("clobber");
    let rebuilt = AnnIndex::for_snapshot(Arc::clone(&index), &ann, exact_cfg()).expect("rebuild");
    assert!(matches!(rebuilt.origin(), AnnOrigin::Built { saved: Some(_), .. }));
    assert_eq!(rebuilt.search(&q, 1, None)[0].ordinal, 42);
    let other_rows: Arc<[f32]> = ClusteredVectors::new(DIM, 30, 1.2, 5).matrix(3_000).into();
    let foreign = AnnIndex::from_rows(other_rows, DIM, &ann, exact_cfg(), Some(&cache)).expect("foreign rows");
    assert!(matches!(foreign.origin(), AnnOrigin::Built { .. }), "rows differ: {:?}", foreign.origin());

    // Without caching nothing is written.
    let no_cache = AnnConfig { cache: false, ..ann };
    std::fs::remove_file(&cache).expect("rm");
    let s = Snapshot::open_with(&bot, g, &model(), exact_cfg(), &no_cache).expect("open");
    assert_eq!(s.dense().kind(), "hnsw");
    assert!(!cache.exists());
}
