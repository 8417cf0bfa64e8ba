//! Follow-up query building on a tiny real index: the earlier turn supplies the topic
//! a short follow-up lacks, the current turn still wins when the subject changes, and
//! an empty history is a plain search.

mod common;

use common::{publish, retriever, sample_pages};
use docent_index::BotDir;
use docent_retrieval::{build_followup_query, SearchMode, SearchRequest};

const MODES: [SearchMode; 3] = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];
const RETRIES: &str = "https://help.test/api/webhooks#retries";

#[test]
fn history_finds_what_the_follow_up_alone_cannot_and_a_topic_switch_keeps_its_own_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish(&bot, &sample_pages());
    let r = retriever(&bot);
    let history = ["Are failed webhook deliveries retried?"];
    for mode in MODES {
        let req = SearchRequest::new("For how many days?").with_k(3).with_mode(mode);
        let with = r.search_with_history(&req, &history).expect("with history");
        assert_eq!(with.hits.first().map(|h| h.url.as_str()), Some(RETRIES), "{mode}: {:?}", urls(&with.hits));
        let without = r.search(&req).expect("without history");
        let rank_without = without.hits.iter().position(|h| h.url == RETRIES);
        assert_ne!(rank_without, Some(0), "{mode}: the follow-up alone should not already find it first");

        // A new subject: the current turn's page stays on top.
        let switch = SearchRequest::new("How do I reset my password?").with_k(3).with_mode(mode);
        let resp = r.search_with_history(&switch, &history).expect("switch");
        assert_eq!(
            resp.hits.first().map(|h| h.doc_id.as_str()),
            Some("https://help.test/security/passwords"),
            "{mode}: {:?}",
            urls(&resp.hits)
        );

        // No history: exactly the plain search.
        let plain = r.search(&switch).expect("plain");
        let empty = r.search_with_history(&switch, &[]).expect("empty history");
        assert_eq!(urls(&plain.hits), urls(&empty.hits), "{mode}");
    }
}

#[test]
fn a_plan_of_blank_history_is_plain_and_filters_still_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    publish(&bot, &sample_pages());
    let r = retriever(&bot);
    assert!(build_followup_query(&["  "], "refunds").is_plain());
    let mut req = SearchRequest::new("For how many days?").with_k(5);
    req.filters.url_prefix = Some("https://help.test/billing/".into());
    let resp = r.search_with_history(&req, &["Are failed webhook deliveries retried?"]).expect("search");
    assert!(!resp.hits.is_empty());
    assert!(resp.hits.iter().all(|h| h.doc_id.starts_with("https://help.test/billing/")), "{:?}", urls(&resp.hits));
}

fn urls(hits: &[docent_retrieval::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.url.clone()).collect()
}
