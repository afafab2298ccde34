//! Read queries behind the CLI listings. They read the public views where
//! one exists, so that the CLI shows what a user's own SQL would show.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row};
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
    /// Where the feed is fetched, when that is not `url` (after a confirmed
    /// permanent redirect or autodiscovery).
    pub fetch_url: Option<String>,
    /// The refresh interval in force, in seconds (`None` before the first fetch).
    pub interval_secs: Option<i64>,
    /// Why that interval (publishing rate, `<ttl>`, pinned…).
    pub interval_reason: Option<String>,
    /// While failing: no retry before this time (same as `next_due_at`).
    pub backoff_until: Option<String>,
    /// The server's Retry-After for this feed (429/503), if in force.
    pub retry_after_until: Option<String>,
    /// The feed's host is throttled (repeated 429/503) until this time.
    pub host_throttled_until: Option<String>,
    /// The feed got 410 Gone and is no longer polled.
    pub disabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// A permanent redirect seen on the last `pending_redirect_count` fetches.
    pub pending_redirect: Option<String>,
    /// How many consecutive fetches saw it (the feed moves at 3).
    pub pending_redirect_count: i64,
    /// The `status` of the `feeds` view: `ok`, `failing`, `new` (never
    /// fetched), `disabled` (gone) or `inactive` (not in the config).
    pub status: String,
}

impl FeedRow {
    /// A feed listed in the config that the database does not hold yet
    /// (before the first poll, or added since the daemon last read the
    /// lists): status `new`, nothing fetched.
    pub fn never_polled(url: &str, title: Option<String>) -> FeedRow {
        FeedRow {
            url: url.to_string(),
            title,
            active: true,
            last_fetch_at: None,
            last_status: None,
            last_error: None,
            error_count: 0,
            next_due_at: None,
            entries: 0,
            fetch_url: None,
            interval_secs: None,
            interval_reason: None,
            backoff_until: None,
            retry_after_until: None,
            host_throttled_until: None,
            disabled: false,
            disabled_reason: None,
            pending_redirect: None,
            pending_redirect_count: 0,
            status: "new".to_string(),
        }
    }
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
    /// The copy's plain text (content, else summary; one paragraph per line).
    pub text: Option<String>,
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

/// Which stories a listing keeps, by time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeFilter {
    /// Published at or after this time (`--since`). A story's published
    /// time is its canonical copy's, or when feedfold first saw it if the
    /// feed gave no date.
    pub published_since: Option<DateTime<Utc>>,
    /// First seen by feedfold at or after this time (`--seen-since`).
    pub seen_since: Option<DateTime<Utc>>,
}

impl TimeFilter {
    /// Stories published since `since` (all with `None`).
    pub fn published(since: Option<DateTime<Utc>>) -> TimeFilter {
        TimeFilter {
            published_since: since,
            seen_since: None,
        }
    }

    /// The two cut-offs as stored times; `''` (before any time) when unset.
    pub(super) fn bounds(&self) -> (String, String) {
        let text = |t: Option<DateTime<Utc>>| t.map(format_time).unwrap_or_default();
        (text(self.published_since), text(self.seen_since))
    }
}

/// The query behind `feedfold stories` (`?1` the published cut-off, `?2`
/// the limit).
pub fn stories_sql(with_since: bool) -> String {
    stories_sql_tagged(with_since, false, 0)
}

/// The query behind `feedfold stories [--since] [--seen-since] [--tag …]`:
/// `?1` the published cut-off, `?2` the limit, `?3` the first-seen cut-off,
/// tags bound from `?4` on. Filters are added only when asked for: without
/// a cut-off the query walks the `story_published` index backwards and
/// stops after `limit` rows, where an always-true `OR` would make SQLite
/// read and sort every story first.
pub fn stories_sql_tagged(with_since: bool, with_seen_since: bool, tags: usize) -> String {
    let mut filters = Vec::new();
    if with_since {
        filters.push("published_at >= ?1".to_string());
    }
    if with_seen_since {
        filters.push("first_seen_at >= ?3".to_string());
    }
    if tags > 0 {
        let marks = (0..tags)
            .map(|i| format!("?{}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        filters.push(format!(
            "story_id IN (SELECT ss.story_id FROM story_sources ss
                 JOIN feed_tags ft ON ft.feed_url = ss.feed_url
                 WHERE ft.tag COLLATE NOCASE IN ({marks}))"
        ));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    format!(
        "SELECT {STORY_COLUMNS} FROM stories {filter} ORDER BY published_at DESC, story_id DESC LIMIT ?2"
    )
}

/// The query behind `feedfold story` (the lineage part).
pub const LINEAGE_SQL: &str =
    "SELECT entry_id, feed_url, feed_title, entry_url, entry_title, published_at, fetched_at,
        relation, similarity, credited_agency, text
 FROM story_sources WHERE story_id = ?1
 ORDER BY COALESCE(published_at, fetched_at), entry_id";

