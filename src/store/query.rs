//! Read queries behind the CLI listings. They read the public views where
//! one exists, so that the CLI shows what a user's own SQL would show.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::feeds::err;
use super::{format_time, Store, StoreError, StoryId};

/// One feed as `feedfold feeds` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedRow {
    /// Feed URL.
    pub url: String,
    /// Title from the config, else the feed's own.
    pub title: Option<String>,
    /// Whether the feed is still in the config.
    pub active: bool,
    /// Start of the last fetch.
    pub last_fetch_at: Option<String>,
    /// HTTP status of the last fetch.
    pub last_status: Option<i64>,
    /// Error of the last fetch; `None` when it succeeded.
    pub last_error: Option<String>,
    /// Consecutive failed fetches.
    pub error_count: i64,
    /// When the feed is due next.
    pub next_due_at: Option<String>,
    /// Entries stored from this feed.
    pub entries: i64,
    /// `ok`, `failing`, `new` (never fetched) or `inactive` (not in the config).
    pub status: String,
}

/// One row of the public `stories` view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoryRow {
    /// Story id.
    pub story_id: i64,
    /// Headline of the canonical copy.
    pub title: Option<String>,
    /// URL of the canonical copy.
    pub url: Option<String>,
    /// Published time of the canonical copy.
    pub published_at: String,
    /// First time any copy was seen.
    pub first_seen_at: String,
    /// Last time a copy joined.
    pub last_seen_at: String,
    /// Distinct feeds that carried a copy.
    pub source_count: i64,
    /// Agency the story originates from, when the text credits one.
    pub origin_agency: Option<String>,
}

/// One row of the public `story_sources` view: one copy of a story.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceRow {
    /// The copy's entry id.
    pub entry_id: i64,
    /// Feed that carried it.
    pub feed_url: String,
    /// That feed's title.
    pub feed_title: Option<String>,
    /// The copy's own URL.
    pub entry_url: Option<String>,
    /// The copy's own headline.
    pub entry_title: Option<String>,
    /// When the copy was published.
    pub published_at: Option<String>,
    /// When feedfold first fetched it.
    pub fetched_at: String,
    /// `canonical`, `exact` or `near`.
    pub relation: String,
    /// Similarity to the story, 0..1.
    pub similarity: f64,
    /// Agencies the copy's text credits.
    pub credited_agency: Option<String>,
}

pub(super) const STORY_COLUMNS: &str =
    "story_id, title, url, published_at, first_seen_at, last_seen_at, source_count, origin_agency";

pub(super) fn story_row(r: &Row) -> rusqlite::Result<StoryRow> {
    Ok(StoryRow {
        story_id: r.get(0)?,
        title: r.get(1)?,
        url: r.get(2)?,
        published_at: r.get(3)?,
        first_seen_at: r.get(4)?,
        last_seen_at: r.get(5)?,
        source_count: r.get(6)?,
        origin_agency: r.get(7)?,
    })
}

/// The query behind `feedfold stories`. Without a cut-off it walks the
/// `story_published` index backwards and stops after `limit` rows; an `OR`
/// in the WHERE clause would make SQLite read every story first.
pub fn stories_sql(with_since: bool) -> String {
    let filter = if with_since {
        "WHERE published_at >= ?2 OR first_seen_at >= ?2"
    } else {
        ""
    };
    format!(
        "SELECT {STORY_COLUMNS} FROM stories {filter} ORDER BY published_at DESC, story_id DESC LIMIT ?1"
    )
}

/// The query behind `feedfold story` (the lineage part).
pub const LINEAGE_SQL: &str =
    "SELECT entry_id, feed_url, feed_title, entry_url, entry_title, published_at, fetched_at,
        relation, similarity, credited_agency
 FROM story_sources WHERE story_id = ?1
 ORDER BY COALESCE(published_at, fetched_at), entry_id";

/// The query behind `feedfold feeds`.
pub const FEEDS_SQL: &str =
    "SELECT url, title, active, last_fetch_at, last_status, last_error, error_count,
        next_due_at, entries, status
 FROM feeds ORDER BY active DESC, url";

impl Store {
    /// Every feed, active first, by URL.
    pub fn feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        let mut stmt = self.conn.prepare(FEEDS_SQL).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(FeedRow {
                    url: r.get(0)?,
                    title: r.get(1)?,
                    active: r.get(2)?,
                    last_fetch_at: r.get(3)?,
                    last_status: r.get(4)?,
                    last_error: r.get(5)?,
                    error_count: r.get(6)?,
                    next_due_at: r.get(7)?,
                    entries: r.get(8)?,
                    status: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Stories published (or first seen) since `since`, newest first.
    pub fn stories(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<StoryRow>, StoreError> {
        let sql = stories_sql(since.is_some());
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = match since {
            Some(since) => stmt.query_map(params![limit as i64, format_time(since)], story_row),
            None => stmt.query_map(params![limit as i64], story_row),
        }
        .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One story and its copies in time order, or `None` if there is no such story.
    pub fn story(&self, id: StoryId) -> Result<Option<(StoryRow, Vec<SourceRow>)>, StoreError> {
        let sql = format!("SELECT {STORY_COLUMNS} FROM stories WHERE story_id = ?1");
        let Some(story) = self
            .conn
            .query_row(&sql, [id.0], story_row)
            .optional()
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(LINEAGE_SQL).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([id.0], |r| {
                Ok(SourceRow {
                    entry_id: r.get(0)?,
                    feed_url: r.get(1)?,
                    feed_title: r.get(2)?,
                    entry_url: r.get(3)?,
                    entry_title: r.get(4)?,
                    published_at: r.get(5)?,
                    fetched_at: r.get(6)?,
                    relation: r.get(7)?,
                    similarity: r.get(8)?,
                    credited_agency: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let sources = rows
            .collect::<Result<_, _>>()
            .map_err(|e| err(&self.path, e))?;
        Ok(Some((story, sources)))
    }
}
