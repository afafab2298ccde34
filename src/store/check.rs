//! Consistency checks of the database: what must hold after any crash, at
//! any moment between transactions. Used by the crash, corpus and fuzz
//! tests; cheap enough to run on a daemon's database by hand.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

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
        "entries stored twice in one feed",
        "SELECT COUNT(*) FROM (SELECT 1 FROM entry GROUP BY feed_id, identity HAVING COUNT(*) > 1)",
    ),
];

/// The search index's invariant (docs/SCHEMA.md, `entry_search`): an entry
/// is in the index exactly once when it is not queued, and not at all when
/// it is. Read through `fts5vocab`'s instance table, whose `doc` column is
/// the rowid of every indexed word; it reads the whole index, so these run
/// on test databases and by hand, not on a schedule.
const INDEX_CHECKS: &[(&str, &str)] = &[
    (
        "queued entries that are also in the search index",
        "SELECT COUNT(*) FROM (SELECT DISTINCT doc FROM temp.check_vocab)
         WHERE doc IN (SELECT entry_id FROM search_queue)",
    ),
    (
        "search index rows of entries that no longer exist",
        "SELECT COUNT(*) FROM (SELECT DISTINCT doc FROM temp.check_vocab)
         WHERE doc NOT IN (SELECT id FROM entry)",
    ),
    (
        "entries with text that are neither queued nor in the search index",
        "SELECT COUNT(*) FROM entry e
         WHERE (COALESCE(e.title, '') <> '' OR COALESCE(e.body, '') <> '')
           AND e.id NOT IN (SELECT entry_id FROM search_queue)
           AND e.id NOT IN (SELECT DISTINCT doc FROM temp.check_vocab)",
    ),
];

/// Rows FTS5 counts in `entry_search`: the first varint of its averages
/// record (`entry_search_data` row 1, FTS5's file format), which every
/// insert increments and every delete decrements. An entry indexed twice
/// shows only here: a later segment shadows the earlier row's words.
fn fts5_row_count(conn: &rusqlite::Connection) -> rusqlite::Result<Option<u64>> {
    let block: Option<Vec<u8>> = conn
        .query_row(
            "SELECT block FROM entry_search_data WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(block.as_deref().map(read_varint))
}

/// SQLite's variable-length integer: big-endian groups of 7 bits with the
/// high bit set on every byte but the last; a ninth byte holds 8 bits.
fn read_varint(bytes: &[u8]) -> u64 {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return (v << 8) | u64::from(b);
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

impl Store {
    /// Runs `PRAGMA integrity_check`, `PRAGMA foreign_key_check` and the
    /// lineage invariants; returns one line per problem (empty: consistent).
    pub fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let row = row.map_err(|e| self.err(e))?;
            if row != "ok" {
                problems.push(format!("integrity_check: {row}"));
            }
        }
        let fk: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        if fk > 0 {
            problems.push(format!("{fk} rows break a foreign key"));
        }
        if let Err(e) = self
            .conn
            .execute_batch("INSERT INTO entry_search (entry_search) VALUES ('integrity-check')")
        {
            problems.push(format!("search index integrity-check: {e}"));
        }
        self.conn
            .execute_batch(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.check_vocab
                 USING fts5vocab(main, 'entry_search', 'instance')",
            )
            .map_err(|e| self.err(e))?;
        let in_index: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT COUNT(DISTINCT doc) FROM temp.check_vocab)
                      + (SELECT COUNT(*) FROM entry e
                         WHERE COALESCE(e.title, '') = '' AND COALESCE(e.body, '') = ''
                           AND e.id NOT IN (SELECT entry_id FROM search_queue))",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let counted = fts5_row_count(&self.conn).map_err(|e| self.err(e))?;
        if let Some(counted) = counted.filter(|&c| c != u64::try_from(in_index).unwrap_or(0)) {
            problems.push(format!(
                "the search index counts {counted} rows for {in_index} indexed entries (an entry indexed twice, or a deletion it was not told of)"
            ));
        }
        for (what, sql) in CHECKS.iter().chain(INDEX_CHECKS) {
            let n: i64 = self
                .conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::parse::ParsedEntry;
    use crate::store::{FeedId, FeedUpdate};

    fn store_with_entries(dir: &std::path::Path, n: usize) -> Store {
        let mut store = Store::open(&dir.join("t.db")).expect("open");
        let feeds = [FeedConfig {
            url: "https://a.example/rss".into(),
            ..Default::default()
        }];
        store.sync_feeds(&feeds, chrono::Utc::now()).expect("sync");
        let entries = (0..n)
            .map(|i| ParsedEntry {
                identity: format!("guid:{i}"),
                title: Some(format!("Story number {i}")),
                summary: Some(format!("<p>Body of story {i}, with words of its own.</p>")),
                ..Default::default()
            })
            .collect();
        store
            .record(FeedUpdate::parsed_now(FeedId(1), entries))
            .expect("record");
        store
    }

    fn index_problems(store: &Store) -> Vec<String> {
        store
            .check_consistency()
            .expect("check")
            .into_iter()
            .filter(|p| p.contains("index") || p.contains("queued"))
            .collect()
    }

    fn assert_clean(store: &Store) {
        let p = index_problems(store);
        assert!(p.is_empty(), "{p:?}");
    }

    /// The search index checks hold while entries are queued and once they
    /// are indexed, and catch each way the invariant can break.
    #[test]
    fn the_search_index_checks_catch_lost_stale_and_doubled_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_entries(dir.path(), 3);
        assert_clean(&store);
        assert_eq!(store.index_backlog(None).expect("index"), (3, 0));
        assert_clean(&store);

        // Queued and indexed at once.
        store
            .conn
            .execute_batch("INSERT INTO search_queue (entry_id, queued_at) VALUES (2, 0)")
            .expect("queue");
        let p = index_problems(&store);
        assert!(p.iter().any(|p| p.starts_with("1 queued entries")), "{p:?}");
        store
            .conn
            .execute_batch("DELETE FROM search_queue")
            .expect("dequeue");

        // Lost: taken out of the index without being queued.
        store
            .conn
            .execute_batch(
                "INSERT INTO entry_search (entry_search, rowid, title, body)
                 SELECT 'delete', id, title, body FROM entry WHERE id = 3",
            )
            .expect("lose");
        let p = index_problems(&store);
        assert!(p.iter().any(|p| p.contains("neither queued nor")), "{p:?}");

        // Rebuilt from the entries, the index is whole again.
        assert_eq!(store.rebuild_search_index().expect("rebuild"), 3);
        assert_clean(&store);

        // Indexed twice.
        store
            .conn
            .execute_batch(
                "INSERT INTO entry_search (rowid, title, body) SELECT id, title, body FROM entry WHERE id = 1",
            )
            .expect("double");
        let p = index_problems(&store);
        assert!(p.iter().any(|p| p.contains("counts 4 rows for 3")), "{p:?}");
    }
}
