//! `GET /v1/openapi.json` describes the server truthfully: every route is there with
//! its methods and auth, and real responses and real SSE frames validate against the
//! schemas the description gives them.

mod support;

use serde_json::{json, Value};
use support::{start, Gen, SseReader};

/// A validator for `#/components/schemas/{name}` of `spec`.
fn validator(spec: &Value, name: &str) -> jsonschema::Validator {
    assert!(spec["components"]["schemas"][name].is_object(), "schema {name} is described");
    let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": spec["components"]});
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {name} compiles: {e}"))
}

fn assert_valid(spec: &Value, name: &str, instance: &Value) {
    let v = validator(spec, name);
    let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not describe {instance}:\n{}", errors.join("\n"));
}

async fn spec_of(s: &support::TestServer) -> Value {
    let res = s.get("/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json")));
    res.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_described_with_its_methods_and_auth() {
    let s = start(Gen::Extractive, |_| {}).await;
    let spec = spec_of(&s).await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", spec["openapi"]);
    let expected: &[(&str, &[&str])] = &[
        ("/v1/chat", &["post"]),
        ("/v1/search", &["get", "post"]),
        ("/v1/conversations", &["get", "post"]),
        ("/v1/conversations/{id}", &["get", "delete"]),
        ("/v1/conversations/{id}/messages/{message_id}/events", &["get"]),
        ("/v1/models", &["get"]),
        ("/v1/chat/completions", &["post"]),
        ("/v1/conversations/{id}/handoff", &["post", "delete"]),
        ("/v1/leads", &["post"]),
        ("/v1/messages/{id}/feedback", &["post"]),
        ("/v1/webhooks", &["get", "post"]),
        ("/v1/webhooks/{id}", &["delete"]),
        ("/v1/webhooks/{id}/deliveries", &["get"]),
        ("/v1/analytics/unanswered", &["get"]),
        ("/v1/analytics/summary", &["get"]),
        ("/v1/bots", &["get"]),
        ("/v1/openapi.json", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/widget.js", &["get"]),
        ("/demo", &["get"]),
    ];
    let paths = spec["paths"].as_object().expect("paths");
    let described: Vec<&String> = paths.keys().collect();
    assert_eq!(described.len(), expected.len(), "described paths: {described:?}");
    for (path, methods) in expected {
        let item = &paths[*path];
        for m in *methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} is described");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{m} {path} has responses");
            let needs_key = path.starts_with("/v1/") && *path != "/v1/openapi.json";
            assert_eq!(op["security"].is_array(), needs_key, "{m} {path}: bearer auth iff it needs a key");
            if needs_key {
                assert!(op["responses"]["401"].is_object(), "{m} {path} documents 401");
            }
        }
    }
    assert_eq!(spec["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // The streaming variant of chat carries the event schema.
    let chat_200 = &paths["/v1/chat"]["post"]["responses"]["200"]["content"];
    assert!(chat_200["application/json"].is_object() && chat_200["text/event-stream"].is_object(), "{chat_200}");
    let events = serde_json::to_string(&spec["components"]["schemas"]["ChatStreamEvent"]).expect("json");
    for t in ["start", "sources", "delta", "citation", "done", "error"] {
        assert!(events.contains(&format!("\"{t}\"")), "event type {t} is described: {events}");
    }
    // Every described path is routed (nothing in the description answers 404 unknown_route).
    for (path, methods) in expected {
        let concrete = path.replace("{id}", "conv_x").replace("{message_id}", "msg_x");
        for m in *methods {
            let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
            let res = s.http.request(method, s.url(&concrete)).send().await.expect("request");
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            assert!(!(status == 404 && body.contains("unknown_route")), "{m} {path} is routed: {status} {body}");
            assert_ne!(status, 405, "{m} {path} takes {m}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_responses_and_stream_frames_validate_against_the_described_schemas() {
    let s = start(Gen::Extractive, |_| {}).await;
    let spec = spec_of(&s).await;

    // Blocking chat.
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?"})).await;
    assert_eq!(res.status(), 200);
    let blocking: Value = res.json().await.expect("json");
    assert_valid(&spec, "FinalState", &blocking);
    let conversation = blocking["conversation_id"].as_str().expect("conversation").to_string();
    // The schema has teeth: a wrong finish reason or a missing field does not validate.
    let fs = validator(&spec, "FinalState");
    let mut wrong = blocking.clone();
    wrong["finish_reason"] = json!("bogus");
    assert!(!fs.is_valid(&wrong), "finish_reason is an enum");
    let mut missing = blocking.clone();
    missing.as_object_mut().expect("object").remove("citations");
    assert!(!fs.is_valid(&missing), "citations is required");
    let mut bad_source = blocking.clone();
    bad_source["sources"] = json!([{"id": 1}]);
    assert!(!fs.is_valid(&bad_source), "sources are described");

    // Streaming chat: every frame, and an unanswerable one (empty sources).
    for question in ["How do I reset my password?", "What is the airspeed velocity of an unladen swallow?"] {
        let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": question, "stream": true})).await;
        assert_eq!(res.status(), 200);
        let frames = SseReader::new(res).rest().await;
        assert!(frames.len() >= 3, "{frames:?}");
        for f in &frames {
            assert_eq!(f.data["type"], Value::String(f.event.clone()), "event: repeats data.type");
            assert_valid(&spec, "ChatStreamEvent", &f.data);
        }
        let done = frames.last().expect("frames");
        assert_eq!(done.event, "done");
        let mut broken = done.data.clone();
        broken.as_object_mut().expect("object").remove("message");
        assert!(!validator(&spec, "ChatStreamEvent").is_valid(&broken), "a done frame needs its message");
    }
    // A frame of a type that does not exist does not validate (the schema is not "anything").
    let v = validator(&spec, "ChatStreamEvent");
    assert!(!v.is_valid(&json!({"type": "bogus"})), "unknown event types are not described");
    assert!(!v.is_valid(&json!({"type": "delta"})), "a delta without text is not valid");

    // Webhooks (to a port nobody listens on: the attempt fails and is logged).
    let hook = s
        .post(
            "/v1/webhooks",
            json!({"bot_id": "docs", "url": "http://127.0.0.1:9/", "events": ["conversation.started"]}),
        )
        .await;
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.expect("json");
    assert_valid(&spec, "WebhookCreated", &hook);

    // Conversations.
    let created = s.post("/v1/conversations", json!({"bot_id": "docs", "user": {"id": "v1"}})).await;
    assert_eq!(created.status(), 201);
    assert_valid(&spec, "ConversationView", &created.json().await.expect("json"));
    // Leads and feedback (which then shows on the message read below).
    let lead = s.post("/v1/leads", json!({"conversation_id": conversation, "email": "ada@example.com"})).await;
    assert_eq!(lead.status(), 201);
    assert_valid(&spec, "LeadView", &lead.json().await.expect("json"));
    let answer = blocking["message"]["id"].as_str().expect("message");
    let fb = s.post(&format!("/v1/messages/{answer}/feedback"), json!({"rating": "up", "comment": "ok"})).await;
    assert_eq!(fb.status(), 201);
    assert_valid(&spec, "FeedbackView", &fb.json().await.expect("json"));
    let one: Value = s.get(&format!("/v1/conversations/{conversation}")).await.json().await.expect("json");
    assert_eq!(one["messages"]["data"][1]["feedback"]["rating"], "up", "{one}");
    assert_valid(&spec, "ConversationWithMessages", &one);
    assert!(one["messages"]["data"].as_array().is_some_and(|m| m.len() == 2), "{one}");
    let page: Value = s.get("/v1/conversations?bot_id=docs&limit=1").await.json().await.expect("json");
    assert_valid(&spec, "ConversationPage", &page);

    assert_valid(&spec, "WebhookPage", &s.get("/v1/webhooks").await.json().await.expect("json"));
    let deliveries = format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().expect("id"));
    let attempted = support::eventually(std::time::Duration::from_secs(20), || async {
        let page: Value = s.get(&deliveries).await.json().await.expect("json");
        page["data"][0]["attempt_log"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert!(attempted, "a delivery attempt is logged");
    let page: Value = s.get(&deliveries).await.json().await.expect("json");
    assert_valid(&spec, "DeliveryPage", &page);
    assert!(page["data"][0]["attempt_log"][0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{page}");

    // Search, bots, health.
    let hits: Value = s.get("/v1/search?bot_id=docs&q=refund%20window&k=3").await.json().await.expect("json");
    assert_valid(&spec, "SearchResults", &hits);
    assert!(hits["hits"].as_array().is_some_and(|h| !h.is_empty()), "{hits}");
    assert_valid(&spec, "BotList", &s.get("/v1/bots").await.json().await.expect("json"));
    assert_valid(&spec, "Health", &s.get("/healthz").await.json().await.expect("json"));
    assert_valid(&spec, "Readiness", &s.get("/readyz").await.json().await.expect("json"));

    // Analytics, with an unanswered turn to group.
    let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": "Can I pay with PayPal?"})).await;
    assert_eq!(res.json::<Value>().await.expect("json")["finish_reason"], "no_answer");
    let unanswered: Value = s.get("/v1/analytics/unanswered?bot_id=docs").await.json().await.expect("json");
    assert_valid(&spec, "UnansweredReport", &unanswered);
    assert!(unanswered["groups"].as_array().is_some_and(|g| !g.is_empty()), "{unanswered}");
    assert_valid(&spec, "Summary", &s.get("/v1/analytics/summary?bot_id=docs").await.json().await.expect("json"));
    // Handoff.
    let handed = s.post(&format!("/v1/conversations/{conversation}/handoff"), json!({"reason": "schema"})).await;
    assert_eq!(handed.status(), 200);
    let handed: Value = handed.json().await.expect("json");
    assert_eq!(handed["state"], "handoff");
    assert_valid(&spec, "ConversationView", &handed);

    // Errors.
    let res = s.post("/v1/chat", json!({"message": "no bot"})).await;
    assert_eq!(res.status(), 400);
    assert_valid(&spec, "ErrorEnvelope", &res.json().await.expect("json"));
    let deleted: Value = s
        .http
        .delete(s.url(&format!("/v1/conversations/{conversation}")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_valid(&spec, "Deleted", &deleted);
    s.stop().await;
}

/// Walks every operation the description marks as needing a key: without one (401),
/// with a secret key that holds no scope (403), with a public key from an Origin the
/// bot does not allow (403). A route added later is walked too, or the test asks for
/// its request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_keyed_route_refuses_no_key_a_scopeless_key_and_a_foreign_origin() {
    use docent_server::auth::create_key;
    use docent_server::store::KeyKind;
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.bots[0].allowed_origins = vec!["https://docs.example.com".into()];
    })
    .await;
    let store = &s.state.store;
    let all: Vec<String> = ["chat", "search", "conversations:read", "admin"].iter().map(|x| x.to_string()).collect();
    let admin = create_key(store, KeyKind::Secret, "admin", &[], &all, &[]).await.expect("key");
    let scopeless = create_key(store, KeyKind::Secret, "none", &[], &[], &[]).await.expect("key");
    let public = create_key(store, KeyKind::Public, "w", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    // A real conversation and answer, so the routes with ids get past their lookups.
    let first = s
        .http
        .post(s.url("/v1/chat"))
        .bearer_auth(&admin.key)
        .json(&json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?"}))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let (conversation, message) = (
        first["conversation_id"].as_str().expect("conversation").to_string(),
        first["message"]["id"].as_str().expect("message").to_string(),
    );
    let spec = spec_of(&s).await;
    let mut walked = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            if !op["security"].is_array() {
                continue;
            }
            let id = if path.starts_with("/v1/messages/") { &message } else { &conversation };
            let url = path.replace("{id}", id).replace("{message_id}", &message);
            let (url, body) = match (method.as_str(), path.as_str()) {
                ("post", "/v1/chat") => (url, Some(json!({"bot_id": "docs", "message": "hi"}))),
                ("post", "/v1/chat/completions") => {
                    (url, Some(json!({"model": "docs", "messages": [{"role": "user", "content": "hi"}]})))
                }
                ("post", "/v1/search") => (url, Some(json!({"bot_id": "docs", "q": "refund"}))),
                ("get", "/v1/search") => (format!("{url}?bot_id=docs&q=refund"), None),
                ("post", "/v1/conversations") => (url, Some(json!({"bot_id": "docs"}))),
                ("get", "/v1/conversations") => (format!("{url}?bot_id=docs"), None),
                ("post", "/v1/webhooks") => (
                    url,
                    Some(json!({"bot_id": "docs", "url": "https://hooks.example/in", "events": ["lead.captured"]})),
                ),
                ("get", "/v1/webhooks") => (format!("{url}?bot_id=docs"), None),
                ("post", "/v1/conversations/{id}/handoff") => (url, Some(json!({"reason": "walk"}))),
                ("post", "/v1/leads") => {
                    (url, Some(json!({"conversation_id": conversation, "email": "a@example.com"})))
                }
                ("post", "/v1/messages/{id}/feedback") => (url, Some(json!({"rating": "up"}))),
                ("get" | "delete", _) => (url, None),
                other => panic!("a request for {other:?} is missing from this walk"),
            };
            let send = |key: Option<&str>, origin: Option<&str>| {
                let verb = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let mut r = s.http.request(verb, s.url(&url));
                if let Some(b) = &body {
                    r = r.json(b);
                }
                if let Some(k) = key {
                    r = r.bearer_auth(k);
                }
                if let Some(o) = origin {
                    r = r.header("origin", o);
                }
                r.send()
            };
            let code = |res: reqwest::Response| async move {
                let status = res.status().as_u16();
                let v: Value = res.json().await.unwrap_or_default();
                (status, v["error"]["code"].as_str().unwrap_or_default().to_string())
            };
            let what = format!("{method} {path}");
            assert_eq!(code(send(None, None).await.expect("req")).await, (401, "missing_api_key".into()), "{what}");
            let (status, err) = code(send(Some(&scopeless.key), None).await.expect("req")).await;
            if path == "/v1/bots" {
                // Listing the bots a key may use needs no scope.
                assert_eq!(status, 200, "{what}");
            } else {
                assert_eq!((status, err.as_str()), (403, "missing_scope"), "{what}");
            }
            let foreign = code(send(Some(&public.key), Some("https://evil.example")).await.expect("req")).await;
            assert_eq!(foreign, (403, "origin_not_allowed".into()), "{what}");
            walked += 1;
        }
    }
    assert!(walked >= 19, "walked {walked} keyed operations");
    s.stop().await;
}
