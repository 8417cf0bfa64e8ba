//! `docent analytics` as an operator runs it: a real child process reading the store
//! of a data dir (turns written through the store's own API), the real model
//! grouping the unanswered questions, as a table and as `--json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use docent_server::store::{MessageStatus, NewMessage, Store};
use serde_json::{json, Value};

fn docent() -> Command {
    let models = std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_docent"));
    c.env("DOCENT_MODELS", models).env_remove("DOCENT_DATA").env_remove("DOCENT_BOT").env_remove("DOCENT_CONFIG");
    c
}

/// One stored turn: the visitor's question and the assistant's finished answer.
async fn turn(store: &Store, n: usize, question: &str, finish_reason: &str, total_ms: f64) {
    let conv = format!("conv_t{n}");
    store.create_conversation(&conv, "docs", None, &json!({})).await.expect("conversation");
    let user = format!("msg_u{n}");
    let assistant = format!("msg_a{n}");
    for (id, role, content, status) in
        [(&user, "user", question, MessageStatus::Complete), (&assistant, "assistant", "", MessageStatus::Streaming)]
    {
        let m = NewMessage { id, conversation_id: &conv, role, content, status, request_id: None };
        store.insert_message(&m).await.expect("message");
    }
    let timings = json!({"retrieval_ms": 1.0, "rerank_ms": 0.0, "ttft_ms": total_ms / 2.0, "total_ms": total_ms});
    store
        .finish_message(&assistant, "…", finish_reason, &json!([]), &json!([]), &json!({}), &timings, &[])
        .await
        .expect("finish");
}

#[test]
fn analytics_prints_the_summary_and_the_grouped_unanswered_questions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("docent.db").display());
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        let store = Store::connect(&url).await.expect("store");
        turn(&store, 1, "Is there an Android app?", "no_answer", 4.0).await;
        turn(&store, 2, "Do you have a mobile app for Android phones?", "no_answer", 6.0).await;
        turn(&store, 3, "What is the boiling point of tungsten on Mars?", "no_answer", 8.0).await;
        turn(&store, 4, "How long is the refund window?", "stop", 10.0).await;
    });

    let out = docent().args(["analytics", "--json", "--data"]).arg(dir.path()).output().expect("spawn docent");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let summary = &report["summary"];
    assert_eq!(summary["conversations"], 4, "{report:#}");
    assert_eq!(summary["outcomes"]["no_answer"], 3);
    assert_eq!(summary["outcomes"]["answered"], 1);
    assert_eq!(summary["latency"]["total_ms"]["p50"], 6.0, "nearest rank of 4, 6, 8, 10");
    assert_eq!(summary["latency"]["total_ms"]["p99"], 10.0);
    let groups = report["unanswered"]["groups"].as_array().expect("groups");
    let counts: Vec<i64> = groups.iter().filter_map(|g| g["count"].as_i64()).collect();
    assert_eq!(counts, vec![2, 1], "{report:#}");
    assert_eq!(groups[1]["question"], "What is the boiling point of tungsten on Mars?");

    let out = docent().args(["analytics", "--data"]).arg(dir.path()).output().expect("spawn docent");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no answer 3 (75.0%)"), "{text}");
    assert!(text.contains("unanswered: 3 questions in 2 groups"), "{text}");
    assert!(text.contains("~ "), "the paraphrase is listed under its group: {text}");

    let out = docent().args(["analytics", "--from", "last week", "--data"]).arg(dir.path()).output().expect("spawn");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"), "{}", String::from_utf8_lossy(&out.stderr));
}
