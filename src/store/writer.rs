//! The single writer: one thread owns the write connection, and the async
//! daemon talks to it through [`StoreHandle`]. SQLite allows one writer at a
//! time anyway; giving it one owner means no task ever waits on a database
//! lock, and blocking SQLite calls never run on the async runtime's threads.

use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

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
    /// Moves `store` onto a new writer thread.
    pub fn spawn(store: Store) -> (StoreHandle, WriterThread) {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("feedfold-writer".into())
            .spawn(move || {
                let mut store = store;
                for job in rx {
                    job(&mut store);
                }
                // Every handle is gone: leave one self-contained file behind.
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
        let job: Job = Box::new(move |store| {
            // The caller may have gone away (shutdown); nothing to do then.
            let _ = reply.send(f(store));
        });
        self.tx.send(job).map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

impl WriterThread {
    /// Waits until the writer has drained its queue and closed the database.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("database writer thread panicked");
        }
    }
}
