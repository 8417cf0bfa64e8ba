//! The store's test bodies, run by `tests/store.rs` against SQLite and by
//! `tests/postgres.rs` against PostgreSQL: both back ends must pass the same
//! assertions, through the same code (sqlx `Any`).
//!
//! Every test gets a database of its own (a temporary SQLite file, or a new PostgreSQL
//! database on the server named by `DOCENT_TEST_DATABASE_URL`), so tests run in
//! parallel without seeing each other's rows.
#![allow(dead_code)]

use docent_server::auth::create_key;
use docent_server::store::{
    conversations_cursor, Backend, ConversationState, KeyKind, MessageStatus, NewKey, NewMessage, Store, StoredEvent,
};
use serde_json::json;
use sqlx::Connection;

use crate::support::{self, Gen, SseReader};

/// The variable naming the PostgreSQL server the `postgres` tests use.
pub const PG_ENV: &str = "DOCENT_TEST_DATABASE_URL";

/// A database for one test.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    /// Which back end it is.
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("docent.db").display());
        TestDb { url, backend: Backend::Sqlite, _dir: Some(dir) }
    }

    /// A fresh database on the PostgreSQL server of `DOCENT_TEST_DATABASE_URL`.
    /// Panics when the variable is missing: these tests must never pass without a server.
    pub async fn postgres() -> Self {
        let admin = std::env::var(PG_ENV).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
            panic!(
                "{PG_ENV} is not set: this test needs a PostgreSQL server. Run `make test-pg` \
                 (scripts/pg-test.sh starts a throwaway one and sets {PG_ENV})"
            )
        });
        assert!(
            admin.starts_with("postgres://") || admin.starts_with("postgresql://"),
            "{PG_ENV} must be a postgres:// URL, not `{admin}`"
        );
        sqlx::any::install_default_drivers();
        let name = format!("docent_t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {PG_ENV} ({admin}): {e}"));
        let create = format!("CREATE DATABASE {name}");
        sqlx::raw_sql(&create).execute(&mut conn).await.expect("create the test database");
        conn.close().await.expect("close");
        let (main, query) = match admin.split_once('?') {
            Some((m, q)) => (m, format!("?{q}")),
            None => (admin.as_str(), String::new()),
        };
        let scheme_end = main.find("://").map(|i| i + 3).unwrap_or(0);
        let base = match main[scheme_end..].find('/') {
            Some(slash) => &main[..scheme_end + slash],
            None => main,
        };
        TestDb { url: format!("{base}/{name}{query}"), backend: Backend::Postgres, _dir: None }
    }

    /// Open the store (connect + migrate + recover), checking the back end is the
    /// one the test is about.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.unwrap_or_else(|e| panic!("store at {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// Run one statement outside the store (to set up what the API cannot, such as
    /// identical timestamps).
    pub async fn execute(&self, sql: &str) {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect");
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.expect("close");
    }

    /// One integer from a query outside the store.
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sqlx::Row;
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("connect");
        let row = sqlx::query(sql).fetch_one(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n: i64 = row.try_get(0).expect("an integer");
        conn.close().await.expect("close");
        n
    }
}

fn user(id: &'static str, conversation: &'static str, content: &'static str) -> NewMessage<'static> {
    NewMessage {
        id,
        conversation_id: conversation,
        role: "user",
        content,
        status: MessageStatus::Complete,
        request_id: Some("req_test"),
    }
}

fn streaming(id: &'static str, conversation: &'static str) -> NewMessage<'static> {
    NewMessage {
        id,
        conversation_id: conversation,
        role: "assistant",
        content: "",
        status: MessageStatus::Streaming,
        request_id: Some("req_test"),
    }
}

fn frames(kinds: &[&str]) -> Vec<StoredEvent> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| StoredEvent {
            id: i as u64 + 1,
            event: k.to_string(),
            data: json!({"type": k, "n": i, "text": "ünïcode ✓ \"quoted\""}).to_string(),
        })
        .collect()
}

