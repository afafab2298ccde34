//! The single writer: one thread owns the write connection, and the async
//! daemon talks to it through [`StoreHandle`]. SQLite allows one writer at a
//! time anyway; giving it one owner means no task ever waits on a database
//! lock, and blocking SQLite calls never run on the async runtime's threads.
//!
//! A job that panics (a bug) is contained: its open transaction rolls back,
//! an error naming the job is logged and returned to its caller, and the
//! writer goes on with the next job. Letting the thread die instead left a
//! daemon that kept polling while every write failed.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{FeedUpdate, IngestReport, Store, StoreError};

/// Most poll results written in one transaction.
pub const RECORD_BATCH: usize = 32;

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

enum Job {
    /// Any work on the store.
    Call(Box<dyn FnOnce(&mut Store) + Send>),
    /// A poll result: those queued together are written in one transaction.
    Record(Box<FeedUpdate>, Reply<IngestReport>),
}

/// How the writer thread spends its idle moments.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Merge the full-text index's segments when the queue runs empty. The
    /// daemon does; a one-shot `feedfold poll` does not, so that it ends as
    /// soon as its feeds are stored (FTS5's crisis merges still bound the
    /// segments, and the daemon or `feedfold prune` merges them later).
    pub merge_when_idle: bool,
    /// How long the writer may spend indexing the search queue when it
    /// exits: `None` indexes all of it, so that a one-shot `feedfold poll`
    /// leaves every entry searchable; the daemon bounds it, so that a stop
    /// stays quick, and whatever is left is indexed at the next start.
    pub exit_index_budget: Option<Duration>,
}

/// The daemon's bound on indexing at exit.
const DAEMON_EXIT_INDEX_BUDGET: Duration = Duration::from_secs(10);

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            merge_when_idle: true,
            exit_index_budget: Some(DAEMON_EXIT_INDEX_BUDGET),
        }
    }
}

impl WriterOptions {
    /// Options for a one-shot command: no idle merging, the whole search
    /// queue indexed before exit.
    pub fn one_shot() -> WriterOptions {
        WriterOptions {
            merge_when_idle: false,
            exit_index_budget: None,
        }
    }
}

/// A cheap, cloneable handle to the writer thread.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
}

/// The writer thread itself; [`WriterThread::join`] waits for it to finish
/// after every handle has been dropped.
pub struct WriterThread {
    thread: JoinHandle<()>,
}

impl StoreHandle {
    /// Moves `store` onto a new writer thread, with default options.
    pub fn spawn(store: Store) -> (StoreHandle, WriterThread) {
        Self::spawn_with(store, WriterOptions::default())
    }

    /// Moves `store` onto a new writer thread.
    pub fn spawn_with(store: Store, options: WriterOptions) -> (StoreHandle, WriterThread) {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("feedfold-writer".into())
            .spawn(move || {
                let mut store = store;
                let mut next: Option<Job> = None;
                loop {
                    let job = match next.take() {
                        Some(job) => job,
                        None => match wait_for_job(&rx, &store) {
                            Ok(job) => job,
                            Err(RecvTimeoutError::Timeout) => {
                                index_when_due(&mut store);
                                continue;
                            }
                            Err(RecvTimeoutError::Disconnected) => break,
                        },
                    };
                    match job {
                        Job::Call(f) => f(&mut store),
                        Job::Record(update, reply) => {
                            next = record_batch(&mut store, &rx, *update, reply);
                            index_when_due(&mut store);
                            if next.is_none() && store.index_wait().is_none() {
                                // Nothing queued: tidy the search index now
                                // rather than inside someone's commit.
                                if options.merge_when_idle {
                                    if let Err(e) = store.merge_search_step() {
                                        tracing::warn!(error = %e, "merging the search index failed");
                                    }
                                }
                                if let Err(e) = store.flush_stale_band_keys() {
                                    tracing::warn!(error = %e, "writing buffered band keys failed; retried later");
                                }
                            }
                        }
                    }
                }
                // Every handle is gone: make the queued entries searchable
                // and leave one self-contained file behind.
                match store.index_backlog(options.exit_index_budget) {
                    Ok((_, 0)) => {}
                    Ok((_, left)) => tracing::info!(left, "entries left for the search index to take at the next start"),
                    Err(e) => tracing::warn!(error = %e, "indexing the search queue at exit failed; the next start does it"),
                }
                let lags = store.index_lags();
                if lags.count() > 0 {
                    tracing::info!(
                        entries = lags.count(),
                        p50_ms = lags.quantile_ms(0.5),
                        p99_ms = lags.quantile_ms(0.99),
                        max_ms = lags.max_ms(),
                        "search index lag from commit to searchable"
                    );
                }
                if let Err(e) = store.park_band_keys() {
                    tracing::warn!(error = %e, "saving the band key filter failed; the next writer rebuilds it");
                }
                if let Err(e) = store.checkpoint() {
                    tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
                }
            })
            .expect("spawning the writer thread");
        (StoreHandle { tx }, WriterThread { thread })
    }

