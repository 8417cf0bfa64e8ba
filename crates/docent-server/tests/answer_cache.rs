//! The answer cache over real HTTP: a repeated first-turn question is answered
//! without generation, as the same frames with `cached: true`; follow-ups, a new
//! index generation and a disabled cache all generate again.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, start, Gated, Gen, SseReader, TestServer};

const QUESTION: &str = "How many days do I have to get a refund on an annual plan?";

fn generator() -> std::sync::Arc<Gated> {
    let g = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    g.open();
    g
}

/// Stream `body`'s answer; (event names, data of each frame).
async fn stream(s: &TestServer, mut body: Value) -> Vec<(String, Value)> {
    body["stream"] = json!(true);
    let res = s.post("/v1/chat", body).await;
    assert_eq!(res.status(), 200);
    SseReader::new(res).rest().await.into_iter().map(|f| (f.event, f.data)).collect()
}

fn done(frames: &[(String, Value)]) -> &Value {
    let (event, data) = frames.last().expect("frames");
    assert_eq!(event, "done", "{frames:?}");
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_first_question_streams_the_same_frames_from_the_cache() {
    let g = generator();
    let s = start(Gen::Gated(g.clone()), |_| {}).await;
    let first = stream(&s, json!({"bot_id": "docs", "message": QUESTION})).await;
    assert_eq!(done(&first)["cached"], false);
    assert_eq!(g.started.load(Ordering::SeqCst), 1);

    // Same question, other case and spacing, new conversation.
    let again = stream(&s, json!({"bot_id": "docs", "message": format!("  {} ", QUESTION.to_uppercase())})).await;
    assert_eq!(g.started.load(Ordering::SeqCst), 1, "the generator was not asked again");
    let d = done(&again);
    assert_eq!(d["cached"], true, "{d}");
    assert_eq!(d["finish_reason"], "stop");
    assert_ne!(d["conversation_id"], done(&first)["conversation_id"], "a new conversation of its own");
    let names = |f: &[(String, Value)]| f.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>();
    assert_eq!(names(&again), names(&first), "the same event sequence");
    for (key, what) in [("sources", "sources"), ("citations", "citations")] {
        assert_eq!(d[key], done(&first)[key], "{what}");
    }
    assert_eq!(d["message"]["content"], done(&first)["message"]["content"]);
    let deltas = |f: &[(String, Value)]| {
        f.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["delta"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(deltas(&again), deltas(&first));
    assert_ne!(d["message"]["id"], done(&first)["message"]["id"]);

    // The cached turn is stored like any other.
    let conv = d["conversation_id"].as_str().expect("id");
    let stored: Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    let messages = stored["messages"]["data"].as_array().or(stored["messages"].as_array()).cloned().unwrap_or_default();
    assert!(
        messages.iter().any(|m| m["content"] == d["message"]["content"] && m["finish_reason"] == "stop"),
        "{stored:#}"
    );

    // Blocking too.
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": QUESTION})).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["cached"], true, "{body}");
    assert_eq!(g.started.load(Ordering::SeqCst), 1);

    let metrics = s.get("/metrics").await.text().await.expect("text");
    assert!(metrics.contains("docent_answer_cache_hits_total{bot=\"docs\"} 2"), "{metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_other_filters_and_a_new_generation_are_generated_again() {
    let g = generator();
    let s = start(Gen::Gated(g.clone()), |c| c.limits.reload_secs = 1).await;
    let first = stream(&s, json!({"bot_id": "docs", "message": QUESTION})).await;
    let conv = done(&first)["conversation_id"].clone();

    // A follow-up has history: its answer may depend on it.
    let follow = stream(&s, json!({"bot_id": "docs", "message": QUESTION, "conversation_id": conv})).await;
    assert_eq!(done(&follow)["cached"], false);
    assert_eq!(g.started.load(Ordering::SeqCst), 2);

    // Other filters, other answer.
    let filtered = stream(
        &s,
        json!({"bot_id": "docs", "message": QUESTION, "filters": {"url_prefix": "https://help.example.com/"}}),
    )
    .await;
    assert_eq!(done(&filtered)["cached"], false);
    assert_eq!(g.started.load(Ordering::SeqCst), 3);

    // A new generation of the index: the old answers are not served again.
    let before = s.state.bot("docs").expect("bot").generation();
    let data = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || support::write_index(&data)).await.expect("publish");
    let bot = s.state.bot("docs").expect("bot").clone();
    assert!(eventually(Duration::from_secs(30), || async { bot.generation() != before }).await, "the bot reloads");
    let n = g.started.load(Ordering::SeqCst);
    let after = stream(&s, json!({"bot_id": "docs", "message": QUESTION})).await;
    assert_eq!(done(&after)["cached"], false);
    assert_eq!(g.started.load(Ordering::SeqCst), n + 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_short_answer_is_not_cached_and_a_disabled_cache_serves_nothing() {
    // The client leaves during the answer: the turn is cancelled, not cached.
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": QUESTION, "stream": true})).await;
    let mut sse = SseReader::new(res);
    while let Some(f) = sse.next().await {
        if f.event == "delta" {
            break;
        }
    }
    drop(sse);
    assert!(eventually(Duration::from_secs(10), || async { gated.dropped.load(Ordering::SeqCst) }).await);
    gated.open();
    let again = stream(&s, json!({"bot_id": "docs", "message": QUESTION})).await;
    assert_eq!(done(&again)["cached"], false, "the cancelled turn was not cached");
    assert_eq!(gated.started.load(Ordering::SeqCst), 2);
    s.stop().await;

    let g = generator();
    let s = start(Gen::Gated(g.clone()), |c| c.answer_cache.enabled = false).await;
    for _ in 0..2 {
        let frames = stream(&s, json!({"bot_id": "docs", "message": QUESTION})).await;
        assert_eq!(done(&frames)["cached"], false);
    }
    assert_eq!(g.started.load(Ordering::SeqCst), 2);
    s.stop().await;
}