/// Conversations, messages, their final state and recorded frames round-trip exactly.
pub async fn conversations_and_messages(db: TestDb) {
    let store = db.store().await;
    let meta = json!({"page_url": "https://help.test/billing", "note": "ünïcode ✓", "n": 3});
    let c = store.create_conversation("conv_a1", "docs", Some("visitor_1"), &meta).await.unwrap();
    assert_eq!(store.conversation("conv_a1").await.unwrap().as_ref(), Some(&c));
    assert_eq!(c.metadata, meta);
    assert_eq!(c.state, ConversationState::Open);
    assert!(store.conversation("conv_nope").await.unwrap().is_none());
    store.create_conversation("conv_a2", "docs", None, &json!({})).await.unwrap();
    assert_eq!(store.conversation("conv_a2").await.unwrap().unwrap().user_id, None, "NULL user id");

    let q = store.insert_message(&user("msg_q1", "conv_a1", "How do refunds work?")).await.unwrap();
    let a = store.insert_message(&streaming("msg_a1", "conv_a1")).await.unwrap();
    assert_eq!((q.seq, a.seq), (0, 1));
    assert_eq!(store.message("msg_q1").await.unwrap().as_ref(), Some(&q));
    assert_eq!(store.message("msg_a1").await.unwrap().unwrap().status, MessageStatus::Streaming);
    let recent = store.recent_messages("conv_a1", 10).await.unwrap();
    assert_eq!(recent.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["msg_q1"], "a streaming turn is not history");

    let sources = json!([{"id": "src_1", "index": 1, "title": "Refunds", "url": "https://help.test/billing/refunds#window",
                          "heading_path": ["Refunds", "Window"], "snippet": "Refunds are…", "score": 0.8125}]);
    let citations =
        json!([{"index": 1, "source_id": "src_1", "start": 22, "end": 25, "quote": "Refunds take 30 days"}]);
    let usage = json!({"prompt_tokens": 120, "completion_tokens": 12});
    let timings = json!({"retrieval_ms": 3.25, "rerank_ms": 0.0, "ttft_ms": 14.5, "total_ms": 20.125});
    let events = frames(&["start", "sources", "delta", "citation", "done"]);
    store
        .finish_message("msg_a1", "Refunds take 30 days [1].", "stop", &sources, &citations, &usage, &timings, &events)
        .await
        .unwrap();
    let m = store.message("msg_a1").await.unwrap().expect("stored");
    assert_eq!(m.content, "Refunds take 30 days [1].");
    assert_eq!(m.status, MessageStatus::Complete);
    assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    assert_eq!((&m.sources, &m.citations, &m.usage, &m.timings), (&sources, &citations, &usage, &timings));
    assert_eq!((m.role.as_str(), m.seq, m.request_id.as_deref()), ("assistant", 1, Some("req_test")));
    assert_eq!(m.created_at, a.created_at);
    assert_eq!(store.events_after("msg_a1", 0).await.unwrap(), events);
    assert_eq!(store.events_after("msg_a1", 2).await.unwrap(), events[2..].to_vec());
    assert!(store.events_after("msg_a1", 5).await.unwrap().is_empty());
    assert!(store.events_after("msg_q1", 0).await.unwrap().is_empty());

    let later = store.conversation("conv_a1").await.unwrap().unwrap();
    assert!(later.updated_at >= c.updated_at && later.created_at == c.created_at);
    assert!(store.set_conversation_state("conv_a1", ConversationState::Handoff).await.unwrap());
    assert_eq!(store.conversation("conv_a1").await.unwrap().unwrap().state, ConversationState::Handoff);
    assert!(!store.set_conversation_state("conv_nope", ConversationState::Handoff).await.unwrap());

    // More turns: history is the latest complete messages, oldest first; pages by position.
    store.insert_message(&user("msg_q2", "conv_a1", "And for monthly plans?")).await.unwrap();
    let a2 = store.insert_message(&streaming("msg_a2", "conv_a1")).await.unwrap();
    assert_eq!(a2.seq, 3);
    store
        .finish_message("msg_a2", "Monthly plans: 14 days [1].", "stop", &sources, &citations, &usage, &timings, &[])
        .await
        .unwrap();
    let recent = store.recent_messages("conv_a1", 3).await.unwrap();
    assert_eq!(recent.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["msg_a1", "msg_q2", "msg_a2"]);
    let first = store.messages("conv_a1", 3, None).await.unwrap();
    assert_eq!(first.data.iter().map(|m| m.seq).collect::<Vec<_>>(), [0, 1, 2]);
    let cursor = first.next_cursor.expect("a second page");
    let (after, _) = conversations_cursor(&cursor).expect("our own cursor");
    let second = store.messages("conv_a1", 3, Some(after)).await.unwrap();
    assert_eq!(second.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["msg_a2"]);
    assert!(second.next_cursor.is_none());
    assert!(store.messages("conv_a2", 10, None).await.unwrap().data.is_empty());
}

/// Cursor pages visit every conversation once, newest first, ties broken by id, with
/// the bot and user filters applied before the cut.
pub async fn cursor_pagination(db: TestDb) {
    let store = db.store().await;
    let mut made = Vec::new();
    for i in 0..7 {
        let id = format!("conv_p{i:02}");
        let user = if i % 2 == 0 { "even" } else { "odd" };
        store.create_conversation(&id, "bot_a", Some(user), &json!({"i": i})).await.unwrap();
        made.push(id);
    }
    for i in 0..2 {
        store.create_conversation(&format!("conv_b{i:02}"), "bot_b", None, &json!({})).await.unwrap();
    }
    // Four with the very same timestamp: only the id can order them.
    db.execute(
        "UPDATE conversations SET created_at = 5000 WHERE id IN ('conv_p00', 'conv_p02', 'conv_p03', 'conv_p05')",
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.list_conversations(Some("bot_a"), None, 3, cursor.take()).await.unwrap();
        pages += 1;
        assert!(pages <= 5, "pagination does not end");
        assert!(page.data.len() <= 3);
        seen.extend(page.data);
        match page.next_cursor {
            Some(c) => cursor = Some(conversations_cursor(&c).expect("our own cursor")),
            None => break,
        }
    }
    assert_eq!(pages, 3, "7 items in pages of 3");
    let keys: Vec<(i64, String)> = seen.iter().map(|c| (c.created_at, c.id.clone())).collect();
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, newest_first, "newest first, then by id");
    let tail: Vec<&str> = seen[3..].iter().map(|c| c.id.as_str()).collect();
    assert_eq!(tail, ["conv_p05", "conv_p03", "conv_p02", "conv_p00"], "the tied ones, by id, across a page break");
    let mut ids: Vec<String> = seen.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, made, "every conversation exactly once");

    let all = store.list_conversations(None, None, 100, None).await.unwrap();
    assert_eq!((all.data.len(), all.next_cursor.is_none()), (9, true));
    let evens = store.list_conversations(Some("bot_a"), Some("even"), 2, None).await.unwrap();
    assert_eq!(evens.data.len(), 2);
    assert!(evens.data.iter().all(|c| c.user_id.as_deref() == Some("even")));
    let rest = store
        .list_conversations(
            Some("bot_a"),
            Some("even"),
            10,
            evens.next_cursor.as_deref().and_then(conversations_cursor),
        )
        .await
        .unwrap();
    assert_eq!(rest.data.len(), 2, "4 even ones in all");
    let exact = store.list_conversations(Some("bot_b"), None, 2, None).await.unwrap();
    assert_eq!((exact.data.len(), exact.next_cursor), (2, None), "a full last page has no next cursor");
    assert!(store.list_conversations(Some("bot_none"), None, 5, None).await.unwrap().data.is_empty());
    assert!(conversations_cursor("not a cursor").is_none());
}

