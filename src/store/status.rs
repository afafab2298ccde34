//! Queries about the service's health: the writer's liveness probe, feed
//! health counts for `/metrics`, and the `feedfold status` dashboard.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::query::{story_row, FeedRow, StoryRow, STORY_COLUMNS};
use super::{format_time, Store, StoreError};

/// How the feeds are doing, in the words of the `status` column of the
/// `feeds` view (and `feeds --json`): every active feed is in exactly one of
/// `ok`, `failing`, `new` and `disabled`; `backoff` counts the failing feeds
/// that wait before their next try.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeedHealth {
    /// Active feeds.
    pub active: i64,
    /// Active feeds whose last fetch succeeded (200 or 304).
    pub ok: i64,
    /// Active feeds whose last fetch failed (the `failing` status), whether
    /// due again now or waiting.
    pub failing: i64,
    /// Those of the failing feeds that wait before the next try (next due
    /// time in the future): a subset of `failing`.
    pub backoff: i64,
    /// Active feeds not fetched yet (the `new` status).
    pub new: i64,
    /// Active feeds feedfold stopped polling because the server said they
    /// are gone for good (410) or kept answering with permanent errors; the
    /// `feeds` view shows them as `disabled`, with the reason.
    pub disabled: i64,
    /// Feeds no longer listed in the config (kept with their entries).
    pub inactive: i64,
}

/// Everything `feedfold status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The database file.
    pub database: String,
    /// Its size on disk in bytes, write-ahead log included.
    pub database_bytes: u64,
    /// Feed health.
    pub feeds: FeedHealth,
    /// Entries first seen since the start of today (local time).
    pub entries_today: i64,
    /// Stories started since the start of today (local time).
    pub stories_today: i64,
    /// Entries first seen in the last 24 hours.
    pub entries_24h: i64,
    /// Stories started in the last 24 hours.
    pub stories_24h: i64,
    /// Copies folded into an existing story in the last 24 hours.
    pub folded_24h: i64,
    /// Start of the most recent fetch of any feed.
    pub last_fetch_at: Option<String>,
    /// Stories of the last 24 hours carried by the most feeds, most first.
    pub top_stories: Vec<StoryRow>,
    /// The first [`DASHBOARD_ROWS`] failing feeds (status `failing`, those
    /// in backoff included), most errors first; `feeds.failing` counts them
    /// all.
    pub failing_feeds: Vec<FeedRow>,
    /// How far the full-text index is behind the entries.
    pub search_index: super::search::IndexLag,
}

/// Stories and failing feeds listed in the dashboard.
pub const DASHBOARD_ROWS: i64 = 5;

