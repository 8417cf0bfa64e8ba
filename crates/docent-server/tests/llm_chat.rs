//! `POST /v1/chat` with a bot whose generator is the OpenAI-compatible LLM
//! (`generator = "llm"` + `[llm]`, built by the server's own factory), pointed at the
//! scripted server of `docent-answer/tests/llm_support` that really streams over HTTP on
//! 127.0.0.1. Everything is observed over real HTTP on both sides: the frames the
//! client reads, the requests and disconnects the upstream sees, and the stored turn.

mod support;

#[path = "../../docent-answer/tests/llm_support/mod.rs"]
mod llm_support;

use std::time::Duration;

use docent_answer::llm::LlmConfig;
use docent_server::config::GeneratorKind;
use llm_support::{answer, content, done, finish, role, usage, FakeLlm, Reply, Step};
use serde_json::json;
use support::{eventually, start, Gen, Sse, SseReader, TestServer};
use tokio::sync::oneshot;

const FALLBACK: &str = "Sorry, I can't find that in our docs.";
const QUESTION: &str = "How many days do I have to get a refund on an annual plan?";

/// A Docent server whose `docs` bot answers through the scripted upstream.
async fn with_llm(replies: Vec<Reply>, tune: impl FnOnce(&mut LlmConfig)) -> (FakeLlm, TestServer) {
    let fake = FakeLlm::start(replies).await;
    let mut llm = LlmConfig::new(fake.base_url.clone(), "fake-model");
    llm.backoff_base = Duration::from_millis(20);
    llm.backoff_cap = Duration::from_millis(80);
    llm.first_token_timeout = Duration::from_secs(10);
    llm.total_timeout = Duration::from_secs(30);
    tune(&mut llm);
    let server = start(Gen::FromConfig, move |c| {
        c.llm = Some(llm);
        c.bots[0].generator = GeneratorKind::Llm;
        c.bots[0].fallback = FALLBACK.into();
        // Every turn here must reach the upstream (tests ask one question repeatedly);
        // the cache has its own tests (answer_cache.rs).
        c.answer_cache.enabled = false;
    })
    .await;
    (fake, server)
}

