//! The web surface's reads on PostgreSQL (src/store/river.rs): the story
//! river with its filters, each story with its lineage and the canonical
//! copy's HTML, and the tags to filter by.

use deadpool_postgres::GenericClient;
use tokio_postgres::IsolationLevel;

use super::query::{list_stories, story_with_sources, StoryList};
use super::text::{self, HTML_COLUMNS};
use super::{PgError, PgStore};
use crate::store::river::{RiverFilter, RiverStory};
use crate::store::StoryId;

/// Story `id`, its copies and its canonical copy's HTML as its feed sent
/// it (content, else summary), or `None`.
async fn with_lineage(
    client: &impl GenericClient,
    id: StoryId,
) -> Result<Option<RiverStory>, PgError> {
    let Some((story, copies)) = story_with_sources(client, id).await? else {
        return Ok(None);
    };
    let html = match copies.iter().find(|c| c.relation == "canonical") {
        Some(c) => match client
            .query_opt(
                &format!("SELECT {HTML_COLUMNS} FROM entry e WHERE e.id = $1"),
                &[&c.entry_id],
            )
            .await?
        {
            Some(row) => text::html(&row, 0, c.entry_id)?,
            None => None,
        },
        None => None,
    };
    Ok(Some(RiverStory {
        story,
        copies,
        html,
    }))
}

/// A read-only transaction that sees one snapshot throughout.
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, PgError> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

impl PgStore {
    /// The stories `filter` keeps, newest first, each with its lineage and
    /// canonical HTML, read in one snapshot so that a story and its copies
    /// agree ([`crate::store::Store::river`]).
    pub async fn river(&self, filter: &RiverFilter) -> Result<Vec<RiverStory>, PgError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let list = StoryList {
            published_since: filter.since,
            seen_since: None,
            min_sources: filter.min_sources,
            tags: filter.tag.iter().cloned().collect(),
            limit: filter.limit,
            offset: filter.offset,
        };
        let stories = list_stories(&tx, &list).await?;
        let mut out = Vec::with_capacity(stories.len());
        for story in stories {
            out.extend(with_lineage(&tx, StoryId(story.story_id)).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One story with its lineage and canonical HTML, or `None`
    /// ([`crate::store::Store::river_story`]).
    pub async fn river_story(&self, id: StoryId) -> Result<Option<RiverStory>, PgError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let story = with_lineage(&tx, id).await?;
        tx.commit().await?;
        Ok(story)
    }

    /// The tags of the listed feeds, each once (the first spelling in byte
    /// order, as SQLite's `MIN`), ignoring case, in alphabetical order
    /// ([`crate::store::Store::tags`]).
    pub async fn tags(&self) -> Result<Vec<String>, PgError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT MIN(tag COLLATE \"C\") FROM feed_tags WHERE active
                 GROUP BY lower(tag) ORDER BY lower(tag)",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}
