//! Bad input gets the API's error envelope with the right status, and loses nothing;
//! keys, scopes, origins and rate limits; search; health; the store across restarts.

mod support;

use serde_json::json;
use support::{start, start_in, Gen};

async fn error_of(res: reqwest::Response) -> (u16, serde_json::Value, Option<String>) {
    let status = res.status().as_u16();
    let rid = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: serde_json::Value = res.json().await.expect("error bodies are JSON");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body["error"]["request_id"].as_str(), rid.as_deref(), "the body names the request id of the header");
    (status, body, rid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unusable_requests_get_clear_errors() {
    let s = start(Gen::Extractive, |c| c.limits.max_body_bytes = 4096).await;
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut r = s.http.post(s.url("/v1/chat")).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let (st, b, _) =
        error_of(raw("{\"bot_id\": \"docs\", \"message\": ", Some("application/json")).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (400, Some("invalid_json")));
    let (st, _, _) =
        error_of(raw("{\"bot_id\":\"docs\",\"message\":\"hi\"}", Some("text/plain")).await.expect("req")).await;
    assert_eq!(st, 415);
    let (st, _, _) = error_of(raw("{}", None).await.expect("req")).await;
    assert_eq!(st, 415);
    let (st, b, _) = error_of(s.post("/v1/chat", json!({"bot_id": "docs", "message": 42})).await).await;
    assert_eq!(st, 422, "{b}");
    let (st, b, _) = error_of(s.post("/v1/chat", json!({"message": "hi"})).await).await;
    assert_eq!((st, b["error"]["param"].as_str()), (400, Some("bot_id")));
    let (st, b, _) = error_of(s.post("/v1/chat", json!({"bot_id": "nope", "message": "hi"})).await).await;
    assert_eq!((st, b["error"]["code"].as_str()), (404, Some("unknown_bot")));
    let both = json!({"bot_id": "docs", "message": "hi", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(error_of(s.post("/v1/chat", both).await).await.0, 400);
    let with_conv =
        json!({"bot_id": "docs", "conversation_id": "conv_x", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(error_of(s.post("/v1/chat", with_conv).await).await.0, 400);
    let last_assistant = json!({"bot_id": "docs", "messages": [{"role": "assistant", "content": "hi"}]});
    assert_eq!(error_of(s.post("/v1/chat", last_assistant).await).await.0, 400);
    let bad_role = json!({"bot_id": "docs", "messages": [{"role": "wizard", "content": "hi"}]});
    assert_eq!(error_of(s.post("/v1/chat", bad_role).await).await.0, 422);
    assert_eq!(error_of(s.post("/v1/chat", json!({"bot_id": "docs", "message": "   "})).await).await.0, 400);
    let unknown_conv = json!({"bot_id": "docs", "conversation_id": "conv_0123456789", "message": "hi"});
    assert_eq!(error_of(s.post("/v1/chat", unknown_conv).await).await.0, 404);
    let huge = "x".repeat(10_000);
    let (st, b, _) = error_of(s.post("/v1/chat", json!({"bot_id": "docs", "message": huge})).await).await;
    assert_eq!((st, b["error"]["code"].as_str()), (413, Some("body_too_large")));
    let (st, _, _) = error_of(s.get("/v1/nothing-here").await).await;
    assert_eq!(st, 404);
    let (st, _, _) = error_of(s.http.put(s.url("/v1/chat")).send().await.expect("req")).await;
    assert_eq!(st, 405);
    // A client's sane request id is echoed; a hostile one is replaced.
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .header("x-request-id", "client-abc.1")
        .json(&json!({}))
        .send()
        .await
        .expect("req");
    assert_eq!(error_of(res).await.2.as_deref(), Some("client-abc.1"));
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .header("x-request-id", "bad id with spaces and a very long tail")
        .json(&json!({}))
        .send()
        .await
        .expect("req");
    assert!(error_of(res).await.2.is_some_and(|r| r.starts_with("req_")));
    // Nothing of the above was stored; the server still answers.
    let ok = s.post("/v1/chat", json!({"bot_id": "docs", "message": "How do I reset my password?"})).await;
    assert_eq!(ok.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_unicode_and_query_syntax_are_answered_not_rejected() {
    let s = start(Gen::Extractive, |_| {}).await;
    for q in [
        "refund \"window\" AND (annual) OR title:* [1]",
        "🔥💸 refund?? 🤔",
        "استرداد refund ‏مرحبا‏",
        "zero\u{200b}width\u{200d} refund",
        "nul\u{0}byte refund",
        "ｆｕｌｌｗｉｄｔｈ ｒｅｆｕｎｄ",
    ] {
        let res = s.post("/v1/chat", json!({"bot_id": "docs", "message": q})).await;
        assert_eq!(res.status(), 200, "{q:?}");
        let b: serde_json::Value = res.json().await.expect("json");
        assert!(["stop", "no_answer", "length"].contains(&b["finish_reason"].as_str().unwrap_or("")), "{b}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_scopes_origins_and_rate_limits() {
    let s = start(Gen::Extractive, |c| {
        c.auth.required = true;
        c.bots[0].allowed_origins = vec!["https://docs.example.com".into()];
        c.bots[0].rate_limit.public_burst = 2;
        c.bots[0].rate_limit.public_per_minute = 1;
        c.bots.push(docent_server::config::BotConfig::new("other"));
    })
    .await;
    let store = &s.state.store;
    use docent_server::auth::create_key;
    use docent_server::store::KeyKind;
    let chat = create_key(store, KeyKind::Secret, "t", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let search_only = create_key(store, KeyKind::Secret, "t", &[], &["search".into()], &[]).await.expect("key");
    let public = create_key(store, KeyKind::Public, "w", &["docs".into()], &["chat".into()], &[]).await.expect("key");
    let body = json!({"bot_id": "docs", "message": "How do I reset my password?"});
    let send = |key: Option<&str>, origin: Option<&str>, body: serde_json::Value| {
        let mut r = s.http.post(s.url("/v1/chat")).json(&body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let (st, b, _) = error_of(send(None, None, body.clone()).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (401, Some("missing_api_key")));
    // Change the last character (to one it is not: a key may end in `x`).
    let last = if chat.key.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &chat.key[..chat.key.len() - 1]);
    assert_eq!(error_of(send(Some(&forged), None, body.clone()).await.expect("req")).await.0, 401);
    assert_eq!(error_of(send(Some("sk_garbage"), None, body.clone()).await.expect("req")).await.0, 401);
    let ok = send(Some(&chat.key), None, body.clone()).await.expect("req");
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("x-ratelimit-limit").is_some() && ok.headers().get("x-ratelimit-remaining").is_some());
    let other = json!({"bot_id": "other", "message": "hi"});
    let (st, b, _) = error_of(send(Some(&chat.key), None, other).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (403, Some("bot_not_allowed")));
    let (st, b, _) = error_of(send(Some(&search_only.key), None, body.clone()).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (403, Some("missing_scope")));
    let searched =
        s.http.get(s.url("/v1/search?bot_id=docs&q=refund")).bearer_auth(&search_only.key).send().await.expect("req");
    assert_eq!(searched.status(), 200);
    // Public keys: only from an allowed origin, with a small per-visitor bucket.
    let (st, b, _) = error_of(send(Some(&public.key), None, body.clone()).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (403, Some("origin_not_allowed")));
    assert_eq!(
        error_of(send(Some(&public.key), Some("https://evil.example"), body.clone()).await.expect("req")).await.0,
        403
    );
    let visitor = json!({"bot_id": "docs", "message": "How do I reset my password?", "user": {"id": "v1"}});
    for _ in 0..2 {
        let r = send(Some(&public.key), Some("https://docs.example.com"), visitor.clone()).await.expect("req");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
            Some("https://docs.example.com")
        );
    }
    let limited = send(Some(&public.key), Some("https://docs.example.com"), visitor.clone()).await.expect("req");
    let retry = limited.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let (st, b, _) = error_of(limited).await;
    assert_eq!((st, b["error"]["code"].as_str()), (429, Some("rate_limited")));
    assert!(retry.is_some_and(|r| (1..=60).contains(&r)), "Retry-After {retry:?}");
    // Another visitor has their own bucket.
    let v2 = json!({"bot_id": "docs", "message": "How do I reset my password?", "user": {"id": "v2"}});
    assert_eq!(send(Some(&public.key), Some("https://docs.example.com"), v2).await.expect("req").status(), 200);
    // Revoked keys stop working at once.
    assert!(store.revoke_key(&chat.record.id).await.expect("revoke"));
    assert_eq!(error_of(send(Some(&chat.key), None, body.clone()).await.expect("req")).await.0, 401);
    // Preflight from an allowed origin.
    let pre = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/chat"))
        .header("origin", "https://docs.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .expect("preflight");
    assert!(pre.status().is_success());
    assert_eq!(
        pre.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://docs.example.com")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_returns_the_score_breakdown_and_health_reports_readiness() {
    let s = start(Gen::Extractive, |c| c.bots.push(docent_server::config::BotConfig::new("empty"))).await;
    let get: serde_json::Value =
        s.get("/v1/search?bot_id=docs&q=rotate%20api%20keys&k=3").await.json().await.expect("json");
    let hits = get["hits"].as_array().expect("hits");
    assert!(!hits.is_empty() && hits.len() <= 3);
    assert!(hits[0]["url"].as_str().unwrap_or("").starts_with("https://help.test/api/keys#"), "{get}");
    for key in ["bm25", "dense", "fused"] {
        assert!(hits[0]["scores"].get(key).is_some(), "scores.{key}");
    }
    let post = s.post("/v1/search", json!({"bot_id": "docs", "q": "title:(\"refund\" AND *)", "mode": "bm25", "filters": {"url_prefix": "https://help.test/billing/"}})).await;
    assert_eq!(post.status(), 200);
    let post: serde_json::Value = post.json().await.expect("json");
    assert!(post["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .all(|h| h["url"].as_str().unwrap_or("").starts_with("https://help.test/billing/")));
    assert_eq!(error_of(s.get("/v1/search?bot_id=docs").await).await.0, 400);
    assert_eq!(error_of(s.get("/v1/search?bot_id=docs&q=x&k=0").await).await.0, 400);
    assert_eq!(s.get("/healthz").await.status(), 200);
    // One bot has no index: not ready, and its chats get a 503 with Retry-After.
    let ready = s.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["bots"]["docs"]["ready"], true);
    assert_eq!(ready["bots"]["empty"]["ready"], false);
    let res = s.post("/v1/chat", json!({"bot_id": "empty", "message": "hi"})).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(error_of(res).await.0, 503);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_page_with_cursors_and_survive_a_restart() {
    let s = start(Gen::Extractive, |_| {}).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r: serde_json::Value = s
            .post("/v1/conversations", json!({"bot_id": "docs", "user": {"id": format!("u{}", i % 2)}}))
            .await
            .json()
            .await
            .expect("json");
        ids.push(r["id"].as_str().expect("id").to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/conversations?bot_id=docs&limit=2&cursor={c}"),
            None => "/v1/conversations?bot_id=docs&limit=2".to_string(),
        };
        let page: serde_json::Value = s.get(&url).await.json().await.expect("json");
        for c in page["data"].as_array().expect("data") {
            seen.push(c["id"].as_str().unwrap_or("").to_string());
        }
        if page["has_more"] != true {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, every one exactly once");
    let mine: serde_json::Value = s.get("/v1/conversations?bot_id=docs&user_id=u1").await.json().await.expect("json");
    assert_eq!(mine["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(error_of(s.get("/v1/conversations?cursor=garbage").await).await.0, 400);
    let answered: serde_json::Value = s
        .post(
            "/v1/chat",
            json!({"bot_id": "docs", "conversation_id": ids[0], "message": "How do I download invoices?"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let dir = s.dir.clone();
    s.stop().await;
    // Same data dir, new process state: the conversation is still there.
    let s = start_in(dir, Gen::Extractive, |_| {}).await;
    let stored: serde_json::Value = s.get(&format!("/v1/conversations/{}", ids[0])).await.json().await.expect("json");
    assert_eq!(stored["messages"]["data"][1]["content"], answered["message"]["content"]);
    let del = s.http.delete(s.url(&format!("/v1/conversations/{}", ids[0]))).send().await.expect("delete");
    assert_eq!(del.status(), 200);
    assert_eq!(error_of(s.get(&format!("/v1/conversations/{}", ids[0])).await).await.0, 404);
    s.stop().await;
}

/// A page served by Docent's own host (the widget's `/demo`) reads its history with a
/// same-origin GET, which browsers send without `Origin`: `Sec-Fetch-Site:
/// same-origin` plus an allowed `Host` stand for it; without them it stays 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_reads_its_conversation_with_a_same_origin_get() {
    let s = start(Gen::Extractive, |c| c.auth.required = true).await;
    use docent_server::auth::create_key;
    use docent_server::store::KeyKind;
    let origins = [s.base.clone()];
    let public = create_key(&s.state.store, KeyKind::Public, "w", &["docs".into()], &["chat".into()], &origins)
        .await
        .expect("key");
    let other = create_key(
        &s.state.store,
        KeyKind::Public,
        "w2",
        &["docs".into()],
        &["chat".into()],
        &["https://docs.example.com".into()],
    )
    .await
    .expect("key");
    let asked = s
        .http
        .post(s.url("/v1/chat"))
        .bearer_auth(&public.key)
        .header("origin", &s.base)
        .json(&json!({"bot_id": "docs", "message": "How long do I have to ask for a refund?"}))
        .send()
        .await
        .expect("req");
    assert_eq!(asked.status(), 200);
    let asked: serde_json::Value = asked.json().await.expect("json");
    let id = asked["conversation_id"].as_str().expect("id").to_string();
    let read = |key: &str, site: Option<&'static str>| {
        let mut r = s.http.get(s.url(&format!("/v1/conversations/{id}"))).bearer_auth(key);
        if let Some(site) = site {
            r = r.header("sec-fetch-site", site);
        }
        r.send()
    };
    let ok = read(&public.key, Some("same-origin")).await.expect("req");
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.expect("json");
    assert_eq!(body["messages"]["data"].as_array().map(Vec::len), Some(2), "{body}");
    let (st, b, _) = error_of(read(&public.key, None).await.expect("req")).await;
    assert_eq!((st, b["error"]["code"].as_str()), (403, Some("origin_not_allowed")));
    let (st, _, _) = error_of(read(&public.key, Some("cross-site")).await.expect("req")).await;
    assert_eq!(st, 403);
    // A key whose origins do not include this host gets nothing from a same-origin GET.
    let (st, _, _) = error_of(read(&other.key, Some("same-origin")).await.expect("req")).await;
    assert_eq!(st, 403);
    s.stop().await;
}

/// `/widget.js` is the configured file with caching headers and a revalidating ETag;
/// `/demo` embeds the public key of the key file, and refuses anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_and_the_demo_page() {
    let assets = tempfile::tempdir().expect("tempdir");
    let file = assets.path().join("widget.js");
    let (file_in, key_file) = (file.clone(), assets.path().join("demo-key.txt"));
    let key_in = key_file.clone();
    let s = start(Gen::Extractive, move |c| {
        c.widget.file = file_in;
        c.widget.demo_key_file = Some(key_in);
    })
    .await;
    let (st, b, _) = error_of(s.get("/widget.js").await).await;
    assert_eq!((st, b["error"]["code"].as_str()), (404, Some("widget_not_built")));
    std::fs::write(&file, "console.log('v1')").expect("write");
    let r = s.get("/widget.js").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(h["content-type"].to_str().is_ok_and(|v| v.starts_with("text/javascript")));
    assert!(h["cache-control"].to_str().is_ok_and(|v| v.contains("max-age=")));
    assert_eq!(h["access-control-allow-origin"], "*");
    let etag = h["etag"].to_str().expect("etag").to_string();
    assert_eq!(r.text().await.expect("body"), "console.log('v1')");
    let again = s.http.get(s.url("/widget.js")).header("if-none-match", &etag).send().await.expect("req");
    assert_eq!(again.status(), 304);
    std::fs::write(&file, "console.log('v2')").expect("write");
    let changed = s.http.get(s.url("/widget.js")).header("if-none-match", &etag).send().await.expect("req");
    assert_eq!(changed.status(), 200, "a rebuilt widget is served without a restart");
    assert_ne!(changed.headers()["etag"].to_str().expect("etag"), etag);

    let (st, b, _) = error_of(s.get("/demo").await).await;
    assert_eq!((st, b["error"]["code"].as_str()), (404, Some("demo_not_configured")));
    std::fs::write(&key_file, "sk_key_secret_abc\n").expect("write");
    let (st, b, _) = error_of(s.get("/demo").await).await;
    assert_eq!((st, b["error"]["code"].as_str()), (404, Some("demo_not_configured")), "a secret key is never served");
    std::fs::write(&key_file, "pk_key_abc_def\n").expect("write");
    let page = s.get("/demo").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().is_ok_and(|v| v.starts_with("text/html")));
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<script src="/widget.js" data-bot="docs" data-key="pk_key_abc_def""#), "{html}");
    s.stop().await;
}