    /// Runs `f` on the writer thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Call(Box::new(move |store| {
            let kind = std::any::type_name::<F>();
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(store)))
                .unwrap_or_else(|payload| Err(contain(store, kind, payload.as_ref())));
            // The caller may have gone away (shutdown); nothing to do then.
            let _ = reply.send(result);
        }));
        self.tx.send(job).map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Writes a poll result. Results that queue up while the writer is busy
    /// are written together, in one transaction.
    pub async fn record(&self, update: FeedUpdate) -> Result<IngestReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Record(Box::new(update), reply))
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// The next job, waiting no longer than the search queue allows: a
/// `Timeout` means an index step is due.
fn wait_for_job(rx: &mpsc::Receiver<Job>, store: &Store) -> Result<Job, RecvTimeoutError> {
    match store.index_wait() {
        Some(wait) => rx.recv_timeout(wait),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

/// Runs an index step if one is due; a failure is logged and retried at the
/// next, the entries stay queued.
fn index_when_due(store: &mut Store) {
    if let Err(e) = store.index_when_due() {
        tracing::warn!(error = %e, "indexing queued entries for search failed; retried later");
    }
}

/// Writes `first` and every poll result queued right behind it (up to
/// [`RECORD_BATCH`]) in one transaction; returns the job that ended the
/// batch, if another kind was queued.
fn record_batch(
    store: &mut Store,
    rx: &mpsc::Receiver<Job>,
    first: FeedUpdate,
    reply: Reply<IngestReport>,
) -> Option<Job> {
    let mut updates = vec![first];
    let mut replies = vec![reply];
    let mut next = None;
    while updates.len() < RECORD_BATCH {
        match rx.try_recv() {
            Ok(Job::Record(update, reply)) => {
                updates.push(*update);
                replies.push(reply);
            }
            Ok(other) => {
                next = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    match panic::catch_unwind(AssertUnwindSafe(|| store.record_all(&updates))) {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(payload) => {
            let kind = "record";
            let message = panic_message(payload.as_ref());
            contain(store, kind, payload.as_ref());
            for reply in replies {
                let _ = reply.send(Err(StoreError::JobPanicked {
                    job: kind.to_string(),
                    message: message.clone(),
                }));
            }
        }
    }
    next
}

/// After job `kind` panicked: rolls back the transaction it left open (its
/// guards roll back as they unwind; this is the backstop), logs the panic and
/// returns the error for the caller.
fn contain(store: &mut Store, kind: &str, payload: &(dyn std::any::Any + Send)) -> StoreError {
    let message = panic_message(payload);
    tracing::error!(job = kind, panic = %message, "a database writer job panicked; its transaction was rolled back and the writer carries on");
    if let Err(e) = store.roll_back_open_transaction() {
        tracing::error!(job = kind, error = %e, "rolling back after the panic failed");
    }
    StoreError::JobPanicked {
        job: kind.to_string(),
        message,
    }
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

impl WriterThread {
    /// Waits until the writer has drained its queue and closed the database.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("database writer thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 23: a job that panics fails alone, with its writes rolled back;
    /// the writer carries on with the next job.
    #[tokio::test]
    async fn a_panicking_job_is_rolled_back_and_the_writer_carries_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("open");
        let (handle, thread) = StoreHandle::spawn(store);
        let failed = handle
            .call(|s| -> Result<(), StoreError> {
                let tx = super::super::write_transaction(&mut s.conn).expect("begin");
                tx.execute(
                    "INSERT INTO feed (url, added_at) VALUES ('https://a.example/rss', '2025-01-01T00:00:00Z')",
                    [],
                )
                .expect("insert");
                // The transaction is still open when the job panics; a
                // forgotten guard (no rollback on drop) is the worst case.
                std::mem::forget(tx);
                panic!("a bug in a job");
            })
            .await;
        let Err(StoreError::JobPanicked { job, message }) = failed else {
            panic!("expected JobPanicked, got {failed:?}");
        };
        assert!(job.contains("writer::tests"), "{job}");
        assert_eq!(message, "a bug in a job");
        let feeds = handle
            .call(|s| {
                s.conn
                    .query_row("SELECT COUNT(*) FROM feed", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| s.err(e))
            })
            .await
            .expect("the writer still answers");
        assert_eq!(feeds, 0, "the panicked job's insert was rolled back");
        drop(handle);
        thread.join();
    }
}
