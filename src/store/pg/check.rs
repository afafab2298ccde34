//! Consistency checks of a PostgreSQL store: the lineage invariants the
//! SQLite store checks (src/store/check.rs), plus what PostgreSQL's own
//! constraints do not already enforce about the denormalised story columns
//! and the search vectors. Foreign keys and page integrity are the
//! server's business.

use super::search::SEARCH_VECTOR_SQL;
use super::{PgError, PgStore};

/// Each check: a description and a query counting the rows that break it.
const CHECKS: &[(&str, &str)] = &[
    (
        "entries that belong to no story",
        "SELECT COUNT(*) FROM entry e WHERE NOT EXISTS (SELECT 1 FROM story_entry se WHERE se.entry_id = e.id)",
    ),
    (
        "stories without a canonical copy",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS
            (SELECT 1 FROM story_entry se WHERE se.story_id = s.id AND se.relation = 'canonical')",
    ),
    (
        "stories whose canonical_entry_id is not their canonical copy",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS
            (SELECT 1 FROM story_entry se WHERE se.story_id = s.id AND se.entry_id = s.canonical_entry_id
             AND se.relation = 'canonical')",
    ),
    (
        "stories with no entries",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS (SELECT 1 FROM story_entry se WHERE se.story_id = s.id)",
    ),
    (
        "stories whose source_count is not the number of feeds of their copies",
        "SELECT COUNT(*) FROM story s WHERE s.source_count <>
            (SELECT COUNT(DISTINCT e.feed_id) FROM story_entry se JOIN entry e ON e.id = se.entry_id
             WHERE se.story_id = s.id)",
    ),
];

impl PgStore {
    /// The lineage invariants, and that every indexed entry's `search`
    /// holds the words of its current title and body (an edit that did not
    /// reset it to NULL would leave it stale); one line per problem, empty
    /// when consistent ([`crate::store::Store::check_consistency`]).
    pub async fn check_consistency(&self) -> Result<Vec<String>, PgError> {
        let client = self.client().await?;
        let stale = format!(
            "SELECT COUNT(*) FROM entry WHERE search IS NOT NULL AND search <> ({SEARCH_VECTOR_SQL})"
        );
        let index_check = [(
            "entries whose search vector is not that of their title and body",
            stale.as_str(),
        )];
        let mut problems = Vec::new();
        for (what, sql) in CHECKS.iter().copied().chain(index_check) {
            let n: i64 = client.query_one(sql, &[]).await?.try_get(0)?;
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        Ok(problems)
    }
}
