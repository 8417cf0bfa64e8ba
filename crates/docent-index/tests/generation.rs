//! Writing, publishing and reading generations; the embedding cache's crash tolerance.

use std::collections::BTreeMap;

use docent_index::{
    BotDir, ChunkRecord, ChunkingParams, ContentHash, DocumentEntry, EmbeddingCache, GenerationWriter, IndexError,
    IndexSnapshot, ModelInfo,
};

fn model() -> ModelInfo {
    ModelInfo { id: "test-model".into(), dim: 4, max_length: 16 }
}

fn chunking() -> ChunkingParams {
    ChunkingParams { version: 1, max_tokens: 100, overlap_tokens: 10 }
}

fn chunk(doc: &str, i: usize, text: &str) -> ChunkRecord {
    ChunkRecord {
        chunk_id: format!("{doc}-{i}"),
        doc_id: doc.into(),
        url: format!("{doc}#s{i}"),
        title: "Title".into(),
        heading_path: vec!["Title".into(), format!("Section {i}")],
        text: text.into(),
        tags: vec!["t".into()],
        hash: ContentHash::of(text.as_bytes()),
    }
}

fn entry(url: &str) -> DocumentEntry {
    DocumentEntry {
        url: url.into(),
        title: "Title".into(),
        source: "dir:/x".into(),
        content_hash: ContentHash::of(url.as_bytes()),
        chunk_count: 0,
        etag: None,
        last_modified: None,
        sitemap_lastmod: None,
        tags: vec![],
        links: vec![],
    }
}

fn write_generation(bot: &BotDir, docs: &[(&str, &[&str])]) -> u64 {
    let mut w = GenerationWriter::create(bot, model(), chunking()).expect("create");
    for (doc, texts) in docs {
        let chunks: Vec<ChunkRecord> = texts.iter().enumerate().map(|(i, t)| chunk(doc, i, t)).collect();
        let vecs: Vec<[f32; 4]> = (0..chunks.len()).map(|i| [i as f32, 1.0, 2.0, 3.0]).collect();
        let rows: Vec<(ChunkRecord, &[f32])> = chunks.into_iter().zip(vecs.iter().map(|v| &v[..])).collect();
        w.add_document(entry(doc), &rows).expect("add");
    }
    w.publish().expect("publish").generation
}

#[test]
fn published_generation_roundtrips_chunks_vectors_and_manifest() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(data.path(), "docs").expect("bot");
    assert!(matches!(IndexSnapshot::open(&bot), Err(IndexError::NoIndex { .. })));
    let g = write_generation(&bot, &[("https://a/x", &["alpha text", "beta text"]), ("https://a/y", &["gamma"])]);
    let snap = IndexSnapshot::open(&bot).expect("open");
    assert_eq!(snap.generation(), g);
    assert_eq!(snap.chunk_count(), 3);
    assert_eq!(snap.manifest().counts.documents, 2);
    assert_eq!(snap.manifest().documents["https://a/x"].chunk_count, 2);
    let x = snap.chunks_of("https://a/x").expect("chunks");
    assert_eq!(x.iter().map(|(c, _)| c.text.as_str()).collect::<Vec<_>>(), vec!["alpha text", "beta text"]);
    assert_eq!(x[1].0.heading_path, vec!["Title", "Section 1"]);
    let row = snap.vectors().row(x[1].1 as usize).expect("row");
    assert_eq!(row, &[1.0, 1.0, 2.0, 3.0]);
    assert!(snap.chunks_of("https://a/none").expect("chunks").is_empty());
}

#[test]
fn an_open_snapshot_keeps_its_generation_while_newer_ones_are_published() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(data.path(), "docs").expect("bot");
    let g1 = write_generation(&bot, &[("https://a/x", &["one"])]);
    let old = IndexSnapshot::open(&bot).expect("open");
    let g2 = write_generation(&bot, &[("https://a/x", &["one", "two"]), ("https://a/y", &["three"])]);
    assert!(g2 > g1);
    assert_eq!(old.generation(), g1);
    assert_eq!(old.chunk_count(), 1);
    assert_eq!(old.chunks_of("https://a/x").expect("chunks").len(), 1);
    let new = IndexSnapshot::open(&bot).expect("open");
    assert_eq!((new.generation(), new.chunk_count()), (g2, 3));
    // Only the live generation and the one before it stay on disk.
    let g3 = write_generation(&bot, &[("https://a/z", &["four"])]);
    assert_eq!(bot.generations_on_disk().expect("list"), vec![g2, g3]);
}

