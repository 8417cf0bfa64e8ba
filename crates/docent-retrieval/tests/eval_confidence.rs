//! The "no answer" confidence on a tiny real index: on-topic questions are answerable,
//! off-topic ones are not, in every mode, and the features behave as documented.

mod common;

use common::{publish, retriever, sample_pages};
use docent_index::BotDir;
use docent_retrieval::{Confidence, SearchMode, SearchRequest, SearchResponse};

const MODES: [SearchMode; 3] = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];

const ON_TOPIC: &[&str] = &[
    "When do refunds reach my card?",
    "How do I rotate my API keys?",
    "How often are failed webhook deliveries retried?",
];
const OFF_TOPIC: &[&str] = &[
    "What's the weather in Paris today?",
    "Who won the football world cup in 1998?",
    "Recommend a good lasagna recipe",
];

#[test]
fn off_topic_questions_are_not_answerable_and_on_topic_ones_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish(&bot, &sample_pages());
    let r = retriever(&bot);
    let search = |q: &str, mode| -> SearchResponse {
        r.search(&SearchRequest::new(q).with_k(5).with_mode(mode)).unwrap_or_else(|e| panic!("{q}: {e}"))
    };
    for mode in MODES {
        let mut lowest_on = f32::INFINITY;
        let mut highest_off = f32::NEG_INFINITY;
        for q in ON_TOPIC {
            let c = search(q, mode).confidence;
            assert!(c.answerable, "{mode}: {q:?} should be answerable: {c:?}");
            lowest_on = lowest_on.min(c.score);
        }
        for q in OFF_TOPIC {
            let c = search(q, mode).confidence;
            assert!(!c.answerable, "{mode}: {q:?} should not be answerable: {c:?}");
            highest_off = highest_off.max(c.score);
        }
        assert!(lowest_on > highest_off, "{mode}: scores overlap ({lowest_on} ≤ {highest_off})");
    }
}

#[test]
fn features_follow_the_retrievers_that_ran_and_empty_searches_have_no_confidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish(&bot, &sample_pages());
    let r = retriever(&bot);
    let get = |q: &str, mode| r.search(&SearchRequest::new(q).with_k(5).with_mode(mode)).expect("search").confidence;

    let bm25 = get("refund window", SearchMode::Bm25).features;
    assert!(bm25.bm25_norm.is_some_and(|x| x > 0.0) && bm25.dense_top.is_none() && bm25.dense_gap.is_none());
    let dense = get("refund window", SearchMode::Dense).features;
    assert!(dense.bm25_norm.is_none() && dense.dense_top.is_some_and(|x| x > 0.3));
    let hybrid = get("refund window", SearchMode::Hybrid).features;
    assert!(hybrid.bm25_norm.is_some() && hybrid.dense_top.is_some() && hybrid.dense_gap.is_some());
    assert_eq!(hybrid.dense_top, dense.dense_top, "same query vector, same best cosine");

    // Words the index has never seen: nothing known, nothing covered.
    let unknown = get("zxqvw blorfting quuxly", SearchMode::Hybrid);
    assert_eq!(unknown.features.known, 0.0);
    assert_eq!(unknown.features.coverage, 0.0);
    assert!(!unknown.answerable);
    // Half the IDF mass unknown: strictly between.
    let half = get("refund zxqvw", SearchMode::Hybrid).features;
    assert!(half.known > 0.0 && half.known < 1.0, "{half:?}");

    // No search, no confidence.
    for q in ["", "   "] {
        assert_eq!(get(q, SearchMode::Hybrid), Confidence::none());
    }
    assert_eq!(r.search(&SearchRequest::new("refunds").with_k(0)).expect("k=0").confidence, Confidence::none());

    // It is part of the JSON response.
    let resp = r.search(&SearchRequest::new("refunds").with_k(3)).expect("search");
    let json = serde_json::to_value(&resp).expect("json");
    assert!(json["confidence"]["score"].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)), "{json}");
    assert!(json["confidence"]["answerable"].is_boolean());
}
