//! The store on PostgreSQL, through the same code as SQLite: the shared suite of
//! `store_suite/` against the server named by `DOCENT_TEST_DATABASE_URL`.
//!
//! Ignored by a plain `cargo test` (no server there); `make test-pg` starts a
//! throwaway cluster with `scripts/pg-test.sh` and runs them with `--ignored`. Run
//! without the variable, every test panics: they can never pass without a database.

mod store_suite;
mod support;

use store_suite::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn conversations_and_messages() {
    store_suite::conversations_and_messages(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn cursor_pagination() {
    store_suite::cursor_pagination(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn delete_cascades() {
    store_suite::delete_cascades(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn api_keys() {
    store_suite::api_keys(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn migrations_twice_and_recovery() {
    store_suite::migrations_twice_and_recovery(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn text_with_nul_characters() {
    store_suite::text_with_nul_characters(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn concurrent_appends() {
    store_suite::concurrent_appends(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn chat_and_conversations_over_http() {
    store_suite::chat_and_conversations_over_http(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn webhook_outbox() {
    store_suite::webhook_outbox(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn webhook_claims_are_exclusive() {
    store_suite::webhook_claims_are_exclusive(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn handoff_leads_feedback_idempotency() {
    store_suite::handoff_leads_feedback_idempotency(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: make test-pg"]
async fn transactions() {
    store_suite::transactions(TestDb::postgres().await).await;
}
