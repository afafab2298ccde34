//! The feed list as the database mirrors it: syncing from the config and
//! picking the feeds that are due.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{format_time, FeedId, Store, StoreError};
use crate::config::FeedConfig;
use crate::fetch::Validators;

/// A feed the scheduler should fetch now.
#[derive(Debug, Clone)]
pub struct DueFeed {
    /// Its id.
    pub id: FeedId,
    /// Its URL.
    pub url: String,
    /// Validators for a conditional GET.
    pub validators: Validators,
    /// Its configured interval override, in seconds.
    pub interval_secs: Option<i64>,
}

/// What [`Store::sync_feeds`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Feeds new to the database.
    pub added: usize,
    /// Feeds that came back into the config.
    pub reactivated: usize,
    /// Feeds no longer in the config (kept, marked inactive).
    pub deactivated: usize,
}

impl Store {
    /// Makes the database's feed list mirror the config: adds new feeds,
    /// updates titles and intervals, and marks feeds missing from the config
    /// inactive (their entries and stories are kept).
    pub fn sync_feeds(
        &mut self,
        feeds: &[FeedConfig],
        now: DateTime<Utc>,
    ) -> Result<SyncReport, StoreError> {
        let now = format_time(now);
        let mut report = SyncReport::default();
        let tx = self.conn.transaction().map_err(|e| err(&self.path, e))?;
        {
            let mut find = tx
                .prepare_cached("SELECT id, active FROM feed WHERE url = ?1")
                .map_err(|e| err(&self.path, e))?;
            let mut insert = tx
                .prepare_cached("INSERT INTO feed (url, title, interval_secs, added_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| err(&self.path, e))?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE feed SET title = ?2, interval_secs = ?3, active = 1 WHERE id = ?1",
                )
                .map_err(|e| err(&self.path, e))?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS listed (url TEXT PRIMARY KEY)",
                [],
            )
            .map_err(|e| err(&self.path, e))?;
            tx.execute("DELETE FROM temp.listed", [])
                .map_err(|e| err(&self.path, e))?;
            let mut listed = tx
                .prepare_cached("INSERT OR IGNORE INTO temp.listed (url) VALUES (?1)")
                .map_err(|e| err(&self.path, e))?;
            for f in feeds {
                let interval = f.interval.map(|d| d.as_secs() as i64);
                listed.execute([&f.url]).map_err(|e| err(&self.path, e))?;
                let existing: Option<(i64, bool)> = find
                    .query_row([&f.url], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(|e| err(&self.path, e))?;
                match existing {
                    Some((id, active)) => {
                        update
                            .execute(params![id, f.title, interval])
                            .map_err(|e| err(&self.path, e))?;
                        report.reactivated += usize::from(!active);
                    }
                    None => {
                        insert
                            .execute(params![f.url, f.title, interval, now])
                            .map_err(|e| err(&self.path, e))?;
                        report.added += 1;
                    }
                }
            }
            report.deactivated = tx
                .execute(
                    "UPDATE feed SET active = 0 WHERE active = 1 AND url NOT IN (SELECT url FROM temp.listed)",
                    [],
                )
                .map_err(|e| err(&self.path, e))?;
        }
        tx.commit().map_err(|e| err(&self.path, e))?;
        Ok(report)
    }

    /// Active feeds whose next due time has passed (or every active feed with `all`),
    /// most overdue first.
    pub fn due_feeds(&self, now: DateTime<Utc>, all: bool) -> Result<Vec<DueFeed>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, url, etag, last_modified, interval_secs FROM feed
                 WHERE active = 1 AND (?2 OR next_due_at IS NULL OR next_due_at <= ?1)
                 ORDER BY next_due_at IS NOT NULL, next_due_at, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![format_time(now), all], |r| {
                Ok(DueFeed {
                    id: FeedId(r.get(0)?),
                    url: r.get(1)?,
                    validators: Validators {
                        etag: r.get(2)?,
                        last_modified: r.get(3)?,
                    },
                    interval_secs: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// Wraps a SQLite error with the database path, turning the two errors an
/// administrator must act on (disk full, read-only) into their own variants.
pub(super) fn err(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        _ => StoreError::Sqlite { path, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn feed(url: &str) -> FeedConfig {
        FeedConfig {
            url: url.to_string(),
            title: None,
            interval: None,
        }
    }

    #[test]
    fn sync_adds_deactivates_and_reactivates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("ff.db")).expect("open");
        let now = Utc::now();
        let a = feed("https://a.example/rss");
        let mut b = feed("https://b.example/rss");
        let r = store
            .sync_feeds(&[a.clone(), b.clone()], now)
            .expect("sync");
        assert_eq!(
            r,
            SyncReport {
                added: 2,
                ..Default::default()
            }
        );
        assert_eq!(store.due_feeds(now, false).expect("due").len(), 2);

        let r = store
            .sync_feeds(std::slice::from_ref(&a), now)
            .expect("sync");
        assert_eq!(r.deactivated, 1);
        assert_eq!(store.due_feeds(now, true).expect("due").len(), 1);

        b.interval = Some(Duration::from_secs(60));
        let r = store.sync_feeds(&[a, b], now).expect("sync");
        assert_eq!(r.reactivated, 1);
        let due = store.due_feeds(now, true).expect("due");
        assert_eq!(
            due.iter()
                .find(|f| f.url.starts_with("https://b"))
                .and_then(|f| f.interval_secs),
            Some(60)
        );
    }
}
