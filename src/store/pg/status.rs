//! Feed health and the `feedfold status` dashboard on PostgreSQL: the same
//! [`StatusReport`] as SQLite's (src/store/status.rs). The database is
//! named by its URL without the password, and its size is
//! `pg_database_size`.

use chrono::{DateTime, TimeDelta, Utc};

use super::query::{story_row, time_text, STORY_COLUMNS};
use super::{PgError, PgStore};
use crate::store::query::FeedRow;
use crate::store::status::{FeedHealth, StatusReport, DASHBOARD_ROWS};

impl PgStore {
    /// Counts the feeds by health at `now` ([`crate::store::Store::feed_health`]).
    pub async fn feed_health(&self, now: DateTime<Utc>) -> Result<FeedHealth, PgError> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "SELECT
                    COUNT(*) FILTER (WHERE active),
                    COUNT(*) FILTER (WHERE live AND last_fetch_at IS NOT NULL AND error_count = 0),
                    COUNT(*) FILTER (WHERE live AND last_fetch_at IS NOT NULL AND error_count > 0),
                    COUNT(*) FILTER (WHERE live AND last_fetch_at IS NOT NULL AND error_count > 0
                                     AND next_due_at > $1),
                    COUNT(*) FILTER (WHERE live AND last_fetch_at IS NULL),
                    COUNT(*) FILTER (WHERE NOT active),
                    COUNT(*) FILTER (WHERE active AND NOT live)
                 FROM (SELECT *, active AND disabled_at IS NULL AS live FROM feed) f",
                &[&now],
            )
            .await?;
        Ok(FeedHealth {
            active: r.try_get(0)?,
            ok: r.try_get(1)?,
            failing: r.try_get(2)?,
            backoff: r.try_get(3)?,
            new: r.try_get(4)?,
            inactive: r.try_get(5)?,
            disabled: r.try_get(6)?,
        })
    }

    /// The database's size on disk (`pg_database_size`), for `/metrics`.
    pub async fn database_size(&self) -> Result<u64, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }

    /// Whether the database answers a query now, for `/healthz`.
    pub async fn probe(&self) -> Result<(), PgError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    /// The `feedfold status` dashboard at `now`; "today" starts at `today`
    /// ([`crate::store::Store::status`]).
    pub async fn status(
        &self,
        now: DateTime<Utc>,
        today: DateTime<Utc>,
    ) -> Result<StatusReport, PgError> {
        let day_ago = now - TimeDelta::hours(24);
        let client = self.client().await?;
        let counts = client
            .query_one(
                "SELECT pg_database_size(current_database()),
                        (SELECT COUNT(*) FROM entry WHERE first_seen_at >= $1),
                        (SELECT COUNT(*) FROM story WHERE first_seen_at >= $1),
                        (SELECT COUNT(*) FROM entry WHERE first_seen_at >= $2),
                        (SELECT COUNT(*) FROM story WHERE first_seen_at >= $2),
                        (SELECT COUNT(*) FROM story_entry
                         WHERE relation <> 'canonical' AND linked_at >= $2),
                        (SELECT MAX(last_fetch_at) FROM feed)",
                &[&today, &day_ago],
            )
            .await?;
        let top_stories = client
            .query(
                &format!(
                    "SELECT {STORY_COLUMNS} FROM stories WHERE published_at >= $1 OR first_seen_at >= $1
                     ORDER BY source_count DESC, published_at DESC, story_id DESC LIMIT $2"
                ),
                &[&day_ago, &DASHBOARD_ROWS],
            )
            .await?
            .iter()
            .map(story_row)
            .collect::<Result<_, _>>()?;
        drop(client);
        let mut failing_feeds: Vec<FeedRow> = self
            .feeds()
            .await?
            .into_iter()
            .filter(|f| f.status == "failing")
            .collect();
        failing_feeds.sort_by_key(|f| std::cmp::Reverse(f.error_count));
        failing_feeds.truncate(usize::try_from(DASHBOARD_ROWS).unwrap_or(usize::MAX));
        Ok(StatusReport {
            database: self.database().to_string(),
            database_bytes: u64::try_from(counts.try_get::<_, i64>(0)?).unwrap_or(0),
            feeds: self.feed_health(now).await?,
            entries_today: counts.try_get(1)?,
            stories_today: counts.try_get(2)?,
            entries_24h: counts.try_get(3)?,
            stories_24h: counts.try_get(4)?,
            folded_24h: counts.try_get(5)?,
            last_fetch_at: time_text(counts.try_get(6)?),
            top_stories,
            failing_feeds,
            search_index: self.index_lag().await?,
        })
    }
}
