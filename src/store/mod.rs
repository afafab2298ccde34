//! Store: the SQLite database. All SQL in feedfold lives under this module.
//!
//! - [`Store`] wraps one connection (WAL mode, busy timeout, foreign keys on)
//!   and applies the numbered migrations from `migrations/` at open.
//! - [`writer`] runs the one connection that writes, on its own thread, and
//!   hands out async [`StoreHandle`]s to the rest of the daemon.
//! - [`ingest`] writes a fetched feed in one transaction (entries, lineage,
//!   validators, fetch log), so a crash never leaves half a poll.
//! - [`query`] holds the read queries the CLI prints.
//! - [`politeness`] keeps the fetch-politeness state of feeds and hosts
//!   (interval in force, Retry-After, redirects, URL history, throttling).
//! - [`status`] holds the health queries of the service: the writer's
//!   liveness probe, feed health for `/metrics` and the `status` dashboard.
//!
//! Tables are private (singular names); the views `stories` and
//! `story_sources` are the public interface documented in `docs/SCHEMA.md`.

pub mod check;
pub mod feeds;
pub mod fold;
pub mod ingest;
pub mod limits;
pub mod politeness;
pub mod query;
pub mod status;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OpenFlags};

pub use feeds::{DueFeed, SyncReport};
pub use ingest::{FeedOutcome, FeedUpdate, IngestReport};
pub use politeness::{FetchState, HostState, UrlChange, UrlHistoryRow};
pub use query::{FeedRow, SourceRow, StoryRow};
pub use status::{disk_size, FeedHealth, StatusReport};
pub use writer::{StoreHandle, WriterThread};

/// The migrations, embedded in the binary, in order. Migration `i` (0-based)
/// brings the database to `user_version = i + 1`. Never edit a landed file:
/// add a new one.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../../migrations/0001_init.sql"),
    ),
    (
        "0002_dedup.sql",
        include_str!("../../migrations/0002_dedup.sql"),
    ),
    (
        "0003_feed_lists.sql",
        include_str!("../../migrations/0003_feed_lists.sql"),
    ),
    (
        "0004_fetch_politeness.sql",
        include_str!("../../migrations/0004_fetch_politeness.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// How long a connection waits for a lock before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Row id of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct FeedId(pub i64);

/// Row id of an entry (one item of one feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct EntryId(pub i64);

/// Row id of a canonical story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct StoryId(pub i64);

/// A database error, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer feedfold.
    #[error("database {path} has schema version {found}, newer than this feedfold understands ({supported}); upgrade feedfold")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this binary knows.
        supported: i64,
    },
    /// A migration failed; the database was left at its previous version.
    #[error("database {path}: migration {name} failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The migration file.
        name: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database file does not exist (read-only open).
    #[error("database {0} does not exist yet; run `feedfold poll` or `feedfold run` first")]
    Missing(PathBuf),
    /// The disk holding the database is full.
    #[error("database {path}: the disk is full; the write in progress was rolled back and everything committed before it is intact; free some space and feedfold resumes on its next poll")]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// The database cannot be written.
    #[error("database {path} is read-only (the file, its folder or its filesystem is not writable, or the disk is mounted read-only): feedfold must write it; fix the permissions or set `database` to a writable path")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The writer thread is gone (the daemon is shutting down).
    #[error("database writer has stopped")]
    WriterGone,
}

/// A connection to the feedfold database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    dedup: crate::dedup::DedupConfig,
}

impl Store {
    /// Opens (creating if needed) the database for writing and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Sqlite {
                path: path.to_path_buf(),
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create folder {}: {e}", dir.display())),
                ),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            dedup: crate::dedup::DedupConfig::default(),
        };
        // SQLite silently opens a file it cannot write read-only; say so now
        // rather than at the first write.
        if store
            .conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| store.err(e))?
        {
            return Err(StoreError::ReadOnly {
                path: store.path.clone(),
            });
        }
        store.configure(true)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database for reading only (CLI queries).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            dedup: crate::dedup::DedupConfig::default(),
        };
        store.configure(false)?;
        let version = store.user_version()?;
        if version > SCHEMA_VERSION {
            return Err(store.too_new(version));
        }
        Ok(store)
    }

    /// Sets the thresholds and window the deduplicator uses from now on.
    pub fn set_dedup_config(&mut self, config: crate::dedup::DedupConfig) {
        self.dedup = config;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn user_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn configure(&self, writable: bool) -> Result<(), StoreError> {
        // One ingest uses a few dozen distinct statements; rusqlite's default
        // cache of 16 would evict and re-parse them on every entry.
        self.conn
            .set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err(e))?;
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.err(e))?;
        if writable {
            // WAL lets readers (sqlite3, Datasette, the CLI) read while the
            // daemon writes; NORMAL sync is durable across application crashes.
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %self.path.display(), mode, "database is not in WAL mode");
            }
            // Checkpoint every ~16 MB of WAL rather than 4 MB: fewer copies
            // of hot pages (indexes) into the main file during a big ingest.
            self.conn
                .pragma_update(None, "wal_autocheckpoint", 4000)
                .map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = self.user_version()?;
        if current > SCHEMA_VERSION {
            return Err(self.too_new(current));
        }
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            let path = self.path.clone();
            let fail = |source: rusqlite::Error| match feeds::err(&path, source) {
                StoreError::Sqlite { source, .. } => StoreError::Migration {
                    path: path.clone(),
                    name,
                    source,
                },
                other => other,
            };
            let tx = self.conn.transaction().map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
            tracing::info!(migration = name, version, "applied database migration");
        }
        Ok(())
    }

    /// Checkpoints the WAL into the main file, so a stopped daemon leaves one
    /// self-contained file behind.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    fn too_new(&self, found: i64) -> StoreError {
        StoreError::TooNew {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        }
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        feeds::err(&self.path, source)
    }
}

/// Formats a time the way the database stores it: ISO-8601 UTC, seconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a time stored by [`format_time`].
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_new_database_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/ff.db");
        let store = Store::open(&path).expect("open");
        assert_eq!(store.user_version().expect("version"), SCHEMA_VERSION);
        drop(store);
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.user_version().expect("version"), SCHEMA_VERSION);
        Store::open_read_only(&path).expect("read-only open");
    }

    /// The version a migration brings a database to is its position in
    /// `MIGRATIONS`; this keeps that equal to the number in its file name,
    /// and makes sure no file in `migrations/` is forgotten.
    #[test]
    fn migrations_are_numbered_contiguously_and_all_registered() {
        for (i, (name, _)) in MIGRATIONS.iter().enumerate() {
            let number: usize = name
                .split('_')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("NNNN_ prefix");
            assert_eq!(number, i + 1, "{name} is registered at position {}", i + 1);
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let registered: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, registered);
    }

    #[test]
    fn refuses_a_newer_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ff.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
        drop(conn);
        let e = Store::open(&path).err().expect("refused");
        assert!(e.to_string().contains("newer than this feedfold"), "{e}");
        assert!(Store::open_read_only(&path).is_err());
    }

    #[test]
    fn read_only_open_of_missing_file_says_so() {
        let e = Store::open_read_only(Path::new("/nonexistent/ff.db"))
            .err()
            .expect("missing");
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn time_round_trips() {
        let t = parse_time("2025-02-27T10:00:00Z").expect("parses");
        assert_eq!(format_time(t), "2025-02-27T10:00:00Z");
    }
}
