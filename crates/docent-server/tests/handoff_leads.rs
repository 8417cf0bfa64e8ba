//! Handoff, leads, feedback and `Idempotency-Key` over real HTTP: a real server with
//! the sample index and SQLite, a real webhook receiver.
//!
//! - A visitor asking for a person gets the bot's handoff text with
//!   `finish_reason: "handoff"` (blocking and streaming, the usual frame order), the
//!   conversation shows `state: "handoff"`, `conversation.handoff` reaches the
//!   receiver; chat in it is refused (409) until an admin gives it back.
//! - The handoff route: scope `chat` (a widget's `pk_`), fires once; giving back needs `admin`.
//! - Leads: every validation error names its `param`; stored, fired, idempotent
//!   (replay, mismatch, a race of identical retries).
//! - Feedback: stored, replaced, fired, shown on the message; 404s and 400s.
//! - `Idempotency-Key` on `POST /v1/conversations` and `POST /v1/webhooks`.

mod support;

use std::time::Duration;

use docent_server::auth::create_key;
use docent_server::store::KeyKind;
use serde_json::{json, Value};
use support::receiver::Receiver;
use support::{eventually, start, Gen, SseReader, TestServer};

/// Fast webhook polling: the delivery schedule is tested in `webhooks.rs`.
fn fast(c: &mut docent_server::ServerConfig) {
    c.webhooks.backoff_base_ms = 20;
    c.webhooks.backoff_max_secs = 1;
    c.webhooks.poll_ms = 50;
}

const HANDOFF_TEXT: &str = "A teammate will reply here shortly.";

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// `(status, code, param)` of an error response.
async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let (status, v) = json_of(res).await;
    let field = |k: &str| v["error"][k].as_str().unwrap_or_default().to_string();
    (status, field("code"), field("param"))
}

/// Register an endpoint for `events` (to a port nobody listens on unless `url` is given).
async fn register(s: &TestServer, url: &str, events: &[&str]) -> String {
    let res = s.post("/v1/webhooks", json!({"bot_id": "docs", "url": url, "events": events})).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string()
}

/// How many events of type `kind` were queued for endpoint `id`.
async fn queued(s: &TestServer, id: &str, kind: &str) -> usize {
    let page: Value = s.get(&format!("/v1/webhooks/{id}/deliveries?limit=100")).await.json().await.expect("json");
    page["data"].as_array().expect("data").iter().filter(|d| d["type"] == kind).count()
}

