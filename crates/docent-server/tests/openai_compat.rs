//! The OpenAI-compatible surface over real HTTP on loopback: `/v1/models` per key,
//! `/v1/chat/completions` blocking and streaming (every frame a valid chunk, `[DONE]`
//! last, the sources chunk content-empty, annotations pointing at the markers and
//! the sources' URLs), the fallback, OpenAI-shaped errors, server-side history with
//! `X-Conversation-Id`, an error after the first byte, and a disconnect that cancels.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use docent_answer::{AnswerError, AnswerEvent, AnswerRequest, AnswerStream, Generator};
use serde_json::{json, Value};
use support::{eventually, start, Gated, Gen, TestServer};

const REFUND_Q: &str = "How many days do I have to get a refund on an annual plan?";

async fn completion(s: &TestServer, body: Value, conversation: Option<&str>) -> reqwest::Response {
    let mut r = s.http.post(s.url("/v1/chat/completions")).json(&body);
    if let Some(c) = conversation {
        r = r.header("x-conversation-id", c);
    }
    r.send().await.expect("request")
}

/// The `data:` payloads of an OpenAI stream, asserting that nothing but `data:` lines
/// and comments is sent.
async fn data_frames(res: reqwest::Response) -> Vec<String> {
    let text = res.text().await.expect("body");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        for line in block.lines() {
            if line.starts_with(':') || line.is_empty() {
                continue;
            }
            let data = line.strip_prefix("data: ").unwrap_or_else(|| panic!("only data: lines, got {line:?}"));
            out.push(data.to_string());
        }
    }
    out
}

/// Every field an OpenAI client reads from a chunk has the right type.
fn assert_chunk(c: &Value, model: &str) {
    assert!(c["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")), "{c}");
    assert_eq!(c["object"], "chat.completion.chunk", "{c}");
    assert!(c["created"].as_u64().is_some_and(|t| t > 1_600_000_000), "{c}");
    assert_eq!(c["model"], model, "{c}");
    let choices = c["choices"].as_array().expect("choices");
    assert!(choices.len() <= 1, "{c}");
    for ch in choices {
        assert_eq!(ch["index"], 0, "{c}");
        assert!(ch["delta"].is_object(), "{c}");
        assert!(ch["finish_reason"].is_null() || ch["finish_reason"].is_string(), "{c}");
        for key in ["role", "content"] {
            let v = &ch["delta"][key];
            assert!(v.is_null() || v.is_string(), "delta.{key}: {c}");
        }
    }
}

/// The stream's chunks, after checking that every frame is one and `[DONE]` is last.
async fn read_chunks(res: reqwest::Response) -> Vec<Value> {
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")));
    let frames = data_frames(res).await;
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{frames:?}");
    assert_eq!(frames.iter().filter(|f| *f == "[DONE]").count(), 1);
    frames[..frames.len() - 1]
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(f).unwrap_or_else(|e| panic!("frame {f:?} is JSON: {e}"));
            assert_chunk(&v, "docs");
            v
        })
        .collect()
}

