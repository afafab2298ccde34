//! The store as the read commands see it (`feeds`, `stories`, `story`,
//! `search`, `status`, `check`): the same calls and the same row types on
//! SQLite and on PostgreSQL, so the CLI prints both with one code.

use chrono::{DateTime, Utc};

use super::pg::{self, PgError, PgStore};
use super::search::IndexLag;
use super::{
    FeedRow, SearchHit, SearchQuery, SourceRow, StatusReport, Store, StoreError, StoryId, StoryRow,
    TimeFilter,
};
use crate::config::Database;

/// An open store, for reading.
pub enum Reader {
    /// The SQLite file, opened read-only.
    Sqlite(Box<Store>),
    /// A PostgreSQL database.
    Postgres(PgStore),
}

impl Reader {
    /// Opens `database` for reading. A PostgreSQL database must be at this
    /// feedfold's schema version: a read command never migrates.
    pub async fn open(database: &Database) -> Result<Reader, StoreError> {
        match database {
            Database::Sqlite(path) => Ok(Reader::Sqlite(Box::new(Store::open_read_only(path)?))),
            Database::Postgres(url) => {
                let store = PgStore::connect(url.expose(), 2)?;
                let found = pg::migrate::current_version(&*store.client().await?).await?;
                let known = pg::migrate::SCHEMA_VERSION;
                if found > known {
                    return Err(PgError::SchemaTooNew { found, known }.into());
                }
                if found < known {
                    return Err(StoreError::Postgres(PgError::SchemaTooOld { found, known }));
                }
                Ok(Reader::Postgres(store))
            }
        }
    }

    /// Every feed the database knows, with its state.
    pub async fn feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        match self {
            Reader::Sqlite(s) => s.feeds(),
            Reader::Postgres(p) => Ok(p.feeds().await?),
        }
    }

    /// Stories by `filter` and tags, newest first.
    pub async fn stories_tagged(
        &self,
        filter: &TimeFilter,
        limit: usize,
        tags: &[String],
    ) -> Result<Vec<StoryRow>, StoreError> {
        match self {
            Reader::Sqlite(s) => s.stories_tagged(filter, limit, tags),
            Reader::Postgres(p) => Ok(p.stories_tagged(filter, limit, tags).await?),
        }
    }

    /// One story and its lineage.
    pub async fn story(
        &self,
        id: StoryId,
    ) -> Result<Option<(StoryRow, Vec<SourceRow>)>, StoreError> {
        match self {
            Reader::Sqlite(s) => s.story(id),
            Reader::Postgres(p) => Ok(p.story(id).await?),
        }
    }

    /// Full-text search, one hit per story.
    pub async fn search(
        &self,
        query: &SearchQuery,
        filter: &TimeFilter,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        match self {
            Reader::Sqlite(s) => s.search(query, filter, limit),
            Reader::Postgres(p) => Ok(p.search(query, filter, limit).await?),
        }
    }

    /// Entries not searchable yet.
    pub async fn index_lag(&self) -> Result<IndexLag, StoreError> {
        match self {
            Reader::Sqlite(s) => s.index_lag(),
            Reader::Postgres(p) => Ok(p.index_lag().await?),
        }
    }

    /// The `status` report.
    pub async fn status(
        &self,
        now: DateTime<Utc>,
        today: DateTime<Utc>,
    ) -> Result<StatusReport, StoreError> {
        match self {
            Reader::Sqlite(s) => s.status(now, today),
            Reader::Postgres(p) => Ok(p.status(now, today).await?),
        }
    }
}
