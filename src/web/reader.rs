//! Where the pages and outgoing feeds read from: the SQLite file through
//! read-only connections of their own (never the writer's), or the shared
//! PostgreSQL database through a small pool. Both answer with the store's
//! row types, so the handlers and templates do not know which it is.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::store::pg::{PgError, PgStore};
use crate::store::{
    FeedRow, RiverFilter, RiverStory, SearchHit, SearchQuery, Store, StoreError, StoryId,
    TimeFilter,
};

/// Read connections kept open between requests (SQLite).
const IDLE_READERS: usize = 8;

/// The database the web surface reads.
#[derive(Clone)]
pub enum Source {
    /// The SQLite file the daemon writes.
    Sqlite(PathBuf),
    /// The shared PostgreSQL database (the worker's own pool).
    Postgres(PgStore),
}

/// A reader of [`Source`], shared by every request.
#[derive(Clone)]
pub(super) enum Reader {
    Sqlite(SqliteReaders),
    Postgres(PgStore),
}

/// Read-only SQLite connections, opened on demand and kept for the next
/// request. A `Store` is one connection, used by one request at a time.
#[derive(Clone)]
pub(super) struct SqliteReaders {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Store>>>,
}

/// Why a read failed: the database's error, or the blocking task that ran
/// the SQLite read died.
#[derive(Debug)]
pub(super) enum ReadError {
    Store(StoreError),
    Task(String),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> ReadError {
        ReadError::Store(e)
    }
}

impl From<PgError> for ReadError {
    fn from(e: PgError) -> ReadError {
        ReadError::Store(StoreError::from(e))
    }
}

impl Reader {
    pub(super) fn new(source: Source) -> Reader {
        match source {
            Source::Sqlite(path) => Reader::Sqlite(SqliteReaders {
                path: Arc::new(path),
                idle: Arc::new(Mutex::new(Vec::new())),
            }),
            Source::Postgres(store) => Reader::Postgres(store),
        }
    }

    /// The stories `filter` keeps, with their lineage.
    pub(super) async fn river(&self, filter: RiverFilter) -> Result<Vec<RiverStory>, ReadError> {
        match self {
            Reader::Sqlite(r) => r.read(move |s| s.river(&filter)).await,
            Reader::Postgres(p) => Ok(p.river(&filter).await?),
        }
    }

    /// One story with its lineage, or `None`.
    pub(super) async fn river_story(&self, id: StoryId) -> Result<Option<RiverStory>, ReadError> {
        match self {
            Reader::Sqlite(r) => r.read(move |s| s.river_story(id)).await,
            Reader::Postgres(p) => Ok(p.river_story(id).await?),
        }
    }

    /// The listed feeds' tags, each once.
    pub(super) async fn tags(&self) -> Result<Vec<String>, ReadError> {
        match self {
            Reader::Sqlite(r) => r.read(|s| s.tags()).await,
            Reader::Postgres(p) => Ok(p.tags().await?),
        }
    }

    /// Every feed with its state.
    pub(super) async fn feeds(&self) -> Result<Vec<FeedRow>, ReadError> {
        match self {
            Reader::Sqlite(r) => r.read(|s| s.feeds()).await,
            Reader::Postgres(p) => Ok(p.feeds().await?),
        }
    }

    /// A search; the inner error is the database's answer (a query it
    /// cannot read is the user's to fix), the outer one a failure to ask.
    pub(super) async fn search(
        &self,
        query: SearchQuery,
        limit: usize,
    ) -> Result<Result<Vec<SearchHit>, StoreError>, ReadError> {
        let filter = TimeFilter::default();
        match self {
            Reader::Sqlite(r) => r.read(move |s| Ok(s.search(&query, &filter, limit))).await,
            Reader::Postgres(p) => Ok(p
                .search(&query, &filter, limit)
                .await
                .map_err(StoreError::from)),
        }
    }
}

impl SqliteReaders {
    async fn read<T, F>(&self, f: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = reader
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let store = match pooled {
                Some(s) => s,
                None => Store::open_live_reader(&reader.path)?,
            };
            let out = f(&store);
            // A connection that failed may be broken; let it go.
            if out.is_ok() {
                let mut idle = reader
                    .idle
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if idle.len() < IDLE_READERS {
                    idle.push(store);
                }
            }
            Ok(out?)
        })
        .await
        .map_err(|e| ReadError::Task(format!("reading the database: {e}")))?
    }
}