/// Deleting a conversation removes its messages and frames, and nothing else.
pub async fn delete_cascades(db: TestDb) {
    let store = db.store().await;
    for conv in ["conv_d1", "conv_d2"] {
        store.create_conversation(conv, "docs", None, &json!({})).await.unwrap();
    }
    store.insert_message(&user("msg_d1q", "conv_d1", "hello")).await.unwrap();
    store.insert_message(&streaming("msg_d1a", "conv_d1")).await.unwrap();
    let (s, c, u, t) = (json!([]), json!([]), json!({}), json!({}));
    store.finish_message("msg_d1a", "hi [1]", "stop", &s, &c, &u, &t, &frames(&["start", "done"])).await.unwrap();
    store.insert_message(&user("msg_d2q", "conv_d2", "kept")).await.unwrap();
    store.insert_message(&streaming("msg_d2a", "conv_d2")).await.unwrap();
    store.finish_message("msg_d2a", "kept too", "stop", &s, &c, &u, &t, &frames(&["start", "done"])).await.unwrap();

    assert!(store.delete_conversation("conv_d1").await.unwrap());
    assert!(store.conversation("conv_d1").await.unwrap().is_none());
    assert!(store.message("msg_d1q").await.unwrap().is_none());
    assert!(store.message("msg_d1a").await.unwrap().is_none());
    assert!(store.events_after("msg_d1a", 0).await.unwrap().is_empty());
    assert!(!store.delete_conversation("conv_d1").await.unwrap(), "already gone");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM message_events").await, 2, "only conv_d2's frames remain");
    assert_eq!(store.messages("conv_d2", 10, None).await.unwrap().data.len(), 2);
    assert_eq!(store.events_after("msg_d2a", 0).await.unwrap().len(), 2);
}

/// Keys: stored without their secret, listed newest first, touched, revoked once.
pub async fn api_keys(db: TestDb) {
    let store = db.store().await;
    let bots = vec!["docs".to_string()];
    let scopes = vec!["chat".to_string(), "conversations:read".to_string()];
    let origins = vec!["https://docs.example.com".to_string()];
    let hash = "ab".repeat(32);
    let a = store
        .insert_key(&NewKey {
            id: "key_a",
            kind: KeyKind::Secret,
            name: "ci ✓",
            secret_hash: &hash,
            bots: &bots,
            scopes: &scopes,
            origins: &[],
        })
        .await
        .unwrap();
    let b = store
        .insert_key(&NewKey {
            id: "key_b",
            kind: KeyKind::Public,
            name: "widget",
            secret_hash: &hash,
            bots: &bots,
            scopes: &["chat".to_string()],
            origins: &origins,
        })
        .await
        .unwrap();
    assert_eq!(store.key("key_a").await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.key("key_b").await.unwrap().as_ref(), Some(&b));
    assert_eq!(store.key("key_b").await.unwrap().unwrap().origins, origins);
    assert!(store.key("key_nope").await.unwrap().is_none());
    let all = store.keys().await.unwrap();
    assert_eq!(all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["key_b", "key_a"]);

    store.touch_key("key_a").await.unwrap();
    let used = store.key("key_a").await.unwrap().unwrap().last_used_at.expect("touched");
    assert!(used >= a.created_at);
    store.touch_key("key_a").await.unwrap();
    assert_eq!(store.key("key_a").await.unwrap().unwrap().last_used_at, Some(used), "at most once a minute");

    assert!(store.revoke_key("key_a").await.unwrap());
    assert!(store.key("key_a").await.unwrap().unwrap().revoked_at.is_some());
    assert!(!store.revoke_key("key_a").await.unwrap(), "already revoked");
    assert!(!store.revoke_key("key_nope").await.unwrap());
    assert!(store.key("key_b").await.unwrap().unwrap().revoked_at.is_none());

    // Through the auth module, as `docent keys create` and the server do.
    let created = create_key(&store, KeyKind::Secret, "made", &[], &["search".into()], &[]).await.unwrap();
    let verified = docent_server::auth::verify_key(&store, &created.key).await.unwrap().expect("verifies");
    assert_eq!(verified.id, created.record.id);
    let wrong = format!("{}x", &created.key[..created.key.len() - 1]);
    assert!(docent_server::auth::verify_key(&store, &wrong).await.unwrap().is_none());
}

/// Migrations run at every start and are a no-op the second time; a turn left
/// streaming by a dead process is marked `error` at the next start.
pub async fn migrations_twice_and_recovery(db: TestDb) {
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count() as i64;
    let first = db.store().await;
    first.create_conversation("conv_m1", "docs", None, &json!({})).await.unwrap();
    first.insert_message(&user("msg_m1q", "conv_m1", "question")).await.unwrap();
    first.insert_message(&streaming("msg_m1a", "conv_m1")).await.unwrap();
    let key = create_key(&first, KeyKind::Secret, "kept", &[], &["chat".into()], &[]).await.unwrap();
    drop(first);

    let second = db.store().await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM _sqlx_migrations").await, migrations, "each migration recorded once");
    assert_eq!(second.conversation("conv_m1").await.unwrap().map(|c| c.id).as_deref(), Some("conv_m1"));
    let m = second.message("msg_m1a").await.unwrap().expect("kept");
    assert_eq!((m.status, m.finish_reason.as_deref()), (MessageStatus::Complete, Some("error")), "interrupted turn");
    assert_eq!(second.message("msg_m1q").await.unwrap().unwrap().finish_reason, None, "other messages untouched");
    assert!(docent_server::auth::verify_key(&second, &key.key).await.unwrap().is_some());

    // Two processes starting at once on a migrated database.
    let (a, b) = tokio::join!(Store::connect(&db.url), Store::connect(&db.url));
    a.expect("first concurrent start");
    b.expect("second concurrent start");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM _sqlx_migrations").await, migrations);
    second.ping().await.unwrap();
}

