//! The store on SQLite (the default back end): the shared suite of
//! `store_suite/`, which `tests/postgres.rs` runs against PostgreSQL.

mod store_suite;
mod support;

use store_suite::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_and_messages() {
    store_suite::conversations_and_messages(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pagination() {
    store_suite::cursor_pagination(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cascades() {
    store_suite::delete_cascades(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys() {
    store_suite::api_keys(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_twice_and_recovery() {
    store_suite::migrations_twice_and_recovery(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_nul_characters() {
    store_suite::text_with_nul_characters(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends() {
    store_suite::concurrent_appends(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_conversations_over_http() {
    store_suite::chat_and_conversations_over_http(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_outbox() {
    store_suite::webhook_outbox(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_claims_are_exclusive() {
    store_suite::webhook_claims_are_exclusive(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_leads_feedback_idempotency() {
    store_suite::handoff_leads_feedback_idempotency(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions() {
    store_suite::transactions(TestDb::sqlite()).await;
}
