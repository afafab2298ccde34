//! Store: the SQLite database. All SQL in feedfold lives under this module.
//!
//! - [`Store`] wraps one connection (WAL mode, busy timeout, foreign keys on)
//!   and applies the numbered migrations from `migrations/` at open.
//! - [`writer`] runs the one connection that writes, on its own thread, and
//!   hands out async [`StoreHandle`]s to the rest of the daemon.
//! - [`ingest`] writes a fetched feed in one transaction (entries, lineage,
//!   validators, fetch log), so a crash never leaves half a poll.
//! - [`query`] holds the read queries the CLI prints.
//! - [`search`] keeps the full-text index in step with the entries and runs
//!   `feedfold search`.
//! - [`retention`] prunes old rows in small batches and keeps tombstones.
//! - [`politeness`] keeps the fetch-politeness state of feeds and hosts
//!   (interval in force, Retry-After, redirects, URL history, throttling).
//! - [`status`] holds the health queries of the service: the writer's
//!   liveness probe, feed health for `/metrics` and the `status` dashboard.
//!
//! Tables are private (singular names); the views (`stories`,
//! `story_sources`, `feeds`, `fetches`) and the full-text table
//! `entry_search` are the public interface documented in `docs/SCHEMA.md`.

mod band_index;
pub mod check;
mod checkpointer;
pub mod feeds;
pub mod fold;
pub mod ingest;
pub mod ledger;
pub mod limits;
pub mod lock;
pub mod pg;
pub mod politeness;
pub mod query;
pub mod reader;
pub mod retention;
pub mod river;
pub mod search;
pub mod status;
mod text;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};

pub use feeds::{DueFeed, SyncReport};
pub use ingest::{DecisionTimes, FeedOutcome, FeedUpdate, IngestReport, Prepared};
pub use ledger::Ledger;
pub use politeness::{FetchState, HostState, UrlChange, UrlHistoryRow};
pub use query::{FeedRow, SourceRow, StoryRow, TimeFilter};
pub use reader::Reader;
pub use retention::{PruneReport, RetentionPolicy};
pub use river::{RiverFilter, RiverStory};
pub use search::{SearchHit, SearchQuery};
pub use status::{disk_size, FeedHealth, StatusReport};
pub use writer::{StoreHandle, WriterOptions, WriterThread};

/// The migrations, embedded in the binary, in order. A migration's version
/// is the number its file name starts with (`0005_search.sql` brings the
/// database to `user_version = 5`), so numbers reserved for work still on
/// other branches may be missing. Never edit a landed file: add a new one.
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
    (
        "0005_search.sql",
        include_str!("../../migrations/0005_search.sql"),
    ),
    (
        "0006_search_merge_when_idle.sql",
        include_str!("../../migrations/0006_search_merge_when_idle.sql"),
    ),
    (
        "0007_band_index_buffer.sql",
        include_str!("../../migrations/0007_band_index_buffer.sql"),
    ),
    (
        "0008_drop_redundant_fingerprint_index.sql",
        include_str!("../../migrations/0008_drop_redundant_fingerprint_index.sql"),
    ),
    (
        "0009_band_filter.sql",
        include_str!("../../migrations/0009_band_filter.sql"),
    ),
    (
        "0010_plain_titles.sql",
        include_str!("../../migrations/0010_plain_titles.sql"),
    ),
    (
        "0011_refold_origin.sql",
        include_str!("../../migrations/0011_refold_origin.sql"),
    ),
    (
        "0012_story_text.sql",
        include_str!("../../migrations/0012_story_text.sql"),
    ),
    (
        "0013_text_once.sql",
        include_str!("../../migrations/0013_text_once.sql"),
    ),
    (
        "0014_unconverted_text_index.sql",
        include_str!("../../migrations/0014_unconverted_text_index.sql"),
    ),
    (
        "0015_band_index_levels.sql",
        include_str!("../../migrations/0015_band_index_levels.sql"),
    ),
];

/// The schema version this binary writes: the number of the last migration.
pub const SCHEMA_VERSION: i64 = migration_version(MIGRATIONS[MIGRATIONS.len() - 1].0);

/// The version a migration file brings the database to: the decimal number
/// its name starts with. Evaluated at compile time, so a misnamed file does
/// not build.
const fn migration_version(name: &str) -> i64 {
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut v = 0i64;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        v = v * 10 + (bytes[i] - b'0') as i64;
        i += 1;
    }
    assert!(
        i > 0 && v > 0,
        "a migration file name starts with its number"
    );
    v
}

