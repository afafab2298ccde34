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
    /// Where it is fetched when not `url` (after a move or autodiscovery).
    pub fetch_url: Option<String>,
    /// The interval in force, in seconds, and why (`None` before the first
    /// successful fetch).
    pub poll_interval: Option<(i64, String)>,
    /// Consecutive failed fetches so far.
    pub error_count: i64,
    /// A permanent redirect seen on the last `.1` successful fetches.
    pub redirect: Option<(String, u32)>,
    /// The server asked (429/503 Retry-After) not to be asked before this.
    pub retry_after_until: Option<DateTime<Utc>>,
}

impl DueFeed {
    /// The URL to GET: the moved or discovered one, else the listed one.
    pub fn fetch_url(&self) -> &str {
        self.fetch_url.as_deref().unwrap_or(&self.url)
    }
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
    /// Listed feeds whose title, interval or tags changed.
    pub updated: usize,
}

/// A listed feed as the database had it before a sync.
struct Known {
    id: i64,
    active: bool,
    title: Option<String>,
    interval: Option<i64>,
    url: String,
}

impl Store {
    /// Makes the database's feed list mirror the config: adds new feeds,
    /// updates titles, intervals and tags, and marks feeds missing from the
    /// config inactive (their entries and stories are kept). A shortened
    /// interval pulls the feed's next due time forward, so the new setting
    /// counts from the last fetch rather than after one more long wait.
    pub fn sync_feeds(
        &mut self,
        feeds: &[FeedConfig],
        now: DateTime<Utc>,
    ) -> Result<SyncReport, StoreError> {
        let now = format_time(now);
        let mut report = SyncReport::default();
        let path = self.path.clone();
        let e = |source| err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        {
            // A listed URL matches a feed by its URL, else by the URL it is
            // fetched from now: editing the config to follow a permanent
            // redirect or an autodiscovered feed keeps the same feed.
            let mut find = tx
                .prepare_cached(
                    "SELECT id, active, title, interval_secs, url FROM feed WHERE url = ?1
                     UNION ALL SELECT id, active, title, interval_secs, url FROM feed WHERE fetch_url = ?1
                        AND NOT EXISTS (SELECT 1 FROM feed WHERE url = ?1)
                     LIMIT 1",
                )
                .map_err(e)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO feed (url, title, interval_secs, added_at) VALUES (?1, ?2, ?3, ?4) RETURNING id")
                .map_err(e)?;
            let mut update = tx
                .prepare_cached(
                    // Coming back into the config clears a 410 disabling:
                    // the user listed the feed again on purpose.
                    "UPDATE feed SET url = ?4, fetch_url = CASE WHEN fetch_url = ?4 THEN NULL ELSE fetch_url END,
                        title = ?2, interval_secs = ?3,
                        disabled_at = CASE WHEN active = 0 THEN NULL ELSE disabled_at END,
                        disabled_reason = CASE WHEN active = 0 THEN NULL ELSE disabled_reason END,
                        active = 1 WHERE id = ?1",
                )
                .map_err(e)?;
            let mut pull_forward = tx
                .prepare_cached(
                    "UPDATE feed SET next_due_at = MIN(next_due_at,
                         strftime('%Y-%m-%dT%H:%M:%SZ', last_fetch_at, '+' || ?2 || ' seconds'))
                     WHERE id = ?1 AND next_due_at IS NOT NULL AND last_fetch_at IS NOT NULL",
                )
                .map_err(e)?;
            let mut old_tags = tx
                .prepare_cached("SELECT tag FROM feed_tag WHERE feed_id = ?1 ORDER BY tag")
                .map_err(e)?;
            let mut clear_tags = tx
                .prepare_cached("DELETE FROM feed_tag WHERE feed_id = ?1")
                .map_err(e)?;
            let mut add_tag = tx
                .prepare_cached("INSERT OR IGNORE INTO feed_tag (feed_id, tag) VALUES (?1, ?2)")
                .map_err(e)?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS listed (url TEXT PRIMARY KEY)",
                [],
            )
            .map_err(e)?;
            tx.execute("DELETE FROM temp.listed", []).map_err(e)?;
            let mut listed = tx
                .prepare_cached("INSERT OR IGNORE INTO temp.listed (url) VALUES (?1)")
                .map_err(e)?;
            let all_listed: std::collections::HashSet<&str> =
                feeds.iter().map(|f| f.url.as_str()).collect();
            for f in feeds {
                let interval = f
                    .interval
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                listed.execute([&f.url]).map_err(e)?;
                let known = find
                    .query_row([&f.url], |r| {
                        Ok(Known {
                            id: r.get(0)?,
                            active: r.get(1)?,
                            title: r.get(2)?,
                            interval: r.get(3)?,
                            url: r.get(4)?,
                        })
                    })
                    .optional()
                    .map_err(e)?
                    // Adopt a moved feed only if its own URL is not listed too.
                    .filter(|k| k.url == f.url || !all_listed.contains(k.url.as_str()));
                let id = match known {
                    Some(k) => {
                        let tags: Vec<String> = old_tags
                            .query_map([k.id], |r| r.get(0))
                            .map_err(e)?
                            .collect::<Result<_, _>>()
                            .map_err(e)?;
                        let changed = k.title != f.title
                            || k.interval != interval
                            || !same_tags(&tags, &f.tags);
                        report.updated += usize::from(changed && k.active);
                        report.reactivated += usize::from(!k.active);
                        update
                            .execute(params![k.id, f.title, interval, f.url])
                            .map_err(e)?;
                        if let Some(secs) =
                            interval.filter(|s| k.interval.is_none_or(|old| *s < old))
                        {
                            pull_forward.execute(params![k.id, secs]).map_err(e)?;
                        }
                        k.id
                    }
                    None => {
                        report.added += 1;
                        insert
                            .query_row(params![f.url, f.title, interval, now], |r| r.get(0))
                            .map_err(e)?
                    }
                };
                clear_tags.execute([id]).map_err(e)?;
                for tag in &f.tags {
                    add_tag.execute(params![id, tag]).map_err(e)?;
                }
            }
            report.deactivated = tx
                .execute(
                    "UPDATE feed SET active = 0 WHERE active = 1 AND url NOT IN (SELECT url FROM temp.listed)",
                    [],
                )
                .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(report)
    }

    /// Active feeds whose next due time has passed (or every active feed with `all`),
    /// most overdue first.
    pub fn due_feeds(&self, now: DateTime<Utc>, all: bool) -> Result<Vec<DueFeed>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, url, etag, last_modified, interval_secs, fetch_url, poll_interval_secs,
                        interval_reason, error_count, redirect_url, redirect_count, retry_after_until FROM feed
                 WHERE active = 1 AND disabled_at IS NULL
                   AND (?2 OR next_due_at IS NULL OR next_due_at <= ?1)
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
                    fetch_url: r.get(5)?,
                    poll_interval: match (
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ) {
                        (Some(secs), reason) => Some((secs, reason.unwrap_or_default())),
                        (None, _) => None,
                    },
                    error_count: r.get(8)?,
                    redirect: match (r.get::<_, Option<String>>(9)?, r.get::<_, u32>(10)?) {
                        (Some(url), n) if n > 0 => Some((url, n)),
                        _ => None,
                    },
                    retry_after_until: r
                        .get::<_, Option<String>>(11)?
                        .as_deref()
                        .and_then(super::parse_time),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A feed's learned boilerplate (JSON), for analysing its new entries
    /// before they reach the writer. Read per fetch that brings a body, not
    /// with the due list: holding every feed's model through a pass doubled
    /// a large warm pass's peak memory (BENCHMARKS.md).
    pub fn boilerplate_model(&self, feed: FeedId) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT boilerplate_model FROM feed WHERE id = ?1")
            .and_then(|mut s| s.query_row([feed.0], |r| r.get(0)).optional())
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }
}