/// Bytes the database occupies on disk: the main file plus its write-ahead
/// log, which holds recent writes until a checkpoint.
pub fn disk_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path, Path::new(&wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

impl Store {
    /// Proves the database answers writes: takes and releases the write
    /// lock. Blocks (up to the busy timeout) while another connection holds
    /// it, which is what a watchdog should notice.
    pub fn probe(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| super::feeds::err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Counts the feeds by health at `now`.
    pub fn feed_health(&self, now: DateTime<Utc>) -> Result<FeedHealth, StoreError> {
        self.conn
            .query_row(
                "SELECT
                    COALESCE(SUM(active), 0),
                    COALESCE(SUM(live AND last_fetch_at IS NOT NULL AND error_count = 0), 0),
                    COALESCE(SUM(live AND last_fetch_at IS NOT NULL AND error_count > 0), 0),
                    COALESCE(SUM(live AND last_fetch_at IS NOT NULL AND error_count > 0 AND next_due_at > ?1), 0),
                    COALESCE(SUM(live AND last_fetch_at IS NULL), 0),
                    COALESCE(SUM(NOT active), 0),
                    COALESCE(SUM(active AND NOT live), 0)
                 FROM (SELECT *, active AND disabled_at IS NULL AS live FROM feed)",
                [format_time(now)],
                |r| {
                    Ok(FeedHealth {
                        active: r.get(0)?,
                        ok: r.get(1)?,
                        failing: r.get(2)?,
                        backoff: r.get(3)?,
                        new: r.get(4)?,
                        inactive: r.get(5)?,
                        disabled: r.get(6)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// The `feedfold status` dashboard at `now`; "today" starts at `today`.
    pub fn status(
        &self,
        now: DateTime<Utc>,
        today: DateTime<Utc>,
    ) -> Result<StatusReport, StoreError> {
        let day_ago = format_time(now - chrono::TimeDelta::hours(24));
        let today = format_time(today);
        let count = |sql: &str, since: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [since], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        let entries = "SELECT COUNT(*) FROM entry WHERE first_seen_at >= ?1";
        let stories = "SELECT COUNT(*) FROM story WHERE first_seen_at >= ?1";
        let folded =
            "SELECT COUNT(*) FROM story_entry WHERE relation <> 'canonical' AND linked_at >= ?1";
        let last_fetch_at = self
            .conn
            .query_row("SELECT MAX(last_fetch_at) FROM feed", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut top = self
            .conn
            .prepare(&format!(
                "SELECT {STORY_COLUMNS} FROM stories WHERE published_at >= ?1 OR first_seen_at >= ?1
                 ORDER BY source_count DESC, published_at DESC, story_id DESC LIMIT ?2"
            ))
            .map_err(|e| self.err(e))?;
        let top_stories = top
            .query_map(params![day_ago, DASHBOARD_ROWS], story_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        let mut failing_feeds: Vec<FeedRow> = self
            .feeds()?
            .into_iter()
            .filter(|f| f.status == "failing")
            .collect();
        failing_feeds.sort_by_key(|f| std::cmp::Reverse(f.error_count));
        failing_feeds.truncate(DASHBOARD_ROWS as usize);
        Ok(StatusReport {
            database: self.path.display().to_string(),
            database_bytes: disk_size(&self.path),
            feeds: self.feed_health(now)?,
            entries_today: count(entries, &today)?,
            stories_today: count(stories, &today)?,
            entries_24h: count(entries, &day_ago)?,
            stories_24h: count(stories, &day_ago)?,
            folded_24h: count(folded, &day_ago)?,
            last_fetch_at,
            top_stories,
            failing_feeds,
            search_index: self.index_lag()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    #[test]
    fn feed_health_sorts_every_active_feed_into_one_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("ff.db")).expect("open");
        let now = Utc::now();
        let feeds: Vec<FeedConfig> = ["ok", "failing", "backoff", "new", "gone410", "gone"]
            .iter()
            .map(|n| FeedConfig {
                url: format!("https://{n}.example/rss"),
                ..FeedConfig::default()
            })
            .collect();
        store.sync_feeds(&feeds, now).expect("sync");
        store.sync_feeds(&feeds[..5], now).expect("sync");
        let past = format_time(now - chrono::TimeDelta::minutes(1));
        let future = format_time(now + chrono::TimeDelta::minutes(10));
        for (host, errors, due) in [
            ("ok", 0, &future),
            ("failing", 2, &past),
            ("backoff", 3, &future),
            ("gone410", 1, &past),
        ] {
            store
                .conn
                .execute(
                    "UPDATE feed SET last_fetch_at = ?1, error_count = ?2, next_due_at = ?3 WHERE url LIKE ?4",
                    params![past, errors, due, format!("https://{host}.%")],
                )
                .expect("update");
        }
        // A 410 disables the feed: it is neither failing nor waiting.
        store
            .conn
            .execute(
                "UPDATE feed SET disabled_at = ?1, disabled_reason = 'HTTP 410 Gone' WHERE url LIKE 'https://gone410.%'",
                [&past],
            )
            .expect("disable");
        let h = store.feed_health(now).expect("health");
        assert_eq!(
            h,
            FeedHealth {
                active: 5,
                ok: 1,
                failing: 2,
                backoff: 1,
                new: 1,
                inactive: 1,
                disabled: 1,
            }
        );
        store.probe().expect("probe");
        assert!(disk_size(store.path()) > 0);
    }
}