#[test]
fn an_unpublished_generation_is_invisible_and_cleared_by_the_next_writer() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(data.path(), "docs").expect("bot");
    let g1 = write_generation(&bot, &[("https://a/x", &["one"])]);
    let mut w = GenerationWriter::create(&bot, model(), chunking()).expect("create");
    let c = chunk("https://a/y", 0, "half written");
    w.add_document(entry("https://a/y"), &[(c, &[0.0, 0.0, 0.0, 1.0][..])]).expect("add");
    let orphan = w.generation();
    drop(w); // never published: on disk this is what a killed ingest leaves
    assert_eq!(IndexSnapshot::open(&bot).expect("open").generation(), g1);
    let g = write_generation(&bot, &[("https://a/z", &["two"])]);
    // The orphan's directory was wiped and its number reused: nothing of it survives.
    assert_eq!(g, orphan);
    let snap = IndexSnapshot::open(&bot).expect("open");
    assert_eq!(snap.generation(), g);
    assert!(snap.manifest().documents.contains_key("https://a/z"));
    assert!(!snap.manifest().documents.contains_key("https://a/y"), "half-written document leaked");
}

#[test]
fn a_second_ingest_lock_on_the_same_bot_is_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(data.path(), "docs").expect("bot");
    let held = bot.lock_for_ingest().expect("lock");
    assert!(matches!(bot.lock_for_ingest(), Err(IndexError::Locked(..))));
    drop(held);
    bot.lock_for_ingest().expect("lock again after release");
}

#[test]
fn bot_ids_are_validated() {
    for bad in ["", "../etc", "Docs", "a/b", &"x".repeat(65)] {
        assert!(matches!(BotDir::new("/tmp", bad), Err(IndexError::InvalidBotId(_))), "{bad:?} accepted");
    }
    BotDir::new("/tmp", "support-bot_2").expect("valid id");
}

#[test]
fn embedding_cache_survives_a_torn_tail_and_ignores_another_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("embeddings.cache");
    let (h1, h2) = (ContentHash::of(b"one"), ContentHash::of(b"two"));
    {
        let mut c = EmbeddingCache::open(&path, "m", 4).expect("open");
        c.insert_batch([(h1, &[1.0f32, 2.0, 3.0, 4.0][..]), (h2, &[5.0f32, 6.0, 7.0, 8.0][..])]).expect("insert");
    }
    // Simulate a crash in the middle of appending a third record.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(&[7u8; 20]);
    std::fs::write(&path, &bytes).expect("write");
    let c = EmbeddingCache::open(&path, "m", 4).expect("reopen");
    assert_eq!(c.len(), 2);
    assert_eq!(c.get(&h2), Some(&[5.0f32, 6.0, 7.0, 8.0][..]));
    drop(c);
    let other = EmbeddingCache::open(&path, "another-model", 4).expect("open other");
    assert!(other.is_empty(), "vectors of another model must not be reused");
}

#[test]
fn compacting_the_cache_keeps_only_live_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("embeddings.cache");
    let hashes: Vec<ContentHash> = (0..5u8).map(|i| ContentHash::of(&[i])).collect();
    let mut c = EmbeddingCache::open(&path, "m", 4).expect("open");
    c.insert_batch(hashes.iter().map(|h| (*h, &[0.5f32; 4][..]))).expect("insert");
    let live: BTreeMap<ContentHash, ()> = hashes[..2].iter().map(|h| (*h, ())).collect();
    assert_eq!(c.compact(|h| live.contains_key(h)).expect("compact"), 2);
    drop(c);
    let c = EmbeddingCache::open(&path, "m", 4).expect("reopen");
    assert_eq!(c.len(), 2);
    assert!(c.get(&hashes[4]).is_none());
}
