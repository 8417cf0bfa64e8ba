//! Criterion benchmarks of the search kernels:
//!
//! * `exact_scan`: exact top-50 over 100k × 384 clustered unit vectors (one thread and
//!   the default parallel scan);
//! * `ann`: the HNSW index over the same rows (top-10 and top-50, rescored exactly);
//! * `query`: BM25 and hybrid queries through [`Retriever`] on a 20k-chunk synthetic
//!   generation (query vectors precomputed; needs the model files for the retriever's
//!   query embedder, skipped without them);
//! * `fusion`: RRF and the weighted blend of two 50-candidate lists.
//!
//! The HNSW graph and the synthetic generation are cached under cargo's target tmp
//! directory, so only the first run pays for building them (~1 min on 2 cores).
//! `cargo bench -p docent-retrieval` (bench profile = release).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use docent_index::{
    embed_text, BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, Embedder, EmbedderOptions,
    GenerationWriter, ModelFiles, ModelGraph,
};
use docent_retrieval::dense::synthetic::{ClusteredVectors, CorpusParams, SplitMix64, SyntheticCorpus};
use docent_retrieval::dense::{exact_top_k, AnnConfig, AnnIndex, DenseIndex, ExactConfig};
use docent_retrieval::fusion::{fuse, FusionConfig};
use docent_retrieval::{QueryEmbedder, Retriever, RetrieverConfig, Scored, SearchMode, SearchRequest};

const DIM: usize = 384;
const ROWS: usize = 100_000;
const TEXT_CHUNKS: usize = 20_000;
const QUERIES: usize = 64;

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docent-search-bench")
}

struct Vectors {
    rows: Arc<[f32]>,
    queries: Vec<Vec<f32>>,
}

fn vectors() -> Vectors {
    let gen = ClusteredVectors::new(DIM, ROWS / 100, 1.2, 11);
    let rows: Arc<[f32]> = gen.matrix(ROWS).into();
    let queries = (0..QUERIES as u64)
        .map(|q| {
            let mut v = vec![0.0; DIM];
            gen.sample(gen.cluster_of(ROWS as u64 + q), ROWS as u64 + q, &mut v);
            v
        })
        .collect();
    Vectors { rows, queries }
}

fn dense(c: &mut Criterion) {
    let v = vectors();
    let mut group = c.benchmark_group("exact_scan");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    for (name, cfg) in
        [("1 thread", ExactConfig { parallel_threshold: usize::MAX, threads: 1 }), ("default", ExactConfig::default())]
    {
        let mut i = 0;
        group.bench_function(BenchmarkId::new("100k x 384 top50", name), |b| {
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(exact_top_k(&v.rows, DIM, &v.queries[i], 50, None, &cfg))
            })
        });
    }
    group.finish();

    std::fs::create_dir_all(tmp()).expect("tmp dir");
    let config = AnnConfig::default();
    let cache = tmp().join(format!("vectors-{ROWS}-{}", config.file_name()));
    let exact = ExactConfig { parallel_threshold: usize::MAX, threads: 1 };
    let ann = AnnIndex::from_rows(Arc::clone(&v.rows), DIM, &config, exact, Some(&cache)).expect("ANN index");
    let mut group = c.benchmark_group("ann");
    group.measurement_time(Duration::from_secs(4));
    for k in [10, 50] {
        let mut i = 0;
        group.bench_function(BenchmarkId::new("100k x 384 hnsw (default: scaled i8)", format!("top{k}")), |b| {
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(ann.search(&v.queries[i], k, None))
            })
        });
    }
    group.finish();
}

