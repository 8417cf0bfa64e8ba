//! Retrieval over real generations (real model, hand-made pages): hit contents, hostile
//! and empty queries, empty index, filters, diversity, duplicates, model checks.

mod common;

use common::{publish, publish_with_model, retriever, sample_pages, Page};
use docent_index::{BotDir, Embedder, ModelInfo};
use docent_retrieval::{
    Filters, FusionConfig, Parallelism, RetrievalError, Retriever, RetrieverConfig, SearchMode, SearchRequest, MAX_K,
};

const MODES: [SearchMode; 3] = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];

struct Fixture {
    _dir: tempfile::TempDir,
    bot: BotDir,
    retriever: Retriever,
}

fn fixture(pages: &[Page]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish(&bot, pages);
    let retriever = retriever(&bot);
    Fixture { _dir: dir, bot, retriever }
}

fn search(r: &Retriever, query: &str, k: usize, mode: SearchMode) -> docent_retrieval::SearchResponse {
    r.search(&SearchRequest::new(query).with_k(k).with_mode(mode)).unwrap_or_else(|e| panic!("{mode} {query:?}: {e}"))
}

#[test]
fn hits_carry_text_title_url_heading_path_and_score_breakdown() {
    let f = fixture(&sample_pages());
    for mode in MODES {
        let r = search(&f.retriever, "how many days do I have to ask for a refund on an annual plan?", 3, mode);
        assert_eq!(r.mode, mode);
        assert!(!r.hits.is_empty(), "{mode}: no hits");
        let top = &r.hits[0];
        assert_eq!(top.url, "https://help.test/billing/refunds#refund-window", "{mode}: {:#?}", r.hits);
        assert_eq!(top.title, "Refunds");
        assert_eq!(top.heading_path, vec!["Refunds", "Refund window"]);
        assert_eq!(top.doc_id, "https://help.test/billing/refunds");
        assert!(top.text.contains("30 days"));
        assert_eq!(top.tags, vec!["billing"]);
        assert_eq!(top.ranks.fused, 1);
        assert_eq!(top.scores.rerank, None);
        assert_eq!(top.scores.bm25.is_some(), mode.uses_bm25());
        assert_eq!(top.scores.dense.is_some(), mode.uses_dense());
        assert_eq!(top.ranks.bm25.is_some(), mode.uses_bm25());
        for (i, h) in r.hits.iter().enumerate() {
            assert_eq!(h.ranks.fused, i + 1);
        }
        for w in r.hits.windows(2) {
            assert!(w[0].scores.fused >= w[1].scores.fused, "{mode}: not sorted by fused score");
        }
        assert_eq!(r.top_dense_cosine.is_some(), mode.uses_dense());
        assert!(r.timings.total_ms >= r.timings.bm25_ms);
    }
    // The JSON shape the CLI and the API print.
    let r = search(&f.retriever, "rotate api keys", 2, SearchMode::Hybrid);
    let json = serde_json::to_value(&r).expect("json");
    let hit = &json["hits"][0];
    for key in ["url", "title", "heading_path", "text", "scores", "ranks"] {
        assert!(!hit[key].is_null(), "missing {key} in {hit}");
    }
    for key in ["bm25", "dense", "fused", "rerank"] {
        assert!(hit["scores"].get(key).is_some(), "missing scores.{key}");
    }
    for key in ["embed_ms", "bm25_ms", "dense_ms", "fuse_ms", "total_ms"] {
        assert!(json["timings"][key].is_number(), "missing timings.{key}");
    }
    assert!(json["generation"].is_u64());
}

#[test]
fn hybrid_rrf_scores_are_the_sum_of_reciprocal_ranks() {
    let f = fixture(&sample_pages());
    let mut req = SearchRequest::new("webhook signing secret").with_k(5).with_max_per_doc(0);
    req.fusion = Some(FusionConfig::Rrf { k: 60.0 });
    let r = f.retriever.search(&req).expect("search");
    for h in &r.hits {
        let want = h.ranks.bm25.map_or(0.0, |r| 1.0 / (60.0 + r as f32))
            + h.ranks.dense.map_or(0.0, |r| 1.0 / (60.0 + r as f32));
        assert!((h.scores.fused - want).abs() < 1e-6, "{h:?}");
    }
    req.fusion = Some(FusionConfig::Weighted { bm25: 0.5, dense: 0.5 });
    let r = f.retriever.search(&req).expect("search");
    assert!(r.hits.iter().all(|h| (0.0..=1.0 + 1e-6).contains(&h.scores.fused)));
    assert_eq!(r.hits[0].heading_path[1], "Signing secret");
}