async fn chat(s: &TestServer, body: Value) -> (u16, Value) {
    json_of(s.post("/v1/chat", body).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_asking_for_a_person_is_handed_off_until_an_admin_gives_it_back() {
    let rx = Receiver::start().await;
    let s = start(Gen::Extractive, |c| {
        fast(c);
        c.bots[0].handoff_text = HANDOFF_TEXT.into();
    })
    .await;
    register(&s, &rx.url("/hook"), &["conversation.handoff"]).await;

    // An ordinary first turn, then the request for a person in the same conversation.
    let (status, first) =
        chat(&s, json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?"})).await;
    assert_eq!(status, 200);
    assert_eq!(first["finish_reason"], "stop");
    let conversation = first["conversation_id"].as_str().expect("conversation").to_string();
    let (status, asked) = chat(
        &s,
        json!({"bot_id": "docs", "conversation_id": conversation, "message": "This doesn't help. Can I talk to a HUMAN, please?"}),
    )
    .await;
    assert_eq!(status, 200, "{asked}");
    assert_eq!(asked["finish_reason"], "handoff", "{asked}");
    assert_eq!(asked["message"]["content"], HANDOFF_TEXT);
    assert_eq!(asked["sources"], json!([]), "no retrieval for a handoff");
    assert_eq!(asked["citations"], json!([]));
    let answer_id = asked["message"]["id"].as_str().expect("message").to_string();

    // The conversation shows the state and the stored answer.
    let (_, c) = json_of(s.get(&format!("/v1/conversations/{conversation}")).await).await;
    assert_eq!(c["state"], "handoff", "{c}");
    let last = c["messages"]["data"].as_array().expect("messages").last().cloned().expect("a message");
    assert_eq!((last["finish_reason"].as_str(), last["content"].as_str()), (Some("handoff"), Some(HANDOFF_TEXT)));

    // The receiver gets conversation.handoff naming the conversation and the answer.
    assert!(eventually(Duration::from_secs(20), || async { !rx.on("/hook").is_empty() }).await, "no event delivered");
    let got = rx.on("/hook");
    assert_eq!(got.len(), 1, "one event: {got:?}");
    let env = got[0].json();
    assert_eq!(env["type"], "conversation.handoff");
    assert_eq!(env["bot_id"], "docs");
    assert_eq!(env["data"]["conversation_id"], conversation.as_str());
    assert_eq!(env["data"]["trigger"], "message");
    assert_eq!(env["data"]["message_id"], answer_id.as_str());
    assert_eq!(env["data"]["phrase"], "talk to human");

    // While handed off the bot does not answer, blocking or streaming, and stores nothing.
    let next = json!({"bot_id": "docs", "conversation_id": conversation, "message": "How do I reset my password?"});
    let (status, code, _) = error_of(s.post("/v1/chat", next.clone()).await).await;
    assert_eq!((status, code.as_str()), (409, "conversation_handed_off"));
    let mut streaming = next.clone();
    streaming["stream"] = json!(true);
    let res = s.post("/v1/chat", streaming.clone()).await;
    assert_eq!(res.status(), 409);
    assert!(res.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json")));
    let (_, c) = json_of(s.get(&format!("/v1/conversations/{conversation}")).await).await;
    assert_eq!(c["messages"]["data"].as_array().map(Vec::len), Some(4), "nothing stored for refused turns");

    // An admin gives it back: answering resumes.
    let res = s.http.delete(s.url(&format!("/v1/conversations/{conversation}/handoff"))).send().await.expect("req");
    let (status, back) = json_of(res).await;
    assert_eq!((status, back["state"].as_str()), (200, Some("open")), "{back}");
    let (status, answered) = chat(&s, next).await;
    assert_eq!(status, 200);
    assert_eq!(answered["finish_reason"], "stop", "{answered}");
    assert!(!answered["sources"].as_array().expect("sources").is_empty());

    // Streaming: start → sources (empty, ungrounded) → delta → done, in a new conversation.
    let res =
        s.post("/v1/chat", json!({"bot_id": "docs", "message": "I want to speak to an agent", "stream": true})).await;
    assert_eq!(res.status(), 200);
    let frames = SseReader::new(res).rest().await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(kinds, ["start", "sources", "delta", "done"], "{frames:?}");
    assert_eq!(frames[1].data["grounded"], false);
    assert_eq!(frames[1].data["sources"], json!([]));
    assert_eq!(frames[2].data["delta"], HANDOFF_TEXT);
    assert_eq!(frames[3].data["finish_reason"], "handoff");
    let streamed = frames[0].data["conversation_id"].as_str().expect("conversation").to_string();
    let (_, c) = json_of(s.get(&format!("/v1/conversations/{streamed}")).await).await;
    assert_eq!(c["state"], "handoff");
    assert!(eventually(Duration::from_secs(20), || async { rx.on("/hook").len() == 2 }).await, "second event");

    // A question that merely mentions humans is answered, not handed off.
    let (status, plain) = chat(&s, json!({"bot_id": "docs", "message": "How do humans approve invoices?"})).await;
    assert_eq!(status, 200);
    assert_ne!(plain["finish_reason"], "handoff", "{plain}");
    let plain_conv = plain["conversation_id"].as_str().expect("conversation");
    let (_, c) = json_of(s.get(&format!("/v1/conversations/{plain_conv}")).await).await;
    assert_eq!(c["state"], "open");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_with_its_own_phrases_uses_only_those() {
    let s = start(Gen::Extractive, |c| {
        c.bots[0].handoff_phrases = Some(vec!["Mensch bitte".into()]);
    })
    .await;
    let (_, own) = chat(&s, json!({"bot_id": "docs", "message": "Einen MENSCH, bitte!"})).await;
    assert_eq!(own["finish_reason"], "handoff", "{own}");
    assert_eq!(own["message"]["content"], docent_server::handoff::DEFAULT_HANDOFF_TEXT);
    let (_, default) = chat(&s, json!({"bot_id": "docs", "message": "talk to a human"})).await;
    assert_ne!(default["finish_reason"], "handoff", "the defaults are replaced: {default}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handoff_route_takes_a_visitor_key_fires_once_and_only_an_admin_gives_back() {
    let origin = "https://docs.example.com";
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.bots[0].allowed_origins = vec![origin.into()];
    })
    .await;
    let store = &s.state.store;
    let admin = create_key(store, KeyKind::Secret, "a", &[], &["admin".into()], &[]).await.expect("key");
    let chat_key = create_key(store, KeyKind::Secret, "c", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let other = create_key(store, KeyKind::Secret, "o", &["other".into()], &["admin".into()], &[]).await.expect("key");
    let public = create_key(store, KeyKind::Public, "w", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let hook = {
        let res = s
            .http
            .post(s.url("/v1/webhooks"))
            .bearer_auth(&admin.key)
            .json(&json!({"bot_id": "docs", "url": "http://127.0.0.1:9/", "events": ["conversation.handoff"]}))
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string()
    };
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .bearer_auth(&public.key)
        .header("origin", origin)
        .json(&json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?"}))
        .send()
        .await
        .expect("req");
    let (status, first) = json_of(res).await;
    assert_eq!(status, 200, "{first}");
    let conversation = first["conversation_id"].as_str().expect("conversation").to_string();
    let path = format!("/v1/conversations/{conversation}/handoff");
    let widget_post =
        |body: Value| s.http.post(s.url(&path)).bearer_auth(&public.key).header("origin", origin).json(&body).send();

    let (status, code, param) = error_of(widget_post(json!({"reason": "x".repeat(501)})).await.expect("req")).await;
    assert_eq!((status, code.as_str(), param.as_str()), (400, "reason_too_long", "reason"));
    for _ in 0..2 {
        let (status, c) =
            json_of(widget_post(json!({"reason": "visitor asked from the widget"})).await.expect("req")).await;
        assert_eq!(
            (status, c["state"].as_str(), c["id"].as_str()),
            (200, Some("handoff"), Some(conversation.as_str()))
        );
    }
    let deliveries = |key: String| {
        let url = s.url(&format!("/v1/webhooks/{hook}/deliveries"));
        let http = s.http.clone();
        async move { http.get(url).bearer_auth(key).send().await.expect("req").json::<Value>().await.expect("json") }
    };
    let page = deliveries(admin.key.clone()).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "asking twice fires once: {page}");
    assert_eq!(page["data"][0]["type"], "conversation.handoff");

    // Another bot's key sees no such conversation.
    let res = s.http.post(s.url(&path)).bearer_auth(&other.key).json(&json!({})).send().await.expect("req");
    assert_eq!(res.status(), 404);

    // Giving back: not for the widget's key or a chat key; an admin may.
    let back = |key: &str| s.http.delete(s.url(&path)).bearer_auth(key).header("origin", origin).send();
    assert_eq!(error_of(back(&public.key).await.expect("req")).await.1, "missing_scope");
    assert_eq!(error_of(back(&chat_key.key).await.expect("req")).await.1, "missing_scope");
    let (status, c) = json_of(back(&admin.key).await.expect("req")).await;
    assert_eq!((status, c["state"].as_str()), (200, Some("open")));
    let (status, c) = json_of(back(&admin.key).await.expect("req")).await;
    assert_eq!((status, c["state"].as_str()), (200, Some("open")), "giving back twice is harmless");
    let res = s
        .http
        .get(s.url(&format!("/v1/conversations/{conversation}")))
        .bearer_auth(&admin.key)
        .send()
        .await
        .expect("req");
    assert_eq!(json_of(res).await.1["state"], "open");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_validated_stored_fired_and_idempotent() {
    let rx = Receiver::start().await;
    let s = start(Gen::Extractive, fast).await;
    let hook = register(&s, &rx.url("/leads"), &["lead.captured"]).await;
    let (_, first) = chat(&s, json!({"bot_id": "docs", "message": "How much does the Pro plan cost?"})).await;
    let conversation = first["conversation_id"].as_str().expect("conversation").to_string();
    let lead = |extra: Value| {
        let mut body = json!({"conversation_id": conversation});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };

    // Every refusal names its field.
    let cases = [
        (lead(json!({"email": "ada@example"})), "invalid_email", "email"),
        (lead(json!({"email": "ada lovelace@example.com"})), "invalid_email", "email"),
        (lead(json!({"phone": "555-CALL-NOW"})), "invalid_phone", "phone"),
        (lead(json!({"phone": "12345"})), "invalid_phone", "phone"),
        (lead(json!({"phone": "+1234567890123456"})), "invalid_phone", "phone"),
        (lead(json!({"email": "ada@example.com", "name": "Ada\u{202E}ecalevoL"})), "invalid_name", "name"),
        (lead(json!({"email": "ada@example.com", "name": "x".repeat(201)})), "invalid_name", "name"),
        (lead(json!({"name": "Ada Lovelace"})), "missing_contact", "email"),
        (lead(json!({"email": " ", "phone": ""})), "missing_contact", "email"),
        (json!({"email": "ada@example.com"}), "missing_field", "conversation_id"),
        (lead(json!({"email": "ada@example.com", "bot_id": "other"})), "conflicting_fields", "bot_id"),
    ];
    for (body, code, param) in cases {
        let got = error_of(s.post("/v1/leads", body.clone()).await).await;
        assert_eq!(got, (400, code.to_string(), param.to_string()), "{body}");
    }
    let unknown = s.post("/v1/leads", json!({"conversation_id": "conv_nope", "email": "a@example.com"})).await;
    assert_eq!(error_of(unknown).await.0, 404);
    let unknown_bot = s.post("/v1/leads", json!({"bot_id": "nope", "email": "a@example.com"})).await;
    assert_eq!(error_of(unknown_bot).await.0, 404);

    // A valid lead: normalised, stored, fired.
    let body = lead(json!({"name": "  Ada   Lovelace ", "email": "Ada@Example.COM", "phone": "+1 (555) 010-0199"}));
    let res =
        s.http.post(s.url("/v1/leads")).header("idempotency-key", "lead-1").json(&body).send().await.expect("req");
    assert!(res.headers().get("idempotent-replayed").is_none());
    let (status, created) = json_of(res).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("lead_"), "{id}");
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["email"], "Ada@example.com");
    assert_eq!(created["phone"], "+15550100199");
    assert_eq!(created["conversation_id"], conversation.as_str());
    assert_eq!(created["bot_id"], "docs");
    let stored = s.state.store.lead(&id).await.expect("read").expect("stored");
    assert_eq!(stored.phone.as_deref(), Some("+15550100199"));
    assert!(eventually(Duration::from_secs(20), || async { !rx.on("/leads").is_empty() }).await, "no lead event");
    let env = rx.on("/leads")[0].json();
    assert_eq!(env["type"], "lead.captured");
    assert_eq!(env["data"]["lead_id"], id.as_str());
    assert_eq!(env["data"]["email"], "Ada@example.com");
    assert_eq!(env["data"]["conversation_id"], conversation.as_str());

    // The same key and body: the same response, replayed; nothing new stored or fired.
    let res =
        s.http.post(s.url("/v1/leads")).header("idempotency-key", "lead-1").json(&body).send().await.expect("req");
    assert_eq!(res.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let (status, replayed) = json_of(res).await;
    assert_eq!((status, &replayed), (201, &created));
    // The same key with another body: refused.
    let changed = lead(json!({"email": "grace@example.com"}));
    let res = s.http.post(s.url("/v1/leads")).header("idempotency-key", "lead-1").json(&changed).send().await;
    let got = error_of(res.expect("req")).await;
    assert_eq!(got, (422, "idempotency_key_reused".to_string(), "Idempotency-Key".to_string()));
    // A malformed key.
    let long = "k".repeat(256);
    for bad in ["", long.as_str()] {
        let res = s.http.post(s.url("/v1/leads")).header("idempotency-key", bad).json(&changed).send().await;
        assert_eq!(error_of(res.expect("req")).await.1, "invalid_idempotency_key", "{bad:?}");
    }
    // A failed request is not remembered: its key works once the body is fixed.
    let bad = lead(json!({"email": "nope"}));
    let res = s.http.post(s.url("/v1/leads")).header("idempotency-key", "lead-2").json(&bad).send().await;
    assert_eq!(error_of(res.expect("req")).await.0, 400);
    let res = s.http.post(s.url("/v1/leads")).header("idempotency-key", "lead-2").json(&changed).send().await;
    assert_eq!(res.expect("req").status(), 201);

    // Identical retries racing: one lead, every caller gets its id.
    let racing = lead(json!({"phone": "030 1234567"}));
    let sends = (0..6).map(|_| {
        let (http, url, body) = (s.http.clone(), s.url("/v1/leads"), racing.clone());
        tokio::spawn(async move {
            let res = http.post(url).header("idempotency-key", "lead-race").json(&body).send().await.expect("req");
            json_of(res).await
        })
    });
    let mut ids = std::collections::HashSet::new();
    for h in sends.collect::<Vec<_>>() {
        let (status, v) = h.await.expect("task");
        assert_eq!(status, 201, "{v}");
        ids.insert(v["id"].as_str().expect("id").to_string());
    }
    assert_eq!(ids.len(), 1, "one lead for one key: {ids:?}");
    assert!(
        eventually(Duration::from_secs(20), || async { rx.on("/leads").len() >= 3 }).await,
        "lead-1, lead-2, the race"
    );
    // Exactly those three were queued (events are queued in the transaction of the lead).
    assert_eq!(queued(&s, &hook, "lead.captured").await, 3);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_stored_replaced_fired_and_shown_on_the_message() {
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
    })
    .await;
    let store = &s.state.store;
    let admin = create_key(store, KeyKind::Secret, "a", &[], &["admin".into()], &[]).await.expect("key");
    let visitor = create_key(store, KeyKind::Secret, "v", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let other = create_key(store, KeyKind::Secret, "o", &["other".into()], &["chat".into()], &[]).await.expect("key");
    let hook = {
        let res = s
            .http
            .post(s.url("/v1/webhooks"))
            .bearer_auth(&admin.key)
            .json(&json!({"bot_id": "docs", "url": "http://127.0.0.1:9/", "events": ["feedback.received"]}))
            .send()
            .await
            .expect("req");
        res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string()
    };
    let post = |key: &str, path: String, body: Value, idem: Option<&str>| {
        let mut r = s.http.post(s.url(&path)).bearer_auth(key).json(&body);
        if let Some(k) = idem {
            r = r.header("idempotency-key", k);
        }
        r.send()
    };
    let (_, answer) = json_of(
        post(
            &visitor.key,
            "/v1/chat".into(),
            json!({"bot_id": "docs", "message": "How do I reset my password?"}),
            None,
        )
        .await
        .expect("req"),
    )
    .await;
    let conversation = answer["conversation_id"].as_str().expect("conversation").to_string();
    let message = answer["message"]["id"].as_str().expect("message").to_string();
    let path = format!("/v1/messages/{message}/feedback");

    // Refusals.
    let cases = [
        (json!({}), 400, "missing_field", "rating"),
        (json!({"rating": "meh"}), 400, "invalid_rating", "rating"),
        (json!({"rating": "up", "comment": "x".repeat(1001)}), 400, "comment_too_long", "comment"),
    ];
    for (body, status, code, param) in cases {
        let got = error_of(post(&visitor.key, path.clone(), body.clone(), None).await.expect("req")).await;
        assert_eq!(got, (status, code.to_string(), param.to_string()), "{body}");
    }
    for unknown in ["/v1/messages/msg_0000/feedback".to_string(), "/v1/messages/nope/feedback".to_string()] {
        let got = error_of(post(&visitor.key, unknown, json!({"rating": "up"}), None).await.expect("req")).await;
        assert_eq!((got.0, got.1.as_str()), (404, "unknown_message"));
    }
    let got = error_of(post(&other.key, path.clone(), json!({"rating": "up"}), None).await.expect("req")).await;
    assert_eq!(got.0, 404, "another bot's key sees no such message");
    let (_, c) = json_of(
        s.http
            .get(s.url(&format!("/v1/conversations/{conversation}")))
            .bearer_auth(&admin.key)
            .send()
            .await
            .expect("req"),
    )
    .await;
    let question = c["messages"]["data"][0]["id"].as_str().expect("question").to_string();
    let got = error_of(
        post(&visitor.key, format!("/v1/messages/{question}/feedback"), json!({"rating": "up"}), None)
            .await
            .expect("req"),
    )
    .await;
    assert_eq!((got.0, got.1.as_str()), (422, "not_an_answer"));

    // First feedback: 201; a replay of it is the same; then a change of mind: 200, replaced.
    let up = json!({"rating": "up", "comment": "  Clear steps  "});
    let (status, first) = json_of(post(&visitor.key, path.clone(), up.clone(), Some("fb-1")).await.expect("req")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!((first["rating"].as_str(), first["comment"].as_str()), (Some("up"), Some("Clear steps")));
    assert_eq!(first["replaced"], false);
    let res = post(&visitor.key, path.clone(), up, Some("fb-1")).await.expect("req");
    assert_eq!(res.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(json_of(res).await, (201, first.clone()));
    let (status, second) =
        json_of(post(&visitor.key, path.clone(), json!({"rating": "down"}), None).await.expect("req")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!((second["rating"].as_str(), second["replaced"].as_bool()), (Some("down"), Some(true)));
    assert_eq!(second["comment"], Value::Null);
    assert_eq!(second["created_at"], first["created_at"], "the first feedback's time is kept");

    // Stored once, shown on the message, fired twice.
    let fb = store.feedback(&message).await.expect("read").expect("stored");
    assert_eq!((fb.rating.as_str(), fb.comment.as_deref()), ("down", None));
    let (_, c) = json_of(
        s.http
            .get(s.url(&format!("/v1/conversations/{conversation}")))
            .bearer_auth(&admin.key)
            .send()
            .await
            .expect("req"),
    )
    .await;
    let shown =
        c["messages"]["data"].as_array().expect("messages").iter().find(|m| m["id"] == message.as_str()).cloned();
    assert_eq!(shown.expect("the answer")["feedback"]["rating"], "down", "{c}");
    assert_eq!(c["messages"]["data"][0]["feedback"], Value::Null, "the question has none");
    let page: Value = s
        .http
        .get(s.url(&format!("/v1/webhooks/{hook}/deliveries")))
        .bearer_auth(&admin.key)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2), "{page}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_and_webhooks_take_an_idempotency_key() {
    let s = start(Gen::Extractive, |_| {}).await;
    let send =
        |path: &str, key: &str, body: Value| s.http.post(s.url(path)).header("idempotency-key", key).json(&body).send();
    let body = json!({"bot_id": "docs", "user": {"id": "visitor_7"}});
    let (status, a) = json_of(send("/v1/conversations", "c-1", body.clone()).await.expect("req")).await;
    assert_eq!(status, 201);
    let res = send("/v1/conversations", "c-1", body.clone()).await.expect("req");
    assert_eq!(res.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(json_of(res).await, (201, a.clone()));
    let (status, b) = json_of(s.post("/v1/conversations", body.clone()).await).await;
    assert_eq!(status, 201);
    assert_ne!(a["id"], b["id"], "without a key every request creates");
    let other = json!({"bot_id": "docs", "user": {"id": "visitor_8"}});
    assert_eq!(error_of(send("/v1/conversations", "c-1", other).await.expect("req")).await.1, "idempotency_key_reused");
    // The same key on another route is another slot.
    let hook = json!({"bot_id": "docs", "url": "http://127.0.0.1:9/", "events": ["lead.captured"]});
    let (status, h1) = json_of(send("/v1/webhooks", "c-1", hook.clone()).await.expect("req")).await;
    assert_eq!(status, 201, "{h1}");
    let (status, h2) = json_of(send("/v1/webhooks", "c-1", hook).await.expect("req")).await;
    assert_eq!((status, &h2["id"], &h2["secret"]), (201, &h1["id"], &h1["secret"]), "the retry gets the secret too");
    let list: Value = s.get("/v1/webhooks?bot_id=docs").await.json().await.expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    s.stop().await;
}