/// Tries of the shutdown checkpoint while another checkpoint runs (50 ms apart).
const CHECKPOINT_ATTEMPTS: u32 = 40;

/// WAL pages after which a commit checkpoints (SQLite's default is 1,000).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 40_000;

/// Size the WAL file is cut back to when it restarts after a checkpoint:
/// above what [`WAL_AUTOCHECKPOINT_PAGES`] lets it reach, so that a busy
/// writer rewrites the file's blocks instead of giving them back and having
/// the file system allocate and zero them again at every restart (75 of the
/// writer's 556 CPU-s in a 20,000-feed cold pass, BENCHMARKS.md "Scale").
/// The shutdown checkpoint empties the file.
const WAL_SIZE_LIMIT_BYTES: i64 = 192 << 20;

/// The writer's page cache, in KiB (a negative `cache_size` is KiB). The
/// hot pages (index interiors, the tails of the append-mostly tables, FTS5's
/// newest segments) fit in 8 MiB; a larger cache raised the peak memory
/// without speeding the writer, a smaller one slowed the warm pass
/// (BENCHMARKS.md, sixth round).
const WRITER_CACHE_KIB: i64 = -8_192;

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
    /// The PostgreSQL store failed.
    #[error(transparent)]
    Postgres(#[from] pg::PgError),
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
    /// The database path names a folder.
    #[error("database {} is a folder, not a file: set `database` to a file in it, e.g. {}", .0.display(), .0.join("feedfold.db").display())]
    IsFolder(PathBuf),
    /// The file is not an SQLite database (or is damaged beyond reading).
    #[error("database {0} is not an SQLite database (another kind of file, or one damaged beyond repair): check `database` in the config")]
    NotADatabase(PathBuf),
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
    /// A read-only open in a folder the user cannot write, of a database
    /// whose `-wal` file holds changes: they cannot be read without the
    /// WAL index, which cannot be created there.
    #[error("database {path}: cannot read it: its folder is not writable, so SQLite cannot create the WAL index (-shm) that the changes in its -wal file need; read it while the daemon runs (which keeps the index), after it stops (which folds the -wal into the file), or from a copy in a writable folder")]
    UnreadableWal {
        /// The database file.
        path: PathBuf,
    },
    /// The writer thread is gone (the daemon is shutting down).
    #[error("database writer has stopped")]
    WriterGone,
    /// A job on the writer thread panicked (a bug); its transaction was
    /// rolled back and the writer went on.
    #[error("database writer job {job} failed with a bug (panic: {message}); its changes were rolled back")]
    JobPanicked {
        /// What the job was.
        job: String,
        /// The panic's message.
        message: String,
    },
    /// Another daemon holds the database (see [`lock`]).
    #[error("another feedfold daemon{} is already running on database {}; stop it first (it holds {})", holder(.pid, .command), .database.display(), .lock.display())]
    DaemonRunning {
        /// The database file.
        database: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        pid: Option<u32>,
        /// The holder's command line, when it can be read.
        command: Option<String>,
    },
    /// The daemon's lock file could not be created or locked.
    #[error("lock file {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// A full-text query SQLite's FTS5 cannot parse.
    #[error("invalid search query {query:?}: {message}")]
    BadQuery {
        /// The query as given.
        query: String,
        /// FTS5's complaint.
        message: String,
    },
}

/// " (pid 42: feedfold run)" for [`StoreError::DaemonRunning`].
fn holder(pid: &Option<u32>, command: &Option<String>) -> String {
    match (pid, command) {
        (Some(pid), Some(command)) => format!(" (pid {pid}: {command})"),
        (Some(pid), None) => format!(" (pid {pid})"),
        _ => String::new(),
    }
}

/// A folder given as the database: SQLite would report `disk I/O error` or
/// `unable to open database file`, which sends people looking at the disk.
fn refuse_folder(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::IsFolder(path.to_path_buf()));
    }
    Ok(())
}

/// A connection to the feedfold database.
pub struct Store {
    /// Declared before `conn` so that it stops first: the writer's
    /// connection is then the last one, and closing it cleans up the WAL.
    checkpointer: Option<checkpointer::Checkpointer>,
    conn: Connection,
    path: PathBuf,
    dedup: crate::dedup::DedupConfig,
    /// Band keys of the newest entries, not yet in `entry_band`.
    bands: band_index::BandIndex,
    /// Entries queued for the full-text index by this store.
    backlog: search::Backlog,
    /// How long the entries it indexed had waited.
    index_lags: search::LagHistogram,
}