#[test]
fn title_matches_are_boosted_over_body_matches() {
    let pages = vec![
        Page::new("https://t/a", "Zebra crossing", &[("Intro", "A page about road markings and safe streets.")]),
        Page::new("https://t/b", "Road markings", &[("Intro", "A page about zebra markings and safe streets.")]),
    ];
    let f = fixture(&pages);
    let r = search(&f.retriever, "zebra", 2, SearchMode::Bm25);
    assert_eq!(r.hits.len(), 2);
    assert_eq!(r.hits[0].doc_id, "https://t/a", "title match should win: {:?}", r.hits);
}

#[test]
fn stop_words_do_not_drown_rare_terms_but_still_search_alone() {
    let pages = vec![
        Page::new(
            "https://t/chatty",
            "What is it for",
            &[(
                "What does it do",
                "What is it? What does it do, and how do you do it? What is it for, and who is it for?",
            )],
        ),
        Page::new("https://t/wcag", "Accessibility", &[("Conformance", "We target WCAG 2.2 level AA conformance.")]),
    ];
    let f = fixture(&pages);
    let r = search(&f.retriever, "What level of WCAG is it for?", 2, SearchMode::Bm25);
    assert_eq!(r.hits[0].doc_id, "https://t/wcag", "{:?}", r.hits);
    // Only stop words: they are searched after all.
    let r = search(&f.retriever, "what is it for", 2, SearchMode::Bm25);
    assert_eq!(r.hits.first().map(|h| h.doc_id.as_str()), Some("https://t/chatty"));
}

