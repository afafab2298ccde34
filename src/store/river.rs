//! Read queries behind the web surface (`crate::web`): the story river with
//! its filters, each story with its lineage and the canonical copy's HTML,
//! and the tags to filter by. They read the public views (`stories`,
//! `story_sources`, `feed_tags`), except for the canonical copy's HTML,
//! which no view carries (`story_sources.text` is plain text).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::query::{story_row, SourceRow, StoryRow, STORY_COLUMNS};
use super::{format_time, EntryId, Store, StoreError, StoryId};

/// Which stories a river (a page of `/` or an outgoing feed) shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiverFilter {
    /// Only stories carried by a feed with this tag (compared ignoring case).
    pub tag: Option<String>,
    /// Only stories published at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only stories carried by at least this many feeds (1 keeps all).
    pub min_sources: i64,
    /// At most this many stories.
    pub limit: usize,
    /// Skip this many of the newest first (paging).
    pub offset: usize,
}

/// One story of a river, with what a reader needs to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct RiverStory {
    /// The story (a row of the `stories` view).
    pub story: StoryRow,
    /// Its copies in time order (rows of `story_sources`), canonical included.
    pub copies: Vec<SourceRow>,
    /// The canonical copy's HTML as its feed sent it (content, else
    /// summary): untrusted, to be sanitised before it is shown.
    pub html: Option<String>,
}

impl RiverStory {
    /// The canonical copy among [`Self::copies`].
    pub fn canonical(&self) -> Option<&SourceRow> {
        self.copies.iter().find(|c| c.relation == "canonical")
    }
}

/// The river query: `?1` limit, `?2` offset, `?3` published cut-off, `?4`
/// minimum sources, `?5` tag. Each filter is written only
/// when asked for, so that the plain river walks the `story_published` index
/// backwards and stops after `limit` rows.
fn river_sql(filter: &RiverFilter) -> String {
    let mut wheres = Vec::new();
    if filter.since.is_some() {
        wheres.push("published_at >= ?3");
    }
    if filter.min_sources > 1 {
        wheres.push("source_count >= ?4");
    }
    if filter.tag.is_some() {
        wheres.push(
            "story_id IN (SELECT ss.story_id FROM story_sources ss
                 JOIN feed_tags ft ON ft.feed_url = ss.feed_url
                 WHERE ft.tag = ?5 COLLATE NOCASE)",
        );
    }
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wheres.join(" AND "))
    };
    format!(
        "SELECT {STORY_COLUMNS} FROM stories {filter}
         ORDER BY published_at DESC, story_id DESC LIMIT ?1 OFFSET ?2"
    )
}

impl Store {
    /// Opens the database for reading only, for a reader that stays open
    /// beside the running daemon (the web surface). Unlike
    /// [`Store::open_read_only`], it never opens the file `immutable`: a
    /// long-lived connection must see what the writer commits later.
    pub fn open_live_reader(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Store::open_read_only_as(path, false)
    }

    /// The stories `filter` keeps, newest first, each with its lineage and
    /// its canonical copy's HTML, read in one transaction so that a story
    /// and its copies agree.
    pub fn river(&self, filter: &RiverFilter) -> Result<Vec<RiverStory>, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let since = filter.since.map(format_time).unwrap_or_default();
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        let tag = filter.tag.clone().unwrap_or_default();
        let stories: Vec<StoryRow> = {
            let mut stmt = tx
                .prepare_cached(&river_sql(filter))
                .map_err(|e| self.err(e))?;
            // SQLite counts parameters up to the highest number used.
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&limit, &offset];
            let used = if filter.tag.is_some() {
                5
            } else if filter.min_sources > 1 {
                4
            } else if filter.since.is_some() {
                3
            } else {
                2
            };
            let rest: [&dyn rusqlite::ToSql; 3] = [&since, &filter.min_sources, &tag];
            values.extend(rest.into_iter().take(used - 2));
            let rows = stmt
                .query_map(values.as_slice(), story_row)
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        let mut out = Vec::with_capacity(stories.len());
        for story in stories {
            // A story pruned between the two reads cannot happen inside the
            // transaction; `None` here would mean a damaged file.
            out.extend(self.with_lineage(StoryId(story.story_id))?);
        }
        tx.finish().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// One story with its lineage and canonical HTML, or `None`.
    pub fn river_story(&self, id: StoryId) -> Result<Option<RiverStory>, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let story = self.with_lineage(id)?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(story)
    }

    /// Story `id`, its copies and its canonical copy's HTML (inside the
    /// caller's read transaction), or `None`.
    fn with_lineage(&self, id: StoryId) -> Result<Option<RiverStory>, StoreError> {
        let Some((story, copies)) = self.story(id)? else {
            return Ok(None);
        };
        let html = match copies.iter().find(|c| c.relation == "canonical") {
            Some(c) => self.entry_html(c.entry_id)?,
            None => None,
        };
        Ok(Some(RiverStory {
            story,
            copies,
            html,
        }))
    }

    /// An entry's HTML as its feed sent it: its content, else its summary.
    fn entry_html(&self, entry_id: i64) -> Result<Option<String>, StoreError> {
        let html = super::text::read_html(&self.conn, EntryId(entry_id))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(html.and_then(|h| h.content.filter(|c| !c.is_empty()).or(h.summary)))
    }

    /// The tags of the listed feeds, each once, in alphabetical order.
    pub fn tags(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT MIN(tag) FROM feed_tags WHERE active = 1
                 GROUP BY tag COLLATE NOCASE ORDER BY tag COLLATE NOCASE",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_river_has_no_filter_to_defeat_the_index() {
        let sql = river_sql(&RiverFilter::default());
        assert!(!sql.contains("WHERE"), "{sql}");
        let sql = river_sql(&RiverFilter {
            min_sources: 3,
            tag: Some("x".into()),
            ..RiverFilter::default()
        });
        assert!(sql.contains("source_count >= ?4"), "{sql}");
        assert!(sql.contains("ft.tag = ?5"), "{sql}");
        assert!(!sql.contains("?3"), "{sql}");
    }
}
