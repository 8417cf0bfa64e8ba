//! `/v1/analytics/*` over real HTTP: unanswered questions grouped by meaning (real
//! embedding model), the traffic summary matching the turns actually asked, time
//! ranges, bad parameters, and the admin scope.

mod support;

use docent_server::auth::create_key;
use docent_server::store::KeyKind;
use serde_json::{json, Value};
use support::{start, Gen, TestServer};

/// Ask `question` (blocking) in a new conversation; the answer.
async fn answer(s: &TestServer, question: &str) -> Value {
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": question})).await;
    assert_eq!(res.status(), 200, "{question}");
    res.json().await.expect("json")
}

/// Ask `question`; its finish reason.
async fn ask(s: &TestServer, question: &str) -> String {
    answer(s, question).await["finish_reason"].as_str().unwrap_or_default().to_string()
}

async fn get_json(s: &TestServer, path: &str) -> (u16, Value) {
    let res = s.get(path).await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

const BITCOIN: &str = "Can I pay with bitcoin?";
/// `BITCOIN` again, but for case and spacing.
const VARIANT: &str = "  can I pay with BITCOIN? ";
/// A paraphrase of `BITCOIN` (cosine 0.875 with the default model).
const CRYPTO: &str = "Can I pay using bitcoin or another cryptocurrency?";
/// A neighbouring but different need (cosine 0.713 with `BITCOIN`).
const PAYPAL: &str = "Can I pay with PayPal?";
const TUNGSTEN: &str = "What is the boiling point of tungsten on Mars?";
const REFUND: &str = "How many days do I have to get a refund on an annual plan?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_questions_are_grouped_by_meaning_and_the_summary_counts_the_turns() {
    let s = start(Gen::Extractive, |_| {}).await;
    for q in [BITCOIN, VARIANT, CRYPTO, PAYPAL, TUNGSTEN] {
        assert_eq!(ask(&s, q).await, "no_answer", "precondition: the sample index cannot answer {q:?}");
    }
    let refund = answer(&s, REFUND).await;
    assert_eq!(refund["finish_reason"], "stop");
    assert_eq!(ask(&s, "Can I talk to a human please?").await, "handoff");
    let msg = refund["message"]["id"].as_str().expect("id");
    let res = s.post(&format!("/v1/messages/{msg}/feedback"), json!({"rating": "down"})).await;
    assert_eq!(res.status(), 201);
    let res = s.post(&format!("/v1/messages/{msg}/feedback"), json!({"rating": "up"})).await;
    assert_eq!(res.status(), 200, "the second rating replaces the first");
    let conv = &refund["conversation_id"];
    let res = s.post("/v1/leads", json!({"conversation_id": conv, "email": "ada@example.com"})).await;
    assert_eq!(res.status(), 201);

    let (status, report) = get_json(&s, "/v1/analytics/unanswered?bot_id=docs").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["turns"], 5, "{report}");
    assert_eq!(report["truncated"], false);
    let groups = report["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3, "bitcoin paraphrases together, PayPal and tungsten apart: {report:#}");
    // The most asked phrasing leads (two exact repeats, case and spacing aside).
    let leader = groups[0]["question"].as_str().unwrap_or_default();
    assert!([BITCOIN, VARIANT.trim()].contains(&leader), "{report:#}");
    assert_eq!(groups[0]["count"], 3);
    assert_eq!(groups[0]["examples"], json!([CRYPTO]));
    assert_eq!(groups[0]["message_ids"].as_array().map(Vec::len), Some(3));
    assert!(groups[0]["first_seen_ms"].as_i64() <= groups[0]["last_seen_ms"].as_i64());
    let rest: Vec<&str> = groups[1..].iter().filter_map(|g| g["question"].as_str()).collect();
    assert!(rest.contains(&PAYPAL) && rest.contains(&TUNGSTEN), "{report:#}");
    assert!(groups[1..].iter().all(|g| g["count"] == 1 && g["examples"] == json!([])), "{report:#}");

    // At similarity 1 only exact repeats share a group.
    let (_, strict) = get_json(&s, "/v1/analytics/unanswered?bot_id=docs&similarity=1").await;
    let counts: Vec<i64> =
        strict["groups"].as_array().expect("groups").iter().filter_map(|g| g["count"].as_i64()).collect();
    assert_eq!(counts, vec![2, 1, 1, 1], "{strict:#}");

    let (status, summary) = get_json(&s, "/v1/analytics/summary?bot_id=docs").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["conversations"], 7);
    assert_eq!(summary["user_messages"], 7);
    assert_eq!(summary["assistant_messages"], 7);
    assert_eq!(summary["outcomes"], json!({"answered": 1, "no_answer": 5, "handoff": 1, "cancelled": 0, "error": 0}));
    let rate = |name: &str| summary["rates"][name].as_f64().unwrap_or(-1.0);
    assert!((rate("answer_rate") - 1.0 / 7.0).abs() < 1e-9, "{summary}");
    assert!((rate("no_answer_rate") - 5.0 / 7.0).abs() < 1e-9 && (rate("handoff_rate") - 1.0 / 7.0).abs() < 1e-9);
    assert_eq!(summary["feedback"], json!({"up": 1, "down": 0}), "the latest rating per message");
    assert_eq!(summary["leads"], 1);
    assert_eq!(summary["latency"]["turns"], 6, "answered and no-answer turns, not the handoff");
    let total = &summary["latency"]["total_ms"];
    assert!(total["p50"].as_f64() > Some(0.0) && total["p50"].as_f64() <= total["p99"].as_f64(), "{summary}");

    // A range that ends before the turns holds none of them.
    let (status, empty) =
        get_json(&s, "/v1/analytics/summary?bot_id=docs&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z").await;
    assert_eq!(status, 200);
    assert_eq!(empty["conversations"], 0);
    assert_eq!(empty["latency"]["turns"], 0);
    let (_, none) = get_json(&s, "/v1/analytics/unanswered?bot_id=docs&to=2020-02-01T00:00:00Z").await;
    assert_eq!(none["groups"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ranges_and_parameters_are_clear_400s() {
    let s = start(Gen::Extractive, |_| {}).await;
    for (query, param, code) in [
        ("from=yesterday", "from", "invalid_time"),
        ("to=2026-13-01T00:00:00Z", "to", "invalid_time"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from", "invalid_range"),
        ("similarity=1.5", "similarity", "invalid_similarity"),
    ] {
        let (status, body) = get_json(&s, &format!("/v1/analytics/unanswered?bot_id=docs&{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["param"], param, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
    let (status, body) = get_json(&s, "/v1/analytics/summary?bot_id=nope").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get_json(&s, "/v1/analytics/summary?bot_id=docs&similarity=abc").await;
    assert_eq!(status, 400, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_need_the_admin_scope_and_default_to_the_keys_only_bot() {
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.bots.push(docent_server::config::BotConfig::new("other"));
    })
    .await;
    let store = &s.state.store;
    let chat = create_key(store, KeyKind::Secret, "c", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let other = create_key(store, KeyKind::Secret, "o", &["other".into()], &["admin".into()], &[]).await.expect("key");
    let admin = create_key(store, KeyKind::Secret, "a", &["docs".into()], &["admin".into()], &[]).await.expect("key");
    let call = |key: String, path: &'static str| {
        let req = s.http.get(s.url(path)).bearer_auth(key);
        async move { req.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(call(chat.key.clone(), "/v1/analytics/summary?bot_id=docs").await, 403, "chat scope only");
    assert_eq!(call(other.key.clone(), "/v1/analytics/summary?bot_id=docs").await, 403, "admin of another bot");
    assert_eq!(call(admin.key.clone(), "/v1/analytics/summary").await, 200, "the key's only bot");
    assert_eq!(call(admin.key.clone(), "/v1/analytics/unanswered").await, 200);
    s.stop().await;
}