/// Free text with NUL characters (a model's answer, a client's user id) is stored
/// without them on every back end (PostgreSQL's TEXT refuses NUL).
pub async fn text_with_nul_characters(db: TestDb) {
    let store = db.store().await;
    let c = store.create_conversation("conv_n1", "docs", Some("visi\0tor"), &json!({"k": "a\u{0}b"})).await.unwrap();
    assert_eq!(c.user_id.as_deref(), Some("visitor"));
    let stored = store.conversation("conv_n1").await.unwrap().unwrap();
    assert_eq!(stored, c);
    assert_eq!(stored.metadata["k"], "a\u{0}b", "JSON keeps it, escaped");
    let q = store.insert_message(&user("msg_n1q", "conv_n1", "refund\0 window")).await.unwrap();
    assert_eq!(q.content, "refund window");
    assert_eq!(store.message("msg_n1q").await.unwrap().unwrap().content, "refund window");
    store.insert_message(&streaming("msg_n1a", "conv_n1")).await.unwrap();
    let (s, c, u, t) = (json!([]), json!([]), json!({}), json!({}));
    let events = vec![StoredEvent { id: 1, event: "delta".into(), data: json!({"delta": "x\u{0}y"}).to_string() }];
    store.finish_message("msg_n1a", "Thirty\0 days [1].", "stop", &s, &c, &u, &t, &events).await.unwrap();
    assert_eq!(store.message("msg_n1a").await.unwrap().unwrap().content, "Thirty days [1].");
    assert_eq!(store.events_after("msg_n1a", 0).await.unwrap(), events);
}

/// Two processes (two pools) appending to one conversation at once get distinct,
/// gap-free positions: the conversation row is locked first.
pub async fn concurrent_appends(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    a.create_conversation("conv_c1", "docs", None, &json!({})).await.unwrap();
    // Single appends and turn-shaped pairs (user message + streaming answer, one
    // transaction) race from two pools.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let ids = [format!("msg_c{i:02}"), format!("msg_c{i:02}b")];
            let message = |id| NewMessage {
                id,
                conversation_id: "conv_c1",
                role: "user",
                content: "same time",
                status: MessageStatus::Complete,
                request_id: None,
            };
            let batch: Vec<NewMessage<'_>> =
                if i % 3 == 0 { vec![message(&ids[0]), message(&ids[1])] } else { vec![message(&ids[0])] };
            store.insert_messages(&batch).await.map(|m| m.iter().map(|m| m.seq).collect::<Vec<i64>>())
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let batch = t.await.expect("task").expect("insert");
        if let [first, second] = batch[..] {
            assert_eq!(second, first + 1, "a pair is appended together");
        }
        seqs.extend(batch);
    }
    seqs.sort();
    assert_eq!(seqs, (0..16).collect::<Vec<i64>>());
    let stored = a.messages("conv_c1", 100, None).await.unwrap();
    assert_eq!(stored.data.iter().map(|m| m.seq).collect::<Vec<_>>(), (0..16).collect::<Vec<i64>>());
    // One append is one conversation's.
    a.create_conversation("conv_c2", "docs", None, &json!({})).await.unwrap();
    let mixed = [("msg_x1", "conv_c1"), ("msg_x2", "conv_c2")].map(|(id, conversation_id)| NewMessage {
        id,
        conversation_id,
        role: "user",
        content: "x",
        status: MessageStatus::Complete,
        request_id: None,
    });
    assert!(a.insert_messages(&mixed).await.is_err());
    assert!(a.message("msg_x1").await.unwrap().is_none(), "nothing of a refused append is stored");
}