/// A synthetic generation of `TEXT_CHUNKS` chunks (kept between runs).
fn text_index() -> PathBuf {
    // The schema version is in the name: a generation of another layout is rebuilt.
    let data = tmp().join(format!("text-{TEXT_CHUNKS}-v{}", docent_index::SCHEMA_VERSION));
    let done = data.join("done");
    if done.exists() {
        return data;
    }
    let _ = std::fs::remove_dir_all(&data);
    let model = Embedder::model_info();
    let corpus = SyntheticCorpus::new(CorpusParams::new(TEXT_CHUNKS, model.dim, 5));
    let bot = BotDir::new(&data, "bench").expect("bot");
    let chunking = ChunkingParams { version: 0, max_tokens: 256, overlap_tokens: 0 };
    let mut w = GenerationWriter::create(&bot, model, chunking).expect("writer");
    let per_doc = corpus.params().chunks_per_doc as u64;
    for d in 0..(TEXT_CHUNKS as u64).div_ceil(per_doc) {
        let url = format!("https://bench.example/d{d}");
        let chunks: Vec<_> =
            (d * per_doc..((d + 1) * per_doc).min(TEXT_CHUNKS as u64)).map(|i| corpus.chunk(i)).collect();
        let records: Vec<(ChunkRecord, &[f32])> = chunks
            .iter()
            .map(|c| {
                let heading_path = vec![c.title.clone(), c.heading.clone()];
                let hash = ContentHash::of(embed_text(&heading_path, &c.text).as_bytes());
                let record = ChunkRecord {
                    chunk_id: format!("{url}-{:04}", c.position),
                    doc_id: url.clone(),
                    url: format!("{url}#{}", c.position),
                    title: c.title.clone(),
                    heading_path,
                    text: c.text.clone(),
                    tags: Vec::new(),
                    hash,
                };
                (record, c.vector.as_slice())
            })
            .collect();
        let entry = DocumentEntry {
            url: url.clone(),
            title: chunks[0].title.clone(),
            source: "synthetic".into(),
            content_hash: ContentHash::of(url.as_bytes()),
            chunk_count: records.len(),
            etag: None,
            last_modified: None,
            sitemap_lastmod: None,
            tags: Vec::new(),
            links: Vec::new(),
        };
        w.add_document(entry, &records).expect("add");
    }
    w.publish().expect("publish");
    std::fs::write(&done, b"").expect("marker");
    data
}

fn queries(c: &mut Criterion) {
    let Ok(files) = ModelFiles::locate(None) else {
        eprintln!("query benches skipped: no model files (run `make models`)");
        return;
    };
    let data = text_index();
    let bot = BotDir::new(&data, "bench").expect("bot");
    let model = Embedder::load(&files, EmbedderOptions::queries(ModelGraph::QueryInt8)).expect("model");
    let embedder = Arc::new(QueryEmbedder::new(model, 0));
    let retriever = Retriever::open_with(&bot, embedder, RetrieverConfig::default()).expect("open");
    let snapshot = retriever.snapshot();
    let corpus = SyntheticCorpus::new(CorpusParams::new(TEXT_CHUNKS, DIM, 5));
    let qs: Vec<_> = (0..QUERIES as u64).map(|q| corpus.query(q)).collect();
    let mut group = c.benchmark_group("query");
    group.measurement_time(Duration::from_secs(4));
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let requests: Vec<SearchRequest> =
            qs.iter().map(|q| SearchRequest::new(q.text.clone()).with_k(10).with_mode(mode)).collect();
        let mut i = 0;
        let id = BenchmarkId::new(format!("20k chunks, dense {}", snapshot.dense().kind()), mode.as_str());
        group.bench_function(id, |b| {
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(retriever.search_with_vector(&snapshot, &requests[i], &qs[i].vector).expect("search"))
            })
        });
    }
    group.finish();
}

fn fusion(c: &mut Criterion) {
    let mut g = SplitMix64::new(3);
    // Two lists of 50 distinct rows each, half of them shared.
    let list = |g: &mut SplitMix64, first: u32, scale: f32| -> Vec<Scored> {
        let mut v: Vec<Scored> =
            (first..first + 50).map(|ordinal| Scored { ordinal, score: g.next_f64() as f32 * scale }).collect();
        v.sort_by(Scored::best_first);
        v
    };
    let (bm25, dense) = (list(&mut g, 0, 20.0), list(&mut g, 25, 1.0));
    let mut group = c.benchmark_group("fusion");
    for (name, cfg) in
        [("rrf", FusionConfig::Rrf { k: 60.0 }), ("weighted", FusionConfig::Weighted { bm25: 0.4, dense: 0.6 })]
    {
        group.bench_function(BenchmarkId::new("50+50 candidates", name), |b| {
            b.iter(|| black_box(fuse(black_box(&bm25), black_box(&dense), &cfg)))
        });
    }
    group.finish();
}

criterion_group!(benches, fusion, dense, queries);
criterion_main!(benches);
