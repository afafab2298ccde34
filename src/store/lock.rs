//! One daemon per database: `feedfold run` holds an exclusive `flock` on a
//! lock file beside the database (`feedfold.db.lock`) for as long as it
//! runs, and writes its process id there so that a second daemon can say
//! which process is in the way.
//!
//! SQLite's own locking keeps two writers from corrupting the file, but two
//! daemons would poll every feed twice and race each other's schedules, so
//! the second one stops at start-up. One-shot commands (`poll`, `prune`,
//! `refold`, the read commands) do not take the lock and keep working beside
//! a daemon. The lock file is never deleted: removing it while another
//! process waits on it would let two processes hold "the" lock on two
//! different files. The kernel drops a `flock` when its holder exits, even
//! after a crash, so a stale pid in the file means nothing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock file of the database at `db`: `DB.lock` beside it.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Held by the running daemon; the lock is released when it is dropped (or
/// when the process ends, however it ends).
#[derive(Debug)]
pub struct DaemonLock {
    /// Kept open: closing the descriptor releases the lock.
    _file: File,
    path: PathBuf,
}

impl DaemonLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the daemon lock of the database at `db`, without waiting.
///
/// Returns `Ok(None)` when the lock file cannot be created because the
/// folder is not writable: the daemon's own open then reports the read-only
/// database, which says better what to fix. Fails with
/// [`StoreError::DaemonRunning`] when another process holds the lock.
pub fn lock_daemon(db: &Path) -> Result<Option<DaemonLock>, StoreError> {
    let path = lock_path(db);
    let io = |source: std::io::Error| StoreError::Lock {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The daemon creates the database's folder at open; the lock comes first.
        if let Err(e) = std::fs::create_dir_all(dir) {
            return not_writable(e).map_err(io);
        }
    }
    let mut file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => return not_writable(e).map_err(io),
    };
    // SAFETY: flock on a descriptor we own, which stays open while `file` lives.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            // Best effort: the holder may be rewriting it this very moment.
            let _ = file.read_to_string(&mut text);
            let pid = text.trim().parse::<u32>().ok();
            return Err(StoreError::DaemonRunning {
                database: db.to_path_buf(),
                lock: path,
                pid,
                command: pid.and_then(command_line),
            });
        }
        return Err(io(e));
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(Some(DaemonLock { _file: file, path }))
}

/// `Ok(None)` for errors that mean "this folder is not ours to write".
fn not_writable(e: std::io::Error) -> Result<Option<DaemonLock>, std::io::Error> {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => Ok(None),
        _ => Err(e),
    }
}

/// The command line of process `pid`, for the message (Linux `/proc`).
fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sub/ff.db");
        let held = lock_daemon(&db).expect("lock").expect("writable");
        assert_eq!(held.path(), dir.path().join("sub/ff.db.lock"));
        let e = lock_daemon(&db).expect_err("second lock refused");
        let text = e.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(held);
        lock_daemon(&db).expect("free again").expect("writable");
    }
}