/// `Store::transact` from many tasks at once, mixed with writes that take the write
/// turn themselves: each job commits or rolls back alone (a failing job leaves
/// nothing, its neighbours everything), and a job's result arrives after its commit.
pub async fn transactions(db: TestDb) {
    let store = db.store().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("conv_t{i:02}");
            if i % 7 == 3 {
                // The other write path, racing the jobs.
                return store.create_conversation(&id, "docs", None, &json!({})).await.map(|_| (id, None));
            }
            let job_id = id.clone();
            store
                .transact(move |tx| {
                    Box::pin(async move {
                        Store::create_conversation_in(tx, &job_id, "docs", None, &json!({"i": i})).await?;
                        let m = NewMessage {
                            id: &format!("msg_t{i:02}"),
                            conversation_id: &job_id,
                            role: "user",
                            content: "in the same transaction",
                            status: MessageStatus::Complete,
                            request_id: None,
                        };
                        Store::insert_messages_in(tx, &[m]).await?;
                        if i % 5 == 0 {
                            return Err(docent_server::store::StoreError::Corrupt {
                                what: "test job",
                                detail: "fails after writing".into(),
                            });
                        }
                        Ok((job_id, std::thread::current().name().map(str::to_string)))
                    })
                })
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let outcome = t.await.expect("task");
        let id = format!("conv_t{i:02}");
        let stored = store.conversation(&id).await.expect("read");
        if i % 7 != 3 && i % 5 == 0 {
            let err = outcome.expect_err("the job failed");
            assert!(err.to_string().contains("fails after writing"), "the job's own error: {err}");
            assert!(stored.is_none(), "a failed job's conversation was rolled back: {id}");
            assert!(store.message(&format!("msg_t{i:02}")).await.expect("read").is_none(), "and its message");
        } else {
            let (returned, thread) = outcome.expect("committed");
            assert_eq!(returned, id);
            assert!(stored.is_some(), "a job's write is visible once it returned: {id}");
            if i % 7 != 3 && db.backend == Backend::Sqlite {
                assert_eq!(thread.as_deref(), Some("docent-store-writer"), "SQLite jobs run on the write thread");
            }
        }
    }
    let committed = store.message("msg_t01").await.expect("read").expect("the message of a committed job");
    assert_eq!(committed.conversation_id, "conv_t01");

    // A job that panics after writing: an error for its caller, nothing stored, and
    // the next job still runs.
    let panicked = store
        .transact(|tx| {
            Box::pin(async move {
                Store::create_conversation_in(tx, "conv_panic", "docs", None, &json!({})).await?;
                std::hint::black_box(None::<()>).expect("a bug in a write job");
                Ok(())
            })
        })
        .await;
    assert!(
        matches!(panicked, Err(docent_server::store::StoreError::JobPanicked)),
        "the caller of a panicking job gets an error: {panicked:?}"
    );
    assert!(store.conversation("conv_panic").await.expect("read").is_none(), "its write was rolled back");
    let after = store
        .transact(|tx| {
            Box::pin(async move { Store::create_conversation_in(tx, "conv_after", "docs", None, &json!({})).await })
        })
        .await;
    assert!(after.is_ok(), "writes go on after a panicking job: {after:?}");
}

