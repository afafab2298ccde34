//! The read queries behind the CLI listings, on PostgreSQL: the same rows
//! as the SQLite store's (src/store/query.rs), with its times turned into
//! the same `YYYY-MM-DDTHH:MM:SSZ` strings, so one printing code serves
//! both backends.

use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{PgError, PgStore};
use crate::store::query::{FeedRow, SourceRow, StoryRow, TimeFilter};
use crate::store::{format_time, StoryId};

/// A stored time as the SQLite store writes it.
pub(crate) fn time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format_time)
}

/// A cut-off as SQLite compares it: to the second, since SQLite compares
/// stored text truncated to seconds.
pub(crate) fn cutoff(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(|t| t.trunc_subsecs(0))
}

/// The columns of the `stories` view, in [`story_row`]'s order.
pub(crate) const STORY_COLUMNS: &str =
    "story_id, title, url, published_at, first_seen_at, last_seen_at, source_count, origin_agency";

/// A row of [`STORY_COLUMNS`].
pub(crate) fn story_row(r: &Row) -> Result<StoryRow, PgError> {
    Ok(StoryRow {
        story_id: r.try_get(0)?,
        title: r.try_get(1)?,
        url: r.try_get(2)?,
        published_at: format_time(r.try_get(3)?),
        first_seen_at: format_time(r.try_get(4)?),
        last_seen_at: format_time(r.try_get(5)?),
        source_count: i64::from(r.try_get::<_, i32>(6)?),
        origin_agency: r.try_get(7)?,
    })
}

/// `feedfold feeds`: the SQLite query's columns, with the `feeds` view's
/// status and the host's throttling read in the same statement (`feed.host`
/// is the lower-cased host of the fetch URL, as SQLite derives it).
const FEEDS_SQL: &str = "SELECT f.url, COALESCE(f.title, f.feed_title), f.active, f.last_fetch_at,
        f.last_status, f.last_error, f.error_count, f.next_due_at,
        (SELECT COUNT(*) FROM entry e WHERE e.feed_id = f.id),
        f.fetch_url, COALESCE(f.interval_secs, f.poll_interval_secs),
        CASE WHEN f.interval_secs IS NOT NULL
             THEN 'pinned by the feed''s interval in the config' ELSE f.interval_reason END,
        CASE WHEN f.retry_after_until > now() THEN f.retry_after_until END,
        f.disabled_at IS NOT NULL, f.disabled_reason,
        CASE WHEN f.redirect_count > 0 THEN f.redirect_url END, f.redirect_count,
        v.status,
        (SELECT h.throttled_until FROM host h WHERE h.name = f.host AND h.throttled_until > now())
 FROM feed f JOIN feeds v ON v.feed_id = f.id
 ORDER BY f.active DESC, f.url";

/// `feedfold story`: the copies of one story in time order.
const LINEAGE_SQL: &str =
    "SELECT entry_id, feed_url, feed_title, entry_url, entry_title, published_at, fetched_at,
        relation, similarity, credited_agency, text
 FROM story_sources WHERE story_id = $1
 ORDER BY COALESCE(published_at, fetched_at), entry_id";

fn feed_row(r: &Row) -> Result<FeedRow, PgError> {
    let error_count = i64::from(r.try_get::<_, i32>(6)?);
    let disabled: bool = r.try_get(13)?;
    let next_due_at = time_text(r.try_get(7)?);
    Ok(FeedRow {
        url: r.try_get(0)?,
        title: r.try_get(1)?,
        active: r.try_get(2)?,
        last_fetch_at: time_text(r.try_get(3)?),
        last_status: r.try_get::<_, Option<i32>>(4)?.map(i64::from),
        last_error: r.try_get(5)?,
        error_count,
        backoff_until: next_due_at.clone().filter(|_| error_count > 0 && !disabled),
        next_due_at,
        entries: r.try_get(8)?,
        fetch_url: r.try_get(9)?,
        interval_secs: r.try_get::<_, Option<i32>>(10)?.map(i64::from),
        interval_reason: r.try_get(11)?,
        retry_after_until: time_text(r.try_get(12)?),
        host_throttled_until: time_text(r.try_get(18)?),
        disabled,
        disabled_reason: r.try_get(14)?,
        pending_redirect: r.try_get(15)?,
        pending_redirect_count: i64::from(r.try_get::<_, i32>(16)?),
        status: r.try_get(17)?,
    })
}

impl PgStore {
    /// Every feed, active first, by URL ([`crate::store::Store::feeds`]).
    pub async fn feeds(&self) -> Result<Vec<FeedRow>, PgError> {
        let client = self.client().await?;
        let rows = client.query(FEEDS_SQL, &[]).await?;
        rows.iter().map(feed_row).collect()
    }