/// Whether two tag lists hold the same tags, ignoring order and case.
fn same_tags(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|t| t.to_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

/// Wraps a SQLite error with the database path, turning the two errors an
/// administrator must act on (disk full, read-only) into their own variants.
pub(super) fn err(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase(path),
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
            ..FeedConfig::default()
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

    #[test]
    fn sync_writes_tags_and_pulls_a_shortened_interval_forward() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("ff.db")).expect("open");
        let now = Utc::now();
        let mut a = feed("https://a.example/rss");
        a.tags = vec!["Pakistan".into(), "news".into()];
        a.interval = Some(Duration::from_secs(86_400));
        store
            .sync_feeds(std::slice::from_ref(&a), now)
            .expect("sync");
        let tags = |store: &Store| -> Vec<String> {
            let mut stmt = store
                .conn
                .prepare("SELECT tag FROM feed_tags WHERE feed_url = 'https://a.example/rss' ORDER BY tag")
                .expect("prepare");
            stmt.query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        assert_eq!(tags(&store), ["news", "Pakistan"]);

        // As if polled an hour ago, next due in 23 hours.
        store
            .conn
            .execute(
                "UPDATE feed SET last_fetch_at = ?1, next_due_at = ?2",
                params![
                    format_time(now - chrono::TimeDelta::hours(1)),
                    format_time(now + chrono::TimeDelta::hours(23))
                ],
            )
            .expect("update");
        a.tags = vec!["pakistan".into()];
        a.interval = Some(Duration::from_secs(600));
        let r = store
            .sync_feeds(std::slice::from_ref(&a), now)
            .expect("sync");
        assert_eq!(r.updated, 1);
        assert_eq!(tags(&store), ["pakistan"]);
        assert_eq!(
            store.due_feeds(now, false).expect("due").len(),
            1,
            "due now: 10 minutes after the last fetch has passed"
        );

        // Nothing changed: nothing reported.
        let r = store
            .sync_feeds(std::slice::from_ref(&a), now)
            .expect("sync");
        assert_eq!(r, SyncReport::default());

        // Removed from the list: inactive, tags kept for the record.
        let r = store.sync_feeds(&[], now).expect("sync");
        assert_eq!(r.deactivated, 1);
        let active: bool = store
            .conn
            .query_row("SELECT active FROM feed_tags", [], |r| r.get(0))
            .expect("row");
        assert!(!active);
    }
}
