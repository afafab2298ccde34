//! WAL checkpoints in the background, off the writer's commit path.
//!
//! With only SQLite's automatic checkpoints, the commit that crosses the
//! threshold copies the whole WAL into the database file before it returns:
//! about one write in a few hundred waited tens of milliseconds, and the wait
//! grew with the database. A second connection on its own thread runs a
//! PASSIVE checkpoint every [`INTERVAL`]; passive checkpoints never block the
//! writer or readers, and copy what is committed. The writer's automatic
//! checkpoint stays as the backstop that lets the WAL restart from its
//! beginning (and bounds it if this thread falls behind); it then finds
//! little left to copy.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(500);

/// The checkpoint thread; stops and joins when dropped.
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, which must be in WAL
    /// mode. `None` (logged) if the second connection cannot be opened: the
    /// writer's own automatic checkpoints still run then.
    pub(super) fn spawn(path: &Path) -> Option<Checkpointer> {
        let conn = match Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the checkpoint connection; checkpoints stay on the writer");
                return None;
            }
        };
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("feedfold-checkpoint".into())
            .spawn(move || run(&conn, &signal))
            .ok()?;
        Some(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let Ok(mut stopped) = lock.lock() else { return };
    loop {
        let Ok((guard, _)) = wake.wait_timeout(stopped, INTERVAL) else {
            return;
        };
        stopped = guard;
        if *stopped {
            return;
        }
        // Busy (another checkpoint running) or a transient error: the next
        // round, or the writer's own checkpoint, does the work.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "background checkpoint did not run");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_pages_reach_the_database_file_without_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (x BLOB);",
        )
        .expect("setup");
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
             INSERT INTO t SELECT randomblob(1000) FROM n;",
        )
        .expect("fill");
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        let _checkpointer = Checkpointer::spawn(&path).expect("spawn");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < before + 400_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            size() >= before + 400_000,
            "database file still {} bytes (was {before})",
            size()
        );
    }
}
