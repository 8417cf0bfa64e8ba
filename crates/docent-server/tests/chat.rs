//! `/v1/chat` over real HTTP on loopback: blocking and streaming answers with
//! citations, the event order, flushing, no-answer, conversations and follow-ups,
//! one turn per conversation, client disconnect, resume, graceful shutdown.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use support::{eventually, start, Gated, Gen, SseReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_answer_cites_the_right_page_and_is_stored() {
    let s = start(Gen::Extractive, |_| {}).await;
    let res = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "message": "How many days do I have to get a refund on an annual plan?"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-request-id").is_some_and(|v| v.to_str().unwrap_or("").starts_with("req_")));
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["finish_reason"], "stop", "{body}");
    let content = body["message"]["content"].as_str().expect("content");
    assert!(content.contains("30 days"), "{content}");
    let sources = body["sources"].as_array().expect("sources");
    let citations = body["citations"].as_array().expect("citations");
    assert!(!citations.is_empty(), "{body}");
    for c in citations {
        let src = sources.iter().find(|s| s["id"] == c["source_id"]).expect("citation names a source");
        assert_eq!(src["index"], c["index"]);
        let (start, end) = (c["start"].as_u64().unwrap_or(0) as usize, c["end"].as_u64().unwrap_or(0) as usize);
        let marker: String = content.chars().skip(start).take(end - start).collect();
        assert_eq!(marker, format!("[{}]", c["index"]), "offsets point at the marker");
    }
    let first = &sources[citations[0]["index"].as_u64().unwrap_or(1) as usize - 1];
    assert!(first["url"].as_str().unwrap_or("").starts_with("https://help.test/billing/refunds#"), "{first}");
    for key in ["retrieval_ms", "ttft_ms", "total_ms"] {
        assert!(body["timings"][key].as_f64().is_some(), "timings.{key}");
    }
    // Stored: the conversation has the user turn and the answer.
    let conv = body["conversation_id"].as_str().expect("conversation id");
    let stored: serde_json::Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    let msgs = stored["messages"]["data"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[1]["content"], content);
    assert_eq!(msgs[1]["finish_reason"], "stop");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_frames_come_in_contract_order_and_done_repeats_the_state() {
    let s = start(Gen::Extractive, |_| {}).await;
    let res =
        s.post("/v1/chat", json!({"bot_id": "docs", "message": "How do I rotate API keys?", "stream": true})).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h.get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-cache"));
    assert_eq!(h.get("x-accel-buffering").and_then(|v| v.to_str().ok()), Some("no"));
    let frames = SseReader::new(res).rest().await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.get(1), Some(&"sources"));
    assert_eq!(kinds.last(), Some(&"done"));
    let first_delta = kinds.iter().position(|k| *k == "delta").expect("deltas");
    let first_citation = kinds.iter().position(|k| *k == "citation").expect("citations");
    assert!(first_delta > 1 && first_citation > first_delta);
    assert!(kinds[first_citation..kinds.len() - 1].iter().all(|k| *k == "citation"), "{kinds:?}");
    let ids: Vec<u64> = frames.iter().map(|f| f.id.expect("every frame has an id")).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "monotonic ids {ids:?}");
    for f in &frames {
        assert_eq!(f.data["type"], f.event, "data repeats the event name");
    }
    let text: String =
        frames.iter().filter(|f| f.event == "delta").map(|f| f.data["delta"].as_str().unwrap_or("")).collect();
    let done = &frames[frames.len() - 1].data;
    assert_eq!(done["message"]["content"].as_str(), Some(text.as_str()));
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(frames[1].data["grounded"], true);
    assert_eq!(done["conversation_id"], frames[0].data["conversation_id"]);
    assert_eq!(done["message"]["id"], frames[0].data["message_id"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_delta_arrives_before_generation_finishes() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let res =
        s.post("/v1/chat", json!({"bot_id": "docs", "message": "refund window annual plan", "stream": true})).await;
    let mut sse = SseReader::new(res);
    let mut seen = Vec::new();
    loop {
        let f = sse.next().await.expect("frame");
        seen.push(f.event.clone());
        if f.event == "delta" {
            assert_eq!(f.data["delta"], "Refunds are");
            break;
        }
    }
    assert!(!gated.finished.load(Ordering::SeqCst), "the generator is still waiting: the delta was flushed early");
    gated.open();
    let rest = sse.rest().await;
    assert_eq!(rest.last().map(|f| f.event.as_str()), Some("done"));
    let done = &rest[rest.len() - 1].data;
    assert_eq!(done["message"]["content"], "Refunds are available within 30 days [1].");
    assert_eq!(done["citations"][0]["index"], 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswerable_question_gets_the_fallback_and_no_answer() {
    let s = start(Gen::Extractive, |c| c.bots[0].fallback = "Sorry, not in our docs.".into()).await;
    let res = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "message": "What is the boiling point of tungsten on Mars?", "stream": true}),
        )
        .await;
    let frames = SseReader::new(res).rest().await;
    let sources = frames.iter().find(|f| f.event == "sources").expect("sources frame");
    assert_eq!(sources.data["grounded"], false);
    assert_eq!(sources.data["sources"], json!([]));
    let done = &frames.last().expect("frames").data;
    assert_eq!(done["finish_reason"], "no_answer", "{done}");
    assert_eq!(done["message"]["content"], "Sorry, not in our docs.");
    assert_eq!(done["citations"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_continue_with_history_and_client_managed_messages_work() {
    let s = start(Gen::Extractive, |_| {}).await;
    let a: serde_json::Value = s
        .post("/v1/chat", json!({"bot_id": "docs", "message": "How do refunds work?"}))
        .await
        .json()
        .await
        .expect("json");
    let conv = a["conversation_id"].as_str().expect("id").to_string();
    let b: serde_json::Value = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "conversation_id": conv, "message": "How long until the money arrives?"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(b["conversation_id"], conv.as_str());
    assert!(
        b["sources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["url"].as_str().unwrap_or("").contains("/billing/refunds"))),
        "{b}"
    );
    let stored: serde_json::Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    assert_eq!(stored["messages"]["data"].as_array().map(Vec::len), Some(4));
    // Client-managed history.
    let c = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "messages": [
                {"role": "user", "content": "Tell me about API keys"},
                {"role": "assistant", "content": "API keys are created in Settings."},
                {"role": "user", "content": "How many can a workspace have?"}
            ]}),
        )
        .await;
    assert_eq!(c.status(), 200);
    let c: serde_json::Value = c.json().await.expect("json");
    assert!(c["message"]["content"].as_str().unwrap_or("").contains("25"), "{c}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_turn_in_a_streaming_conversation_is_409_and_a_dropped_client_cancels() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "refund window", "stream": true})).await;
    let mut sse = SseReader::new(res);
    let start = sse.next().await.expect("start");
    let conv = start.data["conversation_id"].as_str().expect("conv").to_string();
    let message_id = start.data["message_id"].as_str().expect("msg").to_string();
    while let Some(f) = sse.next().await {
        if f.event == "delta" {
            break;
        }
    }
    let busy = s.post("/v1/chat", json!({"bot_id": "docs", "conversation_id": conv, "message": "again"})).await;
    assert_eq!(busy.status(), 409);
    let err: serde_json::Value = busy.json().await.expect("json");
    assert_eq!(err["error"]["code"], "turn_in_progress");
    // The client goes away mid-answer.
    drop(sse);
    let store = s.state.store.clone();
    let cancelled =
        eventually(Duration::from_secs(20), || {
            let store = store.clone();
            let id = message_id.clone();
            async move {
                store.message(&id).await.ok().flatten().and_then(|m| m.finish_reason).as_deref() == Some("cancelled")
            }
        })
        .await;
    assert!(cancelled, "the turn is stored as cancelled");
    assert!(gated.dropped.load(Ordering::SeqCst), "the generator's stream was dropped (no work continues)");
    assert!(!gated.finished.load(Ordering::SeqCst));
    let m = s.state.store.message(&message_id).await.expect("store").expect("message");
    assert_eq!(m.content, "Refunds are", "the partial answer is kept");
    // The conversation is free again.
    gated.open();
    let again =
        s.post("/v1/chat", json!({"bot_id": "docs", "conversation_id": conv, "message": "refund window"})).await;
    assert_eq!(again.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_frames_after_last_event_id() {
    let s = start(Gen::Extractive, |_| {}).await;
    let res =
        s.post("/v1/chat", json!({"bot_id": "docs", "message": "How do I download an invoice?", "stream": true})).await;
    let frames = SseReader::new(res).rest().await;
    let conv = frames[0].data["conversation_id"].as_str().expect("conv");
    let msg = frames[0].data["message_id"].as_str().expect("msg");
    let res = s
        .http
        .get(s.url(&format!("/v1/conversations/{conv}/messages/{msg}/events")))
        .header("Last-Event-ID", "2")
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 200);
    let replay = SseReader::new(res).rest().await;
    assert_eq!(replay, frames[2..].to_vec(), "the frames after id 2, identical");
    let bad =
        s.http.get(s.url(&format!("/v1/conversations/{conv}/messages/msg_nope/events"))).send().await.expect("req");
    assert_eq!(bad.status(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_follows_a_running_turn_live() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "refund window", "stream": true})).await;
    let mut first = SseReader::new(res);
    let start = first.next().await.expect("start");
    let (conv, msg) = (
        start.data["conversation_id"].as_str().unwrap_or("").to_string(),
        start.data["message_id"].as_str().unwrap_or("").to_string(),
    );
    while let Some(f) = first.next().await {
        if f.event == "delta" {
            break;
        }
    }
    let res = s
        .http
        .get(s.url(&format!("/v1/conversations/{conv}/messages/{msg}/events")))
        .header("Last-Event-ID", "1")
        .send()
        .await
        .expect("resume");
    let mut second = SseReader::new(res);
    let f = second.next().await.expect("replayed");
    assert_eq!(f.event, "sources");
    gated.open();
    let rest = second.rest().await;
    assert_eq!(rest.last().map(|f| f.event.as_str()), Some("done"));
    let original = first.rest().await;
    assert_eq!(original.last(), rest.last(), "both readers see the same final frame");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_an_open_stream() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let mut s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "refund window", "stream": true})).await;
    let mut sse = SseReader::new(res);
    while let Some(f) = sse.next().await {
        if f.event == "delta" {
            break;
        }
    }
    s.trigger_stop();
    // New connections are refused once shutdown began; the open stream still finishes.
    gated.open();
    let rest = sse.rest().await;
    assert_eq!(rest.last().map(|f| f.event.as_str()), Some("done"), "{rest:?}");
    let finished = tokio::time::timeout(Duration::from_secs(20), &mut s.handle).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "the server stopped cleanly");
}