fn hostile_queries() -> Vec<String> {
    let mut q: Vec<String> = [
        "\"refund window\"",
        "\"unbalanced quote",
        "title:refund",
        "url:https://help.test/billing body:",
        "refund: window:: :::",
        "(refund) [window] {days}",
        "((((((",
        "]]]]",
        "AND",
        "OR NOT AND",
        "refund AND NOT window OR",
        "NOT",
        "*",
        "refund*",
        "?",
        "refund~2",
        "window^10",
        "+refund -window",
        "!refund",
        "\\",
        "\\\"\\",
        "'",
        "`rm -rf /`",
        "<script>alert(1)</script>",
        "SELECT * FROM chunks; --",
        "🙂",
        "refund 🙂🔥💸 window",
        "👨‍👩‍👧‍👦",
        "\u{0}",
        "refund\u{0}window",
        "\u{1}\u{2}\u{7}\u{1b}[31m\u{7f}",
        "مرحبا بالعالم",
        "\u{202E}dnufer\u{202C}",
        "שלום refund",
        "\u{200B}\u{200D}\u{FEFF}",
        "e\u{301}\u{301}\u{301}",
        "\u{FFFD}\u{FFFF}",
        "退款 窗口",
        "ｒｅｆｕｎｄ",
        "   refund   ",
        "\n\t\r",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    q.push("refund window days ".repeat(600)); // ~11 kB of words
    q.push("ab cd ef gh ".repeat(1000)); // 12 kB, few distinct terms
    q.push((0..2500).map(|i| format!("w{i} ")).collect()); // ~15 kB, 2 500 distinct terms
    q.push("*:()[]{}\"'^~!&|\\/".repeat(700)); // 12 kB of syntax
    q.push("a".repeat(100_000)); // one enormous token
    q.push("🙂".repeat(3000));
    q
}

#[test]
fn hostile_query_strings_never_error() {
    let f = fixture(&sample_pages());
    for q in hostile_queries() {
        for mode in MODES {
            let r = f.retriever.search(&SearchRequest::new(q.clone()).with_k(5).with_mode(mode));
            let r = r.unwrap_or_else(|e| panic!("{mode} {:?}: {e}", q.chars().take(40).collect::<String>()));
            assert!(r.hits.len() <= 5);
        }
    }
    // Syntax is text: the quoted query finds what the words find.
    let quoted = search(&f.retriever, "\"refund window\" AND title:(refunds)", 1, SearchMode::Bm25);
    assert_eq!(quoted.hits[0].url, "https://help.test/billing/refunds#refund-window");
    // A 10 kB paste still searches (the term cap bounds the query).
    let long = search(&f.retriever, &"refund window days ".repeat(600), 3, SearchMode::Hybrid);
    assert!(!long.hits.is_empty());
}

#[test]
fn empty_queries_give_no_hits_not_errors() {
    let f = fixture(&sample_pages());
    for q in ["", "   ", "\n\t", "\u{0}\u{0}"] {
        for mode in MODES {
            let r = search(&f.retriever, q, 5, mode);
            assert!(r.hits.is_empty(), "{mode} {q:?} gave hits");
        }
    }
    // Nothing tokenizes: BM25 has no terms, no error.
    for q in ["!!! ??? :::", "🙂🙂", "*"] {
        let r = search(&f.retriever, q, 5, SearchMode::Bm25);
        assert!(r.hits.is_empty(), "{q:?} gave BM25 hits");
    }
    let r = search(&f.retriever, "refund", 0, SearchMode::Hybrid);
    assert!(r.hits.is_empty());
}

#[test]
fn an_empty_index_returns_no_hits() {
    let f = fixture(&[]);
    assert_eq!(f.retriever.snapshot().chunk_count(), 0);
    for mode in MODES {
        let r = search(&f.retriever, "refund window", 5, mode);
        assert!(r.hits.is_empty());
        assert_eq!(r.generation, 1);
    }
    let mut req = SearchRequest::new("x");
    req.filters.tags = vec!["billing".into()];
    assert!(f.retriever.search(&req).expect("search").hits.is_empty());
}

#[test]
fn url_prefix_and_tag_filters_apply_before_the_top_k_cut() {
    let f = fixture(&sample_pages());
    let query = "refund window for annual plans";
    for mode in MODES {
        // The best matches are billing pages; restricted to /api/ we still get k hits, all in /api/.
        let mut req = SearchRequest::new(query).with_k(4).with_mode(mode).with_max_per_doc(0);
        req.filters = Filters { url_prefix: Some("https://help.test/api/".into()), tags: vec![] };
        let r = f.retriever.search(&req).expect("search");
        if mode != SearchMode::Bm25 {
            assert_eq!(r.hits.len(), 4, "{mode}: filter starved the list: {:?}", r.hits);
        }
        assert!(r.hits.iter().all(|h| h.doc_id.starts_with("https://help.test/api/")), "{mode}: {:?}", r.hits);

        // Tags: any-of, case-insensitive. (The refunds page is the best match of the words.)
        let mut req = SearchRequest::new("refund window billing").with_k(4).with_mode(mode).with_max_per_doc(0);
        req.filters = Filters { url_prefix: None, tags: vec!["INVOICING".into(), "nope".into()] };
        let r = f.retriever.search(&req).expect("search");
        assert!(!r.hits.is_empty(), "{mode}");
        assert!(r.hits.iter().all(|h| h.doc_id == "https://help.test/billing/invoices"), "{mode}: {:?}", r.hits);

        req.filters = Filters { url_prefix: None, tags: vec!["api".into(), "billing".into()] };
        let r = f.retriever.search(&req).expect("search");
        assert!(r.hits.iter().all(|h| h.tags.iter().any(|t| t == "api" || t == "billing")));

        // Both: intersection.
        req.filters = Filters { url_prefix: Some("https://help.test/billing/".into()), tags: vec!["invoicing".into()] };
        let r = f.retriever.search(&req).expect("search");
        assert!(r.hits.iter().all(|h| h.doc_id == "https://help.test/billing/invoices"));

        // Nothing matches: no hits, no error.
        req.filters = Filters { url_prefix: Some("https://elsewhere/".into()), tags: vec![] };
        assert!(f.retriever.search(&req).expect("search").hits.is_empty());
        req.filters = Filters { url_prefix: None, tags: vec!["unknown-tag".into()] };
        assert!(f.retriever.search(&req).expect("search").hits.is_empty());
    }
    // The prefix is on the page URL: a whole-site prefix keeps everything.
    let mut req = SearchRequest::new(query).with_k(50).with_max_per_doc(0);
    let all = f.retriever.search(&req).expect("search").hits.len();
    req.filters.url_prefix = Some("https://help.test/".into());
    assert_eq!(f.retriever.search(&req).expect("search").hits.len(), all);
}

#[test]
fn at_most_n_chunks_per_page() {
    let f = fixture(&sample_pages());
    let query = "password reset";
    let per_page = |hits: &[docent_retrieval::Hit]| {
        hits.iter().filter(|h| h.doc_id == "https://help.test/security/passwords").count()
    };
    for mode in MODES {
        let r = f.retriever.search(&SearchRequest::new(query).with_k(5).with_mode(mode)).expect("search");
        assert_eq!(per_page(&r.hits), 2, "{mode}: default diversity is 2 per page: {:?}", r.hits);
        if mode != SearchMode::Bm25 {
            // (No other page has these words, so BM25 has nothing else to offer.)
            assert_eq!(r.hits.len(), 5, "{mode}: other pages fill the list");
        }
        let r = f
            .retriever
            .search(&SearchRequest::new(query).with_k(5).with_mode(mode).with_max_per_doc(1))
            .expect("search");
        assert_eq!(per_page(&r.hits), 1, "{mode}");
        let r = f
            .retriever
            .search(&SearchRequest::new(query).with_k(5).with_mode(mode).with_max_per_doc(0))
            .expect("search");
        assert!(per_page(&r.hits) >= 4, "{mode}: unlimited should let the page dominate: {:?}", r.hits);
    }
}

#[test]
fn duplicate_and_near_duplicate_chunks_are_shown_once() {
    let mut pages = sample_pages();
    // Invoices and Webhooks share a footer (same text, other page: another hash). A third
    // copy differs by one word and punctuation (near-identical). Two FAQ pages have the
    // very same embedded text (same hash).
    pages.push(Page::new(
        "https://help.test/account/profile",
        "Profile",
        &[(
            "Shared footer",
            "Need more help? Contact our support team by email, at any time: we answer within one business day, promise!",
        )],
    ));
    let faq = "Our office hours for phone support are nine to five, Monday to Friday.";
    pages.push(Page::new("https://help.test/a/faq", "FAQ", &[("Office hours", faq)]));
    pages.push(Page::new("https://help.test/b/faq", "FAQ", &[("Office hours", faq)]));
    let f = fixture(&pages);
    let count = |r: &Retriever, query: &str, mode: SearchMode, prefix: &str| {
        let req = SearchRequest::new(query).with_k(8).with_mode(mode).with_max_per_doc(0);
        let hits = r.search(&req).expect("search").hits;
        hits.iter().filter(|h| h.text.starts_with(prefix)).count()
    };
    for mode in MODES {
        assert_eq!(count(&f.retriever, "contact support team by email", mode, "Need more help?"), 1, "{mode}");
        assert_eq!(count(&f.retriever, "phone support office hours", mode, "Our office hours"), 1, "{mode}");
    }
    // With the text check off, only identical chunks (same hash) are merged.
    let exact_only = Retriever::open_with(
        &f.bot,
        common::query_embedder(),
        RetrieverConfig { near_duplicate: 2.0, ..RetrieverConfig::default() },
    )
    .expect("open");
    for mode in MODES {
        assert_eq!(count(&exact_only, "contact support team by email", mode, "Need more help?"), 3, "{mode}");
        assert_eq!(count(&exact_only, "phone support office hours", mode, "Our office hours"), 1, "{mode}");
    }
}

#[test]
fn equivalent_queries_hit_the_embedding_cache() {
    let f = fixture(&sample_pages());
    let q1 = "Where do I download my invoices as PDF? (cache test)";
    let r1 = search(&f.retriever, q1, 3, SearchMode::Dense);
    let r2 = search(&f.retriever, "  where do i DOWNLOAD my invoices as pdf?   (cache   test) ", 3, SearchMode::Dense);
    assert!(!r1.timings.embed_cached);
    assert!(r2.timings.embed_cached);
    assert_eq!(r1.hits, r2.hits);
}

#[test]
fn out_of_range_parameters_are_typed_errors() {
    let f = fixture(&sample_pages());
    let err = f.retriever.search(&SearchRequest::new("refund").with_k(MAX_K + 1)).unwrap_err();
    assert!(matches!(err, RetrievalError::InvalidRequest(_)), "{err}");
    let mut req = SearchRequest::new("refund");
    req.fusion = Some(FusionConfig::Weighted { bm25: -1.0, dense: 1.0 });
    assert!(matches!(f.retriever.search(&req), Err(RetrievalError::InvalidRequest(_))));
}

#[test]
fn an_index_built_by_another_model_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    let ours = Embedder::model_info();
    let other = ModelInfo { id: "sentence-transformers/all-mpnet-base-v2".into(), ..ours.clone() };
    publish_with_model(&bot, &sample_pages()[..2], other, None);
    let err = Retriever::open_with(&bot, common::query_embedder(), RetrieverConfig::default()).unwrap_err();
    match &err {
        RetrievalError::ModelMismatch { index_model, query_model, generation, .. } => {
            assert_eq!(index_model, "sentence-transformers/all-mpnet-base-v2");
            assert_eq!(query_model, &ours.id);
            assert_eq!(*generation, 1);
        }
        e => panic!("expected a model mismatch, got {e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("all-mpnet-base-v2") && msg.contains(&ours.id) && msg.contains("docent ingest"), "{msg}");

    // Same id, other dimension.
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish_with_model(&bot, &sample_pages()[..1], ModelInfo { dim: 8, ..ours.clone() }, Some(8));
    let err = Retriever::open_with(&bot, common::query_embedder(), RetrieverConfig::default()).unwrap_err();
    assert!(matches!(err, RetrievalError::ModelMismatch { index_dim: 8, query_dim: 384, .. }), "{err}");
}

#[test]
fn a_reload_to_another_models_generation_is_refused_and_the_old_one_keeps_serving() {
    let f = fixture(&sample_pages());
    let other = ModelInfo { id: "some-other-model".into(), ..Embedder::model_info() };
    publish_with_model(&f.bot, &sample_pages(), other, None);
    let err = f.retriever.reload_if_changed().unwrap_err();
    assert!(matches!(err, RetrievalError::ModelMismatch { generation: 2, .. }), "{err}");
    assert_eq!(f.retriever.generation(), 1);
    let r = search(&f.retriever, "refund window", 3, SearchMode::Hybrid);
    assert_eq!(r.generation, 1);
    assert!(!r.hits.is_empty());
}

#[test]
fn a_bot_without_an_index_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    let err = Retriever::open_with(&bot, common::query_embedder(), RetrieverConfig::default()).unwrap_err();
    assert!(err.to_string().contains("docent ingest"), "{err}");
}

#[test]
fn parallel_hybrid_search_returns_what_the_serial_one_does() {
    let f = fixture(&sample_pages());
    let open = |parallel| {
        Retriever::open_with(
            &f.bot,
            common::query_embedder(),
            RetrieverConfig { parallel, ..RetrieverConfig::default() },
        )
        .expect("open")
    };
    let parallel = open(Parallelism::Parallel);
    // The threshold is the snapshot's chunk count: from it on, side by side.
    let chunks = f.retriever.snapshot().chunk_count();
    let from_here = open(Parallelism::FromChunks(chunks));
    let above = open(Parallelism::FromChunks(chunks + 1));
    for query in ["refund on an annual plan", "rotate API keys", "\"quotes\" AND (brackets) *"] {
        for mode in [SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Dense] {
            let a = search(&f.retriever, query, 5, mode);
            let b = search(&parallel, query, 5, mode);
            let both_halves = mode == SearchMode::Hybrid;
            assert!(!a.timings.bm25_parallel, "the default runs a small index serially");
            assert_eq!(b.timings.bm25_parallel, both_halves, "{mode}");
            assert_eq!(search(&from_here, query, 5, mode).timings.bm25_parallel, both_halves, "{mode}");
            assert!(!search(&above, query, 5, mode).timings.bm25_parallel, "{mode}");
            let urls = |r: &docent_retrieval::SearchResponse| r.hits.iter().map(|h| h.url.clone()).collect::<Vec<_>>();
            assert_eq!(urls(&a), urls(&b), "{mode} {query:?}");
            assert_eq!(
                a.hits.iter().map(|h| h.scores).collect::<Vec<_>>(),
                b.hits.iter().map(|h| h.scores).collect::<Vec<_>>()
            );
            assert_eq!(a.confidence, b.confidence, "{mode} {query:?}");
        }
    }
}