/// The query behind `feedfold feeds`.
pub const FEEDS_SQL: &str =
    "SELECT f.url, COALESCE(f.title, f.feed_title), f.active, f.last_fetch_at, f.last_status,
            f.last_error, f.error_count, f.next_due_at,
            (SELECT COUNT(*) FROM entry e WHERE e.feed_id = f.id),
            f.fetch_url, COALESCE(f.interval_secs, f.poll_interval_secs),
            CASE WHEN f.interval_secs IS NOT NULL
                 THEN 'pinned by the feed''s interval in the config' ELSE f.interval_reason END,
            f.retry_after_until, f.disabled_at IS NOT NULL, f.disabled_reason,
            f.redirect_url, f.redirect_count,
            (SELECT status FROM feeds v WHERE v.feed_id = f.id)
     FROM feed f ORDER BY f.active DESC, f.url";

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
                    fetch_url: r.get(9)?,
                    interval_secs: r.get(10)?,
                    interval_reason: r.get(11)?,
                    backoff_until: None,
                    retry_after_until: r.get(12)?,
                    host_throttled_until: None,
                    disabled: r.get(13)?,
                    disabled_reason: r.get(14)?,
                    pending_redirect: r.get(15)?,
                    pending_redirect_count: r.get(16)?,
                    status: r.get(17)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut rows: Vec<FeedRow> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        let hosts = self.hosts()?;
        let now = format_time(Utc::now());
        for row in &mut rows {
            if row.error_count > 0 && !row.disabled {
                row.backoff_until = row.next_due_at.clone();
            }
            if row
                .retry_after_until
                .as_deref()
                .is_some_and(|t| t <= now.as_str())
            {
                row.retry_after_until = None;
            }
            let host = url::Url::parse(row.fetch_url.as_deref().unwrap_or(&row.url))
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
            row.host_throttled_until = host
                .and_then(|h| hosts.get(&h))
                .and_then(|h| h.throttled_until)
                .map(format_time)
                .filter(|t| t.as_str() > now.as_str());
            if row.pending_redirect_count == 0 {
                row.pending_redirect = None;
            }
        }
        Ok(rows)
    }

    /// The active, not disabled feed due soonest: its title (else URL) and
    /// next due time (`None`: due now). `None` when no feed is polled at all.
    pub fn next_due(&self) -> Result<Option<(String, Option<String>)>, StoreError> {
        self.conn
            .query_row(
                // Named, not `ORDER BY 2`: inside an expression `2` is the
                // number two, and the bundled SQLite answered with the wrong feed.
                "SELECT COALESCE(title, feed_title, url) AS name,
                        MAX(next_due_at, COALESCE(retry_after_until, '')) AS due
                 FROM feed WHERE active = 1 AND disabled_at IS NULL
                 ORDER BY due IS NOT NULL, due LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Stories published (or first seen) since `since`, newest first.
    pub fn stories(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<StoryRow>, StoreError> {
        self.stories_tagged(&TimeFilter::published(since), limit, &[])
    }

    /// Stories that pass `filter`, newest first, keeping only stories that
    /// a feed with one of `tags` carried (tags compare ignoring case); no
    /// tags keeps every story.
    pub fn stories_tagged(
        &self,
        filter: &TimeFilter,
        limit: usize,
        tags: &[String],
    ) -> Result<Vec<StoryRow>, StoreError> {
        let sql = stories_sql_tagged(
            filter.published_since.is_some(),
            filter.seen_since.is_some(),
            tags.len(),
        );
        let (published, seen) = filter.bounds();
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&published, &limit];
        // SQLite counts parameters up to the highest number used: `?3` is
        // bound whenever tags (from `?4`) or the first-seen filter are there.
        if filter.seen_since.is_some() || !tags.is_empty() {
            values.push(&seen);
        }
        values.extend(tags.iter().map(|t| t as &dyn rusqlite::ToSql));
        let rows = stmt
            .query_map(values.as_slice(), story_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One story and its copies in time order, or `None` if there is no such story.
    pub fn story(&self, id: StoryId) -> Result<Option<(StoryRow, Vec<SourceRow>)>, StoreError> {
        let sql = format!("SELECT {STORY_COLUMNS} FROM stories WHERE story_id = ?1");
        // Cached statements: the web surface asks for 50 stories per feed.
        let Some(story) = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id.0], story_row).optional())
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached(LINEAGE_SQL)
            .map_err(|e| self.err(e))?;
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
                    text: r.get(10)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let sources = rows
            .collect::<Result<_, _>>()
            .map_err(|e| err(&self.path, e))?;
        Ok(Some((story, sources)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    #[test]
    fn next_due_is_the_soonest_feed_and_a_retry_after_pushes_it_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("ff.db")).expect("open");
        let feeds: Vec<FeedConfig> = ["a", "b", "c"]
            .iter()
            .map(|n| FeedConfig {
                url: format!("https://{n}.example/rss"),
                ..FeedConfig::default()
            })
            .collect();
        store.sync_feeds(&feeds, Utc::now()).expect("sync");
        let set = |url: &str, due: &str, retry: Option<&str>| {
            store
                .conn
                .execute(
                    "UPDATE feed SET next_due_at = ?2, retry_after_until = ?3 WHERE url = ?1",
                    rusqlite::params![url, due, retry],
                )
                .expect("update");
        };
        set("https://a.example/rss", "2026-12-03T15:00:00Z", None);
        set("https://b.example/rss", "2026-12-03T13:00:00Z", None);
        set("https://c.example/rss", "2026-12-03T14:00:00Z", None);
        let soonest = store.next_due().expect("next due");
        assert_eq!(
            soonest,
            Some((
                "https://b.example/rss".to_string(),
                Some("2026-12-03T13:00:00Z".to_string())
            ))
        );
        // A server's Retry-After holds b back past c.
        set(
            "https://b.example/rss",
            "2026-12-03T13:00:00Z",
            Some("2026-12-03T16:00:00Z"),
        );
        let soonest = store.next_due().expect("next due");
        assert_eq!(
            soonest.map(|(name, _)| name).as_deref(),
            Some("https://c.example/rss")
        );
    }
}