async fn stream_chat(s: &TestServer, body: serde_json::Value) -> SseReader {
    let res = s.post("/v1/chat", body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    SseReader::new(res)
}

fn question(stream: bool) -> serde_json::Value {
    json!({"bot_id": "docs", "message": QUESTION, "stream": stream})
}

fn text_of(frames: &[Sse]) -> String {
    frames.iter().filter(|f| f.event == "delta").map(|f| f.data["delta"].as_str().unwrap_or("")).collect()
}

/// Wait until the stored assistant message has a finish reason, and return it.
async fn stored_finish(s: &TestServer, message_id: &str) -> docent_server::store::Message {
    let store = s.state.store.clone();
    let id = message_id.to_string();
    let finished = eventually(Duration::from_secs(20), || {
        let (store, id) = (store.clone(), id.clone());
        async move { store.message(&id).await.ok().flatten().is_some_and(|m| m.finish_reason.is_some()) }
    })
    .await;
    assert!(finished, "the turn was never stored as finished");
    s.state.store.message(message_id).await.expect("store").expect("message")
}

/// The upstream's answer in three parts; `go` releases the last one.
fn three_parts(go: oneshot::Receiver<()>) -> Reply {
    Reply::Stream(vec![
        Step::Send(role()),
        Step::Send(content("Annual plans can be refunded ")),
        Step::Send(content("within 30 days [1].")),
        Step::Wait(go),
        Step::Send(content(" Monthly plans [9] are not.")),
        Step::Send(finish("stop")),
        Step::Send(usage(321, 17)),
        Step::Send(done()),
    ])
}

const ANSWER: &str = "Annual plans can be refunded within 30 days [1]. Monthly plans are not.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_answer_from_the_llm_with_citations_in_contract_order() {
    let (go_tx, go_rx) = oneshot::channel();
    let (mut fake, s) = with_llm(vec![three_parts(go_rx)], |_| {}).await;
    let mut sse = stream_chat(&s, question(true)).await;

    // Up to the first delta while the upstream is blocked: it was streamed, not buffered.
    let mut head = Vec::new();
    loop {
        let f = sse.next().await.expect("a frame before the end");
        let is_delta = f.event == "delta";
        head.push(f);
        if is_delta {
            break;
        }
    }
    assert_eq!(head.iter().map(|f| f.event.as_str()).collect::<Vec<_>>(), ["start", "sources", "delta"]);
    assert_eq!(head[2].data["delta"], "Annual plans can be refunded within 30 days [1].");
    assert!(fake.closed.try_recv().is_err(), "the upstream response is still open");
    go_tx.send(()).expect("release the upstream");
    let rest = sse.rest().await;
    let frames: Vec<Sse> = head.into_iter().chain(rest).collect();

    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    let first_citation = kinds.iter().position(|k| *k == "citation").expect("a citation frame");
    assert!(kinds[2..first_citation].iter().all(|k| *k == "delta"), "{kinds:?}");
    assert!(kinds[first_citation..kinds.len() - 1].iter().all(|k| *k == "citation"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"));
    let ids: Vec<u64> = frames.iter().map(|f| f.id.expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    let sources = &frames[1].data;
    assert_eq!(sources["grounded"], true);
    let first_source = &sources["sources"][0];
    assert!(first_source["url"].as_str().unwrap_or("").starts_with("https://help.test/billing/refunds#"), "{sources}");

    // The upstream's tokens, the invalid marker removed as it streamed.
    assert_eq!(text_of(&frames), ANSWER);
    let done = &frames[frames.len() - 1].data;
    assert_eq!(done["message"]["content"], ANSWER);
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(done["usage"], json!({"prompt_tokens": 321, "completion_tokens": 17}));
    assert_eq!(done["removed_citations"], json!(["[9]"]), "the marker pointing to no source is reported");
    let citations = done["citations"].as_array().expect("citations");
    assert_eq!(citations.len(), 1, "{done}");
    let c = &citations[0];
    assert_eq!((&c["index"], &c["source_id"]), (&json!(1), &first_source["id"]));
    let (start, end) = (c["start"].as_u64().unwrap_or(0) as usize, c["end"].as_u64().unwrap_or(0) as usize);
    assert_eq!(ANSWER.chars().skip(start).take(end - start).collect::<String>(), "[1]");
    assert_eq!(frames[first_citation].data["source_id"], first_source["id"]);
    assert_eq!(frames[first_citation].data["quote"], c["quote"]);

    // What went upstream: one streamed request with the numbered sources and the question.
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let body = &seen[0].body;
    assert_eq!((&body["model"], &body["stream"]), (&json!("fake-model"), &json!(true)));
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap_or("");
    assert!(system.contains(first_source["url"].as_str().unwrap_or("?")), "{system}");
    assert!(system.contains(FALLBACK), "the bot's fallback is the refusal text: {system}");
    assert_eq!(messages.last(), Some(&json!({"role": "user", "content": QUESTION})));
    fake.wait_closed(0).await;

    // Stored as streamed.
    let conv = frames[0].data["conversation_id"].as_str().expect("conv");
    let stored: serde_json::Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    let answer = &stored["messages"]["data"][1];
    assert_eq!((&answer["content"], &answer["finish_reason"]), (&json!(ANSWER), &json!("stop")));
    assert_eq!(answer["citations"], done["citations"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_answer_matches_the_streamed_one() {
    let (go1, rx1) = oneshot::channel();
    let (go2, rx2) = oneshot::channel();
    let (fake, s) = with_llm(vec![three_parts(rx1), three_parts(rx2)], |_| {}).await;
    go1.send(()).expect("open");
    go2.send(()).expect("open");
    let streamed = stream_chat(&s, question(true)).await.rest().await;
    let done = &streamed.last().expect("frames").data;
    let res = s.post("/v1/chat", question(false)).await;
    assert_eq!(res.status(), 200);
    let blocking: serde_json::Value = res.json().await.expect("json");
    assert_eq!(blocking["message"]["content"], ANSWER);
    assert_eq!(blocking["message"]["content"], done["message"]["content"]);
    assert_eq!(blocking["citations"], done["citations"]);
    assert_eq!(blocking["sources"], done["sources"]);
    assert_eq!(blocking["removed_citations"], json!(["[9]"]));
    assert_eq!(blocking["finish_reason"], "stop");
    assert!(blocking.get("type").is_none(), "the blocking body is not a frame");
    assert_eq!(fake.seen().len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_mid_stream_is_an_error_frame_and_a_stored_error() {
    let (go_tx, go_rx) = oneshot::channel();
    let (_fake, s) = with_llm(
        vec![
            Reply::Stream(vec![
                Step::Send(role()),
                Step::Send(content("Annual plans can be refunded within 30 days [1].")),
                Step::Wait(go_rx),
                Step::Fail,
            ]),
            Reply::Stream(vec![
                Step::Send(content("Annual plans can be refunded within 30 days [1].")),
                Step::Send(
                    b"data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n".to_vec(),
                ),
            ]),
        ],
        |_| {},
    )
    .await;

    // The connection breaks after the first token.
    let mut sse = stream_chat(&s, question(true)).await;
    let start = sse.next().await.expect("start");
    let message_id = start.data["message_id"].as_str().expect("message id").to_string();
    loop {
        if sse.next().await.expect("frames up to a delta").event == "delta" {
            break;
        }
    }
    go_tx.send(()).expect("break the upstream");
    let rest = sse.rest().await;
    let kinds: Vec<&str> = rest.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(kinds, ["error"], "an error frame ends the stream, no done: {rest:?}");
    let error = &rest[0].data["error"];
    assert_eq!(
        (&error["type"], &error["code"], &error["retryable"]),
        (&json!("upstream_error"), &json!("upstream_error"), &json!(true))
    );
    assert!(error["message"].as_str().unwrap_or("").contains("broke off"), "{error}");
    let m = stored_finish(&s, &message_id).await;
    assert_eq!(m.finish_reason.as_deref(), Some("error"));
    assert_eq!(m.content, "Annual plans can be refunded within 30 days [1].", "the partial answer is kept");
    let replay = s
        .http
        .get(s.url(&format!("/v1/conversations/{}/messages/{message_id}/events", m.conversation_id)))
        .header("Last-Event-ID", "2")
        .send()
        .await
        .expect("resume");
    let replayed = SseReader::new(replay).rest().await;
    assert_eq!(replayed.last().map(|f| f.event.as_str()), Some("error"), "the error frame is stored for resume");

    // The upstream reports an error in the stream: its message reaches the client.
    let frames = stream_chat(&s, question(true)).await.rest().await;
    let last = frames.last().expect("frames");
    assert_eq!(last.event, "error");
    assert!(last.data["error"]["message"].as_str().unwrap_or("").contains("the model crashed"), "{last:?}");
    assert_eq!(last.data["error"]["retryable"], false);
    assert_eq!(text_of(&frames), "Annual plans can be refunded within 30 days [1].");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_garbage_is_a_clear_error_and_not_retried() {
    let garbage = || Reply::Stream(vec![Step::Send(role()), Step::Send(b"data: <html>oops</html>\n\n".to_vec())]);
    let (fake, s) = with_llm(vec![garbage(), garbage()], |_| {}).await;
    let frames = stream_chat(&s, question(true)).await.rest().await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(kinds, ["start", "sources", "error"], "{frames:?}");
    let error = &frames[2].data["error"];
    assert_eq!((&error["code"], &error["retryable"]), (&json!("upstream_protocol_error"), &json!(false)));
    assert!(error["message"].as_str().unwrap_or("").contains("<html>oops</html>"), "{error}");
    assert_eq!(fake.seen().len(), 1, "garbage is not retried");
    let m = stored_finish(&s, frames[0].data["message_id"].as_str().unwrap_or("")).await;
    assert_eq!((m.finish_reason.as_deref(), m.content.as_str()), (Some("error"), ""));

    // Blocking: an error status with the same clear message, not an opaque 500.
    let res = s.post("/v1/chat", question(false)).await;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "upstream_protocol_error", "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("<html>oops</html>"), "{body}");
    assert_eq!(fake.seen().len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_before_the_first_token_is_retried_then_reported() {
    let unavailable = || Reply::Status {
        status: 503,
        headers: vec![],
        body: r#"{"error":{"message":"model is loading","type":"server_error"}}"#.into(),
    };
    let (fake, s) = with_llm(
        vec![
            // Retried: the second attempt answers.
            unavailable(),
            answer(&["Annual plans can be refunded within 30 days [1]."]),
            // Three failures: the first attempt and both retries (max_retries = 2).
            unavailable(),
            unavailable(),
            unavailable(),
        ],
        |c| c.max_retries = 2,
    )
    .await;
    let res = s.post("/v1/chat", question(false)).await;
    assert_eq!(res.status(), 200);
    let ok: serde_json::Value = res.json().await.expect("json");
    assert_eq!(ok["message"]["content"], "Annual plans can be refunded within 30 days [1].");
    assert_eq!(ok["finish_reason"], "stop");
    assert_eq!(fake.seen().len(), 2, "one retry");

    let res = s.post("/v1/chat", question(false)).await;
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(status, 503, "a retryable upstream failure is 503, retry later: {body}");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert_eq!(body["error"]["code"], "upstream_error");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("503") && message.contains("model is loading"), "{message}");
    assert_eq!(fake.seen().len(), 5, "1 + 2 retries");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_times_out_as_504_and_is_abandoned() {
    let (mut fake, s) = with_llm(vec![Reply::Stream(vec![Step::Send(role()), Step::Hang])], |c| {
        c.first_token_timeout = Duration::from_millis(400);
    })
    .await;
    let res = s.post("/v1/chat", question(false)).await;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!((status, &body["error"]["code"]), (504, &json!("upstream_timeout")), "{body}");
    fake.wait_closed(0).await;
    assert_eq!(fake.seen().len(), 1, "a first-token timeout is not retried");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_cites_nothing_becomes_the_fallback() {
    let (fake, s) =
        with_llm(vec![answer(&["Refunds are generally ", "possible, contact your bank [7]."])], |_| {}).await;
    let frames = stream_chat(&s, question(true)).await.rest().await;
    assert_eq!(frames[1].data["grounded"], true, "retrieval found sources; the model did not use them");
    let done = &frames.last().expect("frames").data;
    assert_eq!(done["finish_reason"], "no_answer", "{done}");
    assert_eq!(done["message"]["content"], FALLBACK);
    assert_eq!(text_of(&frames), FALLBACK, "the uncited text was never shown");
    assert_eq!(done["citations"], json!([]));
    assert!(frames.iter().all(|f| f.event != "citation"));
    assert_eq!(fake.seen().len(), 1);
    let m = stored_finish(&s, frames[0].data["message_id"].as_str().unwrap_or("")).await;
    assert_eq!((m.finish_reason.as_deref(), m.content.as_str()), (Some("no_answer"), FALLBACK));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_closes_the_upstream_and_the_turn_is_cancelled() {
    let (mut fake, s) = with_llm(
        vec![Reply::Stream(vec![
            Step::Send(role()),
            Step::Send(content("Annual plans can be refunded within 30 days [1].")),
            // A model that keeps generating until someone hangs up.
            Step::Repeat(content(" More."), Duration::from_millis(50)),
        ])],
        |_| {},
    )
    .await;
    let mut sse = stream_chat(&s, question(true)).await;
    let start = sse.next().await.expect("start");
    let message_id = start.data["message_id"].as_str().expect("message id").to_string();
    loop {
        if sse.next().await.expect("frames up to a delta").event == "delta" {
            break;
        }
    }
    assert!(fake.closed.try_recv().is_err(), "the upstream is still generating");
    drop(sse);
    // The condition, not a sleep: the scripted server reports its response body dropped.
    fake.wait_closed(0).await;
    let m = stored_finish(&s, &message_id).await;
    assert_eq!(m.finish_reason.as_deref(), Some("cancelled"));
    assert!(m.content.starts_with("Annual plans can be refunded within 30 days [1]."), "{}", m.content);
    assert_eq!(fake.seen().len(), 1, "nothing was retried for nobody");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_sends_the_earlier_turns_upstream() {
    let (go, rx) = oneshot::channel();
    go.send(()).expect("open");
    let (fake, s) =
        with_llm(vec![three_parts(rx), answer(&["Monthly plans can be refunded within 14 days [1]."])], |_| {}).await;
    let first = stream_chat(&s, question(true)).await.rest().await;
    let conv = first[0].data["conversation_id"].as_str().expect("conv").to_string();
    let follow_up = "And what about monthly plans?";
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "conversation_id": conv, "message": follow_up})).await;
    assert_eq!(res.status(), 200);
    let second: serde_json::Value = res.json().await.expect("json");
    assert_eq!(second["conversation_id"], conv.as_str());
    assert_eq!(second["message"]["content"], "Monthly plans can be refunded within 14 days [1].");

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let messages = seen[1].body["messages"].as_array().expect("messages").clone();
    let turns: Vec<(String, String)> = messages
        .iter()
        .skip(1)
        .map(|m| (m["role"].as_str().unwrap_or("").to_string(), m["content"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        turns,
        [
            ("user".to_string(), QUESTION.to_string()),
            ("assistant".to_string(), ANSWER.to_string()),
            ("user".to_string(), follow_up.to_string()),
        ],
        "earlier turns as stored (the invalid marker already removed), then the question"
    );
    s.stop().await;
}