fn content_of(chunks: &[Value]) -> String {
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

/// Each annotation's offsets frame its `[n]` marker in `content`, and its URL is one
/// of the sources'.
fn assert_annotations(content: &str, annotations: &[Value], sources: &[Value]) {
    assert!(!annotations.is_empty(), "some citation: {content}");
    for a in annotations {
        assert_eq!(a["type"], "url_citation", "{a}");
        let u = &a["url_citation"];
        let (start, end) =
            (u["start_index"].as_u64().expect("start") as usize, u["end_index"].as_u64().expect("end") as usize);
        assert!(start < end && end <= content.chars().count(), "{a} in {content:?}");
        let marker: String = content.chars().skip(start).take(end - start).collect();
        let source = sources.iter().find(|s| s["url"] == u["url"]).unwrap_or_else(|| panic!("{a} names a source"));
        assert_eq!(marker, format!("[{}]", source["index"]), "{a} points at its marker in {content:?}");
        assert_eq!(u["title"], source["title"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_bots_a_key_may_use() {
    use docent_server::auth::create_key;
    use docent_server::store::KeyKind;
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.bots.push(docent_server::config::BotConfig::new("other"));
        c.bots[0].allowed_origins = vec!["https://docs.example.com".into()];
    })
    .await;
    let store = &s.state.store;
    let all = create_key(store, KeyKind::Secret, "all", &[], &["chat".into()], &[]).await.expect("key");
    let public = create_key(store, KeyKind::Public, "w", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let search_only = create_key(store, KeyKind::Secret, "s", &[], &["search".into()], &[]).await.expect("key");
    let list = |key: String, origin: Option<&'static str>| {
        let mut r = s.http.get(s.url("/v1/models")).bearer_auth(key);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let res = list(all.key.clone(), None).await.expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["docs", "other"]);
    for m in body["data"].as_array().expect("data") {
        assert_eq!(m["object"], "model");
        assert_eq!(m["owned_by"], "docent");
        assert!(m["created"].as_u64().is_some_and(|t| t > 1_600_000_000), "{m}");
    }
    let body: Value =
        list(public.key.clone(), Some("https://docs.example.com")).await.expect("request").json().await.expect("json");
    let ids: Vec<&str> = body["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["docs"], "a public key sees its bot only");
    let res = list(search_only.key.clone(), None).await.expect("request");
    assert_eq!(res.status(), 403, "models need the chat scope");
    let res = s.http.get(s.url("/v1/models")).send().await.expect("request");
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_completion_has_content_annotations_sources_and_usage() {
    let s = start(Gen::Extractive, |_| {}).await;
    let res = completion(
        &s,
        json!({"model": "docs", "messages": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": REFUND_Q}
        ]}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let conv = res.headers().get("x-conversation-id").and_then(|v| v.to_str().ok()).expect("header").to_string();
    assert!(conv.starts_with("conv_"), "{conv}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-msg_")), "{body}");
    assert_eq!(body["model"], "docs");
    assert_eq!(body["conversation_id"], conv.as_str());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(body["docent_finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    let content = choice["message"]["content"].as_str().expect("content");
    assert!(content.contains("30 days"), "{content}");
    let sources = body["sources"].as_array().expect("sources");
    assert!(sources.iter().all(|s| s["id"].as_str().is_some_and(|i| i.starts_with("src_")) && s["url"].is_string()));
    let annotations = choice["message"]["annotations"].as_array().expect("annotations");
    assert_annotations(content, annotations, sources);
    assert!(
        annotations.iter().any(|a| a["url_citation"]["url"].as_str().unwrap_or("").contains("/billing/refunds#")),
        "{body}"
    );
    let u = &body["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().expect("prompt") + u["completion_tokens"].as_u64().expect("completion"))
    );
    // Stored like a /v1/chat turn, the same answer.
    let stored: Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    let msgs = stored["messages"]["data"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{stored}");
    assert_eq!(msgs[0]["content"], REFUND_Q, "the system message is not the question");
    assert_eq!(msgs[1]["content"], content);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chunks_are_valid_and_carry_sources_then_content_then_annotations() {
    let s = start(Gen::Extractive, |_| {}).await;
    let body = json!({"model": "docs", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": [{"type": "text", "text": REFUND_Q}]}]});
    let res = completion(&s, body, None).await;
    assert!(res.headers().get("x-conversation-id").is_some());
    let chunks = read_chunks(res).await;
    assert!(chunks.len() >= 5, "{chunks:?}");
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id), "one id for the whole stream");
    // First the role, then the content-empty sources chunk.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let sources = chunks[1]["sources"].as_array().expect("second chunk carries sources").clone();
    assert!(!sources.is_empty());
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "", "the sources chunk adds no text");
    assert!(chunks[1]["choices"][0]["finish_reason"].is_null());
    assert_eq!(chunks.iter().filter(|c| c.get("sources").is_some()).count(), 1);
    let content = content_of(&chunks);
    assert!(content.contains("30 days"), "{content}");
    let annotations: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["annotations"].as_array())
        .flat_map(|a| a.iter().cloned())
        .collect();
    assert_annotations(&content, &annotations, &sources);
    // The finish chunk, then the usage chunk (no choices), then [DONE].
    let finished: Vec<&Value> = chunks.iter().filter(|c| c["choices"][0]["finish_reason"].is_string()).collect();
    assert_eq!(finished.len(), 1, "{chunks:?}");
    assert_eq!(finished[0]["choices"][0]["finish_reason"], "stop");
    assert_eq!(finished[0]["docent_finish_reason"], "stop");
    let usage = chunks.last().expect("chunks");
    assert_eq!(usage["choices"], json!([]), "{usage}");
    assert!(usage["usage"]["total_tokens"].as_u64().is_some(), "{usage}");
    // The blocking answer to the same question is the same text.
    let blocking: Value =
        completion(&s, json!({"model": "docs", "messages": [{"role": "user", "content": REFUND_Q}]}), None)
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(blocking["choices"][0]["message"]["content"], content.as_str());
    // Without include_usage there is no usage chunk.
    let res = completion(
        &s,
        json!({"model": "docs", "stream": true, "messages": [{"role": "user", "content": REFUND_Q}]}),
        None,
    )
    .await;
    let plain = read_chunks(res).await;
    assert!(plain.iter().all(|c| c.get("usage").is_none()), "{plain:?}");
    assert!(plain.last().expect("chunks")["choices"][0]["finish_reason"].is_string());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_described_schemas_validate_real_completions_and_chunks() {
    let s = start(Gen::Extractive, |_| {}).await;
    let spec: Value = s.get("/v1/openapi.json").await.json().await.expect("json");
    let validator = |name: &str| {
        assert!(spec["components"]["schemas"][name].is_object(), "schema {name}");
        let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": spec["components"]});
        jsonschema::validator_for(&schema).expect("compiles")
    };
    let ask = json!({"model": "docs", "messages": [{"role": "user", "content": REFUND_Q}]});
    let blocking: Value = completion(&s, ask.clone(), None).await.json().await.expect("json");
    let v = validator("ChatCompletion");
    assert!(v.is_valid(&blocking), "{blocking}");
    let mut broken = blocking.clone();
    broken["choices"][0]["message"]["annotations"] = json!([{"type": "url_citation"}]);
    assert!(!v.is_valid(&broken), "annotations are described");
    let mut streaming = ask.clone();
    streaming["stream"] = json!(true);
    let v = validator("ChatCompletionChunk");
    for c in read_chunks(completion(&s, streaming, None).await).await {
        assert!(v.is_valid(&c), "{c}");
    }
    assert!(validator("ModelList").is_valid(&s.get("/v1/models").await.json::<Value>().await.expect("json")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswerable_question_gets_the_fallback_text() {
    let s = start(Gen::Extractive, |c| c.bots[0].fallback = "Sorry, not in our docs.".into()).await;
    let q = json!([{"role": "user", "content": "What is the boiling point of tungsten on Mars?"}]);
    let blocking: Value =
        completion(&s, json!({"model": "docs", "messages": q}), None).await.json().await.expect("json");
    assert_eq!(blocking["choices"][0]["message"]["content"], "Sorry, not in our docs.");
    assert_eq!(blocking["choices"][0]["finish_reason"], "stop");
    assert_eq!(blocking["docent_finish_reason"], "no_answer");
    assert_eq!(blocking["choices"][0]["message"]["annotations"], json!([]));
    assert_eq!(blocking["sources"], json!([]));
    let chunks = read_chunks(completion(&s, json!({"model": "docs", "stream": true, "messages": q}), None).await).await;
    assert_eq!(chunks[1]["sources"], json!([]), "the sources chunk is sent even when empty");
    assert_eq!(content_of(&chunks), "Sorry, not in our docs.");
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["docent_finish_reason"], "no_answer");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_the_first_byte_use_the_openai_envelope() {
    let s = start(Gen::Extractive, |_| {}).await;
    let err = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let v: Value = res.json().await.expect("json error");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
        (status, v["error"]["code"].as_str().unwrap_or_default().to_string(), v["error"]["param"].clone())
    };
    let user = json!([{"role": "user", "content": "hi"}]);
    let (status, code, param) = err(completion(&s, json!({"model": "gpt-4o", "messages": user}), None).await).await;
    assert_eq!((status, code.as_str(), param), (404, "model_not_found", json!("model")));
    let (status, code, _) = err(completion(&s, json!({"messages": user}), None).await).await;
    assert_eq!((status, code.as_str()), (400, "missing_field"));
    let (status, code, _) = err(completion(&s, json!({"model": "docs"}), None).await).await;
    assert_eq!((status, code.as_str()), (400, "missing_field"));
    let last_not_user = json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]);
    let (status, code, _) = err(completion(&s, json!({"model": "docs", "messages": last_not_user}), None).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_messages"));
    let only_system = json!([{"role": "system", "content": "be brief"}]);
    let (status, _, _) = err(completion(&s, json!({"model": "docs", "messages": only_system}), None).await).await;
    assert_eq!(status, 400);
    let tool = json!([{"role": "tool", "content": "42"}, {"role": "user", "content": "hi"}]);
    let (status, code, param) = err(completion(&s, json!({"model": "docs", "messages": tool}), None).await).await;
    assert_eq!((status, code.as_str(), param), (400, "invalid_messages", json!("messages[0].role")));
    let res = s
        .http
        .post(s.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{\"model\": \"docs\", \"messages\": [")
        .send()
        .await
        .expect("request");
    let (status, code, _) = err(res).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    let (status, code, _) =
        err(completion(&s, json!({"model": "docs", "messages": user}), Some("conv_doesnotexist")).await).await;
    assert_eq!((status, code.as_str()), (404, "unknown_conversation"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_conversation_id_continues_the_stored_conversation() {
    let s = start(Gen::Extractive, |_| {}).await;
    let first = completion(
        &s,
        json!({"model": "docs", "messages": [{"role": "user", "content": "How do refunds work?"}]}),
        None,
    )
    .await;
    assert_eq!(first.status(), 200);
    let conv = first.headers().get("x-conversation-id").and_then(|v| v.to_str().ok()).expect("header").to_string();
    // The follow-up sends only the new question: the stored turns are the history.
    let res = completion(
        &s,
        json!({"model": "docs", "stream": true, "messages": [{"role": "user", "content": "How long until the money arrives?"}]}),
        Some(&conv),
    )
    .await;
    assert_eq!(res.headers().get("x-conversation-id").and_then(|v| v.to_str().ok()), Some(conv.as_str()));
    let chunks = read_chunks(res).await;
    let sources = chunks[1]["sources"].as_array().expect("sources");
    assert!(
        sources.iter().any(|x| x["url"].as_str().unwrap_or("").contains("/billing/refunds")),
        "the follow-up is read with the earlier turn: {sources:?}"
    );
    let stored: Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    let msgs = stored["messages"]["data"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4, "two turns: {stored}");
    assert_eq!(msgs[2]["content"], "How long until the money arrives?");
    // metadata.conversation_id does the same.
    let third: Value = completion(
        &s,
        json!({"model": "docs", "metadata": {"conversation_id": conv}, "messages": [{"role": "user", "content": "And for monthly plans?"}]}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(third["conversation_id"], conv.as_str());
    let stored: Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    assert_eq!(stored["messages"]["data"].as_array().map(Vec::len), Some(6));
    // Without it, `messages` is the history (client-managed) and a new conversation is made.
    let c: Value = completion(
        &s,
        json!({"model": "docs", "messages": [
            {"role": "user", "content": "Tell me about API keys"},
            {"role": "assistant", "content": "API keys are created in Settings."},
            {"role": "user", "content": "How many can a workspace have?"}
        ]}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(c["choices"][0]["message"]["content"].as_str().unwrap_or("").contains("25"), "{c}");
    assert_ne!(c["conversation_id"], conv.as_str());
    s.stop().await;
}

/// A generator that writes a little and then fails, as an LLM that drops the
/// connection mid-answer does.
#[derive(Debug)]
struct FailsMidway;

impl Generator for FailsMidway {
    fn name(&self) -> &'static str {
        "fails"
    }

    fn generate(&self, _request: AnswerRequest) -> AnswerStream {
        Box::pin(futures::stream::iter(vec![
            Ok(AnswerEvent::Delta("Refunds are ".into())),
            Err(AnswerError::Upstream { message: "connection reset".into(), status: None, retryable: true }),
        ]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_the_first_byte_is_an_error_chunk_and_the_stream_ends() {
    let s = start(Gen::Custom(Arc::new(FailsMidway)), |_| {}).await;
    let res = completion(
        &s,
        json!({"model": "docs", "stream": true, "messages": [{"role": "user", "content": REFUND_Q}]}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let conv = res.headers().get("x-conversation-id").and_then(|v| v.to_str().ok()).expect("header").to_string();
    let frames = data_frames(res).await;
    assert!(frames.iter().all(|f| f != "[DONE]"), "a failed stream does not claim completion: {frames:?}");
    let chunks: Vec<Value> = frames.iter().map(|f| serde_json::from_str(f).expect("JSON")).collect();
    for c in &chunks {
        assert_chunk(c, "docs");
    }
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["error"]["code"], "upstream_error", "{last}");
    assert!(last["error"]["message"].as_str().is_some_and(|m| m.contains("connection reset")), "{last}");
    assert_eq!(chunks.iter().filter(|c| c.get("error").is_some()).count(), 1);
    assert_eq!(content_of(&chunks).trim(), "Refunds are", "the partial answer was streamed");
    let stored: Value = s.get(&format!("/v1/conversations/{conv}")).await.json().await.expect("json");
    assert_eq!(stored["messages"]["data"][1]["finish_reason"], "error", "{stored}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_stream_cancels_the_turn() {
    let gated = Gated::new(&["Refunds are ", "available within 30 days [1]."]);
    let s = start(Gen::Gated(gated.clone()), |_| {}).await;
    let mut res = completion(
        &s,
        json!({"model": "docs", "stream": true, "messages": [{"role": "user", "content": "refund window"}]}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    // Read until the first content arrives.
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !buf.contains("Refunds are") {
        assert!(tokio::time::Instant::now() < deadline, "no content chunk: {buf}");
        match tokio::time::timeout(Duration::from_secs(20), res.chunk()).await {
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the stream ended early: {other:?} after {buf}"),
        }
    }
    let first = buf.lines().find_map(|l| l.strip_prefix("data: ")).expect("a chunk");
    let first: Value = serde_json::from_str(first).expect("json");
    let message_id = first["id"].as_str().and_then(|id| id.strip_prefix("chatcmpl-")).expect("id").to_string();
    drop(res);
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
    assert!(gated.dropped.load(Ordering::SeqCst), "the generator's stream was dropped");
    assert!(!gated.finished.load(Ordering::SeqCst));
    s.stop().await;
}