async fn json_of(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// A real server on this database, as a client uses it: a key, a streamed turn, the
/// conversation read back with its message, sources, citations and finish reason,
/// resume from the stored frames, a follow-up, cursor pages, DELETE, and a restart.
pub async fn chat_and_conversations_over_http(db: TestDb) {
    let url = db.url.clone();
    let tune = move |c: &mut docent_server::ServerConfig| {
        c.auth.required = true;
        c.database_url = Some(url.clone());
    };
    let s = support::start(Gen::Extractive, tune.clone()).await;
    assert_eq!(s.state.store.backend(), db.backend);
    let scopes = ["chat", "conversations:read", "admin"].map(String::from);
    let key =
        create_key(&s.state.store, KeyKind::Secret, "roundtrip", &["docs".into()], &scopes, &[]).await.unwrap().key;
    let question = "How many days do I have to get a refund on an annual plan?";

    let anonymous = s.post("/v1/chat", json!({"bot_id": "docs", "message": question})).await;
    assert_eq!(anonymous.status(), 401);

    // A streamed turn.
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .bearer_auth(&key)
        .json(&json!({"bot_id": "docs", "message": question, "stream": true, "user": {"id": "visitor_42"},
                      "metadata": {"page_url": "https://help.test/pricing"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let frames = SseReader::new(res).rest().await;
    assert_eq!(frames.first().map(|f| f.event.as_str()), Some("start"));
    assert_eq!(frames.last().map(|f| f.event.as_str()), Some("done"), "{frames:?}");
    let done = &frames[frames.len() - 1].data;
    assert_eq!(done["finish_reason"], "stop", "{done}");
    assert!(done["message"]["content"].as_str().unwrap_or("").contains("30 days"), "{done}");
    assert!(!done["citations"].as_array().expect("citations").is_empty(), "{done}");
    let conv = done["conversation_id"].as_str().expect("conversation id").to_string();
    let message_id = frames[0].data["message_id"].as_str().expect("message id").to_string();

    // Read it back.
    let get = |path: String| {
        let req = s.http.get(s.url(&path)).bearer_auth(&key);
        async move { json_of(req.send().await.unwrap()).await }
    };
    let (status, stored) = get(format!("/v1/conversations/{conv}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        (&stored["bot_id"], &stored["user"]["id"], &stored["state"]),
        (&json!("docs"), &json!("visitor_42"), &json!("open"))
    );
    assert_eq!(stored["metadata"]["page_url"], "https://help.test/pricing");
    let msgs = stored["messages"]["data"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{stored}");
    assert_eq!((&msgs[0]["role"], &msgs[0]["content"]), (&json!("user"), &json!(question)));
    let answer = &msgs[1];
    assert_eq!(answer["id"], message_id.as_str());
    assert_eq!(answer["content"], done["message"]["content"]);
    assert_eq!(answer["sources"], done["sources"]);
    assert_eq!(answer["citations"], done["citations"]);
    assert_eq!(answer["usage"], done["usage"]);
    assert_eq!(answer["timings"], done["timings"]);
    assert_eq!((&answer["finish_reason"], &answer["status"]), (&json!("stop"), &json!("complete")));
    // Messages in pages of one.
    let (_, page1) = get(format!("/v1/conversations/{conv}?limit=1")).await;
    assert_eq!(page1["messages"]["has_more"], true);
    let cursor = page1["messages"]["next_cursor"].as_str().expect("cursor").to_string();
    let (_, page2) = get(format!("/v1/conversations/{conv}?limit=1&cursor={cursor}")).await;
    assert_eq!(page2["messages"]["data"][0]["id"], message_id.as_str());
    assert_eq!(page2["messages"]["has_more"], false);

    // Resume from the stored frames: identical to what was streamed.
    let res = s
        .http
        .get(s.url(&format!("/v1/conversations/{conv}/messages/{message_id}/events")))
        .bearer_auth(&key)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(SseReader::new(res).rest().await, frames);

    // A follow-up uses the stored history.
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .bearer_auth(&key)
        .json(&json!({"bot_id": "docs", "conversation_id": conv, "message": "How long until the money arrives?"}))
        .send()
        .await
        .unwrap();
    let (status, follow) = json_of(res).await;
    assert_eq!(status, 200, "{follow}");
    assert_eq!(follow["conversation_id"], conv.as_str());
    let (_, stored) = get(format!("/v1/conversations/{conv}")).await;
    let seqs: Vec<&str> = stored["messages"]["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(seqs, ["user", "assistant", "user", "assistant"]);

    // Two more conversations, then cursor pages over the three.
    let mut ids = vec![conv.clone()];
    for q in ["How do I rotate API keys?", "How do I download an invoice?"] {
        let res = s
            .http
            .post(s.url("/v1/chat"))
            .bearer_auth(&key)
            .json(&json!({"bot_id": "docs", "message": q}))
            .send()
            .await;
        let (status, body) = json_of(res.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["conversation_id"].as_str().expect("id").to_string());
    }
    let (status, first) = get("/v1/conversations?bot_id=docs&limit=2".into()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!((first["data"].as_array().map(Vec::len), &first["has_more"]), (Some(2), &json!(true)));
    let cursor = first["next_cursor"].as_str().expect("next cursor").to_string();
    let (_, second) = get(format!("/v1/conversations?bot_id=docs&limit=2&cursor={cursor}")).await;
    assert_eq!((second["data"].as_array().map(Vec::len), &second["has_more"]), (Some(1), &json!(false)));
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    let mut listed: Vec<String> = first["data"]
        .as_array()
        .into_iter()
        .chain(second["data"].as_array())
        .flatten()
        .map(|c| c["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(listed[0], ids[2], "newest first");
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "each conversation once");

    // DELETE.
    let res = s.http.delete(s.url(&format!("/v1/conversations/{conv}"))).bearer_auth(&key).send().await.unwrap();
    let (status, deleted) = json_of(res).await;
    assert_eq!((status, &deleted["deleted"]), (200, &json!(true)), "{deleted}");
    assert_eq!(get(format!("/v1/conversations/{conv}")).await.0, 404);
    let again = s.http.delete(s.url(&format!("/v1/conversations/{conv}"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(again.status(), 404);
    let (_, left) = get("/v1/conversations?bot_id=docs&limit=10".into()).await;
    assert_eq!(left["data"].as_array().map(Vec::len), Some(2));

    // A restart on the same database keeps keys and conversations.
    let dir = s.dir.clone();
    s.stop().await;
    let s = support::start_in(dir, Gen::Extractive, tune).await;
    let remaining = ids.iter().find(|id| **id != conv).expect("one left").clone();
    let res = s.http.get(s.url(&format!("/v1/conversations/{remaining}"))).bearer_auth(&key).send().await.unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"]["data"].as_array().map(Vec::len), Some(2));
    s.stop().await;
}

fn hook<'a>(id: &'a str, events: &'a [String], origin: &'a str) -> docent_server::store::NewWebhook<'a> {
    docent_server::store::NewWebhook {
        id,
        bot_id: "docs",
        url: "https://hooks.example/in",
        events,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        origin,
    }
}

/// The outbox: events commit (or roll back) with their change, go only to matching
/// endpoints, keyed events are stored once, claims lease and fence, lists page.
pub async fn webhook_outbox(db: TestDb) {
    use docent_server::store::{AttemptRecord, AttemptVerdict, DeliveryState};
    use docent_server::webhooks::{conversation_started, Event, EventType};
    let store = db.store().await;
    let started = vec!["conversation.started".to_string()];
    let index = vec!["index.updated".to_string()];
    store.create_webhook(&hook("wh_a", &started, "api")).await.expect("endpoint a");
    store.create_webhook(&hook("wh_b", &index, "api")).await.expect("endpoint b");

    // Committed with the conversation: one delivery, to the endpoint that wants it.
    let mut tx = store.begin_write().await.expect("tx");
    let c = Store::create_conversation_in(&mut tx, "conv_w1", "docs", Some("u"), &json!({})).await.expect("insert");
    assert_eq!(tx.emit(&conversation_started(&c)).await.expect("emit"), 1);
    tx.commit().await.expect("commit");
    assert_eq!(store.pending_deliveries().await.expect("count"), 1);

    // Rolled back with it: neither the conversation nor its event exists.
    {
        let mut tx = store.begin_write().await.expect("tx");
        let c = Store::create_conversation_in(&mut tx, "conv_w2", "docs", None, &json!({})).await.expect("insert");
        tx.emit(&conversation_started(&c)).await.expect("emit");
        // Dropped without commit.
    }
    assert!(store.conversation("conv_w2").await.expect("read").is_none());
    assert_eq!(store.pending_deliveries().await.expect("count"), 1);

    // Another bot's event and an unsubscribed type queue nothing; a keyed event twice, once.
    assert_eq!(store.emit(&Event::new(EventType::ConversationStarted, "other", json!({}))).await.expect("emit"), 0);
    assert_eq!(store.emit(&Event::new(EventType::LeadCaptured, "docs", json!({}))).await.expect("emit"), 0);
    let gen = Event::with_key(EventType::IndexUpdated, "docs", "42", json!({"generation": 42}));
    assert_eq!(store.emit(&gen).await.expect("emit"), 1);
    assert_eq!(store.emit(&gen).await.expect("emit twice"), 0);
    assert_eq!(store.pending_deliveries().await.expect("count"), 2);

    // Claims lease: a second claim finds nothing while the lease runs.
    let claimed = store.claim_deliveries(10, 60_000).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.attempt == 1));
    assert!(store.claim_deliveries(10, 60_000).await.expect("claim").is_empty());
    let a = claimed.iter().find(|c| c.endpoint_id == "wh_a").expect("a").clone();
    let b = claimed.iter().find(|c| c.endpoint_id == "wh_b").expect("b").clone();
    let env: serde_json::Value = serde_json::from_str(&b.payload).expect("payload");
    assert_eq!((env["id"].as_str(), env["type"].as_str()), (Some(gen.id.as_str()), Some("index.updated")));

    // a: 503, retried at once; its second claim fences the first lease.
    let rec = |status| AttemptRecord { started_at: 1, duration_ms: 5, status: Some(status), error: Some("HTTP 503") };
    assert!(store.record_attempt(&a, &rec(503), AttemptVerdict::RetryAt(0)).await.expect("record"));
    let again = store.claim_deliveries(10, 60_000).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    assert!(!store.record_attempt(&a, &rec(200), AttemptVerdict::Delivered).await.expect("stale"), "fenced");
    assert!(store.record_attempt(&again[0], &rec(200), AttemptVerdict::Delivered).await.expect("record"));

    // b: its lease expires (a server died holding it): claimable again, the dead
    // worker's late record is refused.
    db.execute("UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE endpoint_id = 'wh_b'").await;
    let retaken = store.claim_deliveries(10, 60_000).await.expect("claim");
    assert_eq!(retaken.len(), 1);
    assert_eq!((retaken[0].endpoint_id.as_str(), retaken[0].attempt), ("wh_b", 2));
    assert!(!store.record_attempt(&b, &rec(200), AttemptVerdict::Delivered).await.expect("stale"));
    assert!(store.record_attempt(&retaken[0], &rec(400), AttemptVerdict::Failed).await.expect("record"));
    assert_eq!(store.pending_deliveries().await.expect("count"), 0);

    let da = store.deliveries("wh_a", 10, None).await.expect("list");
    assert_eq!(da.data.len(), 1);
    assert_eq!(da.data[0].state, DeliveryState::Delivered);
    let statuses: Vec<Option<i64>> = da.data[0].attempt_log.iter().map(|x| x.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(200)]);
    let db_ = store.deliveries("wh_b", 10, None).await.expect("list");
    assert_eq!(db_.data[0].state, DeliveryState::Failed);
    assert_eq!(db_.data[0].attempt_log.len(), 1, "the dead worker's attempt left no record");

    // Pages of endpoints; delete cascades to deliveries and attempts.
    let first = store.list_webhooks(Some("docs"), 1, None).await.expect("page");
    assert_eq!(first.data.len(), 1);
    let cursor = conversations_cursor(first.next_cursor.as_deref().expect("more")).expect("cursor");
    let second = store.list_webhooks(Some("docs"), 1, Some(cursor)).await.expect("page");
    assert_eq!(second.data.len(), 1);
    assert_ne!(first.data[0].id, second.data[0].id);
    assert!(second.next_cursor.is_none());
    assert!(store.delete_webhook("wh_a").await.expect("delete"));
    assert!(!store.delete_webhook("wh_a").await.expect("delete twice"));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_attempts WHERE endpoint_id = 'wh_a'").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = 'wh_a'").await, 0);

    // Config endpoints: synced by id, removed ones disabled (not sent to), API ones kept.
    store.sync_config_webhooks(&[hook("wh_cfg1", &started, "config")]).await.expect("sync");
    assert!(!store.webhook("wh_cfg1").await.expect("read").expect("there").disabled);
    store.sync_config_webhooks(&[]).await.expect("sync");
    assert!(store.webhook("wh_cfg1").await.expect("read").expect("kept").disabled);
    assert!(store.webhook_secret("wh_cfg1").await.expect("read").is_none());
    assert!(store.webhook("wh_b").await.expect("read").is_some_and(|w| !w.disabled));
}

/// Two stores (two servers) claiming from one outbox at once never take the same delivery.
pub async fn webhook_claims_are_exclusive(db: TestDb) {
    use docent_server::webhooks::{Event, EventType};
    let one = db.store().await;
    let two = db.store().await;
    let events = vec!["lead.captured".to_string()];
    one.create_webhook(&hook("wh_c", &events, "api")).await.expect("endpoint");
    for i in 0..40 {
        one.emit(&Event::new(EventType::LeadCaptured, "docs", json!({"n": i}))).await.expect("emit");
    }
    let claim = |s: Store| async move {
        let mut got = Vec::new();
        loop {
            let batch = s.claim_deliveries(3, 60_000).await.expect("claim");
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|c| c.event_id));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claim(one.clone())), tokio::spawn(claim(two.clone())));
    let (a, b) = (a.expect("task"), b.expect("task"));
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(all.len(), 40, "every delivery claimed once: {} + {}", a.len(), b.len());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "no delivery claimed twice");
}

/// Handoff state changes fire once; leads and feedback (replaced, not duplicated)
/// round-trip with their events; deleting a conversation removes its feedback and
/// unlinks its leads; remembered idempotent responses are found, refused twice, expire.
pub async fn handoff_leads_feedback_idempotency(db: TestDb) {
    use docent_server::handoff::{give_back, hand_off_in};
    use docent_server::store::{IdempotencySlot, NewFeedback, NewLead, RememberedResponse};
    use docent_server::webhooks::{feedback_received, lead_captured, HandoffTrigger};
    let store = db.store().await;
    let events: Vec<String> =
        ["conversation.handoff", "lead.captured", "feedback.received"].iter().map(|s| s.to_string()).collect();
    store.create_webhook(&hook("wh_l", &events, "api")).await.expect("endpoint");
    store.create_conversation("conv_l1", "docs", Some("visitor_1"), &json!({})).await.expect("conversation");
    store.insert_message(&user("msg_l1q", "conv_l1", "hello")).await.expect("question");
    store.insert_message(&streaming("msg_l1a", "conv_l1")).await.expect("answer");

    // Handoff: once (a second request changes nothing, fires nothing), then back.
    let mut tx = store.begin_write().await.expect("tx");
    let c = hand_off_in(&mut tx, "conv_l1", Some("billing"), HandoffTrigger::Api).await.expect("hand off");
    tx.commit().await.expect("commit");
    let c = c.expect("it was open");
    assert_eq!((c.state, c.user_id.as_deref()), (ConversationState::Handoff, Some("visitor_1")));
    let mut tx = store.begin_write().await.expect("tx");
    assert!(hand_off_in(&mut tx, "conv_l1", None, HandoffTrigger::Api).await.expect("again").is_none());
    assert!(hand_off_in(&mut tx, "conv_nope", None, HandoffTrigger::Api).await.expect("unknown").is_none());
    tx.commit().await.expect("commit");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'conversation.handoff'").await, 1);
    assert_eq!(store.conversation("conv_l1").await.expect("read").expect("there").state, ConversationState::Handoff);
    assert_eq!(
        give_back(&store, "conv_l1").await.expect("give back").expect("was handed off").state,
        ConversationState::Open
    );
    assert!(give_back(&store, "conv_l1").await.expect("again").is_none());

    // A lead, with its event, in one transaction; a rolled-back one leaves nothing.
    let lead = NewLead {
        id: "lead_1",
        bot_id: "docs",
        conversation_id: Some("conv_l1"),
        name: Some("Ada Lovelace"),
        email: Some("ada@example.com"),
        phone: Some("+15550100199"),
    };
    let mut tx = store.begin_write().await.expect("tx");
    let stored = Store::insert_lead_in(&mut tx, &lead).await.expect("lead");
    tx.emit(&lead_captured(&stored)).await.expect("emit");
    tx.commit().await.expect("commit");
    assert_eq!(store.lead("lead_1").await.expect("read"), Some(stored.clone()));
    {
        let mut tx = store.begin_write().await.expect("tx");
        let other = Store::insert_lead_in(&mut tx, &NewLead { id: "lead_2", ..lead.clone() }).await.expect("lead");
        tx.emit(&lead_captured(&other)).await.expect("emit");
    }
    assert!(store.lead("lead_2").await.expect("read").is_none());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'lead.captured'").await, 1);

    // Feedback: the second replaces the first (one row), each fires.
    for (rating, comment, replaced) in [("up", Some("great"), false), ("down", None, true)] {
        let mut tx = store.begin_write().await.expect("tx");
        let f = NewFeedback { message_id: "msg_l1a", conversation_id: "conv_l1", bot_id: "docs", rating, comment };
        let (fb, was) = Store::put_feedback_in(&mut tx, &f).await.expect("feedback");
        assert_eq!(was, replaced);
        tx.emit(&feedback_received(&fb, was)).await.expect("emit");
        tx.commit().await.expect("commit");
    }
    let fb = store.feedback("msg_l1a").await.expect("read").expect("there");
    assert_eq!((fb.rating.as_str(), fb.comment.as_deref()), ("down", None));
    assert!(fb.updated_at >= fb.created_at);
    assert_eq!(store.conversation_feedback("conv_l1").await.expect("read").len(), 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM message_feedback").await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'feedback.received'").await, 2);

    // Deleting the conversation removes its feedback; the lead stays, unlinked.
    assert!(store.delete_conversation("conv_l1").await.expect("delete"));
    assert!(store.feedback("msg_l1a").await.expect("read").is_none());
    let kept = store.lead("lead_1").await.expect("read").expect("kept");
    assert_eq!((kept.conversation_id, kept.email.as_deref()), (None, Some("ada@example.com")));

    // Idempotency: remembered in the creating transaction, found, refused a second
    // time while live, replaced once expired, purged.
    let slot = IdempotencySlot { caller: "key_a", route: "POST /v1/leads", key: "k-1" };
    let response = RememberedResponse { request_hash: "h1".into(), status: 201, body: "{\"id\":\"lead_1\"}".into() };
    let mut tx = store.begin_write().await.expect("tx");
    assert!(Store::remember_response_in(&mut tx, slot, &response, 0).await.expect("remember"));
    tx.commit().await.expect("commit");
    assert_eq!(store.remembered_response(slot, 0).await.expect("read"), Some(response.clone()));
    let other_caller = IdempotencySlot { caller: "key_b", ..slot };
    assert!(store.remembered_response(other_caller, 0).await.expect("read").is_none(), "per caller");
    let mut tx = store.begin_write().await.expect("tx");
    let second = RememberedResponse { request_hash: "h2".into(), ..response.clone() };
    assert!(!Store::remember_response_in(&mut tx, slot, &second, 0).await.expect("taken"));
    drop(tx);
    let future = i64::MAX / 2;
    assert!(store.remembered_response(slot, future).await.expect("read").is_none(), "expired entries are not found");
    let mut tx = store.begin_write().await.expect("tx");
    assert!(Store::remember_response_in(&mut tx, slot, &second, future).await.expect("replace expired"));
    tx.commit().await.expect("commit");
    assert_eq!(store.remembered_response(slot, 0).await.expect("read").expect("there").request_hash, "h2");
    assert_eq!(store.purge_idempotency_keys(future).await.expect("purge"), 1);
    assert!(store.remembered_response(slot, 0).await.expect("read").is_none());
}
