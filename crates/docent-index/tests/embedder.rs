//! The embedder against vectors computed by an independent path (python onnxruntime +
//! HuggingFace tokenizers, `scripts/reference-embeddings.py`), and basic semantics.

use docent_index::{Embedder, EmbedderOptions, IndexError, ModelFiles, ModelGraph, MODEL_DIM};

fn embedder() -> Embedder {
    let files = ModelFiles::locate(None).expect("models missing: run `make models`");
    Embedder::load(&files, EmbedderOptions::default()).expect("load model")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<RefSentence>,
}
#[derive(serde::Deserialize)]
struct RefSentence {
    text: String,
    vector: Vec<f32>,
}

/// Same ONNX file and pooling through another runtime binding: differences come only
/// from float summation order, so the tolerance is tight.
const MAX_ABS_DIFF: f32 = 1e-4;
const MIN_COSINE: f32 = 0.9999;

#[test]
fn matches_reference_vectors_within_tolerance() {
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference_embeddings.json"))
        .expect("reference data");
    let reference: Reference = serde_json::from_str(&raw).expect("parse reference");
    assert!(reference.sentences.len() >= 5);
    let mut model = embedder();
    let texts: Vec<&str> = reference.sentences.iter().map(|s| s.text.as_str()).collect();
    let got = model.embed(&texts).expect("embed");
    for (s, v) in reference.sentences.iter().zip(&got) {
        assert_eq!(v.len(), MODEL_DIM);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "not normalised: {norm} for {:?}", s.text);
        let cos = cosine(v, &s.vector);
        let max_diff = v.iter().zip(&s.vector).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(cos >= MIN_COSINE, "cosine {cos} < {MIN_COSINE} for {:?}", s.text);
        assert!(max_diff <= MAX_ABS_DIFF, "max |diff| {max_diff} > {MAX_ABS_DIFF} for {:?}", s.text);
    }
}

#[test]
fn batching_does_not_change_vectors() {
    let mut model = embedder();
    let texts = ["short", "a somewhat longer sentence about invoices and refunds", "x"];
    let together = model.embed(&texts).expect("embed");
    for (t, v) in texts.iter().zip(&together) {
        let alone = model.embed(&[*t]).expect("embed");
        assert!(cosine(v, &alone[0]) > 0.9999, "padding in a batch changed the vector of {t:?}");
    }
}

#[test]
fn paraphrases_score_higher_than_unrelated_text() {
    let mut model = embedder();
    let v = model
        .embed(&[
            "How can I get my money back for a subscription?",
            "Requesting a refund of your plan charge",
            "The river froze early this winter.",
            "Rotate your API keys every ninety days.",
        ])
        .expect("embed");
    let para = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]).max(cosine(&v[0], &v[3]));
    assert!(para > unrelated + 0.1, "paraphrase {para} vs unrelated {unrelated}");
}

#[test]
fn missing_model_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = ModelFiles::at(dir.path()).unwrap_err();
    assert!(matches!(err, IndexError::ModelMissing { .. }));
    assert!(err.to_string().contains("make models"), "{err}");
}

/// The query graph (`query_int8.onnx`, int8 kernels) against the shipped graph that
/// embeds documents: the same space, close vectors, reproducible one text at a time.
#[test]
fn the_query_graph_stays_close_to_the_document_graph() {
    let files = ModelFiles::locate(None).expect("models missing: run `make models`");
    let mut shipped = Embedder::load(&files, EmbedderOptions::queries(ModelGraph::Shipped)).expect("shipped graph");
    let mut query = Embedder::load(&files, EmbedderOptions::queries(ModelGraph::QueryInt8)).expect("query graph");
    let questions = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/questions.jsonl"))
        .expect("corpus questions");
    let texts: Vec<String> = questions
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["question"].as_str().map(str::to_string))
        .take(60)
        .collect();
    assert!(texts.len() >= 50, "the corpus has questions");
    let (mut min, mut sum) = (1.0f32, 0.0f32);
    for t in &texts {
        let a = shipped.embed(&[t.as_str()]).expect("embed")[0].clone();
        let b = query.embed(&[t.as_str()]).expect("embed")[0].clone();
        assert_ne!(a, b, "the two graphs are different computations: {t:?}");
        assert_eq!(b, query.embed(&[t.as_str()]).expect("embed")[0], "one text per call is reproducible: {t:?}");
        let c = cosine(&a, &b);
        (min, sum) = (min.min(c), sum + c);
    }
    let mean = sum / texts.len() as f32;
    assert!(min >= 0.98 && mean >= 0.99, "query vectors drifted: min cosine {min}, mean {mean}");
    // Per-call activation scales make a batch's vectors depend on each other.
    let batched =
        Embedder::load(&files, EmbedderOptions { batch_size: 4, ..EmbedderOptions::queries(ModelGraph::QueryInt8) });
    assert!(matches!(batched, Err(IndexError::Model(m)) if m.contains("one text per call")));
}