impl Store {
    /// Opens (creating if needed) the database for writing and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        refuse_folder(path)?;
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
            checkpointer: None,
            conn,
            path: path.to_path_buf(),
            dedup: crate::dedup::DedupConfig::default(),
            bands: band_index::BandIndex::default(),
            backlog: search::Backlog::default(),
            index_lags: search::LagHistogram::default(),
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
        store.convert_old_text()?;
        store.load_backlog()?;
        store.checkpointer = checkpointer::Checkpointer::spawn(path);
        Ok(store)
    }

    /// Opens an existing database for reading only (the CLI's read
    /// commands), so that they work on a file the user may only read: a
    /// copy, another user's file, a service's state folder.
    ///
    /// SQLite reads a WAL database through its `-shm` index, which a reader
    /// creates when it is missing (and leaves behind, being unable to
    /// checkpoint); in a folder the user cannot write, that fails. So:
    /// - no `-wal` file: no connection is writing (a writer keeps one from
    ///   its first read to its close, which checkpoints and deletes it), and
    ///   everything is in the main file: it is opened `immutable`, which
    ///   needs no index and creates no file;
    /// - a `-wal` file: read through the index as SQLite does, which works
    ///   beside a running daemon, whose `-shm` a reader may use read-only;
    /// - that failing for want of the index with an empty `-wal` (left by
    ///   some other read-only reader), `immutable` again; with changes in
    ///   the `-wal`, there is no safe way to read them, and the error says so.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        refuse_folder(path)?;
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        if wal_file(path).is_none() {
            return Store::open_read_only_as(path, true);
        }
        match Store::open_read_only_as(path, false) {
            Err(e) if needs_wal_index(&e) && wal_is_empty(path) => {
                Store::open_read_only_as(path, true)
            }
            Err(e) if needs_wal_index(&e) => Err(StoreError::UnreadableWal {
                path: path.to_path_buf(),
            }),
            other => other,
        }
    }

    fn open_read_only_as(path: &Path, immutable: bool) -> Result<Store, StoreError> {
        let sqlite = |source| feeds::err(path, source);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = if immutable {
            let absolute = path.canonicalize().map_err(|e| {
                sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(e.to_string()),
                ))
            })?;
            // A file: URI percent-encodes whatever the path holds.
            let uri = url::Url::from_file_path(&absolute).map_err(|()| {
                sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some("not an absolute path".to_string()),
                ))
            })?;
            Connection::open_with_flags(format!("{uri}?mode=ro&immutable=1"), flags)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(sqlite)?;
        let store = Store {
            checkpointer: None,
            conn,
            path: path.to_path_buf(),
            dedup: crate::dedup::DedupConfig::default(),
            bands: band_index::BandIndex::default(),
            backlog: search::Backlog::default(),
            index_lags: search::LagHistogram::default(),
        };
        store.configure(false)?;
        // Reading the header is where a missing WAL index shows.
        let version = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sqlite)?;
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
        // Query planner stability: without it SQLite re-plans a statement
        // whenever a value bound to `LIMIT ?` (or a STAT4-sensitive
        // parameter) differs from the one it was planned with, and rusqlite
        // clears the bindings of every cached statement it hands back, so
        // each use of the band and exact lookups was parsed and planned
        // again. Our statements' plans do not depend on the values.
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err(e))?;
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.err(e))?;
        if writable {
            // Incremental auto-vacuum lets retention hand freed pages back to
            // the file system a few at a time. SQLite only accepts the mode
            // before the first table exists; older files keep `none` until
            // `feedfold prune --vacuum` rewrites them once.
            let tables: i64 = self
                .conn
                .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if tables == 0 {
                self.conn
                    .pragma_update(None, "auto_vacuum", "INCREMENTAL")
                    .map_err(|e| self.err(e))?;
            }
            // WAL lets readers (sqlite3, Datasette, the CLI) read while the
            // daemon writes; NORMAL sync is durable across application crashes.
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %self.path.display(), mode, "database is not in WAL mode");
            }
            // Checkpoint every ~160 MB of WAL rather than 4 MB: a hot page
            // (the index pages every insert touches) is copied into the main
            // file once per checkpoint however often it changed.
            // Between big ingests the background checkpointer keeps the WAL
            // short, and the size limit gives the disk back once it restarts.
            self.conn
                .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
                .map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
                .map_err(|e| self.err(e))?;
            self.conn
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| self.err(e))?;
            // Every insert reads ~25 pages of the band and entry indexes at
            // random; with SQLite's default 2 MB cache each is a system call
            // and a copy out of the OS cache once the window is large.
            // Pages are allocated as used, so a small database stays small.
            self.conn
                .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = self.user_version()?;
        if current > SCHEMA_VERSION {
            return Err(self.too_new(current));
        }
        for (name, sql) in MIGRATIONS {
            let version = migration_version(name);
            if version <= current {
                continue;
            }
            let path = self.path.clone();
            let fail = |source: rusqlite::Error| match feeds::err(&path, source) {
                StoreError::Sqlite { source, .. } => StoreError::Migration {
                    path: path.clone(),
                    name,
                    source,
                },
                other => other,
            };
            let tx = write_transaction(&mut self.conn).map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            after_migration(&tx, name).map_err(fail)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
            tracing::info!(migration = name, version, "applied database migration");
        }
        Ok(())
    }

    /// Brings entries stored before migration 0013 to the stored form of
    /// [`text`], a batch per transaction (see [`text::convert_batch`]).
    fn convert_old_text(&mut self) -> Result<(), StoreError> {
        let (mut total, mut after) = (0, 0);
        loop {
            let path = self.path.clone();
            let e = |source| feeds::err(&path, source);
            let tx = write_transaction(&mut self.conn).map_err(e)?;
            let n = text::convert_batch(&tx, &mut after).map_err(e)?;
            tx.commit().map_err(e)?;
            if n == 0 {
                break;
            }
            total += n;
            tracing::info!(converted = total, "converting stored text to the 0013 form");
        }
        if total > 0 {
            tracing::info!(
                converted = total,
                "stored text converted; the search index catches up in the background"
            );
        }
        Ok(())
    }

    /// Checkpoints the WAL into the main file and empties it, so a stopped
    /// daemon leaves one self-contained file behind. Stops the background
    /// checkpoints for good: call it at shutdown.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        // A checkpoint running on the background connection makes this one
        // fail at once (SQLite does not wait for the checkpoint lock), which
        // left up to a whole WAL behind; stop and join that thread first.
        // Another process's checkpoint (sqlite3 and Datasette checkpoint
        // when they close) has the same effect: try again for a while.
        self.checkpointer = None;
        for attempt in 0..=CHECKPOINT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.truncate_wal()? {
                return Ok(());
            }
        }
        tracing::warn!(path = %self.path.display(), "the WAL could not be emptied at shutdown: a reader held it past the busy timeout; the next writer checkpoints it");
        Ok(())
    }

    /// One TRUNCATE checkpoint; true if the WAL is now empty. Readers or
    /// another checkpoint in the way show as a busy flag in the result row,
    /// or as SQLITE_BUSY when it could not start at all.
    fn truncate_wal(&self) -> Result<bool, StoreError> {
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            }) {
            Ok(busy) => Ok(busy == 0),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Rolls back the transaction a failed job left open, if any.
    fn roll_back_open_transaction(&mut self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.err(e))
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

/// Work a migration needs that SQL alone cannot do, run in the migration's
/// own transaction so that the two land together or not at all.
fn after_migration(tx: &rusqlite::Transaction, name: &str) -> rusqlite::Result<()> {
    match name {
        // 0005 indexed the entries stored before it here; 0013 replaced
        // that index and queues every entry for the new one.
        // Make the titles stored before plain text, as the parser now does.
        "0010_plain_titles.sql" => plain_titles(tx),
        _ => Ok(()),
    }
}

/// Rewrites stored entry and feed titles that hold markup or character
/// references as [`crate::parse::plain_title`] makes them. A title changed
/// here no longer matches its entry's `content_hash`, so the next poll that
/// still lists the item stores it once more as an edit (same text, same
/// story), which is cheaper than rebuilding every hash here.
fn plain_titles(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    for (select, update) in [
        (
            "SELECT id, title FROM entry WHERE title GLOB '*[<&]*'",
            "UPDATE entry SET title = ?2 WHERE id = ?1",
        ),
        (
            "SELECT id, feed_title FROM feed WHERE feed_title GLOB '*[<&]*'",
            "UPDATE feed SET feed_title = ?2 WHERE id = ?1",
        ),
    ] {
        let rows: Vec<(i64, String)> = tx
            .prepare(select)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut update = tx.prepare(update)?;
        for (id, raw) in rows {
            let plain = crate::parse::plain_title(&raw);
            if plain.as_deref() != Some(raw.as_str()) {
                update.execute(rusqlite::params![id, plain])?;
            }
        }
    }
    Ok(())
}

/// Whether a read-only open failed for want of the WAL index (`-shm`),
/// which a reader cannot create in a folder it may not write.
fn needs_wal_index(e: &StoreError) -> bool {
    let StoreError::Sqlite { source, .. } = e else {
        return false;
    };
    matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// The size of the database's `-wal` file; `None` when there is none.
fn wal_file(db: &Path) -> Option<u64> {
    let mut wal = db.as_os_str().to_os_string();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).ok().map(|m| m.len())
}

/// Whether the database's `-wal` file is missing or empty: everything
/// committed is then in the main file.
fn wal_is_empty(db: &Path) -> bool {
    wal_file(db).is_none_or(|len| len == 0)
}

/// Starts a transaction that writes. Every write transaction of the store
/// starts here: IMMEDIATE takes the write lock up front, waiting out another
/// writer within the busy timeout. A deferred transaction that reads first
/// and then writes fails at once with SQLITE_BUSY (no busy wait) when another
/// connection (a `feedfold prune` or `poll` beside the daemon) committed in
/// between, because its snapshot is then stale.
pub(crate) fn write_transaction(
    conn: &mut Connection,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Formats a time the way the database stores it: ISO-8601 UTC, seconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    // chrono's RFC 3339 writer gives the same text for years 0–9999 without
    // interpreting a pattern: the writer formats several times per entry.
    if (0..=9999).contains(&t.year()) {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a time stored by [`format_time`].
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc())
}

impl Store {
    /// Writes the band keys held in memory to the band index: when the
    /// buffer fills, in the writer's idle moments (see
    /// [`Store::flush_stale_band_keys`]), and for `refold` and retention,
    /// which then work on the table alone.
    pub fn flush_band_keys(&mut self) -> Result<usize, StoreError> {
        let started = Instant::now();
        let keys = self
            .bands
            .flush(&mut self.conn)
            .map_err(|e| feeds::err(&self.path, e))?;
        if keys > 0 {
            // The cost of a flush grows with the index: worth seeing at scale.
            tracing::debug!(
                keys,
                ms = started.elapsed().as_millis() as u64,
                "band keys written to the index"
            );
        }
        Ok(keys)
    }

    /// For a writer about to stop: saves the band key filter for the next
    /// writer unless the database holds it already, and leaves the buffered
    /// band keys unwritten (the next writer takes them back from the
    /// entries' signatures): a few thousand random keys would rewrite most
    /// pages of the band index.
    pub fn park_band_keys(&mut self) -> Result<(), StoreError> {
        self.bands
            .park(&mut self.conn)
            .map_err(|e| feeds::err(&self.path, e))
    }

    /// Writes the buffered band keys if they have waited a while (see
    /// `band_index::IDLE_FLUSH_AGE`); for the writer's idle moments.
    pub fn flush_stale_band_keys(&mut self) -> Result<usize, StoreError> {
        if !self.bands.is_stale() {
            return Ok(0);
        }
        self.flush_band_keys()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Not fatal: the next writer builds the filter from the index.
        if let Err(e) = self.park_band_keys() {
            tracing::warn!(error = %e, "saving the band key filter failed; the next writer rebuilds it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shutdown checkpoint leaves an empty WAL even while other
    /// connections checkpoint (the background thread, or a `sqlite3` closing):
    /// SQLite fails a checkpoint at once when another one runs.
    #[test]
    fn shutdown_checkpoint_empties_the_wal_while_others_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ff.db");
        let wal = dir.path().join("ff.db-wal");
        let mut store = Store::open(&path).expect("open");
        assert!(store.checkpointer.is_some());
        store
            .conn
            .execute_batch(
                "CREATE TABLE filler (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT randomblob(4000) FROM n;",
            )
            .expect("fill");
        let other = Connection::open(&path).expect("second connection");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let until = std::sync::Arc::clone(&stop);
        let busy_for = Instant::now() + Duration::from_millis(300);
        let rival = std::thread::spawn(move || {
            while !until.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < busy_for
            {
                let _ = other.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let result = store.checkpoint();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        rival.join().expect("rival thread");
        result.expect("checkpoint");
        assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    }

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

    /// The version a migration brings a database to is the number in its file
    /// name (numbers reserved for other work may be missing); this keeps them
    /// in increasing order and makes sure no file in `migrations/` is
    /// forgotten.
    #[test]
    fn migrations_are_numbered_in_order_and_all_registered() {
        let mut last = 0;
        for (name, _) in MIGRATIONS {
            let number: i64 = name
                .split('_')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("NNNN_ prefix");
            assert_eq!(number, migration_version(name));
            assert!(number > last, "{name} is registered out of order");
            last = number;
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
    fn migration_versions_come_from_file_names_and_increase() {
        let versions: Vec<i64> = MIGRATIONS
            .iter()
            .map(|(n, _)| migration_version(n))
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions[0], 1);
        assert_eq!(SCHEMA_VERSION, *versions.last().expect("one migration"));
    }

    #[test]
    fn new_databases_use_incremental_auto_vacuum() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("ff.db")).expect("open");
        let mode: i64 = store
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, 2, "2 = incremental");
        let journal: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(journal, "wal");
    }

    #[test]
    fn a_version_1_database_migrates_and_indexes_its_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ff.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0].1).expect("0001");
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO feed (id, url, added_at) VALUES (1, 'https://a.example/rss', '2025-01-01T00:00:00Z');
             INSERT INTO entry (id, feed_id, identity, title, summary, first_seen_at, last_seen_at,
                                content_hash, fingerprint, fingerprint_version)
             VALUES (1, 1, 'guid:1', 'Embassy talks resume', '<p>Envoys met in <b>Istanbul</b>.</p>',
                     '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 0, 1);",
        )
        .expect("old rows");
        drop(conn);
        let mut store = Store::open(&path).expect("migrate");
        assert_eq!(store.user_version().expect("version"), SCHEMA_VERSION);
        // Queued by migration 0013, indexed by the writer's next step.
        assert_eq!(store.index_lag().expect("lag").entries, 1);
        assert_eq!(store.index_backlog(None).expect("index"), (1, 0));
        let (title, body): (String, String) = store
            .conn
            .query_row(
                "SELECT title, body FROM entry_search WHERE entry_search MATCH 'istanbul'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("backfilled");
        assert_eq!(title, "Embassy talks resume");
        assert_eq!(body.trim(), "Envoys met in Istanbul.");
    }

    /// Issue 19: a schema-12 database (HTML in `summary`/`content`, the full
    /// `norm_text`) is converted to the stored form of `text` in batches,
    /// and rows a cut-short conversion left behind are converted at the
    /// next open.
    #[test]
    fn migration_13_converts_old_text_in_batches_and_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ff.db");
        let conn = Connection::open(&path).expect("open");
        for (name, sql) in MIGRATIONS
            .iter()
            .take_while(|(n, _)| migration_version(n) < 13)
        {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        conn.execute_batch(
            "PRAGMA user_version = 12;
             INSERT INTO feed (id, url, added_at) VALUES (1, 'https://a.example/rss', '2025-01-01T00:00:00Z');",
        )
        .expect("feed");
        // More than one batch of entries, with content, summary or neither.
        const N: i64 = 2_100;
        for id in 1..=N {
            let html = format!("<p>Story {id} &amp; its <b>words</b>.</p>");
            let (summary, content) = match id % 3 {
                0 => (Some(html.clone()), None),
                1 => (Some("<p>Short.</p>".to_string()), Some(html.clone())),
                _ => (None, None),
            };
            conn.execute(
                "INSERT INTO entry (id, feed_id, identity, title, summary, content, norm_text, first_seen_at,
                                    last_seen_at, content_hash, fingerprint, fingerprint_version)
                 VALUES (?1, 1, 'guid:' || ?1, 'Story ' || ?1, ?2, ?3, 'story ' || ?1 || ' & its words.',
                         '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 0, 3)",
                rusqlite::params![id, summary, content],
            )
            .expect("old row");
        }
        drop(conn);
        let check = |store: &Store| {
            let left: i64 = store
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM entry WHERE summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(left, 0, "entries left unconverted");
            for id in [3_i64, 4, 2_098] {
                let html = text::read_html(&store.conn, EntryId(id)).expect("html");
                let want = format!("<p>Story {id} &amp; its <b>words</b>.</p>");
                assert_eq!(html.body_html(), Some(want.as_str()), "entry {id}");
                assert_eq!(
                    html.body.as_deref(),
                    Some(format!("Story {id} & its words.").as_str())
                );
                let (body, z): (Option<String>, Vec<u8>) = store
                    .conn
                    .query_row("SELECT body, norm_z FROM entry WHERE id = ?1", [id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .expect("norm");
                assert_eq!(
                    text::decode_norm(id, body.as_deref(), &z).expect("decodes"),
                    format!("story {id} & its words.")
                );
            }
            let bare = text::read_html(&store.conn, EntryId(5)).expect("html");
            assert_eq!((bare.body.as_deref(), bare.body_html()), (None, None));
        };
        let store = Store::open(&path).expect("migrate");
        check(&store);
        // As a crash between two batches would leave it: some rows still in
        // the old form.
        store
            .conn
            .execute_batch(
                "UPDATE entry SET summary = '<p>Story ' || id || ' &amp; its <b>words</b>.</p>', body = NULL,
                    summary_z = NULL, content_z = NULL, norm_z = NULL,
                    norm_text = 'story ' || id || ' & its words.'
                 WHERE id > 2000 AND id % 3 = 0",
            )
            .expect("half-converted");
        drop(store);
        let store = Store::open(&path).expect("resume");
        check(&store);
        // The look for rows to convert, at every open, reads the partial
        // index (schema 14), which the conversion left empty: no scan of
        // `entry`.
        let plan: String = store
            .conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {}", text::UNCONVERTED_QUERY),
                rusqlite::params![0, 10],
                |r| r.get(3),
            )
            .expect("plan");
        assert!(plan.contains("USING INDEX entry_unconverted"), "{plan}");
        let indexed: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM entry INDEXED BY entry_unconverted
                 WHERE summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .expect("index rows");
        assert_eq!(indexed, 0);
    }

    /// Issue 22 item 2: titles stored raw before migration 0010 come out
    /// plain; plain ones are untouched.
    #[test]
    fn migration_10_makes_stored_titles_plain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ff.db");
        let conn = Connection::open(&path).expect("open");
        for (name, sql) in MIGRATIONS
            .iter()
            .take_while(|(n, _)| migration_version(n) < 10)
        {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        conn.execute_batch(
            "PRAGMA user_version = 9;
             INSERT INTO feed (id, url, feed_title, added_at)
             VALUES (1, 'https://a.example/rss', 'A &amp; B', '2025-01-01T00:00:00Z');
             INSERT INTO entry (id, feed_id, identity, title, first_seen_at, last_seen_at,
                                content_hash, fingerprint, fingerprint_version)
             VALUES (1, 1, 'guid:1', 'Principal&#8217;s Office', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 0, 2),
                    (2, 1, 'guid:2', '<span class=''webrupee''>₹</span>5 fare', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 0, 2),
                    (3, 1, 'guid:3', 'Plain  title', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 0, 0, 2);",
        )
        .expect("old rows");
        drop(conn);
        let store = Store::open(&path).expect("migrate");
        let titles: Vec<String> = store
            .conn
            .prepare("SELECT title FROM entry ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("titles");
        assert_eq!(
            titles,
            ["Principal\u{2019}s Office", "₹5 fare", "Plain  title"]
        );
        let feed: String = store
            .conn
            .query_row("SELECT feed_title FROM feed", [], |r| r.get(0))
            .expect("feed title");
        assert_eq!(feed, "A & B");
    }

    #[test]
    fn time_round_trips() {
        let t = parse_time("2025-02-27T10:00:00Z").expect("parses");
        assert_eq!(format_time(t), "2025-02-27T10:00:00Z");
    }

    #[test]
    fn times_are_formatted_alike_inside_and_outside_the_quick_years() {
        for text in [
            "0001-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t = parse_time(text).expect("parses");
            assert_eq!(format_time(t), text);
        }
        // Sub-second parts are dropped, as the pattern drops them.
        let t = parse_time("2025-02-27T10:00:00Z").expect("parses")
            + chrono::TimeDelta::milliseconds(999);
        assert_eq!(format_time(t), "2025-02-27T10:00:00Z");
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(
            format_time(far),
            far.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        );
    }
}
