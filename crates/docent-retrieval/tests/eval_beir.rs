//! The BEIR path end to end on a hand-made data set in a tempdir: load, index (one
//! long abstract split into several chunks), reuse and incremental re-embedding, and
//! the metrics of real searches, with documents ranked by their best chunk.

mod common;

use std::path::Path;

use docent_index::{Embedder, EmbedderOptions};
use docent_retrieval::eval::run::{run_variant, RunOptions};
use docent_retrieval::eval::{BeirDataset, EvalError, EvalQuery, Variant};
use docent_retrieval::{Retriever, RetrieverConfig, SearchMode};

fn long_invoice_text() -> String {
    let topics = [
        "Invoices can be exported as PDF files from the invoice list.",
        "A CSV export of all invoices is available for accountants.",
        "Each exported invoice carries the legal entity, tax number and due date.",
        "Exports run in the background and arrive by email when they are large.",
        "Credit notes are exported together with the invoices they correct.",
        "Archived invoices stay exportable for ten years.",
    ];
    (0..6).flat_map(|round| topics.iter().map(move |t| format!("{t} (Part {round}.)"))).collect::<Vec<_>>().join(" ")
}

fn write_dataset(dir: &Path, refund_text: &str) {
    std::fs::create_dir_all(dir.join("qrels")).expect("mkdir");
    let docs = [
        ("d1", "Refund policy", refund_text.to_string()),
        (
            "d2",
            "Rotating API keys",
            "Rotate secret API keys from the developer dashboard; the old key stops working after 24 hours."
                .to_string(),
        ),
        ("d3", "Exporting invoices", long_invoice_text()),
    ];
    let corpus: Vec<String> = docs
        .iter()
        .map(|(id, title, text)| serde_json::json!({"_id": id, "title": title, "text": text}).to_string())
        .collect();
    std::fs::write(dir.join("corpus.jsonl"), corpus.join("\n") + "\n").expect("corpus");
    let queries = [
        r#"{"_id": "q1", "text": "how many days do I have to ask for my money back"}"#,
        r#"{"_id": "q2", "text": "export invoices to PDF or CSV"}"#,
        r#"{"_id": "q3", "text": "a query without judgments is not evaluated"}"#,
    ];
    std::fs::write(dir.join("queries.jsonl"), queries.join("\n")).expect("queries");
    std::fs::write(dir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq2\td2\t0\n")
        .expect("qrels");
}

const REFUND: &str =
    "Annual plans can be refunded in full within 30 days of the charge date; monthly plans within 14 days.";

fn queries(ds: &BeirDataset) -> Vec<EvalQuery> {
    ds.queries
        .iter()
        .map(|q| EvalQuery {
            id: q.id.clone(),
            text: q.text.clone(),
            history: vec![],
            qrels: ds.qrels[&q.id].clone(),
            section_url: None,
            answerable: true,
        })
        .collect()
}

#[test]
fn tiny_beir_dataset_indexes_reuses_and_scores_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ds_dir = tmp.path().join("tinyset");
    let data = tmp.path().join("data");
    write_dataset(&ds_dir, REFUND);

    let ds = BeirDataset::load(&ds_dir, "test").expect("load");
    assert_eq!(ds.name, "tinyset");
    assert_eq!(ds.bot_id(), "beir-tinyset");
    assert_eq!(ds.corpus.len(), 3);
    assert_eq!(ds.queries.len(), 2, "q3 has no judgments in the split");
    assert_eq!(ds.judgment_count(), 3);
    assert!(matches!(BeirDataset::load(&ds_dir, "train"), Err(EvalError::Io { .. })));

    let files = common::model_files();
    let mut embedder = Embedder::load(&files, EmbedderOptions::default()).expect("model");
    let mut calls = 0;
    let built = ds.build_index(&data, &files, &mut embedder, &mut |_, _| calls += 1).expect("index");
    assert!(!built.reused);
    assert_eq!(built.documents, 3);
    assert!(built.chunks > 3, "the long abstract is split: {} chunks", built.chunks);
    assert_eq!(built.embedded, built.chunks);
    assert!(calls >= 1);

    // Same corpus: reused, nothing embedded.
    let again = ds.build_index(&data, &files, &mut embedder, &mut |_, _| {}).expect("reuse");
    assert!(again.reused);
    assert_eq!((again.generation, again.embedded), (built.generation, 0));

    // One document changed: a new generation, only its chunk embedded.
    write_dataset(&ds_dir, "Refunds are possible within 30 days for annual plans and 14 days for monthly plans.");
    let ds2 = BeirDataset::load(&ds_dir, "test").expect("reload");
    let rebuilt = ds2.build_index(&data, &files, &mut embedder, &mut |_, _| {}).expect("rebuild");
    assert!(!rebuilt.reused);
    assert!(rebuilt.generation > built.generation);
    assert_eq!(rebuilt.embedded, 1, "the other chunks come from the embedding cache");
    assert_eq!(rebuilt.cached, rebuilt.chunks - 1);

    let bot = ds2.bot_dir(&data).expect("bot");
    let retriever = Retriever::open_with(&bot, common::query_embedder(), RetrieverConfig::default()).expect("open");
    let qs = queries(&ds2);
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let r =
            run_variant(&retriever, &Variant::mode(mode.as_str(), mode), &qs, RunOptions::default(), &mut |_, _| {})
                .expect("run");
        assert_eq!(r.queries, 2);
        for o in &r.per_query {
            // Documents, not chunks: every id once, and the BEIR ids come back.
            let mut ids = o.top10.clone();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), o.top10.len(), "{mode}: duplicate documents in {:?}", o.top10);
            assert!(o.top10.iter().all(|d| ["d1", "d2", "d3"].contains(&d.as_str())), "{:?}", o.top10);
        }
        let q2 = r.outcome("q2").expect("q2");
        assert_eq!(q2.top10.first().map(String::as_str), Some("d3"), "{mode}: {:?}", q2.top10);
        let mean = r.mean.expect("mean");
        // With 3 documents every relevant one is within the top 10 and 100.
        assert_eq!(mean.recall_at_10, 1.0, "{mode}");
        assert_eq!(mean.recall_at_100, 1.0, "{mode}");
        if mode != SearchMode::Bm25 {
            // q1 shares almost no words with d1 ("money back" vs "refunded"): dense finds it.
            let q1 = r.outcome("q1").expect("q1");
            assert_eq!(q1.top10.first().map(String::as_str), Some("d1"), "{mode}: {:?}", q1.top10);
            assert!((mean.ndcg_at_10 - 1.0).abs() < 1e-9 && (mean.mrr_at_10 - 1.0).abs() < 1e-9, "{mode}: {mean:?}");
        }
        // nDCG agrees with MRR's rank of the single relevant document for q1.
        let q1 = r.outcome("q1").expect("q1");
        let rank = q1.top10.iter().position(|d| d == "d1").expect("d1 retrieved") + 1;
        assert!((q1.metrics.mrr_at_10 - 1.0 / rank as f64).abs() < 1e-12);
        assert!((q1.metrics.ndcg_at_10 - 1.0 / ((rank + 1) as f64).log2()).abs() < 1e-12);
    }
}
