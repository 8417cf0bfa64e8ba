//! Operations over real HTTP: Prometheus `/metrics`, the request and body deadlines,
//! and the per-address limit on requests with missing or invalid keys.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{eventually, start, Gated, Gen, SseReader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of the first sample line starting with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

async fn metrics_text(s: &support::TestServer) -> String {
    let res = s.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    res.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_routes_turns_stages_and_open_streams() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;

    let before = metrics_text(&s).await;
    assert_eq!(sample(&before, "docent_active_streams "), Some(0.0), "{before}");
    assert!(sample(&before, r#"docent_index_generation{bot="docs"}"#).is_some_and(|g| g >= 1.0), "{before}");

    // A stream held open at its first delta is counted as open.
    let res = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?", "stream": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    let mut conversation = String::new();
    loop {
        let f = sse.next().await.expect("a frame");
        if f.event == "start" {
            conversation = f.data["conversation_id"].as_str().unwrap_or_default().to_string();
        }
        if f.event == "delta" {
            break;
        }
    }
    let open = metrics_text(&s).await;
    assert_eq!(sample(&open, "docent_active_streams "), Some(1.0), "{open}");
    gated.open();
    let rest = sse.rest().await;
    assert_eq!(rest.last().map(|f| f.event.as_str()), Some("done"));

    // Unknown paths share one label; ids never become labels.
    assert_eq!(s.get("/no/such/route").await.status(), 404);
    assert_eq!(s.get(&format!("/v1/conversations/{conversation}")).await.status(), 200);

    let settled = eventually(Duration::from_secs(10), || async {
        let t = metrics_text(&s).await;
        sample(&t, "docent_active_streams ") == Some(0.0)
            && sample(&t, r#"docent_turns_total{bot="docs",finish_reason="stop"}"#) == Some(1.0)
    })
    .await;
    let after = metrics_text(&s).await;
    assert!(settled, "the stream closed and the turn was counted: {after}");
    assert_eq!(
        sample(&after, r#"docent_http_requests_total{route="/v1/chat",method="POST",status="200"}"#),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, r#"docent_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, r#"docent_http_requests_total{route="/v1/conversations/{id}",method="GET",status="200"}"#),
        Some(1.0),
        "{after}"
    );
    assert!(!after.contains(&conversation), "a conversation id leaked into a label");
    for stage in ["retrieval", "generation"] {
        let line = format!(r#"docent_turn_stage_duration_seconds_count{{bot="docs",stage="{stage}"}}"#);
        assert_eq!(sample(&after, &line), Some(1.0), "{stage}: {after}");
    }
    assert_eq!(sample(&after, r#"docent_turn_ttft_seconds_count{bot="docs"}"#), Some(1.0), "{after}");
    assert!(
        sample(&after, r#"docent_http_request_duration_seconds_count{route="/v1/chat",method="POST"}"#) == Some(1.0),
        "{after}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_answer_past_the_deadline_gets_503_and_is_stored_cancelled_but_streams_are_not_cut() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |c| c.limits.request_timeout_secs = 1).await;
    let created = s.post("/v1/conversations", json!({"bot_id": "docs"})).await;
    assert_eq!(created.status(), 201);
    let conversation = created.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_string();

    // Streaming, opened first and held at its first delta.
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "And the refund window?", "stream": true})).await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    while sse.next().await.is_some_and(|f| f.event != "delta") {}

    // Blocking: the generator never finishes, the deadline answers.
    let res = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "conversation_id": conversation, "message": "How long do I have to ask for a refund?"}),
        )
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = res.json().await.expect("JSON envelope");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(
        gated.dropped.load(std::sync::atomic::Ordering::SeqCst) || {
            eventually(Duration::from_secs(10), || async { gated.dropped.load(std::sync::atomic::Ordering::SeqCst) })
                .await
        }
    );
    let store = s.state.store.clone();
    let id = conversation.clone();
    let cancelled = eventually(Duration::from_secs(10), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let messages = store.recent_messages(&id, 10).await.unwrap_or_default();
            messages.iter().any(|m| m.role == "assistant" && m.finish_reason.as_deref() == Some("cancelled"))
        }
    })
    .await;
    assert!(cancelled, "the abandoned turn is stored as cancelled");

    // The stream started before the blocking request, so its deadline has passed too
    // while it waited for its generator: the head went out at once, the body is not cut.
    gated.open();
    let rest = sse.rest().await;
    assert_eq!(rest.last().map(|f| f.event.as_str()), Some("done"), "{rest:?}");
    assert_eq!(rest.last().map(|f| f.data["finish_reason"].clone()), Some(json!("stop")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_past_the_deadline_gets_408() {
    let s = start(Gen::Extractive, |c| {
        c.limits.body_timeout_secs = 1;
        c.limits.request_timeout_secs = 30;
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/chat HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"bot_id\":"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    // The rest of the body never comes; the server answers on its own.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if String::from_utf8_lossy(&buf).contains("}}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered a stalled body by itself");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"body_timeout\""), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_presenting_bad_keys_is_slowed_down_and_others_are_not() {
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.limits.auth_failure_burst = 3;
        c.limits.auth_failures_per_minute = 1;
    })
    .await;
    use docent_server::auth::create_key;
    use docent_server::store::KeyKind;
    let good =
        create_key(&s.state.store, KeyKind::Secret, "t", &["docs".into()], &["search".into()], &[]).await.expect("key");
    let search = |client: reqwest::Client, key: String| {
        let url = s.url("/v1/search?bot_id=docs&q=refund");
        async move { client.get(url).bearer_auth(key).send().await.expect("request") }
    };
    let here = s.http.clone();
    assert_eq!(search(here.clone(), good.key.clone()).await.status(), 200, "valid keys never count");
    for i in 0..3 {
        let res = search(here.clone(), format!("sk_guess{i}_nope")).await;
        assert_eq!(res.status(), 401, "attempt {i} is within the burst");
    }
    let res = search(here.clone(), "sk_guess4_nope".into()).await;
    assert_eq!(res.status(), 429);
    let wait: u64 =
        res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // The address waits before any key of its own is even looked at.
    assert_eq!(search(here.clone(), good.key.clone()).await.status(), 429);
    // Another client address (all of 127/8 is loopback) is not affected.
    let elsewhere =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().expect("client");
    assert_eq!(search(elsewhere.clone(), good.key.clone()).await.status(), 200);
    assert_eq!(search(elsewhere, "sk_other_nope".into()).await.status(), 401);
    let text = s.get("/metrics").await.text().await.expect("metrics");
    assert_eq!(sample(&text, "docent_auth_failures_total "), Some(5.0), "{text}");
    s.stop().await;
}
