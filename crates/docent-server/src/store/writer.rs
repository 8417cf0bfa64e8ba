//! The SQLite write thread behind [`Store::transact`](super::Store::transact).
//!
//! Why a thread of its own: a sqlx SQLite statement is a round trip to the
//! connection's worker thread, and the task that holds SQLite's one write turn pays
//! one such hop per statement. On the server's runtime that task is woken from
//! another thread, so each hop waits behind every other runnable task; with a
//! thousand streams open the write turn was held for over a millisecond per
//! transaction and requests queued for it for most of a second
//! (`docent bench serve --paced-clients 1000`, docs/BENCHMARKS.md). Here the holder
//! is the only task of its runtime, so it is polled as soon as the worker answers.
//!
//! Jobs run one at a time, in arrival order, each in its own transaction: a failed
//! job rolls back alone, and its caller hears of the commit (or the failure) only
//! once it happened. A job that panics is rolled back and its caller gets an error;
//! the thread goes on with the next job, so one bug cannot stop every later write. The thread takes the store's in-process write turn around each
//! job, so the writes that do not come through here stay serialised with these.
//!
//! Useful for: the chat path's writes, which every turn makes. Not for: reads (they
//! run on the pool, in parallel), or PostgreSQL (many writers; jobs run on the
//! caller's task there).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};
use tracing::{error, warn};

use super::{StoreError, WriteTx};

/// Delivers a job's outcome to its caller once its transaction has ended.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A job as the thread runs it: given its transaction (or the error that prevented
/// one), it says whether to commit and how to reply.
type Job = Box<dyn for<'t> FnOnce(Result<&'t mut WriteTx, StoreError>) -> BoxFuture<'t, (bool, Reply)> + Send>;

/// The sending side of the write thread; the thread ends when the last clone of its
/// store is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Start the thread (a single-threaded runtime of its own).
    pub(crate) fn spawn(pool: AnyPool, turn: Arc<Mutex<()>>, outbox: Arc<Notify>) -> Result<Self, StoreError> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|_| StoreError::Writer("could not start (no runtime)"))?;
        std::thread::Builder::new()
            .name("docent-store-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        let guard = Arc::clone(&turn).lock_owned().await;
                        match pool.begin().await {
                            Ok(tx) => {
                                let mut tx = WriteTx::new(Some(guard), tx, Arc::clone(&outbox));
                                let ran = std::panic::AssertUnwindSafe(job(Ok(&mut tx))).catch_unwind().await;
                                let Ok((commit, reply)) = ran else {
                                    // Dropped with the job: the transaction rolls back
                                    // and the caller's reply channel closes.
                                    error!("a store write job panicked; its transaction was rolled back");
                                    continue;
                                };
                                // Dropping an uncommitted transaction rolls it back.
                                let ended = if commit { tx.commit().await } else { Ok(()) };
                                if let Err(e) = &ended {
                                    warn!(error = %e, "a store write transaction failed to commit");
                                }
                                reply(ended);
                            }
                            Err(e) => {
                                drop(guard);
                                let (_, reply) = job(Err(e.into())).await;
                                reply(Ok(()));
                            }
                        }
                    }
                })
            })
            .map_err(|_| StoreError::Writer("could not start (no thread)"))?;
        Ok(Writer { jobs })
    }

    /// Run `job` on the thread and wait for its transaction to end.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        let (done, outcome) = oneshot::channel::<Result<T, StoreError>>();
        let wrapped: Job = Box::new(move |tx| {
            Box::pin(async move {
                let result = match tx {
                    Ok(tx) => job(tx).await,
                    Err(e) => Err(e),
                };
                let commit = result.is_ok();
                // The job's own error wins; else the commit's outcome decides.
                let reply: Reply = Box::new(move |ended| {
                    let _ = done.send(ended.and(result));
                });
                (commit, reply)
            })
        });
        self.jobs.send(wrapped).map_err(|_| StoreError::Writer("has stopped"))?;
        // The reply is dropped unsent only when the job panicked (the thread goes on).
        outcome.await.map_err(|_| StoreError::JobPanicked)?
    }
}