    /// The active, not disabled feed due soonest: its title (else URL) and
    /// next due time (`None`: due now), a Retry-After in force counting as
    /// the due time when later. `None` when no feed is polled at all.
    pub async fn next_due(&self) -> Result<Option<(String, Option<String>)>, PgError> {
        let client = self.client().await?;
        // SQLite's two-argument MAX is NULL when next_due_at is: due now.
        let row = client
            .query_opt(
                "SELECT name, due FROM (
                     SELECT COALESCE(title, feed_title, url) AS name,
                            CASE WHEN next_due_at IS NOT NULL
                                 THEN GREATEST(next_due_at, retry_after_until) END AS due
                     FROM feed WHERE active AND disabled_at IS NULL) d
                 ORDER BY due IS NOT NULL, due, name LIMIT 1",
                &[],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, time_text(r.try_get(1)?))))
            .transpose()
    }

    /// Stories published since `since`, newest first.
    pub async fn stories(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<StoryRow>, PgError> {
        self.stories_tagged(&TimeFilter::published(since), limit, &[])
            .await
    }

    /// Stories that pass `filter`, newest first, keeping only stories that
    /// a feed with one of `tags` carried (ignoring case); no tags keeps
    /// every story ([`crate::store::Store::stories_tagged`]).
    pub async fn stories_tagged(
        &self,
        filter: &TimeFilter,
        limit: usize,
        tags: &[String],
    ) -> Result<Vec<StoryRow>, PgError> {
        let client = self.client().await?;
        let list = StoryList {
            published_since: filter.published_since,
            seen_since: filter.seen_since,
            min_sources: 1,
            tags: tags.to_vec(),
            limit,
            offset: 0,
        };
        list_stories(&client, &list).await
    }

    /// One story and its copies in time order, or `None` if there is no
    /// such story ([`crate::store::Store::story`]).
    pub async fn story(&self, id: StoryId) -> Result<Option<(StoryRow, Vec<SourceRow>)>, PgError> {
        let client = self.client().await?;
        story_with_sources(&client, id).await
    }
}

/// Which stories a listing keeps: [`TimeFilter`] and tags for `stories`,
/// plus the river's minimum of sources and paging.
pub(crate) struct StoryList {
    pub(crate) published_since: Option<DateTime<Utc>>,
    pub(crate) seen_since: Option<DateTime<Utc>>,
    pub(crate) min_sources: i64,
    pub(crate) tags: Vec<String>,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

/// The stories `list` keeps, newest first.
pub(crate) async fn list_stories(
    client: &impl GenericClient,
    list: &StoryList,
) -> Result<Vec<StoryRow>, PgError> {
    let limit = i64::try_from(list.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(list.offset).unwrap_or(i64::MAX);
    let published = cutoff(list.published_since);
    let seen = cutoff(list.seen_since);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&limit, &offset];
    // Filters only when asked for, as in SQLite: without one the query
    // walks the `story_published` index backwards and stops at `limit`.
    let mut filters = Vec::new();
    if let Some(p) = &published {
        params.push(p);
        filters.push(format!("published_at >= ${}", params.len()));
    }
    if let Some(s) = &seen {
        params.push(s);
        filters.push(format!("first_seen_at >= ${}", params.len()));
    }
    let min_sources = i32::try_from(list.min_sources).unwrap_or(i32::MAX);
    if list.min_sources > 1 {
        params.push(&min_sources);
        filters.push(format!("source_count >= ${}", params.len()));
    }
    if !list.tags.is_empty() {
        params.push(&list.tags);
        filters.push(format!(
            "story_id IN (SELECT se.story_id FROM story_entry se
                 JOIN entry e ON e.id = se.entry_id
                 JOIN feed_tag t ON t.feed_id = e.feed_id
                 WHERE lower(t.tag) IN (SELECT lower(x) FROM unnest(${}::text[]) x))",
            params.len()
        ));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let sql = format!(
        "SELECT {STORY_COLUMNS} FROM stories {filter}
         ORDER BY published_at DESC, story_id DESC LIMIT $1 OFFSET $2"
    );
    let rows = client.query(&sql, &params).await?;
    rows.iter().map(story_row).collect()
}

/// One story and its copies in time order, or `None`.
pub(crate) async fn story_with_sources(
    client: &impl GenericClient,
    id: StoryId,
) -> Result<Option<(StoryRow, Vec<SourceRow>)>, PgError> {
    let sql = format!("SELECT {STORY_COLUMNS} FROM stories WHERE story_id = $1");
    let Some(row) = client.query_opt(&sql, &[&id.0]).await? else {
        return Ok(None);
    };
    let story = story_row(&row)?;
    let sources = client
        .query(LINEAGE_SQL, &[&id.0])
        .await?
        .iter()
        .map(|r| {
            Ok(SourceRow {
                entry_id: r.try_get(0)?,
                feed_url: r.try_get(1)?,
                feed_title: r.try_get(2)?,
                entry_url: r.try_get(3)?,
                entry_title: r.try_get(4)?,
                published_at: time_text(r.try_get(5)?),
                fetched_at: format_time(r.try_get(6)?),
                relation: r.try_get(7)?,
                similarity: r.try_get(8)?,
                credited_agency: r.try_get(9)?,
                text: r.try_get(10)?,
            })
        })
        .collect::<Result<_, PgError>>()?;
    Ok(Some((story, sources)))
}
